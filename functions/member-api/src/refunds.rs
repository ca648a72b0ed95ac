//! `POST /api/orders/{id}/refund`: the member takes back a paid pickup order not yet collected —
//! all of what is left to refund, once (refund id `<order>-M`; asking again answers the same
//! refund). The money goes back when WeChat Pay settles it; the refund notify then claws back
//! the order's points (pay-notify). Delivery orders are refunded by staff (`linli-admin refund`),
//! who know whether the goods left the store.

use crate::answer::{error, reply, store_failed};
use crate::orders::own_order;
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::order::{member_refund_id, Fulfilment, OrderStatus, Refund, RefundOrigin, RefundState};
use linli::refunding::{self, Started};
use linli::store::orders::OrderStore;
use linli::store::refunds::RefundStore;
use linli::time::BusinessTime;
use serde_json::{json, Value};

pub fn view(refund: &Refund) -> Value {
    json!({
        "refund_id": refund.refund_id.to_string(),
        "amount_fen": refund.amount_fen.value(),
        "state": match refund.state {
            RefundState::Requested => "requested",
            RefundState::Succeeded => "succeeded",
            RefundState::Failed => "failed",
        },
        "origin": refund.origin,
        "reason": refund.reason,
        "requested_at": refund.requested_at.to_string(),
        "settled_at": refund.settled_at.map(|t| t.to_string()),
        "points_clawed_back": refund.clawback.map(|p| p.value()),
    })
}

pub async fn refund<L, M, C, O: OrderStore + RefundStore>(
    app: &App<L, M, C, O>,
    request: &Request,
    id: &str,
    now: BusinessTime,
) -> Response<Body> {
    let order = match own_order(app, request, id, now).await {
        Ok(order) => order,
        Err(answer) => return answer.into(),
    };
    let refusal = |code: &str, message: &str| {
        tracing::info!(order_id = %order.order_id, code, "member refund refused");
        error(StatusCode::CONFLICT, code, message, None)
    };
    if order.status != OrderStatus::Paid {
        return refusal("not_paid", "only a paid order can be refunded");
    }
    if order.round.is_some() {
        return refusal(
            "group_buy",
            "a group-buy join is left with POST /api/group-buys/{round}/orders/{id}/cancel before the cutoff; after it, lines that do not go ahead are refunded by the round",
        );
    }
    if order.fulfilment != Fulfilment::Pickup {
        return refusal(
            "not_pickup",
            "a delivery order is refunded by the store's after-sales service",
        );
    }
    let Some(payment) = order.payment.as_ref() else {
        return refusal("not_paid", "only a paid order can be refunded");
    };
    let Ok(refund_id) = member_refund_id(&order.order_id) else {
        tracing::error!(order_id = %order.order_id, "order id does not make a refund id");
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "try again later",
            None,
        );
    };
    let refund = Refund {
        refund_id,
        order_id: order.order_id.clone(),
        member: order.member.clone(),
        transaction_id: payment.transaction_id.clone(),
        total_fen: order.amount_fen,
        amount_fen: order.refundable(),
        origin: RefundOrigin::Member,
        reason: "会员取消自提订单".to_owned(),
        operator: None,
        state: RefundState::Requested,
        requested_at: now,
        counts_against_order: true,
        wechat_refund_id: None,
        settled_at: None,
        clawback: None,
        growth: None,
    };
    let refund = if refund.amount_fen.is_positive() {
        refund
    } else {
        // Asked before: that refund (asked of WeChat Pay again while it is still requested).
        match app.orders.refund(&order.order_id, &refund.refund_id).await {
            Ok(Some(existing)) if existing.state == RefundState::Requested => existing,
            Ok(Some(existing)) => return reply(StatusCode::OK, view(&existing)),
            Ok(None) => return refusal("nothing_to_refund", "the order has been refunded already"),
            Err(e) => return store_failed(&e),
        }
    };
    match refunding::start(&app.orders, &app.pay, refund, now).await {
        Ok(Started::Asked(refund)) => reply(StatusCode::ACCEPTED, view(&refund)),
        Ok(Started::Existing(refund)) => reply(StatusCode::OK, view(&refund)),
        Ok(Started::TooMuch { .. }) => {
            refusal("nothing_to_refund", "the order has been refunded already")
        }
        Ok(Started::NotPaid) => refusal("not_paid", "only a paid order can be refunded"),
        Ok(Started::Refused { code, message }) => error(
            StatusCode::CONFLICT,
            "refund_refused",
            &format!("WeChat Pay refused the refund: {code} {message}"),
            None,
        ),
        Ok(Started::Unavailable(_)) => error(
            StatusCode::BAD_GATEWAY,
            "wechat_pay_unavailable",
            "WeChat Pay did not answer; ask again (the same refund is asked, never a second one)",
            None,
        ),
        Err(e) => store_failed(&e),
    }
}
