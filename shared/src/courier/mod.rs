//! Same-city courier platforms (pure): the waybill requests Linli sends to Dada, SF同城 and
//! Meituan in each platform's own format and signature (DESIGN §6), their answers read into one
//! shape, and the normalized delivery states. The HTTP adapter is `client.rs`.
//!
//! Each platform keeps Linli's order id as its merchant order id (Dada `origin_id`, SF
//! `shop_order_id`, Meituan `order_id`), so a waybill can always be looked up by the order —
//! what makes a failover safe: before trying the next platform, the last one is asked whether
//! it created the waybill after all, and any live one is cancelled.

pub mod client;
pub mod dada;
pub mod meituan;
pub mod sf;

pub use crate::delivery::Platform;
use crate::ids::OrderId;
use serde::{Deserialize, Serialize};

/// A delivery's state, the same for every platform (DESIGN §6). Ranks only move forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
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
    /// WGS-84 degrees.
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
