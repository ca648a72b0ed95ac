//! What the courier stand-ins' tests share: the local settings, a shipment, and the stand-in
//! served on a loopback port, with or without a webhook that accepts every callback.

use crate::standins::{mount, Callbacks, StandIn};
use axum::body::Bytes;
use axum::http::Uri;
use chrono::{DateTime, Utc};
use linli::courier::{Outbound, Shipment};
use linli::ids::OrderId;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ORDER: &str = "01JD0000000000000000000001";

/// The courier settings of `infra/local/local.env`.
pub fn settings() -> BTreeMap<String, String> {
    [
        ("DADA_APP_KEY", "local-dada-key"),
        ("DADA_APP_SECRET", "local-dada-secret"),
        ("DADA_SOURCE_ID", "73753"),
        ("SF_DEV_ID", "1234567"),
        ("SF_DEV_KEY", "local-sf-key"),
        ("SF_CALLBACK_TOKEN", "local-sf-callback-token"),
        ("MEITUAN_APP_KEY", "local-meituan-key"),
        ("MEITUAN_SECRET", "local-meituan-secret"),
        ("MEITUAN_CALLBACK_TOKEN", "local-meituan-callback-token"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T16:30:05Z")
        .unwrap()
        .to_utc()
}

pub fn shipment() -> Shipment {
    Shipment {
        order_id: OrderId::parse(ORDER).unwrap(),
        store_id: "S001".into(),
        store_name: "邻里一号店".into(),
        receiver_address: "上海市徐汇区漕溪北路 1 号".into(),
        receiver_lat: 31.19,
        receiver_lng: 121.43,
        receiver_name: "邻里会员 o-al…ice".into(),
        goods_fen: 2_990,
        items: 2,
        weight_g: 1_000,
        callback_url: "http://127.0.0.1:3000/courier/dada/callback/tok-1".into(),
        timestamp: now().timestamp(),
    }
}

/// The callbacks received: path with query, and body.
pub type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Serves `stand_in` (devstack clock: the system time) and, if `webhook`, a receiver that
/// accepts every other path (else they are 404).
pub async fn serve(stand_in: &dyn StandIn, webhook: bool) -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let received = Received::default();
    let sink = received.clone();
    let receiver = move |uri: Uri, body: Bytes| async move {
        sink.lock().unwrap().push((uri.to_string(), body.to_vec()));
        "ok"
    };
    let callbacks = Callbacks::new(base.clone());
    let router = mount(stand_in, Arc::default(), callbacks, Arc::new(settings()));
    let router = if webhook {
        router.fallback(receiver)
    } else {
        router
    };
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, received)
}

/// Sends Linli's request `out` to the stand-in `name`; its answer.
pub async fn send(base: &str, name: &str, out: Outbound) -> Vec<u8> {
    let url = format!("{base}/_local/{name}{}", out.path);
    let request = reqwest::Client::new().post(url).body(out.body);
    let response = request.header("content-type", out.content_type).send();
    response.await.unwrap().bytes().await.unwrap().to_vec()
}

/// `POST …/waybills/{order}/advance` with `body`: the HTTP status and answer.
pub async fn advance(base: &str, name: &str, order: &str, body: &str) -> (u16, Value) {
    let url = format!("{base}/_local/{name}/waybills/{order}/advance");
    let response = reqwest::Client::new().post(url).body(body.to_owned());
    let response = response.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// `GET …/waybills` once `done` holds of it, or after 5 s (the test then fails on it).
pub async fn waybills_when(base: &str, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let url = format!("{base}/_local/{name}/waybills");
        let list: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        if done(&list) || Instant::now() > deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether every callback of the waybill `index` was accepted, `count` of them.
pub fn delivered(list: &Value, index: usize, count: usize) -> bool {
    let callbacks = list[index]["callbacks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    callbacks.len() == count && callbacks.iter().all(|c| c["delivery"]["accepted"] == true)
}
