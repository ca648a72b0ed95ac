//! The courier stand-ins' desk: their keys, their waybills, the 200 answers of their APIs, and
//! the `waybills` controls (see `waybills.rs`) that send a rider's status callbacks in order.

use super::{error, latest, plan, rfc3339, Book, Callback, Courier, Refusal, Sent, Step};
use super::{Waybill, SCHEDULE};
use crate::standins::{Delivery, Kit};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use linli::courier::DeliveryState;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The largest `late_minutes`: a week.
const LATE_MINUTES_MAX: i64 = 7 * 24 * 60;

/// The body of `advance`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    status: String,
    #[serde(default)]
    late_minutes: Option<i64>,
    #[serde(default)]
    silent: bool,
}

/// A checked `advance`: the target and how late a delivery is reported.
#[derive(Debug, PartialEq, Eq)]
pub struct Advance {
    pub to: DeliveryState,
    pub late: chrono::Duration,
    /// The platform's callbacks are lost: the state moves, nothing is sent.
    pub silent: bool,
}

impl Advance {
    pub fn parse<C: Courier>(body: &[u8]) -> Result<Self, String> {
        let body: AdvanceBody = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let to = DeliveryState::parse(&body.status)
            .filter(|s| C::code(*s).is_some())
            .ok_or_else(|| format!("this platform cannot advance to {:?}", body.status))?;
        let minutes = body.late_minutes.unwrap_or(0);
        if minutes != 0 && to != DeliveryState::Delivered {
            return Err("late_minutes applies to delivered only".into());
        }
        if minutes.abs() > LATE_MINUTES_MAX {
            return Err(format!("late_minutes must be within ±{LATE_MINUTES_MAX}"));
        }
        Ok(Self {
            to,
            late: chrono::Duration::minutes(minutes),
            silent: body.silent,
        })
    }
}

/// A courier stand-in's state: its kit, its waybills, and its keys from the local settings (or
/// which setting is missing: then every call answers 500).
#[derive(Clone)]
pub struct Desk<C> {
    pub kit: Kit,
    pub book: Book,
    pub courier: Result<C, String>,
}

impl<C: Courier> Desk<C> {
    pub fn new(kit: Kit, courier: Result<C, String>) -> Self {
        if let Err(missing) = &courier {
            tracing::warn!(stand_in = kit.name, %missing, "every call answers 500");
        }
        Self {
            kit,
            book: Book::default(),
            courier,
        }
    }

    /// Answers a platform API call with 200 and what `api` decides.
    pub fn answer(
        &self,
        api: impl FnOnce(&C, &mut Vec<Waybill>, DateTime<Utc>) -> Value,
    ) -> Response {
        match &self.courier {
            Ok(courier) => {
                let now = self.kit.clock.now();
                Json(api(courier, &mut self.book.lock(), now)).into_response()
            }
            Err(missing) => error(StatusCode::INTERNAL_SERVER_ERROR, missing),
        }
    }

    /// Makes `step` the status of waybill `index`: its callback and where its outcome goes in
    /// the waybill's `callbacks`, unless the waybill moved past it meanwhile (a merchant's
    /// cancel).
    fn apply(
        &self,
        courier: &C,
        index: usize,
        step: Step,
        late: chrono::Duration,
    ) -> Option<(Callback, usize)> {
        let now = self.kit.clock.now();
        let at = if step.state == DeliveryState::Delivered {
            now + late
        } else {
            now
        };
        let mut waybills = self.book.lock();
        let waybill = waybills.get_mut(index)?;
        if !waybill.state.is_live() || step.state.rank() <= waybill.state.rank() {
            return None;
        }
        waybill.set(step.status, step.state);
        if !step.state.is_live() {
            waybill.finished_at = Some(at);
        }
        waybill.callbacks.push(Sent {
            status: step.status,
            state: step.state,
            reported_at: rfc3339(at),
            sent_at: rfc3339(now),
            delivery: None,
        });
        Some((courier.callback(waybill, at), waybill.callbacks.len() - 1))
    }

    /// Plans `advance` of `order_id`'s latest waybill and takes its turn to send: after the
    /// callbacks of every earlier `advance` of it.
    fn schedule(&self, order_id: &str, to: DeliveryState) -> Result<Scheduled, Refused> {
        let mut waybills = self.book.lock();
        let index = latest(&waybills, order_id);
        let Some((index, waybill)) = index.and_then(|i| Some((i, waybills.get_mut(i)?))) else {
            return Err((StatusCode::NOT_FOUND, "no waybill for this order".into()));
        };
        let steps = match plan::<C>(waybill.planned, to) {
            Ok(steps) => steps,
            Err(Refusal::UnknownStatus) => {
                return Err((StatusCode::BAD_REQUEST, "unknown status".into()))
            }
            Err(Refusal::NotAhead) => {
                let message = format!("{to:?} is not ahead of {:?}", waybill.planned);
                return Err((StatusCode::CONFLICT, message));
            }
        };
        let lane = Arc::new(tokio::sync::Mutex::new(()));
        let Ok(turn) = lane.clone().try_lock_owned() else {
            return Err((StatusCode::INTERNAL_SERVER_ERROR, "lane busy".into()));
        };
        waybill.planned = to;
        Ok(Scheduled {
            index,
            steps,
            waybill_id: waybill.waybill_id.clone(),
            previous: std::mem::replace(&mut waybill.lane, lane),
            turn,
        })
    }

    /// Sends the scheduled steps in order, each once the first attempt of the one before ended;
    /// a refused callback is retried beside the next steps, as a platform's retry queue would
    /// (so the status moves on at once even where no webhook answers yet).
    async fn send(self, courier: C, scheduled: Scheduled, request: Advance) {
        let (late, silent) = (request.late, request.silent);
        let Scheduled {
            index,
            steps,
            previous,
            turn,
            ..
        } = scheduled;
        drop(previous.lock().await);
        let (at_once, later) = SCHEDULE.split_at(1);
        for step in steps {
            let Some((callback, sent)) = self.apply(&courier, index, step, late) else {
                tracing::info!(stand_in = self.kit.name, ?step, "step overtaken, not sent");
                break;
            };
            if silent {
                continue;
            }
            let first = self.post(&callback, at_once).await;
            self.record(index, sent, first.clone());
            if !first.accepted {
                let desk = self.clone();
                tokio::spawn(async move {
                    let rest = desk.post(&callback, later).await;
                    let attempts = first.attempts + rest.attempts;
                    desk.record(index, sent, Delivery { attempts, ..rest });
                });
            }
        }
        drop(turn);
    }

    async fn post(&self, callback: &Callback, schedule: &[Duration]) -> Delivery {
        let headers = [("content-type".to_owned(), callback.content_type.to_owned())];
        let body = callback.body.clone();
        let accepted = |status: u16, _: &[u8]| (200..300).contains(&status);
        let callbacks = &self.kit.callbacks;
        callbacks
            .post(&callback.path, &headers, body, schedule, accepted)
            .await
    }

    /// The outcome so far of callback `sent` of waybill `index`.
    fn record(&self, index: usize, sent: usize, delivery: Delivery) {
        let mut waybills = self.book.lock();
        let sent = waybills
            .get_mut(index)
            .and_then(|w| w.callbacks.get_mut(sent));
        if let Some(sent) = sent {
            sent.delivery = Some(delivery);
        }
    }
}

/// Why an `advance` is refused: its HTTP status and message.
type Refused = (StatusCode, String);

/// An `advance` ready to send: which waybill, its steps, and its place in the waybill's lane.
struct Scheduled {
    index: usize,
    steps: Vec<Step>,
    waybill_id: String,
    /// Unlocked once the previous `advance` of the waybill has sent its callbacks.
    previous: Arc<tokio::sync::Mutex<()>>,
    /// Held until this one's are sent.
    turn: tokio::sync::OwnedMutexGuard<()>,
}

/// The control routes, merged into each courier stand-in's.
pub fn controls<C: Courier>() -> Router<Desk<C>> {
    Router::new()
        .route("/waybills", get(list::<C>))
        .route("/waybills/{order_id}/advance", post(advance::<C>))
}

async fn list<C: Courier>(State(desk): State<Desk<C>>) -> Json<Vec<Waybill>> {
    Json(desk.book.lock().clone())
}

async fn advance<C: Courier>(
    State(desk): State<Desk<C>>,
    Path(order_id): Path<String>,
    body: Bytes,
) -> Response {
    let request = match Advance::parse::<C>(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let courier = match &desk.courier {
        Ok(courier) => courier.clone(),
        Err(missing) => return error(StatusCode::INTERNAL_SERVER_ERROR, missing),
    };
    let scheduled = match desk.schedule(&order_id, request.to) {
        Ok(scheduled) => scheduled,
        Err((status, message)) => return error(status, &message),
    };
    tracing::info!(
        stand_in = desk.kit.name,
        order_id = %order_id,
        to = ?request.to,
        steps = scheduled.steps.len(),
        "advancing"
    );
    let answer = json!({
        "order_id": order_id,
        "waybill_id": scheduled.waybill_id,
        "steps": scheduled.steps,
    });
    tokio::spawn(desk.send(courier, scheduled, request));
    (StatusCode::ACCEPTED, Json(answer)).into_response()
}

#[cfg(test)]
mod tests {
    use super::super::testkit;
    use super::*;
    use crate::standins::{dada::DadaCourier, sf::SfCourier};
    use DeliveryState::*;

    #[test]
    fn the_advance_body_names_a_target_and_bounds_lateness() {
        let parse = |body: &str| Advance::parse::<DadaCourier>(body.as_bytes());
        let late = parse(r#"{"status": "delivered", "late_minutes": 30}"#).unwrap();
        assert_eq!(
            (late.to, late.late),
            (Delivered, chrono::Duration::minutes(30))
        );
        assert_eq!(parse(r#"{"status": "expired"}"#).unwrap().to, Expired);
        assert!(Advance::parse::<SfCourier>(br#"{"status": "expired"}"#).is_err());
        assert!(parse(r#"{"status": "dispatching"}"#).is_err());
        assert!(parse(r#"{"status": "accepted", "late_minutes": 5}"#).is_err());
        assert!(parse(r#"{"status": "delivered", "late_minutes": 10081}"#).is_err());
        assert!(parse(r#"{"status": "delivered", "late": 5}"#).is_err());
        assert!(parse("delivered").is_err());
    }

    /// Where no webhook answers yet, each step's first attempt is a 404 and the next goes on.
    #[tokio::test]
    async fn without_a_webhook_the_status_moves_on_and_the_404s_are_recorded() {
        use crate::standins::meituan::Meituan;
        use linli::courier::meituan::{self, MeituanConfig};
        let (base, received) = testkit::serve(&Meituan, false).await;
        let config = MeituanConfig {
            app_key: "local-meituan-key".into(),
            secret: "local-meituan-secret".into(),
        };
        let create = meituan::create(&config, &testkit::shipment());
        testkit::send(&base, "meituan", create).await;
        let order = testkit::ORDER;
        let advance = testkit::advance(&base, "meituan", order, r#"{"status": "delivered"}"#);
        assert_eq!(advance.await.0, 202);
        let sent = |list: &Value| {
            let callbacks = list[0]["callbacks"].as_array().cloned().unwrap_or_default();
            callbacks.len() == 3 && callbacks.iter().all(|c| !c["delivery"].is_null())
        };
        let list = testkit::waybills_when(&base, "meituan", sent).await;
        assert!(sent(&list), "{list}");
        assert_eq!(
            (list[0]["status"].as_i64(), list[0]["state"].as_str()),
            (Some(50), Some("delivered"))
        );
        for callback in list[0]["callbacks"].as_array().unwrap() {
            let delivery = &callback["delivery"];
            assert_eq!(
                (
                    delivery["accepted"].as_bool(),
                    delivery["last_status"].as_u64()
                ),
                (Some(false), Some(404))
            );
        }
        assert!(received.lock().unwrap().is_empty());
    }
}
