//! Pay API v3 notifies (`POST /wechat/pay/v3/notify`, DESIGN §6): `Wechatpay-Signature` is
//! verified with the platform key whose serial matches `Wechatpay-Serial`, within ±5 minutes of
//! the request; the `resource` (AEAD_AES_256_GCM, APIv3 key) is opened; `TRANSACTION.SUCCESS` and
//! `REFUND.*` then take the same paths as v2 notifies, with the same guarantees (paid once,
//! anomalies, refunds believed only when they match or WeChat Pay confirms them).
//!
//! Answers: 204 when handled; 401 `{"code":"SIGN_ERROR",…}` for a bad or missing signature, an
//! unknown serial or a stale timestamp (nothing is read or written); 400 `PARAM_ERROR` for a
//! malformed body; 500 `FAIL` (WeChat Pay retries) for our own failures or an undecryptable
//! resource (a misconfigured APIv3 key).

use crate::refund::settle_notice;
use crate::{settle_payment, App};
use lambda_http::http::{HeaderMap, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use linli::money::Fen;
use linli::store::orders::OrderStore;
use linli::store::refunds::RefundStore;
use linli::time::BusinessTime;
use linli::wechat::pay_notify::PaidNotice;
use linli::wechat::pay_refund::{RefundNotice, RefundStatus};
use linli::wechat::pay_v3::{
    failure_body, Notify, RefundResource, SignedHeaders, Transaction, V3Error,
};
use linli::wechat::xml::MAX_BODY;

fn json(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let mut response = Response::new(Body::Text(failure_body(code, message)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn done() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// A v2-style answer (XML) as v3 expects it: 2xx SUCCESS → 204, anything else → its status
/// with a JSON body (WeChat Pay retries on non-2xx).
fn as_v3(answer: Response<Body>) -> Response<Body> {
    let succeeded = match answer.body() {
        Body::Text(text) => text.contains("<return_code><![CDATA[SUCCESS]]>"),
        _ => false,
    };
    match (answer.status(), succeeded) {
        (StatusCode::OK, true) => done(),
        // Refused (forged, foreign, not confirmed): WeChat Pay would not send it; do not invite
        // retries of something that will never pass.
        (StatusCode::OK, false) => json(StatusCode::BAD_REQUEST, "PARAM_ERROR", "refused"),
        (status, _) => json(status, "FAIL", "not handled; retry"),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn notify<O: OrderStore + RefundStore>(
    app: &App<O>,
    headers: &HeaderMap,
    body: &[u8],
    now: BusinessTime,
) -> Response<Body> {
    let (Some(platform), Some(key)) = (&app.settings.platform, &app.settings.api_v3_key) else {
        tracing::error!("a v3 notify arrived but WECHAT_PAY_API_V3_KEY / WECHAT_PAY_PLATFORM_* are not configured");
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            "FAIL",
            "v3 not configured",
        );
    };
    if body.len() > MAX_BODY {
        tracing::warn!(bytes = body.len(), "v3 notify too large");
        return json(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PARAM_ERROR",
            "body too large",
        );
    }
    let signed = (
        header(headers, "wechatpay-serial"),
        header(headers, "wechatpay-timestamp"),
        header(headers, "wechatpay-nonce"),
        header(headers, "wechatpay-signature"),
    );
    let (Some(serial), Some(timestamp), Some(nonce), Some(signature)) = signed else {
        tracing::warn!("v3 notify without its Wechatpay-* signature headers: refused");
        return json(
            StatusCode::UNAUTHORIZED,
            "SIGN_ERROR",
            "missing signature headers",
        );
    };
    let headers = SignedHeaders {
        serial,
        timestamp,
        nonce,
        signature,
    };
    if let Err(e) = platform.verify(&headers, body, now.epoch_seconds()) {
        tracing::warn!(reason = %e, "v3 notify refused");
        return json(StatusCode::UNAUTHORIZED, "SIGN_ERROR", &e.to_string());
    }
    let notify = match Notify::parse(body) {
        Ok(notify) => notify,
        Err(e) => {
            tracing::warn!(reason = %e, "signed v3 notify is malformed");
            return json(StatusCode::BAD_REQUEST, "PARAM_ERROR", "malformed notify");
        }
    };
    let plain = match notify.open(key) {
        Ok(plain) => plain,
        Err(e) => {
            tracing::error!(notify = %notify.id, reason = %e, "a signed v3 notify cannot be opened: check WECHAT_PAY_API_V3_KEY");
            return json(StatusCode::INTERNAL_SERVER_ERROR, "FAIL", "cannot decrypt");
        }
    };
    match notify.event_type.as_str() {
        "TRANSACTION.SUCCESS" => match Transaction::read(&plain) {
            Ok(tx) => as_v3(settle_payment(app, paid_notice(&tx), now).await),
            Err(e) => malformed(&notify.id, &e),
        },
        t if t.starts_with("REFUND.") => match RefundResource::read(&plain) {
            Ok(r) => {
                let at = r
                    .success_time
                    .as_deref()
                    .and_then(|t| BusinessTime::parse_rfc3339(t).ok());
                as_v3(settle_notice(app, refund_notice(&r), at, now).await)
            }
            Err(e) => malformed(&notify.id, &e),
        },
        other => {
            tracing::info!(notify = %notify.id, event_type = other, "v3 notify of a kind Linli does not act on");
            done()
        }
    }
}

fn malformed(id: &str, error: &V3Error) -> Response<Body> {
    tracing::warn!(notify = id, reason = %error, "v3 resource is not what WeChat Pay sends");
    json(StatusCode::BAD_REQUEST, "PARAM_ERROR", "malformed resource")
}

fn paid_notice(tx: &Transaction) -> PaidNotice {
    PaidNotice {
        appid: tx.appid.clone(),
        mch_id: tx.mchid.clone(),
        out_trade_no: tx.out_trade_no.clone(),
        transaction_id: tx.transaction_id.clone(),
        openid: String::new(),
        total_fee: Fen::new(tx.amount.total),
        paid_at: tx
            .success_time
            .as_deref()
            .and_then(|t| BusinessTime::parse_rfc3339(t).ok()),
        succeeded: tx.trade_state == "SUCCESS",
    }
}

fn refund_notice(r: &RefundResource) -> RefundNotice {
    RefundNotice {
        out_trade_no: r.out_trade_no.clone(),
        transaction_id: r.transaction_id.clone(),
        out_refund_no: r.out_refund_no.clone(),
        refund_id: r.refund_id.clone(),
        total_fee: Fen::new(r.amount.total),
        refund_fee: Fen::new(r.amount.refund),
        status: match r.refund_status.as_str() {
            "SUCCESS" => RefundStatus::Success,
            "PROCESSING" => RefundStatus::Processing,
            _ => RefundStatus::Failed,
        },
        success_time: None,
    }
}
