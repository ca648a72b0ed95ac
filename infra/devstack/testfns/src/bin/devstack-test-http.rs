//! Answers HttpApi events with what it received, so tests can check the event the devstack built.
//! `/fail…` returns a function error; `/slow…` outlives its timeout.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let request = event.payload;
    let path = request["rawPath"].as_str().unwrap_or_default().to_owned();
    if path.starts_with("/fail") {
        return Err("asked to fail".into());
    }
    if path.starts_with("/slow") {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    }
    let seen = json!({
        "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
        "table": std::env::var("TABLE_SEEN").unwrap_or_default(),
        "secret": std::env::var("DEVSTACK_TEST_SECRET").unwrap_or_default(),
        "event": request,
    });
    Ok(json!({
        "statusCode": 200,
        "headers": { "content-type": "application/json", "x-test": "yes" },
        "body": seen.to_string(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
