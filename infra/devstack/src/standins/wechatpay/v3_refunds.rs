//! API v3 refunds (envelope in `v3.rs`), kept with v2's in one `Refunds` map and settled the
//! same way (`refunds::settle_later`), under v2's rules:
//! - `POST /v3/refund/domestic/refunds` `{out_trade_no | transaction_id, out_refund_no, reason?,
//!   notify_url?, amount: {refund, total, currency: "CNY"}}` → 200 the refund, `PROCESSING`; the
//!   same `out_refund_no` for the same order and amount → the same refund (as it is now), with
//!   another amount → 400 `INVALID_REQUEST`; an unknown order → 404 `RESOURCE_NOT_EXISTS`, an
//!   unpaid one or a `total` that is not the payment → 400 `INVALID_REQUEST`; more than is left
//!   → 403 `NOT_ENOUGH`;
//! - `GET /v3/refund/domestic/refunds/{out_refund_no}` → 200 the refund (`status` PROCESSING,
//!   SUCCESS with `success_time`, CLOSED or ABNORMAL); unknown → 404 `RESOURCE_NOT_EXISTS`.
//!
//! A settled v3 refund is notified `REFUND.SUCCESS` (`REFUND.CLOSED`, `REFUND.ABNORMAL` for the
//! outcomes the `refund-notify` control can send) to the path of its `notify_url`.

use super::notify::Outgoing;
use super::refunds::{refunded, settle_later, PayRefund, Refunds};
use super::v3::{self, Call, Refusal, Reply};
use super::v3_notify::{self, Event};
use super::{random, Orders, PayApi, PayOrder, PayState, TradeState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Ask {
    out_trade_no: Option<String>,
    transaction_id: Option<String>,
    out_refund_no: String,
    reason: Option<String>,
    notify_url: Option<String>,
    amount: AskAmount,
}

#[derive(Deserialize)]
struct AskAmount {
    refund: i64,
    total: i64,
    currency: String,
}

/// v2's refund statuses (as the map keeps them) in v3's words.
pub fn v3_status(stored: &str) -> &str {
    match stored {
        "REFUNDCLOSE" => "CLOSED",
        "CHANGE" => "ABNORMAL",
        other => other,
    }
}

/// A status given to the `refund-notify` control (v2's or v3's word) as the map keeps it.
pub fn stored_status(given: &str) -> &str {
    match given {
        "CLOSED" => "REFUNDCLOSE",
        "ABNORMAL" => "CHANGE",
        other => other,
    }
}

fn invalid(message: &str) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
}

fn check_ask(ask: &Ask) -> Result<(), Refusal> {
    if ask.amount.refund <= 0 || ask.amount.total <= 0 {
        return Err(Refusal::param(
            "amount.refund和amount.total须为正整数（分）",
        ));
    }
    if ask.amount.currency != "CNY" {
        return Err(Refusal::param("amount.currency仅支持CNY"));
    }
    let no = &ask.out_refund_no;
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b);
    if no.is_empty() || no.len() > 64 || !no.bytes().all(allowed) {
        return Err(Refusal::param("out_refund_no参数格式错误"));
    }
    if ask
        .reason
        .as_deref()
        .is_some_and(|r| r.chars().count() > 80)
    {
        return Err(Refusal::param("reason不能超过80个字符"));
    }
    Ok(())
}

/// The order a refund asks for, by `out_trade_no` or else `transaction_id`.
fn find_order<'a>(orders: &'a Orders, ask: &Ask) -> Result<(&'a String, &'a PayOrder), Refusal> {
    let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let found = match (given(&ask.out_trade_no), given(&ask.transaction_id)) {
        (Some(out_trade_no), _) => orders.get_key_value(&out_trade_no),
        (None, Some(id)) => orders
            .iter()
            .find(|(_, o)| o.transaction_id.as_deref() == Some(id.as_str())),
        (None, None) => {
            return Err(Refusal::param("out_trade_no和transaction_id至少填一个"));
        }
    };
    found.ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在"))
}

/// Decides `POST /v3/refund/domestic/refunds`; the `out_refund_no` of a new refund to settle.
pub fn refund(
    orders: &Orders,
    refunds: &mut Refunds,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(Reply, Option<String>), Refusal> {
    let ask: Ask = v3::parse_body(body)?;
    check_ask(&ask)?;
    let (out_trade_no, order) = find_order(orders, &ask)?;
    if order.state != TradeState::Success {
        return Err(invalid("订单未支付，不能退款"));
    }
    if ask.amount.total != order.total_fee {
        return Err(invalid("订单金额与支付金额不一致"));
    }
    let out_refund_no = ask.out_refund_no.as_str();
    if let Some(existing) = refunds.get(out_refund_no) {
        let same =
            existing.refund_fee == ask.amount.refund && existing.out_trade_no == *out_trade_no;
        return match same {
            true => Ok((Reply::json(refund_json(out_refund_no, existing)), None)),
            false => Err(invalid("退款请求与之前请求不一致")),
        };
    }
    if refunded(refunds, out_trade_no).saturating_add(ask.amount.refund) > order.total_fee {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "NOT_ENOUGH",
            "可退金额不足",
        ));
    }
    let created = PayRefund {
        out_trade_no: out_trade_no.clone(),
        transaction_id: order.transaction_id.clone().unwrap_or_default(),
        refund_id: format!("503{}", random(26, 10)),
        total_fee: ask.amount.total,
        refund_fee: ask.amount.refund,
        status: "PROCESSING".to_owned(),
        notify_url: ask.notify_url.clone().unwrap_or_default(),
        success_time: None,
        create_time: v3_notify::shanghai_rfc3339(now),
        api: PayApi::V3,
    };
    let reply = Reply::json(refund_json(out_refund_no, &created));
    refunds.insert(out_refund_no.to_owned(), created);
    Ok((reply, Some(out_refund_no.to_owned())))
}

/// Decides `GET /v3/refund/domestic/refunds/{out_refund_no}`.
pub fn refund_query(refunds: &Refunds, out_refund_no: &str) -> Result<Reply, Refusal> {
    let r = refunds.get(out_refund_no).ok_or_else(|| {
        Refusal::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在")
    })?;
    Ok(Reply::json(refund_json(out_refund_no, r)))
}

fn success_time(r: &PayRefund) -> Option<String> {
    let at = r.success_time.as_deref()?;
    v3_notify::beijing_rfc3339(at, "%Y-%m-%d %H:%M:%S")
}

/// The refund as v3 answers it.
fn refund_json(out_refund_no: &str, r: &PayRefund) -> Value {
    let mut refund = json!({
        "refund_id": r.refund_id,
        "out_refund_no": out_refund_no,
        "transaction_id": r.transaction_id,
        "out_trade_no": r.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": r.create_time,
        "status": v3_status(&r.status),
        "amount": {
            "total": r.total_fee,
            "refund": r.refund_fee,
            "payer_total": r.total_fee,
            "payer_refund": r.refund_fee,
            "currency": "CNY",
        },
    });
    if let Some(at) = success_time(r) {
        refund["success_time"] = json!(at);
    }
    refund
}

/// The v3 notify of `r`'s outcome (`REFUND.SUCCESS`, `REFUND.CLOSED`, `REFUND.ABNORMAL`).
pub fn refund_notify(
    state: &PayState,
    out_refund_no: &str,
    r: &PayRefund,
) -> Result<Outgoing, String> {
    let mch_id = state.v3.as_ref().map_err(Clone::clone)?.mch_id.clone();
    let status = v3_status(&r.status);
    let summary = match status {
        "SUCCESS" => "退款成功",
        "CLOSED" => "退款关闭",
        "ABNORMAL" => "退款异常",
        _ => "退款状态变更",
    };
    let mut resource = json!({
        "mchid": mch_id,
        "out_trade_no": r.out_trade_no,
        "transaction_id": r.transaction_id,
        "out_refund_no": out_refund_no,
        "refund_id": r.refund_id,
        "refund_status": status,
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": r.total_fee,
            "refund": r.refund_fee,
            "payer_total": r.total_fee,
            "payer_refund": r.refund_fee,
        },
    });
    if let Some(at) = success_time(r) {
        resource["success_time"] = json!(at);
    }
    let event = Event {
        event_type: format!("REFUND.{status}"),
        summary,
        original_type: "refund",
    };
    v3_notify::notify(state, &event, &resource, false)
}

pub(super) async fn refund_api(State(state): State<PayState>, call: Call) -> Response {
    let mut new = None;
    let response = v3::respond(&state, &call, "refunds", |_, now| {
        let (reply, created) = refund(&state.orders(), &mut state.refunds(), &call.body, now)?;
        new = created;
        Ok(reply)
    });
    if let Some(out_refund_no) = new {
        settle_later(state.clone(), out_refund_no);
    }
    response
}

pub(super) async fn refund_query_api(
    State(state): State<PayState>,
    Path(out_refund_no): Path<String>,
    call: Call,
) -> Response {
    v3::respond(&state, &call, "refund query", |_, _| {
        refund_query(&state.refunds(), &out_refund_no)
    })
}

#[cfg(test)]
mod tests {
    use super::super::notify::{settle, PayResult};
    use super::super::tests::now;
    use super::super::v3_testkit::{jsapi_body, keys, verify, Stand, NOTIFY_URL};
    use super::super::v3_transactions::jsapi;
    use super::*;

    const ORDER: &str = "O-20261125-v3ref001";

    fn orders(paid: bool) -> Orders {
        let mut orders = Orders::new();
        let body = jsapi_body(ORDER, 1990, "o-alice").to_string();
        jsapi(&keys(), &mut orders, body.as_bytes(), now()).unwrap();
        if paid {
            settle(orders.get_mut(ORDER).unwrap(), PayResult::Success, now());
        }
        orders
    }

    fn ask(out_refund_no: &str, refund: i64, total: i64) -> Value {
        json!({
            "out_trade_no": ORDER, "out_refund_no": out_refund_no, "reason": "缺货",
            "notify_url": NOTIFY_URL,
            "amount": {"refund": refund, "total": total, "currency": "CNY"},
        })
    }

    type Decided = Result<(Reply, Option<String>), Refusal>;

    fn decide(orders: &Orders, refunds: &mut Refunds, ask: &Value) -> Decided {
        refund(orders, refunds, ask.to_string().as_bytes(), now())
    }

    fn refusal(decided: Decided) -> (u16, &'static str) {
        let refusal = decided.unwrap_err();
        (refusal.status.as_u16(), refusal.code)
    }

    #[test]
    fn the_same_out_refund_no_twice_gets_the_same_refund_and_settles_once() {
        let (orders, mut refunds) = (orders(true), Refunds::new());
        let (first, new) = decide(&orders, &mut refunds, &ask("R-1", 500, 1990)).unwrap();
        assert_eq!(new.as_deref(), Some("R-1"));
        let (again, new) = decide(&orders, &mut refunds, &ask("R-1", 500, 1990)).unwrap();
        assert_eq!((&again, new), (&first, None));
        let mut by_transaction = ask("R-1", 500, 1990);
        by_transaction["out_trade_no"] = Value::Null;
        by_transaction["transaction_id"] = json!(orders[ORDER].transaction_id);
        let (same, _) = decide(&orders, &mut refunds, &by_transaction).unwrap();
        assert_eq!(same, first);
        let changed = decide(&orders, &mut refunds, &ask("R-1", 600, 1990));
        assert_eq!(refusal(changed), (400, "INVALID_REQUEST"));
        let answer = first.body.unwrap();
        let refund_id = answer["refund_id"].as_str().unwrap();
        assert!(refund_id.starts_with("503") && refund_id.len() == 29);
        assert_eq!(
            (answer["status"].as_str(), answer["channel"].as_str()),
            (Some("PROCESSING"), Some("ORIGINAL"))
        );
        assert_eq!(
            answer["transaction_id"],
            json!(orders[ORDER].transaction_id)
        );
        assert_eq!(
            answer["amount"],
            json!({
                "total": 1990, "refund": 500, "payer_total": 1990, "payer_refund": 500,
                "currency": "CNY",
            })
        );
        assert_eq!(answer["create_time"], "2026-11-25T00:30:05+08:00");
        assert_eq!((refunds.len(), refunds["R-1"].api), (1, PayApi::V3));
    }

    #[test]
    fn refunds_beyond_what_is_left_are_not_enough_and_wrong_orders_are_refused() {
        let (orders, mut refunds) = (orders(true), Refunds::new());
        let mut asking = |ask: Value| decide(&orders, &mut refunds, &ask);
        assert!(asking(ask("R-1", 1500, 1990)).is_ok());
        assert_eq!(refusal(asking(ask("R-2", 500, 1990))), (403, "NOT_ENOUGH"));
        assert!(asking(ask("R-2", 490, 1990)).is_ok());
        assert_eq!(refusal(asking(ask("R-3", 1, 1990))), (403, "NOT_ENOUGH"));
        assert_eq!(
            refusal(asking(ask("R-4", 1, 2000))),
            (400, "INVALID_REQUEST")
        );
        let mut unknown = ask("R-5", 1, 1990);
        unknown["out_trade_no"] = json!("O-20261125-unknown");
        assert_eq!(refusal(asking(unknown)), (404, "RESOURCE_NOT_EXISTS"));
        let broken: [(&str, Value); 4] = [
            ("/out_trade_no", Value::Null),
            ("/amount/refund", json!(0)),
            ("/amount/currency", json!("USD")),
            ("/out_refund_no", json!("R 6")),
        ];
        for (pointer, value) in broken {
            let mut body = ask("R-6", 1, 1990);
            *body.pointer_mut(pointer).unwrap() = value;
            assert_eq!(refusal(asking(body)), (400, "PARAM_ERROR"), "{pointer}");
        }
        let unpaid = decide(
            &self::orders(false),
            &mut Refunds::new(),
            &ask("R-7", 1, 1990),
        );
        assert_eq!(refusal(unpaid), (400, "INVALID_REQUEST"));
        let unknown = refund_query(&refunds, "R-404").unwrap_err();
        assert_eq!(
            (unknown.status.as_u16(), unknown.code),
            (404, "RESOURCE_NOT_EXISTS")
        );
    }

    #[tokio::test]
    async fn a_settled_v3_refund_is_notified_as_a_sealed_refund_success_and_queried_so() {
        let stand = Stand::serve().await;
        stand.create(ORDER, 1990).await;
        let paid = stand.pay(ORDER, json!({})).await;
        let body = ask("R-1", 500, 1990).to_string();
        let asked = stand
            .call("POST", "/v3/refund/domestic/refunds", &body)
            .await;
        assert_eq!(verify(&asked.headers, asked.body.as_bytes()), Ok(()));
        assert_eq!(
            (asked.status, asked.json()["status"].as_str()),
            (200, Some("PROCESSING"))
        );
        let notifies = stand.notifies(2).await;
        let (envelope, resource) = notifies[1].open().unwrap();
        assert_eq!(
            (
                envelope["event_type"].as_str(),
                envelope["summary"].as_str()
            ),
            (Some("REFUND.SUCCESS"), Some("退款成功"))
        );
        assert_eq!(envelope["resource"]["original_type"], "refund");
        assert_eq!(envelope["resource"]["associated_data"], "refund");
        assert_eq!(
            (
                resource["refund_status"].as_str(),
                resource["out_refund_no"].as_str()
            ),
            (Some("SUCCESS"), Some("R-1"))
        );
        assert_eq!(resource["refund_id"], asked.json()["refund_id"]);
        assert_eq!(resource["transaction_id"], paid["transaction_id"]);
        assert_eq!(
            resource["amount"],
            json!({"total": 1990, "refund": 500, "payer_total": 1990, "payer_refund": 500})
        );
        assert_eq!(
            (
                resource["mchid"].as_str(),
                resource["user_received_account"].as_str()
            ),
            (Some("1900000109"), Some("支付用户零钱"))
        );
        let success_time = resource["success_time"].as_str().unwrap();
        assert!(success_time.ends_with("+08:00"));
        let shown = stand
            .call("GET", "/v3/refund/domestic/refunds/R-1", "")
            .await;
        assert_eq!(verify(&shown.headers, shown.body.as_bytes()), Ok(()));
        assert_eq!(shown.json()["status"], "SUCCESS");
        assert_eq!(shown.json()["success_time"], success_time);

        let control = json!({
            "out_trade_no": ORDER, "out_refund_no": "R-made-up", "refund_fee": 100,
            "status": "ABNORMAL", "api": "v3",
        });
        let sent = stand.control("/refund-notify", control).await;
        assert_eq!(sent["delivery"]["path"], "/wechat/pay/v3/notify");
        let (envelope, resource) = stand.notifies(3).await[2].open().unwrap();
        assert_eq!(envelope["event_type"], "REFUND.ABNORMAL");
        assert_eq!(resource["refund_status"], "ABNORMAL");
        let unknown = stand
            .call("GET", "/v3/refund/domestic/refunds/R-made-up", "")
            .await;
        assert_eq!(unknown.code(), (404, "RESOURCE_NOT_EXISTS".to_owned()));
    }
}
