//! `POST /api/group-buys/{round}/orders/{id}/cancel`: a member leaves a round before its cutoff.
//! - A join not yet paid is cancelled like any pending order (WeChat Pay closes the payment
//!   first, so it can no longer be paid).
//! - A paid join is taken back out of the round (`store::rounds::withdraw`: its quantities stop
//!   counting, in one transaction that checks the round is still open), then the whole payment
//!   is refunded under `<order>-GC` — once, however often the member asks: 200. Should WeChat
//!   Pay not answer, 202 (the refund stays requested and the cutoff asks again); should it
//!   refuse, 502 `refund_refused` and an anomaly for the store to refund by hand.
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
use linli::refunding::{self, Owed};
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

/// Refunds the whole payment of a withdrawn join and records its lines as cancelled: 200 once
/// asked, 202 when WeChat Pay did not answer (the cutoff asks again), 502 `refund_refused` when
/// it cannot be made (an anomaly for the store to refund by hand).
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
            return shown(app, order, StatusCode::OK).await;
        }
    };
    let status = match refunding::owe(&app.orders, &app.pay, refund, now).await {
        Ok(Owed::Asked) => StatusCode::OK,
        Ok(Owed::Unanswered(why)) => {
            tracing::warn!(order_id = %order.order_id, why, "cancelled join's refund not asked yet: the cutoff asks again");
            return shown(app, order, StatusCode::ACCEPTED).await;
        }
        Ok(Owed::Refused(why)) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "refund_refused",
                &format!("the join is cancelled but WeChat Pay refused its refund ({why}); the store refunds it by hand"),
                None,
            )
        }
        Err(e) => return store_failed(&e),
    };
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
    match app.orders.get(&order.order_id).await {
        Ok(Some(now_order)) => shown(app, &now_order, status).await,
        Ok(None) => not_found("order_not_found", "no such order"),
        Err(e) => store_failed(&e),
    }
}

async fn shown<L, M, C, O: OrderStore + RefundStore>(
    app: &App<L, M, C, O>,
    order: &Order,
    status: StatusCode,
) -> Response<Body> {
    match with_refunds(app, order).await {
        Ok(body) => reply(status, body),
        Err(e) => store_failed(&e),
    }
}
