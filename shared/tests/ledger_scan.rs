//! Walking the whole ledger on DynamoDB Local: every profile once across parallel segments and
//! resumable pages, every posting of a member, and a broken profile reported, not hidden.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{at, client, ledger_table, new_member, NOW_MS};
use linli::ids::{PostingId, TicketId};
use linli::ledger::{audit, Op, PostingRequest, Source};
use linli::money::Points;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_profile_is_seen_once_across_segments_and_pages_with_all_its_postings() {
    let client = client();
    let table = ledger_table(&client, "scan").await;
    let ledger = DynamoLedger::new(client.clone(), table.clone());
    let mut members = BTreeSet::new();
    for i in 0..12 {
        let member = new_member();
        ledger.open(&member, at(NOW_MS)).await.unwrap();
        for t in 0..(i % 3) {
            let id = PostingId::adjust(&TicketId::parse(&format!("T-{i}-{t}")).unwrap());
            let earn = Op::Earn {
                source: Source::Adjust,
                points: Points::new(10),
            };
            let request = PostingRequest::new(id, member.clone(), at(NOW_MS), vec![earn]);
            ledger.post(&request).await.unwrap();
        }
        members.insert(member);
    }

    let mut seen = Vec::new();
    for segment in 0..2 {
        let mut cursor = None;
        loop {
            let page = ledger
                .profiles_page(segment, 2, cursor.as_deref(), 5)
                .await
                .unwrap();
            seen.extend(page.profiles.into_iter().map(Result::unwrap));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    let ids: BTreeSet<_> = seen.iter().map(|p| p.member.clone()).collect();
    assert_eq!(seen.len(), 12, "each profile once");
    assert_eq!(ids, members);

    let mut postings = Vec::new();
    for member in &members {
        postings.extend(ledger.all_postings(member).await.unwrap());
    }
    assert_eq!(postings.len(), 4 * (1 + 2));
    assert!(audit(&seen, &postings).is_clean());

    // A hand-edited profile is still listed, and the audit names it.
    let victim = members.first().unwrap();
    client
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("MEMBER#{victim}")))
        .key("sk", AttributeValue::S("PROFILE".to_owned()))
        .update_expression("SET av = :v")
        .expression_attribute_values(":v", AttributeValue::N("999".to_owned()))
        .send()
        .await
        .unwrap();
    let page = ledger.profiles_page(0, 1, None, 1000).await.unwrap();
    assert!(page.next.is_none());
    let profiles: Vec<_> = page.profiles.into_iter().map(Result::unwrap).collect();
    let report = audit(&profiles, &postings);
    assert!(!report.is_clean());
    assert!(format!("{:?}", report.violations).contains(&victim.to_string()));
}
