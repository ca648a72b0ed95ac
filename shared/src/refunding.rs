//! Starting a refund: recorded first (so the order can never be asked back more than was paid),
//! then asked of WeChat Pay (`secapi/pay/refund`, the merchant certificate over mTLS). The
//! member API, staff's `linli-admin refund` and pay-notify (late payments) all start refunds
//! here. WeChat Pay's refund API is idempotent per `out_refund_no`, so asking again for a
//! refund still `requested` (WeChat was unreachable the first time) is safe.

use crate::money::Fen;
use crate::order::{Refund, RefundState};
use crate::store::refunds::{RefundStore, Requested};
use crate::store::StoreError;
use crate::time::BusinessTime;
use crate::wechat::pay_api::{self, Merchant, PayApiError};
use crate::wechat::pay_refund::{self, RefundAsk};

/// How Linli reaches WeChat Pay's refund API.
pub struct RefundGateway<'a> {
    /// A client carrying the merchant certificate (see `merchant_client`).
    pub http: &'a reqwest::Client,
    pub pay_api_base: &'a str,
    pub merchant: &'a Merchant,
    /// Where WeChat Pay sends the refund notify (`…/wechat/pay/refund-notify`).
    pub notify_url: &'a str,
}

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

/// A client that presents the merchant certificate (`WECHAT_PAY_MCH_CERT` +
/// `WECHAT_PAY_MCH_PRIVATE_KEY`, PEM), as `secapi` requires. Without them (the local stand-in
/// speaks plain HTTP) a plain client.
pub fn merchant_client(
    cert_pem: Option<&str>,
    key_pem: Option<&str>,
) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .timeout(std::time::Duration::from_secs(6));
    match (cert_pem, key_pem) {
        (Some(cert), Some(key)) => {
            let pem = format!("{}\n{}", cert.trim(), key.trim());
            builder
                .identity(reqwest::Identity::from_pem(pem.as_bytes())?)
                .build()
        }
        _ => builder.build(),
    }
}

/// Records `refund` and asks WeChat Pay for it (or asks again, if it is still requested).
pub async fn start<R: RefundStore>(
    store: &R,
    gateway: &RefundGateway<'_>,
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
        notify_url: gateway.notify_url,
    };
    let nonce = pay_api::nonce(u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..)));
    let body = pay_refund::refund_request(gateway.merchant, &ask, &nonce);
    let answer = match pay_api::call(
        gateway.http,
        gateway.pay_api_base,
        "/secapi/pay/refund",
        body,
    )
    .await
    {
        Ok(answer) => pay_refund::read_refund(&answer, gateway.merchant),
        Err(e) => Err(e),
    };
    match answer {
        Ok(wechat_refund_id) => {
            tracing::info!(
                refund = %refund.refund_id,
                order_id = %refund.order_id,
                amount_fen = refund.amount_fen.value(),
                origin = ?refund.origin,
                wechat_refund_id,
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
