//! Community group-buy through the stack (issue 11, first slice): a round's public progress page
//! (no token: it is shared in the group chat) shows each SKU's live paid count against its
//! minimum and maximum and the time left; an unknown round is 404.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::groupbuy::join::JoinLine;
use linli::groupbuy::RoundStatus;
use linli::ids::{MemberId, OrderId, SkuId};
use linli::store::rounds::{Counted, DynamoRounds};
use linli_e2e::rounds::{join, joined, pay, round_of, sku};
use linli_e2e::{call, clock, stack_table, tag};

#[tokio::test]
async fn a_rounds_public_page_shows_live_progress_per_sku() {
    let tag = tag();
    let now = clock().await;
    let (client, table) = stack_table("GroupBuysTable").await;
    let rounds = DynamoRounds::new(client, table);
    // Far off: its orders are not real ones, so no later test's clock may reach its cutoff.
    let round = round_of(
        &tag,
        now,
        30 * 24,
        vec![sku("EGG-30", 20, None), sku("CAKE-SET", 2, Some(3))],
    );
    assert!(rounds.create(&round).await.unwrap());
    for (i, (sku, qty)) in [("CAKE-SET", 2), ("EGG-30", 1)].into_iter().enumerate() {
        let line = JoinLine {
            sku: SkuId::parse(sku).unwrap(),
            name: sku.into(),
            qty,
            price_fen: 8_800,
            amount_fen: 8_800 * qty,
        };
        let order = OrderId::parse(&format!("O-{tag}-{i}")).unwrap();
        let member = MemberId::generate(now, u128::from(fastrand::u64(..)));
        let counted = rounds
            .count_paid(&round, &order, &member, &[line], now)
            .await
            .unwrap();
        assert_eq!(counted, Counted::Counted);
    }
    let (status, page) = call("GET", &format!("/api/group-buys/R-{tag}"), None, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["open"], true);
    let left = page["seconds_left"].as_i64().unwrap();
    assert!((2_591_000..=2_592_000).contains(&left), "{left}");
    let skus = page["skus"].as_array().unwrap();
    assert_eq!(
        (&skus[0]["joined"], &skus[0]["goes_ahead"], &skus[0]["left"]),
        (
            &serde_json::json!(1),
            &serde_json::json!(false),
            &serde_json::Value::Null
        )
    );
    assert_eq!(
        (&skus[1]["joined"], &skus[1]["goes_ahead"], &skus[1]["left"]),
        (
            &serde_json::json!(2),
            &serde_json::json!(true),
            &serde_json::json!(1)
        )
    );
    let (status, _) = call("GET", "/api/group-buys/R-NOBODY", None, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn paid_joins_count_within_limits_and_stock_and_a_payment_the_round_cannot_take_is_refunded()
{
    let tag = tag();
    let now = clock().await;
    let (client, table) = stack_table("GroupBuysTable").await;
    let rounds = DynamoRounds::new(client, table);
    let round = round_of(
        &tag,
        now,
        2,
        vec![sku("EGG-30", 20, None), sku("CAKE-SET", 2, Some(3))],
    );
    rounds.create(&round).await.unwrap();
    let id = format!("R-{tag}");
    let (ann, _) = linli_e2e::login(&format!("test:o-{tag}a:u-{tag}a")).await;
    let (bob, _) = linli_e2e::login(&format!("test:o-{tag}b:u-{tag}b")).await;
    let (cat, _) = linli_e2e::login(&format!("test:o-{tag}c:u-{tag}c")).await;

    let (status, placed) = join(&ann, &id, "CAKE-SET", 2).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["amount_fen"], 17_600, "priced from the round");
    assert!(placed["pay_params"].is_object());
    let order = placed["order_id"].as_str().unwrap().to_owned();
    pay(&order).await;
    linli_e2e::eventually(30, "the paid join counted", || async {
        (joined(&id, 1).await == 2).then_some(())
    })
    .await;
    // A repeated notify counts nothing more; no points until the cutoff.
    let (status, _) = call(
        "POST",
        &format!("/_local/wechatpay/pay/{order}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        status, 200,
        "the stand-in repeats the notify and answers once it is handled"
    );
    assert_eq!(joined(&id, 1).await, 2);
    let (_, me) = call("GET", "/api/me", Some(&ann), None).await;
    assert_eq!(
        me["available"], 0,
        "group-buy orders earn at the cutoff: {me}"
    );

    let (status, body) = join(&ann, &id, "CAKE-SET", 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("over_limit")),
        "{body}"
    );
    let (status, body) = join(&bob, &id, "CAKE-SET", 2).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("sold_out")),
        "{body}"
    );
    let (status, body) = join(&bob, &id, "MILK", 1).await;
    assert_eq!(status, 400, "{body}");

    // Cat pays for an egg tray, but the cutoff began before the notify: refunded in full.
    let (status, placed) = join(&cat, &id, "EGG-30", 1).await;
    assert_eq!(status, 201, "{placed}");
    let late = placed["order_id"].as_str().unwrap().to_owned();
    assert!(rounds
        .advance(&round.round_id, RoundStatus::Open, RoundStatus::Closing)
        .await
        .unwrap());
    pay(&late).await;
    let shown = linli_e2e::eventually(30, "the automatic refund", || async {
        let (_, shown) = call("GET", &format!("/api/orders/{late}"), Some(&cat), None).await;
        (!shown["refunds"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .is_empty())
        .then_some(shown)
    })
    .await;
    assert_eq!(shown["refunds"][0]["amount_fen"], 8_800, "{shown}");
    assert_eq!(joined(&id, 0).await, 0, "not counted");
    let (status, body) = join(&bob, &id, "EGG-30", 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("round_closed")),
        "{body}"
    );
}

#[tokio::test]
async fn the_cutoff_confirms_the_skus_that_met_their_minimum_refunds_the_rest_once_and_writes_the_outputs(
) {
    let tag = tag();
    let now = clock().await;
    let (client, table) = stack_table("GroupBuysTable").await;
    let rounds = DynamoRounds::new(client, table);
    let round = round_of(
        &tag,
        now,
        1,
        vec![sku("EGG-30", 2, None), sku("CAKE-SET", 5, None)],
    );
    rounds.create(&round).await.unwrap();
    let id = format!("R-{tag}");
    let (ann, ann_member) = linli_e2e::login(&format!("test:o-{tag}a:u-{tag}a")).await;
    let (bob, _) = linli_e2e::login(&format!("test:o-{tag}b:u-{tag}b")).await;
    let body = serde_json::json!({ "items": [{ "sku": "EGG-30", "qty": 2 }, { "sku": "CAKE-SET", "qty": 1 }] });
    let (status, placed) = call(
        "POST",
        &format!("/api/group-buys/{id}/orders"),
        Some(&ann),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    let ann_order = placed["order_id"].as_str().unwrap().to_owned();
    let (status, placed) = join(&bob, &id, "CAKE-SET", 1).await;
    assert_eq!(status, 201, "{placed}");
    let bob_order = placed["order_id"].as_str().unwrap().to_owned();
    for order in [&ann_order, &bob_order] {
        pay(order).await;
    }
    linli_e2e::eventually(30, "both joins counted", || async {
        (joined(&id, 0).await == 2 && joined(&id, 1).await == 2).then_some(())
    })
    .await;

    // Past the cutoff, the schedule fires twice: eggs (2 of 2) go ahead, cakes (2 of 5) do not.
    linli_e2e::advance("2h").await;
    // Sessions do not last that long: log in again (same members).
    let (ann, _) = linli_e2e::login(&format!("test:o-{tag}a:u-{tag}a")).await;
    let (bob, _) = linli_e2e::login(&format!("test:o-{tag}b:u-{tag}b")).await;
    for _ in 0..2 {
        let (status, summary) = linli_e2e::fire("GroupCutoffFunction", "Cutoff").await;
        assert_eq!(status, 200, "{summary}");
    }
    let refunds = |token: String, order: String| async move {
        let (_, shown) = call("GET", &format!("/api/orders/{order}"), Some(&token), None).await;
        shown["refunds"].as_array().cloned().unwrap_or_default()
    };
    linli_e2e::eventually(30, "the cake lines refunded", || async {
        let a = refunds(ann.clone(), ann_order.clone()).await;
        let b = refunds(bob.clone(), bob_order.clone()).await;
        (a.len() == 1 && b.len() == 1).then_some(())
    })
    .await;
    let a = refunds(ann.clone(), ann_order.clone()).await;
    assert_eq!(a[0]["refund_id"], format!("{ann_order}-G1"));
    assert_eq!(a[0]["amount_fen"], 8_800);
    // Every order decided: CatchUp writes the outputs and closes the round.
    let closed = linli_e2e::eventually(30, "the round closed", || async {
        let (status, _) = linli_e2e::fire("GroupCutoffFunction", "CatchUp").await;
        assert_eq!(status, 200);
        let (_, page) = call("GET", &format!("/api/group-buys/{id}"), None, None).await;
        (page["status"] == "closed").then_some(page)
    })
    .await;
    assert_eq!(closed["open"], false);
    let list = rounds
        .output(&round.round_id, "LIST#SH-JINGAN-01")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        list["lines"],
        serde_json::json!([{ "sku": "EGG-30", "name": "EGG-30 名称", "qty": 2 }])
    );
    let batch = rounds
        .output(&round.round_id, &format!("BATCH#社区-{tag}#PAGE#0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch["members"].as_array().unwrap().len(), 1, "{batch}");
    assert_eq!(batch["members"][0]["member"], ann_member.as_str());
    let metrics = rounds
        .output(&round.round_id, "METRICS")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            metrics["orders"].as_i64(),
            metrics["confirmed_fen"].as_i64()
        ),
        (Some(2), Some(17_600))
    );
    // Ann earns for her confirmed eggs only (176 yuan → 176 points), once.
    linli_e2e::eventually(30, "the round's points", || async {
        let (_, me) = call("GET", "/api/me", Some(&ann), None).await;
        (me["available"] == 176).then_some(())
    })
    .await;
    // A third trigger changes nothing: still one refund each.
    let (status, _) = linli_e2e::fire("GroupCutoffFunction", "Cutoff").await;
    assert_eq!(status, 200);
    assert_eq!(refunds(bob.clone(), bob_order.clone()).await.len(), 1);
}
