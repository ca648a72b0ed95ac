//! Community group-buy through the stack (issue 11): a member leaves a round before its cutoff
//! and is refunded once; a cutoff stopped mid-way (test-only fault switches, `linli::faults`)
//! resumes without refunding, granting or notifying twice; a recurring round's cutoff opens
//! the template's next round.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::groupbuy::schedule::Recurrence;
use linli::groupbuy::template::Template;
use linli::groupbuy::RoundStatus;
use linli::ids::TemplateId;
use linli::store::rounds::DynamoRounds;
use linli_e2e::rounds::{join, joined, open_round, paid_join, pay, placed, round_of, sku};
use linli_e2e::{
    call, clock, drained, eventually, fire, local_setting, login, stack_queue, stack_table, tag,
};
use serde_json::{json, Value};

async fn cancel(token: &str, round: &str, order: &str) -> (u16, Value) {
    let path = format!("/api/group-buys/{round}/orders/{order}/cancel");
    call("POST", &path, Some(token), None).await
}

/// The refunds the Pay stand-in holds for `order` (one per `out_refund_no`).
async fn pay_refunds(order: &str) -> Vec<Value> {
    let (status, view) = call("GET", &format!("/_local/wechatpay/pay/{order}"), None, None).await;
    assert_eq!(status, 200, "{view}");
    view["refunds"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_member_leaves_a_round_before_its_cutoff_and_is_refunded_once() {
    let tag = tag();
    let skus = vec![sku("EGG-30", 20, None), sku("CAKE-SET", 2, Some(3))];
    let (rounds, round) = open_round(&tag, 2, skus).await;
    let id = format!("R-{tag}");
    let (ann, _) = login(&format!("test:o-{tag}a:u-{tag}a")).await;
    let (bob, _) = login(&format!("test:o-{tag}b:u-{tag}b")).await;

    let order = paid_join(&ann, &id, (1, "CAKE-SET", 2), 2).await;
    // Bob's join is not paid yet: leaving cancels it like any pending order.
    let (status, placed) = join(&bob, &id, "CAKE-SET", 1).await;
    assert_eq!(status, 201, "{placed}");
    let unpaid = placed["order_id"].as_str().unwrap().to_owned();
    let (status, left) = cancel(&bob, &id, &unpaid).await;
    assert_eq!(
        (status, left["status"].as_str()),
        (200, Some("cancelled")),
        "{left}"
    );
    // Not his order, nor in another round.
    let (status, _) = cancel(&bob, &id, &order).await;
    assert_eq!(status, 404);
    let (status, _) = cancel(&ann, "R-ELSEWHERE", &order).await;
    assert_eq!(status, 404);

    // Ann leaves, twice: the cakes stop counting and the payment comes back once.
    for _ in 0..2 {
        let (status, left) = cancel(&ann, &id, &order).await;
        assert_eq!(status, 200, "{left}");
        let refunds = left["refunds"].as_array().unwrap();
        assert_eq!(refunds.len(), 1, "{left}");
        assert_eq!(refunds[0]["refund_id"], format!("{order}-GC"));
        assert_eq!(refunds[0]["amount_fen"], 17_600);
    }
    assert_eq!(joined(&id, 1).await, 0, "given back");
    assert_eq!(pay_refunds(&order).await.len(), 1);
    // WeChat repeats the payment notify (handled before the stand-in answers): not counted.
    let path = format!("/_local/wechatpay/pay/{order}");
    let (status, again) = call("POST", &path, None, None).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["deliveries"][0]["accepted"], true, "{again}");
    assert_eq!(joined(&id, 1).await, 0);

    // Once the cutoff has begun a join stays.
    let (status, placed) = join(&bob, &id, "EGG-30", 1).await;
    assert_eq!(status, 201, "{placed}");
    let stays = placed["order_id"].as_str().unwrap().to_owned();
    pay(&stays).await;
    eventually(30, "bob's join counted", || async {
        (joined(&id, 0).await == 1).then_some(())
    })
    .await;
    let closing = rounds.advance(&round.round_id, RoundStatus::Open, RoundStatus::Closing);
    assert!(closing.await.unwrap());
    let (status, body) = cancel(&bob, &id, &stays).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("round_closed")),
        "{body}"
    );
    assert!(pay_refunds(&stays).await.is_empty());
}

/// Arms the test-only fault switch `point` of the local stack's functions.
fn arm(point: &str) -> std::path::PathBuf {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../.local/faults");
    std::fs::create_dir_all(dir).unwrap();
    let path = std::path::Path::new(dir).join(point);
    std::fs::write(&path, "").unwrap();
    path
}

#[tokio::test]
async fn a_cutoff_stopped_mid_way_resumes_once_and_opens_the_templates_next_round() {
    let tag = tag();
    let now = clock().await;
    let (client, table) = stack_table("GroupBuysTable").await;
    let rounds = DynamoRounds::new(client, table);
    let mut round = round_of(
        &tag,
        now,
        1,
        vec![sku("EGG-30", 2, None), sku("CAKE-SET", 5, None)],
    );
    let template = Template {
        template_id: TemplateId::parse(&format!("T-{tag}")).unwrap(),
        store_id: round.store_id.clone(),
        community: round.community.clone(),
        title: round.title.clone(),
        handover: round.handover,
        // Every day at 19:00: the next round is the day after this one's cutoff, or later.
        recurrence: Recurrence {
            weekdays: (1..=7).collect(),
            cutoff_minutes: 19 * 60,
            fulfil_after_days: 1,
        },
        skus: round.skus.clone(),
        active: true,
        created_at: now,
    };
    assert!(rounds.create_template(&template).await.unwrap());
    round.template = Some(template.template_id.clone());
    rounds.create(&round).await.unwrap();
    let id = format!("R-{tag}");
    let (ann, _) = login(&format!("test:o-{tag}a:u-{tag}a")).await;
    let (bob, _) = login(&format!("test:o-{tag}b:u-{tag}b")).await;
    let consent = json!({ local_setting("WECHAT_TEMPLATE_GROUP_BUY"): "accept" });
    let (status, body) = call("POST", "/api/me/subscriptions", Some(&ann), Some(consent)).await;
    assert_eq!(status, 200, "{body}");
    let items = json!([{ "sku": "EGG-30", "qty": 2 }, { "sku": "CAKE-SET", "qty": 1 }]);
    let ann_order = placed(&ann, &id, items).await;
    let bob_order = placed(&bob, &id, json!([{ "sku": "CAKE-SET", "qty": 1 }])).await;
    for order in [&ann_order, &bob_order] {
        pay(order).await;
    }
    eventually(30, "both joins counted", || async {
        (joined(&id, 0).await == 2 && joined(&id, 1).await == 2).then_some(())
    })
    .await;

    // The run stops right after closing the round; the page stops after an order's refunds
    // and points, before its fates are recorded.
    let close_switch = arm(&format!("cutoff-close-{id}"));
    let page_switch = arm(&format!("cutoff-page-{id}"));
    linli_e2e::advance("2h").await;
    let (ann, _) = login(&format!("test:o-{tag}a:u-{tag}a")).await;
    let (status, failed) = fire("GroupCutoffFunction", "Cutoff").await;
    assert_ne!(status, 200, "the run stopped: {failed}");
    assert!(!close_switch.exists(), "the close switch tripped");
    let (_, page) = call("GET", &format!("/api/group-buys/{id}"), None, None).await;
    assert_eq!(page["status"], "closing", "{page}");
    let closed = eventually(60, "the round closed", || async {
        let (status, _) = fire("GroupCutoffFunction", "CatchUp").await;
        assert_eq!(status, 200);
        let (_, page) = call("GET", &format!("/api/group-buys/{id}"), None, None).await;
        (page["status"] == "closed").then_some(page)
    })
    .await;
    assert_eq!(closed["open"], false);
    assert!(!page_switch.exists(), "the page switch tripped");

    // One refund per refunded line at WeChat Pay, points once, one notice.
    let ann_refunds = pay_refunds(&ann_order).await;
    assert_eq!(ann_refunds.len(), 1, "{ann_refunds:?}");
    assert_eq!(ann_refunds[0]["out_refund_no"], format!("{ann_order}-G1"));
    let bob_refunds = pay_refunds(&bob_order).await;
    assert_eq!(bob_refunds.len(), 1, "{bob_refunds:?}");
    assert_eq!(bob_refunds[0]["out_refund_no"], format!("{bob_order}-G0"));
    eventually(30, "the round's points", || async {
        let (_, me) = call("GET", "/api/me", Some(&ann), None).await;
        (me["available"] == 176).then_some(())
    })
    .await;
    let (status, _) = fire("GroupCutoffFunction", "Cutoff").await;
    assert_eq!(status, 200);
    let (sqs, points) = stack_queue("PointsPostingsQueue").await;
    drained(&sqs, &points).await;
    let (_, me) = call("GET", "/api/me", Some(&ann), None).await;
    assert_eq!(me["available"], 176, "granted once: {me}");
    let path = format!("/_local/wechat/subscribe-messages?touser=o-{tag}a");
    let (_, sent) = call("GET", &path, None, None).await;
    let notices: Vec<&Value> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["template_id"] == local_setting("WECHAT_TEMPLATE_GROUP_BUY"))
        .collect();
    assert_eq!(notices.len(), 1, "{sent}");

    // The template's next round is open, once: the first of its cutoffs still ahead when this
    // round's cutoff ran, under the id its date fixes (the runs after opened nothing more).
    let weeks_on = round.cutoff_at.plus_ms(14 * 24 * 3_600_000);
    let opened: Vec<_> = rounds
        .due(weeks_on)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.template.as_ref() == Some(&template.template_id))
        .collect();
    assert_eq!(opened.len(), 1, "{opened:?}");
    let next = &opened[0];
    assert_eq!(next.status, RoundStatus::Open);
    assert!(next.cutoff_at > round.cutoff_at);
    let expected = template
        .instance(next.cutoff_at.plus_ms(-1), next.cutoff_at)
        .unwrap();
    assert_eq!(next.round_id, expected.round_id, "named by its date");
}

#[tokio::test]
async fn concurrent_payments_never_take_a_capped_sku_past_its_maximum() {
    let tag = tag();
    let now = clock().await;
    let (client, table) = stack_table("GroupBuysTable").await;
    let rounds = DynamoRounds::new(client, table);
    let round = round_of(&tag, now, 2, vec![sku("CAKE-SET", 1, Some(3))]);
    rounds.create(&round).await.unwrap();
    let id = format!("R-{tag}");
    // Five members each place a join while nothing is paid yet: all are taken.
    let mut orders = Vec::new();
    for i in 0..5 {
        let (token, _) = login(&format!("test:o-{tag}{i}:u-{tag}{i}")).await;
        let (status, placed) = join(&token, &id, "CAKE-SET", 1).await;
        assert_eq!(status, 201, "{placed}");
        orders.push((token, placed["order_id"].as_str().unwrap().to_owned()));
    }
    // They all pay at once: three are counted, two are refunded in full automatically.
    let mut payments = tokio::task::JoinSet::new();
    for (_, order) in &orders {
        let order = order.clone();
        payments.spawn(async move { pay(&order).await });
    }
    while let Some(paid) = payments.join_next().await {
        paid.unwrap();
    }
    let refunded = eventually(60, "every payment counted or refunded", || async {
        let mut refunded = 0;
        for (token, order) in &orders {
            let (_, shown) = call("GET", &format!("/api/orders/{order}"), Some(token), None).await;
            refunded += usize::from(!shown["refunds"].as_array()?.is_empty());
        }
        (joined(&id, 0).await + i64::try_from(refunded).unwrap() == 5).then_some(refunded)
    })
    .await;
    assert_eq!(joined(&id, 0).await, 3, "never past the maximum");
    assert_eq!(refunded, 2);
}

#[tokio::test]
async fn a_cancelled_joins_refund_wechat_pay_did_not_take_is_seen_through_by_the_cutoff() {
    let tag = tag();
    let (rounds, round) = open_round(&tag, 1, vec![sku("EGG-30", 1, None)]).await;
    let id = format!("R-{tag}");
    let (ann, _) = login(&format!("test:o-{tag}a:u-{tag}a")).await;
    let order = paid_join(&ann, &id, (0, "EGG-30", 2), 2).await;
    // WeChat Pay fails the refund call: the join is out of the round, its refund requested.
    let fault = json!({ "mode": "fail", "count": 1, "status": 500 });
    let (status, _) = call("POST", "/_local/wechatpay/fault", None, Some(fault)).await;
    assert_eq!(status, 204);
    let (status, left) = cancel(&ann, &id, &order).await;
    assert_eq!(status, 202, "{left}");
    assert_eq!(left["refunds"][0]["state"], "requested", "{left}");
    assert_eq!(joined(&id, 0).await, 0);
    assert!(pay_refunds(&order).await.is_empty());

    // The cutoff asks again, once; the cancelled join counts nowhere in the outputs.
    linli_e2e::advance("2h").await;
    let closed = eventually(60, "the round closed", || async {
        let (status, _) = fire("GroupCutoffFunction", "CatchUp").await;
        assert_eq!(status, 200);
        let (_, page) = call("GET", &format!("/api/group-buys/{id}"), None, None).await;
        (page["status"] == "closed").then_some(page)
    })
    .await;
    assert_eq!(closed["skus"][0]["joined"], 0);
    let refunds = pay_refunds(&order).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["out_refund_no"], format!("{order}-GC"));
    assert_eq!(refunds[0]["refund_fee"], 17_600);
    let metrics = rounds
        .output(&round.round_id, "METRICS")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(metrics["orders"], 0, "{metrics}");
}

/// `linli-admin` as the operator runs it against this stack (built by `make test`).
async fn linli_admin(args: &[&str]) -> Value {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_owned());
    let binary = format!("{target}/debug/linli-admin");
    let mut all = vec!["--stack-url".to_owned(), linli_e2e::base()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let output = tokio::process::Command::new(binary)
        .args(&all)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text} {:?}", output.stderr))
}

#[tokio::test]
async fn a_poison_page_fixed_and_redriven_from_the_dlq_takes_effect_once() {
    let tag = tag();
    let now = clock().await;
    let (ann, ann_member) = login(&format!("test:o-{tag}a:u-{tag}a")).await;
    // A page for a round nobody created yet: retried, then dead-lettered.
    let round = round_of(&tag, now, 1, vec![sku("EGG-30", 1, None)]);
    let order = linli::ids::OrderId::parse(&format!("O-{tag}")).unwrap();
    let page =
        linli::queue::Envelope::cutoff_page(round.round_id.clone(), vec![order.clone()], now);
    let (sqs, pages) = stack_queue("CutoffPagesQueue").await;
    linli::queue::Publisher::new(sqs)
        .send(&pages, &page)
        .await
        .unwrap();
    let id = round.round_id.to_string();
    linli_e2e::dead_letter_reason("CutoffPagesDLQ", |body| body.contains(&id)).await;

    // The fix: the round exists, Ann's paid join is counted, the cutoff has begun.
    let (client, table) = stack_table("GroupBuysTable").await;
    let rounds = DynamoRounds::new(client, table);
    rounds.create(&round).await.unwrap();
    let line = linli::groupbuy::join::JoinLine {
        sku: linli::ids::SkuId::parse("EGG-30").unwrap(),
        name: "EGG-30".into(),
        qty: 1,
        price_fen: 8_800,
        amount_fen: 8_800,
    };
    let member = linli::ids::MemberId::parse(&ann_member).unwrap();
    let counted = rounds
        .count_paid(&round, &order, &member, &[line], now)
        .await
        .unwrap();
    assert_eq!(counted, linli::store::rounds::Counted::Counted);
    rounds
        .advance(&round.round_id, RoundStatus::Open, RoundStatus::Closing)
        .await
        .unwrap();

    let moved = eventually(30, "the page redriven", || async {
        let moved = linli_admin(&["dlq", "redrive", "cutoff-pages", "--json"]).await;
        (moved["moved"] == 1).then_some(moved)
    })
    .await;
    assert_eq!(moved["moved"], 1);
    eventually(30, "the order decided and its points posted", || async {
        let (_, me) = call("GET", "/api/me", Some(&ann), None).await;
        (me["available"] == 88).then_some(())
    })
    .await;
    let decided = rounds.line(&round.round_id, &order).await.unwrap().unwrap();
    assert!(decided.fates.is_some());
    let again = linli_admin(&["dlq", "redrive", "cutoff-pages", "--json"]).await;
    assert_eq!(again["moved"], 0, "nothing left");
    let (sqs, points) = stack_queue("PointsPostingsQueue").await;
    drained(&sqs, &points).await;
    let (_, me) = call("GET", "/api/me", Some(&ann), None).await;
    assert_eq!(me["available"], 88, "once");
}
