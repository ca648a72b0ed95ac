//! `POST /api/group-buys/{round}/orders/{id}/cancel`: a member leaves a round before its cutoff.
//! - A join not yet paid is cancelled like any pending order (WeChat Pay closes the payment
//!   first, so it can no longer be paid).
//! - A paid join is taken back out of the round (`store::rounds::withdraw`: its quantities stop
//!   counting, in one transaction that checks the round is still open), then the whole payment
//!   is refunded under `<order>-GC` — once, however often the member asks. Should the refund
//!   not be asked (WeChat Pay unavailable), the cutoff sees it through.
//! - 409 `round_closed` once the cutoff has begun (the join is then confirmed or refunded with
//!   the round), `payment_not_counted` while the payment's notify is still being processed,
//!   `already_refunded` for a payment the round refused; 404 for another member's order or an
//!   order of another round.

use crate::answer::{error, not_found, reply, store_failed};
use crate::orders::{own_order, with_refunds};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::groupbuy::cutoff::LineFate;
use linli::ids::RoundId;
use linli::order::{Order, OrderStatus, Refund};
use linli::refunding::{self, Started};
use linli::store::ledger::LedgerStore;
use linli::store::orders::OrderStore;
use linli::store::refunds::RefundStore;
use linli::store::rounds::Withdrawn;
use linli::time::BusinessTime;

pub async fn cancel<L: LedgerStore, M, C, O: OrderStore + RefundStore>(
    app: &App<L, M, C, O>,
    request: &Request,
    round: &str,
    id: &str,
    now: BusinessTime,
) -> Response<Body> {
    let order = match own_order(app, request, id, now).await {
        Ok(order) => order,
        Err(answer) => return answer.into(),
    };
    let in_round = RoundId::parse(round)
        .ok()
        .filter(|r| order.round.as_ref() == Some(r));
    let Some(round_id) = in_round else {
        return not_found("order_not_found", "no such order in this round");
    };
    let refusal = |code: &str, message: &str| {
        tracing::info!(order_id = %order.order_id, round = %round_id, code, "group-buy cancel refused");
        error(StatusCode::CONFLICT, code, message, None)
    };
    match order.status {
        OrderStatus::Pending => return crate::orders::cancel(app, request, id, now).await,
        OrderStatus::Paid => {}
        other => {
            return refusal(
                "not_paid",
                &format!("the order is {other}: nothing to cancel"),
            )
        }
    }
    let round = match app.rounds.get(&round_id).await {
        Ok(Some(round)) => round,
        Ok(None) => return not_found("round_not_found", "no such round"),
        Err(e) => return store_failed(&e),
    };
    match app.rounds.withdraw(&round, &order.order_id, now).await {
        Ok(Withdrawn::Withdrawn | Withdrawn::Already) => {}
        Ok(Withdrawn::Closed) => {
            return refusal(
                "round_closed",
                "the round's cutoff has begun: the join is confirmed or refunded with the round",
            )
        }
        Ok(Withdrawn::NotCounted) if order.refund_requested_fen >= order.amount_fen => {
            return refusal(
                "already_refunded",
                "the round could not take this payment: it is refunded",
            )
        }
        Ok(Withdrawn::NotCounted) => {
            return refusal(
                "payment_not_counted",
                "the payment is still being confirmed; try again in a moment",
            )
        }
        Err(e) => return store_failed(&e),
    }
    tracing::info!(order_id = %order.order_id, round = %round_id, member = %order.member.masked(), "paid join withdrawn from its round");
    refund(app, &order, &round_id, now).await
}

/// Refunds the whole payment of a withdrawn join and records its lines as cancelled.
async fn refund<L, M, C, O: OrderStore + RefundStore>(
    app: &App<L, M, C, O>,
    order: &Order,
    round_id: &RoundId,
    now: BusinessTime,
) -> Response<Body> {
    let refund = match Refund::cancelled_join(order, now) {
        Ok(Some(refund)) => refund,
        Ok(None) | Err(_) => {
            tracing::error!(order_id = %order.order_id, "withdrawn join without a refundable payment: an operator must look");
            return shown(app, order).await;
        }
    };
    match refunding::start(&app.orders, &app.pay, refund, now).await {
        Ok(Started::Asked(_) | Started::Existing(_)) => {
            let lines = match app.rounds.line(round_id, &order.order_id).await {
                Ok(line) => line.map_or(0, |l| l.lines.len()),
                Err(e) => return store_failed(&e),
            };
            let fates = vec![LineFate::Cancelled; lines];
            if let Err(e) = app
                .rounds
                .set_fates(round_id, &order.order_id, &fates)
                .await
            {
                // The cutoff records them (and finds the refund asked).
                tracing::warn!(order_id = %order.order_id, error = %e, "cancelled join's fates not recorded now");
            }
        }
        Ok(Started::Unavailable(why)) => {
            tracing::warn!(order_id = %order.order_id, why, "cancelled join's refund not asked yet: the cutoff asks again");
        }
        Ok(other) => {
            tracing::error!(order_id = %order.order_id, outcome = ?other, "cancelled join not refunded: an operator must look");
        }
        Err(e) => {
            tracing::warn!(order_id = %order.order_id, error = %e, "cancelled join's refund not recorded: the cutoff records it");
        }
    }
    match app.orders.get(&order.order_id).await {
        Ok(Some(now_order)) => shown(app, &now_order).await,
        Ok(None) => not_found("order_not_found", "no such order"),
        Err(e) => store_failed(&e),
    }
}

async fn shown<L, M, C, O: OrderStore + RefundStore>(
    app: &App<L, M, C, O>,
    order: &Order,
) -> Response<Body> {
    match with_refunds(app, order).await {
        Ok(body) => reply(StatusCode::OK, body),
        Err(e) => store_failed(&e),
    }
}
