//! Starting a refund: recorded first (so the order can never be asked back more than was paid),
//! then asked of WeChat Pay through the configured API (v2 `secapi/pay/refund` with the merchant
//! certificate over mTLS, or v3 `/v3/refund/domestic/refunds`). The
//! member API, staff's `linli-admin refund` and pay-notify (late payments) all start refunds
//! here. Both refund APIs are idempotent per `out_refund_no`, so asking again for a
//! refund still `requested` (WeChat was unreachable the first time) is safe.

use crate::money::Fen;
use crate::order::{Refund, RefundState};
use crate::paying::PayGateway;
use crate::store::refunds::{RefundStore, Requested};
use crate::store::StoreError;
use crate::time::BusinessTime;
use crate::wechat::pay_api::PayApiError;
use crate::wechat::pay_refund::RefundAsk;

/// What starting a refund did.
#[derive(Clone, Debug, PartialEq)]
pub enum Started {
    /// Recorded and accepted by WeChat Pay; the money moves when it settles (notify).
    Asked(Box<Refund>),
    /// This refund existed already (a retry of the same cause): as stored.
    Existing(Box<Refund>),
    /// WeChat Pay refused it (`err_code`); recorded as failed, the amount is refundable again.
    Refused { code: String, message: String },
    /// More than is left to refund.
    TooMuch { refundable: Fen },
    /// The order is not paid.
    NotPaid,
    /// WeChat Pay did not answer: the refund stays requested and is asked again by a retry.
    Unavailable(String),
}

/// Records `refund` and asks WeChat Pay for it (or asks again, if it is still requested).
pub async fn start<R: RefundStore>(
    store: &R,
    gateway: &PayGateway,
    refund: Refund,
    now: BusinessTime,
) -> Result<Started, StoreError> {
    let refund = match store.request(&refund).await? {
        Requested::Created => refund,
        Requested::Exists(existing) if existing.state == RefundState::Requested => *existing,
        Requested::Exists(existing) => return Ok(Started::Existing(existing)),
        Requested::TooMuch { refundable } => return Ok(Started::TooMuch { refundable }),
        Requested::NotPaid => return Ok(Started::NotPaid),
    };
    let ask = RefundAsk {
        order: &refund.order_id,
        refund: &refund.refund_id,
        total: refund.total_fen,
        amount: refund.amount_fen,
        reason: &refund.reason,
        notify_url: gateway.refund_notify_url(),
    };
    let answer = gateway.refund(&ask, now).await;
    match answer {
        Ok(wechat_refund_id) => {
            tracing::info!(
                refund = %refund.refund_id,
                order_id = %refund.order_id,
                amount_fen = refund.amount_fen.value(),
                origin = ?refund.origin,
                wechat_refund_id,
                api = ?gateway.api(),
                "refund asked of WeChat Pay"
            );
            Ok(Started::Asked(Box::new(refund)))
        }
        Err(PayApiError::Refused { code, message }) => {
            tracing::warn!(refund = %refund.refund_id, code, message, "WeChat Pay refused the refund");
            store
                .failed(&refund.order_id, &refund.refund_id, now)
                .await?;
            Ok(Started::Refused { code, message })
        }
        Err(e) => {
            tracing::warn!(refund = %refund.refund_id, error = %e, "refund not asked yet: WeChat Pay unavailable");
            Ok(Started::Unavailable(e.to_string()))
        }
    }
}

/// What became of an automatic refund Linli owes (nobody is waiting at a counter for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owed {
    /// Asked of WeChat Pay (now or before); the money moves when it settles.
    Asked,
    /// WeChat Pay did not answer: recorded as requested, to be asked again by a retry.
    Unanswered(String),
    /// It cannot be made (WeChat Pay refused it, now or before, or less is left to refund):
    /// recorded as a `refund_refused` anomaly for an operator to return the money by hand.
    Refused(String),
}

/// Starts an automatic refund (group-buy lines, cancelled joins), never dropping one silently:
/// a refund that cannot be made becomes an anomaly an operator sees (`linli-admin anomalies`).
pub async fn owe<S: RefundStore + crate::store::orders::OrderStore>(
    store: &S,
    gateway: &PayGateway,
    refund: Refund,
    now: BusinessTime,
) -> Result<Owed, StoreError> {
    let (id, order, transaction_id, paid) = (
        refund.refund_id.clone(),
        refund.order_id.clone(),
        refund.transaction_id.clone(),
        refund.total_fen,
    );
    let why = match start(store, gateway, refund, now).await? {
        Started::Asked(_) => return Ok(Owed::Asked),
        Started::Existing(r) if r.state != RefundState::Failed => return Ok(Owed::Asked),
        Started::Unavailable(why) => return Ok(Owed::Unanswered(why)),
        Started::Existing(_) => "refused by WeChat Pay before".to_owned(),
        Started::Refused { code, message } => format!("refused by WeChat Pay: {code} {message}"),
        Started::TooMuch { refundable } => format!("only {refundable} left to refund"),
        Started::NotPaid => "the order is not paid".to_owned(),
    };
    tracing::error!(refund = %id, order_id = %order, why, "refund owed but not made: recorded for an operator");
    let anomaly = crate::order::Anomaly {
        kind: crate::order::AnomalyKind::RefundRefused,
        out_trade_no: order.to_string(),
        transaction_id,
        paid_fen: paid,
        expected_fen: None,
        detail: format!("refund {id}: {why}"),
        recorded_at: now,
    };
    store.record_anomaly(&anomaly).await?;
    Ok(Owed::Refused(why))
}
