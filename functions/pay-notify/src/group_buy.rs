//! A paid group-buy join (an order with a `round`): its lines count toward the round once
//! (`store::rounds::count_paid`: the round still open at the payment's time, a capped SKU never
//! oversold, the member within the limit). It earns nothing now — the cutoff posts
//! `earn:round:<round>:<order>` for confirmed lines only. A payment the round cannot take (it
//! came after the cutoff, the SKU sold out meanwhile, the member's limit reached) is recorded as
//! an anomaly and refunded in full automatically.

use crate::{retry_later, success, App};
use lambda_http::{Body, Response};
use linli::groupbuy::join::JoinLine;
use linli::order::{late_payment_refund_id, Anomaly, AnomalyKind, Order, Refund};
use linli::refunding::{self, Started};
use linli::store::orders::OrderStore;
use linli::store::refunds::RefundStore;
use linli::store::rounds::Counted;
use linli::time::BusinessTime;

pub async fn count<O: OrderStore + RefundStore>(
    app: &App<O>,
    order: &Order,
    now: BusinessTime,
) -> Response<Body> {
    let (Some(round_id), Some(payment)) = (&order.round, &order.payment) else {
        return success();
    };
    let round = match app.rounds.get(round_id).await {
        Ok(Some(round)) => round,
        Ok(None) => {
            tracing::error!(order_id = %order.order_id, round = %round_id, "paid join of a round that does not exist: refunded");
            return refuse(app, order, "the round does not exist", now).await;
        }
        Err(e) => return retry_later("reading the group-buy round", &e),
    };
    let lines: Vec<JoinLine> = order
        .lines
        .iter()
        .map(|l| JoinLine {
            sku: l.sku.clone(),
            name: l.name.clone(),
            qty: l.qty,
            price_fen: l.price_fen.value(),
            amount_fen: l.price_fen.value().saturating_mul(l.qty),
        })
        .collect();
    let counted = app
        .rounds
        .count_paid(
            &round,
            &order.order_id,
            &order.member,
            &lines,
            payment.paid_at,
        )
        .await;
    let why = match counted {
        Ok(Counted::Counted) => {
            tracing::info!(order_id = %order.order_id, round = %round_id, "group-buy join counted");
            return success();
        }
        Ok(Counted::Already) => return success(),
        Ok(Counted::Closed) => "paid after the round's cutoff".to_owned(),
        Ok(Counted::SoldOut(sku)) => format!("{sku} sold out before the payment came"),
        Ok(Counted::OverLimit(sku)) => format!("{sku}: past the member's limit"),
        Ok(Counted::UnknownSku(sku)) => format!("{sku} is not offered by the round"),
        Err(e) => return retry_later("counting the group-buy join", &e),
    };
    tracing::warn!(order_id = %order.order_id, round = %round_id, why, "paid join the round cannot take: refunded");
    refuse(app, order, &why, now).await
}

/// Records the anomaly and refunds the whole payment, counted against the order (so nothing
/// else can refund it again; once: the refund id is the transaction's).
async fn refuse<O: OrderStore + RefundStore>(
    app: &App<O>,
    order: &Order,
    why: &str,
    now: BusinessTime,
) -> Response<Body> {
    let Some(payment) = &order.payment else {
        return success();
    };
    let anomaly = Anomaly {
        kind: AnomalyKind::JoinRefused,
        out_trade_no: order.order_id.to_string(),
        transaction_id: payment.transaction_id.clone(),
        paid_fen: order.amount_fen,
        expected_fen: Some(order.amount_fen),
        detail: format!("group-buy: {why}"),
        recorded_at: now,
    };
    if let Err(e) = app.orders.record_anomaly(&anomaly).await {
        return retry_later("recording the refused join", &e);
    }
    let Ok(refund_id) = late_payment_refund_id(&payment.transaction_id) else {
        tracing::error!(order_id = %order.order_id, "refused join with an unusable transaction id: refund it by hand");
        return success();
    };
    let reason = "团购已截单或名额已满，款项原路退回";
    let Some(refund) = Refund::group_buy(order, refund_id, order.amount_fen, reason, now) else {
        return success();
    };
    match refunding::start(&app.orders, &app.pay, refund, now).await {
        Ok(Started::Asked(refund)) | Ok(Started::Existing(refund)) => {
            tracing::warn!(refund = %refund.refund_id, order_id = %order.order_id, state = ?refund.state, "refused join refunded automatically");
            success()
        }
        Ok(Started::Unavailable(why)) => retry_later("asking the refused join's refund", &why),
        Ok(other) => {
            tracing::error!(order_id = %order.order_id, outcome = ?other, "refused join not refunded: an operator must look");
            success()
        }
        Err(e) => retry_later("recording the refused join's refund", &e),
    }
}
