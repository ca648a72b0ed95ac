//! `linli-admin`, the operator's CLI (DESIGN §2). Wiring only: arguments, logs, then the command;
//! the commands live in the library so their pure parts are unit-tested.

use clap::Parser;
use linli_admin::cli::Cli;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // clap answers a usage error itself, with exit code 2 and the usage line.
    let cli = Cli::parse();
    linli_admin::init_logs();
    linli_admin::run(cli).await
}
