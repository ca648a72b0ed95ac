//! Sends envelopes to SQS (DESIGN §9). On a FIFO queue the group is the envelope's member (one
//! member's postings apply in order) and the deduplication id is the envelope's deterministic id,
//! so a repeated send within SQS's 5-minute window is dropped by SQS itself; consumers are
//! idempotent for the repeats that come later.

use super::envelope::Envelope;
use aws_sdk_sqs::types::MessageAttributeValue;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS {operation} failed: {message}")]
    Sqs {
        operation: &'static str,
        message: String,
    },
}

impl QueueError {
    fn sqs(operation: &'static str, error: impl std::error::Error) -> Self {
        Self::Sqs {
            operation,
            message: aws_sdk_sqs::error::DisplayErrorContext(error).to_string(),
        }
    }
}

/// SQS allows deduplication ids of at most 128 characters; longer ids are hashed (stably).
pub fn dedup_id(id: &str) -> String {
    if id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) {
        id.to_owned()
    } else {
        hex::encode(Sha256::digest(id.as_bytes()))
    }
}

#[derive(Clone, Debug)]
pub struct Publisher {
    client: aws_sdk_sqs::Client,
}

impl Publisher {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self { client }
    }

    /// Sends `envelope` to `queue_url`; returns SQS's message id.
    pub async fn send(&self, queue_url: &str, envelope: &Envelope) -> Result<String, QueueError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(envelope.to_json());
        if queue_url.ends_with(".fifo") {
            let group = envelope
                .group()
                .map(ToString::to_string)
                .unwrap_or_else(|| envelope.id.clone());
            request = request
                .message_group_id(group)
                .message_deduplication_id(dedup_id(envelope.dedup_id()));
        }
        let sent = request
            .send()
            .await
            .map_err(|e| QueueError::sqs("SendMessage", e))?;
        tracing::info!(queue = queue_url, id = %envelope.id, "message sent");
        Ok(sent.message_id.unwrap_or_default())
    }

    /// Puts a message that can never be processed into `dlq_url` with the reason, so a human can
    /// look (DESIGN §9: permanent errors go straight to the DLQ). `group` keeps FIFO DLQs ordered.
    pub async fn dead_letter(
        &self,
        dlq_url: &str,
        body: &str,
        reason: &str,
        group: &str,
        dedup: &str,
    ) -> Result<(), QueueError> {
        let reason_value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason.chars().take(1024).collect::<String>())
            .build()
            .map_err(|e| QueueError::sqs("SendMessage", e))?;
        let mut request = self
            .client
            .send_message()
            .queue_url(dlq_url)
            .message_body(body)
            .message_attributes("reason", reason_value);
        if dlq_url.ends_with(".fifo") {
            request = request
                .message_group_id(group)
                .message_deduplication_id(dedup_id(dedup));
        }
        request
            .send()
            .await
            .map_err(|e| QueueError::sqs("SendMessage", e))?;
        tracing::warn!(queue = dlq_url, reason, "message dead-lettered");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_stay_and_long_or_odd_ones_are_hashed() {
        assert_eq!(dedup_id("pay:order:O-1"), "pay:order:O-1");
        let long = format!("earn:round:{}:{}", "r".repeat(64), "o".repeat(64));
        let hashed = dedup_id(&long);
        assert_eq!(hashed.len(), 64);
        assert_eq!(hashed, dedup_id(&long), "stable");
        assert_eq!(dedup_id("has space").len(), 64);
    }
}
