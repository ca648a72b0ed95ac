//! `housekeeping`: scheduled upkeep (EventBridge Scheduler, `{"task": …, "time": …}` with the
//! scheduled time as "now").
//!
//! Both tasks walk the order sweep (`SWEEP#order#<0..15>`, due at each order's payment deadline):
//! - `CloseUnpaid` (every 5 min): a pending order past its deadline is closed at WeChat Pay
//!   (`pay/closeorder`) and then in the table (conditional on pending). If WeChat Pay says it
//!   was paid after all, it is left alone: the notify marks it paid.
//! - `Redrive` (hourly): a paid order whose `pay:order` posting is still missing five minutes
//!   after payment gets its message sent again (same id: it still posts once) — the repair for a
//!   crash between marking paid and enqueueing.
//!
//! Either task takes out of the sweep what needs nothing more (paid and posted, or ended). A run
//! stops starting new work after a time budget and handles at most `PAGE` orders per shard; the
//! next run continues. A run where something failed returns an error (after doing the rest), so
//! the function's error alarm tells the on-call engineer.

use linli::config::{optional, required, ConfigError, Source};
use linli::ids::OrderId;
use linli::order::{Order, OrderStatus, SWEEP_SHARDS};
use linli::queue::{Envelope, Publisher};
use linli::store::ledger::LedgerStore;
use linli::store::orders::{EndOutcome, OrderStore};
use linli::time::BusinessTime;
use linli::wechat::pay_api::{self, CloseOutcome, Merchant};
use linli::wechat::pay_v2::SignType;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Orders looked at per shard and run.
const PAGE: i32 = 100;
/// A paid order's message gets this long to be posted before Redrive sends it again.
const REDRIVE_GRACE_MS: i64 = 5 * 60 * 1000;
/// No new order is started after this much of the run (the function's timeout is 60 s).
const BUDGET: Duration = Duration::from_secs(45);

pub struct Settings {
    pub merchant: Merchant,
    pub pay_api_base: String,
    pub points_queue: String,
}

impl Settings {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            merchant: Merchant {
                appid: required(source, "WECHAT_MINI_APP_ID")?,
                mch_id: required(source, "WECHAT_PAY_MCH_ID")?,
                api_key: required(source, "WECHAT_PAY_API_KEY")?,
                // closeorder is signed with MD5 whatever the order used; WeChat accepts both.
                sign_type: SignType::Md5,
            },
            pay_api_base: optional(source, "WECHAT_PAY_API_BASE")
                .unwrap_or_else(|| "https://api.mch.weixin.qq.com".to_owned()),
            points_queue: required(source, "QUEUE_POINTS_POSTINGS")?,
        })
    }
}

pub struct App<L, O> {
    pub ledger: L,
    pub orders: O,
    pub publisher: Publisher,
    pub http: reqwest::Client,
    pub settings: Settings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Task {
    CloseUnpaid,
    Redrive,
}

#[derive(Debug, Deserialize)]
struct Input {
    task: Task,
    time: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HousekeepingError {
    #[error("unreadable schedule input: {0}")]
    BadInput(String),
    #[error("{task:?}: {failed} order(s) failed (see the log); the next run retries them")]
    Incomplete { task: Task, failed: u32 },
}

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub closed: u32,
    pub resent: u32,
    pub retired: u32,
    /// Seen but nothing to do yet (paid and posting in flight, or paid at WeChat, notify due).
    pub waiting: u32,
    pub failed: u32,
}

pub async fn handle<L: LedgerStore, O: OrderStore>(
    app: &App<L, O>,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Summary, HousekeepingError> {
    let input: Input = serde_json::from_value(event.payload)
        .map_err(|e| HousekeepingError::BadInput(e.to_string()))?;
    let now = BusinessTime::parse_rfc3339(&input.time)
        .map_err(|e| HousekeepingError::BadInput(e.to_string()))?;
    let summary = sweep(app, input.task, now).await;
    tracing::info!(task = ?input.task, now = %now, closed = summary.closed, resent = summary.resent, retired = summary.retired, waiting = summary.waiting, failed = summary.failed, "housekeeping done");
    if summary.failed > 0 {
        return Err(HousekeepingError::Incomplete {
            task: input.task,
            failed: summary.failed,
        });
    }
    Ok(summary)
}

async fn sweep<L: LedgerStore, O: OrderStore>(
    app: &App<L, O>,
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
async fn visit<L: LedgerStore, O: OrderStore>(
    app: &App<L, O>,
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
async fn retire<L, O: OrderStore>(
    app: &App<L, O>,
    id: &OrderId,
    summary: &mut Summary,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    app.orders.retire(id).await?;
    summary.retired += 1;
    Ok(())
}

async fn close<L, O: OrderStore>(
    app: &App<L, O>,
    order: &Order,
    now: BusinessTime,
    summary: &mut Summary,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let s = &app.settings;
    let nonce = pay_api::nonce(u128::from(fastrand::u64(..)));
    let xml = pay_api::close_order_request(&s.merchant, &order.order_id, &nonce);
    let answer = pay_api::call(&app.http, &s.pay_api_base, "/pay/closeorder", xml).await?;
    match pay_api::read_close_order(&answer, &s.merchant)? {
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
                tracing::info!(order_id = %order.order_id, member = %order.member.masked(), "unpaid order closed");
                summary.closed += 1;
            }
            EndOutcome::NotPending(_) | EndOutcome::Missing => summary.waiting += 1,
        },
    }
    Ok(())
}

async fn redrive<L: LedgerStore, O: OrderStore>(
    app: &App<L, O>,
    task: Task,
    order: &Order,
    now: BusinessTime,
    summary: &mut Summary,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some(posting) = order.pay_posting() else {
        app.orders.retire(&order.order_id).await?;
        summary.retired += 1;
        return Ok(());
    };
    if app
        .ledger
        .posting(&order.member, &posting.id)
        .await?
        .is_some()
    {
        app.orders.retire(&order.order_id).await?;
        summary.retired += 1;
        return Ok(());
    }
    let grace_over = posting.at.plus_ms(REDRIVE_GRACE_MS) <= now;
    if task != Task::Redrive || !grace_over {
        summary.waiting += 1;
        return Ok(());
    }
    app.publisher
        .send(&app.settings.points_queue, &Envelope::posting(posting))
        .await?;
    tracing::warn!(order_id = %order.order_id, member = %order.member.masked(), "paid order had no posting: message re-sent");
    summary.resent += 1;
    Ok(())
}

/// How a failed run reads in Lambda's error report (and so in the errors alarm).
impl From<HousekeepingError> for lambda_runtime::Diagnostic {
    fn from(error: HousekeepingError) -> Self {
        let error_type = match error {
            HousekeepingError::BadInput(_) => "BadInput",
            HousekeepingError::Incomplete { .. } => "Incomplete",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}
