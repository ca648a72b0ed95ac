//! SQS event-source mappings as Lambda runs them: receive up to BatchSize messages, invoke the
//! function with an `aws:sqs` event, delete what succeeded. With `ReportBatchItemFailures` only
//! the reported messages stay; an error fails the whole batch. Failed messages become visible
//! again after a short local retry delay (the queue's own visibility timeout is meant for
//! Lambda's wall clock), and the SQS stand-in moves them to the DLQ after maxReceiveCount.
//! One poller per queue, one batch at a time, so FIFO groups keep their order.

use crate::invoke::Invoker;
use crate::stack::QueueSource;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use serde_json::{json, Map, Value as Json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Where a poller delivers and how.
#[derive(Clone, Debug)]
pub struct Poller {
    pub function_logical_id: String,
    pub invoke_name: String,
    pub timeout_s: u64,
    pub source: QueueSource,
    pub region: String,
    /// How long a failed message stays invisible before its retry, locally.
    pub retry_after: Duration,
}

/// The `Records` of an SQS event.
pub fn event(messages: &[Message], queue_arn: &str, region: &str) -> Json {
    let records: Vec<Json> = messages
        .iter()
        .map(|m| {
            let mut attributes = Map::new();
            for (name, value) in m.attributes().into_iter().flatten() {
                attributes.insert(name.as_str().to_owned(), json!(value));
            }
            let mut message_attributes = Map::new();
            for (name, value) in m.message_attributes().into_iter().flatten() {
                message_attributes.insert(
                    name.clone(),
                    json!({
                        "stringValue": value.string_value(),
                        "dataType": value.data_type(),
                        "stringListValues": [],
                        "binaryListValues": [],
                    }),
                );
            }
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body().unwrap_or_default(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Which messages of the batch failed, per the function's answer. An answer naming an id that
/// is not in the batch fails the whole batch, as Lambda does.
pub fn failed_ids(
    messages: &[Message],
    output: Option<&Json>,
    report_failures: bool,
) -> HashSet<String> {
    let all = || {
        messages
            .iter()
            .filter_map(|m| m.message_id().map(str::to_owned))
            .collect()
    };
    let Some(output) = output else { return all() };
    if !report_failures {
        return HashSet::new();
    }
    let Some(failures) = output.get("batchItemFailures").and_then(Json::as_array) else {
        return HashSet::new();
    };
    let batch: HashSet<String> = all();
    let mut failed = HashSet::new();
    for failure in failures {
        match failure.get("itemIdentifier").and_then(Json::as_str) {
            Some(id) if batch.contains(id) => {
                failed.insert(id.to_owned());
            }
            _ => return batch,
        }
    }
    failed
}

impl Poller {
    /// Polls until the process ends.
    pub async fn run(self, sqs: aws_sdk_sqs::Client, invoker: Arc<Invoker>) {
        loop {
            if let Err(e) = self.once(&sqs, &invoker).await {
                tracing::warn!(function = %self.function_logical_id, queue = %self.source.queue_url, error = %e, "polling failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn once(&self, sqs: &aws_sdk_sqs::Client, invoker: &Invoker) -> Result<(), String> {
        let received = sqs
            .receive_message()
            .queue_url(&self.source.queue_url)
            .max_number_of_messages(self.source.batch_size)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(());
        }
        let event = event(&messages, &self.source.queue_arn, &self.region);
        let invoked = invoker
            .invoke(&self.invoke_name, self.timeout_s, &event)
            .await;
        let output = match &invoked {
            Ok(i) => Some(&i.output),
            Err(e) => {
                tracing::error!(function = %self.function_logical_id, event = %self.source.event, messages = messages.len(), error = %e, "batch failed: every message will be retried");
                None
            }
        };
        let failed = failed_ids(&messages, output, self.source.report_failures);
        if !failed.is_empty() && output.is_some() {
            tracing::info!(function = %self.function_logical_id, event = %self.source.event, failed = failed.len(), of = messages.len(), "batch item failures reported");
        }
        let mut done = Vec::new();
        for m in &messages {
            let (Some(id), Some(handle)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            if failed.contains(id) {
                let retry = i32::try_from(self.retry_after.as_secs()).unwrap_or(1);
                let _ = sqs
                    .change_message_visibility()
                    .queue_url(&self.source.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(retry)
                    .send()
                    .await;
            } else {
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{}", done.len()))
                    .receipt_handle(handle)
                    .build()
                    .map_err(|e| e.to_string())?;
                done.push(entry);
            }
        }
        if !done.is_empty() {
            sqs.delete_message_batch()
                .queue_url(&self.source.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        }
        Ok(())
    }
}

/// The queue's message count (visible + in flight), for tests and health.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, String> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
        .attributes
        .unwrap_or_default();
    Ok(attributes
        .values()
        .filter_map(|v| v.parse::<u64>().ok())
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Vec<Message> {
        ["a", "b", "c"]
            .iter()
            .map(|id| {
                Message::builder()
                    .message_id(*id)
                    .receipt_handle(format!("h-{id}"))
                    .body("{}")
                    .build()
            })
            .collect()
    }

    #[test]
    fn reported_failures_fail_only_those_messages() {
        let out = json!({"batchItemFailures": [{"itemIdentifier": "b"}]});
        assert_eq!(
            failed_ids(&batch(), Some(&out), true),
            HashSet::from(["b".to_owned()])
        );
        assert!(failed_ids(&batch(), Some(&json!({"batchItemFailures": []})), true).is_empty());
        assert!(failed_ids(&batch(), Some(&json!(null)), true).is_empty());
    }

    #[test]
    fn an_error_or_an_unknown_id_fails_the_whole_batch() {
        assert_eq!(failed_ids(&batch(), None, true).len(), 3);
        let stranger = json!({"batchItemFailures": [{"itemIdentifier": "zzz"}]});
        assert_eq!(failed_ids(&batch(), Some(&stranger), true).len(), 3);
        let without_report = json!({"batchItemFailures": [{"itemIdentifier": "b"}]});
        assert!(
            failed_ids(&batch(), Some(&without_report), false).is_empty(),
            "not enabled: ignored"
        );
    }

    #[test]
    fn the_event_names_the_queue_and_carries_bodies() {
        let e = event(
            &batch(),
            "arn:aws:sqs:cn-north-1:123456789012:q",
            "cn-north-1",
        );
        assert_eq!(e["Records"][1]["messageId"], "b");
        assert_eq!(e["Records"][0]["eventSource"], "aws:sqs");
        assert_eq!(
            e["Records"][0]["eventSourceARN"],
            "arn:aws:sqs:cn-north-1:123456789012:q"
        );
    }
}
