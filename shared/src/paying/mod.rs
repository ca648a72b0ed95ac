//! The HTTP edge to WeChat Pay's merchant APIs, v2 and v3 behind one gateway: the member API
//! prepares and closes payments through it, refunds start through it (`refunding`), housekeeping
//! closes unpaid orders through it. Requests and answers are built and read by the pure
//! functions of `wechat::pay_api`, `pay_refund` and `pay_v3_api`.
//!
//! A new payment or refund goes through the configured API (`WECHAT_PAY_API`); a payment is
//! closed and its payment sheet signed through the API that created it (recorded on the order).
//! v3 requests are stamped, and answers' stamps checked, with the caller's `now`: the event's
//! time, which is the request's or the schedule's (and the devstack's clock locally).

mod config;

pub use config::{pem, PayConfig};

use crate::ids::OrderId;
use crate::time::BusinessTime;
use crate::wechat::pay_api::{self, CloseOutcome, PayApi, PayApiError, PayParams, Prepay};
use crate::wechat::pay_refund::{self, RefundAsk, RefundQueried};
use crate::wechat::pay_v2::SignType;
use crate::wechat::pay_v3::SignedHeaders;
use crate::wechat::pay_v3_api::{self, V3Answer, V3Merchant, V3Request};
use std::time::Duration;

/// A payment WeChat Pay prepared: the API that made it, the sign type of its sheet (v2) and
/// its `prepay_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    pub api: PayApi,
    pub sign_type: SignType,
    pub prepay_id: String,
}

impl Prepared {
    /// The payment `order` was created with.
    pub fn of(order: &crate::order::Order) -> Self {
        Self {
            api: order.pay_api,
            sign_type: order.sign_type,
            prepay_id: order.prepay_id.clone(),
        }
    }
}

/// Calls WeChat Pay for Linli. Built once per container.
pub struct PayGateway {
    pub config: PayConfig,
    /// Presents the merchant certificate when there is one (v2 `secapi`).
    http: reqwest::Client,
}

/// A client that presents the merchant certificate (`WECHAT_PAY_MCH_CERT` +
/// `WECHAT_PAY_MCH_PRIVATE_KEY`), as v2's `secapi` requires; without one (v3 only, or the local
/// stand-in over plain HTTP) a plain client.
fn merchant_client(config: &PayConfig) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(6));
    match (&config.mch_cert, &config.mch_private_key) {
        (Some(cert), Some(key)) => {
            let pem = format!("{}\n{}", cert.trim(), key.trim());
            builder
                .identity(reqwest::Identity::from_pem(pem.as_bytes())?)
                .build()
        }
        _ => builder.build(),
    }
}

fn random_nonce() -> String {
    pay_api::nonce(u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..)))
}

impl PayGateway {
    /// Fails when the merchant certificate does not load.
    pub fn new(config: PayConfig) -> Result<Self, reqwest::Error> {
        let http = merchant_client(&config)?;
        Ok(Self { config, http })
    }

    /// The API new payments and refunds go through.
    pub fn api(&self) -> PayApi {
        self.config.api
    }

    /// Where WeChat Pay notifies a payment made through the configured API.
    pub fn payment_notify_url(&self) -> &str {
        match self.config.api {
            PayApi::V2 => &self.config.notify_url,
            PayApi::V3 => &self.config.v3_notify_url,
        }
    }

    /// Where WeChat Pay notifies a refund asked through the configured API.
    pub fn refund_notify_url(&self) -> &str {
        match self.config.api {
            PayApi::V2 => &self.config.refund_notify_url,
            PayApi::V3 => &self.config.v3_notify_url,
        }
    }

    fn v3(&self) -> Result<&V3Merchant, PayApiError> {
        self.config.v3.as_ref().ok_or_else(|| {
            PayApiError::Unavailable(
                "a v3 call without the v3 settings (WECHAT_PAY_MCH_SERIAL, \
                 WECHAT_PAY_MCH_PRIVATE_KEY, WECHAT_PAY_PLATFORM_*)"
                    .to_owned(),
            )
        })
    }

    /// Prepares the payment through the configured API (`prepay.notify_url` should be
    /// `payment_notify_url()`).
    pub async fn prepay(
        &self,
        prepay: &Prepay<'_>,
        now: BusinessTime,
    ) -> Result<Prepared, PayApiError> {
        let merchant = &self.config.merchant;
        let prepay_id = match self.config.api {
            PayApi::V2 => {
                let xml = pay_api::unified_order_request(merchant, prepay, &random_nonce());
                let body = self.call_v2("/pay/unifiedorder", xml).await?;
                pay_api::read_unified_order(&body, merchant)?
            }
            PayApi::V3 => {
                let v3 = self.v3()?;
                let body = self
                    .call_v3(v3, pay_v3_api::jsapi_request(v3, prepay), now)
                    .await?;
                pay_v3_api::read_prepay(&body)?
            }
        };
        Ok(Prepared {
            api: self.config.api,
            sign_type: merchant.sign_type,
            prepay_id,
        })
    }

    /// The `wx.requestPayment` parameters of a payment `prepared` earlier, signed at `now`.
    pub fn pay_params(
        &self,
        prepared: &Prepared,
        now: BusinessTime,
    ) -> Result<PayParams, PayApiError> {
        let nonce = random_nonce();
        match prepared.api {
            PayApi::V2 => Ok(pay_api::pay_params(
                &self.config.merchant,
                prepared.sign_type,
                &prepared.prepay_id,
                now,
                &nonce,
            )),
            PayApi::V3 => Ok(pay_v3_api::pay_params(
                self.v3()?,
                &prepared.prepay_id,
                now,
                &nonce,
            )),
        }
    }

    /// Closes the payment of `order` through the API that created it. v3 answers a close
    /// with 204 whatever the order's state, so the order is queried afterwards.
    pub async fn close(
        &self,
        order: &OrderId,
        api: PayApi,
        now: BusinessTime,
    ) -> Result<CloseOutcome, PayApiError> {
        let merchant = &self.config.merchant;
        if api == PayApi::V2 {
            let xml = pay_api::close_order_request(merchant, order, &random_nonce());
            let body = self.call_v2("/pay/closeorder", xml).await?;
            return pay_api::read_close_order(&body, merchant);
        }
        let v3 = self.v3()?;
        match self
            .call_v3(v3, pay_v3_api::close_request(v3, order), now)
            .await
        {
            Ok(_) => {}
            Err(PayApiError::Refused { code, .. }) if code == "ORDERPAID" => {
                return Ok(CloseOutcome::AlreadyPaid)
            }
            // Already closed, or not known there: the query says which.
            Err(PayApiError::Refused { .. }) => {}
            Err(e) => return Err(e),
        }
        match self
            .call_v3(v3, pay_v3_api::query_request(v3, order), now)
            .await
        {
            Ok(body) => pay_v3_api::close_outcome(Some(&pay_v3_api::read_trade_state(&body)?)),
            Err(PayApiError::Refused { code, .. }) if code == "ORDER_NOT_EXIST" => {
                pay_v3_api::close_outcome(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Asks for a refund through the configured API (`ask.notify_url` should be
    /// `refund_notify_url()`); WeChat Pay's refund id when accepted.
    pub async fn refund(
        &self,
        ask: &RefundAsk<'_>,
        now: BusinessTime,
    ) -> Result<String, PayApiError> {
        match self.config.api {
            PayApi::V2 => {
                let merchant = &self.config.merchant;
                let xml = pay_refund::refund_request(merchant, ask, &random_nonce());
                let body = self.call_v2("/secapi/pay/refund", xml).await?;
                pay_refund::read_refund(&body, merchant)
            }
            PayApi::V3 => {
                let v3 = self.v3()?;
                let body = self
                    .call_v3(v3, pay_v3_api::refund_request(ask), now)
                    .await?;
                pay_v3_api::read_refund(&body)
            }
        }
    }

    /// v2 `pay/refundquery` for `out_refund_no` (how an unsigned v2 refund notify is confirmed).
    pub async fn refund_query_v2(&self, out_refund_no: &str) -> Result<RefundQueried, PayApiError> {
        let merchant = &self.config.merchant;
        let xml = pay_refund::refund_query_request(merchant, out_refund_no, &random_nonce());
        let body = self.call_v2("/pay/refundquery", xml).await?;
        pay_refund::read_refund_query(&body, merchant)
    }

    async fn call_v2(&self, path: &str, xml: String) -> Result<Vec<u8>, PayApiError> {
        pay_api::call(&self.http, &self.config.api_base, path, xml).await
    }

    /// Sends a signed v3 request; a successful answer's body once its signature verifies.
    async fn call_v3(
        &self,
        merchant: &V3Merchant,
        request: V3Request,
        now: BusinessTime,
    ) -> Result<Vec<u8>, PayApiError> {
        let timestamp = now.epoch_seconds().to_string();
        let authorization = merchant.authorization(&request, &timestamp, &random_nonce());
        let url = format!(
            "{}{}",
            self.config.api_base.trim_end_matches('/'),
            request.path
        );
        let builder = match request.method {
            "GET" => self.http.get(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(request.body),
        };
        let response = builder
            .header("authorization", authorization)
            .header("accept", "application/json")
            .header("user-agent", concat!("linli/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(4))
            .send()
            .await
            .map_err(|e| PayApiError::Unavailable(e.to_string()))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (serial, stamp, nonce, signature) = (
            header("wechatpay-serial"),
            header("wechatpay-timestamp"),
            header("wechatpay-nonce"),
            header("wechatpay-signature"),
        );
        let body = response
            .bytes()
            .await
            .map_err(|e| PayApiError::Unavailable(e.to_string()))?;
        if status == 204 {
            return Ok(Vec::new());
        }
        let answer = V3Answer {
            status,
            headers: SignedHeaders {
                serial: &serial,
                timestamp: &stamp,
                nonce: &nonce,
                signature: &signature,
            },
            body: &body,
        };
        pay_v3_api::read_answer(merchant, &answer, now).map(<[u8]>::to_vec)
    }
}
