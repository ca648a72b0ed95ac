//! `group-cutoff` (DESIGN §2): closes community group-buy rounds.
//!
//! - **Schedules** (`{"task": "Cutoff" | "CatchUp", "time": …}`; `Cutoff` is the business cron,
//!   `CatchUp` every 15 minutes): every round not closed whose cutoff is at or before `time` is
//!   moved open → closing (a conditional write: payments are no longer counted from then on,
//!   and `cutoff_at` stops any that came later), then its paid orders still undecided are sent,
//!   100 per message, to `cutoff-pages`. A round whose orders are all decided gets its outputs and
//!   is closed. A second trigger or a crash resumes: only undecided orders are sent again.
//! - **Pages** (SQS `cutoff-pages`, `page.rs`): each order's lines are decided against the
//!   round's final counts (`groupbuy::cutoff`): a line of an SKU that reached its minimum is
//!   confirmed — the order's confirmed lines earn `earn:round:<round>:<order>` (1 yuan = 1
//!   point, through `points-postings.fifo`); the others are refunded through WeChat Pay under
//!   `<order>-G<line>` (once, whatever the retries). The fates are recorded once per order.
//!   A join the member cancelled before the cutoff whose refund the member API did not see
//!   through is refunded here (`<order>-GC`); cancelled joins count nowhere in the outputs.
//! - **Outputs** (when every order is decided): the purchase list `LIST#<store>`, the delivery
//!   batch `BATCH#<community>#PAGE#<n>` (200 orders' handouts a page, `finish.rs`) and `METRICS` (orders, GMV,
//!   confirmed and refunded fen, fill rate per SKU), each a JSON `body`, built page by page.
//! - **Recurring rounds**: a due round of a template opens the template's next round
//!   (`<template>-<date>`) as its cutoff begins.
//! - **Notices**: each decided order's member is told the outcome by a subscribe message
//!   (`WECHAT_TEMPLATE_GROUP_BUY`, once per order, when they consented).

mod finish;
mod page;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use linli::groupbuy::{Round, RoundStatus};
use linli::paying::PayGateway;
use linli::queue::{Envelope, Publisher};
use linli::store::orders::OrderStore;
use linli::store::refunds::RefundStore;
use linli::store::rounds::DynamoRounds;
use linli::time::BusinessTime;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Orders per page message (each a refund call at most per line: well within the timeout).
pub const PAGE: i32 = 100;

pub struct Settings {
    pub pages_queue: String,
    pub points_queue: String,
}

pub struct App<O> {
    pub rounds: DynamoRounds,
    pub orders: O,
    pub pay: PayGateway,
    pub publisher: Publisher,
    pub settings: Settings,
    /// Subscribe-message consents and notices (Ledger table), and the WeChat sender.
    pub reminders: linli::store::reminders::DynamoReminders,
    pub messenger: linli::wechat::subscribe::WechatMessenger,
    pub templates: linli::rules::reminders::ReminderTemplates,
    /// Test-only stops (`cutoff-close-<round>`, `cutoff-page-<round>`), off in AWS.
    pub faults: linli::faults::Faults,
}

#[derive(Debug, thiserror::Error)]
pub enum CutoffError {
    #[error("unreadable schedule input: {0}")]
    BadInput(String),
    #[error("{failed} round(s) not closed this run (see the log); CatchUp resumes them")]
    Incomplete { failed: u32 },
}

impl From<CutoffError> for lambda_runtime::Diagnostic {
    fn from(error: CutoffError) -> Self {
        let error_type = match error {
            CutoffError::BadInput(_) => "BadInput",
            CutoffError::Incomplete { .. } => "Incomplete",
        };
        Self {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct Input {
    task: String,
    time: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub rounds: u32,
    pub pages_sent: u32,
    pub closed: u32,
    pub failed: u32,
}

pub async fn handle<O: OrderStore + RefundStore + Sync>(
    app: &App<O>,
    event: LambdaEvent<Value>,
) -> Result<Value, CutoffError> {
    if event.payload.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event.payload)
            .map_err(|e| CutoffError::BadInput(e.to_string()))?;
        return Ok(json!(pages(app, batch).await));
    }
    let input: Input =
        serde_json::from_value(event.payload).map_err(|e| CutoffError::BadInput(e.to_string()))?;
    let now = BusinessTime::parse_rfc3339(&input.time)
        .map_err(|e| CutoffError::BadInput(e.to_string()))?;
    let summary = run(app, now).await;
    tracing::info!(task = %input.task, now = %now, rounds = summary.rounds, pages_sent = summary.pages_sent, closed = summary.closed, failed = summary.failed, "cutoff run done");
    if summary.failed > 0 {
        return Err(CutoffError::Incomplete {
            failed: summary.failed,
        });
    }
    Ok(json!(summary))
}

async fn pages<O: OrderStore + RefundStore + Sync>(
    app: &App<O>,
    batch: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in batch.records {
        let id = record.message_id.clone().unwrap_or_default();
        let body = record.body.unwrap_or_default();
        if let Err(e) = page::settle(app, &body).await {
            // Left to SQS: retried, then the DLQ (redrive) with the page intact.
            tracing::warn!(message_id = %id, error = %e, "cutoff page failed: retried");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Closes (or resumes closing) every round due at `now`.
async fn run<O: OrderStore + RefundStore + Sync>(app: &App<O>, now: BusinessTime) -> Summary {
    let mut summary = Summary::default();
    let rounds = match app.rounds.due(now).await {
        Ok(rounds) => rounds,
        Err(e) => {
            tracing::error!(error = %e, "rounds unreadable");
            summary.failed += 1;
            return summary;
        }
    };
    let due = rounds
        .into_iter()
        .filter(|r| r.status != RoundStatus::Closed && r.cutoff_at <= now);
    for round in due {
        summary.rounds += 1;
        match close(app, round, now).await {
            Ok((sent, closed)) => {
                summary.pages_sent += sent;
                summary.closed += u32::from(closed);
            }
            Err(e) => {
                tracing::error!(error = %e, "round not closed this run");
                summary.failed += 1;
            }
        }
    }
    summary
}

/// One due round: closing, its undecided orders sent in pages, or (all decided) its outputs
/// and closed. Answers the pages sent and whether it closed.
async fn close<O>(
    app: &App<O>,
    mut round: Round,
    now: BusinessTime,
) -> Result<(u32, bool), Box<dyn std::error::Error + Send + Sync>> {
    let id = round.round_id.clone();
    if round.status == RoundStatus::Open {
        app.rounds
            .advance(&id, RoundStatus::Open, RoundStatus::Closing)
            .await?;
        round.status = RoundStatus::Closing;
        tracing::info!(round = %id, "round closing: no more joins counted");
        app.faults.trip(&format!("cutoff-close-{id}"))?;
    }
    finish::open_next(app, &round, now).await?;
    let mut sent = 0;
    let mut after = None;
    loop {
        let (items, next) = app.rounds.lines_page(&id, after, PAGE).await?;
        let undecided: Vec<_> = items
            .iter()
            .filter(|l| l.fates.is_none())
            .filter_map(|l| l.order_id())
            .collect();
        if !undecided.is_empty() {
            let message = Envelope::cutoff_page(id.clone(), undecided, now);
            app.publisher
                .send(&app.settings.pages_queue, &message)
                .await?;
            sent += 1;
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if sent > 0 {
        tracing::info!(round = %id, pages = sent, "cutoff pages sent");
        return Ok((sent, false));
    }
    finish::finish(app, &round).await?;
    Ok((0, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = format!(
            "{}/../../events/group-cutoff/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_samples_are_a_schedule_input_and_a_page_of_orders() {
        for name in ["cutoff", "catch-up"] {
            let input: Input = serde_json::from_value(sample(name)).unwrap();
            assert!(BusinessTime::parse_rfc3339(&input.time).is_ok(), "{name}");
        }
        let page: SqsEvent = serde_json::from_value(sample("page-unknown-round")).unwrap();
        let body = page.records[0].body.clone().unwrap();
        let envelope = Envelope::from_json(&body).unwrap();
        assert!(matches!(
            envelope.message,
            linli::queue::Message::CutoffPage { ref orders, .. } if orders.len() == 1
        ));
    }
}
