//! Wiring only: configuration and clients built once, then the handler in `lib.rs`.

use lambda_http::{service_fn, Error};
use linli::config::required;
use linli::paying::{PayConfig, PayGateway};
use linli::store::catalog::DynamoCatalog;
use linli::store::delivery_rules::DynamoDeliveryRules;
use linli::store::ledger::DynamoLedger;
use linli::store::members::DynamoMembers;
use linli::store::orders::DynamoOrders;
use linli::store::reminders::DynamoReminders;
use linli::store::rules::DynamoRules;
use linli::store::weather::DynamoWeather;
use member_api::{handle, App, Settings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    linli::log::init_json();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = &linli::secrets::Settings::load(&aws).await?;
    let settings = Settings::from_source(env)?;
    let ledger_table = required(env, "TABLE_LEDGER")?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let config_table = required(env, "TABLE_CONFIG")?;
    let app = App {
        ledger: DynamoLedger::new(dynamodb.clone(), ledger_table.clone()),
        members: DynamoMembers::new(dynamodb.clone(), ledger_table.clone()),
        reminders: DynamoReminders::new(dynamodb.clone(), ledger_table),
        catalog: DynamoCatalog::new(dynamodb.clone(), required(env, "TABLE_CATALOG")?),
        orders: DynamoOrders::new(dynamodb.clone(), required(env, "TABLE_ORDERS")?)
            .with_catalog(required(env, "TABLE_CATALOG")?),
        rules: DynamoRules::new(dynamodb.clone(), config_table.clone()),
        weather: DynamoWeather::new(dynamodb.clone(), config_table.clone()),
        delivery_rules: DynamoDeliveryRules::new(dynamodb.clone(), config_table),
        rounds: linli::store::rounds::DynamoRounds::new(
            dynamodb,
            required(env, "TABLE_GROUP_BUYS")?,
        ),
        http: reqwest::Client::new(),
        pay: PayGateway::new(PayConfig::from_source(env)?)?,
        tokens: Default::default(),
        settings,
    };
    let app = &app;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(handle(app, request).await)
    }))
    .await
}
