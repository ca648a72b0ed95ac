//! `member-api`: the mini-program's backend behind `ANY /api/{proxy+}`.
//!
//! - `POST /api/session` `{code}` → code2Session → the member (UnionID first, DESIGN §3) →
//!   `{token, expires_at, member}`; the token goes back as `Authorization: Bearer …`.
//! - `GET /api/group-buys/{round}` (public: shared in the community's chat) → the round's live
//!   progress per SKU (`group_buys.rs`); `POST /api/group-buys/{round}/orders` joins it,
//!   `POST /api/group-buys/{round}/orders/{id}/cancel` leaves it before the cutoff, refunded
//!   (`group_cancel.rs`);
//! - `GET /api/stores?lat=&lng=` → `{"stores": [{store_id, name, lat, lng, hours, distance_m?}]}`,
//!   nearest first when a location is given; `GET /api/stores/{id}/skus` →
//!   `{"skus": [{sku, name, price_fen, stock}]}`. No token needed: browsing comes before login.
//! - `GET /api/me` → the member's points: `{member_id, tier, available, held, debt,
//!   lots: [{month, points, expires_on}], postings: [{posting_id, kind, at, delta}]}`;
//!   `GET /api/me/invite` → the member's invite QR code `{scene, ticket, url, qr_image_url,
//!   expires_at}` (a temporary `QR_STR_SCENE` code, 30 days, cached and renewed 3 days early);
//!   `GET /api/me/member-code` → `{code, expires_at}`: the 2-minute code shown as a QR code at
//!   the till (`member_code.rs`); `GET /api/me/expiring?days=30` → `{within_days, total, lots:
//!   [{month, points, expires_on, days_left}]}`: what expires soon; `GET /api/me/points?cursor=`
//!   → `{postings: [{posting_id, kind, label, at, delta, order_id?}], next_cursor?}`: the paged
//!   history, newest first (`points.rs`); `GET /api/me/tier` → the tier, its growth value, what
//!   the next tier needs and when the tier is reviewed (`tier.rs`); `POST /api/me/subscriptions`
//!   records the subscribe-message consents `wx.requestSubscribeMessage` gave
//!   (`subscriptions.rs`).
//! - `POST /api/delivery/quote` `{address, items, priority?}` → a signed 5-minute quote: the
//!   store, the fee in cash and in points with every factor (`delivery.rs`).
//! - `POST /api/orders` `{store_id, items: [{sku, qty}], fulfilment: "pickup"}` or a delivery
//!   `{quote_id, fee: "cash" | "points" | "free"}` → 201 with the order and the
//!   `wx.requestPayment` parameters (`placing.rs`); `GET /api/orders/{id}`;
//!   `POST /api/orders/{id}/cancel` (`orders.rs`).
//!
//! - `DELETE /api/me` → 202: the member's request to erase their personal data, recorded once
//!   for an operator (`erasure.rs`).
//!
//! Errors are `{"error": {"code", "message", "field"?}}` with the matching status. "Now" is the
//! request's `requestContext.timeEpoch`.

mod account;
mod answer;
mod browse;
mod delivery;
mod erasure;
mod group_buys;
mod group_cancel;
mod member_code;
mod orders;
mod placing;
mod points;
mod refunds;
mod subscriptions;
mod tier;
mod timeline;

use answer::error;
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use linli::config::{optional, required, ConfigError, Source};
use linli::store::catalog::CatalogStore;
use linli::store::ledger::LedgerStore;
use linli::store::members::Members;
use linli::store::orders::OrderStore;
use linli::store::refunds::RefundStore;
use linli::time::BusinessTime;

/// What the handler needs from the configuration (DESIGN §7).
pub struct Settings {
    pub wechat_api_base: String,
    pub mini_app_id: String,
    pub mini_app_secret: String,
    pub session_key: Vec<u8>,
    /// `LINLI_MEMBER_CODE_KEY`: signs the member codes the tills scan (pos-api verifies them).
    pub member_code_key: linli::pos::MemberCodeKey,
    /// The Official Account whose QR codes invite newcomers.
    pub oa_app_id: String,
    pub oa_app_secret: String,
    /// The subscribe-message templates members consent to (reminders).
    pub templates: linli::rules::reminders::ReminderTemplates,
}

impl Settings {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let mini_app_id = required(source, "WECHAT_MINI_APP_ID")?;
        Ok(Self {
            wechat_api_base: optional(source, "WECHAT_API_BASE")
                .unwrap_or_else(|| "https://api.weixin.qq.com".to_owned()),
            mini_app_secret: required(source, "WECHAT_MINI_APP_SECRET")?,
            session_key: required(source, "LINLI_SESSION_KEY")?.into_bytes(),
            member_code_key: member_code::key(source)?,
            oa_app_id: required(source, "WECHAT_OA_APP_ID")?,
            oa_app_secret: required(source, "WECHAT_OA_APP_SECRET")?,
            templates: linli::rules::reminders::ReminderTemplates::from_source(source)?,
            mini_app_id,
        })
    }
}

pub struct App<L, M, C, O> {
    pub ledger: L,
    pub members: M,
    pub catalog: C,
    pub orders: O,
    /// The earn rules in force (tier thresholds and multipliers, for `GET /api/me/tier`).
    pub rules: linli::store::rules::DynamoRules,
    /// Subscribe-message consents (Ledger table, beside the profile).
    pub reminders: linli::store::reminders::DynamoReminders,
    /// The weather operators set per city (Config table): it prices deliveries.
    pub weather: linli::store::weather::DynamoWeather,
    /// The delivery pricing rules in force (Config table).
    pub delivery_rules: linli::store::delivery_rules::DynamoDeliveryRules,
    /// Community group-buy rounds (GroupBuys table).
    pub rounds: linli::store::rounds::DynamoRounds,
    pub http: reqwest::Client,
    /// WeChat Pay: payments, closes, refunds (v2 or v3, `WECHAT_PAY_API`).
    pub pay: linli::paying::PayGateway,
    /// The Official Account's access token (for invite codes), cached per container.
    pub tokens: linli::wechat::oa_token::TokenCache,
    pub settings: Settings,
}

/// The request's time (API Gateway's `timeEpoch`).
fn now(request: &Request) -> Option<BusinessTime> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => BusinessTime::from_epoch_ms(ctx.time_epoch).ok(),
        _ => None,
    }
}

/// The caller's IP as API Gateway saw it (WeChat Pay's `spbill_create_ip`).
pub(crate) fn source_ip(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
    .filter(|ip| !ip.is_empty())
    .unwrap_or_else(|| "127.0.0.1".to_owned())
}

pub async fn handle<L, M, C, O>(app: &App<L, M, C, O>, request: Request) -> Response<Body>
where
    L: LedgerStore + linli::store::ledger::Standings + linli::store::ledger::PostWith + Sync,
    M: Members,
    C: CatalogStore,
    O: OrderStore + RefundStore,
{
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
    let method = request.method().as_str().to_owned();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["api", "session"]) => account::session_start(app, &request, now).await,
        ("GET", ["api", "me"]) => account::me(app, &request, now).await,
        ("DELETE", ["api", "me"]) => erasure::request(app, &request, now).await,
        ("GET", ["api", "me", "invite"]) => account::invite(app, &request, now).await,
        ("GET", ["api", "me", "member-code"]) => member_code::show(app, &request, now),
        ("GET", ["api", "me", "expiring"]) => points::expiring(app, &request, now).await,
        ("GET", ["api", "me", "points"]) => points::history(app, &request, now).await,
        ("GET", ["api", "me", "tier"]) => tier::show(app, &request, now).await,
        ("POST", ["api", "me", "subscriptions"]) => subscriptions::record(app, &request, now).await,
        ("GET", ["api", "me", "subscriptions"]) => subscriptions::show(app, &request, now).await,
        ("GET", ["api", "stores"]) => browse::stores(app, &request).await,
        ("GET", ["api", "stores", id, "skus"]) => browse::skus(app, id).await,
        ("POST", ["api", "delivery", "quote"]) => delivery::quote(app, &request, now).await,
        ("GET", ["api", "group-buys", id]) => group_buys::progress(app, id, now).await,
        ("POST", ["api", "group-buys", id, "orders"]) => {
            group_buys::join(app, &request, id, now).await
        }
        ("POST", ["api", "group-buys", round, "orders", id, "cancel"]) => {
            group_cancel::cancel(app, &request, round, id, now).await
        }
        ("POST", ["api", "orders"]) => placing::place(app, &request, now).await,
        ("GET", ["api", "orders", id]) => orders::show(app, &request, id, now).await,
        ("POST", ["api", "orders", id, "cancel"]) => orders::cancel(app, &request, id, now).await,
        ("POST", ["api", "orders", id, "refund"]) => refunds::refund(app, &request, id, now).await,
        (
            _,
            ["api", "session" | "me" | "stores" | "orders"]
            | ["api", "me", "invite" | "member-code" | "expiring" | "points"]
            | ["api", "stores", _, "skus"]
            | ["api", "group-buys", _]
            | ["api", "group-buys", _, "orders"]
            | ["api", "group-buys", _, "orders", _, "cancel"]
            | ["api", "orders", _]
            | ["api", "orders", _, "cancel" | "refund"],
        ) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
            None,
        ),
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such resource", None),
    }
}
