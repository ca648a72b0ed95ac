//! `make bench` (issue 13): DynamoDB capacity per business operation, through a local stack whose
//! functions reach DynamoDB Local through `infra/bench/wru_meter.py` (`METER_URL`). Each
//! operation runs on its own through the public routes and the platform stand-ins, and its window
//! ends once its effects are visible and the meter has been quiet for a moment; what the meter
//! counted in the window is the operation's cost, by table.
//!
//! Usage: `wru_ops`, with the e2e environment (`LINLI_URL`, the AWS endpoints) and `METER_URL`.
//! Last line: one JSON object, operation → {wru, rru, tables}.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a failed step should panic

use linli::ids::{MemberId, OrderId, PostingId};
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::wechat::oa;
use linli_e2e::delivery::{grant, order, quote, shop};
use linli_e2e::rounds::{joined, open_round, pay, placed, sku};
use linli_e2e::{
    advance, base, call, clock, eventually, local_setting, login, next_hour_of_day, stack_table,
    tag, test_store,
};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

async fn meter(since: u64) -> Value {
    let url = std::env::var("METER_URL").expect("METER_URL: the wru_meter.py proxy");
    reqwest::get(format!("{url}/_meter?since={since}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until the meter has counted nothing new for 1.5 s (at most 30 s); answers its seq.
async fn quiet() -> u64 {
    let started = Instant::now();
    let mut last = meter(0).await["seq"].as_u64().unwrap();
    let mut still = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = meter(0).await["seq"].as_u64().unwrap();
        if now != last {
            (last, still) = (now, Instant::now());
        } else if still.elapsed() >= Duration::from_millis(1_500) {
            break;
        }
    }
    last
}

struct Window {
    results: Map<String, Value>,
    seq: u64,
}

impl Window {
    async fn new() -> Self {
        Self {
            results: Map::new(),
            seq: quiet().await,
        }
    }

    /// Closes the window opened by the last call as operation `name`.
    async fn done(&mut self, name: &str) {
        let end = quiet().await;
        let mut counted = meter(self.seq).await;
        counted.as_object_mut().unwrap().remove("seq");
        eprintln!("[wru] {name}: {counted}");
        self.results.insert(name.to_owned(), counted);
        self.seq = end;
    }
}

/// A text push to the Official Account from `openid`; answers the reply.
async fn tap(openid: &str, text: &str) -> String {
    let now = clock().await.epoch_seconds();
    let (ts, nonce) = (now.to_string(), format!("{}", fastrand::u32(..)));
    let signature = oa::signature(&local_setting("WECHAT_OA_TOKEN"), &ts, &nonce);
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_linli]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content><MsgId>{}</MsgId></xml>",
        fastrand::u64(..)
    );
    let url = format!(
        "{}/wechat/callback?timestamp={ts}&nonce={nonce}&signature={signature}",
        base()
    );
    let response = reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

async fn shown(token: &str, id: &str) -> Value {
    call("GET", &format!("/api/orders/{id}"), Some(token), None)
        .await
        .1
}

async fn posting(member: &str, id: PostingId) -> bool {
    let (client, table) = stack_table("LedgerTable").await;
    let member = MemberId::parse(member).unwrap();
    DynamoLedger::new(client, table)
        .posting(&member, &id)
        .await
        .unwrap()
        .is_some()
}

async fn sign_ins(w: &mut Window, tag: &str) {
    let openid = format!("wru-{tag}");
    assert!(tap(&openid, "签到").await.contains("签到成功"));
    w.done("sign-in, first (member created)").await;
    advance("24h").await;
    w.seq = quiet().await;
    assert!(tap(&openid, "签到").await.contains("签到成功"));
    w.done("sign-in, a known member's day").await;
}

async fn pickup(w: &mut Window, tag: &str) {
    let store = test_store(
        tag,
        &[
            ("RICE-5KG", "东北大米 5kg", 6_199, 9),
            ("TISSUE", "抽纸 10包", 2_990, 9),
            ("EGG-10", "土鸡蛋 10枚", 1_890, 9),
        ],
    )
    .await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    w.seq = quiet().await;
    let body = json!({"store_id": store, "fulfilment": "pickup",
        "items": [{"sku": "RICE-5KG", "qty": 1}, {"sku": "TISSUE", "qty": 1}, {"sku": "EGG-10", "qty": 1}]});
    let (status, placed) = call("POST", "/api/orders", Some(&token), Some(body)).await;
    assert_eq!(status, 201, "{placed}");
    w.done("pickup order of 3 SKUs placed").await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    let pay_id = PostingId::pay_order(&OrderId::parse(&id).unwrap());
    eventually(30, "the points", || async {
        posting(&member, pay_id.clone()).await.then_some(())
    })
    .await;
    w.done("paid order: notify → points posted").await;
}

/// A delivery with its fee in points: placed, paid and dispatched, then delivered `late`
/// minutes after the promise (a late one is compensated).
async fn delivery(w: &mut Window, tag: &str, late: i64) {
    let sku = format!("OIL-{tag}");
    let (_, address) = shop(tag, &sku, 5).await;
    next_hour_of_day(15).await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    grant(&member, 80, &format!("T-{tag}")).await;
    let q = quote(&token, &address, &sku, 3).await;
    w.seq = quiet().await;
    let (status, placed) = order(&token, q["quote_id"].as_str().unwrap(), "points").await;
    assert_eq!(status, 201, "{placed}");
    let suffix = if late > 0 { " (late run)" } else { "" };
    w.done(&format!("delivery placed, fee held in points{suffix}"))
        .await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    let dispatched = eventually(30, "the waybill", || async {
        let s = shown(&token, &id).await;
        s["delivery"]["dispatch"]["waybill"]
            .is_object()
            .then_some(s)
    })
    .await;
    w.done(&format!(
        "delivery paid (capture + earn) and dispatched{suffix}"
    ))
    .await;
    let promised = dispatched["delivery"]["dispatch"]["waybill"]["promised_at"]
        .as_str()
        .unwrap();
    let promised = linli::time::BusinessTime::parse_rfc3339(promised).unwrap();
    let ahead = promised.epoch_ms() - clock().await.epoch_ms() + late * 60_000;
    let minutes = (ahead + 59_999).div_euclid(60_000);
    let body = json!({ "status": "delivered", "late_minutes": minutes });
    let (code, answer) = call(
        "POST",
        &format!("/_local/dada/waybills/{id}/advance"),
        None,
        Some(body),
    )
    .await;
    assert_eq!(code, 202, "{answer}");
    eventually(30, "delivered", || async {
        (shown(&token, &id).await["delivery"]["tracking"]["state"] == "delivered").then_some(())
    })
    .await;
    if late > 0 {
        let comp = PostingId::comp_order(&OrderId::parse(&id).unwrap());
        eventually(30, "the compensation", || async {
            posting(&member, comp.clone()).await.then_some(())
        })
        .await;
        w.done("4 courier callbacks → delivered 25 min late, compensated")
            .await;
    } else {
        w.done("4 courier callbacks → delivered on time").await;
    }
}

async fn group_buy(w: &mut Window, tag: &str) {
    let (_, round) = open_round(tag, 48, vec![sku(&format!("GB-{tag}"), 1, Some(2))]).await;
    let round_id = round.round_id.to_string();
    let (token, _) = login(&format!("test:o-{tag}:u-{tag}")).await;
    w.seq = quiet().await;
    let order = placed(
        &token,
        &round_id,
        json!([{ "sku": format!("GB-{tag}"), "qty": 1 }]),
    )
    .await;
    w.done("group-buy join placed").await;
    pay(&order).await;
    eventually(30, "the paid join counted", || async {
        (joined(&round_id, 0).await == 1).then_some(())
    })
    .await;
    w.done("group-buy join paid and counted").await;
}

#[tokio::main]
async fn main() {
    let run = tag();
    let mut w = Window::new().await;
    sign_ins(&mut w, &format!("s{run}")).await;
    pickup(&mut w, &format!("p{run}")).await;
    delivery(&mut w, &format!("d{run}"), 0).await;
    delivery(&mut w, &format!("l{run}"), 25).await;
    group_buy(&mut w, &format!("g{run}")).await;
    println!("{}", Value::Object(w.results));
}
