//! `OverdueWaybills` (every 10 min): live waybills past their promise with no final callback
//! (sparse index `by_track`, `TRACK#<0..15>` by promise) are asked about on their platform, and
//! the answer is recorded like a callback (`linli::courier::follow`): a delivery the platform
//! finished or cancelled without telling Linli moves on, and what that asks for — a
//! compensation, a redispatch — is sent. A waybill still under way stays in the index and is
//! asked again by the next run; one that ended leaves it.

use crate::App;
use linli::courier::follow::{follow, Followed, Queues};
use linli::courier::CourierError;
use linli::ids::OrderId;
use linli::order::{Report, SWEEP_SHARDS};
use linli::store::orders::OrderStore;
use linli::time::BusinessTime;
use serde::Serialize;
use std::time::Duration;

/// Waybills asked about per shard and run.
const PAGE: i32 = 50;
/// No new waybill is started after this much of the run (the function's timeout is 60 s; a
/// query takes up to 5 s).
const BUDGET: Duration = Duration::from_secs(40);

#[derive(Debug, Default, Serialize)]
pub struct OverdueSummary {
    pub asked: u32,
    /// The answer moved the delivery on.
    pub moved: u32,
    /// Still under way (the rider is late) or nothing new.
    pub unchanged: u32,
    /// The platform has no such waybill (logged at ERROR for an operator; asked again).
    pub unknown: u32,
    pub failed: u32,
}

pub(crate) async fn run<L, O: OrderStore, C>(
    app: &App<L, O, C>,
    now: BusinessTime,
) -> OverdueSummary {
    let started = tokio::time::Instant::now();
    let mut summary = OverdueSummary::default();
    for shard in 0..SWEEP_SHARDS {
        let due = match app.orders.overdue_waybills(shard, now, PAGE).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(shard, error = %e, "overdue waybills query failed");
                summary.failed += 1;
                continue;
            }
        };
        for id in due {
            if started.elapsed() > BUDGET {
                tracing::warn!(shard, "time budget spent; the next run continues");
                return summary;
            }
            match ask(app, &id, now).await {
                Ok(Some(Followed::Moved(_))) => summary.moved += 1,
                Ok(_) => summary.unchanged += 1,
                Err(Asked::Unknown(e)) => {
                    tracing::error!(order_id = %id, error = %e, "the platform knows no waybill Linli recorded as live: an operator must check the delivery");
                    summary.unknown += 1;
                }
                Err(Asked::Failed(e)) => {
                    tracing::warn!(order_id = %id, error = %e, "overdue waybill not settled");
                    summary.failed += 1;
                }
            }
            summary.asked += 1;
        }
    }
    summary
}

enum Asked {
    /// The platform refused the query: it knows no such waybill.
    Unknown(CourierError),
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Asked {
    fn from(e: E) -> Self {
        Self::Failed(Box::new(e))
    }
}

/// Asks the platform about one overdue waybill and records the answer.
async fn ask<L, O: OrderStore, C>(
    app: &App<L, O, C>,
    id: &OrderId,
    now: BusinessTime,
) -> Result<Option<Followed>, Asked> {
    let Some(order) = app.orders.get(id).await? else {
        return Ok(None);
    };
    let Some(waybill) = order.dispatch.as_ref().and_then(|d| d.waybill.clone()) else {
        return Ok(None);
    };
    let seconds = linli::time::wall_ms().max(now.epoch_ms()) / 1000;
    let query = app.couriers.query(waybill.platform, id.as_str(), seconds);
    let remote = match query.await {
        Ok(remote) => remote,
        Err(e @ CourierError::Refused { .. }) => return Err(Asked::Unknown(e)),
        Err(e) => return Err(e.into()),
    };
    let report = Report::queried(waybill.platform, &remote, now);
    let queues = Queues {
        dispatch: app.settings.dispatch_queue.clone(),
        compensations: app.settings.compensations_queue.clone(),
    };
    let followed = follow(
        &app.orders,
        &app.publisher,
        &queues,
        id,
        Some(order),
        &report,
        now,
    )
    .await?;
    tracing::info!(order_id = %id, platform = ?waybill.platform, state = ?remote.state, promised_at = %waybill.promised_at, ?followed, "overdue waybill asked about");
    Ok(Some(followed))
}
