//! `linli-admin`: what an operator with AWS credentials does to the ledger (DESIGN §2, §5): the
//! audit of every member, the points liability, the monthly report, manual adjustments with
//! operator and reason, a member's look-up, staff refunds and the earn rules' versions.
//!
//! Exit codes: 0 ok; 1 a problem was found (audit violations, a refused adjustment or refund, an
//! unreadable item, nothing found); 2 the command could not run as given (usage, configuration,
//! DynamoDB unreachable). Every error says what to fix.

mod adjust;
mod amount;
mod anomalies;
mod audit;
mod catalog;
pub mod cli;
mod delivery;
mod dlq;
mod erase;
mod error;
mod liability;
mod member;
mod output;
mod refund;
mod report;
mod round;
mod round_template;
mod rules;
mod tables;
mod walk;
mod weather;

pub use error::AdminError;

use cli::{Cli, Command};
use linli::time::BusinessTime;
use output::Outcome;
use std::io::Write;
use std::process::ExitCode;

/// Logs (the library's own lines: postings applied, refunds asked) go to stderr, WARN and above
/// unless `RUST_LOG` says otherwise, so stdout carries only the command's answer. The SDK's
/// search for a region is quiet: a missing region is one clear error of ours instead.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,aws_config=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// The operator's command happens now: its business time is the system clock's (the edge where
/// Linli's time enters, like an API request's `timeEpoch`).
#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> Result<BusinessTime, AdminError> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(-1);
    BusinessTime::from_epoch_ms(ms)
        .map_err(|e| AdminError::Usage(format!("the system clock is wrong ({e}): set it right")))
}

/// Runs the command and prints its answer (a table, or JSON with `--json`) on stdout; an error
/// goes to stderr. Answers the exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let json = cli.json;
    match execute(cli).await {
        Ok(outcome) => {
            let text = if json {
                let mut text = serde_json::to_string_pretty(&outcome.json).unwrap_or_default();
                text.push('\n');
                text
            } else {
                outcome.text
            };
            // A closed pipe (`| head`) is not worth a panic.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::from(if outcome.problem { 1 } else { 0 })
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr().lock(), "linli-admin: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

async fn execute(cli: Cli) -> Result<Outcome, AdminError> {
    let tables = tables::Tables::new(&cli.tables);
    match cli.command {
        Command::Audit => audit::run(&tables.ledger().await?).await,
        Command::Liability { point_value_fen } => {
            liability::run(&tables.ledger().await?, point_value_fen).await
        }
        Command::Report { month } => report::run(&tables.ledger().await?, month).await,
        Command::Adjust(args) => adjust::run(&tables.ledger().await?, args).await,
        Command::Member(args) => match (args.action, args.who) {
            (
                Some(cli::MemberAction::Erase {
                    member,
                    requested,
                    operator,
                    reason,
                }),
                _,
            ) => erase::run(&tables, member.as_deref(), requested, &operator, &reason).await,
            (None, Some(who)) => member::run(&tables.ledger().await?, &who, args.limit).await,
            (None, None) => Err(AdminError::Usage(
                "member <id | oa:… | mini:… | union:…>, or member erase <id>".into(),
            )),
        },
        Command::Refund(args) => refund::run(&tables.orders().await?, args).await,
        Command::Rules(command) => rules::run(&tables.config().await?, command).await,
        Command::Weather(command) => weather::run(&tables.config().await?, command).await,
        Command::Catalog(command) => catalog::run(&tables.catalog().await?, command).await,
        Command::Delivery(command) => delivery::run(&tables.config().await?, command).await,
        Command::Round(command) => round::run(&tables.group_buys().await?, command).await,
        Command::Dlq(command) => dlq::run(&tables, command).await,
        Command::Anomalies(command) => anomalies::run(&tables.orders().await?, command).await,
    }
}
