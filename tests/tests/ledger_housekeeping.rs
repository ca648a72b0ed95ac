//! The ledger's housekeeping through the stack: `ExpireLots` fired twice after the clock passes a
//! lot's expiry expires it once and keeps the lot not yet due; the nightly `Audit` then finds the
//! ledger clean; `VoidExpiredHolds` voids a hold once it has expired and only then (holds are
//! posted straight to the table: the API takes them with issue 9); `TierReview` downgrades a
//! member whose year of spend fell below the tier, once.
//! Moves the stack clock more than a year ahead; the tests after it take their times from it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::ids::{MemberId, OrderId, PostingId};
use linli::ledger::{lot_expired_from, Op, PostingRequest, Source};
use linli::money::Points;
use linli::rules::earning::Tier;
use linli::store::ledger::item::{profile_key, HOLD_DUE, HOLD_SHARD};
use linli::store::ledger::{current_tier, DynamoLedger, LedgerStore};
use linli::time::BusinessTime;
use linli_e2e::{
    advance, call, clock, fire, fire_until_done, forget_checkpoints, login, post_payment,
    set_clock, stack_table, tag,
};

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

async fn ledger() -> DynamoLedger {
    let (client, table) = stack_table("LedgerTable").await;
    DynamoLedger::new(client, table)
}

/// A sign-in's points, posted as the Official Account posts them, at `at`.
async fn sign_in(ledger: &DynamoLedger, member: &MemberId, at: BusinessTime, points: i64) {
    let request = PostingRequest::new(
        PostingId::sign_in(member, at.date()),
        member.clone(),
        at,
        vec![Op::Earn {
            source: Source::SignIn,
            points: Points::new(points),
        }],
    );
    ledger.post(&request).await.unwrap();
}

#[tokio::test]
async fn a_due_lot_expires_once_however_often_expire_lots_runs_and_the_audit_is_clean() {
    let tag = tag();
    let code = format!("test:o-{tag}:u-{tag}");
    let (_, member) = login(&code).await;
    let member = MemberId::parse(&member).unwrap();
    let ledger = ledger().await;

    // 5 points earned this month, 7 the next.
    let start = clock().await;
    let earned = start.month();
    sign_in(&ledger, &member, start, 5).await;
    let next = earned.plus(1).start().plus_ms(HOUR);
    set_clock(next).await;
    sign_in(&ledger, &member, next, 7).await;

    // The first lot has expired from the start of month +13; the second not before +14.
    let expiry = lot_expired_from(earned);
    assert!(expiry < lot_expired_from(next.month()));
    set_clock(expiry.plus_ms(HOUR)).await;
    forget_checkpoints("ExpireLots").await;
    let first = fire_until_done("ExpireLots").await;
    assert_eq!(first[0]["month"], expiry.month().to_string(), "{first:?}");
    let expired: u64 = first.iter().map(|r| r["expired"].as_u64().unwrap()).sum();
    assert!(expired >= 1, "{first:?}");
    // Fired again: the month's pass is done; nothing more is expired.
    let (status, again) = fire("HousekeepingFunction", "ExpireLots").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["expired"].as_u64(), again["pass_done"].as_bool()),
        (Some(0), Some(true))
    );

    let id = PostingId::expire(&member, earned);
    let expiry_posting = ledger.posting(&member, &id).await.unwrap().unwrap();
    assert_eq!(expiry_posting.result.available_delta, Points::new(-5));
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(
        profile.available,
        Points::new(7),
        "the lot not yet due is kept"
    );
    assert_eq!(profile.lots.get(earned), Points::ZERO);
    assert_eq!(profile.lots.get(next.month()), Points::new(7));
    let (token, again_member) = login(&code).await; // a year on, the session has expired
    assert_eq!(again_member, member.to_string());
    let (status, me) = call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["available"], 7);
    let kinds: Vec<&str> = me["postings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "expire").count(), 1, "{me}");

    // The nightly audit over every member of the stack: balanced, with this member in it.
    forget_checkpoints("Audit").await;
    let audit = fire_until_done("Audit").await;
    let last = audit.last().unwrap();
    println!("Audit: {last}");
    assert_eq!(last["pass"]["violations"], 0, "{audit:?}");
    assert!(
        last["pass"]["tally"]["members"].as_u64().unwrap() >= 1,
        "{last}"
    );
    assert!(
        last["pass"]["tally"]["system"]["breakage"]
            .as_i64()
            .unwrap()
            >= 5,
        "{last}"
    );
    let (status, repeat) = fire("HousekeepingFunction", "Audit").await;
    assert_eq!(status, 200, "{repeat}");
    assert_eq!(
        repeat["published"], false,
        "the day's result is published once"
    );
    assert_eq!(repeat["pass"], last["pass"]);
}

#[tokio::test]
async fn void_expired_holds_voids_a_hold_once_it_has_expired_and_keeps_the_others() {
    let tag = tag();
    let (_, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let member = MemberId::parse(&member).unwrap();
    let ledger = ledger().await;
    let now = clock().await;
    sign_in(&ledger, &member, now, 50).await;
    let hold = |order: &OrderId, points: i64, expires_at: BusinessTime| {
        PostingRequest::new(
            PostingId::hold_order(order),
            member.clone(),
            now,
            vec![Op::Hold {
                order: order.clone(),
                points: Points::new(points),
                expires_at,
            }],
        )
    };
    let (soon, later) = (
        OrderId::parse(&format!("O-{tag}-SOON")).unwrap(),
        OrderId::parse(&format!("O-{tag}-LATER")).unwrap(),
    );
    ledger
        .post(&hold(&soon, 20, now.plus_ms(15 * MINUTE)))
        .await
        .unwrap();
    ledger
        .post(&hold(&later, 10, now.plus_ms(45 * MINUTE)))
        .await
        .unwrap();

    let void_of = |order: &OrderId| PostingId::void_order(order);
    let (status, summary) = fire("HousekeepingFunction", "VoidExpiredHolds").await;
    assert_eq!(status, 200, "{summary}");
    assert!(
        ledger
            .posting(&member, &void_of(&soon))
            .await
            .unwrap()
            .is_none(),
        "not yet"
    );

    advance("20m").await;
    for _ in 0..2 {
        let (status, summary) = fire("HousekeepingFunction", "VoidExpiredHolds").await;
        assert_eq!(status, 200, "{summary}");
    }
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(
        (profile.available, profile.held),
        (Points::new(40), Points::new(10))
    );
    assert!(profile.holds.contains_key(&later) && !profile.holds.contains_key(&soon));
    let voided = ledger
        .posting(&member, &void_of(&soon))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(voided.result.available_delta, Points::new(20));
    assert!(ledger
        .posting(&member, &void_of(&later))
        .await
        .unwrap()
        .is_none());

    advance("30m").await;
    let (status, summary) = fire("HousekeepingFunction", "VoidExpiredHolds").await;
    assert_eq!(status, 200, "{summary}");
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(
        (profile.available, profile.held),
        (Points::new(50), Points::ZERO)
    );
    // With no hold open, the profile has left the hold index.
    let (client, table) = stack_table("LedgerTable").await;
    let item = client
        .get_item()
        .table_name(table)
        .set_key(Some(profile_key(&member)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!item.contains_key(HOLD_SHARD) && !item.contains_key(HOLD_DUE));
}

/// `TierReview` through the stack: a member made 银卡 by a ¥6,000 payment is 普卡 again at the
/// first review whose 12 whole months no longer hold that payment; the change is recorded with
/// its reason, a second run changes nothing, and `GET /api/me/tier` shows both changes.
#[tokio::test]
async fn the_monthly_review_downgrades_once_when_the_years_spend_falls_below_the_tier() {
    let tag = tag();
    let code = format!("test:o-{tag}:u-{tag}");
    let (_, member) = login(&code).await;
    let member = MemberId::parse(&member).unwrap();
    let ledger = ledger().await;
    let start = clock().await;
    post_payment(&member, &format!("O-tier-{tag}"), start, 6_000, 600_000).await;
    assert_eq!(current_tier(&ledger, &member).await.unwrap(), Tier::Silver);

    // Thirteen months on, the review counts the 12 whole months before: the payment left them.
    let review_month = start.month().plus(13);
    set_clock(review_month.start().plus_ms(HOUR)).await;
    forget_checkpoints("TierReview").await;
    let runs = fire_until_done("TierReview").await;
    assert_eq!(runs[0]["month"], review_month.to_string(), "{runs:?}");
    let changed: u64 = runs.iter().map(|r| r["changed"].as_u64().unwrap()).sum();
    assert!(changed >= 1, "{runs:?}");
    assert_eq!(current_tier(&ledger, &member).await.unwrap(), Tier::Regular);
    let (status, again) = fire("HousekeepingFunction", "TierReview").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["changed"].as_u64(), again["pass_done"].as_bool()),
        (Some(0), Some(true))
    );

    let (token, _) = login(&code).await;
    let (status, tier) = call("GET", "/api/me/tier", Some(&token), None).await;
    assert_eq!(status, 200, "{tier}");
    assert_eq!(
        (tier["tier"].as_str(), tier["growth_fen"].as_i64()),
        (Some("regular"), Some(0))
    );
    let changes = tier["changes"].as_array().unwrap();
    let moves: Vec<_> = changes
        .iter()
        .map(|c| (c["from"].as_str(), c["to"].as_str()))
        .collect();
    assert_eq!(
        moves,
        [
            (Some("silver"), Some("regular")),
            (Some("regular"), Some("silver"))
        ]
    );
    assert_eq!(changes[0]["reason"], format!("{review_month} 月度等级复核"));
}
