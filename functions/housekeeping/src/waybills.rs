//! `OverdueWaybills` (every 10 min): live waybills past their promise with no final callback
//! (sparse index `by_track`, `TRACK#<0..15>` by promise) are asked about on their platform, and
//! the answer is recorded like a callback (`linli::courier::follow`): a delivery the platform
//! finished or cancelled without telling Linli moves on, and what that asks for — a
//! compensation, a redispatch — is sent. A waybill still under way stays in the index and is
//! asked again 10 minutes later; one that ended leaves it. An effect stored but not known to be
//! sent (`dispatch.unsent`: a crash between the move and the send) is due at once and sent.

use crate::App;
use linli::courier::follow::{follow, send_unsent, Followed, Queues};
use linli::courier::CourierError;
use linli::ids::OrderId;
use linli::order::{Report, SWEEP_SHARDS};
use linli::store::orders::OrderStore;
use linli::time::BusinessTime;
use serde::Serialize;
use std::time::Duration;

/// A waybill still under way (or unknown to its platform) is asked about again this much later.
const ASK_AGAIN_MS: i64 = 10 * 60 * 1000;
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
    // Each run starts at another shard, so a slow one never starves the rest.
    let first = u8::try_from((now.epoch_ms() / 600_000) % i64::from(SWEEP_SHARDS)).unwrap_or(0);
    for shard in (0..SWEEP_SHARDS).map(|i| (first + i) % SWEEP_SHARDS) {
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
                Ok(Some(Followed::Unchanged(_))) => {
                    // Still under way: asked again in 10 minutes, behind the others.
                    defer(app, &id, now.plus_ms(ASK_AGAIN_MS)).await;
                    summary.unchanged += 1;
                }
                Ok(_) => summary.unchanged += 1,
                Err(Asked::Unknown(e)) => {
                    tracing::error!(order_id = %id, error = %e, "the platform knows no waybill Linli recorded as live: an operator must check the delivery");
                    defer(app, &id, now.plus_ms(6 * ASK_AGAIN_MS)).await;
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
    let queues = Queues {
        dispatch: app.settings.dispatch_queue.clone(),
        compensations: app.settings.compensations_queue.clone(),
    };
    let Some(dispatch) = order.dispatch.clone() else {
        return Ok(None);
    };
    // An effect stored but not known to be sent (a crash after the move): send it now.
    if dispatch.unsent.is_some() {
        send_unsent(&app.orders, &app.publisher, &queues, id, &dispatch, now).await?;
        tracing::info!(order_id = %id, effect = ?dispatch.unsent, "unsent effect sent");
        return Ok(Some(Followed::Moved(dispatch.unsent)));
    }
    let Some(waybill) = dispatch.waybill.clone() else {
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

/// Moves the order behind the others in the index until `until` (a failure only means it is
/// asked again sooner).
async fn defer<L, O: OrderStore, C>(app: &App<L, O, C>, id: &OrderId, until: BusinessTime) {
    if let Err(e) = app.orders.defer_track(id, until).await {
        tracing::warn!(order_id = %id, error = %e, "not deferred: asked again next run");
    }
}
