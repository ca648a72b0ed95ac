//! Dada (达达) open API. Requests are JSON `{app_key, body, format, source_id, signature,
//! timestamp, v}` where `body` is the business JSON as a string and `signature` = uppercase hex
//! MD5 of app_secret ‖ the sorted `key value` concatenation of the other fields ‖ app_secret.
//! Answers are `{status, code, msg, result}` (`code` 0 = success). Callbacks carry `signature`
//! = MD5 of the sorted values of client_id, order_id and update_time — no secret, so the
//! per-delivery token in the callback URL is what authenticates them (DESIGN §6).

use super::{json_answer, optional_text, text, yuan, CourierError, Created, DeliveryState};
use super::{Outbound, Platform, Remote, Shipment};
use md5::{Digest, Md5};
use serde_json::{json, Value};

pub const ADD_ORDER: &str = "/api/order/addOrder";
pub const QUERY: &str = "/api/order/status/query";
pub const CANCEL: &str = "/api/order/formalCancel";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DadaConfig {
    pub app_key: String,
    pub app_secret: String,
    pub source_id: String,
}

/// The request signature over the envelope's fields (all but `signature`).
pub fn sign(fields: &[(&str, &str)], app_secret: &str) -> String {
    let mut sorted = fields.to_vec();
    sorted.sort_unstable();
    let mut text = String::from(app_secret);
    for (k, v) in sorted {
        text.push_str(k);
        text.push_str(v);
    }
    text.push_str(app_secret);
    hex::encode_upper(Md5::digest(text.as_bytes()))
}

/// A callback's signature: MD5 of the sorted values of client_id, order_id, update_time.
pub fn callback_signature(client_id: &str, order_id: &str, update_time: &str) -> String {
    let mut values = [client_id, order_id, update_time];
    values.sort_unstable();
    hex::encode(Md5::digest(values.concat().as_bytes()))
}

fn envelope(config: &DadaConfig, path: &str, body: &Value, timestamp: i64) -> Outbound {
    let body = body.to_string();
    let timestamp = timestamp.to_string();
    let fields = [
        ("app_key", config.app_key.as_str()),
        ("body", body.as_str()),
        ("format", "json"),
        ("source_id", config.source_id.as_str()),
        ("timestamp", timestamp.as_str()),
        ("v", "1.0"),
    ];
    let signature = sign(&fields, &config.app_secret);
    let mut envelope: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    envelope.insert("signature".into(), Value::String(signature));
    Outbound {
        path: path.to_owned(),
        content_type: "application/json",
        body: Value::Object(envelope).to_string().into_bytes(),
    }
}

/// Checks an envelope's signature (what Dada does; the stand-in uses it) and returns its
/// business body.
pub fn open_envelope(raw: &[u8], config: &DadaConfig) -> Result<Value, String> {
    let envelope: Value = serde_json::from_slice(raw).map_err(|e| format!("not JSON: {e}"))?;
    let field = |k: &str| envelope.get(k).and_then(Value::as_str).unwrap_or_default();
    if field("app_key") != config.app_key || field("source_id") != config.source_id {
        return Err("unknown app_key or source_id".into());
    }
    let fields: Vec<(&str, &str)> = ["app_key", "body", "format", "source_id", "timestamp", "v"]
        .iter()
        .map(|k| (*k, field(k)))
        .collect();
    if !super::same(
        sign(&fields, &config.app_secret).as_bytes(),
        field("signature").as_bytes(),
    ) {
        return Err("signature mismatch".into());
    }
    serde_json::from_str(field("body")).map_err(|e| format!("body is not JSON: {e}"))
}

pub fn add_order(config: &DadaConfig, s: &Shipment) -> Outbound {
    let body = json!({
        "shop_no": s.store_id,
        "origin_id": s.order_id,
        "city_code": "021",
        "cargo_price": yuan(s.goods_fen),
        "is_prepay": 0,
        "receiver_name": s.receiver_name,
        "receiver_address": s.receiver_address,
        "receiver_lat": s.receiver_lat,
        "receiver_lng": s.receiver_lng,
        "callback": s.callback_url,
        "cargo_weight": f64::from(s.weight_g) / 1000.0,
        "cargo_num": s.items,
    });
    envelope(config, ADD_ORDER, &body, s.timestamp)
}

pub fn query(config: &DadaConfig, order_id: &str, timestamp: i64) -> Outbound {
    envelope(config, QUERY, &json!({"order_id": order_id}), timestamp)
}

pub fn cancel(config: &DadaConfig, order_id: &str, timestamp: i64) -> Outbound {
    let body = json!({"order_id": order_id, "cancel_reason_id": 4, "cancel_reason": "商家改派其他配送平台"});
    envelope(config, CANCEL, &body, timestamp)
}

/// The `result` of a successful answer, or why there is none.
fn result(body: &[u8]) -> Result<Value, CourierError> {
    let answer = json_answer(Platform::Dada, body)?;
    if answer.get("code").and_then(Value::as_i64) == Some(0) {
        return Ok(answer.get("result").cloned().unwrap_or(Value::Null));
    }
    Err(CourierError::Refused {
        platform: Platform::Dada,
        code: text(&answer, "code"),
        message: text(&answer, "msg"),
    })
}

/// Dada names a waybill by the merchant's order id.
pub fn created(order_id: &str, body: &[u8]) -> Result<Created, CourierError> {
    let r = result(body)?;
    let fee = r.get("fee").and_then(Value::as_f64);
    Ok(Created {
        waybill_id: order_id.to_owned(),
        fee_fen: fee.map(|yuan| (yuan * 100.0).round() as i64),
    })
}

/// Dada's status codes, normalized.
pub fn state(code: i64) -> Option<DeliveryState> {
    Some(match code {
        1 => DeliveryState::Dispatching,
        2 | 8 => DeliveryState::Accepted,
        100 => DeliveryState::ArrivedAtStore,
        3 | 9 => DeliveryState::PickedUp,
        4 => DeliveryState::Delivered,
        5 => DeliveryState::Cancelled,
        7 => DeliveryState::Expired,
        10 => DeliveryState::Returned,
        1000 => DeliveryState::CreateFailed,
        _ => return None,
    })
}

pub fn remote(order_id: &str, body: &[u8]) -> Result<Remote, CourierError> {
    let r = result(body)?;
    let code = r.get("statusCode").and_then(Value::as_i64).unwrap_or(-1);
    let state = state(code).ok_or_else(|| CourierError::Unsure {
        platform: Platform::Dada,
        why: format!("unknown status code {code}"),
    })?;
    Ok(Remote {
        waybill_id: order_id.to_owned(),
        state,
        rider_name: optional_text(&r, "transporterName"),
        rider_phone: optional_text(&r, "transporterPhone"),
        // "yyyy-MM-dd HH:mm:ss", Beijing time; "" until it happened.
        finished_at: [text(&r, "finishTime"), text(&r, "cancelTime")]
            .iter()
            .find_map(|t| shanghai_seconds(t)),
    })
}

/// Dada's "yyyy-MM-dd HH:mm:ss" (Beijing time) as Unix seconds.
fn shanghai_seconds(text: &str) -> Option<i64> {
    let compact: String = text.chars().filter(char::is_ascii_digit).collect();
    crate::time::BusinessTime::parse_shanghai_compact(&compact)
        .ok()
        .map(|t| t.epoch_ms() / 1000)
}

/// Whether a cancel went through (or there was nothing left to cancel).
pub fn cancelled(body: &[u8]) -> Result<(), CourierError> {
    result(body).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> Value {
        serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/vectors/couriers.json"
        )))
        .unwrap()
    }

    #[test]
    fn a_query_answer_gives_the_finish_time_in_beijing_time() {
        let body = br#"{"status":"success","code":0,"result":{"orderId":"O1","statusCode":4,"transporterName":"r","transporterPhone":"1","finishTime":"2026-11-25 14:23:12","cancelTime":""}}"#;
        let remote = remote("O1", body).unwrap();
        assert_eq!(remote.state, DeliveryState::Delivered);
        // 14:23:12 in Beijing is 06:23:12 UTC.
        assert_eq!(remote.finished_at, Some(1_795_587_792));
        let live = br#"{"status":"success","code":0,"result":{"statusCode":3,"finishTime":""}}"#;
        assert_eq!(remote_of(live), None);
    }

    fn remote_of(body: &[u8]) -> Option<i64> {
        remote("O1", body).unwrap().finished_at
    }

    #[test]
    fn callback_signatures_match_the_published_and_computed_vectors() {
        for v in vectors()["dada"].as_array().unwrap() {
            let (client, order, time) = match v.get("body") {
                Some(body) => {
                    let b: Value = serde_json::from_str(body.as_str().unwrap()).unwrap();
                    (
                        text(&b, "client_id"),
                        text(&b, "order_id"),
                        text(&b, "update_time"),
                    )
                }
                None => (
                    text(v, "client_id"),
                    text(v, "order_id"),
                    text(v, "update_time"),
                ),
            };
            assert_eq!(
                callback_signature(&client, &order, &time),
                v["expected_signature"].as_str().unwrap()
            );
        }
    }

    #[test]
    fn a_signed_envelope_opens_and_a_tampered_one_does_not() {
        let config = DadaConfig {
            app_key: "k".into(),
            app_secret: "s".into(),
            source_id: "73753".into(),
        };
        let out = query(&config, "01JD0000000000000000000000", 1_764_000_000);
        assert_eq!(
            open_envelope(&out.body, &config).unwrap()["order_id"],
            "01JD0000000000000000000000"
        );
        let tampered = String::from_utf8(out.body).unwrap().replace("01JD", "01JE");
        assert!(open_envelope(tampered.as_bytes(), &config).is_err());
        let stranger = DadaConfig {
            app_secret: "other".into(),
            ..config.clone()
        };
        let out = query(&stranger, "x", 1);
        assert_eq!(
            open_envelope(&out.body, &config),
            Err("signature mismatch".into())
        );
    }

    #[test]
    fn answers_read_into_created_refused_and_states() {
        let ok = br#"{"status":"success","code":0,"msg":"ok","result":{"fee":6.5}}"#;
        assert_eq!(created("o1", ok).unwrap().fee_fen, Some(650));
        let no = br#"{"status":"fail","code":2003,"msg":"shop not found"}"#;
        assert!(matches!(
            created("o1", no),
            Err(CourierError::Refused { .. })
        ));
        assert!(matches!(
            created("o1", b"<html>"),
            Err(CourierError::Unsure { .. })
        ));
        let q = r#"{"code":0,"result":{"statusCode":3,"transporterName":"张三"}}"#;
        let r = remote("o1", q.as_bytes()).unwrap();
        assert_eq!(
            (r.state, r.rider_name.as_deref()),
            (DeliveryState::PickedUp, Some("张三"))
        );
        assert!(!state(5).unwrap().is_live() && state(1).unwrap().is_live());
    }
}
