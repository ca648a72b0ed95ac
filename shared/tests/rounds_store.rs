//! `store::rounds` against DynamoDB Local: paid joins counted once each; concurrent payments
//! never sell a capped SKU past its maximum and lose no increment of an uncapped one (spread
//! over shards); a member's limit holds; a payment after the cutoff is not counted; a join
//! cancelled before the cutoff gives its quantities back once; templates are stored and stopped.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use chrono::NaiveDate;
use common::{at, client, group_buys_table, new_member, NOW_MS};
use linli::groupbuy::join::JoinLine;
use linli::groupbuy::schedule::Recurrence;
use linli::groupbuy::template::Template;
use linli::groupbuy::{Handover, Round, RoundSku, RoundStatus, SkuKind};
use linli::ids::{OrderId, RoundId, SkuId, StoreId, TemplateId};
use linli::store::rounds::{Counted, DynamoRounds, Withdrawn};

const HOUR: i64 = 3_600_000;

fn sku(id: &str, min: i64, max: Option<i64>, per_member: Option<i64>) -> RoundSku {
    RoundSku {
        sku: SkuId::parse(id).unwrap(),
        name: id.to_owned(),
        kind: SkuKind::Hot,
        price_fen: 1_000,
        min_qty: min,
        max_qty: max,
        per_member,
    }
}

fn round() -> Round {
    Round {
        round_id: RoundId::parse(&format!("R-{:08x}", fastrand::u32(..))).unwrap(),
        store_id: StoreId::parse("SH-JINGAN-01").unwrap(),
        community: "静安寺小区 2 群".into(),
        title: "周二集单".into(),
        cutoff_at: at(NOW_MS + 10 * HOUR),
        fulfil_on: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        handover: Handover::Pickup,
        skus: vec![
            sku("CAKE-SET", 10, Some(30), None),
            sku("EGG-30", 20, None, None),
            sku("MILK", 1, None, Some(5)),
        ],
        status: RoundStatus::Open,
        template: None,
        created_at: at(NOW_MS),
    }
}

fn line(sku: &str, qty: i64) -> JoinLine {
    JoinLine {
        sku: SkuId::parse(sku).unwrap(),
        name: sku.into(),
        qty,
        price_fen: 1_000,
        amount_fen: qty * 1_000,
    }
}

async fn pay_all(
    store: &DynamoRounds,
    round: &Round,
    sku: &str,
    qty: i64,
    payments: usize,
) -> Vec<Counted> {
    let mut tasks = Vec::new();
    for i in 0..payments {
        let (store, round) = (store.clone(), round.clone());
        let order = OrderId::parse(&format!("O-{sku}-{i}")).unwrap();
        let lines = vec![line(sku, qty)];
        tasks.push(tokio::spawn(async move {
            let member = new_member();
            store
                .count_paid(&round, &order, &member, &lines, at(NOW_MS + HOUR))
                .await
                .unwrap()
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payments_never_oversell_and_lose_no_increment() {
    let client = client();
    let store = DynamoRounds::new(client.clone(), group_buys_table(&client, "rounds").await);
    let round = round();
    assert!(store.create(&round).await.unwrap());
    assert!(!store.create(&round).await.unwrap(), "one round per id");
    assert_eq!(
        store.get(&round.round_id).await.unwrap(),
        Some(round.clone())
    );

    let cakes = pay_all(&store, &round, "CAKE-SET", 1, 40).await;
    let counted = cakes.iter().filter(|c| **c == Counted::Counted).count();
    assert_eq!(counted, 30, "never more than the maximum");
    assert!(cakes
        .iter()
        .all(|c| matches!(c, Counted::Counted | Counted::SoldOut(_))));
    let eggs = pay_all(&store, &round, "EGG-30", 2, 50).await;
    assert!(eggs.iter().all(|c| *c == Counted::Counted));
    let joined = store.joined(&round.round_id).await.unwrap();
    assert_eq!(joined[&SkuId::parse("CAKE-SET").unwrap()], 30);
    assert_eq!(
        joined[&SkuId::parse("EGG-30").unwrap()],
        100,
        "no increment lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_counts_once_within_the_members_limit_and_before_the_cutoff() {
    let client = client();
    let store = DynamoRounds::new(client.clone(), group_buys_table(&client, "rounds1").await);
    let round = round();
    store.create(&round).await.unwrap();
    let member = new_member();
    let paid = at(NOW_MS + HOUR);
    let order = OrderId::parse("O-MILK-1").unwrap();
    let lines = [line("MILK", 3)];
    let count = |order: OrderId, lines: Vec<JoinLine>, at| {
        let (store, round, member) = (store.clone(), round.clone(), member.clone());
        async move {
            store
                .count_paid(&round, &order, &member, &lines, at)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        count(order.clone(), lines.to_vec(), paid).await,
        Counted::Counted
    );
    assert_eq!(count(order, lines.to_vec(), paid).await, Counted::Already);
    let second = OrderId::parse("O-MILK-2").unwrap();
    assert_eq!(
        count(second.clone(), vec![line("MILK", 3)], paid).await,
        Counted::OverLimit(SkuId::parse("MILK").unwrap()),
        "3 + 3 is past the member's 5"
    );
    assert_eq!(
        count(second, vec![line("MILK", 2)], paid).await,
        Counted::Counted
    );
    let late = OrderId::parse("O-MILK-LATE").unwrap();
    let after = at(NOW_MS + 10 * HOUR);
    let other = new_member();
    let refused = store
        .count_paid(&round, &late, &other, &[line("MILK", 1)], after)
        .await
        .unwrap();
    assert_eq!(refused, Counted::Closed);
    let mine = store.member_joined(&round.round_id, &member).await.unwrap();
    assert_eq!(mine[&SkuId::parse("MILK").unwrap()], 5);
    assert_eq!(
        store.joined(&round.round_id).await.unwrap()[&SkuId::parse("MILK").unwrap()],
        5
    );
    let due = |t| {
        let store = store.clone();
        async move { store.due(at(t)).await.unwrap() }
    };
    assert!(
        due(NOW_MS + 9 * HOUR).await.is_empty(),
        "not due before its cutoff"
    );
    assert_eq!(due(NOW_MS + 10 * HOUR).await.len(), 1);
    assert!(store
        .advance(&round.round_id, RoundStatus::Open, RoundStatus::Closing)
        .await
        .unwrap());
    assert_eq!(
        due(NOW_MS + 11 * HOUR).await.len(),
        1,
        "closing is still due"
    );
    assert!(store
        .advance(&round.round_id, RoundStatus::Closing, RoundStatus::Closed)
        .await
        .unwrap());
    assert!(
        due(NOW_MS + 11 * HOUR).await.is_empty(),
        "closed: out of the index"
    );
    assert!(
        !store
            .advance(&round.round_id, RoundStatus::Open, RoundStatus::Closing)
            .await
            .unwrap(),
        "exactly one caller moves it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_join_gives_its_quantities_back_once_and_a_repeated_notify_counts_nothing() {
    let client = client();
    let store = DynamoRounds::new(client.clone(), group_buys_table(&client, "rounds2").await);
    let round = round();
    store.create(&round).await.unwrap();
    let member = new_member();
    let paid = at(NOW_MS + HOUR);
    let order = OrderId::parse("O-LEAVE-1").unwrap();
    let lines = [line("CAKE-SET", 30), line("MILK", 5), line("EGG-30", 4)];
    let counted = store
        .count_paid(&round, &order, &member, &lines, paid)
        .await;
    assert_eq!(counted.unwrap(), Counted::Counted);
    let other = OrderId::parse("O-STAY-1").unwrap();
    let one_cake = [line("CAKE-SET", 1)];
    let (ann, bob) = (new_member(), new_member());
    assert_eq!(
        store
            .count_paid(&round, &other, &ann, &one_cake, paid)
            .await
            .unwrap(),
        Counted::SoldOut(SkuId::parse("CAKE-SET").unwrap())
    );

    // The member's cancel arrives five times at once: one withdrawal takes effect.
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (store, round, order) = (store.clone(), round.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            store
                .withdraw(&round, &order, paid.plus_ms(60_000))
                .await
                .unwrap()
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let taken = answers
        .iter()
        .filter(|a| **a == Withdrawn::Withdrawn)
        .count();
    assert_eq!(taken, 1, "{answers:?}");
    assert!(answers
        .iter()
        .all(|a| matches!(a, Withdrawn::Withdrawn | Withdrawn::Already)));
    let joined = store.joined(&round.round_id).await.unwrap();
    assert!(joined.values().all(|q| *q == 0), "{joined:?}");
    assert!(store
        .member_joined(&round.round_id, &member)
        .await
        .unwrap()
        .values()
        .all(|q| *q == 0));
    let item = store.line(&round.round_id, &order).await.unwrap().unwrap();
    assert!(item.cancelled_at.is_some(), "kept as a tombstone");
    // WeChat repeats the notify: the tombstone counts nothing again.
    let again = store
        .count_paid(&round, &order, &member, &lines, paid)
        .await;
    assert_eq!(again.unwrap(), Counted::Already);
    // The stock is back: another member's payment the maximum refused before is counted now.
    let now_counted = store
        .count_paid(&round, &other, &bob, &one_cake, paid)
        .await;
    assert_eq!(now_counted.unwrap(), Counted::Counted);
    let never = OrderId::parse("O-NEVER-PAID").unwrap();
    assert_eq!(
        store.withdraw(&round, &never, paid).await.unwrap(),
        Withdrawn::NotCounted
    );
    // Once the cutoff began, a join stays.
    store
        .advance(&round.round_id, RoundStatus::Open, RoundStatus::Closing)
        .await
        .unwrap();
    assert_eq!(
        store.withdraw(&round, &other, paid).await.unwrap(),
        Withdrawn::Closed
    );
    assert_eq!(
        store.joined(&round.round_id).await.unwrap()[&SkuId::parse("CAKE-SET").unwrap()],
        1
    );
}

#[tokio::test]
async fn a_template_is_stored_once_listed_and_stopped() {
    let client = client();
    let store = DynamoRounds::new(client.clone(), group_buys_table(&client, "rounds3").await);
    let r = round();
    let template = Template {
        template_id: TemplateId::parse(&format!("T-{:08x}", fastrand::u32(..))).unwrap(),
        store_id: r.store_id,
        community: r.community,
        title: r.title,
        handover: r.handover,
        recurrence: Recurrence::tuesday_thursday(),
        skus: r.skus,
        active: true,
        created_at: at(NOW_MS),
    };
    assert!(store.create_template(&template).await.unwrap());
    assert!(
        !store.create_template(&template).await.unwrap(),
        "one per id"
    );
    assert_eq!(
        store.template(&template.template_id).await.unwrap(),
        Some(template.clone())
    );
    assert!(store.stop_template(&template.template_id).await.unwrap());
    let listed = store.templates().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].active);
    let missing = TemplateId::parse("T-NONE").unwrap();
    assert!(!store.stop_template(&missing).await.unwrap());
}
