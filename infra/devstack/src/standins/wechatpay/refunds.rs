//! Refunds as WeChat Pay handles them (API v2):
//! - `POST /_local/wechatpay/secapi/pay/refund`: a refund of a paid order (`out_trade_no`,
//!   `out_refund_no`, `total_fee` = the payment, `refund_fee`): the same `out_refund_no` with the
//!   same amount answers the same `refund_id` (no second refund); more than is left →
//!   `INVALID_REQUEST`; an unpaid order → `TRADE_STATE_ERROR`; unknown → `ORDERNOTEXIST`. A new
//!   refund is PROCESSING, then settles SUCCESS a moment later and its notify (`req_info`
//!   encrypted with md5(API key), AES-256-ECB) goes to the path of its `notify_url` on WeChat
//!   Pay's retry schedule (compressed ×1/1000).
//! - `POST /_local/wechatpay/pay/refundquery` (`out_refund_no`): `refund_status_0` and the
//!   refund's fields with the `_0` suffix; unknown → `REFUNDNOTEXIST`.
//!
//! API v3 refunds (`v3_refunds.rs`) live in the same map, marked `PayApi::V3`: they settle the
//! same way, and their notify is v3's (`REFUND.SUCCESS`, sealed, platform-signed).
//!
//! Test control (not WeChat's API):
//! - `POST /_local/wechatpay/refund-notify` `{"out_trade_no", "out_refund_no", "refund_fee",
//!   "total_fee"?, "status": "SUCCESS"|"REFUNDCLOSE"|"CHANGE", "record": false, "path"?, "api":
//!   "v2"|"v3" (v2)}`: sends a refund notify WeChat Pay never made (Linli must not believe it:
//!   refundquery says REFUNDNOTEXIST), or with `"record": true` one made on the merchant platform
//!   (refundquery confirms it). Answers `{"delivery": Delivery}` once delivered. With `"api":
//!   "v3"` the notify is v3's (`REFUND.SUCCESS`, `REFUND.CLOSED` or `REFUND.ABNORMAL`; `status`
//!   may then be v3's `CLOSED` or `ABNORMAL` too) and `path` defaults to `/wechat/pay/v3/notify`.

use super::notify::{notify_path, Outgoing};
use super::{
    check, fields, given, random, shanghai_compact, signed, to_xml, Merchant, Orders, PayApi,
    PayState, TradeState,
};
use crate::standins::Delivery;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use linli::wechat::pay_refund::encrypt_req_info;
use linli::wechat::pay_v2;
use linli::wechat::xml::{self, Fields};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// A refund as WeChat Pay keeps it.
#[derive(Clone, Debug)]
pub struct PayRefund {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub refund_id: String,
    pub total_fee: i64,
    pub refund_fee: i64,
    /// PROCESSING, SUCCESS, REFUNDCLOSE or CHANGE.
    pub status: String,
    pub notify_url: String,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time, once it succeeded.
    pub success_time: Option<String>,
    /// RFC 3339, Beijing time (v3's `create_time`).
    pub create_time: String,
    pub api: PayApi,
}

/// Refunds by `out_refund_no`.
pub type Refunds = BTreeMap<String, PayRefund>;

/// WeChat Pay's refund notify schedule ÷ 1000 (ms), like the payment notify's.
const SCHEDULE_MS: [u64; 8] = [0, 15, 15, 30, 180, 600, 1_200, 1_800];
/// A new refund settles this long after it was asked (real time).
const SETTLE_AFTER: Duration = Duration::from_millis(150);

fn fail(code: &str, des: &str) -> Fields {
    fields([
        ("result_code", "FAIL"),
        ("err_code", code),
        ("err_code_des", des),
    ])
}

fn beijing_seconds(now: DateTime<Utc>) -> String {
    let compact = shanghai_compact(now);
    let at = |a: usize, b: usize| compact.get(a..b).unwrap_or("00").to_owned();
    format!(
        "{}-{}-{} {}:{}:{}",
        at(0, 4),
        at(4, 6),
        at(6, 8),
        at(8, 10),
        at(10, 12),
        at(12, 14)
    )
}

/// Decides `secapi/pay/refund`; the out_refund_no of a new refund to settle, if any.
pub fn refund(
    orders: &Orders,
    refunds: &mut Refunds,
    request: &Fields,
    now: DateTime<Utc>,
) -> (Fields, Option<String>) {
    let out_trade_no = given(request, "out_trade_no");
    let out_refund_no = given(request, "out_refund_no");
    let fee = |name: &str| given(request, name).parse::<i64>().ok().filter(|f| *f > 0);
    let (Some(total_fee), Some(refund_fee)) = (fee("total_fee"), fee("refund_fee")) else {
        return (
            fail("PARAM_ERROR", "total_fee或refund_fee参数格式错误"),
            None,
        );
    };
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b);
    if out_refund_no.is_empty() || out_refund_no.len() > 64 || !out_refund_no.bytes().all(allowed) {
        return (fail("PARAM_ERROR", "out_refund_no参数格式错误"), None);
    }
    let Some(order) = orders.get(out_trade_no) else {
        return (fail("ORDERNOTEXIST", "订单不存在"), None);
    };
    if order.state != TradeState::Success {
        return (fail("TRADE_STATE_ERROR", "订单状态错误"), None);
    }
    if total_fee != order.total_fee {
        return (fail("INVALID_REQUEST", "订单金额与支付金额不一致"), None);
    }
    let answer = |r: &PayRefund| {
        let (total, amount) = (r.total_fee.to_string(), r.refund_fee.to_string());
        fields([
            ("result_code", "SUCCESS"),
            ("transaction_id", r.transaction_id.as_str()),
            ("out_trade_no", r.out_trade_no.as_str()),
            ("out_refund_no", out_refund_no),
            ("refund_id", r.refund_id.as_str()),
            ("refund_fee", amount.as_str()),
            ("total_fee", total.as_str()),
            ("cash_fee", total.as_str()),
        ])
    };
    if let Some(existing) = refunds.get(out_refund_no) {
        return if existing.refund_fee == refund_fee && existing.out_trade_no == out_trade_no {
            (answer(existing), None)
        } else {
            (fail("INVALID_REQUEST", "退款请求与之前请求不一致"), None)
        };
    }
    if refunded(refunds, out_trade_no).saturating_add(refund_fee) > order.total_fee {
        return (fail("INVALID_REQUEST", "退款金额大于可退金额"), None);
    }
    let created = PayRefund {
        out_trade_no: out_trade_no.to_owned(),
        transaction_id: order.transaction_id.clone().unwrap_or_default(),
        refund_id: format!("503{}", random(26, 10)),
        total_fee,
        refund_fee,
        status: "PROCESSING".to_owned(),
        notify_url: given(request, "notify_url").to_owned(),
        success_time: None,
        create_time: super::v3_notify::shanghai_rfc3339(now),
        api: PayApi::V2,
    };
    let fields = answer(&created);
    refunds.insert(out_refund_no.to_owned(), created);
    (fields, Some(out_refund_no.to_owned()))
}

/// What is refunded or being refunded of `out_trade_no` (v2 and v3 refunds, not the closed).
pub fn refunded(refunds: &Refunds, out_trade_no: &str) -> i64 {
    refunds
        .values()
        .filter(|r| r.out_trade_no == out_trade_no && r.status != "REFUNDCLOSE")
        .map(|r| r.refund_fee)
        .sum()
}

/// Decides `pay/refundquery` for one `out_refund_no`.
pub fn refund_query(refunds: &Refunds, request: &Fields) -> Fields {
    let out_refund_no = given(request, "out_refund_no");
    let Some(r) = refunds.get(out_refund_no) else {
        return fail("REFUNDNOTEXIST", "退款订单查询失败");
    };
    let (total, amount) = (r.total_fee.to_string(), r.refund_fee.to_string());
    let mut answer = fields([
        ("result_code", "SUCCESS"),
        ("out_trade_no", r.out_trade_no.as_str()),
        ("transaction_id", r.transaction_id.as_str()),
        ("total_fee", total.as_str()),
        ("cash_fee", total.as_str()),
        ("refund_count", "1"),
        ("out_refund_no_0", out_refund_no),
        ("refund_id_0", r.refund_id.as_str()),
        ("refund_fee_0", amount.as_str()),
        ("refund_status_0", r.status.as_str()),
    ]);
    if let Some(at) = &r.success_time {
        answer.insert("refund_success_time_0".into(), at.clone());
    }
    answer
}

/// The refund notify WeChat Pay sends for `r` (`req_info` encrypted, the envelope unsigned).
pub fn notify_body(merchant: &Merchant, out_refund_no: &str, r: &PayRefund) -> String {
    let (total, amount) = (r.total_fee.to_string(), r.refund_fee.to_string());
    let mut inner = fields([
        ("out_refund_no", out_refund_no),
        ("out_trade_no", r.out_trade_no.as_str()),
        ("refund_account", "REFUND_SOURCE_RECHARGE_FUNDS"),
        ("refund_fee", amount.as_str()),
        ("refund_id", r.refund_id.as_str()),
        ("refund_recv_accout", "支付用户零钱"),
        ("refund_request_source", "API"),
        ("refund_status", r.status.as_str()),
        ("settlement_refund_fee", amount.as_str()),
        ("settlement_total_fee", total.as_str()),
        ("total_fee", total.as_str()),
        ("transaction_id", r.transaction_id.as_str()),
    ]);
    if let Some(at) = &r.success_time {
        inner.insert("success_time".into(), at.clone());
    }
    let root = xml::write(inner.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let root = root
        .replacen("<xml>", "<root>", 1)
        .replace("</xml>", "</root>");
    to_xml(&fields([
        ("return_code", "SUCCESS"),
        ("appid", merchant.appid.as_str()),
        ("mch_id", merchant.mch_id.as_str()),
        ("nonce_str", random(32, 36).as_str()),
        (
            "req_info",
            encrypt_req_info(&merchant.api_key, &root).as_str(),
        ),
    ]))
}

/// The refund notify for `r` in the format of the API that created it.
fn outgoing(state: &PayState, out_refund_no: &str, r: &PayRefund) -> Result<Outgoing, String> {
    match r.api {
        PayApi::V2 => {
            let merchant = Merchant::from_settings(&state.kit.settings)
                .ok_or("WeChat Pay v2 settings missing")?;
            Ok(Outgoing::v2(notify_body(&merchant, out_refund_no, r)))
        }
        PayApi::V3 => super::v3_refunds::refund_notify(state, out_refund_no, r),
    }
}

async fn deliver(state: &PayState, path: &str, outgoing: Outgoing) -> Delivery {
    let schedule = SCHEDULE_MS.map(Duration::from_millis);
    outgoing.deliver(&state.kit, path, &schedule).await
}

/// Settles a new refund a moment after it was asked and notifies it.
pub fn settle_later(state: PayState, out_refund_no: String) {
    tokio::spawn(async move {
        tokio::time::sleep(SETTLE_AFTER).await;
        let now = state.kit.clock.now();
        let settled = state.refunds().get_mut(&out_refund_no).map(|r| {
            r.status = "SUCCESS".to_owned();
            r.success_time = Some(beijing_seconds(now));
            r.clone()
        });
        let Some(r) = settled else { return };
        let Some(path) = notify_path(&r.notify_url) else {
            tracing::warn!(
                stand_in = "wechatpay",
                out_refund_no,
                "refund without a notify path: not notified"
            );
            return;
        };
        let sent = match outgoing(&state, &out_refund_no, &r) {
            Ok(sent) => sent,
            Err(e) => {
                tracing::error!(stand_in = "wechatpay", out_refund_no, %e, "refund not notified");
                return;
            }
        };
        let delivery = deliver(&state, &path, sent).await;
        tracing::info!(
            stand_in = "wechatpay",
            out_refund_no,
            api = r.api.as_str(),
            accepted = delivery.accepted,
            attempts = delivery.attempts,
            "refund settled and notified"
        );
    });
}

fn xml_answer(merchant: &Merchant, result: Fields, sign_type: pay_v2::SignType) -> Response {
    let mut result = result;
    result.extend(fields([
        ("return_code", "SUCCESS"),
        ("return_msg", "OK"),
        ("appid", merchant.appid.as_str()),
        ("mch_id", merchant.mch_id.as_str()),
        ("nonce_str", random(32, 36).as_str()),
    ]));
    super::xml_reply(to_xml(&signed(result, &merchant.api_key, sign_type)))
}

pub(super) async fn refund_api(State(state): State<PayState>, body: Bytes) -> Response {
    let Some(merchant) = Merchant::from_settings(&state.kit.settings) else {
        return super::xml_reply(pay_v2::reply_fail("devstack: WeChat Pay settings missing"));
    };
    let (request, sign_type) = match check(&merchant, &body) {
        Ok(checked) => checked,
        Err(message) => return super::xml_reply(pay_v2::reply_fail(message)),
    };
    let now = state.kit.clock.now();
    let (result, new) = refund(&state.orders(), &mut state.refunds(), &request, now);
    tracing::info!(
        stand_in = "wechatpay",
        out_refund_no = given(&request, "out_refund_no"),
        outcome = given(&result, "err_code"),
        new = new.is_some(),
        "refund API answered"
    );
    if let Some(out_refund_no) = new {
        settle_later(state.clone(), out_refund_no);
    }
    xml_answer(&merchant, result, sign_type)
}

pub(super) async fn refund_query_api(State(state): State<PayState>, body: Bytes) -> Response {
    let Some(merchant) = Merchant::from_settings(&state.kit.settings) else {
        return super::xml_reply(pay_v2::reply_fail("devstack: WeChat Pay settings missing"));
    };
    let (request, sign_type) = match check(&merchant, &body) {
        Ok(checked) => checked,
        Err(message) => return super::xml_reply(pay_v2::reply_fail(message)),
    };
    let result = refund_query(&state.refunds(), &request);
    xml_answer(&merchant, result, sign_type)
}

/// The body of the `refund-notify` test control.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyControl {
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub refund_fee: i64,
    pub total_fee: Option<i64>,
    pub status: String,
    #[serde(default)]
    pub record: bool,
    pub path: Option<String>,
    #[serde(default)]
    pub api: PayApi,
}

pub(super) async fn notify_control(State(state): State<PayState>, body: Bytes) -> Response {
    let control: NotifyControl = match serde_json::from_slice(&body) {
        Ok(control) => control,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": e.to_string() })),
            )
                .into_response()
        }
    };
    let order = state.orders().get(&control.out_trade_no).cloned();
    let now = state.kit.clock.now();
    let status = match control.api {
        PayApi::V2 => control.status.as_str(),
        PayApi::V3 => super::v3_refunds::stored_status(&control.status),
    };
    let r = PayRefund {
        out_trade_no: control.out_trade_no.clone(),
        transaction_id: order
            .as_ref()
            .and_then(|o| o.transaction_id.clone())
            .unwrap_or_else(|| format!("4200{}", random(24, 10))),
        refund_id: format!("503{}", random(26, 10)),
        total_fee: control
            .total_fee
            .or(order.as_ref().map(|o| o.total_fee))
            .unwrap_or(control.refund_fee),
        refund_fee: control.refund_fee,
        status: status.to_owned(),
        notify_url: String::new(),
        success_time: (status == "SUCCESS").then(|| beijing_seconds(now)),
        create_time: super::v3_notify::shanghai_rfc3339(now),
        api: control.api,
    };
    if control.record {
        state
            .refunds()
            .insert(control.out_refund_no.clone(), r.clone());
    }
    let default_path = match control.api {
        PayApi::V2 => "/wechat/pay/refund-notify",
        PayApi::V3 => "/wechat/pay/v3/notify",
    };
    let path = control.path.unwrap_or_else(|| default_path.to_owned());
    match outgoing(&state, &control.out_refund_no, &r) {
        Ok(sent) => {
            let delivery = deliver(&state, &path, sent).await;
            Json(json!({ "delivery": delivery })).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e })),
        )
            .into_response(),
    }
}
