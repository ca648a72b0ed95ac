//! The command line (clap derive). Values are parsed into Linli's own types at the edge, so a
//! malformed id, month or amount is a usage error (exit 2) before anything is read.

use clap::{Args, Parser, Subcommand};
use linli::ids::{MemberId, OrderId, TicketId};
use linli::time::Month;

const AFTER_HELP: &str = "\
Tables: --ledger-table / --orders-table / --config-table, else the template's names from a running
devstack (--stack-url http://127.0.0.1:3000), else TABLE_LEDGER / TABLE_ORDERS / TABLE_CONFIG. DynamoDB is reached with
the usual AWS settings (AWS_REGION, credentials; AWS_ENDPOINT_URL_DYNAMODB for DynamoDB Local).

Exit codes: 0 ok; 1 a problem was found (audit violations, a refusal, an unreadable item,
nothing found); 2 the command could not run as given (usage, configuration, DynamoDB).";

/// The operator's CLI for Linli's points ledger and orders.
#[derive(Debug, Parser)]
#[command(name = "linli-admin", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub tables: TableArgs,
    /// Answer in JSON on stdout (for scripts) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the tables are.
#[derive(Debug, Clone, Args)]
pub struct TableArgs {
    /// The Ledger table's name [default: TABLE_LEDGER].
    #[arg(long, global = true, value_name = "NAME")]
    pub ledger_table: Option<String>,
    /// The Orders table's name [default: TABLE_ORDERS].
    #[arg(long, global = true, value_name = "NAME")]
    pub orders_table: Option<String>,
    /// The Catalog table's name (stores, SKUs, stock) [default: TABLE_CATALOG].
    #[arg(long, global = true, value_name = "NAME")]
    pub catalog_table: Option<String>,
    /// The Config table's name (rules) [default: TABLE_CONFIG].
    #[arg(long, global = true, value_name = "NAME")]
    pub config_table: Option<String>,
    /// The GroupBuys table's name (rounds) [default: TABLE_GROUP_BUYS].
    #[arg(long, global = true, value_name = "NAME")]
    pub group_buys_table: Option<String>,
    /// A running devstack (`make up`: http://127.0.0.1:3000): table names from its
    /// `/_local/stack`, for tables not named by a flag.
    #[arg(long, global = true, value_name = "URL")]
    pub stack_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the ledger invariant over every member (DESIGN §5); exit 1 on any violation.
    Audit,
    /// Outstanding points (available + held) and debt, valued, by month of expiry.
    Liability {
        /// What one point is worth, in fen, for the liability's value.
        #[arg(long, value_name = "FEN", default_value_t = 1)]
        point_value_fen: i64,
    },
    /// A month's movements by business time (Asia/Shanghai): issued by source, redeemed by
    /// use, expired, compensated, clawed back, debt repaid.
    Report {
        /// The business month, YYYY-MM.
        #[arg(long)]
        month: Month,
    },
    /// Give (+) or take (−) points by hand, once per ticket, with operator and reason.
    Adjust(AdjustArgs),
    /// A member's balances, lots, holds and latest postings; `member erase` (PIPL).
    Member(MemberArgs),
    /// Staff after-sales refund of a paid order through WeChat Pay.
    Refund(RefundArgs),
    /// Earn rules (tiers, category bonuses, campaigns, caps): versioned in the Config table.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The weather per city that prices deliveries (Config table).
    #[command(subcommand)]
    Weather(WeatherCommand),
    /// Stores, SKUs and stock (Catalog table).
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// The delivery pricing rules (Config table).
    #[command(subcommand)]
    Delivery(DeliveryCommand),
    /// Community group-buy rounds (GroupBuys table).
    #[command(subcommand)]
    Round(RoundCommand),
    /// Dead-letter queues: depth, failed messages with their reason, redrive (docs/runbook.md).
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Payments that went wrong and refunds that could not be made (Orders table).
    #[command(subcommand)]
    Anomalies(AnomaliesCommand),
}

#[derive(Debug, Subcommand)]
pub enum AnomaliesCommand {
    /// The open ones, oldest first; exits 1 while any is open.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Record how one was settled (who, how); it leaves the open list. Once.
    Resolve {
        /// The order it names (`out_trade_no`).
        order: String,
        /// Its id, `<kind>:<transaction id>` (as `list` shows it).
        anomaly: String,
        #[arg(long)]
        operator: String,
        /// How it was settled, e.g. "refunded by hand, ticket 123".
        #[arg(long)]
        note: String,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MemberArgs {
    #[command(subcommand)]
    pub action: Option<MemberAction>,
    /// A member id (ULID) or an identity: oa:<openid>, mini:<openid>, union:<unionid>.
    pub who: Option<String>,
    /// How many of the latest postings to show.
    #[arg(long, default_value_t = 20)]
    pub limit: u16,
}

#[derive(Debug, Subcommand)]
pub enum MemberAction {
    /// Erase a member's personal data (PIPL): identities, consents, the invite code, and the
    /// payer, address and riders' contacts of their orders. Ledger amounts stay under the
    /// member id, which then names no one. Idempotent.
    Erase {
        /// The member id (ULID); none with --requested.
        member: Option<String>,
        /// Every member who asked with `DELETE /api/me` and is not erased yet.
        #[arg(long)]
        requested: bool,
        #[arg(long)]
        operator: String,
        /// Why (the request's reference), for the record.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Each DLQ's depth; exits 1 when any holds a message.
    List,
    /// Up to --limit messages of a DLQ with why each failed; they stay there.
    Show {
        /// points-postings, courier-dispatch, compensations or cutoff-pages.
        queue: String,
        #[arg(long, default_value_t = 10)]
        limit: u16,
    },
    /// Move every message of a DLQ back to its source queue (bodies and ids kept).
    Redrive { queue: String },
}

#[derive(Debug, Subcommand)]
pub enum RoundCommand {
    /// Check a round written as TOML (see README "Community group-buy") and open it.
    Create { file: std::path::PathBuf },
    /// Every round, soonest cutoff first.
    List,
    /// One round with each SKU's paid count against its minimum and maximum.
    Show { round_id: String },
    /// A closed round's outputs: the purchase list, the delivery batch and the metrics.
    Export {
        round_id: String,
        /// CSV rows (section, who, sku, name, qty) instead of the text summary.
        #[arg(long)]
        csv: bool,
    },
    /// Recurring rounds: a template opens a round per cutoff of its rhythm.
    Template {
        #[command(subcommand)]
        command: TemplateCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Check a template written as TOML (see README "Community group-buy"), store it and open
    /// its first round; each cutoff then opens the next.
    Create { file: std::path::PathBuf },
    /// Every template with its rhythm and whether it is active.
    List,
    /// No further rounds (an open one runs to its cutoff).
    Stop { template_id: String },
}

#[derive(Debug, Subcommand)]
pub enum DeliveryCommand {
    /// The rules in force as TOML (the defaults until set), with who set them and why.
    Show,
    /// Check a TOML file and make it the rules in force.
    Set {
        file: std::path::PathBuf,
        /// Who does it, for the record.
        #[arg(long)]
        operator: String,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
        /// Check only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Import stores, SKUs and stock from a CSV file (header: store_id, store_name, lat, lng,
    /// hours, city, sku, name, price_fen, stock, category); every row is checked first, and
    /// nothing is written when one is wrong.
    Import {
        file: std::path::PathBuf,
        /// Check only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WeatherCommand {
    /// A city's weather and who set it when.
    Show { city: String },
    /// Set a city's weather: normal, rain, storm or heat.
    Set {
        city: String,
        weather: String,
        /// Who does it, for the record.
        #[arg(long)]
        operator: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// The rules in force (or `--version N`) as TOML, with who activated them and why.
    Show {
        #[arg(long)]
        version: Option<u32>,
    },
    /// Check a TOML rules file and activate it as the next version (nothing changes when it is
    /// invalid, identical to the rules in force, or someone activated another version meanwhile).
    Set(RulesSetArgs),
    /// The versions, newest first.
    History {
        #[arg(long, default_value_t = 20)]
        limit: u16,
    },
}

#[derive(Debug, Args)]
pub struct RulesSetArgs {
    /// The rules file (TOML; `linli-admin rules show` prints the current one to start from).
    pub file: std::path::PathBuf,
    /// Why, for the record.
    #[arg(long)]
    pub reason: String,
    /// Who does it, for the record.
    #[arg(long)]
    pub operator: String,
    /// Check and preview only; activate nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct AdjustArgs {
    /// The member id (ULID).
    #[arg(value_parser = member_id)]
    pub member: MemberId,
    /// Points to give (+50) or take (-50).
    #[arg(allow_negative_numbers = true)]
    pub points: i64,
    /// Why, for the record (kept beside the posting).
    #[arg(long)]
    pub reason: String,
    /// Who does it, for the record.
    #[arg(long)]
    pub operator: String,
    /// The adjustment's ticket: the same ticket is the same adjustment, made once. Generated
    /// (and printed) when absent: pass it again to retry safely.
    #[arg(long)]
    pub ticket: Option<TicketId>,
}

#[derive(Debug, Args)]
pub struct RefundArgs {
    /// The order id.
    pub order: OrderId,
    /// What goes back: yuan with a decimal point (12.50) or a unit (12yuan, 1250fen), or `all`
    /// (what is left to refund).
    pub amount: String,
    /// Why, for the record and the member's refund note (refund_desc).
    #[arg(long)]
    pub reason: String,
    /// Who does it, for the record.
    #[arg(long)]
    pub operator: String,
    /// The refund's ticket: the same ticket is the same refund, asked once (refund id
    /// `<order>-S<ticket>`). Generated (and printed) when absent: pass it again to retry.
    #[arg(long)]
    pub ticket: Option<TicketId>,
}

fn member_id(text: &str) -> Result<MemberId, String> {
    MemberId::parse(text.trim())
        .map_err(|_| format!("{text:?} is not a member id: a member id is a 26-character ULID"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_negative_adjustment_is_a_number_not_a_flag() {
        let cli = Cli::try_parse_from([
            "linli-admin",
            "adjust",
            "01JD0000000000000000000000",
            "-80",
            "--reason",
            "r",
            "--operator",
            "o",
            "--json",
        ])
        .unwrap();
        let Command::Adjust(args) = cli.command else {
            panic!("not adjust")
        };
        assert_eq!(args.points, -80);
        assert!(cli.json);
    }

    #[test]
    fn a_bad_month_is_a_usage_error() {
        let parsed = Cli::try_parse_from(["linli-admin", "report", "--month", "2026-13"]);
        assert_eq!(parsed.unwrap_err().exit_code(), 2);
    }
}
