//! `wechat-callback`: the Official Account's server URL (`GET/POST /wechat/callback`, DESIGN §6).
//!
//! - GET: the URL check — `signature` over token, timestamp and nonce → `echostr` as text/plain;
//!   a bad or missing signature → 401.
//! - POST: a push. Refused before any work: > 64 KiB → 413, a timestamp outside ±5 min of the
//!   request time or a bad `signature` → 401. Safe mode (`encrypt_type=aes`, also in compatible
//!   mode): `msg_signature` over the body's `Encrypt` (401), decrypt with our AppID (a foreign
//!   AppID → 401; malformed → 400), and the reply goes back encrypted. Malformed XML, DOCTYPE or
//!   entities → 400.
//! - Each message is claimed in the `Dedup` table (`oa#<MsgId>` or sender + time + type + event +
//!   key, kept a day): a retry of a handled message gets the stored reply and causes nothing; a
//!   retry while the first is still being handled gets `success` (WeChat's "no reply").
//! - What a message does is in `interact.rs`; the reply goes out within WeChat's 5 s.

mod interact;

pub use linli::wechat::oa_token::TokenCache;

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use linli::config::{optional, required, ConfigError, Source};
use linli::rules::InteractionRules;
use linli::store::catalog::CatalogStore;
use linli::store::dedup::{Claim, DedupStore};
use linli::store::ledger::LedgerStore;
use linli::store::members::Members;
use linli::time::BusinessTime;
use linli::wechat::oa::{self, AesKey, Inbound, OaError, NO_REPLY};
use linli::wechat::xml::{self, XmlError, MAX_BODY};
use std::time::Duration;
use tokio::time::Instant;

/// The reply leaves within this (WeChat waits 5 s, the issue asks 4.5 s): the claim, the
/// effects and sealing the reply all fit inside it.
const REPLY_BUDGET: Duration = Duration::from_millis(4_300);

/// How long a message's dedup item is kept (WeChat retries within seconds; a day is ample).
const DEDUP_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// What the handler needs from the configuration (DESIGN §7).
pub struct Settings {
    pub appid: String,
    pub app_secret: String,
    pub token: String,
    /// None when no EncodingAESKey is configured: safe-mode pushes are then refused.
    pub aes_key: Option<AesKey>,
    pub wechat_api_base: String,
    pub points_queue: String,
    /// Keywords, menu keys, sign-in points, streak and daily cap (`LINLI_OA_INTERACTIONS`).
    pub interactions: InteractionRules,
}

impl Settings {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let aes_key = optional(source, "WECHAT_OA_ENCODING_AES_KEY")
            .map(|k| AesKey::from_encoding_aes_key(k.trim()))
            .transpose()
            .map_err(|e| ConfigError::Invalid {
                name: "WECHAT_OA_ENCODING_AES_KEY",
                why: e.to_string(),
            })?;
        Ok(Self {
            appid: required(source, "WECHAT_OA_APP_ID")?,
            app_secret: required(source, "WECHAT_OA_APP_SECRET")?,
            token: required(source, "WECHAT_OA_TOKEN")?,
            aes_key,
            wechat_api_base: optional(source, "WECHAT_API_BASE")
                .unwrap_or_else(|| "https://api.weixin.qq.com".to_owned()),
            points_queue: required(source, "QUEUE_POINTS_POSTINGS")?,
            interactions: InteractionRules::from_source(source)?,
        })
    }
}

pub struct App<L, M, C, D> {
    pub ledger: L,
    pub members: M,
    pub catalog: C,
    pub dedup: D,
    pub publisher: linli::queue::Publisher,
    pub http: reqwest::Client,
    pub tokens: TokenCache,
    pub settings: Settings,
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    answer(status, "text/plain; charset=utf-8", text.to_owned())
}

/// The one place errors become answers (STYLE 7).
fn reply_for(error: &OaError) -> Response<Body> {
    let status = match error {
        OaError::BadSignature | OaError::StaleTimestamp | OaError::ForeignAppId => {
            StatusCode::UNAUTHORIZED
        }
        OaError::TooLarge | OaError::Xml(XmlError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    tracing::warn!(reason = %error, status = status.as_u16(), "callback refused");
    plain(status, &error.to_string())
}

/// The request's time (API Gateway's `timeEpoch`).
fn now(request: &Request) -> Option<BusinessTime> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => BusinessTime::from_epoch_ms(ctx.time_epoch).ok(),
        _ => None,
    }
}

pub async fn handle<L, M, C, D>(app: &App<L, M, C, D>, request: Request) -> Response<Body>
where
    L: LedgerStore,
    M: Members,
    C: CatalogStore,
    D: DedupStore,
{
    let Some(now) = now(&request) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "not an API Gateway HTTP API request",
        );
    };
    let params = request.query_string_parameters();
    let param = |name: &str| params.first(name).unwrap_or_default().to_owned();
    let token = &app.settings.token;
    let signed = oa::verify_signature(
        token,
        &param("timestamp"),
        &param("nonce"),
        &param("signature"),
    );
    match request.method().as_str() {
        "GET" => match signed {
            Ok(()) => plain(StatusCode::OK, &param("echostr")),
            Err(e) => reply_for(&e),
        },
        "POST" => {
            let body = request.body().as_ref();
            if body.len() > MAX_BODY {
                return reply_for(&OaError::TooLarge);
            }
            let checked =
                oa::verify_timestamp(&param("timestamp"), now.epoch_seconds()).and(signed);
            if let Err(e) = checked {
                return reply_for(&e);
            }
            let safe_mode = param("encrypt_type") == "aes";
            let inner = if safe_mode {
                match open_envelope(
                    &app.settings,
                    body,
                    &param("timestamp"),
                    &param("nonce"),
                    &param("msg_signature"),
                ) {
                    Ok(inner) => inner,
                    Err(e) => return reply_for(&e),
                }
            } else {
                String::from_utf8_lossy(body).into_owned()
            };
            let inbound = match Inbound::parse(inner.as_bytes()) {
                Ok(inbound) => inbound,
                Err(e) => return reply_for(&e),
            };
            let reply = respond(app, &inbound, now).await;
            seal(&app.settings, reply, safe_mode, now)
        }
        _ => plain(StatusCode::METHOD_NOT_ALLOWED, "GET or POST"),
    }
}

/// Safe mode: the `Encrypt` field, its `msg_signature`, decrypted with our AppID.
fn open_envelope(
    settings: &Settings,
    body: &[u8],
    timestamp: &str,
    nonce: &str,
    msg_signature: &str,
) -> Result<String, OaError> {
    let outer = xml::parse_borrowed(body)?;
    let encrypt = outer
        .get("Encrypt")
        .filter(|e| !e.is_empty())
        .ok_or(OaError::MissingField("Encrypt"))?;
    oa::verify_msg_signature(&settings.token, timestamp, nonce, encrypt, msg_signature)?;
    let key = settings.aes_key.as_ref().ok_or(OaError::ForeignAppId)?;
    oa::decrypt(key, encrypt, &settings.appid)
}

/// The reply XML for `inbound`, once per message (Dedup).
async fn respond<L, M, C, D>(app: &App<L, M, C, D>, inbound: &Inbound, now: BusinessTime) -> String
where
    L: LedgerStore,
    M: Members,
    C: CatalogStore,
    D: DedupStore,
{
    let key = format!("oa#{}", inbound.dedup_key());
    match app.dedup.claim(&key, now, DEDUP_TTL_MS).await {
        Ok(Claim::Fresh) => {}
        Ok(Claim::Done(reply)) => {
            tracing::info!(member = %inbound.from_user.masked(), "repeat of a handled message: stored reply");
            return reply;
        }
        Ok(Claim::InProgress) => return NO_REPLY.to_owned(),
        // Without the claim the effect could double; postings are idempotent, so go on.
        Err(e) => tracing::error!(error = %e, "dedup claim failed; handling anyway"),
    }
    let deadline = Instant::now() + REPLY_BUDGET;
    let content = match tokio::time::timeout_at(
        deadline,
        interact::respond(app, inbound, now, deadline),
    )
    .await
    {
        Ok(content) => content,
        Err(_) => {
            // WeChat stops waiting at 5 s. The claim stays unfinished, so a retry after it goes
            // stale is handled again; postings are idempotent, so nothing happens twice.
            tracing::warn!(member = %inbound.from_user.masked(), "reply budget spent: answered success");
            return NO_REPLY.to_owned();
        }
    };
    let reply = match content {
        Some(text) => oa::text_reply(
            &inbound.from_user,
            &inbound.to_user,
            now.epoch_seconds(),
            &text,
        ),
        None => NO_REPLY.to_owned(),
    };
    if let Err(e) = app.dedup.complete(&key, &reply).await {
        tracing::error!(error = %e, "dedup completion failed; a retry will be handled again");
    }
    reply
}

/// The HTTP answer: the reply as is, or encrypted in safe mode (`success` stays plain).
fn seal(settings: &Settings, reply: String, safe_mode: bool, now: BusinessTime) -> Response<Body> {
    let key = settings
        .aes_key
        .as_ref()
        .filter(|_| safe_mode && reply != NO_REPLY);
    let Some(key) = key else {
        let content_type = if reply == NO_REPLY {
            "text/plain; charset=utf-8"
        } else {
            "application/xml; charset=utf-8"
        };
        return answer(StatusCode::OK, content_type, reply);
    };
    let nonce = format!("{}", fastrand::u32(100_000_000..1_000_000_000));
    let mut random_prefix = [0u8; 16];
    if let Err(e) = getrandom::fill(&mut random_prefix) {
        // The OS refused randomness (never seen on Lambda): a fresh, if weaker, prefix.
        tracing::warn!(error = %e, "getrandom failed; using fastrand for the reply prefix");
        random_prefix.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    let sealed = oa::encrypted_reply(
        key,
        &settings.token,
        &settings.appid,
        &reply,
        now.epoch_seconds(),
        &nonce,
        random_prefix,
    );
    answer(StatusCode::OK, "application/xml; charset=utf-8", sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli::wechat::oa::{Event, Message};
    use serde_json::Value;

    fn local(name: &str) -> String {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../infra/local/local.env"
        ))
        .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
            .unwrap()
    }

    fn event(name: &str) -> Value {
        let path = format!(
            "{}/../../events/wechat-callback/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// Checks a sample as the handler does (signature, safe mode) and returns its message.
    fn open(name: &str) -> Option<Message> {
        let e = event(name);
        let q = |k: &str| {
            e["queryStringParameters"][k]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let token = local("WECHAT_OA_TOKEN");
        oa::verify_signature(&token, &q("timestamp"), &q("nonce"), &q("signature")).unwrap();
        let body = e["body"].as_str()?;
        let settings = Settings {
            appid: local("WECHAT_OA_APP_ID"),
            app_secret: String::new(),
            token,
            aes_key: Some(
                AesKey::from_encoding_aes_key(&local("WECHAT_OA_ENCODING_AES_KEY")).unwrap(),
            ),
            wechat_api_base: String::new(),
            points_queue: String::new(),
            interactions: InteractionRules::default(),
        };
        let inner = if q("encrypt_type") == "aes" {
            open_envelope(
                &settings,
                body.as_bytes(),
                &q("timestamp"),
                &q("nonce"),
                &q("msg_signature"),
            )
            .unwrap()
        } else {
            body.to_owned()
        };
        Some(Inbound::parse(inner.as_bytes()).unwrap().message)
    }

    #[test]
    fn the_sample_events_are_signed_with_the_local_settings_and_parse() {
        assert_eq!(open("verify"), None, "a GET has no body");
        assert_eq!(
            open("subscribe"),
            Some(Message::Event(Event::Subscribe { scene: None }))
        );
        assert_eq!(open("subscribe-encrypted"), open("subscribe"));
        assert!(
            matches!(open("subscribe-invite"), Some(Message::Event(Event::Subscribe { scene: Some(s) })) if s.starts_with("i_"))
        );
        assert!(matches!(
            open("scan"),
            Some(Message::Event(Event::Scan { .. }))
        ));
        assert_eq!(
            open("unsubscribe"),
            Some(Message::Event(Event::Unsubscribe))
        );
        assert_eq!(
            open("click-sign-in"),
            Some(Message::Event(Event::Click {
                key: "SIGN_IN".into()
            }))
        );
        assert!(
            matches!(open("text-balance"), Some(Message::Text { content, .. }) if content == "积分")
        );
        assert!(matches!(
            open("location"),
            Some(Message::Event(Event::Location { .. }))
        ));
    }
}
