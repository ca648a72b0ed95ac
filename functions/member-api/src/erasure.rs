//! `DELETE /api/me`: the member asks Linli to erase their personal data (PIPL). The request is
//! recorded once (`ERASE_REQUEST` beside the profile) and answered 202 with when it was first
//! asked; an operator carries it out with `linli-admin member erase --requested`, which removes
//! the identities, consents and the orders' personal data and keeps the ledger under the
//! member id. Asking again answers the same.

use crate::account::authenticate;
use crate::answer::{reply, store_failed};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::store::members::Members;
use linli::time::BusinessTime;
use serde_json::json;

pub async fn request<L, M: Members, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let session = match authenticate(app, request, now) {
        Ok(session) => session,
        Err(refused) => return refused.into(),
    };
    match app.members.request_erasure(&session.member, now).await {
        Ok(first) => {
            tracing::warn!(member = %session.member.masked(), requested_at = %first, "erasure requested: an operator runs linli-admin member erase --requested");
            reply(
                StatusCode::ACCEPTED,
                json!({ "erasure": "requested", "requested_at": first.shanghai_rfc3339() }),
            )
        }
        Err(e) => store_failed(&e),
    }
}
