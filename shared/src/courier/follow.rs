//! Recording a platform's report on an order (adapter): read the order, let its dispatch take
//! the report (`Dispatch::track`, pure), store it on the condition that nobody changed the
//! dispatch since (again on a conflict), then send what the new state asks for — a redispatch
//! to `courier-dispatch`, a compensation to `compensations`. Used by courier-webhook for
//! callbacks and by housekeeping's `OverdueWaybills` for the answers to its queries.
//!
//! Stored first, sent second: a crash in between leaves the state recorded and the message
//! unsent, so a repeat of the same final report sends it again (`Tracked::Unchanged` carries the
//! effect) — a platform retries a callback Linli did not answer 2xx, and the next overdue run
//! asks again.

use crate::ids::OrderId;
use crate::order::{Effect, Order, Report, Tracked};
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
    let mut read = first;
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
        let (followed, effect) = match dispatch.track(report) {
            Tracked::NotYet => return Ok(Followed::NotYet),
            Tracked::Unchanged { why, effect } => (Followed::Unchanged(why), effect),
            Tracked::Moved { next, effect } => {
                if !orders.save_dispatch(id, &next).await? {
                    continue;
                }
                let state = next.last_waybill().map(|w| w.state);
                tracing::info!(order_id = %id, platform = ?report.platform, ?state, code = report.code, ?effect, "delivery state recorded");
                (Followed::Moved(effect), effect)
            }
        };
        if let Some(effect) = effect {
            send(publisher, queues, id, effect, now).await?;
        }
        return Ok(followed);
    }
    Err(FollowError::Contended)
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
