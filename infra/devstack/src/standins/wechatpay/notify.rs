//! The `wechatpay` test control: a member pays an order, and WeChat Pay's signed payment notify
//! goes to the path of the order's `notify_url` on WeChat's retry schedule, compressed ×1/1000.
//! - `POST /_local/wechatpay/pay/{out_trade_no}`, body optional: `{"notifies": 1..=10 (1),
//!   "concurrent": 1..=10 (1), "result": "SUCCESS"|"FAIL", "total_fee"?, "appid"?, "mch_id"?,
//!   "forge_sign": false}` → 200 `{"out_trade_no", "transaction_id", "time_end", "deliveries":
//!   [Delivery…]}` once every delivery ended. `notifies` deliveries run one after another, each
//!   as `concurrent` simultaneous copies of the same notify. Overrides change only the notify, so
//!   tests can send validly signed notifies that do not match the order; `forge_sign` signs with
//!   a wrong key. A closed order can still be paid (the bank took the money late); a paid order
//!   keeps its `transaction_id` and `time_end` (a repeat notify). `"result": "FAIL"` pays nothing
//!   and notifies `result_code FAIL`, `err_code SYSTEMERROR`. Unknown order → 404, bad body → 400.
//!   An order created by API v3 gets a v3 `TRANSACTION.SUCCESS` notify instead (JSON, resource
//!   sealed with the APIv3 key, `Wechatpay-*` headers signed with the platform key for each
//!   attempt, accepted with HTTP 200 or 204): the overrides change its resource (`appid`,
//!   `mchid`, `amount.total`), `forge_sign` makes `Wechatpay-Signature` wrong, and `"result":
//!   "FAIL"` sends nothing (v3 notifies successful payments only).
//! - `GET /_local/wechatpay/pay/{out_trade_no}` → `{"out_trade_no", "state", "total_fee",
//!   "transaction_id", "time_end", "notify_url", "sign_type" (v2 orders), "prepay_id", "api",
//!   "refunds": [{"out_refund_no", "refund_fee", "status"}]} (one per refund id), or 404.

use super::orders::payment_fields;
use super::{
    random, shanghai_compact, signed, to_xml, Merchant, PayApi, PayOrder, PayState, TradeState,
};
use crate::standins::{Delivery, Kit};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use linli::wechat::pay_v2::SignType;
use linli::wechat::xml::{self, Fields};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// WeChat Pay's notify schedule ÷ 1000, in ms: at once, then 15 s, 15 s, 30 s, 3 m, 10 m, 20 m,
/// 30 m, 30 m, 30 m, 60 m, 3 h, 3 h, 3 h, 6 h, 6 h (16 attempts over ~24 h, here ~87 s).
const SCHEDULE_MS: [u64; 16] = [
    0, 15, 15, 30, 180, 600, 1_200, 1_800, 1_800, 1_800, 3_600, 10_800, 10_800, 10_800, 21_600,
    21_600,
];

const MAX_REPEATS: u32 = 10;

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum PayResult {
    #[default]
    Success,
    Fail,
}

/// The body of `POST /pay/{out_trade_no}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayControl {
    pub notifies: Option<u32>,
    pub concurrent: Option<u32>,
    #[serde(default)]
    pub result: PayResult,
    pub total_fee: Option<i64>,
    pub appid: Option<String>,
    pub mch_id: Option<String>,
    #[serde(default)]
    pub forge_sign: bool,
}

impl PayControl {
    fn parse(body: &[u8]) -> Result<Self, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let control: Self = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let bounded = |n: Option<u32>| (1..=MAX_REPEATS).contains(&n.unwrap_or(1));
        if !bounded(control.notifies) || !bounded(control.concurrent) {
            return Err(format!("notifies and concurrent must be 1..={MAX_REPEATS}"));
        }
        Ok(control)
    }
}

/// The path of an absolute http(s) URL (`http://127.0.0.1:3000/wechat/pay/notify` →
/// `/wechat/pay/notify`): the devstack delivers notifies to its own routes.
pub fn notify_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    match rest.split_once('/') {
        Some((host, path)) if !host.is_empty() => Some(format!("/{path}")),
        None if !rest.is_empty() => Some("/".to_owned()),
        _ => None,
    }
}

/// The member pays `order` at `now` (unless the payment fails); a repeat keeps the first
/// payment's `transaction_id` and `time_end`. A closed order is paid all the same.
pub fn settle(order: &mut PayOrder, result: PayResult, now: DateTime<Utc>) {
    if result == PayResult::Fail {
        return;
    }
    order.state = TradeState::Success;
    if order.transaction_id.is_none() {
        let date = shanghai_compact(now).chars().take(8).collect::<String>();
        order.transaction_id = Some(format!("42000000{date}{}", random(12, 10)));
        order.time_end = Some(shanghai_compact(now));
    }
}

/// The signed payment notify for `order`, as WeChat Pay sends it (`sign_type` only when it is
/// HMAC-SHA256), with the control's overrides.
pub fn notify_fields(
    merchant: &Merchant,
    out_trade_no: &str,
    order: &PayOrder,
    control: &PayControl,
) -> Fields {
    let mut fields = payment_fields(out_trade_no, order);
    let mut set = |k: &str, v: &str| fields.insert(k.to_owned(), v.to_owned());
    set("return_code", "SUCCESS");
    set("appid", control.appid.as_deref().unwrap_or(&order.appid));
    set("mch_id", control.mch_id.as_deref().unwrap_or(&order.mch_id));
    set("nonce_str", &random(32, 36));
    if let Some(fee) = control.total_fee {
        set("total_fee", &fee.to_string());
        set("cash_fee", &fee.to_string());
    }
    if order.sign_type == SignType::HmacSha256 {
        set("sign_type", SignType::HmacSha256.as_str());
    }
    match control.result {
        PayResult::Success => {
            set("result_code", "SUCCESS");
        }
        PayResult::Fail => {
            set("result_code", "FAIL");
            set("err_code", "SYSTEMERROR");
            set("err_code_des", "系统错误");
            fields.remove("transaction_id");
            fields.remove("time_end");
        }
    }
    let key = if control.forge_sign {
        format!("{}-forged", merchant.api_key)
    } else {
        merchant.api_key.clone()
    };
    signed(fields, &key, order.sign_type)
}

/// WeChat Pay stops retrying once the merchant answers 2xx with `return_code SUCCESS`.
fn notify_accepted(status: u16, body: &[u8]) -> bool {
    (200..300).contains(&status)
        && xml::parse(body).is_ok_and(|f| f.get("return_code").is_some_and(|c| c == "SUCCESS"))
}

/// The headers of one delivery attempt.
pub type AttemptHeaders = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// A notify ready to go: its body, the headers of each attempt (v3 signs every attempt) and
/// what WeChat Pay takes for the merchant's acceptance.
#[derive(Clone)]
pub struct Outgoing {
    pub body: Vec<u8>,
    pub headers: AttemptHeaders,
    pub accepted: fn(u16, &[u8]) -> bool,
}

impl Outgoing {
    /// A v2 notify: XML, accepted with `return_code SUCCESS`.
    pub fn v2(xml: String) -> Self {
        Self {
            body: xml.into_bytes(),
            headers: Arc::new(|| vec![("content-type".to_owned(), "text/xml".to_owned())]),
            accepted: notify_accepted,
        }
    }

    /// Delivers it to `path` on `schedule`.
    pub async fn deliver(self, kit: &Kit, path: &str, schedule: &[Duration]) -> Delivery {
        let Self {
            body,
            headers,
            accepted,
        } = self;
        kit.callbacks
            .post_signed(path, &*headers, body, schedule, accepted)
            .await
    }
}

async fn deliver(
    kit: &Kit,
    path: &str,
    outgoing: &Outgoing,
    control: &PayControl,
) -> Vec<Delivery> {
    let schedule = SCHEDULE_MS.map(Duration::from_millis);
    let mut deliveries = Vec::new();
    for _ in 0..control.notifies.unwrap_or(1) {
        let mut running = JoinSet::new();
        for _ in 0..control.concurrent.unwrap_or(1) {
            let (kit, path, outgoing) = (kit.clone(), path.to_owned(), outgoing.clone());
            running.spawn(async move { outgoing.deliver(&kit, &path, &schedule).await });
        }
        while let Some(joined) = running.join_next().await {
            deliveries.push(joined.unwrap_or_else(|e| Delivery {
                path: path.to_owned(),
                attempts: 0,
                accepted: false,
                last_status: None,
                last_body: e.to_string(),
            }));
        }
    }
    deliveries
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub(super) async fn pay(
    State(state): State<PayState>,
    Path(out_trade_no): Path<String>,
    body: Bytes,
) -> Response {
    let control = match PayControl::parse(&body) {
        Ok(control) => control,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let now = state.kit.clock.now();
    let paid = state.orders().get_mut(&out_trade_no).map(|order| {
        settle(order, control.result, now);
        order.clone()
    });
    let Some(order) = paid else {
        return error(StatusCode::NOT_FOUND, "no such order");
    };
    let Some(path) = notify_path(&order.notify_url) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "order has no notify path",
        );
    };
    let outgoing = match order.api {
        PayApi::V2 => v2_notify(&state, &out_trade_no, &order, &control),
        PayApi::V3 => {
            super::v3_transactions::payment_notify(&state, &out_trade_no, &order, &control)
        }
    };
    let deliveries = match outgoing {
        Ok(Some(outgoing)) => deliver(&state.kit, &path, &outgoing, &control).await,
        Ok(None) => Vec::new(),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    tracing::info!(
        stand_in = "wechatpay",
        out_trade_no = %out_trade_no,
        api = order.api.as_str(),
        outcome = ?control.result,
        forged = control.forge_sign,
        deliveries = deliveries.len(),
        accepted = deliveries.iter().filter(|d| d.accepted).count(),
        "payment notified"
    );
    let paid = control.result == PayResult::Success;
    Json(json!({
        "out_trade_no": out_trade_no,
        "transaction_id": order.transaction_id.filter(|_| paid),
        "time_end": order.time_end.filter(|_| paid),
        "deliveries": deliveries,
    }))
    .into_response()
}

/// The v2 payment notify: XML signed with the API key and the order's sign type.
fn v2_notify(
    state: &PayState,
    out_trade_no: &str,
    order: &PayOrder,
    control: &PayControl,
) -> Result<Option<Outgoing>, String> {
    let merchant =
        Merchant::from_settings(&state.kit.settings).ok_or("WeChat Pay settings missing")?;
    let fields = notify_fields(&merchant, out_trade_no, order, control);
    Ok(Some(Outgoing::v2(to_xml(&fields))))
}

pub(super) async fn view(
    State(state): State<PayState>,
    Path(out_trade_no): Path<String>,
) -> Response {
    let Some(order) = state.orders().get(&out_trade_no).cloned() else {
        return error(StatusCode::NOT_FOUND, "no such order");
    };
    // Each refund the merchant holds for this payment, once per `out_refund_no`.
    let refunds: Vec<_> = state
        .refunds()
        .iter()
        .filter(|(_, r)| r.out_trade_no == out_trade_no)
        .map(|(no, r)| json!({"out_refund_no": no, "refund_fee": r.refund_fee, "status": r.status}))
        .collect();
    Json(json!({
        "out_trade_no": out_trade_no,
        "state": order.state.as_str(),
        "total_fee": order.total_fee,
        "transaction_id": order.transaction_id,
        "time_end": order.time_end,
        "notify_url": order.notify_url,
        "sign_type": (order.api == PayApi::V2).then(|| order.sign_type.as_str()),
        "prepay_id": order.prepay_id,
        "api": order.api.as_str(),
        "refunds": refunds,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_has, merchant, now, KEY, ORDER};
    use super::*;
    use linli::wechat::pay_v2;

    fn order(sign_type: SignType) -> PayOrder {
        PayOrder {
            appid: "wxlocalmini000001".into(),
            mch_id: "1900000109".into(),
            openid: "o-alice".into(),
            total_fee: 1990,
            notify_url: "http://127.0.0.1:3000/wechat/pay/notify".into(),
            attach: String::new(),
            sign_type,
            prepay_id: "wx2026112500300500000000000000000000".into(),
            state: TradeState::NotPay,
            transaction_id: None,
            time_end: None,
            api: PayApi::V2,
        }
    }

    fn notify(order: &PayOrder, control: &PayControl) -> Fields {
        notify_fields(&merchant(), ORDER, order, control)
    }

    #[test]
    fn the_notify_of_a_paid_order_verifies_with_its_sign_type_in_shanghai_time() {
        for sign_type in [SignType::Md5, SignType::HmacSha256] {
            let mut paid = order(sign_type);
            settle(&mut paid, PayResult::Success, now());
            let n = notify(&paid, &PayControl::default());
            assert_eq!(pay_v2::verify(&n, KEY, sign_type), Ok(()));
            let hmac = sign_type == SignType::HmacSha256;
            assert_eq!(n.contains_key("sign_type"), hmac);
            assert_has(
                &n,
                &[
                    ("return_code", "SUCCESS"),
                    ("result_code", "SUCCESS"),
                    ("time_end", "20261125003005"),
                    ("total_fee", "1990"),
                    ("cash_fee", "1990"),
                    ("openid", "o-alice"),
                    ("out_trade_no", ORDER),
                    ("bank_type", "OTHERS"),
                    ("fee_type", "CNY"),
                ],
            );
            assert!(n["transaction_id"].starts_with("420000002026112"));
            assert_eq!(n["transaction_id"].len(), 28);
        }
    }

    #[test]
    fn forged_signs_and_overrides_change_only_the_notify() {
        let mut paid = order(SignType::Md5);
        settle(&mut paid, PayResult::Success, now());
        let forge_sign = true;
        let forged = notify(
            &paid,
            &PayControl {
                forge_sign,
                ..Default::default()
            },
        );
        assert!(pay_v2::verify(&forged, KEY, SignType::Md5).is_err());
        let other = PayControl {
            total_fee: Some(1),
            appid: Some("wxother".into()),
            mch_id: Some("1900000999".into()),
            ..PayControl::default()
        };
        let n = notify(&paid, &other);
        assert_eq!(pay_v2::verify(&n, KEY, SignType::Md5), Ok(()));
        let expected = [("total_fee", "1"), ("cash_fee", "1"), ("appid", "wxother")];
        assert_has(
            &n,
            &[expected.as_slice(), &[("mch_id", "1900000999")]].concat(),
        );
        assert_eq!(paid.total_fee, 1990);
        assert_eq!(paid.appid, "wxlocalmini000001");
    }

    #[test]
    fn a_repeat_keeps_the_payment_a_failure_pays_nothing_and_a_closed_order_pays_late() {
        let mut unpaid = order(SignType::Md5);
        settle(&mut unpaid, PayResult::Fail, now());
        assert_eq!(unpaid.state, TradeState::NotPay);
        assert_eq!(unpaid.transaction_id, None);
        let result = PayResult::Fail;
        let n = notify(
            &unpaid,
            &PayControl {
                result,
                ..Default::default()
            },
        );
        assert_has(&n, &[("result_code", "FAIL"), ("err_code", "SYSTEMERROR")]);
        assert!(!n.contains_key("transaction_id"));
        let mut closed = order(SignType::Md5);
        closed.state = TradeState::Closed;
        settle(&mut closed, PayResult::Success, now());
        let first = (closed.transaction_id.clone(), closed.time_end.clone());
        assert_eq!(closed.state, TradeState::Success);
        settle(
            &mut closed,
            PayResult::Success,
            now() + chrono::Duration::minutes(5),
        );
        assert_eq!((closed.transaction_id, closed.time_end), first);
    }

    #[test]
    fn the_control_body_is_optional_and_bounded() {
        assert_eq!(PayControl::parse(b"").unwrap().notifies, None);
        assert_eq!(
            PayControl::parse(b" \n").unwrap().result,
            PayResult::Success
        );
        let fail = PayControl::parse(br#"{"result": "FAIL", "concurrent": 10}"#).unwrap();
        assert_eq!((fail.result, fail.concurrent), (PayResult::Fail, Some(10)));
        assert!(PayControl::parse(br#"{"notifies": 11}"#).is_err());
        assert!(PayControl::parse(br#"{"concurrent": 0}"#).is_err());
        assert!(PayControl::parse(br#"{"notify": 2}"#).is_err());
    }

    #[test]
    fn the_notify_path_is_the_url_after_scheme_and_host() {
        let path = |url: &str| notify_path(url);
        assert_eq!(
            path("http://127.0.0.1:3000/wechat/pay/notify").as_deref(),
            Some("/wechat/pay/notify")
        );
        assert_eq!(path("https://linli.example").as_deref(), Some("/"));
        assert_eq!(path("ftp://x/y"), None);
        assert_eq!(path("http:///y"), None);
    }
}
