//! The member's own account: `POST /api/session` (login) and `GET /api/me` (points).

use crate::answer::{error, invalid, not_found, reply, store_failed, Refusal};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::ids::{Identity, MemberId};
use linli::ledger::{lot_expires_on, Profile, MAX_MERGE_HOPS};
use linli::rules::invite_scene;
use linli::session::{self, Session, SessionError};
use linli::store::ledger::LedgerStore;
use linli::store::members::{resolve, InviteCode, Members};
use linli::time::BusinessTime;
use linli::wechat::mini::{self, LoginError};
use linli::wechat::oa_api;
use serde::Deserialize;
use serde_json::{json, Value};

/// How many postings `GET /api/me` lists.
const HISTORY_LINES: u16 = 20;

/// The request's verified session, or the 401 to answer.
pub fn authenticate<L, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Result<Session, Refusal> {
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok());
    session::verify(&app.settings.session_key, authorization, now).map_err(|e| {
        Refusal::from(match e {
            SessionError::Expired => error(
                StatusCode::UNAUTHORIZED,
                "session_expired",
                "the session expired; log in again",
                None,
            ),
            SessionError::Missing | SessionError::Forged => error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid session token is required",
                None,
            ),
        })
    })
}

#[derive(Deserialize)]
struct SessionRequest {
    code: Option<String>,
}

pub async fn session_start<L: LedgerStore, M: Members, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let parsed: Result<SessionRequest, _> = serde_json::from_slice(request.body().as_ref());
    let Some(code) = parsed
        .ok()
        .and_then(|r| r.code)
        .filter(|c| !c.trim().is_empty() && c.len() <= 256)
    else {
        return invalid("code", "a login code is required");
    };
    let s = &app.settings;
    let login = match mini::code_to_session(
        &app.http,
        &s.wechat_api_base,
        &s.mini_app_id,
        &s.mini_app_secret,
        &code,
    )
    .await
    {
        Ok(login) => login,
        Err(e @ LoginError::Refused { .. }) => {
            tracing::info!(reason = %e, "login refused");
            return error(
                StatusCode::UNAUTHORIZED,
                "login_refused",
                "the login code was refused; log in again",
                Some("code"),
            );
        }
        Err(e) => {
            tracing::warn!(reason = %e, "code2Session unavailable");
            return error(
                StatusCode::BAD_GATEWAY,
                "wechat_unavailable",
                "WeChat did not answer; retry",
                None,
            );
        }
    };
    let mini = Identity::Mini(login.openid.clone());
    let candidate = MemberId::generate(
        now,
        u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..)),
    );
    let membership = match resolve(
        &app.members,
        &app.ledger,
        &mini,
        login.unionid.as_ref(),
        candidate,
        now,
    )
    .await
    {
        Ok(resolved) => resolved,
        Err(e) => return store_failed(&e),
    };
    let (token, expires_at) = session::issue(
        &app.settings.session_key,
        &membership.member,
        &login.openid,
        now,
    );
    tracing::info!(
        member = %membership.member.masked(),
        created = membership.created,
        merged = membership.merged.is_some(),
        "session started"
    );
    reply(
        StatusCode::OK,
        json!({ "token": token, "expires_at": expires_at.to_string(), "member": membership.member.to_string() }),
    )
}

/// The member's profile, following merges: a session issued before its member was merged reads
/// the member it joined. 404 when there is none.
/// The caller's session and its member as it is now, with the profile (merges followed), or
/// the answer that refuses (401, 404, 503).
pub(crate) async fn signed_in<L: LedgerStore, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Result<(Session, MemberId, Profile), Response<Body>> {
    let session = authenticate(app, request, now).map_err(Response::from)?;
    let (member, profile) = live_profile(app, session.member.clone()).await?;
    Ok((session, member, profile))
}

pub(crate) async fn live_profile<L: LedgerStore, M, C, O>(
    app: &App<L, M, C, O>,
    mut member: MemberId,
) -> Result<(MemberId, Profile), Response<Body>> {
    let mut hops = 0;
    loop {
        let profile = match app.ledger.profile(&member).await {
            Ok(Some(profile)) => profile,
            Ok(None) => return Err(not_found("member_not_found", "no such member")),
            Err(e) => return Err(store_failed(&e)),
        };
        match profile.merged_into.clone() {
            Some(into) if hops < MAX_MERGE_HOPS => {
                hops += 1;
                member = into;
            }
            _ => return Ok((member, profile)),
        }
    }
}

pub async fn me<L: LedgerStore, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let (_, member, profile) = match signed_in(app, request, now).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let history = match app.ledger.history(&member, None, HISTORY_LINES).await {
        Ok(page) => page.lines,
        Err(e) => return store_failed(&e),
    };
    let lots: Vec<Value> = profile
        .lots
        .iter()
        .map(|(month, points)| json!({ "month": month.to_string(), "points": points.value(), "expires_on": lot_expires_on(month).to_string() }))
        .collect();
    let postings: Vec<Value> = history
        .iter()
        .map(|line| json!({ "posting_id": line.posting_id.to_string(), "kind": line.kind, "at": line.at.to_string(), "delta": line.delta.value() }))
        .collect();
    reply(
        StatusCode::OK,
        json!({
            "member_id": member.to_string(),
            "tier": profile.standing.tier.name(),
            "available": profile.available.value(),
            "held": profile.held.value(),
            "debt": profile.debt.value(),
            "lots": lots,
            "postings": postings,
        }),
    )
}

/// Codes are renewed this long before they expire, so a shared code keeps working a while.
const INVITE_RENEW_BEFORE_MS: i64 = 3 * 24 * 60 * 60 * 1000;

/// `GET /api/me/invite`: the member's invite QR code (cached; a new one near expiry).
pub async fn invite<L, M: Members, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let session = match authenticate(app, request, now) {
        Ok(session) => session,
        Err(refused) => return refused.into(),
    };
    let cached = match app.members.invite_code(&session.member).await {
        Ok(cached) => cached,
        Err(e) => return store_failed(&e),
    };
    let renew_from = now.plus_ms(INVITE_RENEW_BEFORE_MS);
    let code = match cached.filter(|c| c.expires_at > renew_from) {
        Some(code) => code,
        None => match new_invite_code(app, &session.member, now).await {
            Ok(code) => code,
            Err(answer) => return answer.into(),
        },
    };
    let image = format!(
        "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={}",
        percent_encoding::utf8_percent_encode(&code.ticket, percent_encoding::NON_ALPHANUMERIC)
    );
    reply(
        StatusCode::OK,
        json!({
            "scene": code.scene, "ticket": code.ticket, "url": code.url,
            "qr_image_url": image, "expires_at": code.expires_at.to_string(),
        }),
    )
}

async fn new_invite_code<L, M: Members, C, O>(
    app: &App<L, M, C, O>,
    member: &MemberId,
    now: BusinessTime,
) -> Result<InviteCode, Refusal> {
    let s = &app.settings;
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "no invite code from WeChat");
        Refusal::from(error(
            StatusCode::BAD_GATEWAY,
            "wechat_unavailable",
            "WeChat did not answer; retry",
            None,
        ))
    };
    let token = app
        .tokens
        .get(
            &app.http,
            &s.wechat_api_base,
            &s.oa_app_id,
            &s.oa_app_secret,
            now,
        )
        .await
        .map_err(|e| unavailable(&e))?;
    let scene = invite_scene(member);
    let qr = oa_api::create_qr(
        &app.http,
        &s.wechat_api_base,
        &token,
        &scene,
        oa_api::QR_MAX_EXPIRE_S,
    )
    .await
    .map_err(|e| unavailable(&e))?;
    let code = InviteCode {
        scene,
        ticket: qr.ticket,
        url: qr.url,
        expires_at: now.plus_ms(qr.expires_in_s.saturating_mul(1000)),
    };
    app.members
        .save_invite_code(member, &code)
        .await
        .map_err(|e| Refusal::from(store_failed(&e)))?;
    tracing::info!(member = %member.masked(), "invite code created");
    Ok(code)
}
