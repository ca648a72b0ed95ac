//! The sparse hold index on DynamoDB Local: a profile with open holds is listed in its shard at
//! its earliest hold's expiry, moves when that changes, and leaves with its last hold; the WRU
//! the index costs agree with DynamoDB Local's single-item figures.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use common::{at, client, ledger_table, new_member, NOW_MS};
use linli::ids::{MemberId, OrderId, PostingId, TicketId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Points;
use linli::store::ledger::item::{
    self, hold_shard, new_profile_item, updated_profile_item, Item, HOLD_DUE, HOLD_INDEX,
    HOLD_INDEX_KEYS, HOLD_SHARD, PK, SK,
};
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::store::wru::{index_entry_writes, write_units};

const MINUTE: i64 = 60_000;

fn hold(member: &MemberId, order: &str, points: i64, expires_ms: i64) -> PostingRequest {
    let order = OrderId::parse(order).unwrap();
    let op = Op::Hold {
        order: order.clone(),
        points: Points::new(points),
        expires_at: at(expires_ms),
    };
    PostingRequest::new(
        PostingId::hold_order(&order),
        member.clone(),
        at(NOW_MS),
        vec![op],
    )
}

fn void(member: &MemberId, order: &str, at_ms: i64) -> PostingRequest {
    let order = OrderId::parse(order).unwrap();
    let op = Op::Void {
        order: order.clone(),
    };
    PostingRequest::new(
        PostingId::void_order(&order),
        member.clone(),
        at(at_ms),
        vec![op],
    )
}

async fn profile_item(client: &aws_sdk_dynamodb::Client, table: &str, member: &MemberId) -> Item {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(item::profile_key(member)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

/// Is `member` listed as due by `due_ms` in its shard?
async fn listed(ledger: &DynamoLedger, member: &MemberId, due_ms: i64) -> bool {
    ledger
        .holds_due(hold_shard(member), at(due_ms), 100)
        .await
        .unwrap()
        .contains(member)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_with_holds_is_in_its_shard_at_its_earliest_expiry_until_the_last_is_voided() {
    let client = client();
    let table = ledger_table(&client, "holdidx").await;
    let ledger = DynamoLedger::new(client.clone(), table.clone());
    let member = new_member();
    ledger.open(&member, at(NOW_MS)).await.unwrap();
    let seed = PostingRequest::new(
        PostingId::adjust(&TicketId::parse("T-SEED").unwrap()),
        member.clone(),
        at(NOW_MS),
        vec![Op::Earn {
            source: Source::Adjust,
            points: Points::new(100),
        }],
    );
    let seeded = ledger.post(&seed).await.unwrap();
    assert_eq!(seeded.cost.units_of("hold index"), 0, "no hold, no index");
    assert!(!listed(&ledger, &member, NOW_MS + 365 * 24 * 60 * MINUTE).await);

    // The first hold puts the profile in the index, due at the hold's expiry.
    let later = NOW_MS + 30 * MINUTE;
    let first = ledger
        .post(&hold(&member, "O-HOLD-LATER", 30, later))
        .await
        .unwrap();
    println!(
        "WRU of a first hold (enters the hold index): {}",
        first.cost
    );
    assert_eq!(first.cost.units_of("hold index"), 1, "{}", first.cost);
    assert_eq!(first.cost.total(), 7, "{}", first.cost);
    let stored = profile_item(&client, &table, &member).await;
    assert_eq!(
        item::string(&stored, HOLD_SHARD),
        Some(format!("HOLDS#{}", hold_shard(&member)))
    );
    assert_eq!(item::integer(&stored, HOLD_DUE), Some(later));
    assert!(listed(&ledger, &member, later).await);
    assert!(!listed(&ledger, &member, later - 1).await, "not due before");

    // An earlier second hold moves the entry (delete + put); a later third one does not.
    let sooner = NOW_MS + 10 * MINUTE;
    let second = ledger
        .post(&hold(&member, "O-HOLD-SOONER", 20, sooner))
        .await
        .unwrap();
    println!(
        "WRU of a hold due before the others (moves the entry): {}",
        second.cost
    );
    assert_eq!(second.cost.units_of("hold index"), 2, "{}", second.cost);
    assert!(listed(&ledger, &member, sooner).await);
    let third = ledger
        .post(&hold(&member, "O-HOLD-LAST", 10, later + MINUTE))
        .await
        .unwrap();
    println!(
        "WRU of a hold due after the others (index untouched): {}",
        third.cost
    );
    assert_eq!(third.cost.units_of("hold index"), 0, "{}", third.cost);
    assert_eq!(third.cost.total(), 6, "{}", third.cost);

    // Voiding the earliest moves the entry back to the next expiry.
    ledger
        .post(&void(&member, "O-HOLD-SOONER", sooner))
        .await
        .unwrap();
    let stored = profile_item(&client, &table, &member).await;
    assert_eq!(item::integer(&stored, HOLD_DUE), Some(later));
    assert!(!listed(&ledger, &member, sooner).await);

    // Voiding the last open hold takes the profile out of the index.
    ledger
        .post(&void(&member, "O-HOLD-LATER", later))
        .await
        .unwrap();
    let last = ledger
        .post(&void(&member, "O-HOLD-LAST", later + MINUTE))
        .await
        .unwrap();
    println!(
        "WRU of voiding the last hold (leaves the index): {}",
        last.cost
    );
    assert_eq!(last.cost.units_of("hold index"), 1, "{}", last.cost);
    let stored = profile_item(&client, &table, &member).await;
    assert!(!stored.contains_key(HOLD_SHARD) && !stored.contains_key(HOLD_DUE));
    assert!(!listed(&ledger, &member, later + 365 * 24 * 60 * MINUTE).await);
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(profile.available, Points::new(100));
    assert!(profile.holds.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hold_index_entry_costs_what_dynamodb_local_reports_for_a_single_put() {
    let client = client();
    let table = ledger_table(&client, "holdwru").await;
    let ledger = DynamoLedger::new(client.clone(), table.clone());
    let member = new_member();
    ledger.open(&member, at(NOW_MS)).await.unwrap();
    let seed = PostingRequest::new(
        PostingId::adjust(&TicketId::parse("T-SEED").unwrap()),
        member.clone(),
        at(NOW_MS),
        vec![Op::Earn {
            source: Source::Adjust,
            points: Points::new(40),
        }],
    );
    ledger.post(&seed).await.unwrap();
    ledger
        .post(&hold(&member, "O-HOLD-WRU", 40, NOW_MS + MINUTE))
        .await
        .unwrap();
    let profile = ledger.profile(&member).await.unwrap().unwrap();

    // The same profile under another member, written alone: the calculator's entry size
    // against what DynamoDB Local bills the index for it.
    let stranger = new_member();
    let before = new_profile_item(&stranger, at(NOW_MS)).unwrap();
    let mut moved = profile.clone();
    moved.member = stranger;
    let after = updated_profile_item(&before, &moved).unwrap();
    let entries = index_entry_writes(&before, &after, &[PK, SK], &HOLD_INDEX_KEYS, &[]);
    assert_eq!(entries.len(), 1, "entering the index writes one entry");
    let written = client
        .put_item()
        .table_name(&table)
        .set_item(Some(after))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let index_units = written
        .consumed_capacity
        .and_then(|c| c.global_secondary_indexes)
        .and_then(|mut g| g.remove(HOLD_INDEX))
        .and_then(|c| c.capacity_units);
    println!(
        "hold index entry {} B → {} WRU (DynamoDB Local {index_units:?})",
        entries[0],
        write_units(entries[0])
    );
    assert_eq!(index_units, Some(f64::from(write_units(entries[0]))));
    let keys = client
        .query()
        .table_name(&table)
        .index_name(HOLD_INDEX)
        .key_condition_expression("#s = :s")
        .expression_attribute_names("#s", HOLD_SHARD)
        .expression_attribute_values(
            ":s",
            AttributeValue::S(format!("HOLDS#{}", hold_shard(&member))),
        )
        .send()
        .await
        .unwrap();
    for entry in keys.items() {
        let mut names: Vec<&str> = entry.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["hold_due", "hold_shard", "pk", "sk"], "keys only");
    }
}
