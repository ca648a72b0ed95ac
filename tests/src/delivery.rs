//! Delivery helpers: a shop of its own with an address 1 km away, points granted by an
//! adjustment, quotes and orders against them, the member's account and a SKU's stock.

use crate::{call, clock, stack_table, test_store_at};
use linli::ids::{MemberId, PostingId, TicketId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Points;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use serde_json::{json, Value};

/// Gives `member` `points` through an operator adjustment.
pub async fn grant(member: &str, points: i64, ticket: &str) {
    let (client, table) = stack_table("LedgerTable").await;
    let posting = PostingRequest::new(
        PostingId::adjust(&TicketId::parse(ticket).unwrap()),
        MemberId::parse(member).unwrap(),
        clock().await,
        vec![Op::Earn {
            source: Source::Adjust,
            points: Points::new(points),
        }],
    );
    DynamoLedger::new(client, table)
        .post(&posting)
        .await
        .unwrap();
}

pub async fn me(token: &str) -> Value {
    let (status, me) = call("GET", "/api/me", Some(token), None).await;
    assert_eq!(status, 200, "{me}");
    me
}

pub async fn stock(store: &str, sku: &str) -> i64 {
    let (status, body) = call("GET", &format!("/api/stores/{store}/skus"), None, None).await;
    assert_eq!(status, 200, "{body}");
    body["skus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sku"] == sku)
        .and_then(|s| s["stock"].as_i64())
        .unwrap()
}

/// A store of its own (somewhere no other test puts stores) selling `sku` at ¥30 with `stock`,
/// and an address 1 km away.
pub async fn shop(tag: &str, sku: &str, stock: i64) -> (String, Value) {
    let (lat, lng) = (
        29.50 + f64::from(fastrand::u16(..)) / 100_000.0,
        106.50 + f64::from(fastrand::u16(..)) / 100_000.0,
    );
    let store = test_store_at(tag, (lat + 0.009, lng), &[(sku, "菜籽油 5L", 3_000, stock)]).await;
    let address = json!({"lat": lat, "lng": lng, "text": "重庆市渝中区 测试路 9 号"});
    (store.to_string(), address)
}

pub async fn quote(token: &str, address: &Value, sku: &str, qty: i64) -> Value {
    let body = json!({"address": address, "items": [{"sku": sku, "qty": qty}]});
    let (status, q) = call("POST", "/api/delivery/quote", Some(token), Some(body)).await;
    assert_eq!(status, 200, "{q}");
    q
}

pub async fn order(token: &str, quote_id: &str, fee: &str) -> (u16, Value) {
    let body = json!({"quote_id": quote_id, "fee": fee});
    call("POST", "/api/orders", Some(token), Some(body)).await
}
