//! `store::compensations` against DynamoDB Local: compensation grants for many deliveries of
//! one member, each asked for one to three times at once (repeated messages, a redispatch), are
//! posted once per delivery, never past the day's cap (checked inside each posting's
//! transaction), and the ledger audit stays balanced.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{at, client, ledger_table, new_member, postings, NOW_MS};
use linli::ids::{OrderId, PostingId};
use linli::ledger::audit;
use linli::rules::compensation::CompensationPolicy;
use linli::store::compensations::{grant, Granted};
use linli::store::ledger::{DynamoLedger, LedgerStore};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_once_per_delivery_and_within_the_caps_under_concurrency() {
    let client = client();
    let table = ledger_table(&client, "compensations").await;
    let ledger = DynamoLedger::new(client.clone(), table.clone());
    let member = new_member();
    let now = at(NOW_MS);
    ledger.open(&member, now).await.unwrap();
    let policy = CompensationPolicy::default();
    let mut rng = fastrand::Rng::with_seed(10);
    let orders: Vec<OrderId> = (0..12)
        .map(|i| OrderId::parse(&format!("O-COMP-{i}")).unwrap())
        .collect();
    let mut asks = Vec::new();
    for order in &orders {
        for _ in 0..rng.usize(1..=3) {
            asks.push(order.clone());
        }
    }
    rng.shuffle(&mut asks);
    let results = all_at_once(&ledger, &member, &asks, &policy, now).await;
    let posted: i64 = results
        .iter()
        .map(|r| match r {
            Granted::Posted { points } => *points,
            _ => 0,
        })
        .sum();
    assert_eq!(
        posted, policy.day_cap,
        "the day's room, and not a point more"
    );
    let recorded = postings(&client, &table, &member).await;
    let comps: Vec<_> = recorded
        .iter()
        .filter(|p| p.request.id.as_str().starts_with("comp:order:"))
        .collect();
    let mut ids: Vec<&str> = comps.iter().map(|p| p.request.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), comps.len(), "one posting per delivery");
    assert_eq!(
        comps.len(),
        5,
        "four whole grants and the rest of the day's room"
    );
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(profile.available.value(), policy.day_cap);
    let report = audit([&profile], &recorded);
    assert!(report.is_clean(), "{:?}", report.violations);
    // The next day has room again, within the month's.
    let tomorrow = at(NOW_MS + DAY_MS);
    let late = OrderId::parse("O-COMP-NEXT").unwrap();
    let id = PostingId::comp_order(&late);
    let next = grant(&ledger, &member, &id, 1_300, &policy, tomorrow, "迟到").await;
    assert_eq!(next.unwrap(), Granted::Posted { points: 1_300 });
}

/// Runs every ask at once; answers each result.
async fn all_at_once(
    ledger: &DynamoLedger,
    member: &linli::ids::MemberId,
    asks: &[OrderId],
    policy: &CompensationPolicy,
    now: linli::time::BusinessTime,
) -> Vec<Granted> {
    let mut tasks = Vec::new();
    for order in asks {
        let (ledger, member, policy) = (ledger.clone(), member.clone(), policy.clone());
        let id = PostingId::comp_order(order);
        tasks.push(tokio::spawn(async move {
            grant(&ledger, &member, &id, 600, &policy, now, "配送迟到 25 分钟").await
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap().unwrap());
    }
    results
}
