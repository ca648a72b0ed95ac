//! API v3 payments (envelope in `v3.rs`), in the same order book as v2's:
//! - `POST /v3/pay/transactions/jsapi` `{appid, mchid, description, out_trade_no, time_expire?,
//!   attach?, notify_url, amount: {total, currency?}, payer: {openid}}` → 200 `{"prepay_id"}`;
//!   the same `out_trade_no` with the same total and payer → the same `prepay_id`, otherwise 403
//!   `OUT_TRADE_NO_USED`; paid → 400 `ORDERPAID`, closed → 400 `ORDER_CLOSED`;
//! - `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` `{mchid}` → 204, also for an
//!   order WeChat Pay does not know (its quirk); closed → 400 `ORDER_CLOSED`, paid → 400
//!   `ORDERPAID`;
//! - `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…` → 200 the transaction
//!   (`trade_state` NOTPAY | SUCCESS | CLOSED; v2 orders too); unknown → 404 `ORDER_NOT_EXIST`.
//!
//! A v3 order paid with the test control is notified `TRANSACTION.SUCCESS` (`payment_notify`).

use super::notify::{notify_path, Outgoing, PayControl, PayResult};
use super::orders::new_prepay_id;
use super::v3::{self, Call, Keys, Refusal, Reply};
use super::v3_notify::{self, Event};
use super::{Orders, PayApi, PayOrder, PayState, TradeState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use linli::wechat::pay_v2::SignType;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Jsapi {
    appid: String,
    mchid: String,
    description: String,
    out_trade_no: String,
    time_expire: Option<String>,
    attach: Option<String>,
    notify_url: String,
    amount: Amount,
    payer: Payer,
}

#[derive(Deserialize)]
struct Amount {
    total: i64,
    currency: Option<String>,
}

#[derive(Deserialize)]
struct Payer {
    openid: String,
}

#[derive(Deserialize)]
struct Close {
    mchid: String,
}

/// Creates the order, or answers a repeat asking for the same payment with the same
/// `prepay_id`.
pub fn jsapi(
    keys: &Keys,
    orders: &mut Orders,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Reply, Refusal> {
    let request: Jsapi = v3::parse_body(body)?;
    v3::check_merchant(keys, Some(&request.appid), &request.mchid)?;
    let out_trade_no = request.out_trade_no.clone();
    let order = new_order(request, now)?;
    let prepay_id = match orders.get(&out_trade_no) {
        Some(old) if old.state == TradeState::Success => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "ORDERPAID",
                "该订单已支付",
            ))
        }
        Some(old) if old.state == TradeState::Closed => return Err(closed()),
        Some(old) if old.total_fee != order.total_fee || old.openid != order.openid => {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "OUT_TRADE_NO_USED",
                "商户订单号重复",
            ))
        }
        Some(old) => old.prepay_id.clone(),
        None => {
            let prepay_id = order.prepay_id.clone();
            orders.insert(out_trade_no, order);
            prepay_id
        }
    };
    Ok(Reply::json(json!({ "prepay_id": prepay_id })))
}

fn closed() -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭")
}

/// The order a valid JSAPI request creates.
fn new_order(request: Jsapi, now: DateTime<Utc>) -> Result<PayOrder, Refusal> {
    let description = request.description.chars().count();
    if !(1..=127).contains(&description) {
        return Err(Refusal::param("description长度须为1到127个字符"));
    }
    let no = &request.out_trade_no;
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b);
    if !(6..=32).contains(&no.len()) || !no.bytes().all(allowed) {
        return Err(Refusal::param("out_trade_no参数格式错误"));
    }
    if request.amount.total <= 0 {
        return Err(Refusal::param("amount.total须为正整数（分）"));
    }
    if request
        .amount
        .currency
        .as_deref()
        .is_some_and(|c| c != "CNY")
    {
        return Err(Refusal::param("amount.currency仅支持CNY"));
    }
    if request.payer.openid.is_empty() {
        return Err(Refusal::param("JSAPI支付必须传payer.openid"));
    }
    // WeChat Pay refuses notify URLs with parameters.
    if request.notify_url.contains('?') || notify_path(&request.notify_url).is_none() {
        return Err(Refusal::param("notify_url参数格式错误"));
    }
    let expire = request.time_expire.as_deref();
    if expire.is_some_and(|at| DateTime::parse_from_rfc3339(at).is_err()) {
        return Err(Refusal::param("time_expire须为RFC 3339格式"));
    }
    Ok(PayOrder {
        appid: request.appid,
        mch_id: request.mchid,
        openid: request.payer.openid,
        total_fee: request.amount.total,
        notify_url: request.notify_url,
        attach: request.attach.unwrap_or_default(),
        // v2 only: v3 notifies are signed with the platform key.
        sign_type: SignType::Md5,
        prepay_id: new_prepay_id(now),
        state: TradeState::NotPay,
        transaction_id: None,
        time_end: None,
        api: PayApi::V3,
    })
}

/// Closes an unpaid order; WeChat Pay answers 204 for an order it does not know too.
pub fn close(
    keys: &Keys,
    orders: &mut Orders,
    out_trade_no: &str,
    body: &[u8],
) -> Result<Reply, Refusal> {
    let request: Close = v3::parse_body(body)?;
    v3::check_merchant(keys, None, &request.mchid)?;
    let Some(order) = orders.get_mut(out_trade_no) else {
        return Ok(Reply::no_content());
    };
    match order.state {
        TradeState::NotPay => {
            order.state = TradeState::Closed;
            Ok(Reply::no_content())
        }
        TradeState::Closed => Err(closed()),
        TradeState::Success => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "ORDERPAID",
            "订单已支付",
        )),
    }
}

/// The order as `GET …/out-trade-no/{out_trade_no}?mchid=…` tells it.
pub fn query(
    keys: &Keys,
    orders: &Orders,
    out_trade_no: &str,
    query: &str,
) -> Result<Reply, Refusal> {
    let mchid = form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "mchid")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| Refusal::param("缺少参数mchid"))?;
    v3::check_merchant(keys, None, &mchid)?;
    let order = orders
        .get(out_trade_no)
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"))?;
    Ok(Reply::json(transaction(out_trade_no, order)))
}

/// The transaction as v3 writes it in queries and `TRANSACTION.SUCCESS` resources.
pub fn transaction(out_trade_no: &str, order: &PayOrder) -> Value {
    let desc = match order.state {
        TradeState::NotPay => "订单未支付",
        TradeState::Success => "支付成功",
        TradeState::Closed => "订单已关闭",
    };
    let mut transaction = json!({
        "appid": order.appid,
        "mchid": order.mch_id,
        "out_trade_no": out_trade_no,
        "trade_type": "JSAPI",
        "trade_state": order.state.as_str(),
        "trade_state_desc": desc,
        "attach": order.attach,
        "payer": { "openid": order.openid },
        "amount": { "total": order.total_fee, "currency": "CNY" },
    });
    if order.state == TradeState::Success {
        let paid_at = order.time_end.as_deref().unwrap_or_default();
        transaction["transaction_id"] = json!(order.transaction_id);
        transaction["success_time"] = json!(v3_notify::beijing_rfc3339(paid_at, "%Y%m%d%H%M%S"));
        transaction["bank_type"] = json!("OTHERS");
        transaction["amount"]["payer_total"] = json!(order.total_fee);
        transaction["amount"]["payer_currency"] = json!("CNY");
    }
    transaction
}

/// The v3 notify of a payment of `order` with the control's overrides; none when the control
/// says the payment failed (v3 notifies successful payments only).
pub fn payment_notify(
    state: &PayState,
    out_trade_no: &str,
    order: &PayOrder,
    control: &PayControl,
) -> Result<Option<Outgoing>, String> {
    if control.result == PayResult::Fail {
        return Ok(None);
    }
    let mut resource = transaction(out_trade_no, order);
    if let Some(appid) = &control.appid {
        resource["appid"] = json!(appid);
    }
    if let Some(mch_id) = &control.mch_id {
        resource["mchid"] = json!(mch_id);
    }
    if let Some(total) = control.total_fee {
        resource["amount"]["total"] = json!(total);
        resource["amount"]["payer_total"] = json!(total);
    }
    let event = Event {
        event_type: "TRANSACTION.SUCCESS".to_owned(),
        summary: "支付成功",
        original_type: "transaction",
    };
    v3_notify::notify(state, &event, &resource, control.forge_sign).map(Some)
}

pub(super) async fn jsapi_api(State(state): State<PayState>, call: Call) -> Response {
    v3::respond(&state, &call, "jsapi", |keys, now| {
        jsapi(keys, &mut state.orders(), &call.body, now)
    })
}

pub(super) async fn close_api(
    State(state): State<PayState>,
    Path(out_trade_no): Path<String>,
    call: Call,
) -> Response {
    v3::respond(&state, &call, "close", |keys, _| {
        close(keys, &mut state.orders(), &out_trade_no, &call.body)
    })
}

pub(super) async fn query_api(
    State(state): State<PayState>,
    Path(out_trade_no): Path<String>,
    call: Call,
) -> Response {
    v3::respond(&state, &call, "query", |keys, _| {
        query(keys, &state.orders(), &out_trade_no, call.query())
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::now;
    use super::super::v3_testkit::{jsapi_body, keys, verify, Stand, V3_KEY};
    use super::*;
    use linli::wechat::pay_v3::{ApiV3Key, Notify};

    const ORDER: &str = "O-20261125-v3pay001";

    fn refusal(decided: Result<Reply, Refusal>) -> (u16, &'static str) {
        let refusal = decided.unwrap_err();
        (refusal.status.as_u16(), refusal.code)
    }

    #[test]
    fn a_repeat_gets_the_same_prepay_id_and_a_changed_or_foreign_request_is_refused() {
        let (keys, mut orders) = (keys(), Orders::new());
        let mut create =
            |body: &Value| jsapi(&keys, &mut orders, body.to_string().as_bytes(), now());
        let first = create(&jsapi_body(ORDER, 1990, "o-alice")).unwrap();
        assert_eq!(create(&jsapi_body(ORDER, 1990, "o-alice")).unwrap(), first);
        let used = (403, "OUT_TRADE_NO_USED");
        assert_eq!(refusal(create(&jsapi_body(ORDER, 2990, "o-alice"))), used);
        assert_eq!(refusal(create(&jsapi_body(ORDER, 1990, "o-bob"))), used);
        let base = jsapi_body("O-20261125-v3pay002", 1990, "o-alice");
        let broken: [(&str, Value); 8] = [
            ("/amount/total", json!(0)),
            ("/amount/total", json!("1990")),
            ("/amount/currency", json!("USD")),
            ("/payer", json!({})),
            (
                "/notify_url",
                json!("http://127.0.0.1:3000/wechat/pay/v3/notify?x=1"),
            ),
            ("/out_trade_no", json!("O-1")),
            ("/time_expire", json!("2026-11-25 10:30:00")),
            ("/description", json!("")),
        ];
        for (pointer, value) in broken {
            let mut body = base.clone();
            *body.pointer_mut(pointer).unwrap() = value;
            assert_eq!(refusal(create(&body)), (400, "PARAM_ERROR"), "{pointer}");
        }
        let mut body = base.clone();
        body["appid"] = json!("wxother");
        assert_eq!(refusal(create(&body)), (400, "APPID_MCHID_NOT_MATCH"));
        body["mchid"] = json!("1900000999");
        assert_eq!(refusal(create(&body)), (400, "MCH_NOT_EXISTS"));
        assert_eq!(orders.len(), 1);
        assert_eq!(
            (orders[ORDER].api, orders[ORDER].total_fee),
            (PayApi::V3, 1990)
        );
    }

    #[tokio::test]
    async fn closing_an_unpaid_order_is_a_204_then_the_query_says_closed_but_a_paid_one_stays_paid()
    {
        let stand = Stand::serve().await;
        let close = |no: &str| format!("/v3/pay/transactions/out-trade-no/{no}/close");
        let query = |no: &str| format!("/v3/pay/transactions/out-trade-no/{no}?mchid=1900000109");
        let mchid = r#"{"mchid":"1900000109"}"#;
        stand.create(ORDER, 1990).await;
        let closed = stand.call("POST", &close(ORDER), mchid).await;
        assert_eq!((closed.status, closed.body.as_str()), (204, ""));
        assert_eq!(verify(&closed.headers, b""), Ok(()));
        assert!(closed.headers.get("content-type").is_none());
        let shown = stand.call("GET", &query(ORDER), "").await;
        assert_eq!(verify(&shown.headers, shown.body.as_bytes()), Ok(()));
        assert_eq!(shown.json()["trade_state"], "CLOSED");
        assert!(shown.json().get("transaction_id").is_none());
        let again = stand.call("POST", &close(ORDER), mchid).await;
        assert_eq!(again.code(), (400, "ORDER_CLOSED".to_owned()));
        let unknown = stand
            .call("POST", &close("O-20261125-unknown"), mchid)
            .await;
        assert_eq!(unknown.status, 204, "WeChat Pay's quirk");

        let paid = "O-20261125-v3pay003";
        stand.create(paid, 2990).await;
        let control = stand.pay(paid, json!({})).await;
        let refused = stand.call("POST", &close(paid), mchid).await;
        assert_eq!(refused.code(), (400, "ORDERPAID".to_owned()));
        let shown = stand.call("GET", &query(paid), "").await.json();
        assert_eq!(shown["trade_state"], "SUCCESS");
        assert_eq!(shown["transaction_id"], control["transaction_id"]);
        assert_eq!(
            shown["amount"],
            json!({"total": 2990, "payer_total": 2990, "currency": "CNY", "payer_currency": "CNY"})
        );
        assert_eq!(shown["payer"]["openid"], "o-alice");
        assert!(shown["success_time"].as_str().unwrap().ends_with("+08:00"));
        let body = jsapi_body(paid, 2990, "o-alice").to_string();
        let repeat = stand
            .call("POST", "/v3/pay/transactions/jsapi", &body)
            .await;
        assert_eq!(repeat.code(), (400, "ORDERPAID".to_owned()));
    }

    #[test]
    fn the_query_tells_a_v2_order_and_needs_the_merchant() {
        let mut orders = Orders::new();
        let body = super::super::tests::request(&[], SignType::Md5, super::super::tests::KEY);
        let merchant = super::super::tests::merchant();
        super::super::answer(
            super::super::Api::UnifiedOrder,
            &merchant,
            &mut orders,
            &body,
            now(),
        );
        let no = super::super::tests::ORDER;
        let shown = query(&keys(), &orders, no, "mchid=1900000109").unwrap();
        let shown = shown.body.unwrap();
        assert_eq!(
            (
                shown["trade_state"].as_str(),
                shown["amount"]["total"].as_i64()
            ),
            (Some("NOTPAY"), Some(1990))
        );
        assert_eq!(
            refusal(query(&keys(), &orders, no, "")),
            (400, "PARAM_ERROR")
        );
        assert_eq!(
            refusal(query(&keys(), &orders, no, "mchid=1")),
            (400, "MCH_NOT_EXISTS")
        );
    }

    #[tokio::test]
    async fn a_paid_v3_order_is_notified_as_a_sealed_transaction_success_that_verifies() {
        let stand = Stand::serve().await;
        stand.create(ORDER, 1990).await;
        let paid = stand.pay(ORDER, json!({"concurrent": 2})).await;
        let deliveries = paid["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 2);
        assert!(deliveries
            .iter()
            .all(|d| d["accepted"] == true && d["attempts"] == 1));
        assert_eq!(deliveries[0]["path"], "/wechat/pay/v3/notify");
        let notifies = stand.notifies(2).await;
        assert_eq!(notifies[0].body, notifies[1].body, "copies of one notify");
        assert_eq!(notifies[0].headers["content-type"], "application/json");
        let (envelope, resource) = notifies[0].open().unwrap();
        assert_eq!(envelope["event_type"], "TRANSACTION.SUCCESS");
        assert_eq!(envelope["resource_type"], "encrypt-resource");
        assert_eq!(envelope["summary"], "支付成功");
        assert_eq!(envelope["resource"]["original_type"], "transaction");
        assert_eq!(envelope["resource"]["associated_data"], "transaction");
        assert_eq!(envelope["resource"]["nonce"].as_str().unwrap().len(), 12);
        assert_eq!(envelope["id"].as_str().unwrap().len(), 36);
        assert!(envelope["create_time"]
            .as_str()
            .unwrap()
            .ends_with("+08:00"));
        assert_eq!(resource["trade_state"], "SUCCESS");
        assert_eq!(
            resource["amount"],
            json!({"total": 1990, "payer_total": 1990, "currency": "CNY", "payer_currency": "CNY"})
        );
        assert_eq!(resource["transaction_id"], paid["transaction_id"]);
        assert_eq!(
            (
                resource["out_trade_no"].as_str(),
                resource["mchid"].as_str()
            ),
            (Some(ORDER), Some("1900000109"))
        );
        assert_eq!(
            (
                resource["payer"]["openid"].as_str(),
                resource["attach"].as_str()
            ),
            (Some("o-alice"), Some(""))
        );

        let forged = stand
            .pay(ORDER, json!({"forge_sign": true, "total_fee": 1}))
            .await;
        assert_eq!(forged["transaction_id"], paid["transaction_id"], "a repeat");
        let notifies = stand.notifies(3).await;
        assert!(notifies[2].open().is_err(), "a forged Wechatpay-Signature");
        let sealed = Notify::parse(&notifies[2].body).unwrap();
        let plain = sealed.open(&ApiV3Key::new(V3_KEY.as_bytes()).unwrap());
        let resource: Value = serde_json::from_str(&plain.unwrap()).unwrap();
        assert_eq!(resource["amount"]["total"], 1, "the override");
        let failed = stand.pay(ORDER, json!({"result": "FAIL"})).await;
        assert_eq!(
            failed["deliveries"],
            json!([]),
            "v3 notifies successes only"
        );
    }
}
