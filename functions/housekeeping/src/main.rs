//! Wiring only: configuration and clients built once, then the handler in `lib.rs`.
// The runtime's service stack nests deep futures; their layout needs a higher limit.
#![recursion_limit = "256"]

use housekeeping::{handle, App, Settings};
use lambda_runtime::{service_fn, Error};
use linli::config::required;
use linli::paying::{PayConfig, PayGateway};
use linli::queue::Publisher;
use linli::store::checkpoints::DynamoCheckpoints;
use linli::store::ledger::DynamoLedger;
use linli::store::orders::DynamoOrders;
use linli::store::reminders::DynamoReminders;
use linli::store::rules::DynamoRules;
use linli::wechat::subscribe::WechatMessenger;

#[tokio::main]
async fn main() -> Result<(), Error> {
    linli::log::init_json();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = &linli::secrets::Settings::load(&aws).await?;
    let settings = Settings::from_source(env)?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let config_table = required(env, "TABLE_CONFIG")?;
    let ledger_table = required(env, "TABLE_LEDGER")?;
    let app = App {
        ledger: DynamoLedger::new(dynamodb.clone(), ledger_table.clone()),
        orders: DynamoOrders::new(dynamodb.clone(), required(env, "TABLE_ORDERS")?)
            .with_catalog(required(env, "TABLE_CATALOG")?),
        checkpoints: DynamoCheckpoints::new(dynamodb.clone(), config_table.clone()),
        rules: DynamoRules::new(dynamodb.clone(), config_table),
        reminders: DynamoReminders::new(dynamodb.clone(), ledger_table.clone()),
        messenger: WechatMessenger::from_source(env)?,
        publisher: Publisher::new(aws_sdk_sqs::Client::new(&aws)),
        couriers: linli::courier::client::Couriers::new(
            linli::courier::client::CourierConfig::from_source(env)?,
        )?,
        pay: PayGateway::new(PayConfig::from_source(env)?)?,
        settings,
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event| async move { handle(app, event).await },
    ))
    .await
}
