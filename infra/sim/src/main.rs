//! `linli-sim [--seed N] [--events N] [--members N]`: one seeded fault simulation over DynamoDB
//! Local (AWS_ENDPOINT_URL_DYNAMODB); prints its summary, exits 1 on any violation.

use linli_sim::{driver::FaultRates, run, Config};
use std::path::PathBuf;
use std::process::ExitCode;

fn arg(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a whole number")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| {
        Ok::<_, String>(Config {
            seed: arg(&args, "--seed", 1)?,
            events: arg(&args, "--events", 2_000)?,
            members: usize::try_from(arg(&args, "--members", 12)?.max(1))
                .map_err(|e| e.to_string())?,
            rates: FaultRates::default(),
        })
    })();
    let config = match parsed {
        Ok(config) => config,
        Err(why) => {
            eprintln!("linli-sim: {why}\nusage: linli-sim [--seed N] [--events N] [--members N]");
            return ExitCode::from(2);
        }
    };
    let template = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    match run(&client, &template, config).await {
        Ok(run) => {
            print!("{}", run.summary());
            if run.report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("linli-sim: {e}");
            ExitCode::from(2)
        }
    }
}
