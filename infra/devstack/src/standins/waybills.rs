//! What the courier stand-ins (`dada`, `sf`, `meituan`) share: the waybills each keeps in memory
//! and the test controls that move one the way its rider would.
//! - `GET /_local/<name>/waybills` → every waybill created, oldest first: `{order_id,
//!   waybill_id, status (the platform's code), state (normalized), created_at, rider,
//!   callbacks: [{status, state, reported_at, sent_at, delivery}]}` (`delivery`: the outcome
//!   so far, null until the first attempt ended). A cancelled waybill stays listed when the
//!   order is created again, so "exactly one waybill" is a check that no duplicate was made.
//! - `POST /_local/<name>/waybills/{order_id}/advance` `{"status": "accepted" |
//!   "arrived_at_store" | "picked_up" | "delivered" | "cancelled" (| "expired" on Dada),
//!   "late_minutes"?: n, "silent"?: true}` → 202 `{order_id, waybill_id, steps: [{status, state}]}`. Then, in the
//!   background, each step from the state reached (or already planned) up to the target — the
//!   states the platform lacks skipped — sets the waybill's status and sends the platform's
//!   signed callback at 0 s, 1 s and 2 s until the receiver answers 2xx. Steps go out in order,
//!   each once the first attempt of the one before ended (a refused one's retries run beside the
//!   next steps), so the status moves on at once even where no webhook answers yet.
//!   `cancelled` and `expired` are a single step: a cancellation from the platform's side
//!   (rider, customer service). `late_minutes` (delivered only, ±10080) reports the finish time
//!   as the devstack clock + n minutes without moving the clock, so a late delivery can be
//!   tested without shifting every other time. `silent`: the callbacks are lost (the status
//!   moves, nothing is sent), as when a platform's pushes never arrive. 400: unknown status, or one the platform lacks;
//!   404: no waybill for the order; 409: the target is not ahead of the state reached or planned.

mod desk;

#[cfg(test)]
pub mod testkit;
pub use desk::{controls, Desk};

use super::Delivery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use linli::courier::DeliveryState;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// When a status callback is attempted: at once, then 1 s and 2 s later.
const SCHEDULE: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// The way forward a rider takes; a platform reports the states it has.
const FORWARD: [DeliveryState; 4] = [
    DeliveryState::Accepted,
    DeliveryState::ArrivedAtStore,
    DeliveryState::PickedUp,
    DeliveryState::Delivered,
];

/// The rider every stand-in assigns.
pub const RIDER_NAME: &str = "测试骑手";
pub const RIDER_PHONE: &str = "13800000000";

/// What differs between courier platforms for the shared controls.
pub trait Courier: Clone + Send + Sync + 'static {
    /// The status code `advance` sends for `state`; `None` if the platform lacks it.
    fn code(state: DeliveryState) -> Option<i64>;
    /// The signed callback announcing `waybill`'s current status, as of `at`.
    fn callback(&self, waybill: &Waybill, at: DateTime<Utc>) -> Callback;
}

/// A callback ready to POST to one of the devstack's routes.
pub struct Callback {
    /// Path (and query) relative to the devstack's base URL.
    pub path: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// One status callback sent for a waybill.
#[derive(Clone, Debug, Serialize)]
pub struct Sent {
    pub status: i64,
    pub state: DeliveryState,
    /// The time the callback reports (later than `sent_at` for a late delivery).
    pub reported_at: String,
    pub sent_at: String,
    pub delivery: Option<Delivery>,
}

/// A waybill as a platform keeps it, under Linli's order id (its merchant order id).
#[derive(Clone, Debug, Serialize)]
pub struct Waybill {
    pub order_id: String,
    /// The platform's own id for it (Dada `client_id`, SF `sf_order_id`, Meituan
    /// `mt_peisong_id`).
    pub waybill_id: String,
    pub status: i64,
    pub state: DeliveryState,
    pub created_at: String,
    /// Whether a rider took it: rider fields are reported from then on.
    pub rider: bool,
    /// Dada: the path (and query) of the `callback` URL it was created with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_path: Option<String>,
    /// SF: `sf_bill_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_id: Option<String>,
    /// Meituan: the `delivery_id` it was created with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<u64>,
    pub callbacks: Vec<Sent>,
    /// When it was delivered or cancelled, as its callback reported (what a query answers).
    #[serde(skip)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The furthest state `advance` has scheduled (`state` once the callbacks are sent).
    #[serde(skip)]
    planned: DeliveryState,
    /// Held by the task sending this waybill's latest `advance` until its callbacks are sent:
    /// the next one waits for it, so callbacks go out in the order they were asked for.
    #[serde(skip)]
    lane: Arc<tokio::sync::Mutex<()>>,
}

impl Waybill {
    /// A new waybill waiting for a rider (`status` is the platform's code for that).
    pub fn new(order_id: &str, waybill_id: String, status: i64, now: DateTime<Utc>) -> Self {
        Self {
            order_id: order_id.to_owned(),
            waybill_id,
            status,
            state: DeliveryState::Dispatching,
            created_at: rfc3339(now),
            rider: false,
            callback_path: None,
            bill_id: None,
            delivery_id: None,
            callbacks: Vec::new(),
            finished_at: None,
            planned: DeliveryState::Dispatching,
            lane: Arc::default(),
        }
    }

    /// Sets the platform's status and its normalized state.
    pub fn set(&mut self, status: i64, state: DeliveryState) {
        debug_assert!(
            state.rank() >= self.state.rank(),
            "states only move forward"
        );
        self.status = status;
        self.state = state;
        if state.rank() >= self.planned.rank() {
            self.planned = state;
        }
        self.rider |= (1..=3).contains(&state.rank()) || state == DeliveryState::Delivered;
    }
}

/// The waybills of one stand-in, oldest first (never removed, so an index stays valid).
#[derive(Clone, Debug, Default)]
pub struct Book(Arc<Mutex<Vec<Waybill>>>);

impl Book {
    pub fn lock(&self) -> MutexGuard<'_, Vec<Waybill>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The index of the latest waybill for `order_id`.
pub fn latest(waybills: &[Waybill], order_id: &str) -> Option<usize> {
    waybills.iter().rposition(|w| w.order_id == order_id)
}

/// Adds `waybill` unless its order already has one that did not end in a cancellation or an
/// expiry (a platform never makes a duplicate); `false` when refused.
pub fn open(waybills: &mut Vec<Waybill>, waybill: Waybill) -> bool {
    let ended = |s: DeliveryState| {
        matches!(
            s,
            DeliveryState::Cancelled | DeliveryState::Expired | DeliveryState::CreateFailed
        )
    };
    if let Some(i) = latest(waybills, &waybill.order_id) {
        if waybills.get(i).is_some_and(|w| !ended(w.state)) {
            return false;
        }
    }
    waybills.push(waybill);
    true
}

/// What a merchant's cancel found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cancel {
    /// Cancelled now, or it had already ended without a delivery: its platform id.
    Done(String),
    NotFound,
    /// Delivered (or returned): too late to cancel.
    TooLate,
}

/// The merchant cancels its order's latest waybill (no callback: Linli asked for it).
pub fn cancel(waybills: &mut [Waybill], order_id: &str, status: i64) -> Cancel {
    let Some(waybill) = latest(waybills, order_id).and_then(|i| waybills.get_mut(i)) else {
        return Cancel::NotFound;
    };
    if waybill.state.is_live() {
        waybill.set(status, DeliveryState::Cancelled);
    } else if matches!(
        waybill.state,
        DeliveryState::Delivered | DeliveryState::Returned
    ) {
        return Cancel::TooLate;
    }
    Cancel::Done(waybill.waybill_id.clone())
}

/// One callback `advance` sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub status: i64,
    pub state: DeliveryState,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a state, or one this platform lacks or `advance` does not make.
    UnknownStatus,
    /// The target is not ahead of `from`.
    NotAhead,
}

/// The steps from `from` to `to`: every forward state between them the platform has, or the
/// single cancellation or expiry.
pub fn plan<C: Courier>(from: DeliveryState, to: DeliveryState) -> Result<Vec<Step>, Refusal> {
    let status = C::code(to).ok_or(Refusal::UnknownStatus)?;
    if !from.is_live() || to.rank() <= from.rank() {
        return Err(Refusal::NotAhead);
    }
    let Some(end) = FORWARD.iter().position(|s| *s == to) else {
        return Ok(vec![Step { status, state: to }]);
    };
    Ok(FORWARD
        .iter()
        .take(end + 1)
        .filter(|s| s.rank() > from.rank())
        .filter_map(|&state| C::code(state).map(|status| Step { status, state }))
        .collect())
}

pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A required local setting, or which one is missing.
pub fn setting(settings: &BTreeMap<String, String>, name: &str) -> Result<String, String> {
    settings
        .get(name)
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| format!("settings lack {name}"))
}

/// A string or number field as text ("" when absent).
pub fn text(value: &Value, field: &str) -> String {
    match value.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// `len` random decimal digits, the first not 0.
pub fn digits(len: usize) -> String {
    std::iter::once(fastrand::char('1'..='9'))
        .chain(std::iter::repeat_with(|| fastrand::digit(10)))
        .take(len)
        .collect()
}

/// The path and query of an absolute http(s) URL: the devstack posts to its own routes.
pub fn url_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    match rest.split_once('/') {
        Some((host, path)) if !host.is_empty() => Some(format!("/{path}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::now;
    use super::*;
    use crate::standins::{dada::DadaCourier, meituan::MeituanCourier, sf::SfCourier};
    use DeliveryState::*;

    fn codes<C: Courier>(from: DeliveryState, to: DeliveryState) -> Vec<i64> {
        plan::<C>(from, to)
            .unwrap()
            .iter()
            .map(|s| s.status)
            .collect()
    }

    #[test]
    fn advance_walks_every_state_the_platform_has_up_to_the_target() {
        assert_eq!(codes::<DadaCourier>(Dispatching, Delivered), [2, 100, 3, 4]);
        assert_eq!(codes::<SfCourier>(Dispatching, Delivered), [10, 12, 15, 17]);
        assert_eq!(
            codes::<MeituanCourier>(Dispatching, Delivered),
            [20, 30, 50]
        );
        assert_eq!(codes::<DadaCourier>(Accepted, PickedUp), [100, 3]);
        assert_eq!(codes::<MeituanCourier>(Accepted, PickedUp), [30]);
        assert_eq!(codes::<SfCourier>(Dispatching, Accepted), [10]);
        assert_eq!(codes::<SfCourier>(PickedUp, Cancelled), [2]);
        assert_eq!(codes::<DadaCourier>(Dispatching, Expired), [7]);
        let steps = plan::<MeituanCourier>(PickedUp, Delivered).unwrap();
        assert_eq!(
            steps,
            [Step {
                status: 50,
                state: Delivered
            }]
        );
    }

    #[test]
    fn advance_refuses_a_target_not_ahead_or_one_the_platform_lacks() {
        let not_ahead = Err(Refusal::NotAhead);
        assert_eq!(plan::<DadaCourier>(PickedUp, Accepted), not_ahead);
        assert_eq!(plan::<DadaCourier>(Accepted, Accepted), not_ahead);
        assert_eq!(plan::<SfCourier>(Cancelled, Delivered), not_ahead);
        assert_eq!(plan::<SfCourier>(Delivered, Cancelled), not_ahead);
        let unknown = Err(Refusal::UnknownStatus);
        assert_eq!(plan::<MeituanCourier>(Dispatching, ArrivedAtStore), unknown);
        assert_eq!(plan::<SfCourier>(Dispatching, Expired), unknown);
        assert_eq!(plan::<DadaCourier>(Dispatching, Returned), unknown);
    }

    #[test]
    fn an_order_gets_a_second_waybill_only_once_the_first_is_cancelled() {
        let mut book = Vec::new();
        let waybill = |id: &str| Waybill::new("O1", id.to_owned(), 1, now());
        assert!(open(&mut book, waybill("W1")));
        assert!(!open(&mut book, waybill("W2")), "a duplicate");
        assert_eq!(cancel(&mut book, "O1", 5), Cancel::Done("W1".into()));
        assert_eq!(cancel(&mut book, "O1", 5), Cancel::Done("W1".into()));
        assert!(open(&mut book, waybill("W3")));
        assert_eq!((book.len(), latest(&book, "O1")), (2, Some(1)));
        book[1].set(4, Delivered);
        assert!(book[1].rider);
        assert!(
            !open(&mut book, waybill("W4")),
            "delivered orders are not created again"
        );
        assert_eq!(cancel(&mut book, "O1", 5), Cancel::TooLate);
        assert_eq!(cancel(&mut book, "O2", 5), Cancel::NotFound);
        assert_eq!(book[0].state, Cancelled);
        assert!(!book[0].rider);
    }

    #[test]
    fn ids_and_callback_paths() {
        let id = digits(13);
        assert_eq!(id.len(), 13);
        assert!(id.chars().all(|c| c.is_ascii_digit()) && !id.starts_with('0'));
        let path = url_path("http://127.0.0.1:3000/courier/dada/callback/t?x=1");
        assert_eq!(path.as_deref(), Some("/courier/dada/callback/t?x=1"));
        assert_eq!(url_path("https://linli.example"), None);
        assert_eq!(url_path("ftp://x/y"), None);
        assert_eq!(url_path("http:///y"), None);
    }
}
