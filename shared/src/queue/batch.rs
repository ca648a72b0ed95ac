//! The batch lifter every SQS consumer shares (DESIGN §9, STYLE 19): a per-message handler lifted
//! over a batch, answering which messages failed (the partial batch response). On a FIFO queue a
//! failed message fails every later message of its group in the batch, unprocessed, so a member's
//! postings never overtake each other. No Lambda types here: functions map their event in and
//! the failed ids out.

use std::collections::BTreeSet;

/// One received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    /// `MessageGroupId` on a FIFO queue.
    pub group: Option<String>,
    pub body: String,
    /// How many times SQS has delivered it (`ApproximateReceiveCount`).
    pub receive_count: u32,
}

/// What handling one message came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done (or done before: consumers are idempotent). SQS deletes it.
    Done,
    /// Could never succeed and was put in the DLQ with the reason by the handler. SQS deletes it.
    DeadLettered,
    /// Failed for now: SQS delivers it again later (then redrives it to the DLQ).
    Retry(String),
}

/// Handles `messages` in order and returns the ids to report failed.
pub async fn lift<F>(messages: &[Received], mut handle: F) -> Vec<String>
where
    F: AsyncFnMut(&Received) -> Outcome,
{
    let mut failed = Vec::new();
    let mut blocked_groups: BTreeSet<&str> = BTreeSet::new();
    for message in messages {
        if let Some(group) = message.group.as_deref() {
            if blocked_groups.contains(group) {
                tracing::info!(message_id = %message.message_id, "held back behind a failed message of its group");
                failed.push(message.message_id.clone());
                continue;
            }
        }
        if let Outcome::Retry(reason) = handle(message).await {
            tracing::warn!(message_id = %message.message_id, reason, receive_count = message.receive_count, "message failed; SQS will retry it");
            failed.push(message.message_id.clone());
            if let Some(group) = message.group.as_deref() {
                blocked_groups.insert(group);
            }
        }
    }
    failed
}

/// Puts a message that can never succeed into the DLQ with `reason` (`group`: its message group,
/// or what kind of message it is). Without a DLQ (tests), or when the send fails, it is left to
/// SQS: redrive moves it to the DLQ after maxReceiveCount anyway.
pub async fn dead_letter(
    dlq: Option<&(super::Publisher, String)>,
    message: &Received,
    reason: &str,
    group: &str,
) -> Outcome {
    tracing::error!(message_id = %message.message_id, reason, "poison message: to the DLQ");
    let Some((publisher, url)) = dlq else {
        return Outcome::Retry(reason.to_owned());
    };
    match publisher
        .dead_letter(url, &message.body, reason, group, &message.message_id)
        .await
    {
        Ok(()) => Outcome::DeadLettered,
        Err(e) => Outcome::Retry(format!("{reason}; and the DLQ send failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, group: Option<&str>, body: &str) -> Received {
        Received {
            message_id: id.into(),
            group: group.map(Into::into),
            body: body.into(),
            receive_count: 1,
        }
    }

    fn run(messages: &[Received]) -> (Vec<String>, Vec<String>) {
        let mut handled = Vec::new();
        let failed = tokio_test_block_on(lift(messages, async |m: &Received| {
            handled.push(m.message_id.clone());
            match m.body.as_str() {
                "retry" => Outcome::Retry("down".into()),
                "poison" => Outcome::DeadLettered,
                _ => Outcome::Done,
            }
        }));
        (failed, handled)
    }

    /// The lifter's futures never wait on I/O here, so polling them to completion is enough.
    fn tokio_test_block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(future)
    }

    #[test]
    fn a_failure_holds_back_the_rest_of_its_group_only() {
        let batch = [
            message("1", Some("alice"), "ok"),
            message("2", Some("alice"), "retry"),
            message("3", Some("bob"), "ok"),
            message("4", Some("alice"), "ok"),
            message("5", Some("bob"), "poison"),
            message("6", Some("bob"), "ok"),
        ];
        let (failed, handled) = run(&batch);
        assert_eq!(failed, vec!["2", "4"]);
        assert_eq!(handled, vec!["1", "2", "3", "5", "6"], "4 is never handled");
    }

    #[test]
    fn on_a_standard_queue_failures_do_not_cascade() {
        let batch = [
            message("1", None, "retry"),
            message("2", None, "ok"),
            message("3", None, "retry"),
        ];
        let (failed, handled) = run(&batch);
        assert_eq!(failed, vec!["1", "3"]);
        assert_eq!(handled.len(), 3);
    }
}
