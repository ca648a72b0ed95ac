//! Adapter-test support: a DynamoDB Local client and uniquely named tables (STYLE 21).
//! `make test` starts DynamoDB Local and sets `AWS_ENDPOINT_URL_DYNAMODB`; without it these tests
//! fail loudly rather than pass vacuously.
#![allow(dead_code)]

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use linli::ids::MemberId;
use linli::ledger::Posting;
use linli::store::ledger::item::{
    decode_posting, member_pk, HISTORY_INDEX, HISTORY_PROJECTION, HOLD_DUE, HOLD_INDEX, HOLD_SHARD,
};
use linli::time::BusinessTime;

pub fn client() -> Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL_DYNAMODB is not set: run these tests through `make test`, which starts DynamoDB Local")
    });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("cn-north-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "linli-tests",
        ))
        .build();
    Client::from_conf(config)
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap()
}

fn attribute(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .unwrap()
}

/// Sends a prepared CreateTable, panicking with the SDK's full error when it fails.
async fn create(
    name: String,
    request: aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder,
) -> String {
    request.send().await.unwrap_or_else(|e| {
        panic!(
            "create table {name}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(e)
        )
    });
    name
}

/// Creates a `Ledger` table as template.yaml declares it (the history LSI and the sparse hold
/// GSI), under a name no other test uses.
pub async fn ledger_table(client: &Client, test: &str) -> String {
    let name = format!("Ledger-{test}-{:08x}", fastrand::u32(..));
    let history = LocalSecondaryIndex::builder()
        .index_name(HISTORY_INDEX)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("posted_at", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(HISTORY_PROJECTION.map(str::to_owned).to_vec()))
                .build(),
        )
        .build()
        .unwrap();
    let holds = aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
        .index_name(HOLD_INDEX)
        .key_schema(key(HOLD_SHARD, KeyType::Hash))
        .key_schema(key(HOLD_DUE, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .unwrap();
    let request = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::S))
        .attribute_definitions(attribute("posted_at", ScalarAttributeType::N))
        .attribute_definitions(attribute(HOLD_SHARD, ScalarAttributeType::S))
        .attribute_definitions(attribute(HOLD_DUE, ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .local_secondary_indexes(history)
        .global_secondary_indexes(holds);
    create(name, request).await
}

/// Every posting recorded for `member`, read straight from the table.
pub async fn postings(client: &Client, table: &str, member: &MemberId) -> Vec<Posting> {
    let output = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(member_pk(member)),
        )
        .expression_attribute_values(
            ":prefix",
            aws_sdk_dynamodb::types::AttributeValue::S("POSTING#".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(
        output.last_evaluated_key.is_none(),
        "more postings than one page"
    );
    output
        .items()
        .iter()
        .map(|i| decode_posting(i).unwrap())
        .collect()
}

pub fn at(ms: i64) -> BusinessTime {
    BusinessTime::from_epoch_ms(ms).unwrap()
}

/// 2025-11-25T10:00:00+08:00
pub const NOW_MS: i64 = 1_764_036_000_000;

pub fn new_member() -> MemberId {
    MemberId::generate(at(NOW_MS), u128::from(fastrand::u64(..)))
}

/// Creates an `Orders` table as template.yaml declares it (with the keys-only sweep and track indexes),
/// under a name no other test uses.
pub async fn orders_table(client: &Client, test: &str) -> String {
    use aws_sdk_dynamodb::types::GlobalSecondaryIndex;
    let name = format!("Orders-{test}-{:08x}", fastrand::u32(..));
    let sweep = GlobalSecondaryIndex::builder()
        .index_name(linli::store::orders::SWEEP_INDEX)
        .key_schema(key("sweep", KeyType::Hash))
        .key_schema(key("due_at", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .unwrap();
    let track = GlobalSecondaryIndex::builder()
        .index_name(linli::store::dispatching::TRACK_INDEX)
        .key_schema(key("track", KeyType::Hash))
        .key_schema(key("track_due", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .unwrap();
    let request = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sweep", ScalarAttributeType::S))
        .attribute_definitions(attribute("due_at", ScalarAttributeType::N))
        .attribute_definitions(attribute("track", ScalarAttributeType::S))
        .attribute_definitions(attribute("track_due", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(sweep)
        .global_secondary_indexes(track);
    create(name, request).await
}

/// Creates a `GroupBuys` table as template.yaml declares it (pk/sk), named for this test.
pub async fn group_buys_table(client: &Client, test: &str) -> String {
    let name = format!("GroupBuys-{test}-{:08x}", fastrand::u32(..));
    let request = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attribute("due", ScalarAttributeType::S))
        .attribute_definitions(attribute("due_at", ScalarAttributeType::N))
        .global_secondary_indexes(
            aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                .index_name("by_due")
                .key_schema(key("due", KeyType::Hash))
                .key_schema(key("due_at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        );
    create(name, request).await
}

/// Creates a `Dedup` table as template.yaml declares it (hash key only), named for this test.
pub async fn dedup_table(client: &Client, test: &str) -> String {
    let name = format!("Dedup-{test}-{:08x}", fastrand::u32(..));
    let request = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash));
    create(name, request).await
}

/// Creates a `Config` table as template.yaml declares it (hash key only), named for this test.
pub async fn config_table(client: &Client, test: &str) -> String {
    let name = format!("Config-{test}-{:08x}", fastrand::u32(..));
    let request = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash));
    create(name, request).await
}
