//! The devstack's HTTP face on 127.0.0.1:3000: the template's HttpApi routes (everything not
//! under `/_local`), and the local controls — health, clock, schedules and the stand-ins.

use crate::clock::Clock;
use crate::http_api::{self, RouteEntry};
use crate::invoke::Invoker;
use crate::schedules;
use crate::stack::Function;
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// API Gateway HTTP APIs accept up to 10 MB.
const MAX_REQUEST: usize = 10 * 1024 * 1024;

pub struct Inner {
    pub functions: Vec<Function>,
    /// The emulator's name for each function, by index.
    pub invoke_names: Vec<String>,
    pub routes: Vec<RouteEntry>,
    pub clock: Arc<Clock>,
    pub invoker: Arc<Invoker>,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub region: String,
    pub account: String,
    pub emulator_port: u16,
    pub stand_ins: Vec<&'static str>,
    /// Logical id → what `!Ref` gives (table names, queue URLs, …), for `GET /_local/stack`.
    pub resources: std::collections::BTreeMap<String, String>,
}

pub type App = Arc<Inner>;

pub fn router(app: App, stand_ins: Router) -> Router {
    Router::new()
        .route("/_local/health", get(health))
        .route("/_local/clock", get(clock_now).post(clock_shift))
        .route("/_local/stack", get(describe))
        .route(
            "/_local/schedules/{logical_id}/{event}",
            post(fire_schedule),
        )
        .fallback(http_route)
        .with_state(app)
        .merge(stand_ins)
}

fn request_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "message": message.into() }))).into_response()
}

async fn http_route(State(app): State<App>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let Some((route, params)) = http_api::find(&app.routes, &method, &path) else {
        tracing::info!(%method, %path, "no route: 404");
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let Ok(body) = to_bytes(body, MAX_REQUEST).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let function = &app.functions[route.function];
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let request = http_api::Request {
        method: &method,
        path: &path,
        query: parts.uri.query().unwrap_or_default(),
        headers,
        body: &body,
        source_ip: "127.0.0.1".to_owned(),
        host,
    };
    let id = request_id();
    let event = http_api::event(&request, route, &params, app.clock.now_ms(), &id);
    let name = &app.invoke_names[route.function];
    match app.invoker.invoke(name, function.timeout_s, &event).await {
        Ok(invoked) => {
            let answer = http_api::answer(&invoked.output);
            tracing::info!(function = %function.logical_id, %method, %path, status = answer.status, ms = invoked.elapsed.as_millis() as u64, "request");
            let mut response = Response::new(Body::from(answer.body));
            *response.status_mut() =
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            for (name, value) in answer.headers {
                if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    response.headers_mut().append(n, v);
                }
            }
            response.headers_mut().insert(
                "apigw-requestid",
                HeaderValue::try_from(id).unwrap_or(HeaderValue::from_static("-")),
            );
            response
        }
        Err(e) => {
            tracing::error!(function = %function.logical_id, %method, %path, error = %e, "function failed: 502");
            (
                StatusCode::BAD_GATEWAY,
                Json(json!({ "message": "Internal Server Error", "devstack": e.to_string() })),
            )
                .into_response()
        }
    }
}

/// What the template became locally: resources by logical id, functions with their events.
async fn describe(State(app): State<App>) -> Json<Value> {
    let functions: Vec<Value> = app
        .functions
        .iter()
        .zip(&app.invoke_names)
        .map(|(f, invoke)| {
            json!({
                "logical_id": f.logical_id,
                "invoke_name": invoke,
                "routes": f.routes.iter().map(|(e, r)| json!({"event": e, "method": r.method, "path": r.path})).collect::<Vec<_>>(),
                "queues": f.queues.iter().map(|q| json!({"event": q.event, "url": q.queue_url, "batch_size": q.batch_size})).collect::<Vec<_>>(),
                "schedules": f.schedules.iter().map(|s| json!({"event": s.event, "expression": s.expression})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "resources": app.resources, "functions": functions }))
}

async fn clock_now(State(app): State<App>) -> Json<Value> {
    Json(json!({ "now": app.clock.now_rfc3339(), "epoch_ms": app.clock.now_ms() }))
}

async fn clock_shift(State(app): State<App>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            r#"expected {"now": RFC 3339} or {"advance": "25m"}"#,
        );
    };
    let shifted = match (
        body.get("now").and_then(Value::as_str),
        body.get("advance").and_then(Value::as_str),
    ) {
        (Some(now), None) => app.clock.set(now),
        (None, Some(by)) => app.clock.advance(by),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                r#"expected {"now": RFC 3339} or {"advance": "25m"}"#,
            )
        }
    };
    match shifted {
        Ok(()) => {
            tracing::info!(now = %app.clock.now_rfc3339(), "clock shifted");
            clock_now(State(app)).await.into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn fire_schedule(
    State(app): State<App>,
    Path((logical_id, event_name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let found = app.functions.iter().enumerate().find_map(|(i, f)| {
        (f.logical_id == logical_id)
            .then(|| {
                f.schedules
                    .iter()
                    .find(|s| s.event == event_name)
                    .map(|s| (i, f, s))
            })
            .flatten()
    });
    let Some((index, function, schedule)) = found else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no schedule {event_name} on {logical_id} in the template"),
        );
    };
    let time = match serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b.get("time").and_then(Value::as_str).map(str::to_owned))
    {
        Some(time) => match chrono::DateTime::parse_from_rfc3339(&time) {
            Ok(t) => t
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("time is not RFC 3339: {time}"),
                )
            }
        },
        None => app.clock.now_rfc3339(),
    };
    let arn = format!(
        "arn:aws:scheduler:{}:{}:schedule/default/{logical_id}-{event_name}",
        app.region, app.account
    );
    let event = schedules::event(schedule.input.as_deref(), &time, &arn, &request_id());
    match app
        .invoker
        .invoke(&app.invoke_names[index], function.timeout_s, &event)
        .await
    {
        Ok(invoked) => {
            tracing::info!(function = %logical_id, schedule = %event_name, %time, "schedule fired");
            Json(invoked.output).into_response()
        }
        Err(e) => {
            tracing::error!(function = %logical_id, schedule = %event_name, error = %e, "schedule failed: 502");
            (
                StatusCode::BAD_GATEWAY,
                Json(json!({ "message": "function failed", "devstack": e.to_string() })),
            )
                .into_response()
        }
    }
}

async fn health(State(app): State<App>) -> Response {
    let timeout = Duration::from_secs(2);
    let dynamodb = tokio::time::timeout(timeout, app.dynamodb.list_tables().limit(1).send());
    let sqs = tokio::time::timeout(timeout, app.sqs.list_queues().max_results(1).send());
    let emulator = tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect(("127.0.0.1", app.emulator_port)),
    );
    let (dynamodb, sqs, emulator) = tokio::join!(dynamodb, sqs, emulator);
    let up = |ok: bool| if ok { "up" } else { "down" };
    let components = json!({
        "dynamodb": up(matches!(dynamodb, Ok(Ok(_)))),
        "sqs": up(matches!(sqs, Ok(Ok(_)))),
        "emulator": up(matches!(emulator, Ok(Ok(_)))),
        "stand_ins": app.stand_ins,
        "functions": app.functions.iter().map(|f| &f.logical_id).collect::<Vec<_>>(),
    });
    let healthy = ["dynamodb", "sqs", "emulator"]
        .iter()
        .all(|c| components[c] == "up");
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({ "status": if healthy { "up" } else { "down" }, "components": components, "now": app.clock.now_rfc3339() }))).into_response()
}
