//! An SQS consumer with partial batch responses. Each message body is
//! `{"test": <id>, "seq": <n>, "fail": <bool>}`; every delivery is appended, in order, to the item
//! `SEEN#<test>` of the table `TABLE_SEEN`, and messages with `"fail": true` are reported failed.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handle(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let mut failures = vec![];
    let records = event.payload["Records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for record in records {
        let id = record["messageId"].as_str().unwrap_or_default().to_owned();
        let body: Value = serde_json::from_str(record["body"].as_str().unwrap_or_default())?;
        let test = body["test"].as_str().unwrap_or("none").to_owned();
        let seen = format!(
            "{}:{}",
            body["seq"],
            record["attributes"]["ApproximateReceiveCount"]
                .as_str()
                .unwrap_or("?")
        );
        db.update_item()
            .table_name(table)
            .key("pk", AttributeValue::S(format!("SEEN#{test}")))
            .update_expression(
                "SET deliveries = list_append(if_not_exists(deliveries, :empty), :one)",
            )
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":one", AttributeValue::L(vec![AttributeValue::S(seen)]))
            .send()
            .await?;
        if body["fail"] == json!(true) {
            failures.push(json!({ "itemIdentifier": id }));
        }
    }
    Ok(json!({ "batchItemFailures": failures }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let db = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("TABLE_SEEN")?;
    lambda_runtime::run(service_fn(|event| handle(&db, &table, event))).await
}
