//! The Dedup store against DynamoDB Local: a message is handled once, its retries get the stored
//! reply, a claim left by a crash goes stale, and an expired item counts as absent (TTL is lazy).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{at, client, dedup_table, NOW_MS};
use linli::store::dedup::{Claim, DedupStore, DynamoDedup, STALE_MS};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[tokio::test]
async fn a_message_is_handled_once_and_its_retries_get_the_stored_reply() {
    let client = client();
    let dedup = DynamoDedup::new(client.clone(), dedup_table(&client, "once").await);
    let key = format!("oa#{}", fastrand::u64(..));
    assert_eq!(
        dedup.claim(&key, at(NOW_MS), DAY_MS).await.unwrap(),
        Claim::Fresh
    );
    // A duplicate 3 s later while the first is still running (within its 4.3 s reply budget):
    // hold on. (WeChat's own resend comes at 5 s, after the budget: see the stale test.)
    assert_eq!(
        dedup.claim(&key, at(NOW_MS + 3_000), DAY_MS).await.unwrap(),
        Claim::InProgress
    );
    dedup.complete(&key, "<xml>签到成功</xml>").await.unwrap();
    assert_eq!(
        dedup.claim(&key, at(NOW_MS + 6_000), DAY_MS).await.unwrap(),
        Claim::Done("<xml>签到成功</xml>".into())
    );
    // Concurrent first deliveries: exactly one is fresh.
    let other = format!("oa#{}", fastrand::u64(..));
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (dedup, other) = (dedup.clone(), other.clone());
        racing.spawn(async move { dedup.claim(&other, at(NOW_MS), DAY_MS).await.unwrap() });
    }
    let claims = racing.join_all().await;
    assert_eq!(
        claims.iter().filter(|c| **c == Claim::Fresh).count(),
        1,
        "{claims:?}"
    );
}

#[tokio::test]
async fn a_crashed_claim_goes_stale_and_an_expired_one_counts_as_absent() {
    let client = client();
    let dedup = DynamoDedup::new(client.clone(), dedup_table(&client, "stale").await);
    let key = format!("oa#{}", fastrand::u64(..));
    assert_eq!(
        dedup.claim(&key, at(NOW_MS), DAY_MS).await.unwrap(),
        Claim::Fresh
    );
    // Nobody completed it (the function died): after STALE_MS it can be taken again, so WeChat's
    // resend 5 s after the first attempt is handled rather than answered "no reply".
    const { assert!(STALE_MS <= 5_000) };
    assert_eq!(
        dedup
            .claim(&key, at(NOW_MS + STALE_MS), DAY_MS)
            .await
            .unwrap(),
        Claim::Fresh
    );
    dedup.complete(&key, "reply").await.unwrap();
    // A day later the item has expired, whether or not TTL has deleted it yet.
    assert_eq!(
        dedup
            .claim(&key, at(NOW_MS + DAY_MS + STALE_MS + 1_000), DAY_MS)
            .await
            .unwrap(),
        Claim::Fresh
    );
}
