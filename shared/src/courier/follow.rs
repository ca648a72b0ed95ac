//! Recording a platform's report on an order (adapter): read the order, let its dispatch take
//! the report (`Dispatch::track`, pure), store it on the condition that nobody changed the
//! dispatch since (again on a conflict), then send what the new state asks for — a redispatch
//! to `courier-dispatch`, a compensation to `compensations`. Used by courier-webhook for
//! callbacks and by housekeeping's `OverdueWaybills` for the answers to its queries.
//!
//! Stored first, sent second, with an outbox: the effect is stored with the move
//! (`dispatch.unsent`) and cleared once sent. A crash in between leaves it stored, and the order
//! due at once in the `by_track` index, so housekeeping's `OverdueWaybills` sends it; a repeat of
//! the same final report also sends it again (consumers are idempotent).

use crate::ids::OrderId;
use crate::order::{Dispatch, Effect, Order, Report, Tracked};
use crate::queue::{Envelope, Publisher, QueueError};
use crate::store::orders::OrderStore;
use crate::store::StoreError;
use crate::time::BusinessTime;

/// Conflicting writers are rare (one platform, one order): a few rereads suffice.
const ATTEMPTS: usize = 5;

/// Where the effects go.
#[derive(Clone, Debug)]
pub struct Queues {
    pub dispatch: String,
    pub compensations: String,
}

/// What recording a report did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Followed {
    Moved(Option<Effect>),
    Unchanged(&'static str),
    /// The platform's waybill is not recorded yet: it should report again.
    NotYet,
    /// No such order, or not a paid delivery with a dispatch.
    NoDelivery,
}

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the order's dispatch kept changing")]
    Contended,
}

/// Records `report` on the order (`first`: the order as just read, if the caller has it).
pub async fn follow<O: OrderStore>(
    orders: &O,
    publisher: &Publisher,
    queues: &Queues,
    id: &OrderId,
    first: Option<Order>,
    report: &Report,
    now: BusinessTime,
) -> Result<Followed, FollowError> {
    // An order read for another id is never used (the Dada token was checked against it).
    let mut read = first.filter(|o| &o.order_id == id);
    for _ in 0..ATTEMPTS {
        let order = match read.take() {
            Some(order) => order,
            None => match orders.get(id).await? {
                Some(order) => order,
                None => return Ok(Followed::NoDelivery),
            },
        };
        let Some(dispatch) = order.dispatch.as_ref() else {
            return Ok(Followed::NoDelivery);
        };
        match dispatch.track(report) {
            Tracked::NotYet => return Ok(Followed::NotYet),
            Tracked::Unchanged { why, effect } => {
                if let Some(effect) = effect {
                    send(publisher, queues, id, effect, now).await?;
                }
                return Ok(Followed::Unchanged(why));
            }
            Tracked::Moved { next, effect } => {
                if !orders.save_dispatch(id, &next).await? {
                    continue;
                }
                let state = next.last_waybill().map(|w| w.state);
                tracing::info!(order_id = %id, platform = ?report.platform, ?state, code = report.code, ?effect, "delivery state recorded");
                if let Some(waybill) = next.last_waybill() {
                    // Deliveries by state, and late ones (finished after the first promise).
                    let name = format!("Deliveries{:?}", waybill.state);
                    let late = waybill.state == crate::courier::DeliveryState::Delivered
                        && next
                            .first_promise()
                            .zip(waybill.finished_at)
                            .is_some_and(|(p, d)| d > p);
                    let counts = [(name.as_str(), 1), ("DeliveriesLate", u64::from(late))];
                    crate::metrics::record(now, &counts, &[]);
                }
                send_unsent(orders, publisher, queues, id, &next, now).await?;
                return Ok(Followed::Moved(effect));
            }
        }
    }
    Err(FollowError::Contended)
}

/// Sends the effect `dispatch` (as stored) has not sent yet, then clears it. A conflicting
/// change meanwhile leaves it set: OverdueWaybills sends it again (consumers are idempotent).
pub async fn send_unsent<O: OrderStore>(
    orders: &O,
    publisher: &Publisher,
    queues: &Queues,
    id: &OrderId,
    dispatch: &Dispatch,
    now: BusinessTime,
) -> Result<(), FollowError> {
    let Some(effect) = dispatch.unsent else {
        return Ok(());
    };
    send(publisher, queues, id, effect, now).await?;
    if !orders.save_dispatch(id, &dispatch.sent()).await? {
        tracing::info!(order_id = %id, ?effect, "sent; the dispatch changed meanwhile, so it may be sent again");
    }
    Ok(())
}

/// Sends what a delivery's state asks for.
pub async fn send(
    publisher: &Publisher,
    queues: &Queues,
    id: &OrderId,
    effect: Effect,
    now: BusinessTime,
) -> Result<(), QueueError> {
    let (queue, envelope) = match effect {
        Effect::Redispatch => (&queues.dispatch, Envelope::dispatch(id.clone(), now)),
        Effect::Compensate => (&queues.compensations, Envelope::compensate(id.clone(), now)),
    };
    publisher.send(queue, &envelope).await?;
    tracing::info!(order_id = %id, ?effect, "sent");
    Ok(())
}
