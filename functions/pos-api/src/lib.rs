//! `pos-api`: the stores' tills behind `POST /pos/{proxy+}` (DESIGN §2, issue 7).
//!
//! - `POST /pos/sales` `{store_id, till, sale_id, member_code, goods_fen}` → 201 `{store_id,
//!   sale_id, till, member (masked), goods_fen, points_earned, posting_id, replayed: false}`; the
//!   sale earns like an online order (`earn:pos:<store>:<sale>`, 1 yuan = 1 point);
//! - `POST /pos/returns` `{store_id, till, return_id, sale_id, returned_fen}` → 201 `{store_id,
//!   return_id, sale_id, member, returned_fen, returned_total_fen, points_clawed_back,
//!   posting_id, replayed: false}`; the clawback (`claw:pos:<store>:<return>`) is proportional
//!   and cumulative, never more than the sale earned (`linli::pos`).
//!
//! Every request is signed by its store (`linli::pos::signature`: `X-Linli-Store`,
//! `X-Linli-Timestamp`, `X-Linli-Nonce`, `X-Linli-Signature`, ±5 minutes), and the store must be
//! in the catalog. The member is named by the 2-minute member code the mini-program shows
//! (`GET /api/me/member-code`). The posting goes to `points-postings.fifo` (group = member) under
//! its deterministic id and `points-posting` applies it.
//!
//! Exactly once: a sale or return is an item of the Orders table created only if absent, so a
//! repeat of the same sale (same till, member and goods) or return (same sale, till and amount)
//! answers 200 with the stored result and `replayed: true`, re-sending the same posting (which
//! the ledger posts once); another sale or return under a used id is 409. A retry of an accepted
//! sale is answered even after its member code expired. That is also why there is no nonce store:
//! a request replayed within the window is a repeat of its sale or return id.
//!
//! Refusals: 400 naming the field; 401 bad signature, unknown store, stale timestamp, expired or
//! forged member code; 404 unknown sale; 409 reused id or a return beyond the sale; 413 above
//! 64 KiB; 503 when DynamoDB or SQS failed (the till retries; a retry is a repeat). "Now" is the
//! request's `requestContext.timeEpoch`.

mod answer;
mod sales;

use answer::{refused_by, Refused};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use linli::config::{required, ConfigError, Source};
use linli::ids::StoreId;
use linli::pos::signature::{self, Headers};
use linli::pos::{MasterKey, MemberCodeKey};
use linli::queue::Publisher;
use linli::store::catalog::CatalogStore;
use linli::store::pos::PosStore;
use linli::time::BusinessTime;
use tracing::Instrument;

/// Bodies above this are refused with 413 (a sale is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// What the handler needs from the configuration (DESIGN §7).
pub struct Settings {
    /// `LINLI_POS_MASTER_KEY`: every store's till key derives from it.
    pub master: MasterKey,
    /// `LINLI_MEMBER_CODE_KEY`: verifies the member codes member-api issues.
    pub member_code_key: MemberCodeKey,
    pub points_queue: String,
}

impl Settings {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let too_short = |name| ConfigError::Invalid {
            name,
            why: "must be at least 32 characters".to_owned(),
        };
        Ok(Self {
            master: MasterKey::new(required(source, "LINLI_POS_MASTER_KEY")?.into_bytes())
                .ok_or_else(|| too_short("LINLI_POS_MASTER_KEY"))?,
            member_code_key: MemberCodeKey::new(
                required(source, "LINLI_MEMBER_CODE_KEY")?.into_bytes(),
            )
            .ok_or_else(|| too_short("LINLI_MEMBER_CODE_KEY"))?,
            points_queue: required(source, "QUEUE_POINTS_POSTINGS")?,
        })
    }
}

pub struct App<C, P, R = linli::store::rules::DynamoRules, L = linli::store::ledger::DynamoLedger> {
    pub catalog: C,
    pub pos: P,
    /// The members' profiles: a sale earns at the member's tier.
    pub ledger: L,
    /// The earn rules' versions (Config table): a sale earns by the version in force when it
    /// is accepted.
    pub rules: R,
    pub publisher: Publisher,
    pub settings: Settings,
}

/// The request's time (API Gateway's `timeEpoch`).
fn now(request: &Request) -> Option<BusinessTime> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => BusinessTime::from_epoch_ms(ctx.time_epoch).ok(),
        _ => None,
    }
}

fn request_id(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

pub async fn handle<C, P>(app: &App<C, P>, request: Request) -> Response<Body>
where
    C: CatalogStore + Sync,
    P: PosStore + Sync,
{
    let span = tracing::info_span!(
        "till",
        request_id = request_id(&request),
        function = "pos-api",
        path = request.raw_http_path(),
    );
    // Refusals are logged inside the span, with the request id.
    async {
        route(app, &request)
            .await
            .unwrap_or_else(|r| refused_by(&r))
    }
    .instrument(span)
    .await
}

async fn route<C, P>(app: &App<C, P>, request: &Request) -> Result<Response<Body>, Refused>
where
    C: CatalogStore + Sync,
    P: PosStore + Sync,
{
    let now = now(request).ok_or(Refused::NotApiGateway)?;
    let path = request.raw_http_path();
    if !matches!(path, "/pos/sales" | "/pos/returns") {
        return Err(Refused::NoRoute);
    }
    if request.method().as_str() != "POST" {
        return Err(Refused::Method);
    }
    let body = request.body().as_ref();
    if body.len() > MAX_BODY {
        return Err(Refused::TooLarge(body.len()));
    }
    let store = authenticate(app, request, body, now).await?;
    match path {
        "/pos/sales" => sales::sale(app, &store, body, now).await,
        _ => sales::give_back(app, &store, body, now).await,
    }
}

/// The store that signed the request, if the signature verifies and the store is in the catalog.
async fn authenticate<C: CatalogStore, P>(
    app: &App<C, P>,
    request: &Request,
    body: &[u8],
    now: BusinessTime,
) -> Result<StoreId, Refused> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let headers = Headers {
        store: header(signature::STORE_HEADER),
        timestamp: header(signature::TIMESTAMP_HEADER),
        nonce: header(signature::NONCE_HEADER),
        signature: header(signature::SIGNATURE_HEADER),
    };
    let method = request.method().as_str();
    let path = request.raw_http_path();
    let store = signature::verify(&app.settings.master, method, path, &headers, body, now)?;
    // A store that left the catalog keeps a derivable key: the catalog decides who may post.
    match app.catalog.store(&store).await? {
        Some(_) => Ok(store),
        None => {
            tracing::warn!(store = %store, "signed by a store that is not in the catalog");
            Err(Refused::UnknownStore)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli::pos::{member_code, ReturnRequest, SaleRequest, SignatureError};
    use serde_json::Value;
    use std::collections::BTreeMap;

    fn local_env() -> BTreeMap<String, String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/local/local.env");
        let text = std::fs::read_to_string(path).unwrap();
        let mut env: BTreeMap<String, String> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        env.insert("QUEUE_POINTS_POSTINGS".into(), "points.fifo".into());
        env
    }

    /// Checks a sample as the handler does; answers the store and the body.
    fn open(name: &str) -> (Result<StoreId, SignatureError>, Vec<u8>, BusinessTime) {
        let path = format!(
            "{}/../../events/pos-api/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let e: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let h = |k: &str| e["headers"][k].as_str();
        let headers = Headers {
            store: h(signature::STORE_HEADER),
            timestamp: h(signature::TIMESTAMP_HEADER),
            nonce: h(signature::NONCE_HEADER),
            signature: h(signature::SIGNATURE_HEADER),
        };
        let now = BusinessTime::from_epoch_ms(e["requestContext"]["timeEpoch"].as_i64().unwrap())
            .unwrap();
        let body = e["body"].as_str().unwrap().as_bytes().to_vec();
        let settings = Settings::from_source(&local_env()).unwrap();
        let method = e["requestContext"]["http"]["method"].as_str().unwrap();
        let path = e["rawPath"].as_str().unwrap();
        let store = signature::verify(&settings.master, method, path, &headers, &body, now);
        (store, body, now)
    }

    #[test]
    fn the_sample_events_are_signed_with_the_local_master_key() {
        let settings = Settings::from_source(&local_env()).unwrap();
        let (store, body, now) = open("sale");
        let store = store.unwrap();
        let sale = SaleRequest::parse(&body, &store).unwrap();
        let code = member_code::verify(&settings.member_code_key, &sale.member_code, now);
        assert!(code.is_ok(), "the member code is valid at the event's time");
        let (store, body, _) = open("return");
        let ret = ReturnRequest::parse(&body, &store.unwrap()).unwrap();
        assert_eq!(ret.sale, sale.sale);
        assert_eq!(open("sale-forged").0, Err(SignatureError::BadSignature));
    }

    #[test]
    fn short_keys_are_refused_at_init_naming_the_variable() {
        let mut env = local_env();
        env.insert("LINLI_POS_MASTER_KEY".into(), "short".into());
        let err = Settings::from_source(&env).err().unwrap();
        assert!(err.to_string().starts_with("LINLI_POS_MASTER_KEY"), "{err}");
    }
}
