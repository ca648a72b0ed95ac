//! Anomalies: real payments that went wrong (DESIGN §6). WeChat Pay signed them, so money moved,
//! but they do not match an order Linli can mark paid. Each is recorded once (its id comes from
//! the payment), answered SUCCESS so WeChat stops retrying, logged at ERROR and left for an
//! operator; refunding the late ones comes with the refunds issue.

use crate::money::Fen;
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// The amount paid is not the order's amount.
    AmountMismatch,
    /// The order was closed or cancelled before the payment arrived.
    LatePayment,
    /// A second, different payment for an order already paid.
    DoublePayment,
    /// A payment for an order Linli never created.
    UnknownOrder,
    /// A payment for a delivery whose fee's points hold had lapsed (voided at its expiry before
    /// the payment came): the fee is waived, the delivery goes ahead.
    HoldLapsed,
    /// A paid group-buy join its round could not take (the cutoff began, the SKU sold out, the
    /// member's limit): refunded in full automatically.
    JoinRefused,
    /// A refund Linli owes that WeChat Pay refused (or that found less left to refund than it
    /// asked): the money must go back by hand (`linli-admin refund`).
    RefundRefused,
}

impl AnomalyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AmountMismatch => "amount_mismatch",
            Self::LatePayment => "late_payment",
            Self::DoublePayment => "double_payment",
            Self::UnknownOrder => "unknown_order",
            Self::HoldLapsed => "hold_lapsed",
            Self::JoinRefused => "join_refused",
            Self::RefundRefused => "refund_refused",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    /// The order the payment names (`out_trade_no`, as sent: it may be no order of ours).
    pub out_trade_no: String,
    pub transaction_id: String,
    pub paid_fen: Fen,
    /// What Linli expected, when it knows the order.
    pub expected_fen: Option<Fen>,
    pub detail: String,
    /// When the notify was received.
    pub recorded_at: BusinessTime,
}

impl Anomaly {
    /// Deterministic: the same payment reported again is the same anomaly.
    pub fn id(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.transaction_id)
    }
}
