//! CloudWatch metrics without a metrics SDK: one log line in the Embedded Metric Format, which
//! CloudWatch Logs turns into metric data points (namespace `Linli`, dimension `Stage`).
//! An EMF line must be the whole log event, a JSON object with `_aws` at its top, so it is
//! written to stdout as is rather than as a field of a `tracing` line.

use linli::time::BusinessTime;
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
