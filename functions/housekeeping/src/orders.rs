//! `CloseUnpaid` and `Redrive`: both walk the order sweep (`SWEEP#order#<0..15>`, due at each
//! order's payment deadline).
//! - `CloseUnpaid` (every 5 min): a pending order past its deadline is closed at WeChat Pay
//!   (`pay/closeorder`) and then in the table (conditional on pending, its stock returned in the
//!   same transaction), and a delivery fee's points hold is voided. If WeChat Pay says it was
//!   paid after all, it is left alone: the notify marks it paid.
//! - `Redrive` (hourly): a paid order whose `pay:order` posting is still missing five minutes
//!   after payment gets its message sent again (same id: it still posts once), and a paid
//!   delivery without a waybill (and not given up) gets its dispatch sent again — the repair
//!   for a crash between marking paid and enqueueing; a delivery no platform took gets its
//!   points fee back (`feeback:order:<id>`, once) if dispatch could not return it yet.
//!
//! Either task takes out of the sweep what needs nothing more (paid and posted, or ended). A run
//! stops starting new work after a time budget and handles at most `PAGE` orders per shard; the
//! next run continues.

use crate::{App, Task};
use linli::ids::OrderId;
use linli::order::{Order, OrderStatus, SWEEP_SHARDS};
use linli::queue::Envelope;
use linli::store::ledger::LedgerStore;
use linli::store::orders::{EndOutcome, OrderStore};
use linli::time::BusinessTime;
use linli::wechat::pay_api::CloseOutcome;
use serde::Serialize;
use std::time::Duration;

/// Orders looked at per shard and run.
const PAGE: i32 = 100;
/// A paid order's message gets this long to be posted before Redrive sends it again.
const REDRIVE_GRACE_MS: i64 = 5 * 60 * 1000;
/// No new order is started after this much of the run (the function's timeout is 60 s).
const BUDGET: Duration = Duration::from_secs(45);

/// What a CloseUnpaid or Redrive run did.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub closed: u32,
    pub resent: u32,
    pub retired: u32,
    /// Seen but nothing to do yet (paid and posting in flight, or paid at WeChat, notify due).
    pub waiting: u32,
    pub failed: u32,
}

pub(crate) async fn sweep<L: LedgerStore, O: OrderStore, C>(
    app: &App<L, O, C>,
    task: Task,
    now: BusinessTime,
) -> Summary {
    let started = tokio::time::Instant::now();
    let mut summary = Summary::default();
    for shard in 0..SWEEP_SHARDS {
        let due = match app.orders.due(shard, now, PAGE).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(shard, error = %e, "sweep query failed");
                summary.failed += 1;
                continue;
            }
        };
        for id in due {
            if started.elapsed() > BUDGET {
                tracing::warn!(shard, "time budget spent; the next run continues");
                return summary;
            }
            if let Err(e) = visit(app, task, &id, now, &mut summary).await {
                tracing::error!(order_id = %id, error = %e, "sweep failed for this order");
                summary.failed += 1;
            }
        }
    }
    summary
}

/// One due order.
async fn visit<L: LedgerStore, O: OrderStore, C>(
    app: &App<L, O, C>,
    task: Task,
    id: &OrderId,
    now: BusinessTime,
    summary: &mut Summary,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some(order) = app.orders.get(id).await? else {
        return Ok(());
    };
    match order.status {
        OrderStatus::Pending => close(app, &order, now, summary).await,
        OrderStatus::Paid => redrive(app, task, &order, now, summary).await,
        OrderStatus::Closed | OrderStatus::Cancelled => retire(app, id, summary).await,
    }
}

/// Nothing more awaits the order: out of the sweep.
async fn retire<L, O: OrderStore, C>(
    app: &App<L, O, C>,
    id: &OrderId,
    summary: &mut Summary,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    app.orders.retire(id).await?;
    summary.retired += 1;
    Ok(())
}

async fn close<L: LedgerStore, O: OrderStore, C>(
    app: &App<L, O, C>,
    order: &Order,
    now: BusinessTime,
    summary: &mut Summary,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    match app.pay.close(&order.order_id, order.pay_api, now).await? {
        CloseOutcome::AlreadyPaid => {
            tracing::info!(order_id = %order.order_id, "paid at WeChat Pay after its deadline: waiting for the notify");
            summary.waiting += 1;
        }
        CloseOutcome::Closed => match app
            .orders
            .end(&order.order_id, OrderStatus::Closed, now)
            .await?
        {
            EndOutcome::Ended(order) => {
                tracing::info!(order_id = %order.order_id, member = %order.member.masked(), "unpaid order closed: stock returned");
                if let Some(void) = order.void_posting() {
                    // Idempotent; if it fails now, VoidExpiredHolds voids it at its expiry.
                    if let Err(e) = app.ledger.post(&void).await {
                        tracing::warn!(order_id = %order.order_id, error = %e, "delivery fee hold not voided now");
                    }
                }
                summary.closed += 1;
            }
            EndOutcome::NotPending(_) | EndOutcome::Missing => summary.waiting += 1,
        },
    }
    Ok(())
}

async fn redrive<L: LedgerStore, O: OrderStore, C>(
    app: &App<L, O, C>,
    task: Task,
    order: &Order,
    now: BusinessTime,
    summary: &mut Summary,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let order =
        &linli::store::placing::settle_fee_hold(&app.ledger, &app.orders, order.clone(), now)
            .await?;
    let mut unposted = None;
    if let Some(posting) = order.pay_posting() {
        // Recorded for the member it joined, if the member was merged since.
        let (owner, _) = linli::store::ledger::owner(&app.ledger, &order.member).await?;
        if app.ledger.posting(&owner, &posting.id).await?.is_none() {
            unposted = Some(posting);
        }
    }
    let undispatched = order.delivery.is_some()
        && order
            .dispatch
            .as_ref()
            .is_none_or(|d| d.waybill.is_none() && d.failed_at.is_none());
    let failed_at = order.dispatch.as_ref().and_then(|d| d.failed_at);
    if let (None, Some(feeback)) = (
        &unposted,
        failed_at.and_then(|at| order.feeback_posting(at)),
    ) {
        // No platform took the delivery and the payment captured the fee: it comes back
        // (idempotent: a returned fee is a replay).
        let posted = app.ledger.post(&feeback).await?;
        if !posted.outcome.replayed {
            tracing::info!(order_id = %order.order_id, member = %order.member.masked(), "undelivered order's fee points returned");
        }
    }
    if unposted.is_none() && !undispatched {
        app.orders.retire(&order.order_id).await?;
        summary.retired += 1;
        return Ok(());
    }
    let paid_at = order.payment.as_ref().map_or(now, |p| p.paid_at);
    if task != Task::Redrive || paid_at.plus_ms(REDRIVE_GRACE_MS) > now {
        summary.waiting += 1;
        return Ok(());
    }
    if let Some(posting) = unposted {
        app.publisher
            .send(&app.settings.points_queue, &Envelope::posting(posting))
            .await?;
        tracing::warn!(order_id = %order.order_id, member = %order.member.masked(), "paid order had no posting: message re-sent");
    }
    if undispatched {
        let message = Envelope::dispatch(order.order_id.clone(), now);
        app.publisher
            .send(&app.settings.dispatch_queue, &message)
            .await?;
        tracing::warn!(order_id = %order.order_id, store = %order.store_id, "paid delivery had no waybill: dispatch re-sent");
    }
    summary.resent += 1;
    Ok(())
}
