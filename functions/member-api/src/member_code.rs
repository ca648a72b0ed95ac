//! `GET /api/me/member-code`: the code the mini-program shows as a QR code at a store's till, so
//! an in-store purchase earns points (pos-api). `{code, expires_at}`; the code is valid for 2
//! minutes (`linli::pos::member_code`), so the mini-program asks for a new one about every
//! minute while it is on screen. Stateless: nothing is stored.

use crate::account::authenticate;
use crate::answer::reply;
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::config::{required, ConfigError, Source};
use linli::pos::{member_code, MemberCodeKey};
use linli::time::BusinessTime;
use serde_json::json;

/// `LINLI_MEMBER_CODE_KEY`, at least 32 characters.
pub fn key(source: &impl Source) -> Result<MemberCodeKey, ConfigError> {
    let name = "LINLI_MEMBER_CODE_KEY";
    MemberCodeKey::new(required(source, name)?.into_bytes()).ok_or(ConfigError::Invalid {
        name,
        why: "must be at least 32 characters".to_owned(),
    })
}

pub fn show<L, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let session = match authenticate(app, request, now) {
        Ok(session) => session,
        Err(refused) => return refused.into(),
    };
    let (code, expires_at) =
        member_code::issue(&app.settings.member_code_key, &session.member, now);
    tracing::info!(member = %session.member.masked(), "member code issued");
    reply(
        StatusCode::OK,
        json!({ "code": code, "expires_at": expires_at.to_string() }),
    )
}
