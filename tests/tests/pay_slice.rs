//! The paid-order slice end to end: login → order → WeChat Pay notify → points, exactly once
//! whatever WeChat Pay and SQS repeat; forged, foreign and mismatching notifies; closing unpaid
//! orders; a poison message; the repair of a lost enqueue. WRU from notify to points is printed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use linli::ids::{MemberId, OrderId, PostingId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Points;
use linli::order::{Order, Payment};
use linli::queue::Envelope;
use linli::store::ledger::item::{
    member_pk, posting_sk, HISTORY_KEYS, HISTORY_PROJECTION, PROFILE_SK,
};
use linli::store::orders::{DynamoOrders, OrderStore};
use linli::store::wru::{item_size, lsi_entry_size, write_units, WriteCost};
use linli::wechat::pay_v2::{self, SignType};
use linli::wechat::xml;
use linli_e2e::{
    advance, call, clock, dead_letter_reason, drained, eventually, fire, local_setting, login,
    post_raw, stack_queue, stack_table, tag, test_store,
};
use serde_json::{json, Value};

async fn place(token: &str, body: Value) -> Value {
    let (status, order) = call("POST", "/api/orders", Some(token), Some(body)).await;
    assert_eq!(status, 201, "{order}");
    order
}

async fn available(token: &str) -> i64 {
    let (status, me) = call("GET", "/api/me", Some(token), None).await;
    assert_eq!(status, 200, "{me}");
    me["available"].as_i64().unwrap()
}

async fn stored_order(id: &str) -> Order {
    let (client, table) = stack_table("OrdersTable").await;
    let orders = DynamoOrders::new(client, table);
    orders
        .get(&OrderId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// WeChat Pay's answer to the stand-in's notify deliveries: each accepted on its first try.
fn assert_accepted(paid: &Value) {
    for delivery in paid["deliveries"].as_array().unwrap() {
        assert_eq!(
            (
                delivery["accepted"].as_bool(),
                delivery["attempts"].as_u64()
            ),
            (Some(true), Some(1)),
            "{delivery}"
        );
    }
}

/// The anomalies recorded under an order (or an unknown `out_trade_no`).
async fn anomalies(out_trade_no: &str) -> Vec<String> {
    let (client, table) = stack_table("OrdersTable").await;
    let out = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :anomaly)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("ORDER#{out_trade_no}")))
        .expression_attribute_values(":anomaly", AttributeValue::S("ANOMALY#".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .filter_map(|i| i.get("kind").and_then(|k| k.as_s().ok()).cloned())
        .collect()
}

/// A payment notify as WeChat Pay sends it, signed with `key` and `sign_type`.
fn notify(fields: &[(&str, &str)], key: &str, sign_type: SignType) -> String {
    let mut all: Vec<(&str, String)> = fields.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    if sign_type == SignType::HmacSha256 {
        all.push(("sign_type", "HMAC-SHA256".into()));
    }
    let sign = pay_v2::sign(all.iter().map(|(k, v)| (*k, v.as_str())), key, sign_type);
    all.push(("sign", sign));
    xml::write(all.iter().map(|(k, v)| (*k, v.as_str())))
}

fn paid_fields<'a>(
    order: &'a str,
    fee: &'a str,
    appid: &'a str,
    mch_id: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("appid", appid),
        ("bank_type", "OTHERS"),
        ("cash_fee", fee),
        ("fee_type", "CNY"),
        ("is_subscribe", "N"),
        ("mch_id", mch_id),
        ("nonce_str", "e2e"),
        ("openid", "o-e2e"),
        ("out_trade_no", order),
        ("result_code", "SUCCESS"),
        ("return_code", "SUCCESS"),
        ("time_end", "20261125120000"),
        ("total_fee", fee),
        ("trade_type", "JSAPI"),
        ("transaction_id", "4200000000202611250000000001"),
    ]
}

/// The write units from a notify to the points: the order marked paid (one standard write),
/// then the posting's transaction (posting, its history-index entry, the profile; ×2 each).
async fn notify_to_points_wru(order: &Order) -> WriteCost {
    let (client, table) = stack_table("OrdersTable").await;
    let order_item = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("ORDER#{}", order.order_id)))
        .key("sk", AttributeValue::S("ORDER".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    // Cross-check the order's units on DynamoDB Local (a single-item write is faithful there).
    let mut copy = order_item.clone();
    copy.insert(
        "pk".into(),
        AttributeValue::S(format!("ORDER#WRU-CHECK-{}", order.order_id)),
    );
    copy.remove("sweep");
    copy.remove("due_at");
    let put = client
        .put_item()
        .table_name(&table)
        .set_item(Some(copy.clone()))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let local_units = put
        .consumed_capacity()
        .and_then(|c| c.table())
        .and_then(|t| t.capacity_units());
    assert_eq!(
        local_units,
        Some(f64::from(write_units(item_size(&copy)))),
        "calculator = DynamoDB Local"
    );

    let (ledger_client, ledger_table) = stack_table("LedgerTable").await;
    let get = |sk: String| {
        let (client, table) = (ledger_client.clone(), ledger_table.clone());
        let pk = member_pk(&order.member);
        async move {
            client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(pk))
                .key("sk", AttributeValue::S(sk))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let posting = get(posting_sk(&PostingId::pay_order(&order.order_id))).await;
    let profile = get(PROFILE_SK.to_owned()).await;
    let mut cost = WriteCost::default();
    cost.add("order marked paid", item_size(&order_item))
        .add_transactional("posting", item_size(&posting))
        .add_transactional(
            "history index entry",
            lsi_entry_size(&posting, &HISTORY_KEYS, &HISTORY_PROJECTION),
        )
        .add_transactional("profile", item_size(&profile));
    cost
}

#[tokio::test]
async fn paying_earns_the_goods_yuan_once_whatever_wechat_pay_and_sqs_repeat() {
    let tag = tag();
    let store = test_store(
        &tag,
        &[
            ("RICE-5KG", "东北大米 5kg", 6_199, 9),
            ("TISSUE", "抽纸 10包", 2_990, 9),
        ],
    )
    .await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let order = place(
        &token,
        json!({
            "store_id": store, "fulfilment": "pickup",
            "items": [{"sku": "RICE-5KG", "qty": 2, "price_fen": 100}, {"sku": "TISSUE", "qty": 1}]
        }),
    )
    .await;
    let id = order["order_id"].as_str().unwrap();
    assert_eq!(order["amount_fen"], 2 * 6_199 + 2_990, "server prices");
    let points = (2 * 6_199 + 2_990) / 100; // 153: floor of the goods yuan

    // WeChat Pay delivers the same notify five times at once.
    let (status, paid) = call(
        "POST",
        &format!("/_local/wechatpay/pay/{id}"),
        None,
        Some(json!({"concurrent": 5})),
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    assert_accepted(&paid);
    eventually(30, "the points", || async {
        (available(&token).await == points).then_some(())
    })
    .await;
    let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
    assert_eq!(shown["status"], "paid");
    assert!(shown.get("pay_params").is_none());

    // SQS delivers the posting twice more (different deduplication ids, as after 5 minutes).
    let order_now = stored_order(id).await;
    let envelope = Envelope::posting(order_now.pay_posting().unwrap());
    let (sqs, queue) = stack_queue("PointsPostingsQueue").await;
    for copy in ["again-1", "again-2"] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(envelope.to_json())
            .message_group_id(&member)
            .message_deduplication_id(format!("{}-{copy}", envelope.id))
            .send()
            .await
            .unwrap();
    }
    // And WeChat Pay repeats the notify once the order is paid.
    let (_, repeat) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_accepted(&repeat);
    drained(&sqs, &queue).await;
    assert_eq!(available(&token).await, points, "granted exactly once");
    let (_, me) = call("GET", "/api/me", Some(&token), None).await;
    let pay_lines = me["postings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "pay:order")
        .count();
    assert_eq!(pay_lines, 1, "{me}");
    assert_eq!(
        me["postings"][0]["at"],
        order_now.payment.as_ref().unwrap().paid_at.to_string(),
        "earned as of time_end"
    );

    let cost = notify_to_points_wru(&order_now).await;
    println!("WRU from pay notify to points posted: {cost}");
    assert!(cost.total() <= 8, "DESIGN §10 budget: {cost}");
}

#[tokio::test]
async fn forged_foreign_malformed_and_mismatching_notifies_grant_nothing() {
    let tag = tag();
    let store = test_store(&tag, &[("MILK-1L", "鲜牛奶 1L", 1_590, 9)]).await;
    let (token, _) = login(&format!("test:o-{tag}")).await;
    let order = place(
        &token,
        json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": "MILK-1L", "qty": 3}]}),
    )
    .await;
    let id = order["order_id"].as_str().unwrap();
    let (key, appid, mch) = (
        local_setting("WECHAT_PAY_API_KEY"),
        local_setting("WECHAT_MINI_APP_ID"),
        local_setting("WECHAT_PAY_MCH_ID"),
    );
    let to_notify = |body: String| post_raw("/wechat/pay/notify", "text/xml", body);

    // Forged sign, wrong sign type for the order, another merchant, another app: 200 FAIL.
    let refusals = [
        notify(
            &paid_fields(id, "4770", &appid, &mch),
            "not-the-key",
            SignType::HmacSha256,
        ),
        notify(&paid_fields(id, "4770", &appid, &mch), &key, SignType::Md5),
        notify(
            &paid_fields(id, "4770", &appid, "1999999999"),
            &key,
            SignType::HmacSha256,
        ),
        notify(
            &paid_fields(id, "4770", "wxsomeoneelse0001", &mch),
            &key,
            SignType::HmacSha256,
        ),
    ];
    for body in refusals {
        let (status, reply) = to_notify(body).await;
        assert_eq!(status, 200);
        assert!(reply.contains("FAIL"), "{reply}");
    }
    // Malformed, entity-laden, oversized.
    let (status, _) = to_notify("<xml><out_trade_no>".into()).await;
    assert_eq!(status, 400);
    let (status, _) =
        to_notify("<!DOCTYPE x [<!ENTITY e \"boom\">]><xml><a>&e;</a></xml>".into()).await;
    assert_eq!(status, 400);
    let (status, _) = to_notify(format!("<xml><a>{}</a></xml>", "x".repeat(70 * 1024))).await;
    assert_eq!(status, 413);
    assert_eq!(
        stored_order(id).await.status.as_str(),
        "pending",
        "nothing changed"
    );

    // A real payment of the wrong amount: recorded as an anomaly, SUCCESS, no points.
    let (_, paid) = call(
        "POST",
        &format!("/_local/wechatpay/pay/{id}"),
        None,
        Some(json!({"total_fee": 1})),
    )
    .await;
    assert_accepted(&paid);
    assert_eq!(anomalies(id).await, vec!["amount_mismatch"]);
    // A signed payment for an order Linli never made: an anomaly too.
    let stranger = format!("NO-SUCH-{tag}");
    let (status, reply) = to_notify(notify(
        &paid_fields(&stranger, "100", &appid, &mch),
        &key,
        SignType::Md5,
    ))
    .await;
    assert_eq!(status, 200);
    assert!(reply.contains("SUCCESS"), "{reply}");
    assert_eq!(anomalies(&stranger).await, vec!["unknown_order"]);

    let (sqs, queue) = stack_queue("PointsPostingsQueue").await;
    drained(&sqs, &queue).await;
    assert_eq!(stored_order(id).await.status.as_str(), "pending");
    assert_eq!(available(&token).await, 0);
}

#[tokio::test]
async fn an_unpaid_order_is_closed_after_its_deadline_and_a_late_payment_is_an_anomaly() {
    let tag = tag();
    let store = test_store(&tag, &[("EGG-10", "土鸡蛋 10枚", 1_890, 9)]).await;
    let (token, _) = login(&format!("test:o-{tag}")).await;
    let order = place(
        &token,
        json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": "EGG-10", "qty": 1}]}),
    )
    .await;
    let id = order["order_id"].as_str().unwrap();

    // Before the deadline nothing closes it.
    let (status, summary) = fire("HousekeepingFunction", "CloseUnpaid").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(stored_order(id).await.status.as_str(), "pending");

    advance("16m").await;
    let (status, summary) = fire("HousekeepingFunction", "CloseUnpaid").await;
    assert_eq!(status, 200, "{summary}");
    assert!(summary["closed"].as_u64().unwrap() >= 1, "{summary}");
    let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
    assert_eq!(shown["status"], "closed", "{shown}");
    let (_, at_wechat) = call("GET", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(at_wechat["state"], "CLOSED", "closed at WeChat Pay first");

    // The member's bank took the money anyway: SUCCESS, an anomaly for operators, no points.
    let (_, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_accepted(&paid);
    assert_eq!(anomalies(id).await, vec!["late_payment"]);
    assert_eq!(stored_order(id).await.status.as_str(), "closed");
    assert_eq!(available(&token).await, 0);
}

#[tokio::test]
async fn a_poison_message_lands_in_the_dlq_with_its_reason_and_other_members_are_unaffected() {
    let tag = tag();
    let (token, member) = login(&format!("test:o-{tag}")).await;
    let (sqs, queue) = stack_queue("PointsPostingsQueue").await;
    let poison = format!("{{\"v\":1,\"id\":\"poison-{tag}\",\"kind\":\"posting\"");
    let member_id = MemberId::parse(&member).unwrap();
    let good = Envelope::posting(PostingRequest::new(
        PostingId::pay_order(&OrderId::parse(&format!("T-{tag}")).unwrap()),
        member_id.clone(),
        clock().await,
        vec![Op::Earn {
            source: Source::Pay,
            points: Points::new(7),
        }],
    ));
    for (body, group, dedup) in [
        (
            poison.clone(),
            format!("poison-{tag}"),
            format!("poison-{tag}"),
        ),
        (good.to_json(), member.clone(), good.id.clone()),
    ] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(dedup)
            .send()
            .await
            .unwrap();
    }
    eventually(30, "the good posting", || async {
        (available(&token).await == 7).then_some(())
    })
    .await;

    let reason = dead_letter_reason("PointsPostingsDLQ", |b| b == poison).await;
    assert!(reason.contains("unreadable envelope"), "{reason}");
}

#[tokio::test]
async fn a_paid_order_whose_message_was_lost_is_repaired_by_redrive() {
    let tag = tag();
    let store = test_store(&tag, &[("BREAD", "全麦吐司", 1_290, 9)]).await;
    let (token, _) = login(&format!("test:o-{tag}")).await;
    let order = place(
        &token,
        json!({"store_id": store, "fulfilment": "pickup", "items": [{"sku": "BREAD", "qty": 2}]}),
    )
    .await;
    let id = OrderId::parse(order["order_id"].as_str().unwrap()).unwrap();

    // pay-notify marked it paid and died before enqueueing: the order is paid, no message sent.
    let (client, table) = stack_table("OrdersTable").await;
    let orders = DynamoOrders::new(client, table);
    let payment = Payment {
        transaction_id: format!("4200-lost-{tag}"),
        paid_at: clock().await,
        earned: None,
    };
    orders.mark_paid(&id, &payment).await.unwrap();
    assert_eq!(available(&token).await, 0);

    // Redrive waits for the payment deadline (the sweep's due time) and a grace period.
    advance("16m").await;
    let (status, summary) = fire("HousekeepingFunction", "Redrive").await;
    assert_eq!(status, 200, "{summary}");
    assert!(summary["resent"].as_u64().unwrap() >= 1, "{summary}");
    eventually(30, "the repaired points", || async {
        (available(&token).await == 25).then_some(())
    })
    .await;

    // Once posted, the order leaves the sweep: another run sends nothing for it.
    let (status, _) = fire("HousekeepingFunction", "Redrive").await;
    assert_eq!(status, 200);
    let (sqs, queue) = stack_queue("PointsPostingsQueue").await;
    drained(&sqs, &queue).await;
    assert_eq!(available(&token).await, 25);
}
