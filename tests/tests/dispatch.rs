//! Dispatching paid deliveries through the stack (issue 9): a paid delivery gets one waybill at
//! the routed platform's stand-in (Dada: cheapest fee + promised time), also when the payment
//! notify or Redrive sends it again; with Dada down it fails over to the next (Meituan) without
//! leaving a waybill behind at Dada; with every platform down the order is flagged, the fee's
//! points come back once and the message is dead-lettered. Clock at 15:00, weather normal.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli_e2e::delivery::{grant, me, order, quote, shop};
use linli_e2e::{
    advance, call, dead_letter_reason, eventually, fire, login, next_hour_of_day, tag,
};
use serde_json::{json, Value};

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

/// A delivery with its fee in points, not yet paid; answers the token and the order id.
async fn paid_delivery(tag: &str) -> (String, String) {
    delivery_with_fee(tag, "points").await
}

async fn delivery_with_fee(tag: &str, fee: &str) -> (String, String) {
    let sku = format!("OIL-{tag}");
    let (_, address) = shop(tag, &sku, 5).await;
    next_hour_of_day(15).await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    grant(&member, 80, &format!("T-{tag}")).await;
    let q = quote(&token, &address, &sku, 1).await;
    let (status, placed) = order(&token, q["quote_id"].as_str().unwrap(), fee).await;
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

/// Every platform fails its next create, the settling query and the cancel.
async fn every_platform_down() {
    for platform in ["dada", "meituan", "sf"] {
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
}

#[tokio::test]
async fn with_every_platform_down_a_cash_fee_is_refunded_and_takes_no_points() {
    let tag = tag();
    let (token, id) = delivery_with_fee(&tag, "cash").await;
    every_platform_down().await;
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    let shown = eventually(30, "the fee's refund", || async {
        let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
        let refunds = shown["refunds"].as_array().cloned().unwrap_or_default();
        (!refunds.is_empty() && shown["delivery"]["dispatch"]["failed_at"].is_string())
            .then_some(shown)
    })
    .await;
    let refunds = shown["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{shown}");
    assert_eq!(refunds[0]["refund_id"], format!("{id}-F"));
    assert_eq!(refunds[0]["amount_fen"], 500);
    assert_eq!(refunds[0]["origin"], "delivery_fee");
    // What is left to refund is the goods.
    assert_eq!(shown["refundable_fen"], 3_000, "{shown}");
}

#[tokio::test]
async fn with_every_platform_down_the_order_is_flagged_and_the_points_fee_comes_back_once() {
    let tag = tag();
    let (token, id) = paid_delivery(&tag).await;
    every_platform_down().await;
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
    let reason = dead_letter_reason("CourierDispatchDLQ", |b| b.contains(id.as_str())).await;
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
