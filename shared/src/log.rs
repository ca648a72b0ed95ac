//! Logging for every function (STYLE 17): `tracing` as JSON lines, one per event, level from
//! `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls) or else `RUST_LOG` (the template's
//! `LogLevel`), `info` when neither is set.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; call once, first thing in `main`.
pub fn init_json() {
    let filter = EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .init();
}
