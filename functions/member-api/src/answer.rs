//! Answers: JSON bodies and the error shape `{"error": {"code", "message", "field"?}}`.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use linli::store::StoreError;
use serde_json::{json, Value};

/// An answer with a JSON body.
pub fn reply(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

pub fn error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response<Body> {
    let mut body = json!({ "error": { "code": code, "message": message } });
    if let Some(field) = field {
        body["error"]["field"] = json!(field);
    }
    reply(status, body)
}

/// 400 naming the field.
pub fn invalid(field: &str, message: &str) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, "invalid", message, Some(field))
}

pub fn not_found(code: &str, message: &str) -> Response<Body> {
    error(StatusCode::NOT_FOUND, code, message, None)
}

pub fn store_failed(e: &StoreError) -> Response<Body> {
    tracing::error!(error = %e, "store failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "please retry",
        None,
    )
}

/// An answer that refuses the request, for helpers that return `Result` (boxed: a response is
/// large and refusals are the rare path).
pub struct Refusal(Box<Response<Body>>);

impl From<Response<Body>> for Refusal {
    fn from(response: Response<Body>) -> Self {
        Self(Box::new(response))
    }
}

impl From<Refusal> for Response<Body> {
    fn from(refusal: Refusal) -> Self {
        *refusal.0
    }
}
