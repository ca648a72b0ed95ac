//! Helpers for the end-to-end tests in `tests/tests/`: they drive the stack `make test` serves
//! from template.yaml (the devstack at `LINLI_URL`, functions under cargo-lambda, the stand-ins,
//! DynamoDB Local and the SQS stand-in), move its clock, and look into its tables and queues.
//! Test code: a failed step panics with what it saw.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod delivery;
pub mod rounds;

use aws_sdk_dynamodb::types::AttributeValue;
use linli::catalog::{Sku, Store};
use linli::ids::{MemberId, OrderId, PostingId, SkuId, StoreId};
use linli::ledger::{GrowthEntry, Op, PostingRequest, Source};
use linli::money::{Fen, Points};
use linli::rules::earning::TierThresholds;
use linli::store::catalog::{CatalogStore, DynamoCatalog};
use linli::store::checkpoints::CheckpointKey;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::time::BusinessTime;
use serde_json::{json, Value};
use std::time::Duration;

pub fn base() -> String {
    std::env::var("LINLI_URL").expect(
        "LINLI_URL is not set: run these tests through `make test`, which serves template.yaml",
    )
}

/// A short random tag that keeps each test's members, stores and orders apart.
pub fn tag() -> String {
    format!("{:08x}", fastrand::u32(..))
}

/// Calls the stack; answers the status and the JSON body (null when not JSON).
pub async fn call(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method.parse().unwrap(), format!("{}{path}", base()));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POSTs a raw body; answers the status and the body text.
pub async fn post_raw(
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", base()))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Logs in with a test code; answers (token, member id).
pub async fn login(code: &str) -> (String, String) {
    let (status, body) = call("POST", "/api/session", None, Some(json!({ "code": code }))).await;
    assert_eq!(status, 200, "{body}");
    (
        body["token"].as_str().unwrap().to_owned(),
        body["member"].as_str().unwrap().to_owned(),
    )
}

/// What `!Ref` of the template's resource `logical_id` is locally (table name, queue URL).
pub async fn resource(logical_id: &str) -> String {
    let url = format!("{}/_local/stack", base());
    let stack: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    stack["resources"][logical_id]
        .as_str()
        .unwrap_or_else(|| panic!("{logical_id} is not in the stack"))
        .to_owned()
}

async fn aws() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A DynamoDB client and the local name of the template's table `logical_id`.
pub async fn stack_table(logical_id: &str) -> (aws_sdk_dynamodb::Client, String) {
    (
        aws_sdk_dynamodb::Client::new(&aws().await),
        resource(logical_id).await,
    )
}

/// An SQS client and the local URL of the template's queue `logical_id`.
pub async fn stack_queue(logical_id: &str) -> (aws_sdk_sqs::Client, String) {
    (
        aws_sdk_sqs::Client::new(&aws().await),
        resource(logical_id).await,
    )
}

/// The reason attribute of the first message in the DLQ `dlq_logical_id` whose body `matches`,
/// waiting up to 30 s for it.
pub async fn dead_letter_reason(dlq_logical_id: &str, matches: impl Fn(&str) -> bool) -> String {
    let (sqs, dlq) = stack_queue(dlq_logical_id).await;
    let matches = &matches;
    eventually(30, "the message in the DLQ", || {
        let (sqs, dlq) = (sqs.clone(), dlq.clone());
        async move {
            let out = sqs
                .receive_message()
                .queue_url(&dlq)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .visibility_timeout(1)
                .send()
                .await
                .unwrap();
            out.messages()
                .iter()
                .find(|m| m.body().is_some_and(matches))
                .map(|m| {
                    m.message_attributes()
                        .and_then(|a| a.get("reason"))
                        .and_then(|r| r.string_value())
                        .unwrap_or_default()
                        .to_owned()
                })
        }
    })
    .await
}

/// The devstack clock's "now".
pub async fn clock() -> BusinessTime {
    let (_, body) = call("GET", "/_local/clock", None, None).await;
    BusinessTime::from_epoch_ms(body["epoch_ms"].as_i64().unwrap()).unwrap()
}

/// Moves the devstack clock forward (e.g. "16m").
pub async fn advance(by: &str) {
    let (status, body) = call(
        "POST",
        "/_local/clock",
        None,
        Some(json!({ "advance": by })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Fires the template's schedule `event` of `function` now (devstack clock).
pub async fn fire(function: &str, event: &str) -> (u16, Value) {
    call(
        "POST",
        &format!("/_local/schedules/{function}/{event}"),
        None,
        None,
    )
    .await
}

/// Polls `check` every 100 ms until it answers Some, for at most `seconds`.
pub async fn eventually<T, F, Fut>(seconds: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what} after {seconds} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Messages the queue holds, visible or in flight (an unreadable answer counts as one).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u32 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes.unwrap_or_default();
    let count = |a: A| {
        attrs
            .get(&a)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(1)
    };
    count(A::ApproximateNumberOfMessages) + count(A::ApproximateNumberOfMessagesNotVisible)
}

/// Waits until the queue has nothing visible or in flight (its messages were handled).
pub async fn drained(sqs: &aws_sdk_sqs::Client, url: &str) {
    eventually(30, "the queue to drain", || async {
        (queue_depth(sqs, url).await == 0).then_some(())
    })
    .await
}

/// A store of its own for a test, with SKUs (id, name, price in fen, stock), in central Shanghai.
pub async fn test_store(tag: &str, skus: &[(&str, &str, i64, i64)]) -> StoreId {
    test_store_at(tag, (31.2304, 121.4737), skus).await
}

/// A store of its own at `(lat, lng)`.
pub async fn test_store_at(tag: &str, at: (f64, f64), skus: &[(&str, &str, i64, i64)]) -> StoreId {
    let (client, table) = stack_table("CatalogTable").await;
    let catalog = DynamoCatalog::new(client, table);
    let store = Store {
        store_id: StoreId::parse(&format!("T-{tag}")).unwrap(),
        name: format!("测试店 {tag}"),
        lat: at.0,
        lng: at.1,
        hours: "00:00-24:00".into(),
        city: "e2e".into(),
    };
    catalog.put_store(&store).await.unwrap();
    for (sku, name, price, stock) in skus {
        let sku = Sku {
            sku: SkuId::parse(sku).unwrap(),
            name: (*name).to_owned(),
            price_fen: Fen::new(*price),
            stock: *stock,
            category: String::new(),
        };
        catalog.put_sku(&store.store_id, &sku).await.unwrap();
    }
    store.store_id
}

/// A value of `infra/local/local.env` (what the stack was started with).
pub fn local_setting(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/local/local.env");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
        .unwrap_or_else(|| panic!("{name} is not in local.env"))
}

/// Sets the devstack clock to `at`.
pub async fn set_clock(at: BusinessTime) {
    let (status, body) = call(
        "POST",
        "/_local/clock",
        None,
        Some(json!({ "now": at.to_string() })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// housekeeping's scan segments (`housekeeping::walk::SEGMENTS`).
const SEGMENTS: u32 = 4;

/// Forgets where `task`'s passes stand. In AWS time only moves forward; locally a restarted
/// devstack's clock starts over while DynamoDB Local keeps the checkpoints, so the month (or
/// day) this test moves to may have had its pass already.
pub async fn forget_checkpoints(task: &str) {
    let (client, table) = stack_table("ConfigTable").await;
    let keys = (0..SEGMENTS)
        .map(|segment| CheckpointKey::segment(task, segment))
        .chain([CheckpointKey::pass(task)]);
    for key in keys {
        client
            .delete_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(key.as_str().to_owned()))
            .send()
            .await
            .unwrap();
    }
}

/// Fires `task` until its pass is complete (a run covers what its time budget allows).
pub async fn fire_until_done(task: &str) -> Vec<Value> {
    let mut runs = vec![];
    for _ in 0..10 {
        let (status, summary) = fire("HousekeepingFunction", task).await;
        assert_eq!(status, 200, "{task}: {summary}");
        let done = summary["pass_done"] == true;
        runs.push(summary);
        if done {
            return runs;
        }
    }
    panic!("{task} did not complete its pass in 10 runs: {runs:?}");
}

/// A paid order's posting as pay-notify decides it, posted straight to the stack's ledger:
/// `pay:order:<order>` at `at` earning `points`, its `fen` of goods recorded toward the member's
/// tier by the default thresholds (so it may upgrade).
pub async fn post_payment(member: &MemberId, order: &str, at: BusinessTime, points: i64, fen: i64) {
    let (client, table) = stack_table("LedgerTable").await;
    let order = OrderId::parse(order).unwrap();
    let mut pay = PostingRequest::new(
        PostingId::pay_order(&order),
        member.clone(),
        at,
        vec![Op::Earn {
            source: Source::Pay,
            points: Points::new(points),
        }],
    );
    pay.growth = Some(GrowthEntry {
        month: at.month(),
        fen: Fen::new(fen),
        thresholds: Some(TierThresholds::default()),
    });
    DynamoLedger::new(client, table).post(&pay).await.unwrap();
}

/// Moves the devstack clock forward (never back) to the next `hour`:00 business time, and
/// answers it.
pub async fn next_hour_of_day(hour: u32) -> BusinessTime {
    const DAY_MS: i64 = 86_400_000;
    let now = clock().await;
    // Beijing time is UTC+8 all year.
    let of_day = (now.epoch_ms() + 8 * 3_600_000).rem_euclid(DAY_MS);
    let ahead = (i64::from(hour) * 3_600_000 - of_day).rem_euclid(DAY_MS);
    let at = now.plus_ms(ahead);
    set_clock(at).await;
    at
}
