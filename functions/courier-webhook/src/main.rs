//! Wiring only: configuration and clients built once, then the handler in `lib.rs`.

use courier_webhook::{handle, App};
use lambda_http::{service_fn, Error};
use linli::config::required;
use linli::courier::client::CourierConfig;
use linli::courier::follow::Queues;
use linli::queue::Publisher;
use linli::store::orders::DynamoOrders;

#[tokio::main]
async fn main() -> Result<(), Error> {
    linli::log::init_json();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = &linli::secrets::Settings::load(&aws).await?;
    let couriers = CourierConfig::from_source(env)?;
    let queues = Queues {
        dispatch: required(env, "QUEUE_COURIER_DISPATCH")?,
        compensations: required(env, "QUEUE_COMPENSATIONS")?,
    };
    let app = App {
        orders: DynamoOrders::new(
            aws_sdk_dynamodb::Client::new(&aws),
            required(env, "TABLE_ORDERS")?,
        ),
        publisher: Publisher::new(aws_sdk_sqs::Client::new(&aws)),
        couriers,
        queues,
    };
    let app = &app;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(handle(app, request).await)
    }))
    .await
}
