//! EventBridge Scheduler targets: the template's `Input` with the scheduler's context attributes
//! filled in from the devstack clock.

use serde_json::{json, Value as Json};

/// The event a schedule delivers at `time` (RFC 3339): `Input` with `<aws.scheduler.*>`
/// substituted, parsed as JSON (a non-JSON input is delivered as a string); `{}` without input.
pub fn event(input: Option<&str>, time: &str, schedule_arn: &str, execution_id: &str) -> Json {
    let Some(input) = input else { return json!({}) };
    let text = input
        .replace("<aws.scheduler.scheduled-time>", time)
        .replace("<aws.scheduler.schedule-arn>", schedule_arn)
        .replace("<aws.scheduler.execution-id>", execution_id)
        .replace("<aws.scheduler.attempt-number>", "1");
    serde_json::from_str(&text).unwrap_or(Json::String(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduled_time_is_substituted_into_the_input() {
        let e = event(
            Some(r#"{"kind": "Cutoff", "time": "<aws.scheduler.scheduled-time>"}"#),
            "2026-11-24T12:00:00.000Z",
            "arn:aws:scheduler:cn-north-1:123456789012:schedule/default/x",
            "e-1",
        );
        assert_eq!(
            e,
            json!({"kind": "Cutoff", "time": "2026-11-24T12:00:00.000Z"})
        );
        assert_eq!(event(None, "t", "a", "e"), json!({}));
        assert_eq!(
            event(Some("plain <aws.scheduler.attempt-number>"), "t", "a", "e"),
            json!("plain 1")
        );
    }
}
