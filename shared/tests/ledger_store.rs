//! `store::ledger` against DynamoDB Local: exactly-once postings under concurrency, the precise
//! errors, the history index and the WRU each posting costs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use common::{at, client, ledger_table, new_member, postings, NOW_MS};
use linli::ids::{Identity, MemberId, OpenId, OrderId, PostingId, RefundId, TicketId};
use linli::ledger::{audit, LedgerError, Op, PostingRequest, Source, Usage};
use linli::money::Points;
use linli::store::ledger::item::{
    new_profile_item, posting_item, updated_profile_item, HISTORY_KEYS, HISTORY_PROJECTION,
};
use linli::store::ledger::{DynamoLedger, HistoryCursor, LedgerStore, Posted};
use linli::store::members::{DynamoMembers, Members};
use linli::store::wru::{item_size, lsi_entry_size, write_units};
use linli::store::StoreError;
use std::sync::Arc;

const HOUR: i64 = 3_600_000;

fn earn(source: Source, points: i64) -> Op {
    Op::Earn {
        source,
        points: Points::new(points),
    }
}

fn adjust(member: &MemberId, ticket: &str, ops: Vec<Op>) -> PostingRequest {
    let id = PostingId::adjust(&TicketId::parse(ticket).unwrap());
    PostingRequest::new(id, member.clone(), at(NOW_MS), ops)
}

async fn ledger(test: &str) -> (aws_sdk_dynamodb::Client, String, Arc<DynamoLedger>) {
    let client = client();
    let table = ledger_table(&client, test).await;
    let ledger = Arc::new(DynamoLedger::new(client.clone(), table.clone()));
    (client, table, ledger)
}

async fn member_with(ledger: &DynamoLedger, points: i64) -> MemberId {
    let member = new_member();
    assert!(ledger.open(&member, at(NOW_MS)).await.unwrap());
    if points > 0 {
        let request = adjust(&member, "T-SEED", vec![earn(Source::Adjust, points)]);
        ledger.post(&request).await.unwrap();
    }
    member
}

fn ledger_error(result: Result<Posted, StoreError>) -> LedgerError {
    match result {
        Err(StoreError::Ledger(e)) => e,
        other => panic!("expected a ledger error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_posting_twenty_times_at_once_has_one_effect_and_twenty_equal_answers() {
    let (client, table, ledger) = ledger("same20").await;
    let member = member_with(&ledger, 0).await;
    let request = PostingRequest::new(
        PostingId::sign_in(&member, at(NOW_MS).date()),
        member.clone(),
        at(NOW_MS),
        vec![earn(Source::SignIn, 5)],
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (ledger, request) = (ledger.clone(), request.clone());
            tokio::spawn(async move { ledger.post(&request).await })
        })
        .collect();
    let mut answers = vec![];
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    let fresh = answers.iter().filter(|a| !a.outcome.replayed).count();
    assert_eq!(fresh, 1, "exactly one delivery wrote the posting");
    let first = &answers[0].outcome.result;
    assert!(answers.iter().all(|a| &a.outcome.result == first));
    assert_eq!(first.available, Points::new(5));

    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(profile.available, Points::new(5));
    assert_eq!(profile.version, 1);
    let recorded = postings(&client, &table, &member).await;
    assert_eq!(recorded.len(), 1);
    let report = audit([&profile], &recorded);
    assert!(report.is_clean(), "{:?}", report.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_different_postings_on_one_member_at_once_are_all_applied() {
    let (client, table, ledger) = ledger("fifty").await;
    let member = member_with(&ledger, 0).await;
    let tasks: Vec<_> = (1..=50)
        .map(|n| {
            let ledger = ledger.clone();
            let request = adjust(&member, &format!("T{n}"), vec![earn(Source::Adjust, n)]);
            tokio::spawn(async move { ledger.post(&request).await })
        })
        .collect();
    let mut attempts = vec![];
    for task in tasks {
        let posted = task.await.unwrap().unwrap();
        assert!(!posted.outcome.replayed);
        attempts.push(posted.attempts);
    }
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(profile.available, Points::new((1..=50).sum()), "none lost");
    assert_eq!(profile.version, 50);
    let recorded = postings(&client, &table, &member).await;
    assert_eq!(recorded.len(), 50);
    let report = audit([&profile], &recorded);
    assert!(report.is_clean(), "{:?}", report.violations);
    let retried = attempts.iter().filter(|a| **a > 1).count();
    println!(
        "50 concurrent postings: {retried} re-decided or retried, at most {} attempts",
        attempts.iter().max().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_id_with_different_content_is_refused_and_changes_nothing() {
    let (_, _, ledger) = ledger("reused").await;
    let member = member_with(&ledger, 0).await;
    let first = adjust(&member, "T1", vec![earn(Source::Adjust, 10)]);
    ledger.post(&first).await.unwrap();
    let other = adjust(&member, "T1", vec![earn(Source::Adjust, 11)]);
    let error = ledger_error(ledger.post(&other).await);
    assert_eq!(
        error,
        LedgerError::IdReusedWithDifferentContent(other.id.clone())
    );
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!((profile.available, profile.version), (Points::new(10), 1));
    // The true repeat still gets its stored answer.
    let again = ledger.post(&first).await.unwrap();
    assert!(again.outcome.replayed);
    assert_eq!(again.outcome.result.available, Points::new(10));
    assert_eq!(again.cost.total(), 0, "a replay writes nothing");
}

fn hold(member: &MemberId, order: &OrderId, points: i64) -> PostingRequest {
    let op = Op::Hold {
        order: order.clone(),
        points: Points::new(points),
        expires_at: at(NOW_MS + HOUR),
    };
    PostingRequest::new(
        PostingId::hold_order(order),
        member.clone(),
        at(NOW_MS),
        vec![op],
    )
}

fn capture(member: &MemberId, order: &OrderId, earned: i64) -> PostingRequest {
    let ops = vec![
        Op::Capture {
            order: order.clone(),
            usage: Usage::DeliveryFee,
        },
        earn(Source::Pay, earned),
    ];
    PostingRequest::new(
        PostingId::pay_order(order),
        member.clone(),
        at(NOW_MS + 60_000),
        ops,
    )
}

fn void(member: &MemberId, order: &OrderId) -> PostingRequest {
    let op = Op::Void {
        order: order.clone(),
    };
    PostingRequest::new(
        PostingId::void_order(order),
        member.clone(),
        at(NOW_MS + HOUR),
        vec![op],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_is_captured_or_voided_once_and_the_other_is_a_precise_error() {
    let (client, table, ledger) = ledger("holds").await;
    let member = member_with(&ledger, 120).await;

    let paid = OrderId::parse("O-PAID").unwrap();
    ledger.post(&hold(&member, &paid, 50)).await.unwrap();
    let captured = ledger.post(&capture(&member, &paid, 88)).await.unwrap();
    assert_eq!(captured.outcome.result.available, Points::new(70 + 88));
    assert_eq!(captured.outcome.result.held, Points::ZERO);
    // WeChat repeats the notify: the capture's stored answer, even though the hold is closed now.
    let repeat = ledger.post(&capture(&member, &paid, 88)).await.unwrap();
    assert!(repeat.outcome.replayed);
    assert_eq!(repeat.outcome.result, captured.outcome.result);
    let error = ledger_error(ledger.post(&void(&member, &paid)).await);
    assert_eq!(error, LedgerError::VoidAfterCapture(paid.clone()));

    let abandoned = OrderId::parse("O-ABANDONED").unwrap();
    ledger.post(&hold(&member, &abandoned, 50)).await.unwrap();
    let voided = ledger.post(&void(&member, &abandoned)).await.unwrap();
    assert_eq!(voided.outcome.result.available, Points::new(158));
    let error = ledger_error(ledger.post(&capture(&member, &abandoned, 10)).await);
    assert_eq!(error, LedgerError::CaptureAfterVoid(abandoned));

    let profile = ledger.profile(&member).await.unwrap().unwrap();
    let recorded = postings(&client, &table, &member).await;
    assert_eq!(recorded.len(), 5, "seed, hold, capture, hold, void");
    let report = audit([&profile], &recorded);
    assert!(report.is_clean(), "{:?}", report.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_refusals_write_nothing_and_unknown_members_are_refused() {
    let (_, _, ledger) = ledger("refusals").await;
    let member = member_with(&ledger, 30).await;
    let spend = adjust(
        &member,
        "T-SPEND",
        vec![Op::Redeem {
            usage: Usage::Goods,
            points: Points::new(31),
        }],
    );
    let error = ledger_error(ledger.post(&spend).await);
    assert_eq!(
        error,
        LedgerError::InsufficientPoints {
            available: Points::new(30),
            wanted: Points::new(31)
        }
    );
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!((profile.available, profile.version), (Points::new(30), 1));

    let stranger = new_member();
    let error = ledger_error(
        ledger
            .post(&adjust(&stranger, "T1", vec![earn(Source::Adjust, 1)]))
            .await,
    );
    assert_eq!(error, LedgerError::UnknownMember);
    assert!(
        !ledger.open(&member, at(NOW_MS)).await.unwrap(),
        "open is idempotent"
    );
    assert_eq!(ledger.profile(&member).await.unwrap().unwrap(), profile);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clawback_beyond_available_becomes_debt_repaid_by_the_next_earning() {
    let (client, table, ledger) = ledger("debt").await;
    let member = member_with(&ledger, 40).await;
    let claw = PostingRequest::new(
        PostingId::claw_refund(&RefundId::parse("R1").unwrap()),
        member.clone(),
        at(NOW_MS),
        vec![Op::Clawback {
            points: Points::new(100),
        }],
    );
    let clawed = ledger.post(&claw).await.unwrap().outcome.result;
    assert_eq!(
        (clawed.available, clawed.debt),
        (Points::ZERO, Points::new(60))
    );
    let earned = ledger
        .post(&capture_free_earn(&member, 75))
        .await
        .unwrap()
        .outcome
        .result;
    assert_eq!(
        (earned.available, earned.debt),
        (Points::new(15), Points::ZERO)
    );
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    let report = audit([&profile], &postings(&client, &table, &member).await);
    assert!(report.is_clean(), "{:?}", report.violations);
}

fn capture_free_earn(member: &MemberId, points: i64) -> PostingRequest {
    let order = OrderId::parse("O-LATER").unwrap();
    PostingRequest::new(
        PostingId::pay_order(&order),
        member.clone(),
        at(NOW_MS + HOUR),
        vec![earn(Source::Pay, points)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_postings_newest_first_from_the_index() {
    let (_, _, ledger) = ledger("history").await;
    let member = member_with(&ledger, 0).await;
    for day in 0..5 {
        let when = at(NOW_MS + day * 24 * HOUR);
        let request = PostingRequest::new(
            PostingId::sign_in(&member, when.date()),
            member.clone(),
            when,
            vec![earn(Source::SignIn, 5)],
        );
        ledger.post(&request).await.unwrap();
    }
    let page = ledger.history(&member, None, 3).await.unwrap();
    let lines = &page.lines;
    assert_eq!(lines.len(), 3);
    assert!(lines.windows(2).all(|w| w[0].at > w[1].at));
    assert_eq!(lines[0].kind, "signin");
    assert_eq!(lines[0].delta, Points::new(5));
    let cursor = page.next.clone().expect("more pages");
    assert_eq!(cursor, HistoryCursor::of(&lines[2]));
    let decoded = HistoryCursor::decode(&cursor.encode()).unwrap();
    let older = ledger.history(&member, Some(&decoded), 10).await.unwrap();
    assert_eq!(older.lines.len(), 2);
    assert!(older.lines[0].at < lines[2].at);
    assert_eq!(older.next, None, "the last page says so");
}

/// DESIGN §4: a posting costs about 6 WRU — the posting, its history-index entry and the
/// profile, each counted twice inside a transaction. DynamoDB Local's figures for transactions
/// are not faithful, so the calculator's per-item figures are checked against single-item
/// writes of the same items, whose consumed capacity DynamoDB Local reports per table and index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posting_costs_six_wru_and_the_calculator_agrees_with_single_item_writes() {
    let (client, table, ledger) = ledger("wru").await;
    let member = member_with(&ledger, 60).await;
    let order = OrderId::parse("O-20251125-0001").unwrap();
    ledger.post(&hold(&member, &order, 50)).await.unwrap();
    let posted = ledger.post(&capture(&member, &order, 128)).await.unwrap();
    println!(
        "WRU per posting (pay:order, capture + earn): {}",
        posted.cost
    );
    // Closing the member's last hold also takes the profile out of the hold index (a standard
    // delete of its keys-only entry); the posting's own transaction is the 6 WRU.
    assert_eq!(posted.cost.units_of("hold index"), 1, "{}", posted.cost);
    assert_eq!(posted.cost.total(), 6 + 1, "{}", posted.cost);
    let plain = adjust(&member, "T-NO-HOLDS", vec![earn(Source::Adjust, 5)]);
    let plain = ledger.post(&plain).await.unwrap();
    println!(
        "WRU per posting without holds (adjust, earn): {}",
        plain.cost
    );
    assert_eq!(plain.cost.total(), 6, "{}", plain.cost);

    // Cross-check: the same posting item written alone under another id.
    let mut posting = ledger_posting(&client, &table, &member, &PostingId::pay_order(&order)).await;
    posting.request.id = PostingId::pay_order(&OrderId::parse("O-CROSS-CHECK").unwrap());
    let item = posting_item(&posting).unwrap();
    let (table_units, index_units) = put_alone(&client, &table, item.clone()).await;
    let posting_units = write_units(item_size(&item));
    let index_entry = lsi_entry_size(&item, &HISTORY_KEYS, &HISTORY_PROJECTION);
    println!(
        "cross-check: posting item {} B → {posting_units} WRU (DynamoDB Local {table_units}); index entry {index_entry} B → {} WRU (DynamoDB Local {index_units})",
        item_size(&item),
        write_units(index_entry)
    );
    assert_eq!(f64::from(posting_units), table_units);
    assert_eq!(f64::from(write_units(index_entry)), index_units);

    // The byte counts themselves: padded to exactly 1024 bytes an item costs 1 WRU, one byte
    // more costs 2, for the item and for its index entry alike.
    for (target, expected) in [(1024, 1.0), (1025, 2.0)] {
        let mut padded = item.clone();
        padded.insert(
            "sk".into(),
            AttributeValue::S(format!("POSTING#pad-{target}")),
        );
        padded.insert("pad".into(), AttributeValue::S(String::new()));
        let missing = target - item_size(&padded);
        padded.insert("pad".into(), AttributeValue::S("x".repeat(missing)));
        assert_eq!(item_size(&padded), target);
        let mut index_padded = item.clone();
        index_padded.insert(
            "sk".into(),
            AttributeValue::S(format!("POSTING#ipad-{target}")),
        );
        let entry = lsi_entry_size(&index_padded, &HISTORY_KEYS, &HISTORY_PROJECTION);
        let kind_len = match &index_padded["kind"] {
            AttributeValue::S(kind) => kind.len(),
            other => panic!("kind is {other:?}"),
        };
        let kind = "k".repeat(target - (entry - kind_len));
        index_padded.insert("kind".into(), AttributeValue::S(kind));
        assert_eq!(
            lsi_entry_size(&index_padded, &HISTORY_KEYS, &HISTORY_PROJECTION),
            target
        );
        let (table_units, _) = put_alone(&client, &table, padded).await;
        let (_, index_units) = put_alone(&client, &table, index_padded).await;
        println!("cross-check at {target} B: item {table_units} WRU, index entry {index_units} WRU (DynamoDB Local)");
        assert_eq!((table_units, index_units), (expected, expected));
    }

    // And the profile item, as the posting left it, written alone.
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    let stranger = new_member();
    let mut profile_item = new_profile_item(&stranger, at(NOW_MS)).unwrap();
    let mut moved = profile.clone();
    moved.member = stranger;
    profile_item = updated_profile_item(&profile_item, &moved).unwrap();
    let (units, index_units) = put_alone(&client, &table, profile_item.clone()).await;
    assert_eq!(f64::from(write_units(item_size(&profile_item))), units);
    assert_eq!(index_units, 0.0, "the profile is not in the history index");
}

/// Writes `item` alone and returns the table's and the history index's consumed units.
async fn put_alone(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    item: linli::store::ledger::item::Item,
) -> (f64, f64) {
    let written = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let consumed = written.consumed_capacity.unwrap();
    let table_units = consumed.table.and_then(|c| c.capacity_units).unwrap();
    let index_units = consumed
        .local_secondary_indexes
        .unwrap_or_default()
        .values()
        .filter_map(|c| c.capacity_units)
        .sum();
    (table_units, index_units)
}

async fn ledger_posting(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    member: &MemberId,
    id: &PostingId,
) -> linli::ledger::Posting {
    postings(client, table, member)
        .await
        .into_iter()
        .find(|p| &p.request.id == id)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_ten_times_at_once_moves_the_points_once_and_repoints_the_identity() {
    let (client, table, ledger) = ledger("merge10").await;
    let members = DynamoMembers::new(client.clone(), table.clone());
    let openid = Identity::Oa(OpenId::parse("o-merge-follower").unwrap());
    // The OpenID-only member of a follower, with points and an open hold…
    let from = members
        .find_or_create(&openid, new_member(), at(NOW_MS))
        .await
        .unwrap()
        .member;
    ledger
        .post(&adjust(&from, "T-SEED", vec![earn(Source::Adjust, 30)]))
        .await
        .unwrap();
    let order = OrderId::parse("O-MERGE-1").unwrap();
    ledger.post(&hold(&from, &order, 10)).await.unwrap();
    // …and the mini-program member of the same person, found by UnionID.
    let into = member_with(&ledger, 7).await;

    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (ledger, from, into, openid) =
                (ledger.clone(), from.clone(), into.clone(), openid.clone());
            tokio::spawn(async move {
                ledger
                    .merge(&from, &into, &[openid], at(NOW_MS + i * HOUR))
                    .await
            })
        })
        .collect();
    let mut answers = vec![];
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    assert_eq!(answers.iter().filter(|a| !a.outcome.replayed).count(), 1);
    assert!(answers
        .iter()
        .all(|a| a.outcome.result == answers[0].outcome.result));
    let fresh = answers.iter().find(|a| !a.outcome.replayed).unwrap();
    // Two postings (each with its history entry), two profiles and one identity, transactional;
    // the open hold moves too, so `from` leaves the hold index and `into` enters it (standard).
    assert_eq!(
        fresh.cost.total(),
        2 * (2 + 2) + 2 * 2 + 2 + (1 + 1),
        "{:?}",
        fresh.cost
    );

    let target = ledger.profile(&into).await.unwrap().unwrap();
    assert_eq!(target.available, Points::new(27), "7 + 30 − 10 held");
    assert_eq!(target.held, Points::new(10));
    assert!(target.holds.contains_key(&order));
    let emptied = ledger.profile(&from).await.unwrap().unwrap();
    assert_eq!(emptied.merged_into.as_ref(), Some(&into));
    assert!(emptied.available.is_zero() && emptied.held.is_zero());
    assert_eq!(members.find(&openid).await.unwrap(), Some(into.clone()));

    // The hold's capture, posted for the order's member, lands where the hold went; once.
    ledger.post(&capture(&from, &order, 4)).await.unwrap();
    assert!(
        ledger
            .post(&capture(&from, &order, 4))
            .await
            .unwrap()
            .outcome
            .replayed
    );
    // A retry of a posting recorded before the merge answers its stored result.
    let seeded = adjust(&from, "T-SEED", vec![earn(Source::Adjust, 30)]);
    assert!(ledger.post(&seeded).await.unwrap().outcome.replayed);

    let target = ledger.profile(&into).await.unwrap().unwrap();
    assert_eq!(target.available, Points::new(31));
    assert!(target.held.is_zero());
    let profiles = [
        ledger.profile(&from).await.unwrap().unwrap(),
        target.clone(),
    ];
    let mut recorded = postings(&client, &table, &from).await;
    recorded.extend(postings(&client, &table, &into).await);
    let report = audit(&profiles, &recorded);
    assert!(report.is_clean(), "{:?}", report.violations);
}
