//! Payments and refunds through WeChat Pay API v3 end to end. Needs a stack started with
//! `WECHAT_PAY_API=v3` (`make test` starts one for this file alone): orders are prepared through
//! the stand-in's signed `/v3/pay/transactions/jsapi`, their payment sheet is RSA-signed, the
//! payment arrives as a platform-signed TRANSACTION.SUCCESS, refunds go through
//! `/v3/refund/domestic/refunds` and settle by REFUND.SUCCESS, cancels close through v3.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::wechat::pay_v3::RsaSigner;
use linli_e2e::{call, eventually, local_setting, login, tag, test_store};
use serde_json::{json, Value};

/// The `wx.requestPayment` parameters are v3's: `signType` RSA, `paySign` the merchant key's
/// PKCS#1 v1.5 signature (deterministic, so signing again must give the same bytes) over
/// `appId\ntimeStamp\nnonceStr\npackage\n`.
fn assert_rsa_pay_params(params: &Value) {
    let text = |k: &str| {
        params[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} in {params}"))
    };
    assert_eq!(text("signType"), "RSA");
    assert_eq!(text("appId"), local_setting("WECHAT_MINI_APP_ID"));
    assert!(text("package").starts_with("prepay_id=wx"), "{params}");
    let key = local_setting("WECHAT_PAY_MCH_PRIVATE_KEY")
        .trim_matches('"')
        .replace("\\n", "\n");
    let signer = RsaSigner::new(&key).unwrap();
    let expected = signer.sign_lines(&[
        text("appId"),
        text("timeStamp"),
        text("nonceStr"),
        text("package"),
    ]);
    assert_eq!(text("paySign"), expected, "paySign by the merchant key");
}

async fn me(token: &str) -> Value {
    let (status, me) = call("GET", "/api/me", Some(token), None).await;
    assert_eq!(status, 200, "{me}");
    me
}

async fn place(token: &str, store: &str, sku: &str) -> Value {
    let (status, order) = call(
        "POST",
        "/api/orders",
        Some(token),
        Some(json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": sku, "qty": 1}]})),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    order
}

async fn at_wechat(id: &str) -> Value {
    let (status, order) = call("GET", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{order}");
    order
}

#[tokio::test]
async fn a_v3_payment_is_prepared_paid_once_and_refunded_through_v3() {
    let tag = tag();
    let store = test_store(&tag, &[("RICE-5KG", "五常大米 5kg", 6_990, 9)]).await;
    let (token, _) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let order = place(&token, store.as_str(), "RICE-5KG").await;
    assert_rsa_pay_params(&order["pay_params"]);
    let id = order["order_id"].as_str().unwrap();

    // WeChat Pay knows it as a v3 JSAPI order whose notify goes to the v3 route.
    let wechat = at_wechat(id).await;
    assert_eq!(
        (wechat["api"].as_str(), wechat["state"].as_str()),
        (Some("v3"), Some("NOTPAY"))
    );
    assert_eq!(wechat["total_fee"], 6_990);
    assert!(wechat["notify_url"]
        .as_str()
        .unwrap()
        .ends_with("/wechat/pay/v3/notify"));
    // A fresh sheet while pending is v3's too.
    let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
    assert_rsa_pay_params(&shown["pay_params"]);

    // The member pays: TRANSACTION.SUCCESS, platform-signed → paid, 69 points once.
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    eventually(30, "the order's points", || async {
        (me(&token).await["available"] == 69).then_some(())
    })
    .await;
    let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
    assert_eq!(shown["status"], "paid", "{shown}");
    assert!(shown.get("pay_params").is_none());

    // The member takes it back: asked through v3, settled by REFUND.SUCCESS, points clawed back.
    let (status, refund) = call(
        "POST",
        &format!("/api/orders/{id}/refund"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 202, "{refund}");
    assert_eq!(refund["amount_fen"], 6_990);
    let settled = eventually(30, "the refund settled", || async {
        let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
        (shown["refunded_fen"] == 6_990).then_some(shown)
    })
    .await;
    assert_eq!(settled["refunds"][0]["state"], "succeeded", "{settled}");
    let account = eventually(30, "the clawback", || async {
        let me = me(&token).await;
        (me["available"] == 0).then_some(me)
    })
    .await;
    assert_eq!(account["debt"], 0);
}

#[tokio::test]
async fn cancelling_a_v3_order_closes_it_at_wechat_pay_and_a_paid_one_stays() {
    let tag = tag();
    let store = test_store(&tag, &[("TEA", "龙井 250g", 12_800, 9)]).await;
    let (token, _) = login(&format!("test:o-{tag}")).await;

    let order = place(&token, store.as_str(), "TEA").await;
    let id = order["order_id"].as_str().unwrap();
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
    assert_eq!(at_wechat(id).await["state"], "CLOSED", "closed through v3");

    // Paid at WeChat Pay before the cancel reached it: the close query says so, not cancelled.
    let order = place(&token, store.as_str(), "TEA").await;
    let id = order["order_id"].as_str().unwrap();
    let (status, _) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200);
    let (status, refused) = call(
        "POST",
        &format!("/api/orders/{id}/cancel"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        ["already_paid", "not_pending"].contains(&refused["error"]["code"].as_str().unwrap()),
        "{refused}"
    );
    assert_eq!(at_wechat(id).await["state"], "SUCCESS", "never closed");
}
