//! Status callbacks from the courier platforms (pure): each platform's body checked the way that
//! platform signs it (DESIGN §6) and read into one shape, with the answer each expects. The
//! courier-webhook builds on it; nothing here trusts a callback beyond its signature (Dada's
//! has no secret: its per-delivery token is what authenticates it, and money moves only after
//! re-querying the platform).

use super::meituan::{self, MeituanConfig};
use super::sf::{self, SfConfig};
use super::{dada, optional_text, same, text, DeliveryState, Platform};
use crate::order::{CancelledBy, Report, Rider};
use crate::time::BusinessTime;
use serde_json::Value;

/// A status callback as Linli reads it, whatever the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback {
    pub platform: Platform,
    /// Linli's order id (the merchant order id the waybill was created with).
    pub order_id: String,
    /// The platform's code and its normalized state.
    pub status_code: i64,
    pub state: DeliveryState,
    /// Unix seconds the platform reports the change at (0: it did not say).
    pub at: i64,
    pub rider_name: Option<String>,
    pub rider_phone: Option<String>,
    /// An exception report (a flag beside the state, DESIGN §6).
    pub exception: bool,
    /// Who cancelled, when the platform says (Dada's `cancel_from`).
    pub cancelled_by: Option<CancelledBy>,
}

impl Callback {
    /// The callback as a report on the order's waybill (`received`: when its time is unusable).
    pub fn report(&self, received: BusinessTime) -> Report {
        let rider = self.rider_name.clone().map(|name| Rider {
            name,
            phone: self.rider_phone.clone().unwrap_or_default(),
        });
        Report {
            platform: self.platform,
            state: self.state,
            code: self.status_code,
            at: BusinessTime::from_epoch_ms(self.at.saturating_mul(1000))
                .ok()
                .filter(|_| self.at > 0)
                .unwrap_or(received),
            rider,
            exception: self.exception,
            cancelled_by: self.cancelled_by,
            timed: self.at > 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("bad signature")]
    BadSignature,
    #[error("malformed callback: {0}")]
    Malformed(String),
}

fn malformed(why: impl Into<String>) -> CallbackError {
    CallbackError::Malformed(why.into())
}

fn number(value: &Value, field: &str) -> Result<i64, CallbackError> {
    match value.get(field) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| malformed(format!("{field} is not a number")))
}

fn required(value: &Value, field: &str) -> Result<String, CallbackError> {
    optional_text(value, field).ok_or_else(|| malformed(format!("{field} is missing")))
}

/// Dada: JSON, `signature` = MD5 of the sorted values of client_id, order_id, update_time.
pub fn dada(raw: &[u8]) -> Result<Callback, CallbackError> {
    let body: Value = serde_json::from_slice(raw).map_err(|e| malformed(e.to_string()))?;
    let (client, order, time) = (
        text(&body, "client_id"),
        required(&body, "order_id")?,
        text(&body, "update_time"),
    );
    let expected = dada::callback_signature(&client, &order, &time);
    if !same(expected.as_bytes(), text(&body, "signature").as_bytes()) {
        return Err(CallbackError::BadSignature);
    }
    let code = number(&body, "order_status")?;
    Ok(Callback {
        platform: Platform::Dada,
        order_id: order,
        status_code: code,
        state: dada::state(code).ok_or_else(|| malformed(format!("order_status {code}")))?,
        at: number(&body, "update_time")?,
        rider_name: optional_text(&body, "dm_name"),
        rider_phone: optional_text(&body, "dm_mobile"),
        exception: matches!(code, 9 | 10),
        // 1 the rider, 2 the merchant, 3 the system or customer service.
        cancelled_by: match number(&body, "cancel_from") {
            Ok(2) => Some(CancelledBy::Merchant),
            Ok(1 | 3) => Some(CancelledBy::Platform),
            _ => None,
        },
    })
}

/// SF同城: JSON, `?sign=` over the raw body; exceptions come as status 91 (or `url_index`
/// `rider_exception`).
pub fn sf(raw: &[u8], sign_param: &str, config: &SfConfig) -> Result<Callback, CallbackError> {
    if !sf::verify(raw, sign_param, config) {
        return Err(CallbackError::BadSignature);
    }
    let body: Value = serde_json::from_slice(raw).map_err(|e| malformed(e.to_string()))?;
    let code = number(&body, "order_status")?;
    let exception = code == 91 || text(&body, "url_index") == "rider_exception";
    // An exception report leaves the delivery where it was: it is a flag, not a state.
    let state = match sf::state(code) {
        Some(state) => state,
        None if exception => DeliveryState::Dispatching,
        None => return Err(malformed(format!("order_status {code}"))),
    };
    Ok(Callback {
        platform: Platform::SfSameCity,
        order_id: required(&body, "shop_order_id")?,
        status_code: code,
        state,
        // Absent (0) in some pushes: the time it was received is used then.
        at: number(&body, "push_time").unwrap_or(0),
        rider_name: optional_text(&body, "operator_name"),
        rider_phone: optional_text(&body, "operator_phone"),
        exception,
        // 22 is the rider withdrawing; `sf_cancel` is SF's own (customer service) cancellation.
        cancelled_by: match (code, text(&body, "url_index").as_str()) {
            (22, _) | (2, "sf_cancel") => Some(CancelledBy::Platform),
            _ => None,
        },
    })
}

/// Meituan: a signed form; the app key must be ours.
pub fn meituan(raw: &[u8], config: &MeituanConfig) -> Result<Callback, CallbackError> {
    let params =
        meituan::verify_form(raw, &config.secret).map_err(|_| CallbackError::BadSignature)?;
    let field = |k: &str| params.get(k).cloned().unwrap_or_default();
    if !same(field("appkey").as_bytes(), config.app_key.as_bytes()) {
        return Err(CallbackError::BadSignature);
    }
    let parse = |k: &str| {
        field(k)
            .trim()
            .parse::<i64>()
            .map_err(|_| malformed(format!("{k} is not a number")))
    };
    let order_id = field("order_id");
    if order_id.is_empty() {
        return Err(malformed("order_id is missing"));
    }
    // The exception callback (its own URL in Meituan's console) has no status: a flag only.
    let exception = !field("exception_code").is_empty();
    if exception && field("status").is_empty() {
        return Ok(Callback {
            platform: Platform::Meituan,
            order_id,
            status_code: parse("exception_code")?,
            state: DeliveryState::Dispatching,
            at: parse("timestamp")?,
            rider_name: Some(field("courier_name")).filter(|s| !s.is_empty()),
            rider_phone: Some(field("courier_phone")).filter(|s| !s.is_empty()),
            exception: true,
            cancelled_by: None,
        });
    }
    let code = parse("status")?;
    Ok(Callback {
        platform: Platform::Meituan,
        order_id,
        status_code: code,
        state: meituan::state(code).ok_or_else(|| malformed(format!("status {code}")))?,
        at: parse("timestamp")?,
        rider_name: Some(field("courier_name")).filter(|s| !s.is_empty()),
        rider_phone: Some(field("courier_phone")).filter(|s| !s.is_empty()),
        exception: false,
        // Reason ids 1xx are the merchant's side; 2xx (Meituan's delivery) and 4xx (its
        // system) are the platform's.
        cancelled_by: match field("cancel_reason_id").trim().parse::<i64>() {
            Ok(100..=199) => Some(CancelledBy::Merchant),
            Ok(200..=499) => Some(CancelledBy::Platform),
            _ => None,
        },
    })
}

/// The body each platform expects when a callback was taken.
pub fn accepted(platform: Platform) -> &'static str {
    match platform {
        Platform::Dada => r#"{"status":"ok"}"#,
        Platform::SfSameCity => r#"{"error_code":0,"error_msg":"success"}"#,
        Platform::Meituan => r#"{"code":0}"#,
    }
}

/// Whether a callback reporting `incoming` moves a delivery now at `current` (forward-only by
/// rank; the first terminal state wins; a repeat changes nothing).
pub fn advances(current: DeliveryState, incoming: DeliveryState) -> bool {
    incoming.rank() > current.rank()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn vectors() -> Value {
        serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/vectors/couriers.json"
        )))
        .unwrap()
    }

    #[test]
    fn dadas_published_callback_verifies_and_a_changed_one_does_not() {
        let published = vectors()["dada"][0]["body"].as_str().unwrap().to_owned();
        let callback = dada(published.as_bytes()).unwrap();
        assert_eq!(
            (callback.order_id.as_str(), callback.state, callback.at),
            ("12321", DeliveryState::Accepted, 1_482_220_973)
        );
        assert_eq!(callback.rider_name.as_deref(), Some("测试达达"));
        let forged = published.replace("1482220973", "1482220974");
        assert_eq!(dada(forged.as_bytes()), Err(CallbackError::BadSignature));
        assert!(matches!(
            dada(b"not json"),
            Err(CallbackError::Malformed(_))
        ));
    }

    #[test]
    fn sf_callbacks_verify_with_the_sign_and_exceptions_are_flags() {
        let v = &vectors()["sf"][0];
        let config = SfConfig {
            dev_id: v["dev_id"].as_str().unwrap().into(),
            dev_key: v["dev_key"].as_str().unwrap().into(),
        };
        let raw = br#"{"sf_order_id":"SF1","shop_order_id":"01JD","order_status":17,"push_time":1764050000,"operator_name":"rider"}"#;
        let sign = sf::sign(raw, &config.dev_id, &config.dev_key);
        let callback = sf(raw, &sign, &config).unwrap();
        assert_eq!(
            (callback.state, callback.exception),
            (DeliveryState::Delivered, false)
        );
        assert_eq!(sf(raw, "forged", &config), Err(CallbackError::BadSignature));
        let raw = br#"{"shop_order_id":"01JD","order_status":91,"push_time":1764050000}"#;
        let sign = sf::sign(raw, &config.dev_id, &config.dev_key);
        assert!(sf(raw, &sign, &config).unwrap().exception);
    }

    #[test]
    fn meituan_callbacks_verify_with_the_vectors_secret_and_our_app_key() {
        let v = &vectors()["meituan"][0];
        let mut params: BTreeMap<String, String> = v["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        params.insert("sign".into(), v["expected_sign"].as_str().unwrap().into());
        let raw = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let config = MeituanConfig {
            app_key: "test_appkey".into(),
            secret: v["secret"].as_str().unwrap().into(),
        };
        let callback = meituan(raw.as_bytes(), &config).unwrap();
        assert_eq!(
            (callback.order_id.as_str(), callback.state),
            ("LL-20261125-0001", DeliveryState::Accepted)
        );
        assert_eq!(callback.rider_name.as_deref(), Some("张三"));
        let stranger = MeituanConfig {
            app_key: "another".into(),
            ..config.clone()
        };
        assert_eq!(
            meituan(raw.as_bytes(), &stranger),
            Err(CallbackError::BadSignature)
        );
        let tampered = raw.replace("status=20", "status=50");
        assert_eq!(
            meituan(tampered.as_bytes(), &config),
            Err(CallbackError::BadSignature)
        );
    }

    #[test]
    fn the_sf_vector_verifies_and_reads_as_accepted_at_the_time_received() {
        let v = &vectors()["sf"][0];
        let config = SfConfig {
            dev_id: v["dev_id"].as_str().unwrap().into(),
            dev_key: v["dev_key"].as_str().unwrap().into(),
        };
        let raw = v["raw_body"].as_str().unwrap().as_bytes();
        let callback = sf(raw, v["expected_sign"].as_str().unwrap(), &config).unwrap();
        assert_eq!(
            (callback.order_id.as_str(), callback.state, callback.at),
            ("A1", DeliveryState::Accepted, 0)
        );
        let received = BusinessTime::from_epoch_ms(1_764_050_000_000).unwrap();
        assert_eq!(callback.report(received).at, received);
    }

    #[test]
    fn dada_says_who_cancelled_and_meituan_exceptions_are_flags_only() {
        let body = |from: i64| {
            let sig = dada::callback_signature("C1", "O1", "1764050000");
            format!(
                r#"{{"client_id":"C1","order_id":"O1","order_status":5,"cancel_from":{from},"update_time":1764050000,"signature":"{sig}"}}"#
            )
        };
        let merchant = dada(body(2).as_bytes()).unwrap();
        assert_eq!(merchant.cancelled_by, Some(CancelledBy::Merchant));
        let rider = dada(body(1).as_bytes()).unwrap();
        let received = BusinessTime::from_epoch_ms(0).unwrap();
        assert_eq!(
            rider.report(received).cancelled_by,
            Some(CancelledBy::Platform)
        );
        let config = MeituanConfig {
            app_key: "k".into(),
            secret: "s".into(),
        };
        let mut params: BTreeMap<String, String> = [
            ("appkey", "k"),
            ("order_id", "O1"),
            ("exception_code", "10001"),
            ("exception_descr", "顾客电话关机"),
            ("timestamp", "1764050000"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let sign = meituan::sign(&params, &config.secret);
        params.insert("sign".into(), sign);
        let raw = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let callback = meituan(raw.as_bytes(), &config).unwrap();
        assert!(callback.exception);
        assert_eq!(
            callback.state,
            DeliveryState::Dispatching,
            "no state: a flag"
        );
    }

    #[test]
    fn states_only_move_forward_and_the_first_terminal_wins() {
        use DeliveryState::*;
        assert!(advances(Dispatching, Accepted));
        assert!(advances(Accepted, Delivered), "statuses may skip");
        assert!(!advances(PickedUp, Accepted), "never backward");
        assert!(
            !advances(Accepted, Accepted),
            "a repeat (reassignment) changes nothing"
        );
        assert!(!advances(Delivered, Cancelled), "the first terminal wins");
        assert!(advances(PickedUp, Cancelled));
    }
}
