//! Wiring only: configuration and clients built once, then the handler in `lib.rs`.
// The runtime's service stack nests deep futures; their layout needs a higher limit.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error};
use linli::config::required;
use linli::queue::Publisher;
use linli::store::ledger::DynamoLedger;
use points_posting::{handle, App};

#[tokio::main]
async fn main() -> Result<(), Error> {
    linli::log::init_json();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = &linli::secrets::Settings::load(&aws).await?;
    let ledger_table = required(env, "TABLE_LEDGER")?;
    let dead_letters = required(env, "QUEUE_POINTS_POSTINGS_DLQ")?;
    let app = App {
        ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(&aws), ledger_table),
        dead_letters: Some((Publisher::new(aws_sdk_sqs::Client::new(&aws)), dead_letters)),
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event| async move {
        Ok::<_, Error>(handle(app, event).await)
    }))
    .await
}
