//! `meituan`: Meituan 配送's open API as Linli calls it (`linli::courier::meituan`), checked as
//! Meituan checks it. Requests are form posts signed with the settings' `MEITUAN_SECRET`, whose
//! `appkey` must be `MEITUAN_APP_KEY`; answers are HTTP 200 `{code, message, data}`:
//! - `POST /_local/meituan/api/order/createByShop` `delivery_id, order_id, …` → status 0 (待调度),
//!   `data {delivery_id, mt_peisong_id (13 digits), order_id}`; `7 订单已存在` while the order
//!   has a waybill that was not cancelled (never a duplicate);
//! - `POST /_local/meituan/api/order/status/query` `delivery_id, order_id` → `data {delivery_id,
//!   mt_peisong_id, order_id, status, courier_name, courier_phone, cancel_reason_id,
//!   cancel_reason}`;
//! - `POST /_local/meituan/api/order/delete` `delivery_id, order_id, cancel_reason_id,
//!   cancel_reason` → status 99, `data {delivery_id, mt_peisong_id}`, no callback (Linli asked
//!   for it); cancelling a cancelled waybill succeeds again; `9` once delivered.
//!
//! Other refusals: `2 签名验证错误` (bad sign, or another appkey), `1 参数错误` (no `order_id`, a
//! `delivery_id` that is not a number), `8 订单不存在` (also when `delivery_id` is not the
//! waybill's). Status codes: 0 待调度, 20 已接单, 30 已取货, 50 已送达, 99 已取消 (Meituan has
//! no arrived-at-store: `advance` skips it and refuses it as a target).
//!
//! The `waybills` controls (`waybills.rs`) POST form status callbacks to
//! `/courier/meituan/callback/<MEITUAN_CALLBACK_TOKEN>`: `delivery_id, mt_peisong_id, order_id,
//! status, courier_name, courier_phone (the rider, once one took it), cancel_reason_id,
//! cancel_reason (299 美团配送取消 when cancelled, else empty), appkey, timestamp, sign`.

use super::waybills::{self, controls, digits, latest, open, Callback, Cancel, Courier, Desk};
use super::waybills::{Waybill, RIDER_NAME, RIDER_PHONE};
use super::{Kit, StandIn};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{post, MethodRouter};
use axum::Router;
use chrono::{DateTime, Utc};
use linli::courier::meituan::{self, MeituanConfig};
use linli::courier::DeliveryState;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Meituan;

impl StandIn for Meituan {
    fn name(&self) -> &'static str {
        "meituan"
    }

    fn routes(&self, kit: Kit) -> Router {
        let courier = MeituanCourier::from_settings(&kit.settings);
        Router::new()
            .route(meituan::CREATE, route(Api::Create))
            .route(meituan::QUERY, route(Api::Query))
            .route(meituan::CANCEL, route(Api::Cancel))
            .merge(controls())
            .with_state(Desk::new(kit, courier))
    }
}

/// The app Linli must be, and the token of its callback path. No `Debug`: the secret stays out
/// of logs.
#[derive(Clone)]
pub struct MeituanCourier {
    config: MeituanConfig,
    callback_token: String,
}

impl MeituanCourier {
    pub fn from_settings(settings: &BTreeMap<String, String>) -> Result<Self, String> {
        Ok(Self {
            config: MeituanConfig {
                app_key: waybills::setting(settings, "MEITUAN_APP_KEY")?,
                secret: waybills::setting(settings, "MEITUAN_SECRET")?,
            },
            callback_token: waybills::setting(settings, "MEITUAN_CALLBACK_TOKEN")?,
        })
    }
}

type Params = BTreeMap<String, String>;

const DISPATCHING: i64 = 0;
const CANCELLED: i64 = 99;

impl Courier for MeituanCourier {
    fn code(state: DeliveryState) -> Option<i64> {
        Some(match state {
            DeliveryState::Accepted => 20,
            DeliveryState::PickedUp => 30,
            DeliveryState::Delivered => 50,
            DeliveryState::Cancelled => CANCELLED,
            _ => return None,
        })
    }

    fn callback(&self, waybill: &Waybill, at: DateTime<Utc>) -> Callback {
        let mut params = fields(waybill);
        params.insert("appkey".into(), self.config.app_key.clone());
        params.insert("timestamp".into(), at.timestamp().to_string());
        let sign = meituan::sign(&params, &self.config.secret);
        params.insert("sign".into(), sign);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        Callback {
            path: format!("/courier/meituan/callback/{}", self.callback_token),
            content_type: "application/x-www-form-urlencoded",
            body: body.into_bytes(),
        }
    }
}

/// What Meituan reports of a waybill, in its callbacks and status queries.
fn fields(waybill: &Waybill) -> Params {
    let (name, phone) = match waybill.rider {
        true => (RIDER_NAME, RIDER_PHONE),
        false => ("", ""),
    };
    let (reason_id, reason) = match waybill.state {
        DeliveryState::Cancelled => ("299", "美团配送取消"),
        _ => ("", ""),
    };
    let delivery_id = waybill.delivery_id.map(|d| d.to_string());
    [
        ("delivery_id", delivery_id.unwrap_or_default().as_str()),
        ("mt_peisong_id", &waybill.waybill_id),
        ("order_id", &waybill.order_id),
        ("status", &waybill.status.to_string()),
        ("courier_name", name),
        ("courier_phone", phone),
        ("cancel_reason_id", reason_id),
        ("cancel_reason", reason),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Create,
    Query,
    Cancel,
}

fn route(api: Api) -> MethodRouter<Desk<MeituanCourier>> {
    post(
        move |State(desk): State<Desk<MeituanCourier>>, body: Bytes| async move {
            desk.answer(|courier, waybills, now| answer(api, courier, waybills, &body, now))
        },
    )
}

fn fail(code: i64, message: &str) -> Value {
    json!({"code": code, "message": message})
}

fn success(data: Value) -> Value {
    json!({"code": 0, "message": "成功", "data": data})
}

/// Meituan's answer to `api` for the form `raw`, updating `waybills`.
pub fn answer(
    api: Api,
    courier: &MeituanCourier,
    waybills: &mut Vec<Waybill>,
    raw: &[u8],
    now: DateTime<Utc>,
) -> Value {
    let params = match meituan::verify_form(raw, &courier.config.secret) {
        Ok(params) if given(&params, "appkey") == courier.config.app_key => params,
        Ok(_) => return fail(2, "签名验证错误: appkey"),
        Err(why) => {
            tracing::info!(stand_in = "meituan", ?api, %why, "form refused");
            return fail(2, "签名验证错误");
        }
    };
    let order_id = given(&params, "order_id").to_owned();
    let delivery_id = given(&params, "delivery_id").parse::<u64>();
    let answer = match (api, delivery_id) {
        (_, Err(_)) => fail(1, "参数错误: delivery_id"),
        _ if order_id.is_empty() => fail(1, "参数错误: order_id"),
        (Api::Create, Ok(delivery_id)) => create(waybills, &order_id, delivery_id, now),
        (_, Ok(delivery_id)) => match find(waybills, &order_id, delivery_id) {
            None => fail(8, "订单不存在"),
            Some(waybill) if api == Api::Query => query(waybill),
            Some(_) => cancel(waybills, &order_id),
        },
    };
    let code = waybills::text(&answer, "code");
    tracing::info!(stand_in = "meituan", ?api, order_id = %order_id, %code, "answered");
    answer
}

fn given<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or_default()
}

/// The order's latest waybill, if it has that `delivery_id`.
fn find<'a>(waybills: &'a [Waybill], order_id: &str, delivery_id: u64) -> Option<&'a Waybill> {
    let waybill = latest(waybills, order_id).and_then(|i| waybills.get(i))?;
    (waybill.delivery_id == Some(delivery_id)).then_some(waybill)
}

fn create(
    waybills: &mut Vec<Waybill>,
    order_id: &str,
    delivery_id: u64,
    now: DateTime<Utc>,
) -> Value {
    let mut waybill = Waybill::new(order_id, digits(13), DISPATCHING, now);
    waybill.delivery_id = Some(delivery_id);
    let mt_peisong_id = waybill.waybill_id.clone();
    if !open(waybills, waybill) {
        return fail(7, "订单已存在");
    }
    success(json!({
        "delivery_id": delivery_id,
        "mt_peisong_id": mt_peisong_id,
        "order_id": order_id,
    }))
}

fn query(waybill: &Waybill) -> Value {
    let mut data: serde_json::Map<String, Value> = fields(waybill)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    data.insert("delivery_id".into(), json!(waybill.delivery_id));
    data.insert("status".into(), json!(waybill.status));
    data.insert(
        "operate_time".into(),
        json!(waybill.finished_at.map(|t| t.timestamp())),
    );
    success(Value::Object(data))
}

fn cancel(waybills: &mut [Waybill], order_id: &str) -> Value {
    let delivery_id = latest(waybills, order_id)
        .and_then(|i| waybills.get(i))
        .and_then(|w| w.delivery_id);
    match waybills::cancel(waybills, order_id, CANCELLED) {
        Cancel::Done(mt_peisong_id) => success(json!({
            "delivery_id": delivery_id,
            "mt_peisong_id": mt_peisong_id,
        })),
        Cancel::NotFound => fail(8, "订单不存在"),
        Cancel::TooLate => fail(9, "订单已完成，不能取消"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standins::waybills::testkit::{self, now, settings, shipment, ORDER};
    use linli::courier::CourierError;

    fn courier() -> MeituanCourier {
        MeituanCourier::from_settings(&settings()).unwrap()
    }

    fn call(api: Api, book: &mut Vec<Waybill>, raw: &[u8]) -> Vec<u8> {
        let answer = answer(api, &courier(), book, raw, now());
        answer.to_string().into_bytes()
    }

    fn refused_with(answer: Result<impl std::fmt::Debug, CourierError>, expected: &str) -> bool {
        matches!(answer, Err(CourierError::Refused { code, .. }) if code == expected)
    }

    #[test]
    fn a_create_signed_by_linli_is_taken_once_and_foreign_forms_refused() {
        let config = courier().config;
        let mut book = Vec::new();
        let create = meituan::create(&config, &shipment()).body;
        let answer: Value = serde_json::from_slice(&call(Api::Create, &mut book, &create)).unwrap();
        assert_eq!(answer["data"]["delivery_id"], meituan::delivery_id(ORDER));
        let created = meituan::created(answer.to_string().as_bytes()).unwrap();
        assert_eq!(created.waybill_id.len(), 13);
        assert!(refused_with(
            meituan::created(&call(Api::Create, &mut book, &create)),
            "7"
        ));
        let foreign = |config: MeituanConfig| meituan::create(&config, &shipment()).body;
        let other_secret = foreign(MeituanConfig {
            secret: "other".into(),
            ..config.clone()
        });
        let other_key = foreign(MeituanConfig {
            app_key: "other".into(),
            ..config.clone()
        });
        for raw in [other_secret, other_key] {
            assert!(refused_with(
                meituan::created(&call(Api::Create, &mut book, &raw)),
                "2"
            ));
        }
        assert_eq!((book.len(), book[0].status), (1, 0));
    }

    #[test]
    fn query_and_cancel_read_back_through_linli() {
        let config = courier().config;
        let mut book = Vec::new();
        let t = now().timestamp();
        let query = |book: &mut Vec<Waybill>| {
            meituan::remote(&call(
                Api::Query,
                book,
                &meituan::query(&config, ORDER, t).body,
            ))
        };
        assert!(refused_with(query(&mut book), "8"));
        call(
            Api::Create,
            &mut book,
            &meituan::create(&config, &shipment()).body,
        );
        book[0].set(20, DeliveryState::Accepted);
        let accepted = query(&mut book).unwrap();
        assert_eq!(accepted.state, DeliveryState::Accepted);
        assert_eq!(accepted.rider_phone.as_deref(), Some(RIDER_PHONE));
        book[0].delivery_id = Some(1);
        assert!(refused_with(query(&mut book), "8"), "another delivery_id");
        book[0].delivery_id = Some(meituan::delivery_id(ORDER));
        let cancel = meituan::cancel(&config, ORDER, t).body;
        assert_eq!(
            meituan::cancelled(&call(Api::Cancel, &mut book, &cancel)),
            Ok(())
        );
        assert_eq!(query(&mut book).unwrap().state, DeliveryState::Cancelled);
        call(
            Api::Create,
            &mut book,
            &meituan::create(&config, &shipment()).body,
        );
        book[1].set(50, DeliveryState::Delivered);
        let late = meituan::cancelled(&call(Api::Cancel, &mut book, &cancel));
        assert!(refused_with(late, "9"));
    }

    /// Over HTTP: Meituan has no arrived-at-store, so delivering sends three signed forms.
    #[tokio::test]
    async fn advancing_to_delivered_skips_arrived_at_store_and_signs_each_form() {
        let (base, received) = testkit::serve(&Meituan, true).await;
        let config = courier().config;
        let created = testkit::send(&base, "meituan", meituan::create(&config, &shipment())).await;
        let waybill_id = meituan::created(&created).unwrap().waybill_id;
        let advance = |body| testkit::advance(&base, "meituan", ORDER, body);
        assert_eq!(advance(r#"{"status": "arrived_at_store"}"#).await.0, 400);
        let (status, steps) = advance(r#"{"status": "delivered"}"#).await;
        let codes: Vec<_> = steps["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"].clone())
            .collect();
        assert_eq!(
            (status, codes),
            (202, vec![json!(20), json!(30), json!(50)])
        );
        assert_eq!(advance(r#"{"status": "accepted"}"#).await.0, 409);
        let list = testkit::waybills_when(&base, "meituan", |l| testkit::delivered(l, 0, 3)).await;
        assert!(testkit::delivered(&list, 0, 3), "{list}");
        let statuses: Vec<String> = received
            .lock()
            .unwrap()
            .iter()
            .map(|(path, body)| {
                assert_eq!(
                    path,
                    "/courier/meituan/callback/local-meituan-callback-token"
                );
                let params = meituan::verify_form(body, &config.secret).unwrap();
                assert_eq!(params["appkey"], config.app_key);
                assert_eq!(params["mt_peisong_id"], waybill_id);
                assert_eq!(
                    params["delivery_id"],
                    meituan::delivery_id(ORDER).to_string()
                );
                params["status"].clone()
            })
            .collect();
        assert_eq!(statuses, ["20", "30", "50"]);
        let query = meituan::query(&config, ORDER, now().timestamp());
        let remote = meituan::remote(&testkit::send(&base, "meituan", query).await).unwrap();
        assert_eq!(remote.state, DeliveryState::Delivered);
    }
}
