//! Same-city courier platforms (pure): the waybill requests Linli sends to Dada, SF同城 and
//! Meituan in each platform's own format and signature (DESIGN §6), their answers read into one
//! shape, and the normalized delivery states. The HTTP adapter is `client.rs`.
//!
//! Each platform keeps Linli's order id as its merchant order id (Dada `origin_id`, SF
//! `shop_order_id`, Meituan `order_id`), so a waybill can always be looked up by the order —
//! what makes a failover safe: before trying the next platform, the last one is asked whether
//! it created the waybill after all, and any live one is cancelled.

pub mod callback;
pub mod client;
pub mod dada;
pub mod follow;
pub mod meituan;
pub mod sf;

pub use crate::delivery::Platform;
use crate::ids::OrderId;
use serde::{Deserialize, Serialize};

/// A delivery's state, the same for every platform (DESIGN §6). Ranks only move forward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    #[default]
    Dispatching,
    Accepted,
    ArrivedAtStore,
    PickedUp,
    Delivered,
    Cancelled,
    Expired,
    CreateFailed,
    Returned,
}

impl DeliveryState {
    pub fn rank(self) -> u8 {
        match self {
            Self::Dispatching => 0,
            Self::Accepted => 1,
            Self::ArrivedAtStore => 2,
            Self::PickedUp => 3,
            _ => 9,
        }
    }

    pub fn is_dispatching(&self) -> bool {
        *self == Self::Dispatching
    }

    /// A waybill in this state may still move a rider (so a duplicate must be cancelled).
    pub fn is_live(self) -> bool {
        self.rank() < 9
    }

    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }
}

/// What a waybill request carries: the order, where from and where to.
#[derive(Clone, Debug, PartialEq)]
pub struct Shipment {
    pub order_id: OrderId,
    pub store_id: String,
    pub store_name: String,
    pub receiver_address: String,
    /// GCJ-02 degrees (what the platforms' maps use: convert with `wgs84_to_gcj02`).
    pub receiver_lat: f64,
    pub receiver_lng: f64,
    /// Who receives it, as the rider sees it (no phone number is collected yet).
    pub receiver_name: String,
    pub goods_fen: i64,
    pub items: u32,
    pub weight_g: u32,
    /// Dada only: where it posts this waybill's status (carries the per-delivery token).
    pub callback_url: String,
    /// Unix seconds when the request is made.
    pub timestamp: i64,
}

/// A request to a platform, ready to send to its base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// Path and query, e.g. `/api/order/addOrder`.
    pub path: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// A waybill the platform created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// The platform's own id for it.
    pub waybill_id: String,
    /// What the platform charges, fen, when it says.
    pub fee_fen: Option<i64>,
}

/// A waybill as the platform reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remote {
    pub waybill_id: String,
    pub state: DeliveryState,
    pub rider_name: Option<String>,
    pub rider_phone: Option<String>,
    /// Unix seconds the platform says it was delivered (or cancelled), when it says.
    pub finished_at: Option<i64>,
}

/// Why a platform call did not give an answer to act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CourierError {
    /// The platform answered and said no: nothing was created or changed.
    #[error("{platform:?} refused: {code} {message}")]
    Refused {
        platform: Platform,
        code: String,
        message: String,
    },
    /// The call may or may not have taken effect (timeout, 5xx, an answer that cannot be read).
    #[error("{platform:?} did not answer clearly: {why}")]
    Unsure { platform: Platform, why: String },
    /// The platform is not configured here.
    #[error("{0:?} is not configured")]
    NotConfigured(Platform),
}

/// Yuan with two decimals, as the platforms that price in yuan want it.
pub(crate) fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}

/// Parses a platform's JSON answer (an unreadable one is `Unsure`).
pub(crate) fn json_answer(
    platform: Platform,
    body: &[u8],
) -> Result<serde_json::Value, CourierError> {
    serde_json::from_slice(body).map_err(|e| CourierError::Unsure {
        platform,
        why: format!("unreadable answer: {e}"),
    })
}

/// A string or number field as text ("" when absent).
pub(crate) fn text(value: &serde_json::Value, field: &str) -> String {
    match value.get(field) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

pub(crate) fn optional_text(value: &serde_json::Value, field: &str) -> Option<String> {
    Some(text(value, field)).filter(|s| !s.is_empty())
}

/// Equal bytes, compared in constant time (signatures).
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

/// WGS-84 (what WeChat's `wgs84` location gives) to GCJ-02 (the mainland map datum the courier
/// platforms' maps use), by the published approximation; outside mainland China the two agree.
pub fn wgs84_to_gcj02(lat: f64, lng: f64) -> (f64, f64) {
    const A: f64 = 6_378_245.0;
    const EE: f64 = 0.006_693_421_622_965_943;
    let outside = !(72.004..=137.8347).contains(&lng) || !(0.8293..=55.8271).contains(&lat);
    if outside {
        return (lat, lng);
    }
    let (x, y) = (lng - 105.0, lat - 35.0);
    let pi = std::f64::consts::PI;
    let waves = |a: f64, b: f64| {
        (20.0 * (6.0 * a * pi).sin() + 20.0 * (2.0 * a * pi).sin()) * 2.0 / 3.0 + b
    };
    let d_lat = waves(
        x,
        (20.0 * (y * pi).sin() + 40.0 * (y / 3.0 * pi).sin()) * 2.0 / 3.0
            + (160.0 * (y / 12.0 * pi).sin() + 320.0 * (y * pi / 30.0).sin()) * 2.0 / 3.0,
    ) + -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * x.abs().sqrt();
    let d_lng = waves(
        x,
        (20.0 * (x * pi).sin() + 40.0 * (x / 3.0 * pi).sin()) * 2.0 / 3.0
            + (150.0 * (x / 12.0 * pi).sin() + 300.0 * (x / 30.0 * pi).sin()) * 2.0 / 3.0,
    ) + 300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * x.abs().sqrt();
    let rad = lat / 180.0 * pi;
    let magic = 1.0 - EE * rad.sin() * rad.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat = (d_lat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrt_magic) * pi);
    let d_lng = (d_lng * 180.0) / (A / sqrt_magic * rad.cos() * pi);
    (lat + d_lat, lng + d_lng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wgs84_moves_a_few_hundred_metres_in_shanghai_and_not_abroad() {
        // People's Square: GCJ-02 is about 0.002° south and 0.004° east of WGS-84 there.
        let (lat, lng) = wgs84_to_gcj02(31.2304, 121.4737);
        let moved = crate::catalog::distance_m((31.2304, 121.4737), (lat, lng));
        assert!((300..1_000).contains(&moved), "{moved} m");
        assert!(lat < 31.2304 && lng > 121.4737, "{lat} {lng}");
        assert_eq!(wgs84_to_gcj02(48.8566, 2.3522), (48.8566, 2.3522));
    }
}
