//! Refunds end to end: a refund made on the merchant platform and confirmed by refundquery, the
//! member's own refund of the rest, the clawback (debt when the points were spent, repaid by the
//! next order), repeated notifies, and refund notifies WeChat Pay never made.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::ids::{MemberId, PostingId, TicketId};
use linli::ledger::{Op, PostingRequest, Usage};
use linli::money::Points;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli_e2e::{call, clock, eventually, login, stack_table, tag, test_store};
use serde_json::{json, Value};

async fn me(token: &str) -> Value {
    let (status, me) = call("GET", "/api/me", Some(token), None).await;
    assert_eq!(status, 200, "{me}");
    me
}

/// A paid pickup order of `qty` × 88.50 yuan; answers its id once its points landed.
async fn paid_order(token: &str, store: &str, qty: i64, points_before: i64) -> String {
    let (status, order) = call(
        "POST",
        "/api/orders",
        Some(token),
        Some(json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": "OIL-5L", "qty": qty}]})),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    let id = order["order_id"].as_str().unwrap().to_owned();
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    let expected = points_before + qty * 88;
    eventually(30, "the order's points", || async {
        (me(token).await["available"] == expected).then_some(())
    })
    .await;
    id
}

/// Sends a refund notify through the stand-in's control; answers the delivery.
async fn refund_notify(order: &str, refund: &str, fee: i64, record: bool) -> Value {
    let (status, sent) = call(
        "POST",
        "/_local/wechatpay/refund-notify",
        None,
        Some(json!({"out_trade_no": order, "out_refund_no": refund, "refund_fee": fee, "status": "SUCCESS", "record": record})),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    sent["delivery"].clone()
}

#[tokio::test]
async fn refunds_claw_back_the_points_once_with_debt_repaid_by_the_next_order() {
    let tag = tag();
    let store = test_store(&tag, &[("OIL-5L", "花生油 5L", 8_850, 50)]).await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let order = paid_order(&token, store.as_str(), 1, 0).await; // 88.50 yuan → 88 points

    // The member spends 80 of the 88 points (an adjustment stands in for a redemption).
    let (client, table) = stack_table("LedgerTable").await;
    let ledger = DynamoLedger::new(client, table);
    let spend = PostingRequest::new(
        PostingId::adjust(&TicketId::parse(&format!("T-{tag}")).unwrap()),
        MemberId::parse(&member).unwrap(),
        clock().await,
        vec![Op::Redeem {
            usage: Usage::Goods,
            points: Points::new(80),
        }],
    );
    ledger.post(&spend).await.unwrap();
    assert_eq!(me(&token).await["available"], 8);

    // A refund of 30 yuan made on the merchant platform: confirmed by refundquery, clawed back
    // floor(88 × 3000 / 8850) = 29: 8 available, 21 owed.
    let delivery = refund_notify(&order, &format!("{order}-X1"), 3_000, true).await;
    assert_eq!(delivery["accepted"], true, "{delivery}");
    let account = eventually(30, "the clawback", || async {
        let me = me(&token).await;
        (me["debt"] == 21).then_some(me)
    })
    .await;
    assert_eq!(account["available"], 0);
    // The same notify again (WeChat Pay repeats): no second clawback.
    refund_notify(&order, &format!("{order}-X1"), 3_000, true).await;

    // The member takes back the rest: 58.50 yuan, the other 59 points (all owed now).
    let (status, refund) = call(
        "POST",
        &format!("/api/orders/{order}/refund"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 202, "{refund}");
    assert_eq!(refund["amount_fen"], 5_850);
    let (status, again) = call(
        "POST",
        &format!("/api/orders/{order}/refund"),
        Some(&token),
        None,
    )
    .await;
    assert!(status == 200 || status == 202, "{again}");
    assert_eq!(
        again["refund_id"], refund["refund_id"],
        "the same refund, never a second"
    );
    eventually(30, "the member's refund settled", || async {
        let (_, shown) = call("GET", &format!("/api/orders/{order}"), Some(&token), None).await;
        (shown["refunded_fen"] == 8_850).then_some(())
    })
    .await;
    let account = eventually(30, "the second clawback", || async {
        let me = me(&token).await;
        (me["debt"] == 80).then_some(me)
    })
    .await;
    assert_eq!(
        account["available"], 0,
        "88 clawed back in total: 8 taken, 80 owed"
    );
    let (_, shown) = call("GET", &format!("/api/orders/{order}"), Some(&token), None).await;
    assert_eq!(shown["refunds"].as_array().unwrap().len(), 2, "{shown}");
    assert_eq!(shown["refundable_fen"], 0);
    let (status, none_left) = call(
        "POST",
        &format!("/api/orders/{order}/refund"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{none_left}");

    // The next order (2 × 88.50 = 177 points) repays the 80 owed first.
    let (status, next) = call(
        "POST",
        "/api/orders",
        Some(&token),
        Some(json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": "OIL-5L", "qty": 2}]})),
    )
    .await;
    assert_eq!(status, 201, "{next}");
    let next_id = next["order_id"].as_str().unwrap();
    call(
        "POST",
        &format!("/_local/wechatpay/pay/{next_id}"),
        None,
        None,
    )
    .await;
    let account = eventually(30, "the debt repaid", || async {
        let me = me(&token).await;
        (me["available"] == 177 - 80).then_some(me)
    })
    .await;
    assert_eq!(account["debt"], 0);
}

#[tokio::test]
async fn refund_notifies_wechat_pay_never_made_change_nothing() {
    let tag = tag();
    let store = test_store(&tag, &[("OIL-5L", "花生油 5L", 8_850, 50)]).await;
    let (token, _) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let order = paid_order(&token, store.as_str(), 1, 0).await;

    // Encrypted with our key but unknown to WeChat Pay (refundquery: REFUNDNOTEXIST).
    let delivery = refund_notify(&order, &format!("{order}-FAKE"), 8_850, false).await;
    assert_eq!(delivery["accepted"], false, "{delivery}");
    assert!(
        delivery["last_body"].as_str().unwrap().contains("FAIL"),
        "{delivery}"
    );
    // For an order Linli never made.
    let delivery = refund_notify("01JUNKNOWNORDER0000000000", "01JUNKNOWN-M", 100, false).await;
    assert_eq!(delivery["accepted"], false, "{delivery}");
    // Garbage.
    let (status, body) = linli_e2e::post_raw(
        "/wechat/pay/refund-notify",
        "text/xml",
        b"<xml><return_code>SUCCESS".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let me = me(&token).await;
    assert_eq!(
        (me["available"].as_i64(), me["debt"].as_i64()),
        (Some(88), Some(0))
    );
    let (_, shown) = call("GET", &format!("/api/orders/{order}"), Some(&token), None).await;
    assert_eq!(shown["refunds"].as_array().unwrap().len(), 0, "{shown}");
    assert_eq!(shown["refundable_fen"], 8_850);
}
