//! `courier-webhook`: the courier platforms' status callbacks behind
//! `POST /courier/{platform}/callback/{token}` (DESIGN §2, §6).
//!
//! - `platform` is `dada`, `sf` or `meituan` (anything else: 404).
//! - `token` must match: for Dada the token of the delivery the callback names (each waybill
//!   is created with its own callback URL, and Dada's md5 has no secret), for SF同城 and Meituan
//!   the platform's path secret (`SF_CALLBACK_TOKEN`, `MEITUAN_CALLBACK_TOKEN`). Unknown → 404.
//! - Then the platform's own signature (`linli::courier::callback`): bad → 401, unreadable →
//!   400, above 64 KiB → 413.
//! - The report moves the order's waybill forward only (`Dispatch::track`, a conditional write
//!   on the dispatch's version, which every move bumps): repeats and late reports change
//!   nothing, the first final state wins, a new rider is recorded. A platform's cancellation
//!   redispatches once; Delivered after the first promise asks `compensation-grant`, which
//!   re-queries the platform before granting anything.
//! - Answered with the body each platform expects; 503 when the state could not be recorded
//!   (DynamoDB or SQS failed, or the waybill's creation is still being answered), so the
//!   platform calls again. "Now" is the request's `requestContext.timeEpoch`.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use linli::courier::callback::{self, Callback, CallbackError};
use linli::courier::client::CourierConfig;
use linli::courier::follow::{follow, FollowError, Followed, Queues};
use linli::courier::Platform;
use linli::ids::OrderId;
use linli::order::Order;
use linli::queue::Publisher;
use linli::store::orders::OrderStore;
use linli::time::BusinessTime;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tracing::Instrument;

/// Bodies above this are refused with 413 (a callback is well under 2 KiB).
pub const MAX_BODY: usize = 64 * 1024;

pub struct App<O> {
    pub orders: O,
    pub publisher: Publisher,
    pub couriers: CourierConfig,
    pub queues: Queues,
}

/// Why a callback was not taken.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("only POST")]
    Method,
    #[error("body of {0} bytes is above 64 KiB")]
    TooLarge(usize),
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("bad signature")]
    BadSignature,
    #[error("the waybill's creation is still being recorded")]
    NotYet,
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("not an API Gateway v2 request")]
    NotApiGateway,
}

pub async fn handle<O: OrderStore + Sync>(app: &App<O>, request: Request) -> Response<Body> {
    let span = tracing::info_span!(
        "courier_callback",
        request_id = request_id(&request),
        function = "courier-webhook",
    );
    async {
        match route(app, &request).await {
            Ok(response) => response,
            Err(refused) => refusal(&refused),
        }
    }
    .instrument(span)
    .await
}

async fn route<O: OrderStore + Sync>(
    app: &App<O>,
    request: &Request,
) -> Result<Response<Body>, Refused> {
    let now = now(request).ok_or(Refused::NotApiGateway)?;
    let path = request.raw_http_path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (platform, token) = match segments.as_slice() {
        ["courier", platform, "callback", token] => (*platform, *token),
        _ => return Err(Refused::NotFound(format!("no route {path}"))),
    };
    let platform = match platform {
        "dada" => Platform::Dada,
        "sf" => Platform::SfSameCity,
        "meituan" => Platform::Meituan,
        other => return Err(Refused::NotFound(format!("unknown platform {other:?}"))),
    };
    if request.method().as_str() != "POST" {
        return Err(Refused::Method);
    }
    let body = request.body().as_ref();
    if body.len() > MAX_BODY {
        return Err(Refused::TooLarge(body.len()));
    }
    let (callback, order) = match platform {
        Platform::Dada => dada(app, token, body).await?,
        _ => {
            let callback = signed(app, request, platform, token, body)?;
            (callback, None)
        }
    };
    let id = OrderId::parse(&callback.order_id)
        .map_err(|_| Refused::NotFound(format!("no order {:?}", callback.order_id)))?;
    let report = callback.report(now);
    let followed = follow(
        &app.orders,
        &app.publisher,
        &app.queues,
        &id,
        order,
        &report,
        now,
    )
    .await
    .map_err(|e| match e {
        FollowError::Store(e) => Refused::Unavailable(e.to_string()),
        FollowError::Queue(e) => Refused::Unavailable(e.to_string()),
        FollowError::Contended => Refused::Unavailable("the dispatch kept changing".into()),
    })?;
    match followed {
        Followed::NotYet => return Err(Refused::NotYet),
        Followed::NoDelivery => {
            return Err(Refused::NotFound(format!(
                "order {id} has no dispatched delivery"
            )))
        }
        Followed::Moved(_) => {}
        Followed::Unchanged(why) => {
            tracing::info!(order_id = %id, ?platform, code = callback.status_code, why, "callback changes nothing")
        }
    }
    Ok(text(200, callback::accepted(platform)))
}

/// Dada: the token must be the one the named delivery's waybill was created with.
async fn dada<O: OrderStore + Sync>(
    app: &App<O>,
    token: &str,
    body: &[u8],
) -> Result<(Callback, Option<Order>), Refused> {
    let named = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| match v.get("order_id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .ok_or_else(|| Refused::Malformed("no order_id".into()))?;
    let unknown = || Refused::NotFound("no Dada delivery has this token".into());
    let id = OrderId::parse(&named).map_err(|_| unknown())?;
    let order = app
        .orders
        .get(&id)
        .await
        .map_err(|e| Refused::Unavailable(e.to_string()))?
        .ok_or_else(unknown)?;
    let tokens = order.dispatch.iter().flat_map(|d| d.tries.iter());
    let known = tokens
        .filter(|t| t.platform == Platform::Dada)
        .filter_map(|t| t.token.as_deref())
        .any(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())));
    if !known {
        return Err(unknown());
    }
    let callback = callback::dada(body).map_err(refused_by)?;
    Ok((callback, Some(order)))
}

/// SF同城 and Meituan: the path secret, then the platform's signature.
fn signed(
    app: &App<impl Sync>,
    request: &Request,
    platform: Platform,
    token: &str,
    body: &[u8],
) -> Result<Callback, Refused> {
    let config = &app.couriers;
    let secret = match platform {
        Platform::SfSameCity => config.sf_callback_token.as_deref(),
        _ => config.meituan_callback_token.as_deref(),
    };
    let matches = secret.is_some_and(|s| bool::from(s.as_bytes().ct_eq(token.as_bytes())));
    if !matches {
        return Err(Refused::NotFound(format!(
            "{platform:?}: unknown callback token"
        )));
    }
    let parsed = match platform {
        Platform::SfSameCity => {
            let (_, sf) = config
                .sf
                .as_ref()
                .ok_or(Refused::NotFound("SF is not configured".into()))?;
            let params = request.query_string_parameters();
            callback::sf(body, params.first("sign").unwrap_or_default(), sf)
        }
        _ => {
            let (_, meituan) = config
                .meituan
                .as_ref()
                .ok_or(Refused::NotFound("Meituan is not configured".into()))?;
            callback::meituan(body, meituan)
        }
    };
    parsed.map_err(refused_by)
}

fn refused_by(error: CallbackError) -> Refused {
    match error {
        CallbackError::BadSignature => Refused::BadSignature,
        CallbackError::Malformed(why) => Refused::Malformed(why),
    }
}

fn refusal(refused: &Refused) -> Response<Body> {
    let (status, code) = match refused {
        Refused::NotFound(_) => (404, "not_found"),
        Refused::Method => (405, "method"),
        Refused::TooLarge(_) => (413, "too_large"),
        Refused::Malformed(_) => (400, "malformed"),
        Refused::BadSignature => (401, "bad_signature"),
        Refused::NotYet => (503, "not_yet"),
        Refused::Unavailable(_) => (503, "unavailable"),
        Refused::NotApiGateway => (400, "not_api_gateway"),
    };
    match refused {
        Refused::Unavailable(why) => tracing::error!(status, why, "callback not recorded"),
        Refused::NotYet => {
            tracing::warn!(
                status,
                "callback before its waybill was recorded: the platform retries"
            )
        }
        other => tracing::warn!(status, reason = %other, "callback refused"),
    }
    let body = json!({ "error": code }).to_string();
    text(status, &body)
}

fn text(status: u16, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_owned()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
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

#[cfg(test)]
mod tests {
    use super::*;
    use linli::courier::DeliveryState;
    use std::collections::BTreeMap;

    fn local_env() -> BTreeMap<String, String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/local/local.env");
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn sample(name: &str) -> Value {
        let path = format!(
            "{}/../../events/courier-webhook/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// Reads a sample the way the handler does (its path secret, then its signature).
    fn read(name: &str) -> Callback {
        let event = sample(name);
        let body = event["body"].as_str().unwrap().as_bytes();
        let config = CourierConfig::from_source(&local_env()).unwrap();
        let token = event["pathParameters"]["token"].as_str().unwrap();
        match event["pathParameters"]["platform"].as_str().unwrap() {
            "dada" => callback::dada(body).unwrap(),
            "sf" => {
                assert_eq!(config.sf_callback_token.as_deref(), Some(token));
                let sign = event["queryStringParameters"]["sign"].as_str().unwrap();
                callback::sf(body, sign, &config.sf.unwrap().1).unwrap()
            }
            _ => {
                assert_eq!(config.meituan_callback_token.as_deref(), Some(token));
                callback::meituan(body, &config.meituan.unwrap().1).unwrap()
            }
        }
    }

    #[test]
    fn every_sample_callback_verifies_and_reads_as_its_state() {
        let cases = [
            ("dada-accepted", DeliveryState::Accepted, false),
            ("dada-delivered", DeliveryState::Delivered, false),
            ("dada-cancelled-by-rider", DeliveryState::Cancelled, false),
            ("sf-delivered", DeliveryState::Delivered, false),
            ("sf-exception", DeliveryState::Dispatching, true),
            ("meituan-picked-up", DeliveryState::PickedUp, false),
            ("meituan-exception", DeliveryState::Dispatching, true),
        ];
        for (name, state, exception) in cases {
            let callback = read(name);
            assert_eq!(
                (callback.state, callback.exception),
                (state, exception),
                "{name}"
            );
            assert_eq!(callback.order_id, "01KAV2Z0X0SAMPLE0RDER00001", "{name}");
            assert_eq!(callback.at, 1_795_521_600, "{name}");
        }
        let rider = read("dada-cancelled-by-rider");
        assert_eq!(
            rider.cancelled_by,
            Some(linli::order::CancelledBy::Platform)
        );
    }
}
