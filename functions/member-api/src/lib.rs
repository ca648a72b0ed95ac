//! `member-api`: the mini-program's backend behind `ANY /api/{proxy+}`.
//!
//! - `POST /api/session` `{code}` → code2Session → the member (UnionID first, DESIGN §3) →
//!   `{token, expires_at, member}`; the token goes back as `Authorization: Bearer …`.
//! - `GET /api/stores?lat=&lng=` → `{"stores": [{store_id, name, lat, lng, hours, distance_m?}]}`,
//!   nearest first when a location is given; `GET /api/stores/{id}/skus` →
//!   `{"skus": [{sku, name, price_fen, stock}]}`. No token needed: browsing comes before login.
//! - `GET /api/me` → the member's points: `{member_id, tier, available, held, debt,
//!   lots: [{month, points, expires_on}], postings: [{posting_id, kind, at, delta}]}`.
//!
//! Errors are `{"error": {"code", "message", "field"?}}` with the matching status. "Now" is the
//! request's `requestContext.timeEpoch`.

use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use linli::catalog::{nearest, valid_coordinate};
use linli::config::{required, ConfigError, Source};
use linli::ids::StoreId;
use linli::ids::{Identity, MemberId};
use linli::ledger::lot_expires_on;
use linli::session::{self, SessionError};
use linli::store::catalog::CatalogStore;
use linli::store::ledger::LedgerStore;
use linli::store::members::{Linked, Members};
use linli::store::StoreError;
use linli::time::BusinessTime;
use linli::wechat::mini::{self, LoginError};
use serde::Deserialize;
use serde_json::{json, Value};

/// How many postings `GET /api/me` lists.
const HISTORY_LINES: u16 = 20;

/// What the handler needs from the configuration (DESIGN §7).
pub struct Settings {
    pub wechat_api_base: String,
    pub mini_app_id: String,
    pub mini_app_secret: String,
    pub session_key: Vec<u8>,
}

impl Settings {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            wechat_api_base: required(source, "WECHAT_API_BASE")
                .unwrap_or_else(|_| "https://api.weixin.qq.com".to_owned()),
            mini_app_id: required(source, "WECHAT_MINI_APP_ID")?,
            mini_app_secret: required(source, "WECHAT_MINI_APP_SECRET")?,
            session_key: required(source, "LINLI_SESSION_KEY")?.into_bytes(),
        })
    }
}

pub struct App<L, M, C> {
    pub ledger: L,
    pub members: M,
    pub catalog: C,
    pub http: reqwest::Client,
    pub settings: Settings,
}

/// An answer with a JSON body.
fn reply(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response<Body> {
    let mut body = json!({ "error": { "code": code, "message": message } });
    if let Some(field) = field {
        body["error"]["field"] = json!(field);
    }
    reply(status, body)
}

fn store_failed(e: &StoreError) -> Response<Body> {
    tracing::error!(error = %e, "store failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "please retry",
        None,
    )
}

/// The request's time (API Gateway's `timeEpoch`).
fn now(request: &Request) -> Option<BusinessTime> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => BusinessTime::from_epoch_ms(ctx.time_epoch).ok(),
        _ => None,
    }
}

pub async fn handle<L: LedgerStore, M: Members, C: CatalogStore>(
    app: &App<L, M, C>,
    request: Request,
) -> Response<Body> {
    let Some(now) = now(&request) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "not an API Gateway HTTP API request",
            None,
        );
    };
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match (request.method().as_str(), segments.as_slice()) {
        ("GET", ["api", "stores"]) => return stores(app, &request).await,
        ("GET", ["api", "stores", id, "skus"]) => return skus(app, id).await,
        _ => {}
    }
    match (request.method().as_str(), path.as_str()) {
        ("POST", "/api/session") => session_start(app, &request, now).await,
        ("GET", "/api/me") => me(app, &request, now).await,
        (_, "/api/session" | "/api/me") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
            None,
        ),
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such resource", None),
    }
}

#[derive(Deserialize)]
struct SessionRequest {
    code: Option<String>,
}

async fn session_start<L, M: Members, C>(
    app: &App<L, M, C>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let parsed: Result<SessionRequest, _> = serde_json::from_slice(request.body().as_ref());
    let Some(code) = parsed
        .ok()
        .and_then(|r| r.code)
        .filter(|c| !c.trim().is_empty() && c.len() <= 256)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "a login code is required",
            Some("code"),
        );
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
    let primary = login
        .unionid
        .clone()
        .map(Identity::Union)
        .unwrap_or_else(|| mini.clone());
    let candidate = MemberId::generate(
        now,
        u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..)),
    );
    let membership = match app.members.find_or_create(&primary, candidate, now).await {
        Ok(m) => m,
        Err(e) => return store_failed(&e),
    };
    if primary != mini {
        match app.members.link(&mini, &membership.member, now).await {
            Ok(Linked::Linked) => {}
            Ok(Linked::OtherMember(other)) => tracing::warn!(
                member = %membership.member.masked(),
                other = %other.masked(),
                "mini-program OpenID already names another member: merge needed"
            ),
            Err(e) => return store_failed(&e),
        }
    }
    let (token, expires_at) = session::issue(&app.settings.session_key, &membership.member, now);
    tracing::info!(member = %membership.member.masked(), created = membership.created, "session started");
    reply(
        StatusCode::OK,
        json!({ "token": token, "expires_at": expires_at.to_string(), "member": membership.member.to_string() }),
    )
}

async fn me<L: LedgerStore, M, C>(
    app: &App<L, M, C>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok());
    let session = match session::verify(&app.settings.session_key, authorization, now) {
        Ok(s) => s,
        Err(SessionError::Expired) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "session_expired",
                "the session expired; log in again",
                None,
            )
        }
        Err(_) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid session token is required",
                None,
            )
        }
    };
    let (profile, history) = match tokio::try_join!(
        app.ledger.profile(&session.member),
        app.ledger.history(&session.member, None, HISTORY_LINES)
    ) {
        Ok(found) => found,
        Err(e) => return store_failed(&e),
    };
    let Some(profile) = profile else {
        return error(
            StatusCode::NOT_FOUND,
            "member_not_found",
            "no such member",
            None,
        );
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
            "member_id": session.member.to_string(),
            "tier": "普卡",
            "available": profile.available.value(),
            "held": profile.held.value(),
            "debt": profile.debt.value(),
            "lots": lots,
            "postings": postings,
        }),
    )
}

/// A query coordinate; `Err(name)` when present but not a number.
fn coordinate(request: &Request, name: &'static str) -> Result<Option<f64>, &'static str> {
    let params = request.query_string_parameters();
    let Some(text) = params.first(name) else {
        return Ok(None);
    };
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Some)
        .ok_or(name)
}

async fn stores<L, M, C: CatalogStore>(app: &App<L, M, C>, request: &Request) -> Response<Body> {
    let (lat, lng) = match (coordinate(request, "lat"), coordinate(request, "lng")) {
        (Ok(lat), Ok(lng)) => (lat, lng),
        (Err(field), _) | (_, Err(field)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                &format!("{field} must be a number of degrees"),
                Some(field),
            )
        }
    };
    let from = match (lat, lng) {
        (Some(lat), Some(lng)) if valid_coordinate(lat, lng) => Some((lat, lng)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "lat/lng is not a place on Earth",
                Some("lat"),
            )
        }
        (None, Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "lat is required with lng",
                Some("lat"),
            )
        }
        (Some(_), None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "lng is required with lat",
                Some("lng"),
            )
        }
    };
    let all = match app.catalog.stores().await {
        Ok(all) => all,
        Err(e) => return store_failed(&e),
    };
    let listed: Vec<Value> = match from {
        Some(from) => nearest(all, from)
            .into_iter()
            .map(|(s, d)| json!({ "store_id": s.store_id, "name": s.name, "lat": s.lat, "lng": s.lng, "hours": s.hours, "distance_m": d }))
            .collect(),
        None => all
            .into_iter()
            .map(|s| json!({ "store_id": s.store_id, "name": s.name, "lat": s.lat, "lng": s.lng, "hours": s.hours }))
            .collect(),
    };
    reply(StatusCode::OK, json!({ "stores": listed }))
}

async fn skus<L, M, C: CatalogStore>(app: &App<L, M, C>, id: &str) -> Response<Body> {
    let Ok(store) = StoreId::parse(id) else {
        return error(
            StatusCode::NOT_FOUND,
            "store_not_found",
            "no such store",
            None,
        );
    };
    match app.catalog.store(&store).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "store_not_found",
                "no such store",
                None,
            )
        }
        Err(e) => return store_failed(&e),
    }
    match app.catalog.skus(&store).await {
        Ok(skus) => {
            let listed: Vec<Value> = skus
                .into_iter()
                .map(|s| json!({ "sku": s.sku, "name": s.name, "price_fen": s.price_fen.value(), "stock": s.stock }))
                .collect();
            reply(StatusCode::OK, json!({ "skus": listed }))
        }
        Err(e) => store_failed(&e),
    }
}
