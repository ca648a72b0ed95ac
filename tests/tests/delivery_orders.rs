//! Delivery orders against a quote through the stack (issue 9): the fee paid in points is held
//! with the order and its stock in one transaction, captured by the payment, voided with the
//! stock returned by a cancel or the deadline; too few points is a 409 with the shortfall and
//! nothing held; two members racing for the last unit get one order and one 409. The clock is
//! pinned to a quiet hour (15:00: no peak, the free-delivery threshold lowered to ¥49) and the
//! weather is normal, so the standard fee is ¥5 = 50 points. A paid delivery gets its waybill at
//! the routed platform's stand-in (Dada: cheapest fee + promised time); with Dada down it fails
//! over to the next (Meituan) without leaving a waybill behind at Dada; with every platform
//! down the order is flagged, the fee's points come back once and the message is dead-lettered.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::ids::{MemberId, PostingId, TicketId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Points;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli_e2e::{
    advance, call, clock, eventually, fire, login, next_hour_of_day, stack_queue, stack_table, tag,
    test_store_at,
};
use serde_json::{json, Value};

/// Gives `member` `points` through an operator adjustment.
async fn grant(member: &str, points: i64, ticket: &str) {
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

async fn me(token: &str) -> Value {
    let (status, me) = call("GET", "/api/me", Some(token), None).await;
    assert_eq!(status, 200, "{me}");
    me
}

async fn stock(store: &str, sku: &str) -> i64 {
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
async fn shop(tag: &str, sku: &str, stock: i64) -> (String, Value) {
    let (lat, lng) = (
        29.50 + f64::from(fastrand::u16(..)) / 100_000.0,
        106.50 + f64::from(fastrand::u16(..)) / 100_000.0,
    );
    let store = test_store_at(tag, (lat + 0.009, lng), &[(sku, "菜籽油 5L", 3_000, stock)]).await;
    let address = json!({"lat": lat, "lng": lng, "text": "重庆市渝中区 测试路 9 号"});
    (store.to_string(), address)
}

async fn quote(token: &str, address: &Value, sku: &str, qty: i64) -> Value {
    let body = json!({"address": address, "items": [{"sku": sku, "qty": qty}]});
    let (status, q) = call("POST", "/api/delivery/quote", Some(token), Some(body)).await;
    assert_eq!(status, 200, "{q}");
    q
}

async fn order(token: &str, quote_id: &str, fee: &str) -> (u16, Value) {
    let body = json!({"quote_id": quote_id, "fee": fee});
    call("POST", "/api/orders", Some(token), Some(body)).await
}

#[tokio::test]
async fn a_points_fee_is_held_with_the_stock_voided_by_a_cancel_and_captured_by_the_payment() {
    let tag = tag();
    let sku = format!("OIL-{tag}");
    let (store, address) = shop(&tag, &sku, 5).await;
    next_hour_of_day(15).await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    grant(&member, 80, &format!("T-{tag}")).await;
    let lots_before = me(&token).await["lots"].clone();

    let q = quote(&token, &address, &sku, 1).await;
    assert_eq!(
        (q["points"].as_i64(), q["fee_fen"].as_i64()),
        (Some(50), Some(500)),
        "{q}"
    );
    let (status, placed) = order(&token, q["quote_id"].as_str().unwrap(), "points").await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["store_id"], store.as_str());
    assert_eq!(
        placed["amount_fen"], 3_000,
        "the fee is not in the cash amount: {placed}"
    );
    assert_eq!(placed["delivery"]["fee"], "points");
    assert_eq!(placed["delivery"]["points"], 50);
    assert_eq!(placed["delivery"]["platform"], "dada", "{placed}");
    let account = me(&token).await;
    assert_eq!(
        (account["available"].as_i64(), account["held"].as_i64()),
        (Some(30), Some(50))
    );
    assert_eq!(stock(&store, &sku).await, 4);

    // Cancel: the points go back to the lots they came from, the unit back on the shelf.
    let id = placed["order_id"].as_str().unwrap();
    let (status, cancelled) = call(
        "POST",
        &format!("/api/orders/{id}/cancel"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled")),
        "{cancelled}"
    );
    let account = me(&token).await;
    assert_eq!(
        (account["available"].as_i64(), account["held"].as_i64()),
        (Some(80), Some(0))
    );
    assert_eq!(account["lots"], lots_before);
    assert_eq!(stock(&store, &sku).await, 5);
    let (status, _) = call(
        "POST",
        &format!("/api/orders/{id}/cancel"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 409, "a second cancel changes nothing");
    assert_eq!(stock(&store, &sku).await, 5, "stock returns once");
    assert_eq!(me(&token).await["available"], 80);

    // Paid: the hold is captured with the payment, which earns its ¥30 of goods.
    let q = quote(&token, &address, &sku, 1).await;
    let (status, placed) = order(&token, q["quote_id"].as_str().unwrap(), "points").await;
    assert_eq!(status, 201, "{placed}");
    let id = placed["order_id"].as_str().unwrap();
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    eventually(30, "the capture and the earning", || async {
        let account = me(&token).await;
        (account["available"] == 60 && account["held"] == 0).then_some(())
    })
    .await;
    let (status, history) = call("GET", "/api/me/points", Some(&token), None).await;
    assert_eq!(status, 200);
    let pay = history["postings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["posting_id"] == format!("pay:order:{id}"))
        .cloned()
        .unwrap_or_else(|| panic!("no pay:order posting in {history}"));
    // The hold already took the 50 from available: the capture adds only the earning.
    assert_eq!(pay["delta"], 30, "{pay}");
    assert_eq!(
        stock(&store, &sku).await,
        4,
        "sold: the unit stays out of stock"
    );
    let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
    assert_eq!(shown["status"], "paid", "{shown}");
}

#[tokio::test]
async fn too_few_points_is_a_409_with_the_shortfall_and_other_fee_choices_hold_nothing() {
    let tag = tag();
    let sku = format!("OIL-{tag}");
    let (store, address) = shop(&tag, &sku, 5).await;
    next_hour_of_day(15).await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    grant(&member, 10, &format!("T-{tag}")).await;
    let q = quote(&token, &address, &sku, 1).await;
    let quote_id = q["quote_id"].as_str().unwrap();

    let (status, refused) = order(&token, quote_id, "points").await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("insufficient_points")),
        "{refused}"
    );
    assert_eq!(
        (refused["shortfall"].as_i64(), refused["available"].as_i64()),
        (Some(40), Some(10))
    );
    let account = me(&token).await;
    assert_eq!(
        (account["available"].as_i64(), account["held"].as_i64()),
        (Some(10), Some(0))
    );
    assert_eq!(stock(&store, &sku).await, 5, "nothing reserved");

    // ¥30 is ¥19 short of the quiet-hour threshold of ¥49.
    let (status, refused) = order(&token, quote_id, "free").await;
    assert_eq!(
        (status, refused["add_for_free_fen"].as_i64()),
        (409, Some(1_900)),
        "{refused}"
    );
    let (status, refused) = order(&token, quote_id, "gold bars").await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("fee"))
    );
    let (status, refused) = order(&token, "forged.quote", "cash").await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("quote_id"))
    );
    let (other, _) = login(&format!("test:o2-{tag}:u2-{tag}")).await;
    let (status, _) = order(&other, quote_id, "cash").await;
    assert_eq!(status, 400, "a quote is its member's own");

    // Cash: the fee joins the amount paid through WeChat Pay.
    let (status, placed) = order(&token, quote_id, "cash").await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(
        (placed["amount_fen"].as_i64(), placed["goods_fen"].as_i64()),
        (Some(3_500), Some(3_000))
    );
    assert_eq!(me(&token).await["held"], 0);

    // A quote is good for 5 minutes.
    advance("6m").await;
    let (status, expired) = order(&token, quote_id, "cash").await;
    assert_eq!(
        (status, expired["error"]["code"].as_str()),
        (409, Some("quote_expired")),
        "{expired}"
    );
}

#[tokio::test]
async fn two_members_racing_for_the_last_unit_get_one_order_and_a_409_and_the_deadline_returns_it()
{
    let tag = tag();
    let sku = format!("OIL-{tag}");
    let (store, address) = shop(&tag, &sku, 1).await;
    next_hour_of_day(15).await;
    let (a, member_a) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let (b, member_b) = login(&format!("test:o2-{tag}:u2-{tag}")).await;
    grant(&member_a, 80, &format!("T-{tag}")).await;
    grant(&member_b, 80, &format!("T2-{tag}")).await;
    let (qa, qb) = tokio::join!(quote(&a, &address, &sku, 1), quote(&b, &address, &sku, 1));
    let (ra, rb) = tokio::join!(
        order(&a, qa["quote_id"].as_str().unwrap(), "points"),
        order(&b, qb["quote_id"].as_str().unwrap(), "points")
    );
    let mut statuses = [ra.0, rb.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{ra:?} {rb:?}");
    let (winner, loser, placed, refused) = if ra.0 == 201 {
        (&a, &b, ra.1, rb.1)
    } else {
        (&b, &a, rb.1, ra.1)
    };
    assert_eq!(refused["error"]["code"], "out_of_stock", "{refused}");
    assert_eq!(stock(&store, &sku).await, 0);
    assert_eq!(
        me(loser).await["held"],
        0,
        "the loser's hold was never written"
    );
    assert_eq!(me(winner).await["held"], 50);

    // Unpaid past its deadline: CloseUnpaid closes it, returns the unit and voids the hold.
    advance("16m").await;
    let (status, summary) = fire("HousekeepingFunction", "CloseUnpaid").await;
    assert_eq!(status, 200, "{summary}");
    let id = placed["order_id"].as_str().unwrap();
    let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(winner), None).await;
    assert_eq!(shown["status"], "closed", "{shown} {summary}");
    assert_eq!(stock(&store, &sku).await, 1);
    let account = me(winner).await;
    assert_eq!(
        (account["available"].as_i64(), account["held"].as_i64()),
        (Some(80), Some(0))
    );
}

/// The stand-in `platform`'s waybills for `order`.
async fn waybills(platform: &str, order: &str) -> Vec<Value> {
    let (status, all) = call("GET", &format!("/_local/{platform}/waybills"), None, None).await;
    assert_eq!(status, 200, "{all}");
    all.as_array()
        .unwrap()
        .iter()
        .filter(|w| w["order_id"] == order)
        .cloned()
        .collect()
}

/// A paid delivery with its fee in points; answers the order id.
async fn paid_delivery(tag: &str) -> (String, String) {
    let sku = format!("OIL-{tag}");
    let (_, address) = shop(tag, &sku, 5).await;
    next_hour_of_day(15).await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    grant(&member, 80, &format!("T-{tag}")).await;
    let q = quote(&token, &address, &sku, 1).await;
    let (status, placed) = order(&token, q["quote_id"].as_str().unwrap(), "points").await;
    assert_eq!(status, 201, "{placed}");
    (token, placed["order_id"].as_str().unwrap().to_owned())
}

async fn dispatched(token: &str, id: &str) -> Value {
    eventually(30, "the waybill", || async {
        let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(token), None).await;
        let waybill = &shown["delivery"]["dispatch"]["waybill"];
        waybill.is_object().then(|| shown.clone())
    })
    .await
}

#[tokio::test]
async fn a_paid_delivery_gets_one_waybill_at_the_routed_platform() {
    let tag = tag();
    let (token, id) = paid_delivery(&tag).await;
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    let shown = dispatched(&token, &id).await;
    let waybill = &shown["delivery"]["dispatch"]["waybill"];
    assert_eq!(waybill["platform"], "dada", "{shown}");
    let promised =
        linli::time::BusinessTime::parse_rfc3339(waybill["promised_at"].as_str().unwrap()).unwrap();
    let created =
        linli::time::BusinessTime::parse_rfc3339(waybill["created_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        promised.epoch_ms() - created.epoch_ms(),
        40 * 60_000,
        "Dada promises 40 minutes"
    );
    assert_eq!(waybills("dada", &id).await.len(), 1);
    // A repeated payment notify (or a Redrive) sends the dispatch again: still one waybill.
    let (status, _) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert!(status == 200 || status == 409, "{status}");
    advance("16m").await;
    let (status, summary) = fire("HousekeepingFunction", "Redrive").await;
    assert_eq!(status, 200, "{summary}");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(waybills("dada", &id).await.len(), 1);
    for other in ["sf", "meituan"] {
        assert!(waybills(other, &id).await.is_empty(), "{other}");
    }
}

#[tokio::test]
async fn with_dada_down_the_delivery_fails_over_to_the_next_platform_without_a_duplicate() {
    let tag = tag();
    let (token, id) = paid_delivery(&tag).await;
    // Dada fails create, the query that settles it and the cancel that makes sure.
    let fault = json!({"mode": "fail", "count": 3, "status": 502});
    let (status, _) = call("POST", "/_local/dada/fault", None, Some(fault)).await;
    assert_eq!(status, 204);
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    let shown = dispatched(&token, &id).await;
    let dispatch = &shown["delivery"]["dispatch"];
    assert_eq!(dispatch["waybill"]["platform"], "meituan", "{shown}");
    assert_eq!(dispatch["tries"][0]["platform"], "dada");
    assert_eq!(
        dispatch["tries"][0]["outcome"]["result"], "unsettled",
        "{dispatch}"
    );
    assert!(
        waybills("dada", &id).await.is_empty(),
        "no waybill left at Dada"
    );
    assert_eq!(waybills("meituan", &id).await.len(), 1);
    let (status, _) = call(
        "POST",
        "/_local/dada/fault",
        None,
        Some(json!({"mode": "off"})),
    )
    .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn with_every_platform_down_the_order_is_flagged_and_the_points_fee_comes_back_once() {
    let tag = tag();
    let (token, id) = paid_delivery(&tag).await;
    for platform in ["dada", "meituan", "sf"] {
        // Each fails create, the settling query and the cancel.
        let fault = json!({"mode": "fail", "count": 3, "status": 503});
        let (status, _) = call(
            "POST",
            &format!("/_local/{platform}/fault"),
            None,
            Some(fault),
        )
        .await;
        assert_eq!(status, 204);
    }
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    let shown = eventually(30, "dispatching given up", || async {
        let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
        shown["delivery"]["dispatch"]["failed_at"]
            .is_string()
            .then_some(shown)
    })
    .await;
    assert_eq!(
        shown["delivery"]["dispatch"]["tries"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "{shown}"
    );
    // 80 granted − 50 held + 30 earned by the goods + 50 returned (by dispatch, or by Redrive
    // when the capture was still on its way).
    advance("16m").await;
    let (status, _) = fire("HousekeepingFunction", "Redrive").await;
    assert_eq!(status, 200);
    eventually(30, "the fee's points back", || async {
        let account = me(&token).await;
        (account["available"] == 110 && account["held"] == 0).then_some(())
    })
    .await;
    let (sqs, dlq) = stack_queue("CourierDispatchDLQ").await;
    let reason = eventually(30, "the dispatch in the DLQ", || async {
        let out = sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(1)
            .send()
            .await
            .unwrap();
        out.messages()
            .iter()
            .find(|m| m.body().is_some_and(|b| b.contains(id.as_str())))
            .map(|m| {
                m.message_attributes()
                    .and_then(|a| a.get("reason"))
                    .and_then(|r| r.string_value())
                    .unwrap_or_default()
                    .to_owned()
            })
    })
    .await;
    assert!(reason.contains("every courier platform failed"), "{reason}");
    // Redrive again: no new tries, the fee not returned twice.
    advance("16m").await;
    let (status, _) = fire("HousekeepingFunction", "Redrive").await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(me(&token).await["available"], 110);
    for platform in ["dada", "meituan", "sf"] {
        assert!(waybills(platform, &id).await.is_empty(), "{platform}");
    }
}
