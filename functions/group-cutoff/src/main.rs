//! Wiring only: configuration and clients built once, then the handler in `lib.rs`.
// The runtime's service stack nests deep futures; their layout needs a higher limit.
#![recursion_limit = "256"]

use group_cutoff::{handle, App, Settings};
use lambda_runtime::{service_fn, Error};
use linli::config::required;
use linli::faults::Faults;
use linli::paying::{PayConfig, PayGateway};
use linli::queue::Publisher;
use linli::rules::reminders::ReminderTemplates;
use linli::store::{orders::DynamoOrders, reminders::DynamoReminders, rounds::DynamoRounds};
use linli::wechat::subscribe::WechatMessenger;

#[tokio::main]
async fn main() -> Result<(), Error> {
    linli::log::init_json();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = &linli::secrets::Settings::load(&aws).await?;
    let settings = Settings {
        pages_queue: required(env, "QUEUE_CUTOFF_PAGES")?,
        points_queue: required(env, "QUEUE_POINTS_POSTINGS")?,
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let app = App {
        rounds: DynamoRounds::new(dynamodb.clone(), required(env, "TABLE_GROUP_BUYS")?),
        orders: DynamoOrders::new(dynamodb.clone(), required(env, "TABLE_ORDERS")?),
        reminders: DynamoReminders::new(dynamodb, required(env, "TABLE_LEDGER")?),
        messenger: WechatMessenger::from_source(env)?,
        templates: ReminderTemplates::from_source(env)?,
        pay: PayGateway::new(PayConfig::from_source(env)?)?,
        publisher: Publisher::new(aws_sdk_sqs::Client::new(&aws)),
        settings,
        faults: Faults::from_source(env),
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event| async move { handle(app, event).await },
    ))
    .await
}
