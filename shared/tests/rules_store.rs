//! `store::rules` against DynamoDB Local: the defaults until a version is activated, versions
//! numbered once (of two operators who read the same version, only the first activates), the
//! history newest first, and the version in force at a payment's time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{at, client, config_table, NOW_MS};
use linli::rules::earning::EarnRules;
use linli::store::rules::{history, in_force_at, Activated, DynamoRules, RulesStore};

const HOUR_MS: i64 = 3_600_000;

fn with_gold(bp: i64) -> EarnRules {
    let mut rules = EarnRules::default();
    rules.tiers.gold = bp;
    rules.tiers.diamond = rules.tiers.diamond.max(bp);
    rules
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_activate_once_in_order_and_the_one_in_force_at_a_time_is_found() {
    let client = client();
    let table = config_table(&client, "rules").await;
    let store = DynamoRules::new(client, table);

    let defaults = store.current().await.unwrap();
    assert_eq!(defaults.version, 0);
    assert_eq!(defaults.earn, EarnRules::default());

    let first = with_gold(16_000);
    assert_eq!(
        store
            .activate(&first, 0, "alice", "金卡 ×1.6 for Double 11", at(NOW_MS))
            .await
            .unwrap(),
        Activated::Now(1)
    );
    // Bob read version 0 too: his activation is refused and writes nothing.
    assert_eq!(
        store
            .activate(&with_gold(17_000), 0, "bob", "late", at(NOW_MS + 1))
            .await
            .unwrap(),
        Activated::Moved
    );
    let current = store.current().await.unwrap();
    assert_eq!((current.version, current.operator.as_str()), (1, "alice"));
    assert_eq!(current.earn.tiers.gold, 16_000);
    assert_eq!(current.earn.version, 1, "the rules know their version");

    let second = with_gold(15_000);
    assert_eq!(
        store
            .activate(
                &second,
                1,
                "carol",
                "back to normal",
                at(NOW_MS + 2 * HOUR_MS)
            )
            .await
            .unwrap(),
        Activated::Now(2)
    );
    let versions: Vec<u32> = history(&store, 10)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [2, 1, 0]);
    assert_eq!(history(&store, 2).await.unwrap().len(), 2);

    // A payment's time picks the version in force then (a redrive the next day included).
    for (ms, version) in [
        (NOW_MS - 1, 0),
        (NOW_MS, 1),
        (NOW_MS + HOUR_MS, 1),
        (NOW_MS + 3 * HOUR_MS, 2),
    ] {
        assert_eq!(
            in_force_at(&store, at(ms)).await.unwrap().version,
            version,
            "at +{}ms",
            ms - NOW_MS
        );
    }
    assert_eq!(
        store.version(1).await.unwrap().unwrap().earn.tiers.gold,
        16_000
    );
    assert!(store.version(9).await.unwrap().is_none());
}
