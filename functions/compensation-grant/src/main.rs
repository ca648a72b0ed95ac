//! Wiring only: configuration and clients built once, then the handler in `lib.rs`.
// The runtime's service stack nests deep futures; their layout needs a higher limit.
#![recursion_limit = "256"]

use compensation_grant::{handle, App};
use lambda_runtime::{service_fn, Error};
use linli::config::required;
use linli::courier::client::{CourierConfig, Couriers};
use linli::queue::Publisher;
use linli::rules::reminders::ReminderTemplates;
use linli::store::delivery_rules::DynamoDeliveryRules;
use linli::store::ledger::DynamoLedger;
use linli::store::orders::DynamoOrders;
use linli::store::reminders::DynamoReminders;
use linli::wechat::subscribe::WechatMessenger;

#[tokio::main]
async fn main() -> Result<(), Error> {
    linli::log::init_json();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = &linli::secrets::Settings::load(&aws).await?;
    let couriers = Couriers::new(CourierConfig::from_source(env)?)?;
    let templates = ReminderTemplates::from_source(env)?;
    let dead_letters = required(env, "QUEUE_COMPENSATIONS_DLQ")?;
    let ledger_table = required(env, "TABLE_LEDGER")?;
    let messenger = WechatMessenger::from_source(env)?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let app = App {
        orders: DynamoOrders::new(dynamodb.clone(), required(env, "TABLE_ORDERS")?),
        ledger: DynamoLedger::new(dynamodb.clone(), ledger_table.clone()),
        rules: DynamoDeliveryRules::new(dynamodb.clone(), required(env, "TABLE_CONFIG")?),
        reminders: DynamoReminders::new(dynamodb, ledger_table),
        messenger,
        templates,
        couriers,
        dead_letters: Some((Publisher::new(aws_sdk_sqs::Client::new(&aws)), dead_letters)),
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event| async move {
        Ok::<_, Error>(handle(app, event).await)
    }))
    .await
}
