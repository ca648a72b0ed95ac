//! Wiring only: configuration and clients built once, then the handler in `lib.rs`.
// The runtime's service stack nests deep futures; their layout needs a higher limit.
#![recursion_limit = "256"]

use courier_dispatch::{handle, App};
use lambda_runtime::{service_fn, Error};
use linli::config::required;
use linli::courier::client::{CourierConfig, Couriers};
use linli::paying::{PayConfig, PayGateway};
use linli::queue::Publisher;
use linli::store::catalog::DynamoCatalog;
use linli::store::delivery_rules::DynamoDeliveryRules;
use linli::store::ledger::DynamoLedger;
use linli::store::orders::DynamoOrders;

#[tokio::main]
async fn main() -> Result<(), Error> {
    linli::log::init_json();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = &linli::secrets::Settings::load(&aws).await?;
    let couriers = Couriers::new(CourierConfig::from_source(env)?)?;
    let dead_letters = required(env, "QUEUE_COURIER_DISPATCH_DLQ")?;
    let queues = linli::courier::follow::Queues {
        dispatch: required(env, "QUEUE_COURIER_DISPATCH")?,
        compensations: required(env, "QUEUE_COMPENSATIONS")?,
    };
    let publisher = Publisher::new(aws_sdk_sqs::Client::new(&aws));
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let app = App {
        orders: DynamoOrders::new(dynamodb.clone(), required(env, "TABLE_ORDERS")?),
        catalog: DynamoCatalog::new(dynamodb.clone(), required(env, "TABLE_CATALOG")?),
        ledger: DynamoLedger::new(dynamodb.clone(), required(env, "TABLE_LEDGER")?),
        rules: DynamoDeliveryRules::new(dynamodb, required(env, "TABLE_CONFIG")?),
        couriers,
        pay: PayGateway::new(PayConfig::from_source(env)?)?,
        dead_letters: Some((publisher.clone(), dead_letters)),
        effects: Some((publisher, queues)),
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event| async move {
        Ok::<_, Error>(handle(app, event).await)
    }))
    .await
}
