//! `dada`: Dada's open API as Linli calls it (`linli::courier::dada`), checked as Dada checks it.
//! Requests are the signed JSON envelope of the settings' `DADA_APP_KEY`, `DADA_APP_SECRET` and
//! `DADA_SOURCE_ID`; answers are HTTP 200 `{status: "success"|"fail", code, msg, result}`:
//! - `POST /_local/dada/api/order/addOrder` `{origin_id, callback, …}` → status 1 (待接单),
//!   `result {distance, fee, deliverFee}` (6 yuan); `2105 订单已存在` while the order has a
//!   waybill that was not cancelled or expired (never a duplicate);
//! - `POST /_local/dada/api/order/status/query` `{order_id}` → `result {orderId, statusCode,
//!   statusMsg, transporterName, transporterPhone}` (the rider's once one took it);
//! - `POST /_local/dada/api/order/formalCancel` `{order_id, …}` → status 5, `result {deduct_fee:
//!   0}`, no callback (Linli asked for it); cancelling a cancelled waybill succeeds again;
//!   `2076` once delivered.
//!
//! Other refusals: `2001 签名错误` (not an envelope, unknown app_key or source_id, bad signature),
//! `2004 参数错误` (no `origin_id`/`order_id`, a `callback` that is not an http(s) URL), `2005
//! 订单不存在`. Status codes: 1 待接单, 2 待取货, 100 到店, 3 配送中, 4 已完成, 5 已取消, 7 已过期
//! (9/10 exceptions and 1000 创建失败 are never sent).
//!
//! The `waybills` controls (`waybills.rs`) POST JSON status callbacks to the path of the
//! waybill's `callback` URL: `{client_id (the Dada waybill id), order_id (origin_id),
//! order_status, cancel_reason, cancel_from (1 rider on a cancellation, else 0), update_time,
//! signature (linli's callback_signature), dm_id, dm_name, dm_mobile (the rider, once one took
//! it; 0 and "" before)}`.

use super::waybills::{self, controls, digits, latest, open, text, url_path, Callback, Cancel};
use super::waybills::{Courier, Desk, Waybill, RIDER_NAME, RIDER_PHONE};
use super::{Kit, StandIn};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{post, MethodRouter};
use axum::Router;
use chrono::{DateTime, Utc};
use linli::courier::dada::{self, DadaConfig};
use linli::courier::DeliveryState;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Dada;

impl StandIn for Dada {
    fn name(&self) -> &'static str {
        "dada"
    }

    fn routes(&self, kit: Kit) -> Router {
        let courier = DadaCourier::from_settings(&kit.settings);
        Router::new()
            .route(dada::ADD_ORDER, route(Api::AddOrder))
            .route(dada::QUERY, route(Api::Query))
            .route(dada::CANCEL, route(Api::Cancel))
            .merge(controls())
            .with_state(Desk::new(kit, courier))
    }
}

/// The app Linli must be. No `Debug`, so the secret cannot reach a log.
#[derive(Clone)]
pub struct DadaCourier {
    config: DadaConfig,
}

impl DadaCourier {
    pub fn from_settings(settings: &BTreeMap<String, String>) -> Result<Self, String> {
        Ok(Self {
            config: DadaConfig {
                app_key: waybills::setting(settings, "DADA_APP_KEY")?,
                app_secret: waybills::setting(settings, "DADA_APP_SECRET")?,
                source_id: waybills::setting(settings, "DADA_SOURCE_ID")?,
            },
        })
    }
}

const WAITING: i64 = 1;
const CANCELLED: i64 = 5;

impl Courier for DadaCourier {
    fn code(state: DeliveryState) -> Option<i64> {
        Some(match state {
            DeliveryState::Accepted => 2,
            DeliveryState::ArrivedAtStore => 100,
            DeliveryState::PickedUp => 3,
            DeliveryState::Delivered => 4,
            DeliveryState::Cancelled => CANCELLED,
            DeliveryState::Expired => 7,
            _ => return None,
        })
    }

    fn callback(&self, waybill: &Waybill, at: DateTime<Utc>) -> Callback {
        let update_time = at.timestamp();
        let (cancel_from, cancel_reason) = match waybill.state {
            DeliveryState::Cancelled => (1, "配送员取消"),
            DeliveryState::Expired => (0, "订单已过期"),
            _ => (0, ""),
        };
        let (dm_id, dm_name, dm_mobile) = match waybill.rider {
            true => (666, RIDER_NAME, RIDER_PHONE),
            false => (0, "", ""),
        };
        let (client_id, order_id) = (&waybill.waybill_id, &waybill.order_id);
        let signature = dada::callback_signature(client_id, order_id, &update_time.to_string());
        let body = json!({
            "client_id": client_id,
            "order_id": order_id,
            "order_status": waybill.status,
            "cancel_reason": cancel_reason,
            "cancel_from": cancel_from,
            "update_time": update_time,
            "signature": signature,
            "dm_id": dm_id,
            "dm_name": dm_name,
            "dm_mobile": dm_mobile,
        });
        Callback {
            path: waybill.callback_path.clone().unwrap_or_default(),
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    AddOrder,
    Query,
    Cancel,
}

fn route(api: Api) -> MethodRouter<Desk<DadaCourier>> {
    post(
        move |State(desk): State<Desk<DadaCourier>>, body: Bytes| async move {
            desk.answer(|courier, waybills, now| answer(api, courier, waybills, &body, now))
        },
    )
}

fn fail(code: i64, msg: &str) -> Value {
    json!({"status": "fail", "code": code, "msg": msg})
}

fn success(result: Value) -> Value {
    json!({"status": "success", "code": 0, "msg": "成功", "result": result})
}

/// Dada's answer to `api` for the envelope `raw`, updating `waybills`.
pub fn answer(
    api: Api,
    courier: &DadaCourier,
    waybills: &mut Vec<Waybill>,
    raw: &[u8],
    now: DateTime<Utc>,
) -> Value {
    let body = match dada::open_envelope(raw, &courier.config) {
        Ok(body) => body,
        Err(why) => {
            tracing::info!(stand_in = "dada", ?api, %why, "envelope refused");
            return fail(2001, "签名错误");
        }
    };
    let key = if api == Api::AddOrder {
        "origin_id"
    } else {
        "order_id"
    };
    let order_id = text(&body, key);
    let answer = match api {
        _ if order_id.is_empty() => fail(2004, "参数错误: 缺少订单号"),
        Api::AddOrder => add_order(waybills, &body, &order_id, now),
        Api::Query => query(waybills, &order_id),
        Api::Cancel => match waybills::cancel(waybills, &order_id, CANCELLED) {
            Cancel::Done(_) => success(json!({"deduct_fee": 0})),
            Cancel::NotFound => fail(2005, "订单不存在"),
            Cancel::TooLate => fail(2076, "订单已完成，不能取消"),
        },
    };
    let code = text(&answer, "code");
    tracing::info!(stand_in = "dada", ?api, order_id = %order_id, %code, "answered");
    answer
}

fn add_order(
    waybills: &mut Vec<Waybill>,
    body: &Value,
    order_id: &str,
    now: DateTime<Utc>,
) -> Value {
    let Some(callback_path) = url_path(&text(body, "callback")) else {
        return fail(2004, "参数错误: callback");
    };
    let mut waybill = Waybill::new(order_id, digits(15), WAITING, now);
    waybill.callback_path = Some(callback_path);
    if !open(waybills, waybill) {
        return fail(2105, "订单已存在");
    }
    success(json!({"distance": 1200.0, "fee": 6.0, "deliverFee": 6.0}))
}

fn query(waybills: &[Waybill], order_id: &str) -> Value {
    let Some(waybill) = latest(waybills, order_id).and_then(|i| waybills.get(i)) else {
        return fail(2005, "订单不存在");
    };
    let (name, phone) = match waybill.rider {
        true => (RIDER_NAME, RIDER_PHONE),
        false => ("", ""),
    };
    success(json!({
        "orderId": waybill.order_id,
        "statusCode": waybill.status,
        "statusMsg": status_msg(waybill.status),
        "transporterName": name,
        "transporterPhone": phone,
        "finishTime": beijing(waybill, DeliveryState::Delivered),
        "cancelTime": beijing(waybill, DeliveryState::Cancelled),
    }))
}

/// Dada's "yyyy-MM-dd HH:mm:ss" (Beijing time) of when `waybill` reached `state`, or "".
fn beijing(waybill: &Waybill, state: DeliveryState) -> String {
    let offset = super::wechatpay::SHANGHAI;
    match waybill.finished_at.filter(|_| waybill.state == state) {
        Some(at) => at
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => String::new(),
    }
}

fn status_msg(code: i64) -> &'static str {
    match code {
        1 => "待接单",
        2 => "待取货",
        100 => "骑士到店",
        3 => "配送中",
        4 => "已完成",
        5 => "已取消",
        7 => "已过期",
        _ => "异常",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standins::waybills::testkit::{self, now, settings, shipment, ORDER};
    use linli::courier::CourierError;

    fn courier() -> DadaCourier {
        DadaCourier::from_settings(&settings()).unwrap()
    }

    fn call(api: Api, waybills: &mut Vec<Waybill>, raw: &[u8]) -> Value {
        answer(api, &courier(), waybills, raw, now())
    }

    #[test]
    fn a_create_signed_by_linli_is_taken_once_and_a_tampered_one_refused() {
        let config = courier().config;
        let mut book = Vec::new();
        let create = dada::add_order(&config, &shipment()).body;
        let created = call(Api::AddOrder, &mut book, &create);
        assert_eq!(
            dada::created(ORDER, created.to_string().as_bytes())
                .unwrap()
                .fee_fen,
            Some(600)
        );
        let again = call(Api::AddOrder, &mut book, &create);
        assert_eq!(
            (again["status"].as_str(), again["code"].as_i64()),
            (Some("fail"), Some(2105))
        );
        let tampered = String::from_utf8(create).unwrap().replace("S001", "S002");
        assert_eq!(
            call(Api::AddOrder, &mut book, tampered.as_bytes())["code"],
            2001
        );
        let stranger = DadaConfig {
            app_key: "other".into(),
            ..config.clone()
        };
        let foreign = dada::add_order(&stranger, &shipment()).body;
        assert_eq!(call(Api::AddOrder, &mut book, &foreign)["code"], 2001);
        assert_eq!(book.len(), 1);
        let path = book[0].callback_path.as_deref();
        assert_eq!(
            (path, book[0].status),
            (Some("/courier/dada/callback/tok-1"), 1)
        );
    }

    #[test]
    fn query_and_cancel_read_back_through_linli() {
        let config = courier().config;
        let mut book = Vec::new();
        let t = now().timestamp();
        let query = |book: &mut Vec<Waybill>, order: &str| {
            let answer = call(Api::Query, book, &dada::query(&config, order, t).body);
            dada::remote(order, answer.to_string().as_bytes())
        };
        assert!(matches!(
            query(&mut book, ORDER),
            Err(CourierError::Refused { .. })
        ));
        call(
            Api::AddOrder,
            &mut book,
            &dada::add_order(&config, &shipment()).body,
        );
        let waiting = query(&mut book, ORDER).unwrap();
        assert_eq!(
            (waiting.state, waiting.rider_name),
            (DeliveryState::Dispatching, None)
        );
        book[0].set(2, DeliveryState::Accepted);
        let accepted = query(&mut book, ORDER).unwrap();
        assert_eq!(accepted.rider_phone.as_deref(), Some(RIDER_PHONE));
        let cancel = call(
            Api::Cancel,
            &mut book,
            &dada::cancel(&config, ORDER, t).body,
        );
        assert_eq!(dada::cancelled(cancel.to_string().as_bytes()), Ok(()));
        assert_eq!(
            query(&mut book, ORDER).unwrap().state,
            DeliveryState::Cancelled
        );
        let unknown = call(
            Api::Cancel,
            &mut book,
            &dada::cancel(&config, "O-none", t).body,
        );
        assert_eq!(unknown["code"], 2005);
    }

    #[test]
    fn a_callback_is_signed_as_dada_signs_it() {
        let mut waybill = Waybill::new(ORDER, "275934571345632".into(), 1, now());
        waybill.callback_path = Some("/courier/dada/callback/tok-1".into());
        waybill.set(5, DeliveryState::Cancelled);
        let callback = courier().callback(&waybill, now());
        assert_eq!(callback.path, "/courier/dada/callback/tok-1");
        let body: Value = serde_json::from_slice(&callback.body).unwrap();
        let time = now().timestamp().to_string();
        let expected = dada::callback_signature("275934571345632", ORDER, &time);
        assert_eq!(body["signature"], expected);
        assert_eq!(
            (body["order_status"].as_i64(), body["cancel_from"].as_i64()),
            (Some(5), Some(1))
        );
        assert_eq!(
            (body["dm_id"].as_i64(), body["update_time"].as_i64()),
            (Some(0), Some(now().timestamp()))
        );
    }

    /// Linli's own requests over HTTP; two advances in a row go out in order, the delivery
    /// reported 30 minutes late.
    #[tokio::test]
    async fn advancing_to_delivered_sends_every_step_in_order() {
        let (base, received) = testkit::serve(&Dada, true).await;
        let config = courier().config;
        let created = testkit::send(&base, "dada", dada::add_order(&config, &shipment())).await;
        assert!(dada::created(ORDER, &created).is_ok());
        let advance = |body| testkit::advance(&base, "dada", ORDER, body);
        let (status, first) = advance(r#"{"status": "accepted"}"#).await;
        assert_eq!(
            (status, first["steps"][0]["status"].as_i64()),
            (202, Some(2))
        );
        let (status, rest) = advance(r#"{"status": "delivered", "late_minutes": 30}"#).await;
        assert_eq!(
            (status, rest["steps"].as_array().map(Vec::len)),
            (202, Some(3))
        );
        assert_eq!(advance(r#"{"status": "cancelled"}"#).await.0, 409);
        assert_eq!(advance(r#"{"status": "returned"}"#).await.0, 400);
        let unknown = testkit::advance(&base, "dada", "O-none", r#"{"status": "accepted"}"#);
        assert_eq!(unknown.await.0, 404);
        let list = testkit::waybills_when(&base, "dada", |l| testkit::delivered(l, 0, 4)).await;
        assert!(testkit::delivered(&list, 0, 4), "{list}");
        let at = |field: &str| {
            let text = list[0]["callbacks"][3][field].as_str().unwrap();
            DateTime::parse_from_rfc3339(text).unwrap().timestamp()
        };
        assert_eq!(at("reported_at") - at("sent_at"), 30 * 60);
        let bodies: Vec<Value> = received
            .lock()
            .unwrap()
            .iter()
            .map(|(path, body)| {
                assert_eq!(path, "/courier/dada/callback/tok-1");
                serde_json::from_slice(body).unwrap()
            })
            .collect();
        let statuses: Vec<_> = bodies
            .iter()
            .map(|b| b["order_status"].as_i64().unwrap())
            .collect();
        assert_eq!(statuses, [2, 100, 3, 4]);
        for b in &bodies {
            let (client, time) = (
                b["client_id"].as_str().unwrap(),
                b["update_time"].to_string(),
            );
            let signature = dada::callback_signature(client, ORDER, &time);
            assert_eq!(b["signature"], signature);
        }
        let query = dada::query(&config, ORDER, now().timestamp());
        let remote = dada::remote(ORDER, &testkit::send(&base, "dada", query).await).unwrap();
        assert_eq!(remote.state, DeliveryState::Delivered);
    }
}
