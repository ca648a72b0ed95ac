//! The one way the devstack runs a function: the Lambda Invoke API
//! (`POST /2015-03-31/functions/{name}/invocations`), served by cargo-lambda or SAM CLI.
//! Function errors, timeouts and init failures come back as `InvokeError`s with a clear reason.

use serde_json::Value as Json;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The function ran and failed (returned an error or panicked).
    #[error("{function} failed: {kind}: {message}")]
    Function {
        function: String,
        kind: String,
        message: String,
    },
    /// No answer in time: the function outlived its timeout, or it failed at init.
    #[error(
        "{function} did not answer within {seconds} s (timeout, or a failure at init: see its log)"
    )]
    Timeout { function: String, seconds: u64 },
    /// The emulator could not be reached or does not know the function.
    #[error("{function}: the emulator answered {status}: {detail}")]
    Emulator {
        function: String,
        status: u16,
        detail: String,
    },
    #[error("{function}: the emulator is unreachable at {url}: {why}")]
    Unreachable {
        function: String,
        url: String,
        why: String,
    },
}

#[derive(Debug)]
pub struct Invoker {
    http: reqwest::Client,
    base: String,
    /// Added to each function's timeout: process start-up and the emulator's own work.
    grace: Duration,
    /// Functions that have answered once. A function's first invocation also pays for starting
    /// its process (cargo-lambda runs `cargo run`, which checks the build), so it gets more time.
    warm: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Extra time for a function's first invocation.
const COLD_GRACE: Duration = Duration::from_secs(10);

/// What an invocation returned and how long it took.
#[derive(Clone, Debug)]
pub struct Invoked {
    pub output: Json,
    pub elapsed: Duration,
}

impl Invoker {
    pub fn new(base: impl Into<String>, grace: Duration) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.into().trim_end_matches('/').to_owned(),
            grace,
            warm: std::sync::Mutex::default(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Invokes `function` (the emulator's name for it) with `event`, waiting at most its
    /// `timeout_s` plus the grace.
    pub async fn invoke(
        &self,
        function: &str,
        timeout_s: u64,
        event: &Json,
    ) -> Result<Invoked, InvokeError> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let cold = !self
            .warm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(function);
        let limit = Duration::from_secs(timeout_s)
            + self.grace
            + if cold { COLD_GRACE } else { Duration::ZERO };
        let started = Instant::now();
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                InvokeError::Timeout {
                    function: function.to_owned(),
                    seconds: limit.as_secs(),
                }
            } else {
                InvokeError::Unreachable {
                    function: function.to_owned(),
                    url: url.clone(),
                    why: e.to_string(),
                }
            }
        };
        let response = self
            .http
            .post(&url)
            .json(event)
            .timeout(limit)
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        let function_error = response.headers().get("x-amz-function-error").is_some();
        let body = response.bytes().await.map_err(failed)?;
        self.warm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(function.to_owned());
        // SAM CLI answers a function that timed out or died at init with an empty 200; a Lambda
        // answer is never empty (a `null` result is the 4 bytes `null`).
        if body.is_empty() && status.is_success() {
            return Err(InvokeError::Timeout {
                function: function.to_owned(),
                seconds: timeout_s,
            });
        }
        // A function's answer is JSON; SAM CLI reports a timeout as plain text ("Task timed out
        // after 2.00 seconds") on a 200.
        let output: Json = match serde_json::from_slice(&body) {
            Ok(json) => json,
            Err(_) => {
                let text = String::from_utf8_lossy(&body).into_owned();
                if text.contains("timed out") {
                    return Err(InvokeError::Timeout {
                        function: function.to_owned(),
                        seconds: timeout_s,
                    });
                }
                Json::String(text)
            }
        };
        let elapsed = started.elapsed();
        // cargo-lambda answers a failure with a 500; SAM CLI's RIE with a 200 (sometimes with an
        // `X-Amz-Function-Error` header). Either way the body is Lambda's error object.
        if function_error || is_error_object(&output) {
            let kind = output["errorType"]
                .as_str()
                .unwrap_or("Unhandled")
                .to_owned();
            if kind.contains("Timedout") || kind.contains("Timeout") {
                return Err(InvokeError::Timeout {
                    function: function.to_owned(),
                    seconds: timeout_s,
                });
            }
            return Err(InvokeError::Function {
                function: function.to_owned(),
                kind,
                message: output["errorMessage"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        if !status.is_success() {
            let detail = output
                .get("detail")
                .or_else(|| output.get("message"))
                .map(|d| {
                    d.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| d.to_string())
                })
                .unwrap_or_else(|| output.to_string());
            return Err(InvokeError::Emulator {
                function: function.to_owned(),
                status: status.as_u16(),
                detail,
            });
        }
        Ok(Invoked { output, elapsed })
    }
}

/// Lambda's error object: `errorMessage` and/or `errorType`, and nothing but the fields an error
/// carries. A function's ordinary answer never has this shape.
fn is_error_object(output: &Json) -> bool {
    let Some(object) = output.as_object() else {
        return false;
    };
    let known = [
        "errorMessage",
        "errorType",
        "stackTrace",
        "requestId",
        "trace",
        "cause",
    ];
    (object.contains_key("errorMessage") || object.contains_key("errorType"))
        && object.keys().all(|k| known.contains(&k.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_objects_are_told_from_answers() {
        assert!(is_error_object(
            &json!({"errorType": "Runtime.ExitError", "errorMessage": "exit status 1"})
        ));
        assert!(is_error_object(
            &json!({"errorMessage": "boom", "stackTrace": []})
        ));
        assert!(!is_error_object(
            &json!({"statusCode": 200, "errorMessage": "shown to the user"})
        ));
        assert!(!is_error_object(&json!("errorMessage")));
    }
}
