//! Platform stand-ins (DESIGN §8): each is one file, mounted under `/_local/<name>/…`, and gets a
//! `Kit` — the clock, a recorder of the requests it received, faults the tests can arm, and a
//! helper to POST callbacks to the template's routes on a retry schedule. The framework adds to
//! every stand-in:
//! - `GET /_local/<name>/requests`: what it received, oldest first (`DELETE` forgets them);
//! - `POST /_local/<name>/fault` `{"mode": "fail"|"timeout"|"error", "count": N, "status"?, "body"?,
//!   "seconds"?}`: the next N calls fail with that status (default 500), hang for `seconds`
//!   (default 30) then 504, or answer 200 with `body` (a platform-style error); `{"mode": "off"}`
//!   disarms.

pub mod dada;
pub mod example;
pub mod meituan;
pub mod sf;
pub mod waybills;
pub mod wechat;
pub mod wechatpay;

use crate::clock::Clock;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Largest request body a stand-in accepts.
const MAX_BODY: usize = 1 << 20;

/// One request a stand-in received.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub at: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

#[derive(Clone, Debug, Default)]
pub struct Recorder(Arc<Mutex<Vec<Recorded>>>);

impl Recorder {
    pub fn push(&self, r: Recorded) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(r);
    }
    pub fn all(&self) -> Vec<Recorded> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FaultMode {
    Fail,
    Timeout,
    Error,
    Off,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Fault {
    pub mode: FaultMode,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub seconds: Option<u64>,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<Mutex<Option<Fault>>>);

impl Faults {
    pub fn arm(&self, fault: Fault) {
        let armed = (fault.mode != FaultMode::Off && fault.count > 0).then_some(fault);
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = armed;
    }

    /// The fault for this call, if one is armed (counting it down).
    pub fn take(&self) -> Option<Fault> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let fault = slot.as_mut()?;
        fault.count -= 1;
        let taken = fault.clone();
        if fault.count == 0 {
            *slot = None;
        }
        Some(taken)
    }
}

/// The outcome of a callback sent on a retry schedule.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Delivery {
    pub path: String,
    pub attempts: u32,
    pub accepted: bool,
    pub last_status: Option<u16>,
    pub last_body: String,
}

/// Sends callbacks to the devstack's own routes, as a platform would.
#[derive(Clone, Debug)]
pub struct Callbacks {
    http: reqwest::Client,
    base: String,
}

impl Callbacks {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.into(),
        }
    }

    /// POSTs `body` to `path` after each delay of `schedule` until `accepted` says yes.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
        schedule: &[Duration],
        accepted: fn(u16, &[u8]) -> bool,
    ) -> Delivery {
        let headers = headers.to_vec();
        let fixed = move || headers.clone();
        self.post_signed(path, &fixed, body, schedule, accepted)
            .await
    }

    /// Like `post`, with the headers made afresh for each attempt: a platform that signs every
    /// attempt with the time it is sent (WeChat Pay v3), so retries stay inside the receiver's
    /// timestamp window however far the clock moved.
    pub async fn post_signed(
        &self,
        path: &str,
        headers: &(dyn Fn() -> Vec<(String, String)> + Send + Sync),
        body: Vec<u8>,
        schedule: &[Duration],
        accepted: fn(u16, &[u8]) -> bool,
    ) -> Delivery {
        let mut delivery = Delivery {
            path: path.to_owned(),
            attempts: 0,
            accepted: false,
            last_status: None,
            last_body: String::new(),
        };
        for delay in schedule {
            tokio::time::sleep(*delay).await;
            delivery.attempts += 1;
            let mut request = self
                .http
                .post(format!("{}{path}", self.base))
                .body(body.clone());
            for (name, value) in headers() {
                request = request.header(name, value);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let bytes = response.bytes().await.unwrap_or_default();
                    delivery.last_status = Some(status);
                    delivery.last_body = String::from_utf8_lossy(&bytes).into_owned();
                    if accepted(status, &bytes) {
                        delivery.accepted = true;
                        break;
                    }
                }
                Err(e) => {
                    delivery.last_status = None;
                    delivery.last_body = e.to_string();
                }
            }
        }
        tracing::info!(
            path,
            attempts = delivery.attempts,
            accepted = delivery.accepted,
            "stand-in callback delivered"
        );
        delivery
    }
}

/// What every stand-in gets.
#[derive(Clone, Debug)]
pub struct Kit {
    pub name: &'static str,
    pub clock: Arc<Clock>,
    pub recorder: Recorder,
    pub faults: Faults,
    pub callbacks: Callbacks,
    /// The local settings (`local.env` after environment overrides): the app ids and keys a
    /// platform would check Linli's requests against.
    pub settings: Arc<BTreeMap<String, String>>,
}

/// A platform stand-in: a name and its routes (relative to `/_local/<name>`).
pub trait StandIn {
    fn name(&self) -> &'static str;
    fn routes(&self, kit: Kit) -> Router;
}

/// Mounts `stand_in` with the framework's endpoints, recording and faults.
pub fn mount(
    stand_in: &dyn StandIn,
    clock: Arc<Clock>,
    callbacks: Callbacks,
    settings: Arc<BTreeMap<String, String>>,
) -> Router {
    let kit = Kit {
        name: stand_in.name(),
        clock,
        recorder: Recorder::default(),
        faults: Faults::default(),
        callbacks,
        settings,
    };
    let own = stand_in
        .routes(kit.clone())
        .layer(middleware::from_fn_with_state(
            kit.clone(),
            record_and_fault,
        ));
    let generic = Router::new()
        .route("/requests", get(list_requests).delete(clear_requests))
        .route("/fault", post(arm_fault))
        .with_state(kit.clone());
    Router::new().nest(&format!("/_local/{}", kit.name), generic.merge(own))
}

async fn list_requests(State(kit): State<Kit>) -> Json<Vec<Recorded>> {
    Json(kit.recorder.all())
}

async fn clear_requests(State(kit): State<Kit>) -> StatusCode {
    kit.recorder.clear();
    StatusCode::NO_CONTENT
}

async fn arm_fault(State(kit): State<Kit>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            tracing::info!(stand_in = kit.name, mode = ?fault.mode, count = fault.count, "fault armed");
            kit.faults.arm(fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn record_and_fault(State(kit): State<Kit>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body too large for a stand-in",
        )
            .into_response();
    };
    kit.recorder.push(Recorded {
        at: kit.clock.now_rfc3339(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    if let Some(fault) = kit.faults.take() {
        tracing::info!(stand_in = kit.name, path = %parts.uri.path(), mode = ?fault.mode, "fault injected");
        return match fault.mode {
            FaultMode::Fail => {
                let status = StatusCode::from_u16(fault.status.unwrap_or(500))
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (
                    status,
                    fault
                        .body
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "injected failure".into()),
                )
                    .into_response()
            }
            FaultMode::Timeout => {
                tokio::time::sleep(Duration::from_secs(fault.seconds.unwrap_or(30))).await;
                (StatusCode::GATEWAY_TIMEOUT, "injected timeout").into_response()
            }
            FaultMode::Error => {
                let body = fault
                    .body
                    .unwrap_or_else(|| json!({"error": "injected error"}));
                let text = body
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| body.to_string());
                (StatusCode::OK, text).into_response()
            }
            FaultMode::Off => {
                next.run(Request::from_parts(parts, Body::from(bytes)))
                    .await
            }
        };
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// All stand-ins the devstack serves. Later issues add theirs here.
pub fn all() -> Vec<Box<dyn StandIn>> {
    vec![
        Box::new(example::Example),
        Box::new(wechat::Wechat),
        Box::new(wechatpay::WechatPay),
        Box::new(dada::Dada),
        Box::new(sf::Sf),
        Box::new(meituan::Meituan),
    ]
}
