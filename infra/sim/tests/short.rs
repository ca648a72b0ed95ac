//! The short simulation inside `make test` (DynamoDB Local): a few seeds, every fault kind, all
//! checks clean; the same seed replays the same run; and the checks do catch a ledger that
//! disagrees with what was accepted.

use linli::ids::{OrderId, PostingId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Points;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli_sim::driver::{Driver, FaultRates};
use linli_sim::world::World;
use linli_sim::{checks, ledger_table, run, Config};
use std::path::PathBuf;

fn template() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

async fn client() -> aws_sdk_dynamodb::Client {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run through `make test`, which starts DynamoDB Local"
    );
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("cn-north-1"))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&aws)
}

fn config(seed: u64, events: u64) -> Config {
    Config {
        seed,
        events,
        members: 8,
        rates: FaultRates::default(),
    }
}

#[tokio::test]
async fn three_seeds_with_every_fault_keep_every_invariant() {
    let client = client().await;
    let mut faults = std::collections::BTreeSet::new();
    for seed in 1..=3 {
        let run = run(&client, &template(), config(seed, 500)).await.unwrap();
        println!("{}", run.summary());
        assert!(run.report.is_clean(), "{}", run.summary());
        assert!(run.report.postings > 100, "{}", run.summary());
        assert!(run.tally.dead_lettered > 0 && run.tally.direct_refused > 0);
        faults.extend(run.tally.faults.keys().copied());
    }
    assert_eq!(faults.len(), 6, "every fault kind drawn: {faults:?}");
}

#[tokio::test]
async fn the_same_seed_replays_the_same_run() {
    let client = client().await;
    let first = run(&client, &template(), config(11, 300)).await.unwrap();
    let second = run(&client, &template(), config(11, 300)).await.unwrap();
    assert_eq!(first.summary(), second.summary());
    let other = run(&client, &template(), config(12, 300)).await.unwrap();
    assert_ne!(first.summary(), other.summary());
}

#[tokio::test]
async fn the_checks_see_a_posting_nobody_accepted_and_an_accepted_one_missing() {
    let client = client().await;
    let table = ledger_table(&client, &template(), 21).await.unwrap();
    let ledger = DynamoLedger::new(client.clone(), table);
    let mut world = World::new(21, 4).unwrap();
    let mut driver = Driver::new(21, FaultRates::default(), ledger.clone());
    driver.run(&mut world, 200).await.unwrap();
    let clean = checks::check(&ledger, world.members(), &driver.outcomes)
        .await
        .unwrap();
    assert!(clean.is_clean(), "{:?}", clean.violations);

    // A grant written behind the simulation's back, and an accepted request forgotten.
    let member = world.members()[0].clone();
    let stray = PostingRequest::new(
        PostingId::pay_order(&OrderId::parse("STRAY").unwrap()),
        member.clone(),
        World::start().unwrap(),
        vec![Op::Earn {
            source: Source::Pay,
            points: Points::new(7),
        }],
    );
    ledger.post(&stray).await.unwrap();
    let forgotten = driver
        .outcomes
        .accepted
        .iter()
        .position(|r| r.member == world.members()[1])
        .unwrap();
    let forgotten = driver.outcomes.accepted.remove(forgotten);
    let report = checks::check(&ledger, world.members(), &driver.outcomes)
        .await
        .unwrap();
    let said = report.violations.join("\n");
    assert!(
        said.contains("pay:order:STRAY stored but never accepted"),
        "{said}"
    );
    assert!(said.contains(&format!("{member}: net")), "{said}");
    assert!(
        said.contains(&format!(
            "{}: {} stored but never accepted",
            forgotten.member, forgotten.id
        )),
        "{said}"
    );
}
