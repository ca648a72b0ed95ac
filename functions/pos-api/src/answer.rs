//! Answers to the tills: JSON bodies, errors as `{"error": {"code", "message", "field"?}}`, and
//! the one place (`refused_by`) that turns a refusal into its status (STYLE 7).

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use linli::pos::{InvalidInput, MemberCodeError, ReturnError, SignatureError};
use linli::queue::QueueError;
use linli::store::StoreError;
use serde_json::{json, Value};

/// Why a till request is not done.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("not an API Gateway HTTP API request")]
    NotApiGateway,
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed")]
    Method,
    #[error("body of {0} bytes is above 64 KiB")]
    TooLarge(usize),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the store is not in the catalog")]
    UnknownStore,
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("member code: {0}")]
    MemberCode(#[from] MemberCodeError),
    #[error("the sale id was used for another sale")]
    SaleIdReused,
    #[error("the return id was used for another return")]
    ReturnIdReused,
    #[error("no such sale at this store")]
    UnknownSale,
    #[error(transparent)]
    Return(#[from] ReturnError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// An answer with a JSON body.
pub fn reply(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response<Body> {
    let mut body = json!({ "error": { "code": code, "message": message } });
    if let Some(field) = field {
        body["error"]["field"] = json!(field);
    }
    reply(status, body)
}

/// The status and error body for `refused`, with its log line: WARN for what a till or an
/// attacker got wrong, ERROR when Linli failed (the till retries on 503).
pub fn refused_by(refused: &Refused) -> Response<Body> {
    use StatusCode as S;
    let reason = refused.to_string();
    let (status, code, field) = match refused {
        Refused::NotApiGateway => (S::BAD_REQUEST, "bad_request", None),
        Refused::NoRoute => (S::NOT_FOUND, "not_found", None),
        Refused::Method => (S::METHOD_NOT_ALLOWED, "method_not_allowed", None),
        Refused::TooLarge(_) => (S::PAYLOAD_TOO_LARGE, "too_large", None),
        Refused::Signature(SignatureError::Stale { .. }) => {
            (S::UNAUTHORIZED, "stale_timestamp", None)
        }
        Refused::Signature(_) => (S::UNAUTHORIZED, "bad_signature", None),
        Refused::UnknownStore => (S::UNAUTHORIZED, "unknown_store", None),
        Refused::Invalid(input) => (S::BAD_REQUEST, "invalid", Some(input.field)),
        Refused::MemberCode(MemberCodeError::Expired) => {
            (S::UNAUTHORIZED, "member_code_expired", Some("member_code"))
        }
        Refused::MemberCode(MemberCodeError::Forged) => {
            (S::UNAUTHORIZED, "member_code_invalid", Some("member_code"))
        }
        Refused::SaleIdReused => (S::CONFLICT, "sale_id_reused", Some("sale_id")),
        Refused::ReturnIdReused => (S::CONFLICT, "return_id_reused", Some("return_id")),
        Refused::UnknownSale => (S::NOT_FOUND, "sale_not_found", Some("sale_id")),
        Refused::Return(_) => (S::CONFLICT, "exceeds_sale", Some("returned_fen")),
        Refused::Store(_) | Refused::Queue(_) => {
            tracing::error!(reason, "till request failed on our side; the till retries");
            return error(S::SERVICE_UNAVAILABLE, "unavailable", "please retry", None);
        }
    };
    tracing::warn!(
        status = status.as_u16(),
        code,
        field,
        reason,
        "till request refused"
    );
    error(status, code, &reason, field)
}
