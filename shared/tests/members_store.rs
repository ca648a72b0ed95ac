//! Identity items against DynamoDB Local: first contacts converge on one member.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{at, client, ledger_table, new_member, NOW_MS};
use linli::ids::{Identity, OpenId, UnionId};
use linli::money::Points;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::store::members::{DynamoMembers, Linked, Members};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_simultaneous_first_contacts_converge_on_one_member() {
    let client = client();
    let table = ledger_table(&client, "converge").await;
    let members = Arc::new(DynamoMembers::new(client.clone(), table.clone()));
    let ledger = DynamoLedger::new(client, table);
    let identity = Identity::Oa(OpenId::parse("oJx2X5Ld7aQHjSPfqtAkxmFG0sGc").unwrap());

    let candidates: Vec<_> = (0..20).map(|_| new_member()).collect();
    let tasks: Vec<_> = candidates
        .iter()
        .cloned()
        .map(|candidate| {
            let (members, identity) = (members.clone(), identity.clone());
            tokio::spawn(async move {
                members
                    .find_or_create(&identity, candidate, at(NOW_MS))
                    .await
            })
        })
        .collect();
    let mut answers = vec![];
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    let winner = answers[0].member.clone();
    assert!(
        answers.iter().all(|a| a.member == winner),
        "one member for one person"
    );
    assert_eq!(answers.iter().filter(|a| a.created).count(), 1);
    let created = answers.iter().find(|a| a.created).unwrap();
    assert_eq!(
        created.cost.total(),
        4,
        "identity 2 + profile 2: {}",
        created.cost
    );

    let profile = ledger.profile(&winner).await.unwrap().unwrap();
    assert_eq!((profile.available, profile.version), (Points::ZERO, 0));
    for loser in candidates.iter().filter(|c| **c != winner) {
        assert!(
            ledger.profile(loser).await.unwrap().is_none(),
            "no orphan profile"
        );
    }
    assert_eq!(members.find(&identity).await.unwrap(), Some(winner));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_names_one_member_and_linking_says_who_else_has_it() {
    let client = client();
    let table = ledger_table(&client, "link").await;
    let members = DynamoMembers::new(client, table);
    let oa = Identity::Oa(OpenId::parse("o-official-account-0001").unwrap());
    let mini = Identity::Mini(OpenId::parse("o-mini-program-0001").unwrap());
    let union = Identity::Union(UnionId::parse("u-open-platform-0001").unwrap());

    let first = members
        .find_or_create(&oa, new_member(), at(NOW_MS))
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(
        members
            .link(&union, &first.member, at(NOW_MS))
            .await
            .unwrap(),
        Linked::Linked
    );
    assert_eq!(
        members
            .link(&union, &first.member, at(NOW_MS))
            .await
            .unwrap(),
        Linked::Linked,
        "idempotent"
    );

    let second = members
        .find_or_create(&mini, new_member(), at(NOW_MS))
        .await
        .unwrap();
    assert_ne!(second.member, first.member);
    assert_eq!(
        members
            .link(&union, &second.member, at(NOW_MS))
            .await
            .unwrap(),
        Linked::OtherMember(first.member.clone()),
        "the UnionID already names the first member: a merge is needed"
    );
    assert_eq!(members.find(&union).await.unwrap(), Some(first.member));
    assert_eq!(
        members
            .find(&Identity::Oa(OpenId::parse("o-nobody").unwrap()))
            .await
            .unwrap(),
        None
    );
}
