//! Support for linli-admin's tests against DynamoDB Local: a client, uniquely named tables
//! declared as template.yaml declares them (the minimal copy of shared/tests/common), and the
//! built binary run as an operator would. `make test` starts DynamoDB Local and sets
//! `AWS_ENDPOINT_URL_DYNAMODB`; without it these tests fail loudly rather than pass vacuously.
#![allow(dead_code)]

pub mod stubs;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use linli::ids::{MemberId, PostingId, TicketId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Points;
use linli::store::ledger::item::{
    HISTORY_INDEX, HISTORY_PROJECTION, HOLD_DUE, HOLD_INDEX, HOLD_SHARD,
};
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::time::{BusinessTime, Month};
use serde_json::Value;

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: run these tests through `make test`, \
             which starts DynamoDB Local"
        )
    })
}

pub fn client() -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("cn-north-1"))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "linli-admin-tests",
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

fn projection(kind: ProjectionType, attributes: Option<Vec<String>>) -> Projection {
    Projection::builder()
        .projection_type(kind)
        .set_non_key_attributes(attributes)
        .build()
}

/// A `Ledger` table as template.yaml declares it (history LSI, sparse hold GSI).
pub async fn ledger_table(client: &Client, test: &str) -> String {
    let name = format!("Ledger-admin-{test}-{:08x}", fastrand::u32(..));
    let history = LocalSecondaryIndex::builder()
        .index_name(HISTORY_INDEX)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("posted_at", KeyType::Range))
        .projection(projection(
            ProjectionType::Include,
            Some(HISTORY_PROJECTION.map(str::to_owned).to_vec()),
        ))
        .build()
        .unwrap();
    let holds = GlobalSecondaryIndex::builder()
        .index_name(HOLD_INDEX)
        .key_schema(key(HOLD_SHARD, KeyType::Hash))
        .key_schema(key(HOLD_DUE, KeyType::Range))
        .projection(projection(ProjectionType::KeysOnly, None))
        .build()
        .unwrap();
    client
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
        .global_secondary_indexes(holds)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        });
    name
}

/// An `Orders` table as template.yaml declares it (with the keys-only sweep index).
pub async fn orders_table(client: &Client, test: &str) -> String {
    let name = format!("Orders-admin-{test}-{:08x}", fastrand::u32(..));
    let sweep = GlobalSecondaryIndex::builder()
        .index_name(linli::store::orders::SWEEP_INDEX)
        .key_schema(key("sweep", KeyType::Hash))
        .key_schema(key("due_at", KeyType::Range))
        .projection(projection(ProjectionType::KeysOnly, None))
        .build()
        .unwrap();
    let by_member = GlobalSecondaryIndex::builder()
        .index_name("by_member")
        .key_schema(key("member", KeyType::Hash))
        .key_schema(key("placed_at", KeyType::Range))
        .projection(projection(ProjectionType::KeysOnly, None))
        .build()
        .unwrap();
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sweep", ScalarAttributeType::S))
        .attribute_definitions(attribute("due_at", ScalarAttributeType::N))
        .attribute_definitions(attribute("member", ScalarAttributeType::S))
        .attribute_definitions(attribute("placed_at", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(sweep)
        .global_secondary_indexes(by_member)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        });
    name
}

/// A `Config` table as template.yaml declares it (key `pk` only).
pub async fn config_table(client: &Client, test: &str) -> String {
    let name = format!("Config-admin-{test}-{:08x}", fastrand::u32(..));
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        });
    name
}

/// Day `day` (1-based) of `month`, 10:00 business time.
pub fn on(month: &str, day: i64) -> BusinessTime {
    let month: Month = month.parse().unwrap();
    month
        .start()
        .plus_ms((day - 1) * 86_400_000 + 10 * 3_600_000)
}

/// What one run of linli-admin answered.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs the built binary with `args`, the test's AWS settings and `env` (table variables are
/// cleared first, so only what the test gives counts).
pub async fn admin_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_linli-admin"));
    command
        .args(args)
        .env_remove("TABLE_LEDGER")
        .env_remove("TABLE_ORDERS")
        .env_remove("TABLE_CONFIG")
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint())
        .env("AWS_REGION", "cn-north-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub async fn admin(args: &[&str]) -> Run {
    admin_with(args, &[]).await
}

/// A new member id of `at`.
pub fn new_member(at: BusinessTime) -> MemberId {
    MemberId::generate(at, u128::from(fastrand::u64(..)))
}

pub async fn post(
    ledger: &DynamoLedger,
    member: &MemberId,
    id: PostingId,
    at: BusinessTime,
    op: Op,
) {
    let request = PostingRequest::new(id, member.clone(), at, vec![op]);
    ledger.post(&request).await.unwrap();
}

pub fn adjust_id(ticket: &str) -> PostingId {
    PostingId::adjust(&TicketId::parse(ticket).unwrap())
}

pub fn earn(source: Source, points: i64) -> Op {
    Op::Earn {
        source,
        points: Points::new(points),
    }
}

/// A `Catalog` table as template.yaml declares it (`pk`, `sk`).
pub async fn catalog_table(client: &Client, test: &str) -> String {
    let name = format!("Catalog-admin-{test}-{:08x}", fastrand::u32(..));
    let created = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await;
    created
        .map(|_| name)
        .unwrap_or_else(|e| panic!("{}", DisplayErrorContext(e)))
}

/// A `GroupBuys` table (pk/sk) for one test.
pub async fn group_buys_table(client: &Client, test: &str) -> String {
    let name = format!("GroupBuys-admin-{test}-{:08x}", fastrand::u32(..));
    let created = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await;
    created
        .map(|_| name)
        .unwrap_or_else(|e| panic!("{}", DisplayErrorContext(e)))
}
