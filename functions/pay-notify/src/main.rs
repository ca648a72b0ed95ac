//! Wiring only: configuration and clients built once, then the handler in `lib.rs`.

use lambda_http::{service_fn, Error};
use linli::config::required;
use linli::paying::{PayConfig, PayGateway};
use linli::queue::Publisher;
use linli::store::ledger::DynamoLedger;
use linli::store::orders::DynamoOrders;
use linli::store::reminders::DynamoReminders;
use linli::store::rules::DynamoRules;
use pay_notify::{handle, App, Settings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    linli::log::init_json();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = &linli::secrets::Settings::load(&aws).await?;
    let settings = Settings::from_source(env)?;
    let pay = PayGateway::new(PayConfig::from_source(env)?)?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let ledger_table = required(env, "TABLE_LEDGER")?;
    let app = App {
        orders: DynamoOrders::new(dynamodb.clone(), required(env, "TABLE_ORDERS")?)
            .with_catalog(required(env, "TABLE_CATALOG")?),
        ledger: DynamoLedger::new(dynamodb.clone(), ledger_table.clone()),
        reminders: DynamoReminders::new(dynamodb.clone(), ledger_table),
        rules: DynamoRules::new(dynamodb.clone(), required(env, "TABLE_CONFIG")?),
        rounds: linli::store::rounds::DynamoRounds::new(
            dynamodb,
            required(env, "TABLE_GROUP_BUYS")?,
        ),
        publisher: Publisher::new(aws_sdk_sqs::Client::new(&aws)),
        pay,
        settings,
    };
    let app = &app;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(handle(app, request).await)
    }))
    .await
}
