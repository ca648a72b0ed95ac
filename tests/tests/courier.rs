//! Courier callbacks, the delivery timeline and compensation through the stack (issue 10): the
//! stand-ins' signed callbacks move the order's waybill forward only; a delivery 25 minutes
//! late is compensated once (600 points, one subscribe message) however often the callback and
//! the compensation message come; a Dada callback with a valid md5 but the wrong token changes
//! nothing; the platform's own answer wins over a callback; the daily cap holds. Clock at
//! 15:00, weather normal; Dada is the routed platform unless a fault moves the delivery on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::ids::{MemberId, OrderId, PostingId};
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::time::BusinessTime;
use linli_e2e::delivery::{grant, order, quote, shop};
use linli_e2e::{
    call, clock, eventually, local_setting, login, next_hour_of_day, post_raw, stack_table, tag,
};
use serde_json::{json, Value};
use std::time::Duration;

/// A paid delivery (fee in points) with its waybill; answers the token, member, openid, id
/// and the order as shown.
struct Shipped {
    token: String,
    member: String,
    openid: String,
    id: String,
}

async fn shipped(tag: &str, consent: bool) -> Shipped {
    let sku = format!("OIL-{tag}");
    let (_, address) = shop(tag, &sku, 5).await;
    next_hour_of_day(15).await;
    let openid = format!("o-{tag}");
    let (token, member) = login(&format!("test:{openid}:u-{tag}")).await;
    grant(&member, 80, &format!("T-{tag}")).await;
    if consent {
        let template = local_setting("WECHAT_TEMPLATE_COMPENSATION");
        let answer = json!({ template: "accept" });
        let (status, body) =
            call("POST", "/api/me/subscriptions", Some(&token), Some(answer)).await;
        assert_eq!(status, 200, "{body}");
    }
    let q = quote(&token, &address, &sku, 1).await;
    let (status, placed) = order(&token, q["quote_id"].as_str().unwrap(), "points").await;
    assert_eq!(status, 201, "{placed}");
    let id = placed["order_id"].as_str().unwrap().to_owned();
    pay_and_wait(&token, &id).await;
    Shipped {
        token,
        member,
        openid,
        id,
    }
}

async fn pay_and_wait(token: &str, id: &str) -> Value {
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    eventually(30, "the waybill", || async {
        let shown = shown(token, id).await;
        shown["delivery"]["dispatch"]["waybill"]
            .is_object()
            .then_some(shown)
    })
    .await
}

async fn shown(token: &str, id: &str) -> Value {
    let (status, shown) = call("GET", &format!("/api/orders/{id}"), Some(token), None).await;
    assert_eq!(status, 200, "{shown}");
    shown
}

/// The stand-in's latest waybill for `id`.
async fn waybill(platform: &str, id: &str) -> Value {
    let (status, all) = call("GET", &format!("/_local/{platform}/waybills"), None, None).await;
    assert_eq!(status, 200, "{all}");
    all.as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|w| w["order_id"] == id)
        .cloned()
        .expect("a waybill")
}

/// Moves the stand-in's waybill to `status` (`late`: minutes after the devstack clock that a
/// delivery is reported at).
async fn advance(platform: &str, id: &str, status: &str, late: Option<i64>) {
    let mut body = json!({ "status": status });
    if let Some(late) = late {
        body["late_minutes"] = json!(late);
    }
    let path = format!("/_local/{platform}/waybills/{id}/advance");
    let (code, answer) = call("POST", &path, None, Some(body)).await;
    assert_eq!(code, 202, "{answer}");
}

/// `late_minutes` that reports a delivery `minutes` (and under one more) after the promise.
async fn minutes_after_promise(shown: &Value, minutes: i64) -> i64 {
    let promised = shown["delivery"]["dispatch"]["waybill"]["promised_at"]
        .as_str()
        .unwrap();
    let promised = BusinessTime::parse_rfc3339(promised).unwrap();
    let ahead = promised.epoch_ms() - clock().await.epoch_ms() + minutes * 60_000;
    (ahead + 59_999).div_euclid(60_000)
}

async fn tracking(token: &str, id: &str, state: &str) -> Value {
    eventually(30, state, || async {
        let shown = shown(token, id).await;
        let tracking = &shown["delivery"]["tracking"];
        (tracking["state"] == state).then(|| tracking.clone())
    })
    .await
}

/// A Dada callback for `waybill` (the stand-in's record), signed as Dada signs it.
fn dada_callback(waybill: &Value, status: i64, update_time: i64) -> Vec<u8> {
    let (client, order) = (
        waybill["waybill_id"].as_str().unwrap(),
        waybill["order_id"].as_str().unwrap(),
    );
    let signature =
        linli::courier::dada::callback_signature(client, order, &update_time.to_string());
    json!({
        "client_id": client, "order_id": order, "order_status": status,
        "cancel_reason": "", "cancel_from": 0, "update_time": update_time,
        "signature": signature, "dm_id": 666, "dm_name": "测试骑手", "dm_mobile": "13800000000",
    })
    .to_string()
    .into_bytes()
}

async fn compensation(member: &str, id: &str) -> Option<i64> {
    let (client, table) = stack_table("LedgerTable").await;
    let ledger = DynamoLedger::new(client, table);
    let member = MemberId::parse(member).unwrap();
    let posting = PostingId::comp_order(&OrderId::parse(id).unwrap());
    let found = ledger.posting(&member, &posting).await.unwrap();
    found.map(|p| p.result.available_delta.value())
}

async fn messages(openid: &str) -> Vec<Value> {
    let path = format!("/_local/wechat/subscribe-messages?touser={openid}");
    let (status, body) = call("GET", &path, None, None).await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().unwrap().clone()
}

/// How many times the Dada stand-in was asked about `id` (the compensation's re-query).
async fn dada_queries(id: &str) -> usize {
    let (_, requests) = call("GET", "/_local/dada/requests", None, None).await;
    requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .unwrap_or_default()
                .contains("/api/order/status/query")
        })
        .filter(|r| r["body"].as_str().unwrap_or_default().contains(id))
        .count()
}

#[tokio::test]
async fn a_delivery_25_minutes_late_is_compensated_once_with_one_notification() {
    let tag = tag();
    let s = shipped(&tag, true).await;
    let shown = shown(&s.token, &s.id).await;
    assert_eq!(shown["delivery"]["dispatch"]["waybill"]["platform"], "dada");
    let late = minutes_after_promise(&shown, 25).await;
    advance("dada", &s.id, "delivered", Some(late)).await;
    let tracked = tracking(&s.token, &s.id, "delivered").await;
    assert_eq!(tracked["late_minutes"], 25, "{tracked}");
    let states: Vec<&str> = tracked["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["accepted", "arrived_at_store", "picked_up", "delivered"]
    );
    assert_eq!(tracked["rider"]["phone"], "138****0000", "{tracked}");
    // Dada delivers the final callback twice more (each answered 200, each asks again).
    let w = waybill("dada", &s.id).await;
    let path = w["callback_path"].as_str().unwrap().to_owned();
    let reported = BusinessTime::parse_rfc3339(w["callbacks"][3]["reported_at"].as_str().unwrap())
        .unwrap()
        .epoch_ms()
        / 1000;
    for _ in 0..2 {
        let (status, answer) =
            post_raw(&path, "application/json", dada_callback(&w, 4, reported)).await;
        assert_eq!((status, answer.as_str()), (200, r#"{"status":"ok"}"#));
    }
    let granted = eventually(30, "the compensation", || async {
        compensation(&s.member, &s.id).await
    })
    .await;
    assert_eq!(granted, 600);
    eventually(30, "the three compensation messages handled", || async {
        (dada_queries(&s.id).await >= 3).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(compensation(&s.member, &s.id).await, Some(600));
    let sent: Vec<Value> = messages(&s.openid)
        .await
        .into_iter()
        .filter(|m| m["template_id"] == local_setting("WECHAT_TEMPLATE_COMPENSATION"))
        .collect();
    assert_eq!(sent.len(), 1, "one notification: {sent:?}");
    // 80 − 50 fee + 30 earned + 600 compensation.
    let (_, account) = call("GET", "/api/me", Some(&s.token), None).await;
    assert_eq!(account["available"], 660, "{account}");
}

#[tokio::test]
async fn a_valid_dada_md5_with_a_wrong_token_is_404_and_changes_nothing() {
    let tag = tag();
    let s = shipped(&tag, false).await;
    let w = waybill("dada", &s.id).await;
    let now = clock().await.epoch_ms() / 1000;
    let body = dada_callback(&w, 4, now);
    let (status, _) = post_raw(
        "/courier/dada/callback/0123456789abcdef0123456789abcdef",
        "application/json",
        body.clone(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post_raw("/courier/ups/callback/x", "application/json", body.clone()).await;
    assert_eq!(status, 404, "unknown platform");
    // The right token with a broken signature is 401.
    let path = w["callback_path"].as_str().unwrap();
    let forged = String::from_utf8(body)
        .unwrap()
        .replace("\"order_status\":4", "\"order_status\":5");
    let tampered = forged.replace(
        &format!("\"update_time\":{now}"),
        &format!("\"update_time\":{}", now + 1),
    );
    let (status, _) = post_raw(path, "application/json", tampered).await;
    assert_eq!(status, 401);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let shown = shown(&s.token, &s.id).await;
    assert!(
        shown["delivery"]["tracking"]["timeline"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{shown}"
    );
    assert_eq!(shown["delivery"]["tracking"]["state"], "dispatching");
}

#[tokio::test]
async fn delivered_before_picked_up_ends_delivered_and_the_platforms_answer_wins() {
    let tag = tag();
    let s = shipped(&tag, false).await;
    advance("dada", &s.id, "accepted", None).await;
    tracking(&s.token, &s.id, "accepted").await;
    // A Delivered callback 40 minutes past the promise that Dada's own records do not bear out
    // (it still says accepted), then a late PickedUp.
    let w = waybill("dada", &s.id).await;
    let path = w["callback_path"].as_str().unwrap().to_owned();
    let shown_now = shown(&s.token, &s.id).await;
    let promised = shown_now["delivery"]["dispatch"]["waybill"]["promised_at"]
        .as_str()
        .unwrap();
    let late = BusinessTime::parse_rfc3339(promised).unwrap().epoch_ms() / 1000 + 40 * 60;
    let (status, _) = post_raw(&path, "application/json", dada_callback(&w, 4, late)).await;
    assert_eq!(status, 200);
    let (status, _) = post_raw(&path, "application/json", dada_callback(&w, 3, late - 600)).await;
    assert_eq!(status, 200);
    let tracked = tracking(&s.token, &s.id, "delivered").await;
    let last = tracked["timeline"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["state"], "delivered", "{tracked}");
    eventually(30, "the compensation's re-query", || async {
        (dada_queries(&s.id).await >= 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        compensation(&s.member, &s.id).await,
        None,
        "Dada says it is not delivered: no grant"
    );
    assert_eq!(
        shown(&s.token, &s.id).await["delivery"]["tracking"]["state"],
        "delivered"
    );
}

#[tokio::test]
async fn a_member_at_the_daily_cap_gets_no_further_grant_that_day() {
    let tag = tag();
    let sku = format!("OIL-{tag}");
    let (_, address) = shop(&tag, &sku, 5).await;
    next_hour_of_day(15).await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    grant(&member, 300, &format!("T-{tag}")).await;
    let mut granted = Vec::new();
    for _ in 0..3 {
        let q = quote(&token, &address, &sku, 1).await;
        let (status, placed) = order(&token, q["quote_id"].as_str().unwrap(), "points").await;
        assert_eq!(status, 201, "{placed}");
        let id = placed["order_id"].as_str().unwrap().to_owned();
        let shown = pay_and_wait(&token, &id).await;
        let late = minutes_after_promise(&shown, 35).await;
        advance("dada", &id, "delivered", Some(late)).await;
        tracking(&token, &id, "delivered").await;
        eventually(30, "the compensation's re-query", || async {
            (dada_queries(&id).await >= 1).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        granted.push(compensation(&member, &id).await);
    }
    // 1,300 each for 35 minutes late, and the day's cap (2,600) is then reached.
    assert_eq!(granted, [Some(1_300), Some(1_300), None]);
}

#[tokio::test]
async fn sf_and_meituan_callbacks_are_verified_and_recorded() {
    let cases = [
        ("meituan", "meituan", vec!["dada"]),
        ("sf", "sf_same_city", vec!["dada", "meituan"]),
    ];
    for (platform, name, down) in cases {
        let tag = tag();
        for p in &down {
            let fault = json!({"mode": "fail", "count": 3, "status": 503});
            let (status, _) = call("POST", &format!("/_local/{p}/fault"), None, Some(fault)).await;
            assert_eq!(status, 204);
        }
        let s = shipped(&tag, false).await;
        let shown = shown(&s.token, &s.id).await;
        assert_eq!(
            shown["delivery"]["dispatch"]["waybill"]["platform"], name,
            "{shown}"
        );
        advance(platform, &s.id, "delivered", None).await;
        let tracked = tracking(&s.token, &s.id, "delivered").await;
        assert!(
            tracked["timeline"].as_array().unwrap().len() >= 3,
            "{tracked}"
        );
        // A forged signature on the platform's route is 401; a wrong path secret is 404.
        let (status, _) = post_raw(
            &format!("/courier/{platform}/callback/not-the-secret"),
            "application/json",
            "{}",
        )
        .await;
        assert_eq!(status, 404, "{platform}");
        let secret = match platform {
            "sf" => local_setting("SF_CALLBACK_TOKEN"),
            _ => local_setting("MEITUAN_CALLBACK_TOKEN"),
        };
        let (status, _) = post_raw(
            &format!("/courier/{platform}/callback/{secret}?sign=forged"),
            "application/x-www-form-urlencoded",
            "order_id=1&status=50&sign=forged&appkey=x&timestamp=1",
        )
        .await;
        assert_eq!(status, 401, "{platform}");
        for p in &down {
            let (status, _) = call(
                "POST",
                &format!("/_local/{p}/fault"),
                None,
                Some(json!({"mode": "off"})),
            )
            .await;
            assert_eq!(status, 204);
        }
    }
}

#[tokio::test]
async fn an_overdue_waybill_whose_callbacks_were_lost_is_asked_about_and_compensated() {
    let tag = tag();
    let s = shipped(&tag, false).await;
    let shown = shown(&s.token, &s.id).await;
    let late = minutes_after_promise(&shown, 30).await;
    let (code, answer) = call(
        "POST",
        &format!("/_local/dada/waybills/{}/advance", s.id),
        None,
        Some(json!({"status": "delivered", "late_minutes": late, "silent": true})),
    )
    .await;
    assert_eq!(code, 202, "{answer}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        shown_state(&s.token, &s.id).await,
        "dispatching",
        "no callback arrived"
    );
    // Before the promise nothing is overdue; after it, Dada is asked and its answer counts.
    let (status, summary) = linli_e2e::fire("HousekeepingFunction", "OverdueWaybills").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        shown_state(&s.token, &s.id).await,
        "dispatching",
        "{summary}"
    );
    linli_e2e::advance("45m").await;
    let (status, summary) = linli_e2e::fire("HousekeepingFunction", "OverdueWaybills").await;
    assert_eq!(status, 200, "{summary}");
    let tracked = tracking(&s.token, &s.id, "delivered").await;
    assert_eq!(tracked["late_minutes"], 30, "{tracked}");
    let granted = eventually(30, "the compensation", || async {
        compensation(&s.member, &s.id).await
    })
    .await;
    assert_eq!(granted, 1_300);
}

async fn shown_state(token: &str, id: &str) -> String {
    shown(token, id).await["delivery"]["tracking"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_platform_cancellation_redispatches_once_then_the_member_is_compensated() {
    let tag = tag();
    let s = shipped(&tag, false).await;
    // Dada's rider cancels: the delivery goes to the next platform of the route (Meituan).
    advance("dada", &s.id, "cancelled", None).await;
    let again = eventually(30, "the redispatch", || async {
        let now = shown(&s.token, &s.id).await;
        (now["delivery"]["dispatch"]["waybill"]["platform"] == "meituan").then_some(now)
    })
    .await;
    assert_eq!(
        again["delivery"]["tracking"]["redispatched"], true,
        "{again}"
    );
    // Meituan cancels too: no second redispatch; the fee comes back and 1,300 points are granted.
    advance("meituan", &s.id, "cancelled", None).await;
    let granted = eventually(30, "the compensation", || async {
        compensation(&s.member, &s.id).await
    })
    .await;
    assert_eq!(granted, 1_300);
    let given_up = shown(&s.token, &s.id).await;
    assert!(
        given_up["delivery"]["dispatch"]["failed_at"].is_string(),
        "{given_up}"
    );
    let (status, sf) = call("GET", "/_local/sf/waybills", None, None).await;
    assert_eq!(status, 200);
    assert!(
        sf.as_array()
            .unwrap()
            .iter()
            .all(|w| w["order_id"] != s.id.as_str()),
        "redispatched once only"
    );
    let reason =
        linli_e2e::dead_letter_reason("CourierDispatchDLQ", |b| b.contains(s.id.as_str())).await;
    assert!(reason.contains("every courier platform failed"), "{reason}");
    // 80 − 50 fee + 30 earned + 50 fee back (by dispatch, or Redrive) + 1,300.
    eventually(30, "the fee back", || async {
        let (_, account) = call("GET", "/api/me", Some(&s.token), None).await;
        (account["available"] == 1_410).then_some(())
    })
    .await;
}
