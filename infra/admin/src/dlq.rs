//! `linli-admin dlq list | show <queue> [--limit N] | redrive <queue>`: the dead-letter queues
//! of `points-postings`, `courier-dispatch`, `compensations` and `cutoff-pages`.
//! - `list`: each DLQ's depth (visible and in flight).
//! - `show`: up to N messages with the reason each failed (`reason` attribute) and the
//!   envelope in its body; they stay in the DLQ (received with no visibility timeout).
//! - `redrive`: every message moved back to its source queue with its body and attributes —
//!   the envelope id inside it is what makes the effect happen once, whoever handles it — and
//!   only then deleted from the DLQ. For the FIFO points queue the member's group is kept and
//!   the deduplication id is new (the original's 5-minute window must not swallow it).

use crate::cli::DlqCommand;
use crate::output::{Outcome, Table};
use crate::tables::Tables;
use crate::AdminError;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use serde_json::json;

/// (name, source logical id, its env, DLQ logical id, its env).
const QUEUES: [(&str, &str, &str, &str, &str); 4] = [
    (
        "points-postings",
        "PointsPostingsQueue",
        "QUEUE_POINTS_POSTINGS",
        "PointsPostingsDLQ",
        "QUEUE_POINTS_POSTINGS_DLQ",
    ),
    (
        "courier-dispatch",
        "CourierDispatchQueue",
        "QUEUE_COURIER_DISPATCH",
        "CourierDispatchDLQ",
        "QUEUE_COURIER_DISPATCH_DLQ",
    ),
    (
        "compensations",
        "CompensationsQueue",
        "QUEUE_COMPENSATIONS",
        "CompensationsDLQ",
        "QUEUE_COMPENSATIONS_DLQ",
    ),
    (
        "cutoff-pages",
        "CutoffPagesQueue",
        "QUEUE_CUTOFF_PAGES",
        "CutoffPagesDLQ",
        "QUEUE_CUTOFF_PAGES_DLQ",
    ),
];
/// Batches one redrive moves at most (10 messages each).
const MAX_BATCHES: usize = 1_000;

fn failed(what: &str, e: impl std::fmt::Display) -> AdminError {
    AdminError::Unreachable(format!("{what}: {e}"))
}

async fn sqs() -> Client {
    Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
}

/// The source and DLQ URLs of `name`.
async fn urls(tables: &Tables<'_>, name: &str) -> Result<(String, String), AdminError> {
    let Some(&(_, source, source_env, dlq, dlq_env)) = QUEUES.iter().find(|q| q.0 == name) else {
        let known: Vec<&str> = QUEUES.iter().map(|q| q.0).collect();
        return Err(AdminError::Usage(format!(
            "no queue {name:?}: one of {known:?}"
        )));
    };
    Ok((
        tables.queue_url(source, source_env).await?,
        tables.queue_url(dlq, dlq_env).await?,
    ))
}

pub async fn run(tables: &Tables<'_>, command: DlqCommand) -> Result<Outcome, AdminError> {
    let client = sqs().await;
    match command {
        DlqCommand::List => list(tables, &client).await,
        DlqCommand::Show { queue, limit } => {
            show(&client, &urls(tables, &queue).await?.1, limit).await
        }
        DlqCommand::Redrive { queue } => {
            let (source, dlq) = urls(tables, &queue).await?;
            redrive(&client, &source, &dlq).await
        }
    }
}

async fn depth(client: &Client, url: &str) -> Result<i64, AdminError> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| failed(url, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    let attrs = out.attributes.unwrap_or_default();
    let count = |a: QueueAttributeName| {
        attrs
            .get(&a)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    Ok(count(QueueAttributeName::ApproximateNumberOfMessages)
        + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}

async fn list(tables: &Tables<'_>, client: &Client) -> Result<Outcome, AdminError> {
    let mut out = Table::new(&["queue", "dead letters"]);
    let mut rows = Vec::new();
    for (name, ..) in QUEUES {
        let (_, dlq) = urls(tables, name).await?;
        let n = depth(client, &dlq).await?;
        out.row(vec![name.to_owned(), n.to_string()]);
        rows.push(json!({ "queue": name, "dlq_url": dlq, "messages": n }));
    }
    let problem = rows.iter().any(|r| r["messages"].as_i64().unwrap_or(0) > 0);
    Ok(Outcome {
        text: out.render(),
        json: json!({ "dlqs": rows }),
        problem,
    })
}

async fn show(client: &Client, dlq: &str, limit: u16) -> Result<Outcome, AdminError> {
    let mut shown = Vec::new();
    let mut out = Table::new(&["message", "reason", "body"]);
    while shown.len() < usize::from(limit) {
        let want = i32::from(limit)
            .saturating_sub(i32::try_from(shown.len()).unwrap_or(0))
            .min(10);
        let got = client
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(want)
            .visibility_timeout(0)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| failed(dlq, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let reason = m
                .message_attributes()
                .and_then(|a| a.get("reason"))
                .and_then(|v| v.string_value())
                .unwrap_or("-")
                .to_owned();
            let body = m.body().unwrap_or_default().to_owned();
            out.row(vec![
                m.message_id().unwrap_or("-").to_owned(),
                reason.clone(),
                body.clone(),
            ]);
            shown.push(json!({ "message_id": m.message_id(), "reason": reason, "body": body }));
        }
    }
    Ok(Outcome {
        text: out.render(),
        json: json!({ "messages": shown }),
        problem: false,
    })
}

async fn redrive(client: &Client, source: &str, dlq: &str) -> Result<Outcome, AdminError> {
    let fifo = source.ends_with(".fifo");
    let mut moved = 0usize;
    for _ in 0..MAX_BATCHES {
        let got = client
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .map_err(|e| failed(dlq, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let mut send = client
                .send_message()
                .queue_url(source)
                .message_body(m.body().unwrap_or_default());
            for (name, value) in m.message_attributes().into_iter().flatten() {
                if name != "reason" {
                    send = send.message_attributes(name, MessageAttributeValue::clone(value));
                }
            }
            if fifo {
                let group = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .unwrap_or_else(|| "redrive".into());
                let dedup = format!("redrive-{}", m.message_id().unwrap_or_default());
                send = send.message_group_id(group).message_deduplication_id(dedup);
            }
            send.send()
                .await
                .map_err(|e| failed(source, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            // Deleted only once it is back in the source queue: a crash leaves a copy, not a gap.
            if let Some(handle) = m.receipt_handle() {
                let delete = client
                    .delete_message()
                    .queue_url(dlq)
                    .receipt_handle(handle);
                delete
                    .send()
                    .await
                    .map_err(|e| failed(dlq, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            }
            moved += 1;
        }
    }
    Ok(Outcome {
        text: format!("{moved} message(s) moved back to {source}\n"),
        json: json!({ "moved": moved, "to": source }),
        problem: false,
    })
}
