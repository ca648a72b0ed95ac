//! Tiers in `store::ledger` against DynamoDB Local: the posting whose growth crosses a threshold
//! upgrades in its own transaction and records the change; a refund lowers growth but never the
//! tier; the monthly review downgrades once; a concurrent posting and review both land.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{client, ledger_table, new_member};
use linli::ids::{MemberId, OrderId, PostingId, RefundId};
use linli::ledger::{GrowthEntry, Op, PostingRequest, Source, TierReason};
use linli::money::{Fen, Points};
use linli::rules::earning::{Tier, TierThresholds};
use linli::store::ledger::{current_tier, DynamoLedger, LedgerStore, Reviewed, Standings};
use linli::time::Month;

fn month(text: &str) -> Month {
    text.parse().unwrap()
}

/// A payment of `fen` goods in `m` (earning 1 point per yuan), with the default thresholds.
fn payment(member: &MemberId, order: &str, m: &str, fen: i64) -> PostingRequest {
    let order = OrderId::parse(order).unwrap();
    let mut request = PostingRequest::new(
        PostingId::pay_order(&order),
        member.clone(),
        month(m).start().plus_ms(36_000_000),
        vec![Op::Earn {
            source: Source::Pay,
            points: Points::new(fen / 100),
        }],
    );
    request.growth = Some(GrowthEntry {
        month: month(m),
        fen: Fen::new(fen),
        thresholds: Some(TierThresholds::default()),
    });
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_of_spend_upgrades_on_the_crossing_posting_and_the_review_downgrades_once() {
    let client = client();
    let table = ledger_table(&client, "tiers").await;
    let ledger = DynamoLedger::new(client, table);
    let member = new_member();
    ledger
        .open(&member, month("2026-01").start())
        .await
        .unwrap();

    // ¥1,800 a month: 银卡 with March's payment, 金卡 with December's.
    for n in 1..=12 {
        let request = payment(
            &member,
            &format!("O-{n:02}"),
            &format!("2026-{n:02}"),
            180_000,
        );
        ledger.post(&request).await.unwrap();
        // A retry of the same payment changes nothing (growth is counted once).
        assert!(ledger.post(&request).await.unwrap().outcome.replayed);
    }
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(profile.standing.tier, Tier::Gold);
    assert_eq!(
        profile.standing.growth.rolling(month("2026-12")),
        Fen::new(2_160_000)
    );
    assert_eq!(current_tier(&ledger, &member).await.unwrap(), Tier::Gold);
    let changes = ledger.tier_changes(&member, 10).await.unwrap();
    let seen: Vec<_> = changes.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        seen,
        [(Tier::Silver, Tier::Gold), (Tier::Regular, Tier::Silver)],
        "newest first"
    );
    assert_eq!(
        changes[1].reason,
        TierReason::Upgrade {
            posting: PostingId::parse("pay:order:O-03").unwrap()
        }
    );

    // December's order refunded: growth falls under 金卡; the tier waits for the review.
    let refund = RefundId::parse("O-12-M").unwrap();
    let mut claw = PostingRequest::new(
        PostingId::claw_refund(&refund),
        member.clone(),
        month("2026-12").start().plus_ms(100_000_000),
        vec![Op::Clawback {
            points: Points::new(1_800),
        }],
    );
    claw.growth = Some(GrowthEntry {
        month: month("2026-12"),
        fen: Fen::new(-180_000),
        thresholds: None,
    });
    ledger.post(&claw).await.unwrap();
    assert_eq!(current_tier(&ledger, &member).await.unwrap(), Tier::Gold);

    let t = TierThresholds::default();
    let january = month("2027-01");
    let reviewed = ledger
        .review_tier(&member, january, &t, january.start())
        .await
        .unwrap();
    let Reviewed::Changed(change) = reviewed else {
        panic!("the January review downgrades: {reviewed:?}");
    };
    assert_eq!((change.from, change.to), (Tier::Gold, Tier::Silver));
    assert_eq!(
        ledger
            .review_tier(&member, january, &t, january.start())
            .await
            .unwrap(),
        Reviewed::AlreadyDone,
        "once per month"
    );
    assert_eq!(current_tier(&ledger, &member).await.unwrap(), Tier::Silver);
    assert_eq!(ledger.tier_changes(&member, 1).await.unwrap()[0], change);

    // A posting after the review still applies (the review moved the version).
    let later = payment(&member, "O-13", "2027-01", 10_000);
    let posted = ledger.post(&later).await.unwrap();
    assert_eq!(posted.attempts, 1);
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(profile.standing.reviewed, Some(january));
    assert_eq!(profile.available, Points::new(12 * 1_800 - 1_800 + 100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_and_postings_racing_on_one_profile_all_land() {
    let client = client();
    let table = ledger_table(&client, "tier-race").await;
    let ledger = std::sync::Arc::new(DynamoLedger::new(client, table));
    let member = new_member();
    ledger
        .open(&member, month("2026-01").start())
        .await
        .unwrap();
    let big = payment(&member, "O-BIG", "2026-01", 2_100_000);
    ledger.post(&big).await.unwrap();
    let t = TierThresholds::default();
    let review = {
        let (ledger, member) = (ledger.clone(), member.clone());
        tokio::spawn(async move {
            let march = month("2026-03");
            ledger.review_tier(&member, march, &t, march.start()).await
        })
    };
    let mut posts = vec![];
    for n in 0..6 {
        let (ledger, request) = (
            ledger.clone(),
            payment(&member, &format!("O-R{n}"), "2026-03", 10_000),
        );
        posts.push(tokio::spawn(async move { ledger.post(&request).await }));
    }
    assert_eq!(review.await.unwrap().unwrap(), Reviewed::Kept, "金卡 stays");
    for post in posts {
        post.await.unwrap().unwrap();
    }
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(profile.standing.tier, Tier::Gold);
    assert_eq!(profile.standing.reviewed, Some(month("2026-03")));
    assert_eq!(
        profile.standing.growth.rolling(month("2026-03")),
        Fen::new(2_160_000),
        "every payment's growth counted once"
    );
}
