//! `example`: the smallest stand-in, for the devstack's own tests and as a pattern for the
//! platform stand-ins (`wechat`, `wechatpay`, `dada`, `sf`, `meituan`).
//! - `POST /_local/example/echo` → `{"now": <devstack clock>, "received": <body>}`;
//! - `POST /_local/example/notify` `{"path": "/route", "body": "…"}` → 202, then POSTs `body` to
//!   that template route at 0 s, 1 s and 2 s until it answers 2xx, as a platform's notify would;
//! - `GET /_local/example/deliveries` → the outcome of each notify.

use super::{Delivery, Kit, StandIn};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[derive(Default)]
pub struct Example;

#[derive(Clone)]
struct ExampleState {
    kit: Kit,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

#[derive(Deserialize)]
struct Notify {
    path: String,
    #[serde(default)]
    body: String,
}

impl StandIn for Example {
    fn name(&self) -> &'static str {
        "example"
    }

    fn routes(&self, kit: Kit) -> Router {
        let state = ExampleState {
            kit,
            deliveries: Arc::default(),
        };
        Router::new()
            .route("/echo", post(echo))
            .route("/notify", post(notify))
            .route("/deliveries", get(deliveries))
            .with_state(state)
    }
}

async fn echo(State(state): State<ExampleState>, body: String) -> Json<Value> {
    Json(json!({ "now": state.kit.clock.now_rfc3339(), "received": body }))
}

async fn notify(State(state): State<ExampleState>, Json(notify): Json<Notify>) -> Response {
    if !notify.path.starts_with('/') {
        return (StatusCode::BAD_REQUEST, "path must start with /").into_response();
    }
    let schedule = [
        Duration::ZERO,
        Duration::from_secs(1),
        Duration::from_secs(2),
    ];
    tokio::spawn(async move {
        let headers = [("content-type".to_owned(), "application/json".to_owned())];
        let delivery = state
            .kit
            .callbacks
            .post(
                &notify.path,
                &headers,
                notify.body.into_bytes(),
                &schedule,
                |status, _| (200..300).contains(&status),
            )
            .await;
        state
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(delivery);
    });
    StatusCode::ACCEPTED.into_response()
}

async fn deliveries(State(state): State<ExampleState>) -> Json<Vec<Delivery>> {
    Json(
        state
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    )
}
