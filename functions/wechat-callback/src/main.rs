//! Wiring only: configuration and clients built once, then the handler in `lib.rs`.

use lambda_http::{service_fn, Error};
use linli::config::required;
use linli::queue::Publisher;
use linli::store::catalog::DynamoCatalog;
use linli::store::dedup::DynamoDedup;
use linli::store::ledger::DynamoLedger;
use linli::store::members::DynamoMembers;
use std::time::Duration;
use wechat_callback::{handle, App, Settings, TokenCache};

#[tokio::main]
async fn main() -> Result<(), Error> {
    linli::log::init_json();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = &linli::secrets::Settings::load(&aws).await?;
    let settings = Settings::from_source(env)?;
    let ledger_table = required(env, "TABLE_LEDGER")?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let app = App {
        ledger: DynamoLedger::new(dynamodb.clone(), ledger_table.clone()),
        members: DynamoMembers::new(dynamodb.clone(), ledger_table),
        catalog: DynamoCatalog::new(dynamodb.clone(), required(env, "TABLE_CATALOG")?),
        dedup: DynamoDedup::new(dynamodb, required(env, "TABLE_DEDUP")?),
        publisher: Publisher::new(aws_sdk_sqs::Client::new(&aws)),
        // WeChat's API answers in tens of milliseconds; a slow call must leave the reply budget
        // room (the follower then stays OpenID-only until a later follow).
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_millis(1_200))
            .build()?,
        tokens: TokenCache::default(),
        settings,
    };
    let app = &app;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(handle(app, request).await)
    }))
    .await
}
