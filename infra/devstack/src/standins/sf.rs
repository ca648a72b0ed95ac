//! `sf`: SF同城's open API as Linli calls it (`linli::courier::sf`), checked as SF checks it.
//! Requests are JSON bodies POSTed with `?sign=` (the body signed with the settings' `SF_DEV_ID`
//! and `SF_DEV_KEY`) and the body's `dev_id` must be `SF_DEV_ID`; answers are HTTP 200
//! `{error_code, error_msg, result}`:
//! - `POST /_local/sf/open/api/external/createorder` `{shop_order_id, …}` → status 1, `result
//!   {sf_order_id ("SF" + 14 digits), sf_bill_id, shop_order_id, push_time, total_price: 800}`;
//!   `1011 订单已存在` while the order has a waybill that was not cancelled (never a duplicate);
//! - `POST /_local/sf/open/api/external/getorderstatus` `{dev_id, order_id, order_type,
//!   push_time}` (`order_type` 2: `order_id` is the shop order id, 1: the `sf_order_id`) →
//!   `result {sf_order_id, shop_order_id, order_status, status_desc, rider_name, rider_phone}`;
//! - `POST /_local/sf/open/api/external/cancelorder` (the same body) → status 2, `result
//!   {sf_order_id, deduction_detail: {}}`, no callback (Linli asked for it); cancelling a
//!   cancelled waybill succeeds again; `1012` once delivered.
//!
//! Other refusals: `1003 sign error`, `1001 参数错误` (not JSON, wrong `dev_id`, no order id),
//! `1006 订单不存在`. Status codes: 1 created, 10 接单, 12 到店, 15 取件, 17 送达, 2 取消 (22
//! 骑士撤单 and 91 异常 are never sent).
//!
//! The `waybills` controls (`waybills.rs`) POST JSON status callbacks to
//! `/courier/sf/callback/<SF_CALLBACK_TOKEN>?sign=…`, signed as requests are: `{sf_order_id,
//! shop_order_id, url_index ("rider_status"; "order_complete" when delivered, "sf_cancel" when
//! cancelled), operator_name, operator_phone (the rider, once one took it), rider_lng,
//! rider_lat, order_status, status_desc, push_time}`.

use super::waybills::{self, controls, digits, latest, open, text, Callback, Cancel, Courier};
use super::waybills::{Desk, Waybill, RIDER_NAME, RIDER_PHONE};
use super::{Kit, StandIn};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use axum::Router;
use chrono::{DateTime, Utc};
use linli::courier::sf::{self, SfConfig};
use linli::courier::DeliveryState;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Sf;

impl StandIn for Sf {
    fn name(&self) -> &'static str {
        "sf"
    }

    fn routes(&self, kit: Kit) -> Router {
        let courier = SfCourier::from_settings(&kit.settings);
        Router::new()
            .route(sf::CREATE, route(Api::Create))
            .route(sf::QUERY, route(Api::Query))
            .route(sf::CANCEL, route(Api::Cancel))
            .merge(controls())
            .with_state(Desk::new(kit, courier))
    }
}

/// The developer Linli must be, and the token of its callback path. No `Debug`: keys stay out
/// of logs.
#[derive(Clone)]
pub struct SfCourier {
    config: SfConfig,
    callback_token: String,
}

impl SfCourier {
    pub fn from_settings(settings: &BTreeMap<String, String>) -> Result<Self, String> {
        Ok(Self {
            config: SfConfig {
                dev_id: waybills::setting(settings, "SF_DEV_ID")?,
                dev_key: waybills::setting(settings, "SF_DEV_KEY")?,
            },
            callback_token: waybills::setting(settings, "SF_CALLBACK_TOKEN")?,
        })
    }
}

const CREATED: i64 = 1;
const CANCELLED: i64 = 2;

impl Courier for SfCourier {
    fn code(state: DeliveryState) -> Option<i64> {
        Some(match state {
            DeliveryState::Accepted => 10,
            DeliveryState::ArrivedAtStore => 12,
            DeliveryState::PickedUp => 15,
            DeliveryState::Delivered => 17,
            DeliveryState::Cancelled => CANCELLED,
            _ => return None,
        })
    }

    fn callback(&self, waybill: &Waybill, at: DateTime<Utc>) -> Callback {
        let url_index = match waybill.state {
            DeliveryState::Delivered => "order_complete",
            DeliveryState::Cancelled => "sf_cancel",
            _ => "rider_status",
        };
        let (name, phone) = rider(waybill);
        let body = json!({
            "sf_order_id": waybill.waybill_id,
            "shop_order_id": waybill.order_id,
            "url_index": url_index,
            "operator_name": name,
            "operator_phone": phone,
            "rider_lng": "",
            "rider_lat": "",
            "order_status": waybill.status,
            "status_desc": status_desc(waybill.status),
            "push_time": at.timestamp(),
        });
        let body = body.to_string().into_bytes();
        let sign = sf::sign(&body, &self.config.dev_id, &self.config.dev_key);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("sign", &sign)
            .finish();
        Callback {
            path: format!("/courier/sf/callback/{}?{query}", self.callback_token),
            content_type: "application/json",
            body,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Create,
    Query,
    Cancel,
}

fn route(api: Api) -> MethodRouter<Desk<SfCourier>> {
    post(
        move |desk: State<Desk<SfCourier>>, query: RawQuery, body: Bytes| {
            call(api, desk, query, body)
        },
    )
}

async fn call(
    api: Api,
    State(desk): State<Desk<SfCourier>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let sign = sign_param(query.as_deref().unwrap_or_default());
    desk.answer(|courier, waybills, now| answer(api, courier, waybills, &body, &sign, now))
}

/// The `sign` query parameter, decoded (a `+` becomes a space, which `sf::verify` allows for).
fn sign_param(query: &str) -> String {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "sign")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn fail(code: i64, msg: &str) -> Value {
    json!({"error_code": code, "error_msg": msg})
}

fn success(result: Value) -> Value {
    json!({"error_code": 0, "error_msg": "success", "result": result})
}

/// SF's answer to `api` for the body `raw` signed `sign`, updating `waybills`.
pub fn answer(
    api: Api,
    courier: &SfCourier,
    waybills: &mut Vec<Waybill>,
    raw: &[u8],
    sign: &str,
    now: DateTime<Utc>,
) -> Value {
    if !sf::verify(raw, sign, &courier.config) {
        tracing::info!(stand_in = "sf", ?api, "sign refused");
        return fail(1003, "sign error");
    }
    let Ok(body) = serde_json::from_slice::<Value>(raw) else {
        return fail(1001, "参数错误: 不是JSON");
    };
    if text(&body, "dev_id") != courier.config.dev_id {
        return fail(1001, "参数错误: dev_id");
    }
    let order_id = match (api, text(&body, "order_type").as_str()) {
        (Api::Create, _) => text(&body, "shop_order_id"),
        // SF's own id: the shop order id of the waybill that has it.
        (_, "1") => by_sf_id(waybills, &text(&body, "order_id")),
        _ => text(&body, "order_id"),
    };
    let answer = match api {
        _ if order_id.is_empty() => fail(1001, "参数错误: 缺少订单号"),
        Api::Create => create(waybills, &order_id, now),
        Api::Query => query(waybills, &order_id),
        Api::Cancel => match waybills::cancel(waybills, &order_id, CANCELLED) {
            Cancel::Done(sf_order_id) => {
                success(json!({"sf_order_id": sf_order_id, "deduction_detail": {}}))
            }
            Cancel::NotFound => fail(1006, "订单不存在"),
            Cancel::TooLate => fail(1012, "订单已完成，不能取消"),
        },
    };
    let code = text(&answer, "error_code");
    tracing::info!(stand_in = "sf", ?api, order_id = %order_id, %code, "answered");
    answer
}

fn by_sf_id(waybills: &[Waybill], sf_order_id: &str) -> String {
    let found = waybills.iter().find(|w| w.waybill_id == sf_order_id);
    found.map(|w| w.order_id.clone()).unwrap_or_default()
}

fn create(waybills: &mut Vec<Waybill>, order_id: &str, now: DateTime<Utc>) -> Value {
    let mut waybill = Waybill::new(order_id, format!("SF{}", digits(14)), CREATED, now);
    let bill_id = format!("JS{}", digits(13));
    waybill.bill_id = Some(bill_id.clone());
    let sf_order_id = waybill.waybill_id.clone();
    if !open(waybills, waybill) {
        return fail(1011, "订单已存在");
    }
    success(json!({
        "sf_order_id": sf_order_id,
        "sf_bill_id": bill_id,
        "shop_order_id": order_id,
        "push_time": now.timestamp(),
        "total_price": 800,
    }))
}

fn query(waybills: &[Waybill], order_id: &str) -> Value {
    let Some(waybill) = latest(waybills, order_id).and_then(|i| waybills.get(i)) else {
        return fail(1006, "订单不存在");
    };
    let (name, phone) = rider(waybill);
    success(json!({
        "sf_order_id": waybill.waybill_id,
        "shop_order_id": waybill.order_id,
        "order_status": waybill.status,
        "status_desc": status_desc(waybill.status),
        "rider_name": name,
        "rider_phone": phone,
        "push_time": waybill.finished_at.map(|t| t.timestamp()),
    }))
}

fn rider(waybill: &Waybill) -> (&'static str, &'static str) {
    match waybill.rider {
        true => (RIDER_NAME, RIDER_PHONE),
        false => ("", ""),
    }
}

fn status_desc(code: i64) -> &'static str {
    match code {
        1 => "订单创建",
        10 => "配送员接单",
        12 => "配送员到店",
        15 => "配送员配送中",
        17 => "配送员妥投完单",
        2 => "订单取消",
        _ => "异常",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standins::waybills::testkit::{self, now, settings, shipment, ORDER};
    use linli::courier::{CourierError, Outbound};

    fn courier() -> SfCourier {
        SfCourier::from_settings(&settings()).unwrap()
    }

    /// Calls `api` as Linli's `out` would arrive.
    fn call(api: Api, book: &mut Vec<Waybill>, out: &Outbound) -> Vec<u8> {
        let query = out.path.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let sign = sign_param(query);
        let answer = answer(api, &courier(), book, &out.body, &sign, now());
        answer.to_string().into_bytes()
    }

    #[test]
    fn a_create_signed_by_linli_is_taken_once_and_a_bad_sign_refused() {
        let config = courier().config;
        let mut book = Vec::new();
        let create = sf::create(&config, &shipment());
        let created = sf::created(&call(Api::Create, &mut book, &create)).unwrap();
        assert!(created.waybill_id.starts_with("SF") && created.waybill_id.len() == 16);
        assert_eq!(created.fee_fen, Some(800));
        let again = sf::created(&call(Api::Create, &mut book, &create));
        assert!(matches!(again, Err(CourierError::Refused { code, .. }) if code == "1011"));
        let unsigned = answer(Api::Create, &courier(), &mut book, &create.body, "", now());
        assert_eq!(unsigned["error_code"], 1003);
        let stranger = SfConfig {
            dev_key: "other".into(),
            ..config.clone()
        };
        let foreign = call(Api::Create, &mut book, &sf::create(&stranger, &shipment()));
        assert!(String::from_utf8(foreign).unwrap().contains("1003"));
        assert_eq!((book.len(), book[0].status), (1, 1));
        assert!(book[0]
            .bill_id
            .as_deref()
            .is_some_and(|b| b.starts_with("JS")));
    }

    #[test]
    fn query_and_cancel_read_back_through_linli_by_either_id() {
        let config = courier().config;
        let mut book = Vec::new();
        let t = now().timestamp();
        let unknown = sf::remote(&call(Api::Query, &mut book, &sf::query(&config, ORDER, t)));
        assert!(matches!(unknown, Err(CourierError::Refused { code, .. }) if code == "1006"));
        call(Api::Create, &mut book, &sf::create(&config, &shipment()));
        book[0].set(15, DeliveryState::PickedUp);
        let remote = sf::remote(&call(Api::Query, &mut book, &sf::query(&config, ORDER, t)));
        let remote = remote.unwrap();
        assert_eq!(remote.state, DeliveryState::PickedUp);
        assert_eq!(remote.rider_name.as_deref(), Some(RIDER_NAME));
        let by_sf_id = json!({"dev_id": 1234567, "order_id": remote.waybill_id, "order_type": 1});
        let raw = by_sf_id.to_string().into_bytes();
        let sign = sf::sign(&raw, &config.dev_id, &config.dev_key);
        let answer = answer(Api::Query, &courier(), &mut book, &raw, &sign, now());
        assert_eq!(answer["result"]["shop_order_id"], ORDER);
        let cancel = call(Api::Cancel, &mut book, &sf::cancel(&config, ORDER, t));
        assert_eq!(sf::cancelled(&cancel), Ok(()));
        let remote = sf::remote(&call(Api::Query, &mut book, &sf::query(&config, ORDER, t)));
        assert_eq!(remote.unwrap().state, DeliveryState::Cancelled);
    }

    #[test]
    fn the_sign_is_read_from_the_query_decoded() {
        assert_eq!(sign_param("a=1&sign=ab%2Bc%3D%3D"), "ab+c==");
        assert_eq!(sign_param("sign=ab+c"), "ab c");
        assert_eq!(sign_param("signature=x"), "");
    }

    /// Over HTTP: a rider accepts, then SF cancels; the order can then be created again.
    #[tokio::test]
    async fn a_platform_cancellation_is_called_back_signed() {
        let (base, received) = testkit::serve(&Sf, true).await;
        let config = courier().config;
        let created = testkit::send(&base, "sf", sf::create(&config, &shipment())).await;
        assert!(sf::created(&created).is_ok());
        let advance = |body| testkit::advance(&base, "sf", ORDER, body);
        assert_eq!(advance(r#"{"status": "accepted"}"#).await.0, 202);
        let (status, cancelled) = advance(r#"{"status": "cancelled"}"#).await;
        assert_eq!(
            (status, cancelled["steps"][0]["status"].as_i64()),
            (202, Some(2))
        );
        let list = testkit::waybills_when(&base, "sf", |l| testkit::delivered(l, 0, 2)).await;
        assert!(testkit::delivered(&list, 0, 2), "{list}");
        let received = received.lock().unwrap().clone();
        let indexes: Vec<Value> = received
            .iter()
            .map(|(path, body)| {
                let query = path.strip_prefix("/courier/sf/callback/local-sf-callback-token?");
                assert!(sf::verify(body, &sign_param(query.unwrap()), &config));
                let body: Value = serde_json::from_slice(body).unwrap();
                json!([
                    body["url_index"],
                    body["order_status"],
                    body["operator_name"]
                ])
            })
            .collect();
        assert_eq!(
            indexes,
            [
                json!(["rider_status", 10, RIDER_NAME]),
                json!(["sf_cancel", 2, RIDER_NAME])
            ]
        );
        let query = sf::query(&config, ORDER, now().timestamp());
        let remote = sf::remote(&testkit::send(&base, "sf", query).await).unwrap();
        assert_eq!(remote.state, DeliveryState::Cancelled);
        let again = testkit::send(&base, "sf", sf::create(&config, &shipment())).await;
        assert_ne!(sf::created(&again).unwrap().waybill_id, remote.waybill_id);
    }
}
