//! SF同城 (顺丰同城) open API. Requests are JSON bodies POSTed with `?sign=` = base64 of the
//! lowercase hex MD5 of raw body ‖ "&" ‖ dev_id ‖ "&" ‖ dev_key — the same rule signs its
//! callbacks (a `+` in the query may arrive as a space). Answers are `{error_code, error_msg,
//! result}` (0 = success). SF keeps Linli's order id as `shop_order_id`.

use super::{json_answer, optional_text, text, CourierError, Created, DeliveryState};
use super::{Outbound, Platform, Remote, Shipment};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Value};

pub const CREATE: &str = "/open/api/external/createorder";
pub const QUERY: &str = "/open/api/external/getorderstatus";
pub const CANCEL: &str = "/open/api/external/cancelorder";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SfConfig {
    pub dev_id: String,
    pub dev_key: String,
}

/// `sign` for a raw body.
pub fn sign(raw_body: &[u8], dev_id: &str, dev_key: &str) -> String {
    let mut text = raw_body.to_vec();
    text.extend_from_slice(format!("&{dev_id}&{dev_key}").as_bytes());
    STANDARD.encode(hex::encode(Md5::digest(&text)))
}

/// Checks a signature as it arrived in a query string (a `+` may have become a space).
pub fn verify(raw_body: &[u8], sign_param: &str, config: &SfConfig) -> bool {
    let expected = sign(raw_body, &config.dev_id, &config.dev_key);
    let received = sign_param.replace(' ', "+");
    super::same(expected.as_bytes(), received.as_bytes())
}

fn signed(config: &SfConfig, path: &str, body: &Value) -> Outbound {
    let raw = body.to_string().into_bytes();
    let sign = sign(&raw, &config.dev_id, &config.dev_key);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("sign", &sign)
        .finish();
    Outbound {
        path: format!("{path}?{query}"),
        content_type: "application/json",
        body: raw,
    }
}

pub fn create(config: &SfConfig, s: &Shipment) -> Outbound {
    let body = json!({
        "dev_id": config.dev_id.parse::<i64>().unwrap_or_default(),
        "shop_id": s.store_id,
        "shop_type": 2,
        "shop_order_id": s.order_id,
        "order_source": "邻里",
        "lbs_type": 2,
        "pay_type": 1,
        "order_time": s.timestamp,
        "is_appoint": 0,
        "is_insured": 0,
        "rider_pick_method": 1,
        "return_flag": 511,
        "push_time": s.timestamp,
        "version": 19,
        "receive": {
            "user_name": s.receiver_name,
            "user_phone": "",
            "user_address": s.receiver_address,
            "user_lng": format!("{:.6}", s.receiver_lng),
            "user_lat": format!("{:.6}", s.receiver_lat),
        },
        "order_detail": {
            "total_price": s.goods_fen,
            "product_type": 1,
            "weight_gram": s.weight_g,
            "product_num": s.items,
            "product_type_num": 1,
            "product_detail": [{"product_name": s.store_name, "product_num": s.items}],
        },
    });
    signed(config, CREATE, &body)
}

fn by_shop_order(config: &SfConfig, path: &str, order_id: &str, timestamp: i64) -> Outbound {
    let body = json!({
        "dev_id": config.dev_id.parse::<i64>().unwrap_or_default(),
        "order_id": order_id,
        "order_type": 2,
        "push_time": timestamp,
    });
    signed(config, path, &body)
}

pub fn query(config: &SfConfig, order_id: &str, timestamp: i64) -> Outbound {
    by_shop_order(config, QUERY, order_id, timestamp)
}

pub fn cancel(config: &SfConfig, order_id: &str, timestamp: i64) -> Outbound {
    by_shop_order(config, CANCEL, order_id, timestamp)
}

fn result(body: &[u8]) -> Result<Value, CourierError> {
    let answer = json_answer(Platform::SfSameCity, body)?;
    if answer.get("error_code").and_then(Value::as_i64) == Some(0) {
        return Ok(answer.get("result").cloned().unwrap_or(Value::Null));
    }
    Err(CourierError::Refused {
        platform: Platform::SfSameCity,
        code: text(&answer, "error_code"),
        message: text(&answer, "error_msg"),
    })
}

pub fn created(body: &[u8]) -> Result<Created, CourierError> {
    let r = result(body)?;
    let waybill_id = text(&r, "sf_order_id");
    if waybill_id.is_empty() {
        return Err(CourierError::Unsure {
            platform: Platform::SfSameCity,
            why: "success without sf_order_id".into(),
        });
    }
    Ok(Created {
        waybill_id,
        fee_fen: r.get("total_price").and_then(Value::as_i64),
    })
}

/// SF同城's order statuses, normalized.
pub fn state(code: i64) -> Option<DeliveryState> {
    Some(match code {
        1 => DeliveryState::Dispatching,
        10 => DeliveryState::Accepted,
        12 => DeliveryState::ArrivedAtStore,
        15 => DeliveryState::PickedUp,
        17 => DeliveryState::Delivered,
        2 | 22 => DeliveryState::Cancelled,
        _ => return None,
    })
}

pub fn remote(body: &[u8]) -> Result<Remote, CourierError> {
    let r = result(body)?;
    let code = r.get("order_status").and_then(Value::as_i64).unwrap_or(-1);
    let state = state(code).ok_or_else(|| CourierError::Unsure {
        platform: Platform::SfSameCity,
        why: format!("unknown order_status {code}"),
    })?;
    Ok(Remote {
        waybill_id: text(&r, "sf_order_id"),
        state,
        rider_name: optional_text(&r, "rider_name"),
        rider_phone: optional_text(&r, "rider_phone"),
        finished_at: r
            .get("push_time")
            .and_then(Value::as_i64)
            .filter(|_| !state.is_live()),
    })
}

pub fn cancelled(body: &[u8]) -> Result<(), CourierError> {
    result(body).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_matches_the_vector_even_with_a_space_for_a_plus() {
        let vectors: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/vectors/couriers.json"
        )))
        .unwrap();
        for v in vectors["sf"].as_array().unwrap() {
            let body = v["raw_body"].as_str().unwrap().as_bytes();
            let (id, key) = (
                v["dev_id"].as_str().unwrap(),
                v["dev_key"].as_str().unwrap(),
            );
            let expected = v["expected_sign"].as_str().unwrap();
            assert_eq!(sign(body, id, key), expected);
            let config = SfConfig {
                dev_id: id.into(),
                dev_key: key.into(),
            };
            assert!(verify(body, &expected.replace('+', " "), &config));
            assert!(!verify(b"{}", expected, &config));
        }
    }

    #[test]
    fn a_request_carries_its_sign_in_the_query() {
        let config = SfConfig {
            dev_id: "1234567".into(),
            dev_key: "k".into(),
        };
        let out = query(&config, "01JD0000000000000000000000", 1_764_000_000);
        let sign_param = out.path.split_once("?sign=").unwrap().1;
        let decoded: String = form_urlencoded::parse(format!("s={sign_param}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        assert!(verify(&out.body, &decoded, &config));
        let ok = br#"{"error_code":0,"error_msg":"success","result":{"sf_order_id":"SF1","order_status":17}}"#;
        assert_eq!(remote(ok).unwrap().state, DeliveryState::Delivered);
        assert_eq!(created(ok).unwrap().waybill_id, "SF1");
    }
}
