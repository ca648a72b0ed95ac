//! `housekeeping`: scheduled upkeep (EventBridge Scheduler, `{"task": …, "time": …}` with the
//! scheduled time as "now").
//!
//! Orders (`orders.rs`, the order sweep `SWEEP#order#<0..15>`):
//! - `CloseUnpaid` (every 5 min): pending orders past their payment deadline are closed at
//!   WeChat Pay, then in the table.
//! - `Redrive` (hourly): a paid order whose `pay:order` posting is still missing five minutes
//!   after payment gets its message sent again (same id: it still posts once).
//! - `OverdueWaybills` (every 10 min, `waybills.rs`): live waybills past their promise are
//!   asked about on their platform and the answer recorded like a callback.
//!
//! The ledger:
//! - `VoidExpiredHolds` (every 5 min, `holds.rs`): holds past their `expires_at` are voided
//!   (`void:order:<id>`); the members come from the ledger's sparse hold index, never a scan.
//! - `ExpireLots` (hourly, `expiry.rs`): lots whose expiry has come are expired
//!   (`expire:<member>:<month>`), in one resumable pass over every profile per business month.
//! - `TierReview` (monthly, `review.rs`): each member's tier is reviewed against the growth of
//!   the 12 whole months before (the only place a tier goes down), once per member and month,
//!   by the tier thresholds of the earn rules in force.
//! - `Reminders` (daily, `reminders.rs`): lifecycle reminders as subscribe messages to members
//!   who consented (tier change, points expiring within 30 days, an overdue usual purchase),
//!   each cause once, one a day, never in quiet hours.
//! - `Audit` (nightly, `audit.rs`): the invariant of DESIGN §5 over every member, resumable;
//!   the run that completes the day's pass publishes `AuditViolations`/`AuditMembers` (an
//!   embedded metric, alarmed) and ERROR lines name the offending members, masked.
//!
//! Every task is safe to run any number of times: postings have deterministic ids, and the
//! passes keep their place in checkpoints (`walk.rs`). A run stops starting new work after a
//! time budget; the next run continues. A run where something failed, or that found audit
//! violations, returns an error after doing the rest, so the function's error alarm fires.

pub mod audit;
pub mod expiry;
pub mod holds;
mod orders;
pub mod reminders;
pub mod review;
mod tally;
pub mod walk;
mod waybills;

pub use orders::Summary;

use linli::config::{required, ConfigError, Source};
use linli::queue::Publisher;
use linli::store::checkpoints::CheckpointStore;
use linli::store::ledger::Standings;
use linli::store::orders::OrderStore;
use linli::store::StoreError;
use linli::time::BusinessTime;
use serde::{Deserialize, Serialize};
use walk::{Budget, LedgerWalk, PASS_BUDGET};

pub struct Settings {
    pub points_queue: String,
    /// `QUEUE_COURIER_DISPATCH`: Redrive re-sends paid deliveries still without a waybill.
    pub dispatch_queue: String,
    /// `QUEUE_COMPENSATIONS`: an overdue waybill found delivered late or cancelled is compensated.
    pub compensations_queue: String,
    /// The deployment stage (`LINLI_STAGE`): the dimension of the published metrics.
    pub stage: String,
    /// The subscribe-message templates reminders use.
    pub templates: linli::rules::reminders::ReminderTemplates,
    /// `LINLI_QUIET_HOURS` (e.g. "21-9", business time): no reminder is sent then.
    pub quiet: linli::rules::reminders::QuietHours,
}

impl Settings {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let quiet = match linli::config::optional(source, "LINLI_QUIET_HOURS") {
            None => Default::default(),
            Some(text) => {
                linli::rules::reminders::QuietHours::parse(&text).ok_or(ConfigError::Invalid {
                    name: "LINLI_QUIET_HOURS",
                    why: "hours from-until, e.g. 21-9".to_owned(),
                })?
            }
        };
        Ok(Self {
            points_queue: required(source, "QUEUE_POINTS_POSTINGS")?,
            dispatch_queue: required(source, "QUEUE_COURIER_DISPATCH")?,
            compensations_queue: required(source, "QUEUE_COMPENSATIONS")?,
            stage: required(source, "LINLI_STAGE")?,
            templates: linli::rules::reminders::ReminderTemplates::from_source(source)?,
            quiet,
        })
    }
}

pub struct App<L, O, C> {
    pub ledger: L,
    pub orders: O,
    /// Where the resumable passes keep their place (the Config table).
    pub checkpoints: C,
    pub publisher: Publisher,
    /// Closes unpaid orders at WeChat Pay (through the API that created each).
    pub pay: linli::paying::PayGateway,
    /// The earn rules' versions (Config table): the tier thresholds the review applies.
    pub rules: linli::store::rules::DynamoRules,
    /// Consents, reminder claims and purchase rhythms (Ledger table).
    pub reminders: linli::store::reminders::DynamoReminders,
    /// Subscribe messages through WeChat.
    pub messenger: linli::wechat::subscribe::WechatMessenger,
    /// The courier platforms, asked about overdue waybills.
    pub couriers: linli::courier::client::Couriers,
    pub settings: Settings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Task {
    CloseUnpaid,
    Redrive,
    VoidExpiredHolds,
    ExpireLots,
    TierReview,
    Reminders,
    Audit,
    OverdueWaybills,
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
    #[error("{task:?}: the earn rules could not be read: {error}")]
    Rules { task: Task, error: StoreError },
    #[error("{task:?}: {failed} item(s) failed (see the log); the next run retries them")]
    Incomplete { task: Task, failed: u32 },
    #[error("the ledger audit found {violations} violation(s) (see the ERROR lines)")]
    AuditViolations { violations: u64 },
}

/// What a run did, by task.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Report {
    Orders(Summary),
    Holds(holds::HoldsSummary),
    Expiry(expiry::ExpirySummary),
    Audit(audit::AuditSummary),
    Review(review::ReviewSummary),
    Reminders(reminders::RemindersSummary),
    Waybills(waybills::OverdueSummary),
}

pub async fn handle<L: LedgerWalk + Standings, O: OrderStore, C: CheckpointStore + Sync>(
    app: &App<L, O, C>,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Report, HousekeepingError> {
    let input: Input = serde_json::from_value(event.payload)
        .map_err(|e| HousekeepingError::BadInput(e.to_string()))?;
    let now = BusinessTime::parse_rfc3339(&input.time)
        .map_err(|e| HousekeepingError::BadInput(e.to_string()))?;
    let task = input.task;
    let budget = Budget::new(PASS_BUDGET);
    let (failed, report) = match task {
        Task::CloseUnpaid | Task::Redrive => {
            let s = orders::sweep(app, task, now).await;
            tracing::info!(?task, now = %now, closed = s.closed, resent = s.resent, retired = s.retired, waiting = s.waiting, failed = s.failed, "housekeeping done");
            (s.failed, Report::Orders(s))
        }
        Task::OverdueWaybills => {
            let s = waybills::run(app, now).await;
            tracing::info!(?task, now = %now, asked = s.asked, moved = s.moved, unchanged = s.unchanged, unknown = s.unknown, failed = s.failed, "housekeeping done");
            (s.failed, Report::Waybills(s))
        }
        Task::VoidExpiredHolds => {
            let s = holds::run(&app.ledger, now, &budget).await;
            tracing::info!(?task, now = %now, members = s.members, voided = s.voided, waiting = s.waiting, failed = s.failed, "housekeeping done");
            (s.failed, Report::Holds(s))
        }
        Task::ExpireLots => {
            let s = expiry::run(&app.ledger, &app.checkpoints, now, &budget).await;
            tracing::info!(?task, now = %now, month = %s.month, members = s.members, expired = s.expired, failed = s.failed, pass_done = s.pass_done, "housekeeping done");
            (s.failed, Report::Expiry(s))
        }
        Task::TierReview => {
            let rules = linli::store::rules::in_force_at(&app.rules, now)
                .await
                .map_err(|error| HousekeepingError::Rules { task, error })?;
            let thresholds = &rules.earn.tier_thresholds;
            let s = review::run(&app.ledger, &app.checkpoints, thresholds, now, &budget).await;
            tracing::info!(?task, now = %now, month = %s.month, members = s.members, changed = s.changed, failed = s.failed, pass_done = s.pass_done, rules_version = rules.version, "housekeeping done");
            (s.failed, Report::Review(s))
        }
        Task::Reminders => {
            let with = reminders::Reminding {
                store: &app.reminders,
                messenger: &app.messenger,
                templates: &app.settings.templates,
                quiet: app.settings.quiet,
            };
            let s = reminders::run(&app.ledger, &app.checkpoints, &with, now, &budget).await;
            tracing::info!(?task, now = %now, date = %s.date, quiet = s.quiet, members = s.members, sent = s.sent, failed = s.failed, pass_done = s.pass_done, "housekeeping done");
            (s.failed, Report::Reminders(s))
        }
        Task::Audit => {
            let stage = &app.settings.stage;
            let s = audit::run(&app.ledger, &app.checkpoints, stage, now, &budget).await;
            tracing::info!(?task, now = %now, date = %s.date, members = s.members, violations = s.violations, failed = s.failed, pass_done = s.pass_done, published = s.published, "housekeeping done");
            let violations = s.violations_found();
            if violations > 0 {
                return Err(HousekeepingError::AuditViolations { violations });
            }
            (s.failed, Report::Audit(s))
        }
    };
    if failed > 0 {
        return Err(HousekeepingError::Incomplete { task, failed });
    }
    Ok(report)
}

/// How a failed run reads in Lambda's error report (and so in the errors alarm).
impl From<HousekeepingError> for lambda_runtime::Diagnostic {
    fn from(error: HousekeepingError) -> Self {
        let error_type = match error {
            HousekeepingError::BadInput(_) => "BadInput",
            HousekeepingError::Rules { .. } => "Rules",
            HousekeepingError::Incomplete { .. } => "Incomplete",
            HousekeepingError::AuditViolations { .. } => "AuditViolations",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
