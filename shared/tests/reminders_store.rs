//! `store::reminders` against DynamoDB Local: consents counted per accepted request and taken one
//! per send; a cause is reminded once, ever; a failed send is released and can be claimed again;
//! the purchase rhythm counts each SKU with its first and last day.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{at, client, ledger_table, new_member, NOW_MS};
use linli::ids::OpenId;
use linli::store::reminders::{Claimed, DynamoReminders, ReminderStore};
use linli::store::rhythm::{Purchased, RhythmStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consents_are_taken_one_per_send_and_a_cause_is_reminded_once() {
    let client = client();
    let table = ledger_table(&client, "reminders").await;
    let store = DynamoReminders::new(client, table);
    let member = new_member();
    let openid = OpenId::parse("o-mini-1").unwrap();
    let now = at(NOW_MS);

    assert_eq!(
        store
            .claim(&member, "T-EXP", "expiring:202511", now)
            .await
            .unwrap(),
        Claimed::NoConsent
    );
    let two = ["T-EXP".to_owned(), "T-EXP".to_owned()];
    store
        .add_consents(&member, &openid, &two[..1])
        .await
        .unwrap();
    let consents = store
        .add_consents(&member, &openid, &two[..1])
        .await
        .unwrap();
    assert_eq!(consents.left.get("T-EXP"), Some(&2));
    assert_eq!(consents.openid.as_deref(), Some("o-mini-1"));
    assert!(consents.any());

    assert_eq!(
        store
            .claim(&member, "T-EXP", "expiring:202511", now)
            .await
            .unwrap(),
        Claimed::Claimed
    );
    assert_eq!(
        store
            .claim(&member, "T-EXP", "expiring:202511", now)
            .await
            .unwrap(),
        Claimed::AlreadyReminded,
        "once per cause, consent not taken again"
    );
    assert_eq!(store.consents(&member).await.unwrap().left["T-EXP"], 1);

    // A send that failed for a passing reason is released: the cause can be claimed again.
    store
        .release(&member, "T-EXP", "expiring:202511", now, true)
        .await
        .unwrap();
    store
        .release(&member, "T-EXP", "expiring:202511", now, true)
        .await
        .unwrap();
    assert_eq!(
        store.consents(&member).await.unwrap().left["T-EXP"],
        2,
        "released once"
    );
    assert_eq!(
        store
            .claim(&member, "T-EXP", "expiring:202511", now)
            .await
            .unwrap(),
        Claimed::Claimed
    );
    let claim = |cause: &'static str, at| {
        let (store, member) = (&store, &member);
        async move { store.claim(member, "T-EXP", cause, at).await.unwrap() }
    };
    assert_eq!(
        claim("expiring:202512", now).await,
        Claimed::AlreadyToday,
        "one a day"
    );
    let tomorrow = now.plus_ms(86_400_000);
    assert_eq!(claim("expiring:202512", tomorrow).await, Claimed::Claimed);
    let after = tomorrow.plus_ms(86_400_000);
    assert_eq!(claim("expiring:202601", after).await, Claimed::NoConsent);
    assert!(!store.consents(&member).await.unwrap().any());
    // WeChat said there is no consent: a released claim that gives nothing back, none counted.
    store
        .add_consents(&member, &openid, &two[..1])
        .await
        .unwrap();
    assert_eq!(claim("expiring:202601", after).await, Claimed::Claimed);
    store
        .release(&member, "T-EXP", "expiring:202601", after, false)
        .await
        .unwrap();
    store
        .add_consents(&member, &openid, &two[..1])
        .await
        .unwrap();
    store.drop_consents(&member, "T-EXP").await.unwrap();
    assert_eq!(store.consents(&member).await.unwrap().left["T-EXP"], 0);
    store.drop_consents(&new_member(), "T-EXP").await.unwrap();

    let other = new_member();
    store
        .add_consents(
            &other,
            &OpenId::parse("o-mini-2").unwrap(),
            &["T-TIER".to_owned()],
        )
        .await
        .unwrap();
    let found = store
        .consents_of(&[member.clone(), other.clone(), new_member()])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&other].left["T-TIER"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purchase_rhythm_counts_each_sku_with_its_first_and_last_day() {
    let client = client();
    let table = ledger_table(&client, "rhythm").await;
    let store = DynamoReminders::new(client, table);
    let member = new_member();
    let oil = Purchased {
        sku: "OIL-5L".into(),
        name: "花生油 5L".into(),
    };
    let egg = Purchased {
        sku: "EGG-10".into(),
        name: "土鸡蛋 10枚".into(),
    };
    let day = |d: &str| d.parse::<chrono::NaiveDate>().unwrap();
    store
        .record_purchase(
            &member,
            &[oil.clone(), oil.clone(), egg.clone()],
            day("2026-10-01"),
        )
        .await
        .unwrap();
    store
        .record_purchase(&member, std::slice::from_ref(&oil), day("2026-10-11"))
        .await
        .unwrap();
    store
        .record_purchase(&member, &[oil], day("2026-10-21"))
        .await
        .unwrap();
    let rhythm = store.rhythm(&member).await.unwrap();
    let oil = &rhythm["OIL-5L"];
    assert_eq!(
        (oil.count, oil.first, oil.last),
        (3, day("2026-10-01"), day("2026-10-21"))
    );
    assert_eq!(oil.interval_days(), Some(10));
    assert_eq!(oil.name, "花生油 5L");
    assert_eq!(
        rhythm["EGG-10"].count, 1,
        "a SKU twice on one order counts once"
    );
    assert!(store.rhythm(&new_member()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_is_sent_once_per_cause_and_not_limited_to_one_a_day() {
    let client = client();
    let table = ledger_table(&client, "notices").await;
    let store = DynamoReminders::new(client, table);
    let member = new_member();
    let openid = OpenId::parse("o-mini-2").unwrap();
    let now = at(NOW_MS);
    let three = [
        "T-COMP".to_owned(),
        "T-COMP".to_owned(),
        "T-COMP".to_owned(),
    ];
    for template in &three {
        store
            .add_consents(&member, &openid, std::slice::from_ref(template))
            .await
            .unwrap();
    }
    let claim = |cause: &'static str| store.claim_notice(&member, "T-COMP", cause, now);
    assert_eq!(claim("comp:O1").await.unwrap(), Claimed::Claimed);
    assert_eq!(
        claim("comp:O2").await.unwrap(),
        Claimed::Claimed,
        "a second one that day"
    );
    assert_eq!(claim("comp:O1").await.unwrap(), Claimed::AlreadyReminded);
    assert_eq!(store.consents(&member).await.unwrap().left["T-COMP"], 1);
    assert_eq!(claim("comp:O3").await.unwrap(), Claimed::Claimed);
    assert_eq!(claim("comp:O4").await.unwrap(), Claimed::NoConsent);
}
