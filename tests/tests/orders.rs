//! Orders through member-api: server pricing, refusals naming the field, another member's order,
//! cancelling (closeorder at the `wechatpay` stand-in).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::wechat::pay_v2::{self, SignType};
use linli_e2e::{call, local_setting, login, tag, test_store};
use serde_json::{json, Value};

/// The `wx.requestPayment` parameters verify with the order's sign type and the API key.
fn assert_pay_params_signed(params: &Value) {
    let sign_type: SignType = params["signType"].as_str().unwrap().parse().unwrap();
    let fields: linli::wechat::xml::Fields = [
        "appId",
        "timeStamp",
        "nonceStr",
        "package",
        "signType",
        "paySign",
    ]
    .iter()
    .map(|k| {
        let name = if *k == "paySign" { "sign" } else { k };
        (name.to_owned(), params[*k].as_str().unwrap().to_owned())
    })
    .collect();
    pay_v2::verify(&fields, &local_setting("WECHAT_PAY_API_KEY"), sign_type)
        .expect("paySign verifies");
    assert!(params["package"]
        .as_str()
        .unwrap()
        .starts_with("prepay_id=wx"));
    assert_eq!(
        params["appId"].as_str().unwrap(),
        local_setting("WECHAT_MINI_APP_ID")
    );
}

#[tokio::test]
async fn orders_are_priced_by_the_server_and_bad_ones_name_the_field() {
    let tag = tag();
    let store = test_store(
        &tag,
        &[
            ("MILK-1L", "鲜牛奶 1L", 1_590, 10),
            ("EGG-10", "土鸡蛋 10枚", 1_890, 2),
        ],
    )
    .await;
    let (token, _) = login(&format!("test:o-{tag}")).await;
    let place = |body: Value| {
        let token = token.clone();
        async move { call("POST", "/api/orders", Some(&token), Some(body)).await }
    };

    // Client prices and totals are ignored: 2 × 15.90 + 1 × 18.90 = 50.70 yuan.
    let (status, order) = place(json!({
        "store_id": store, "fulfilment": "pickup", "amount_fen": 1,
        "items": [{"sku": "MILK-1L", "qty": 2, "price_fen": 1}, {"sku": "EGG-10", "qty": 1, "price_fen": 1}]
    }))
    .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["amount_fen"], 5_070);
    assert_eq!(order["points"], 50);
    assert_eq!(order["status"], "pending");
    assert_eq!(order["out_trade_no"], order["order_id"]);
    assert_pay_params_signed(&order["pay_params"]);

    // The stand-in got a JSAPI unifiedorder for the same amount, payer and notify URL.
    let id = order["order_id"].as_str().unwrap();
    let (_, at_wechat) = call("GET", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(
        (at_wechat["state"].as_str(), at_wechat["total_fee"].as_i64()),
        (Some("NOTPAY"), Some(5_070))
    );
    assert!(at_wechat["notify_url"]
        .as_str()
        .unwrap()
        .ends_with("/wechat/pay/notify"));

    // The member sees it (with fresh payment parameters while it is pending).
    let (status, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["lines"], order["lines"]);
    assert_pay_params_signed(&shown["pay_params"]);

    // Refusals name the field.
    for (body, field) in [
        (
            json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": "CAVIAR", "qty": 1}]}),
            "items[0].sku",
        ),
        (
            json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": "MILK-1L", "qty": 0}]}),
            "items[0].qty",
        ),
        (
            json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": "MILK-1L", "qty": 1.5}]}),
            "items[0].qty",
        ),
        (
            json!({"store_id": store, "fulfilment": "pickup", "items": []}),
            "items",
        ),
        (
            json!({"store_id": "NO-SUCH", "fulfilment": "pickup", "items": [{"sku": "MILK-1L", "qty": 1}]}),
            "store_id",
        ),
        (
            json!({"store_id": store, "fulfilment": "drone", "items": [{"sku": "MILK-1L", "qty": 1}]}),
            "fulfilment",
        ),
        (
            // A delivery is ordered against a quote (tests/delivery_orders.rs).
            json!({"store_id": store, "fulfilment": "delivery", "items": [{"sku": "MILK-1L", "qty": 1}]}),
            "quote_id",
        ),
    ] {
        let (status, refused) = place(body).await;
        assert_eq!(
            (status, refused["error"]["field"].as_str()),
            (400, Some(field)),
            "{refused}"
        );
    }
    // More than the stock (2 eggs, also when asked in two lines) is a conflict.
    let (status, refused) = place(json!({
        "store_id": store, "fulfilment": "pickup", "items": [{"sku": "EGG-10", "qty": 2}, {"sku": "EGG-10", "qty": 1}]
    }))
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("out_of_stock")),
        "{refused}"
    );
    // No session, no order.
    let (status, _) = call("POST", "/api/orders", None, Some(json!({}))).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_member_cancels_their_pending_order_and_nobody_else_sees_it() {
    let tag = tag();
    let store = test_store(&tag, &[("BREAD", "全麦吐司", 1_290, 5)]).await;
    let (token, _) = login(&format!("test:o-{tag}")).await;
    let (other, _) = login(&format!("test:o2-{tag}")).await;
    let (status, order) = call(
        "POST",
        "/api/orders",
        Some(&token),
        Some(json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": "BREAD", "qty": 1}]})),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    let id = order["order_id"].as_str().unwrap();

    // Another member: as if it did not exist.
    for (method, path) in [
        ("GET", format!("/api/orders/{id}")),
        ("POST", format!("/api/orders/{id}/cancel")),
    ] {
        let (status, body) = call(method, &path, Some(&other), None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("order_not_found"))
        );
    }
    let (status, _) = call("GET", "/api/orders/NOT-AN-ORDER", Some(&token), None).await;
    assert_eq!(status, 404);

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
    assert!(cancelled.get("pay_params").is_none());
    let (_, at_wechat) = call("GET", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(
        at_wechat["state"], "CLOSED",
        "closeorder reached WeChat Pay"
    );

    let (status, again) = call(
        "POST",
        &format!("/api/orders/{id}/cancel"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("not_pending"))
    );
}
