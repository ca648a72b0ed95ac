//! `courier-dispatch`: the consumer of `courier-dispatch` (DESIGN §2). Each message names a paid
//! delivery order (`dispatch:order:<id>`); its waybill is created on the platform the order was
//! routed to, in that platform's own signed format (`linli::courier`), failing over safely:
//!
//! - every try is claimed on the order before the platform is called (`Dispatch::begin`, a
//!   conditional write), so a repeated or concurrent message never calls a platform twice;
//! - a refusal moves on to the next platform of the route;
//! - an unclear answer (timeout, 5xx) is settled first: the platform is asked for the order's
//!   waybill — a live one is kept; a cancelled or expired one is left; when it shows none (or
//!   cannot be asked) it is told to cancel to be sure, and the next platform is tried. A
//!   platform that can be neither asked nor told is named on the order (`unsettled`) for an
//!   operator;
//! - a try left open by a crash is settled the same way once it is older than `SETTLE_AFTER_MS`;
//! - when every platform failed: the order is flagged for the store (`dispatch.failed_at`), a
//!   points-paid fee is returned once (`feeback:order:<id>`), a cash fee refunded through WeChat
//!   Pay (refund `<order>-F`, taking no points back), and the message goes to the DLQ.
//!
//! The promised time is the platform's promise (delivery rules) from the waybill's creation.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use linli::courier::client::Couriers;
use linli::courier::{CourierError, Platform};
use linli::ids::OrderId;
use linli::order::{Dispatch, Order, OrderStatus, Step, TryOutcome};
use linli::queue::batch::{dead_letter, lift, Outcome, Received};
use linli::queue::{Envelope, Message, Publisher};
use linli::store::catalog::CatalogStore;
use linli::store::delivery_rules::DeliveryRulesStore;
use linli::store::ledger::LedgerStore;
use linli::store::orders::OrderStore;
use linli::store::refunds::RefundStore;
use linli::store::StoreError;
use linli::time::BusinessTime;
use parts::{new_token, shipment, wall_ms, waybill};

mod parts;

/// A try still open after this long is taken to be abandoned (its caller crashed): the HTTP
/// timeout is 5 s, so nobody is still waiting on it.
pub const SETTLE_AFTER_MS: i64 = 30_000;
/// Steps one message may take (a try and its settling per platform, and giving up).
const MAX_STEPS: usize = 8;

pub struct App<O, C, L, R> {
    pub orders: O,
    pub catalog: C,
    pub ledger: L,
    /// The delivery rules (each platform's promised minutes).
    pub rules: R,
    pub couriers: Couriers,
    /// WeChat Pay: a cash delivery fee is refunded when no platform takes the delivery.
    pub pay: linli::paying::PayGateway,
    /// The publisher and the DLQ's URL (None in tests: dead-lettering is then a retry).
    pub dead_letters: Option<(Publisher, String)>,
    /// Where a give-up's effect goes (a delivery the platform cancelled and no platform took
    /// again is compensated); None in tests (it stays stored as unsent).
    pub effects: Option<(Publisher, linli::courier::follow::Queues)>,
}

pub async fn handle<O, C, L, R>(
    app: &App<O, C, L, R>,
    event: LambdaEvent<SqsEvent>,
) -> SqsBatchResponse
where
    O: OrderStore + RefundStore,
    C: CatalogStore,
    L: LedgerStore,
    R: DeliveryRulesStore,
{
    let messages: Vec<Received> = event
        .payload
        .records
        .into_iter()
        .map(|r| Received {
            message_id: r.message_id.unwrap_or_default(),
            group: None,
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let failed = lift(&messages, async |m: &Received| one(app, m).await).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

async fn one<O, C, L, R>(app: &App<O, C, L, R>, message: &Received) -> Outcome
where
    O: OrderStore + RefundStore,
    C: CatalogStore,
    L: LedgerStore,
    R: DeliveryRulesStore,
{
    let envelope = match Envelope::from_json(&message.body) {
        Ok(envelope) => envelope,
        Err(e) => {
            return dead_letter(
                app.dead_letters.as_ref(),
                message,
                &format!("unreadable envelope: {e}"),
                "dispatch",
            )
            .await
        }
    };
    let Message::Dispatch { order_id } = &envelope.message else {
        return dead_letter(
            app.dead_letters.as_ref(),
            message,
            "not a dispatch: this queue takes dispatches only",
            "dispatch",
        )
        .await;
    };
    // Business time: the wall clock, never before the message's cause (a stack whose clock
    // runs ahead, like the devstack's, uses the cause's time).
    let now =
        BusinessTime::from_epoch_ms(wall_ms()).map_or(envelope.at, |wall| wall.max(envelope.at));
    match dispatch(app, order_id, now).await {
        Ok(Done::Dispatched) => Outcome::Done,
        Ok(Done::Busy) => {
            Outcome::Retry(format!("order {order_id}: another dispatch is under way"))
        }
        Ok(Done::Failed(reason)) => {
            dead_letter(app.dead_letters.as_ref(), message, &reason, "dispatch").await
        }
        Err(e) => Outcome::Retry(format!("order {order_id}: {e}")),
    }
}

enum Done {
    /// Nothing more to do (a waybill, a refused order, or already given up).
    Dispatched,
    /// Another dispatcher holds the order: later.
    Busy,
    /// Every platform failed (the order is flagged, the fee returned).
    Failed(String),
}

async fn dispatch<O, C, L, R>(
    app: &App<O, C, L, R>,
    id: &OrderId,
    now: BusinessTime,
) -> Result<Done, StoreError>
where
    O: OrderStore + RefundStore,
    C: CatalogStore,
    L: LedgerStore,
    R: DeliveryRulesStore,
{
    for _ in 0..MAX_STEPS {
        let Some(order) = app.orders.get(id).await? else {
            return Ok(Done::Failed(format!("no order {id}")));
        };
        let Some(delivery) = order
            .delivery
            .as_ref()
            .filter(|_| order.status == OrderStatus::Paid)
        else {
            tracing::warn!(order_id = %id, status = %order.status, "not a paid delivery: nothing to dispatch");
            return Ok(Done::Dispatched);
        };
        let current = order.dispatch.clone().unwrap_or_default();
        let moved = match current.next(&delivery.route) {
            Step::Done => return Ok(Done::Dispatched),
            Step::Try(platform) => attempt(app, &order, &current, platform, now).await?,
            Step::Settle(platform) => {
                let opened = current.tries.last().map_or(0, |t| t.opened_ms);
                if wall_ms() - opened < SETTLE_AFTER_MS {
                    return Ok(Done::Busy);
                }
                settle(app, &order, &current, platform, now).await?
            }
            Step::GiveUp => return give_up(app, &order, &current, now).await,
        };
        if !moved {
            return Ok(Done::Busy);
        }
    }
    Ok(Done::Busy)
}

/// Claims a try of `platform`, calls it and records what happened. False when another
/// dispatcher changed the order first.
async fn attempt<O, C, L, R>(
    app: &App<O, C, L, R>,
    order: &Order,
    current: &Dispatch,
    platform: Platform,
    now: BusinessTime,
) -> Result<bool, StoreError>
where
    O: OrderStore,
    C: CatalogStore,
    R: DeliveryRulesStore,
{
    let token = (platform == Platform::Dada).then(new_token);
    // Everything the call needs is read before the try is claimed: a claimed try is only ever
    // left open by the call itself.
    let shipment = shipment(&app.catalog, order, token.as_deref(), &app.couriers, now).await?;
    let claimed = current.begin(platform, now, wall_ms(), token);
    if !app.orders.save_dispatch(&order.order_id, &claimed).await? {
        return Ok(false);
    }
    let next = match app.couriers.create(platform, &shipment).await {
        Ok(created) => {
            let waybill = waybill(
                &app.rules,
                platform,
                created.waybill_id,
                created.fee_fen,
                now,
            )
            .await?;
            tracing::info!(order_id = %order.order_id, ?platform, waybill = %waybill.waybill_id, promised_at = %waybill.promised_at, "waybill created");
            claimed.end(TryOutcome::Created, Some(waybill))
        }
        Err(e @ (CourierError::Refused { .. } | CourierError::NotConfigured(_))) => {
            tracing::warn!(order_id = %order.order_id, ?platform, error = %e, "platform refused the waybill: failing over");
            claimed.end(
                TryOutcome::Refused {
                    reason: e.to_string(),
                },
                None,
            )
        }
        Err(e) => {
            tracing::warn!(order_id = %order.order_id, ?platform, error = %e, "unclear answer: settling before failing over");
            return settle(app, order, &claimed, platform, now).await;
        }
    };
    app.orders.save_dispatch(&order.order_id, &next).await
}

/// Settles an open try: a live waybill is kept; otherwise it is made sure there is none.
async fn settle<O, C, L, R>(
    app: &App<O, C, L, R>,
    order: &Order,
    current: &Dispatch,
    platform: Platform,
    now: BusinessTime,
) -> Result<bool, StoreError>
where
    O: OrderStore,
    R: DeliveryRulesStore,
{
    let id = order.order_id.as_str();
    let seconds = now.epoch_ms() / 1000;
    let next = match app.couriers.query(platform, id, seconds).await {
        Ok(remote)
            if remote.state.is_live()
                || remote.state == linli::courier::DeliveryState::Delivered =>
        {
            let waybill_id = if remote.waybill_id.is_empty() {
                id.to_owned()
            } else {
                remote.waybill_id
            };
            let waybill = waybill(&app.rules, platform, waybill_id, None, now).await?;
            tracing::info!(order_id = %id, ?platform, state = ?remote.state, "the platform created it after all: waybill kept");
            current.end(TryOutcome::Created, Some(waybill))
        }
        Ok(remote) => current.end(
            TryOutcome::Withdrawn {
                reason: format!("the platform reports it {:?}", remote.state),
            },
            None,
        ),
        // "None" may be a create still on its way, and any other refusal (rate limit, system
        // error) says nothing: cancel to be sure either way (cancelling nothing is harmless).
        Err(unclear) => match app.couriers.cancel(platform, id, seconds).await {
            Ok(()) => current.end(
                TryOutcome::Withdrawn {
                    reason: format!("cancelled after: {unclear}"),
                },
                None,
            ),
            Err(CourierError::Refused { code, message, .. })
                if matches!(unclear, CourierError::Refused { .. }) =>
            {
                current.end(
                    TryOutcome::Withdrawn {
                        reason: format!(
                            "the platform holds none ({unclear}; cancel: {code} {message})"
                        ),
                    },
                    None,
                )
            }
            Err(e) => {
                tracing::error!(order_id = %id, ?platform, error = %e, "platform could be neither asked nor told to cancel: an operator must check it holds no waybill");
                current.end(
                    TryOutcome::Unsettled {
                        reason: format!("{unclear}; cancel: {e}"),
                    },
                    None,
                )
            }
        },
    };
    app.orders.save_dispatch(&order.order_id, &next).await
}

/// Every platform failed: flag the order, return a points-paid fee once, dead-letter.
async fn give_up<O, C, L, R>(
    app: &App<O, C, L, R>,
    order: &Order,
    current: &Dispatch,
    now: BusinessTime,
) -> Result<Done, StoreError>
where
    O: OrderStore + RefundStore,
    L: LedgerStore,
{
    // The fee's points come back once the payment captured them; if the capture is still on
    // its way, housekeeping's Redrive returns them.
    if let Some(feeback) = order.feeback_posting(now) {
        let capture = linli::ids::PostingId::pay_order(&order.order_id);
        let (owner, _) = linli::store::ledger::owner(&app.ledger, &order.member).await?;
        if app.ledger.posting(&owner, &capture).await?.is_some() {
            app.ledger.post(&feeback).await?;
            tracing::info!(order_id = %order.order_id, member = %order.member.masked(), "delivery fee points returned");
        }
    }
    if !parts::refund_cash_fee(&app.orders, &app.pay, order, now).await? {
        return Ok(Done::Busy);
    }
    let given_up = current.give_up(now);
    if !app.orders.save_dispatch(&order.order_id, &given_up).await? {
        return Ok(Done::Busy);
    }
    // A delivery the platform cancelled and nobody took again is compensated (stored as unsent
    // with the give-up: if this send fails, OverdueWaybills sends it).
    if let Some((publisher, queues)) = &app.effects {
        let sent = linli::courier::follow::send_unsent(
            &app.orders,
            publisher,
            queues,
            &order.order_id,
            &given_up,
            now,
        )
        .await;
        if let Err(e) = sent {
            tracing::warn!(order_id = %order.order_id, error = %e, "compensation not requested yet: OverdueWaybills sends it");
        }
    }
    let tried: Vec<String> = current
        .tries
        .iter()
        .map(|t| format!("{:?}: {:?}", t.platform, t.outcome))
        .collect();
    tracing::error!(order_id = %order.order_id, store = %order.store_id, tried = ?tried, "no courier platform took the delivery: flagged for the store");
    Ok(Done::Failed(format!(
        "order {}: every courier platform failed ({})",
        order.order_id,
        tried.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_event_is_a_dispatch_envelope() {
        let event: SqsEvent = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/courier-dispatch/unknown-order.json"
        )))
        .unwrap();
        let body = event.records[0].body.clone().unwrap();
        let envelope = Envelope::from_json(&body).unwrap();
        assert!(matches!(envelope.message, Message::Dispatch { .. }));
        assert_eq!(envelope.id, "dispatch:order:01KAV2Z0X0SAMPLE0RDER00001");
    }

    #[test]
    fn callback_tokens_are_128_bits_of_hex_and_differ() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
