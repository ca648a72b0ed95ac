//! Community group-buy helpers shared by the e2e suites: rounds of their own, joins and
//! payments through the stand-in, live counts from the public page.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use crate::call;
use chrono::Days;
use linli::groupbuy::{Handover, Round, RoundSku, RoundStatus, SkuKind};
use linli::ids::{RoundId, SkuId, StoreId};

/// An SKU at 88 yuan, at most 2 per member.
pub fn sku(id: &str, min: i64, max: Option<i64>) -> RoundSku {
    RoundSku {
        sku: SkuId::parse(id).unwrap(),
        name: format!("{id} 名称"),
        kind: SkuKind::Bundle,
        price_fen: 8_800,
        min_qty: min,
        max_qty: max,
        per_member: Some(2),
    }
}

/// A round of its own (`R-<tag>`, community `社区-<tag>`), opened now and cut off `hours` later.
pub fn round_of(
    tag: &str,
    now: linli::time::BusinessTime,
    hours: i64,
    skus: Vec<RoundSku>,
) -> Round {
    let cutoff = now.plus_ms(hours * 3_600_000);
    Round {
        round_id: RoundId::parse(&format!("R-{tag}")).unwrap(),
        store_id: StoreId::parse("SH-JINGAN-01").unwrap(),
        community: format!("社区-{tag}"),
        title: "周二集单".into(),
        cutoff_at: cutoff,
        fulfil_on: cutoff.date().checked_add_days(Days::new(1)).unwrap(),
        handover: Handover::Delivery,
        skus,
        status: RoundStatus::Open,
        template: None,
        created_at: now,
    }
}

/// The member pays `order` (the Pay stand-in sends its signed notify).
pub async fn pay(order: &str) {
    let (status, body) = call(
        "POST",
        &format!("/_local/wechatpay/pay/{order}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

pub async fn join(token: &str, round: &str, sku: &str, qty: i64) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "items": [{ "sku": sku, "qty": qty }] });
    call(
        "POST",
        &format!("/api/group-buys/{round}/orders"),
        Some(token),
        Some(body),
    )
    .await
}

pub async fn joined(round: &str, index: usize) -> i64 {
    let (_, page) = call("GET", &format!("/api/group-buys/{round}"), None, None).await;
    page["skus"][index]["joined"].as_i64().unwrap_or(-1)
}

/// A round of its own in the stack's GroupBuys table (`round_of`), created; with its store.
pub async fn open_round(
    tag: &str,
    hours: i64,
    skus: Vec<RoundSku>,
) -> (linli::store::rounds::DynamoRounds, Round) {
    let (client, table) = crate::stack_table("GroupBuysTable").await;
    let rounds = linli::store::rounds::DynamoRounds::new(client, table);
    let round = round_of(tag, crate::clock().await, hours, skus);
    assert!(rounds.create(&round).await.unwrap());
    (rounds, round)
}

/// Places a join of `items` (`[{sku, qty}]`) for the member; answers its order id (201).
pub async fn placed(token: &str, round: &str, items: serde_json::Value) -> String {
    let body = serde_json::json!({ "items": items });
    let path = format!("/api/group-buys/{round}/orders");
    let (status, placed) = call("POST", &path, Some(token), Some(body)).await;
    assert_eq!(status, 201, "{placed}");
    placed["order_id"].as_str().unwrap().to_owned()
}

/// Joins `qty` of the round's SKU number `index`, pays, and waits until the SKU's paid count
/// is `joined_after`; answers the order id.
pub async fn paid_join(
    token: &str,
    round: &str,
    (index, sku, qty): (usize, &str, i64),
    joined_after: i64,
) -> String {
    let order = placed(
        token,
        round,
        serde_json::json!([{ "sku": sku, "qty": qty }]),
    )
    .await;
    pay(&order).await;
    crate::eventually(30, "the paid join counted", || async {
        (joined(round, index).await == joined_after).then_some(())
    })
    .await;
    order
}
