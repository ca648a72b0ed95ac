//! CloudWatch metrics without a metrics SDK: one log line in the Embedded Metric Format, which
//! CloudWatch Logs turns into metric data points (namespace `Linli`, dimension `Stage`). The
//! business metrics the dashboard shows come from where each fact is decided once: points
//! issued, redeemed and compensated from a posting's first write (`store::ledger`), paid orders
//! from pay-notify's first marking, anomalies from their first record, deliveries from courier
//! states and compensations.
//! An EMF line must be the whole log event, a JSON object with `_aws` at its top, so it is
//! written to stdout as is rather than as a field of a `tracing` line.

use crate::time::BusinessTime;
use serde_json::{json, Value};
use std::io::Write;

pub const NAMESPACE: &str = "Linli";

/// The EMF line for `metrics` (name, count) at `at`, under dimension `Stage` = `stage`, with
/// `context` fields added for whoever reads the log.
pub fn emf_line(
    stage: &str,
    at: BusinessTime,
    metrics: &[(&str, u64)],
    context: &[(&str, Value)],
) -> Value {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _)| json!({ "Name": name, "Unit": "Count" }))
        .collect();
    let mut line = json!({
        "_aws": {
            "Timestamp": at.epoch_ms(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Stage"]],
                "Metrics": definitions,
            }],
        },
        "Stage": stage,
    });
    if let Some(fields) = line.as_object_mut() {
        for (name, value) in metrics {
            fields.insert((*name).to_owned(), json!(value));
        }
        for (name, value) in context {
            fields.insert((*name).to_owned(), value.clone());
        }
    }
    line
}

/// The stage metrics are recorded under (`LINLI_STAGE`, read once; `local` when unset).
pub fn stage() -> &'static str {
    static STAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    STAGE.get_or_init(|| {
        std::env::var("LINLI_STAGE")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "local".to_owned())
    })
}

/// Whether this process is a Lambda function (`AWS_LAMBDA_FUNCTION_NAME`, set by Lambda and
/// the local emulators), whose stdout is its log. Elsewhere — `linli-admin`, tests, benches —
/// stdout is the user's, and metric lines would corrupt it.
fn in_lambda() -> bool {
    static IN_LAMBDA: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN_LAMBDA.get_or_init(|| std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some())
}

/// Records `metrics` at `at` under this process's stage, in a Lambda function only; a zero
/// count is left out, and nothing is written when all are zero.
pub fn record(at: BusinessTime, metrics: &[(&str, u64)], context: &[(&str, Value)]) {
    if !in_lambda() {
        return;
    }
    if let Some(line) = counted_line(stage(), at, metrics, context) {
        emit(&line);
    }
}

/// The EMF line of the non-zero `metrics`, if any.
fn counted_line(
    stage: &str,
    at: BusinessTime,
    metrics: &[(&str, u64)],
    context: &[(&str, Value)],
) -> Option<Value> {
    let counted: Vec<(&str, u64)> = metrics.iter().copied().filter(|(_, n)| *n > 0).collect();
    (!counted.is_empty()).then(|| emf_line(stage, at, &counted, context))
}

/// Writes `line` to stdout as one log event.
pub fn emit(line: &Value) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        tracing::error!(error = %e, "metric line not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_counts_are_left_out_and_all_zero_writes_nothing() {
        let at = BusinessTime::from_epoch_ms(1_764_000_000_000).unwrap();
        let line = counted_line(
            "prod",
            at,
            &[("PointsIssued", 30), ("PointsRedeemed", 0)],
            &[],
        );
        let line = line.unwrap();
        assert_eq!(line["PointsIssued"], 30);
        assert!(line.get("PointsRedeemed").is_none());
        let declared = &line["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert_eq!(declared.as_array().unwrap().len(), 1);
        assert!(counted_line("prod", at, &[("PointsIssued", 0)], &[]).is_none());
    }

    #[test]
    fn an_emf_line_declares_its_metrics_and_carries_their_values() {
        let at = BusinessTime::from_epoch_ms(1_764_036_000_000).unwrap();
        let line = emf_line(
            "prod",
            at,
            &[("AuditViolations", 2), ("AuditMembers", 40)],
            &[("date", json!("2025-11-25"))],
        );
        let aws = &line["_aws"];
        assert_eq!(aws["Timestamp"], 1_764_036_000_000_i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Linli");
        assert_eq!(directive["Dimensions"], json!([["Stage"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "AuditViolations", "Unit": "Count"}, {"Name": "AuditMembers", "Unit": "Count"}])
        );
        assert_eq!(line["Stage"], "prod");
        assert_eq!(line["AuditViolations"], 2);
        assert_eq!(line["AuditMembers"], 40);
        assert_eq!(line["date"], "2025-11-25");
        assert!(!line.to_string().contains('\n'), "one line");
    }
}
