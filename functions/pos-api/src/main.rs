//! Wiring only: configuration and clients built once, then the handler in `lib.rs`.

use lambda_http::{service_fn, Error};
use linli::config::required;
use linli::queue::Publisher;
use linli::store::catalog::DynamoCatalog;
use linli::store::ledger::DynamoLedger;
use linli::store::pos::DynamoPos;
use linli::store::rules::DynamoRules;
use pos_api::{handle, App, Settings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    linli::log::init_json();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = &linli::secrets::Settings::load(&aws).await?;
    let settings = Settings::from_source(env)?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let app = App {
        catalog: DynamoCatalog::new(dynamodb.clone(), required(env, "TABLE_CATALOG")?),
        pos: DynamoPos::new(dynamodb.clone(), required(env, "TABLE_ORDERS")?),
        ledger: DynamoLedger::new(dynamodb.clone(), required(env, "TABLE_LEDGER")?),
        rules: DynamoRules::new(dynamodb, required(env, "TABLE_CONFIG")?),
        publisher: Publisher::new(aws_sdk_sqs::Client::new(&aws)),
        settings,
    };
    let app = &app;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(handle(app, request).await)
    }))
    .await
}
