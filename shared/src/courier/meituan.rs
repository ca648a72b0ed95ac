//! Meituan 配送 open API. Requests are form posts of `appkey`, `timestamp`, `version` and the
//! business parameters, with `sign` = lowercase hex SHA-1 of secret ‖ the concatenation of
//! key ‖ value over every non-empty parameter but `sign`, sorted by key — the same rule signs
//! its callbacks. Answers are `{code, message, data}` (0 = success). Meituan keeps Linli's
//! order id as `order_id`; `delivery_id` is a number Linli derives from it.

use super::{json_answer, optional_text, text, yuan, CourierError, Created, DeliveryState};
use super::{Outbound, Platform, Remote, Shipment};
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

pub const CREATE: &str = "/api/order/createByShop";
pub const QUERY: &str = "/api/order/status/query";
pub const CANCEL: &str = "/api/order/delete";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeituanConfig {
    pub app_key: String,
    pub secret: String,
}

/// `sign` over `params` (the `sign` entry and empty values are left out).
pub fn sign(params: &BTreeMap<String, String>, secret: &str) -> String {
    let mut text = String::from(secret);
    for (k, v) in params {
        if k != "sign" && !v.is_empty() {
            text.push_str(k);
            text.push_str(v);
        }
    }
    hex::encode(Sha1::digest(text.as_bytes()))
}

/// Checks a signed form body; its parameters when the signature holds.
pub fn verify_form(raw: &[u8], secret: &str) -> Result<BTreeMap<String, String>, String> {
    let params: BTreeMap<String, String> = form_urlencoded::parse(raw).into_owned().collect();
    let given = params.get("sign").cloned().unwrap_or_default();
    let expected = sign(&params, secret);
    if super::same(given.as_bytes(), expected.as_bytes()) {
        Ok(params)
    } else {
        Err("sign mismatch".into())
    }
}

/// Meituan's numeric `delivery_id` for an order (stable: FNV-1a of the id, 53 bits).
pub fn delivery_id(order_id: &str) -> u64 {
    let hash = order_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash & ((1 << 53) - 1)
}

fn form(
    config: &MeituanConfig,
    path: &str,
    business: &[(&str, String)],
    timestamp: i64,
) -> Outbound {
    let mut params: BTreeMap<String, String> = business
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    params.insert("appkey".into(), config.app_key.clone());
    params.insert("timestamp".into(), timestamp.to_string());
    params.insert("version".into(), "1.0".into());
    let sign = sign(&params, &config.secret);
    params.insert("sign".into(), sign);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    Outbound {
        path: path.to_owned(),
        content_type: "application/x-www-form-urlencoded",
        body: body.into_bytes(),
    }
}

pub fn create(config: &MeituanConfig, s: &Shipment) -> Outbound {
    let business = [
        ("delivery_id", delivery_id(s.order_id.as_str()).to_string()),
        ("order_id", s.order_id.to_string()),
        ("shop_id", s.store_id.clone()),
        ("delivery_service_code", "100004".to_owned()),
        ("receiver_name", s.receiver_name.clone()),
        ("receiver_address", s.receiver_address.clone()),
        (
            "receiver_lng",
            ((s.receiver_lng * 1e6).round() as i64).to_string(),
        ),
        (
            "receiver_lat",
            ((s.receiver_lat * 1e6).round() as i64).to_string(),
        ),
        ("coordinate_type", "0".to_owned()),
        ("goods_value", yuan(s.goods_fen)),
        (
            "goods_weight",
            format!("{:.1}", f64::from(s.weight_g) / 1000.0),
        ),
    ];
    form(config, CREATE, &business, s.timestamp)
}

pub fn query(config: &MeituanConfig, order_id: &str, timestamp: i64) -> Outbound {
    let business = [
        ("delivery_id", delivery_id(order_id).to_string()),
        ("order_id", order_id.to_owned()),
    ];
    form(config, QUERY, &business, timestamp)
}

pub fn cancel(config: &MeituanConfig, order_id: &str, timestamp: i64) -> Outbound {
    let business = [
        ("delivery_id", delivery_id(order_id).to_string()),
        ("order_id", order_id.to_owned()),
        ("cancel_reason_id", "101".to_owned()),
        ("cancel_reason", "商家改派其他配送平台".to_owned()),
    ];
    form(config, CANCEL, &business, timestamp)
}

fn data(body: &[u8]) -> Result<Value, CourierError> {
    let answer = json_answer(Platform::Meituan, body)?;
    if answer.get("code").and_then(Value::as_i64) == Some(0) {
        return Ok(answer.get("data").cloned().unwrap_or(Value::Null));
    }
    Err(CourierError::Refused {
        platform: Platform::Meituan,
        code: text(&answer, "code"),
        message: text(&answer, "message"),
    })
}

pub fn created(body: &[u8]) -> Result<Created, CourierError> {
    let d = data(body)?;
    let waybill_id = text(&d, "mt_peisong_id");
    if waybill_id.is_empty() {
        return Err(CourierError::Unsure {
            platform: Platform::Meituan,
            why: "success without mt_peisong_id".into(),
        });
    }
    Ok(Created {
        waybill_id,
        fee_fen: None,
    })
}

/// Meituan's statuses, normalized.
pub fn state(code: i64) -> Option<DeliveryState> {
    Some(match code {
        0 => DeliveryState::Dispatching,
        20 => DeliveryState::Accepted,
        30 => DeliveryState::PickedUp,
        50 => DeliveryState::Delivered,
        99 => DeliveryState::Cancelled,
        _ => return None,
    })
}

pub fn remote(body: &[u8]) -> Result<Remote, CourierError> {
    let d = data(body)?;
    let code = d.get("status").and_then(Value::as_i64).unwrap_or(-1);
    let state = state(code).ok_or_else(|| CourierError::Unsure {
        platform: Platform::Meituan,
        why: format!("unknown status {code}"),
    })?;
    Ok(Remote {
        waybill_id: text(&d, "mt_peisong_id"),
        state,
        rider_name: optional_text(&d, "courier_name"),
        rider_phone: optional_text(&d, "courier_phone"),
        finished_at: d
            .get("operate_time")
            .and_then(Value::as_i64)
            .filter(|_| !state.is_live()),
    })
}

pub fn cancelled(body: &[u8]) -> Result<(), CourierError> {
    data(body).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_matches_the_vector_and_a_signed_form_verifies() {
        let vectors: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/vectors/couriers.json"
        )))
        .unwrap();
        for v in vectors["meituan"].as_array().unwrap() {
            let params: BTreeMap<String, String> = v["params"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let secret = v["secret"].as_str().unwrap();
            assert_eq!(sign(&params, secret), v["expected_sign"].as_str().unwrap());
        }
        let config = MeituanConfig {
            app_key: "k".into(),
            secret: "s".into(),
        };
        let out = query(&config, "01JD0000000000000000000000", 1_764_000_000);
        let params = verify_form(&out.body, "s").unwrap();
        assert_eq!(params["order_id"], "01JD0000000000000000000000");
        assert!(verify_form(&out.body, "other").is_err());
        assert!(delivery_id("a") < 1 << 53 && delivery_id("a") != delivery_id("b"));
    }
}
