//! `wechatpay`: WeChat Pay API v2 as Linli uses it (DESIGN §6), checked as WeChat Pay checks it.
//! Requests are XML; checks run in this order: XML, `sign_type` (absent = MD5), the sign with the
//! settings' `WECHAT_PAY_API_KEY`, `appid`/`mch_id` = `WECHAT_MINI_APP_ID`/`WECHAT_PAY_MCH_ID`.
//! Answers are XML with HTTP 200: `return_code FAIL` + `return_msg` when refused (unsigned), else
//! `return_code SUCCESS`, `return_msg OK`, `appid`, `mch_id`, `nonce_str`, `result_code` (`FAIL`
//! adds `err_code`, `err_code_des`) and `sign`, signed with the request's sign type.
//! - `POST /_local/wechatpay/pay/unifiedorder`: JSAPI prepay → `prepay_id`, `trade_type`; the same
//!   `out_trade_no` with the same `total_fee` and `openid` → the same `prepay_id`, otherwise
//!   `INVALID_REQUEST`; a paid order → `ORDERPAID`, a closed one → `ORDERCLOSED`;
//! - `POST /_local/wechatpay/pay/closeorder`: NOTPAY → closed; `ORDERPAID`, `ORDERCLOSED`,
//!   `ORDERNOTEXIST`;
//! - `POST /_local/wechatpay/pay/orderquery` (`out_trade_no` or `transaction_id`): `trade_state`
//!   NOTPAY | SUCCESS (with the payment's fields) | CLOSED; `ORDERNOTEXIST`.
//!
//! Test control (not WeChat's API), see `wechatpay/notify.rs`:
//! - `POST /_local/wechatpay/pay/{out_trade_no}` (JSON body optional): the member pays; the signed
//!   notify goes to the order's `notify_url` path on WeChat's retry schedule (compressed);
//! - `GET /_local/wechatpay/pay/{out_trade_no}`: the stand-in's view of the order, with its refunds.
//!
//! Refunds: `secapi/pay/refund`, `pay/refundquery` and the refund notify, see
//! `wechatpay/refunds.rs`.
//!
//! API v3 (JSON, `Authorization: WECHATPAY2-SHA256-RSA2048 …` checked with the merchant key,
//! every answer signed with the platform key), see `wechatpay/v3.rs`:
//! - `POST /_local/wechatpay/v3/pay/transactions/jsapi` → 200 `{"prepay_id"}`;
//! - `POST /_local/wechatpay/v3/pay/transactions/out-trade-no/{out_trade_no}/close` → 204;
//! - `GET /_local/wechatpay/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…` → 200;
//! - `POST /_local/wechatpay/v3/refund/domestic/refunds` → 200 (`v3_refunds.rs`);
//! - `GET /_local/wechatpay/v3/refund/domestic/refunds/{out_refund_no}` → 200.
//!
//! v2 and v3 orders and refunds live side by side; each is notified in the format of the API
//! that created it (`PayApi`), by the same test controls.

mod notify;
mod orders;
mod refunds;
mod v3;
mod v3_notify;
mod v3_refunds;
#[cfg(test)]
mod v3_testkit;
mod v3_transactions;

use super::{Kit, StandIn};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, FixedOffset, Utc};
use linli::wechat::pay_v2::{self, SignType};
use linli::wechat::xml::{self, Fields};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub struct WechatPay;

impl StandIn for WechatPay {
    fn name(&self) -> &'static str {
        "wechatpay"
    }

    fn routes(&self, kit: Kit) -> Router {
        let v3 = v3::Keys::from_settings(&kit.settings).map(Arc::new);
        if let Err(missing) = &v3 {
            tracing::warn!(stand_in = "wechatpay", %missing, "API v3 answers 500 SYSTEM_ERROR");
        }
        let state = PayState {
            kit,
            orders: Arc::default(),
            refunds: Arc::default(),
            v3,
        };
        // axum gives static segments priority over `{out_trade_no}` (tested below).
        Router::new()
            .route("/pay/unifiedorder", post(unified_order))
            .route("/pay/closeorder", post(close_order))
            .route("/pay/orderquery", post(order_query))
            .route("/pay/refundquery", post(refunds::refund_query_api))
            .route("/secapi/pay/refund", post(refunds::refund_api))
            .route("/refund-notify", post(refunds::notify_control))
            .route("/pay/{out_trade_no}", get(notify::view).post(notify::pay))
            .merge(v3::routes())
            .with_state(state)
    }
}

/// Beijing time, in which WeChat Pay writes `time_end` (UTC+8, no DST since 1991).
pub(crate) const SHANGHAI: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TradeState {
    NotPay,
    Success,
    Closed,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotPay => "NOTPAY",
            Self::Success => "SUCCESS",
            Self::Closed => "CLOSED",
        }
    }
}

/// The API that created an order or a refund: WeChat Pay notifies it in that API's format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PayApi {
    #[default]
    V2,
    V3,
}

impl PayApi {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2 => "v2",
            Self::V3 => "v3",
        }
    }
}

/// An order as WeChat Pay keeps it after `unifiedorder` (v2) or `transactions/jsapi` (v3).
#[derive(Clone, Debug)]
pub struct PayOrder {
    pub appid: String,
    pub mch_id: String,
    pub openid: String,
    /// Fen.
    pub total_fee: i64,
    pub notify_url: String,
    pub attach: String,
    /// The sign type of the creating request: WeChat signs the order's notifies with it (v2
    /// orders only; v3 notifies are signed with the platform key).
    pub sign_type: SignType,
    pub prepay_id: String,
    pub state: TradeState,
    pub transaction_id: Option<String>,
    /// `yyyyMMddHHmmss`, Beijing time.
    pub time_end: Option<String>,
    pub api: PayApi,
}

/// Orders by `out_trade_no`.
pub type Orders = BTreeMap<String, PayOrder>;

#[derive(Clone)]
struct PayState {
    kit: Kit,
    orders: Arc<Mutex<Orders>>,
    refunds: Arc<Mutex<refunds::Refunds>>,
    /// The v3 keys, or which setting is missing (then v3 answers 500).
    v3: Result<Arc<v3::Keys>, String>,
}

impl PayState {
    fn orders(&self) -> MutexGuard<'_, Orders> {
        self.orders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refunds(&self) -> MutexGuard<'_, refunds::Refunds> {
        self.refunds.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The merchant Linli must be: the local settings' app id, merchant id and API key. No `Debug`,
/// so the key cannot reach a log.
pub struct Merchant {
    appid: String,
    mch_id: String,
    api_key: String,
}

impl Merchant {
    pub fn from_settings(settings: &BTreeMap<String, String>) -> Option<Self> {
        let setting = |k: &str| settings.get(k).filter(|v| !v.is_empty()).cloned();
        Some(Self {
            appid: setting("WECHAT_MINI_APP_ID")?,
            mch_id: setting("WECHAT_PAY_MCH_ID")?,
            api_key: setting("WECHAT_PAY_API_KEY")?,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    UnifiedOrder,
    CloseOrder,
    OrderQuery,
}

/// An API answer: the XML WeChat Pay would send and, for the log, what it decided.
pub struct Answer {
    pub xml: String,
    pub outcome: String,
    pub out_trade_no: String,
}

/// Decides `api` for `body` as WeChat Pay would, updating `orders`.
pub fn answer(
    api: Api,
    merchant: &Merchant,
    orders: &mut Orders,
    body: &[u8],
    now: DateTime<Utc>,
) -> Answer {
    let (request, sign_type) = match check(merchant, body) {
        Ok(checked) => checked,
        Err(message) => {
            return Answer {
                xml: pay_v2::reply_fail(message),
                outcome: message.to_owned(),
                out_trade_no: String::new(),
            }
        }
    };
    let mut result = match api {
        Api::UnifiedOrder => orders::unified_order(orders, &request, sign_type, now),
        Api::CloseOrder => orders::close_order(orders, &request),
        Api::OrderQuery => orders::order_query(orders, &request),
    };
    let outcome = result.get("err_code").cloned();
    result.extend(fields([
        ("return_code", "SUCCESS"),
        ("return_msg", "OK"),
        ("appid", &merchant.appid),
        ("mch_id", &merchant.mch_id),
        ("nonce_str", &random(32, 36)),
    ]));
    Answer {
        xml: to_xml(&signed(result, &merchant.api_key, sign_type)),
        outcome: outcome.unwrap_or_else(|| "SUCCESS".into()),
        out_trade_no: given(&request, "out_trade_no").chars().take(64).collect(),
    }
}

/// WeChat Pay's envelope checks; `Err` is the `return_msg` of a `return_code FAIL`.
fn check(merchant: &Merchant, body: &[u8]) -> Result<(Fields, SignType), &'static str> {
    let request = pay_v2::parse(body).map_err(|_| "XML format error")?;
    let sign_type = match request.get("sign_type") {
        None => SignType::Md5,
        Some(text) => text.parse().map_err(|_| "sign_type error")?,
    };
    pay_v2::verify(&request, &merchant.api_key, sign_type).map_err(|_| "签名错误")?;
    if given(&request, "appid") != merchant.appid || given(&request, "mch_id") != merchant.mch_id {
        return Err("appid和mch_id不匹配");
    }
    Ok((request, sign_type))
}

fn fields<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Fields {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `fields` with their `sign` added.
fn signed(mut fields: Fields, api_key: &str, sign_type: SignType) -> Fields {
    let pairs = fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let sign = pay_v2::sign(pairs, api_key, sign_type);
    fields.insert("sign".into(), sign);
    fields
}

fn to_xml(fields: &Fields) -> String {
    xml::write(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn given<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map(String::as_str).unwrap_or_default()
}

/// `yyyyMMddHHmmss` in Beijing time, as WeChat Pay writes times.
fn shanghai_compact(now: DateTime<Utc>) -> String {
    now.with_timezone(&SHANGHAI)
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// `len` random digits of `base` (10: decimal, 16: lowercase hex, 36: alphanumeric).
fn random(len: usize, base: u32) -> String {
    std::iter::repeat_with(|| fastrand::digit(base))
        .take(len)
        .collect()
}

fn call(state: &PayState, api: Api, body: &[u8]) -> Response {
    let Some(merchant) = Merchant::from_settings(&state.kit.settings) else {
        tracing::error!(
            stand_in = "wechatpay",
            "settings lack WECHAT_MINI_APP_ID, WECHAT_PAY_MCH_ID or WECHAT_PAY_API_KEY"
        );
        return xml_reply(pay_v2::reply_fail("devstack: WeChat Pay settings missing"));
    };
    let now = state.kit.clock.now();
    let answer = answer(api, &merchant, &mut state.orders(), body, now);
    tracing::info!(
        stand_in = "wechatpay",
        api = ?api,
        out_trade_no = %answer.out_trade_no,
        outcome = %answer.outcome,
        "pay API answered"
    );
    xml_reply(answer.xml)
}

fn xml_reply(xml: String) -> Response {
    ([(CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

async fn unified_order(State(state): State<PayState>, body: Bytes) -> Response {
    call(&state, Api::UnifiedOrder, &body)
}

async fn close_order(State(state): State<PayState>, body: Bytes) -> Response {
    call(&state, Api::CloseOrder, &body)
}

async fn order_query(State(state): State<PayState>, body: Bytes) -> Response {
    call(&state, Api::OrderQuery, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standins::{mount, Callbacks};
    use serde_json::Value;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(super) const KEY: &str = "localpayapikey0123456789abcdefgh";
    pub(super) const ORDER: &str = "O-20261124-0001";

    pub(super) fn settings() -> BTreeMap<String, String> {
        fields([
            ("WECHAT_MINI_APP_ID", "wxlocalmini000001"),
            ("WECHAT_PAY_MCH_ID", "1900000109"),
            ("WECHAT_PAY_API_KEY", KEY),
        ])
    }

    pub(super) fn merchant() -> Merchant {
        Merchant::from_settings(&settings()).unwrap()
    }

    /// 2026-11-25 00:30:05 in Shanghai: the UTC date is the day before.
    pub(super) fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T16:30:05Z")
            .unwrap()
            .to_utc()
    }

    /// A unifiedorder request signed as Linli signs it (`sign_type` only for HMAC-SHA256), with
    /// `changes` applied first; the value `<drop>` removes a field.
    pub(super) fn request(changes: &[(&str, &str)], sign_type: SignType, key: &str) -> Vec<u8> {
        let mut request = fields([
            ("appid", "wxlocalmini000001"),
            ("mch_id", "1900000109"),
            ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
            ("body", "邻里-积分商城"),
            ("out_trade_no", ORDER),
            ("total_fee", "1990"),
            ("spbill_create_ip", "127.0.0.1"),
            ("notify_url", "http://127.0.0.1:3000/wechat/pay/notify"),
            ("trade_type", "JSAPI"),
            ("openid", "o-alice"),
        ]);
        if sign_type == SignType::HmacSha256 {
            request.insert("sign_type".into(), "HMAC-SHA256".into());
        }
        request.extend(fields(changes.iter().copied()));
        request.retain(|_, v| v != "<drop>");
        to_xml(&signed(request, key, sign_type)).into_bytes()
    }

    /// The parsed answer of `api`, after checking it is signed as the request was.
    pub(super) fn call(api: Api, orders: &mut Orders, body: &[u8], sign_type: SignType) -> Fields {
        let answer = answer(api, &merchant(), orders, body, now());
        let answer = pay_v2::parse(answer.xml.as_bytes()).unwrap();
        if answer["return_code"] == "SUCCESS" {
            assert_eq!(pay_v2::verify(&answer, KEY, sign_type), Ok(()));
        }
        answer
    }

    pub(super) fn assert_has(fields: &Fields, expected: &[(&str, &str)]) {
        for (k, v) in expected {
            assert_eq!(given(fields, k), *v, "{k} in {fields:?}");
        }
    }

    #[test]
    fn unified_order_answers_a_prepay_id_signed_like_the_request() {
        for (sign_type, other) in [
            (SignType::Md5, SignType::HmacSha256),
            (SignType::HmacSha256, SignType::Md5),
        ] {
            let mut orders = Orders::new();
            let body = request(&[], sign_type, KEY);
            let a = call(Api::UnifiedOrder, &mut orders, &body, sign_type);
            assert_eq!(a["result_code"], "SUCCESS");
            assert!(a["prepay_id"].starts_with("wx20261125003005"), "{a:?}");
            assert_eq!(a["prepay_id"].len(), 36);
            assert_eq!(a["trade_type"], "JSAPI");
            assert_eq!(a["appid"], "wxlocalmini000001");
            assert!(pay_v2::verify(&a, KEY, other).is_err());
            assert_eq!(orders[ORDER].sign_type, sign_type);
            assert_eq!(orders[ORDER].state, TradeState::NotPay);
        }
    }

    #[test]
    fn a_bad_envelope_is_refused_with_return_code_fail() {
        let mut orders = Orders::new();
        let mut refused = |body: &[u8]| {
            let a = call(Api::UnifiedOrder, &mut orders, body, SignType::Md5);
            assert_eq!(a["return_code"], "FAIL");
            assert!(!a.contains_key("result_code"));
            a["return_msg"].clone()
        };
        let md5 = SignType::Md5;
        assert_eq!(refused(b"<xml><a>1</b></xml>"), "XML format error");
        assert_eq!(refused(&request(&[], md5, "another-key")), "签名错误");
        let mut unsigned = pay_v2::parse(&request(&[], md5, KEY)).unwrap();
        unsigned.remove("sign");
        assert_eq!(refused(to_xml(&unsigned).as_bytes()), "签名错误");
        let sha1 = request(&[("sign_type", "SHA1")], md5, KEY);
        assert_eq!(refused(&sha1), "sign_type error");
        let other_mch = request(&[("mch_id", "1900000999")], md5, KEY);
        assert_eq!(refused(&other_mch), "appid和mch_id不匹配");
        let other_app = request(&[("appid", "wxother")], md5, KEY);
        assert_eq!(refused(&other_app), "appid和mch_id不匹配");
        assert!(orders.is_empty());
    }

    /// Serves the stand-in and a notify receiver on a loopback port; the receiver refuses its
    /// `refuse`-th call (0-based) and accepts the others.
    async fn serve(refuse: usize) -> (String, Arc<Mutex<Vec<Fields>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let (sink, calls) = (received.clone(), Arc::new(AtomicUsize::new(0)));
        let receiver = post(move |body: Bytes| async move {
            sink.lock().unwrap().push(pay_v2::parse(&body).unwrap());
            let refused = calls.fetch_add(1, Ordering::SeqCst) == refuse;
            if refused {
                pay_v2::reply_fail("later")
            } else {
                pay_v2::reply_success()
            }
        });
        let callbacks = Callbacks::new(base.clone());
        let router = mount(&WechatPay, Arc::default(), callbacks, Arc::new(settings()))
            .merge(Router::new().route("/wechat/pay/notify", receiver));
        tokio::spawn(async move { axum::serve(listener, router).await });
        (format!("{base}/_local/wechatpay/pay/"), received)
    }

    #[tokio::test]
    async fn static_routes_win_and_a_payment_is_notified_until_accepted() {
        let (pay, received) = serve(3).await;
        let http = reqwest::Client::new();
        let post = |path: &str, body: Vec<u8>| http.post(format!("{pay}{path}")).body(body).send();
        let text = |r: reqwest::Response| async { (r.status(), r.text().await.unwrap()) };
        let created = text(
            post("unifiedorder", request(&[], SignType::Md5, KEY))
                .await
                .unwrap(),
        );
        assert!(created.await.1.contains("<prepay_id>"));
        let garbage = text(post("orderquery", b"nope".to_vec()).await.unwrap()).await;
        assert_eq!(garbage.0, 200);
        assert!(garbage.1.contains("XML format error"));
        let get = |path: &str| http.get(format!("{pay}{path}")).send();
        assert_eq!(get("closeorder").await.unwrap().status(), 405);
        assert_eq!(post("O-unknown", vec![]).await.unwrap().status(), 404);

        let json = |r: reqwest::Response| async { r.json::<Value>().await.unwrap() };
        let paid = json(post(ORDER, br#"{"concurrent": 3}"#.to_vec()).await.unwrap()).await;
        let deliveries = paid["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 3);
        assert!(deliveries
            .iter()
            .all(|d| d["accepted"] == true && d["attempts"] == 1));
        assert_eq!(deliveries[0]["path"], "/wechat/pay/notify");
        let again = json(post(ORDER, vec![]).await.unwrap()).await;
        assert_eq!(again["transaction_id"], paid["transaction_id"]);
        assert_eq!(again["time_end"], paid["time_end"]);
        assert_eq!(
            again["deliveries"][0]["attempts"], 2,
            "a refused notify is retried"
        );
        let notifies = received.lock().unwrap().clone();
        assert_eq!(notifies.len(), 5);
        assert!(notifies
            .iter()
            .all(|n| pay_v2::verify(n, KEY, SignType::Md5).is_ok()));
        let view = json(get(ORDER).await.unwrap()).await;
        assert_eq!(
            (view["state"].as_str(), view["sign_type"].as_str()),
            (Some("SUCCESS"), Some("MD5"))
        );
        assert_eq!(view["transaction_id"], paid["transaction_id"]);
    }
}
