//! Pay API v3 notifies end to end: signed by the platform key (here the repository's test key
//! pair, whose public half `local.env` configures), the resource sealed with the APIv3 key.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::wechat::pay_v3::{ApiV3Key, RsaSigner};
use linli_e2e::{base, call, clock, eventually, local_setting, login, tag, test_store};
use serde_json::{json, Value};

const PLATFORM_KEY: &str = include_str!("../../shared/vectors/test-platform-key.pem");

/// A TRANSACTION.SUCCESS notify for `order` of `total` fen, as WeChat Pay would send it.
fn notify_body(order: &str, total: i64, transaction: &str, paid_at: &str) -> String {
    let resource = json!({
        "appid": local_setting("WECHAT_MINI_APP_ID"), "mchid": local_setting("WECHAT_PAY_MCH_ID"),
        "out_trade_no": order, "transaction_id": transaction, "trade_type": "JSAPI",
        "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
        "success_time": paid_at, "payer": {"openid": "o-payer"},
        "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"}
    })
    .to_string();
    let key = ApiV3Key::new(local_setting("WECHAT_PAY_API_V3_KEY").as_bytes()).unwrap();
    let nonce = format!("{:012}", fastrand::u64(..1_000_000_000_000));
    let ciphertext = key.encrypt(&nonce, "transaction", &resource).unwrap();
    json!({
        "id": format!("EV-{transaction}"), "create_time": paid_at, "event_type": "TRANSACTION.SUCCESS",
        "resource_type": "encrypt-resource", "summary": "支付成功",
        "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext, "associated_data": "transaction", "original_type": "transaction", "nonce": nonce}
    })
    .to_string()
}

/// POSTs `body` signed over `signed_body` (normally the same) at `timestamp` with `serial`.
async fn send(body: &str, signed_body: &str, timestamp: i64, serial: &str) -> (u16, String) {
    let signer = RsaSigner::new(PLATFORM_KEY).unwrap();
    let nonce = format!("n{}", fastrand::u32(..));
    let ts = timestamp.to_string();
    let signature = signer.sign(&ts, &nonce, signed_body.as_bytes());
    let response = reqwest::Client::new()
        .post(format!("{}/wechat/pay/v3/notify", base()))
        .header("content-type", "application/json")
        .header("Wechatpay-Serial", serial)
        .header("Wechatpay-Timestamp", ts)
        .header("Wechatpay-Nonce", nonce)
        .header("Wechatpay-Signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn me(token: &str) -> Value {
    call("GET", "/api/me", Some(token), None).await.1
}

#[tokio::test]
async fn a_valid_v3_notify_pays_once_and_forged_ones_are_refused_writing_nothing() {
    let tag = tag();
    let store = test_store(&tag, &[("TEA", "龙井 250g", 12_800, 9)]).await;
    let (token, _) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let (status, order) = call(
        "POST",
        "/api/orders",
        Some(&token),
        Some(
            json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": "TEA", "qty": 1}]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    let id = order["order_id"].as_str().unwrap();
    let now = clock().await;
    let serial = local_setting("WECHAT_PAY_PLATFORM_SERIAL");
    let body = notify_body(id, 12_800, &format!("4200{tag}"), &now.to_string());

    // Forged: the body changed after signing; a foreign serial; a stale timestamp.
    let tampered = body.replace("\"EV-", "\"EV-X");
    assert_ne!(tampered, body);
    let (status, answer) = send(&tampered, &body, now.epoch_seconds(), &serial).await;
    assert_eq!(status, 401, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["code"], "SIGN_ERROR");
    assert_eq!(
        send(&body, &body, now.epoch_seconds(), "OTHER-SERIAL")
            .await
            .0,
        401
    );
    assert_eq!(
        send(&body, &body, now.epoch_seconds() - 600, &serial)
            .await
            .0,
        401
    );
    let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
    assert_eq!(shown["status"], "pending", "nothing written");

    // The real one, delivered twice: paid once, 128 points once.
    for _ in 0..2 {
        let (status, answer) = send(&body, &body, now.epoch_seconds(), &serial).await;
        assert_eq!(status, 204, "{answer}");
    }
    eventually(30, "the points", || async {
        (me(&token).await["available"] == 128).then_some(())
    })
    .await;
    let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
    assert_eq!(shown["status"], "paid");
    // Malformed but validly signed.
    let (status, _) = send("{\"id\": 1}", "{\"id\": 1}", now.epoch_seconds(), &serial).await;
    assert_eq!(status, 400);
    assert_eq!(me(&token).await["available"], 128);
}
