//! `points-posting`: the FIFO consumer of `points-postings.fifo` (DESIGN §9). Each message is an
//! envelope holding one posting (`pay:order:<id>` now; refund clawbacks and POS sales later),
//! applied with `LedgerStore::post` — exactly once, whatever SQS repeats, because the posting id
//! is the item's sort key.
//!
//! - unreadable envelope, unknown version, a posting the ledger refuses for good (unknown member,
//!   id reused with other content, a business rule) → straight to the DLQ with the reason (a
//!   message attribute and an ERROR log), then deleted: retrying cannot help;
//! - a transient failure (DynamoDB throttled or unreachable, contention) → reported failed, with
//!   every later message of the same member in the batch, so SQS redelivers them in order and
//!   redrives to the DLQ after `maxReceiveCount`.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use linli::ledger::ErrorClass;
use linli::queue::batch::{lift, Outcome, Received};
use linli::queue::{Envelope, Message, Publisher};
use linli::store::ledger::LedgerStore;

pub struct App<L> {
    pub ledger: L,
    /// The publisher and the DLQ's URL (`None` in unit tests: dead-lettering is then a retry).
    pub dead_letters: Option<(Publisher, String)>,
}

/// The messages of an SQS event, in order.
pub fn received(event: SqsEvent) -> Vec<Received> {
    event
        .records
        .into_iter()
        .map(|r| Received {
            message_id: r.message_id.unwrap_or_default(),
            group: r.attributes.get("MessageGroupId").cloned(),
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            body: r.body.unwrap_or_default(),
        })
        .collect()
}

pub async fn handle<L: LedgerStore>(
    app: &App<L>,
    event: LambdaEvent<SqsEvent>,
) -> SqsBatchResponse {
    let messages = received(event.payload);
    let failed = lift(&messages, async |m: &Received| apply(app, m).await).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

async fn apply<L: LedgerStore>(app: &App<L>, message: &Received) -> Outcome {
    let envelope = match Envelope::from_json(&message.body) {
        Ok(envelope) => envelope,
        Err(e) => return dead_letter(app, message, &format!("unreadable envelope: {e}")).await,
    };
    let Message::Posting(request) = &envelope.message else {
        return dead_letter(
            app,
            message,
            "not a posting: this queue takes postings only",
        )
        .await;
    };
    match app.ledger.post(request).await {
        Ok(posted) => {
            tracing::info!(
                posting = %request.id,
                member = %request.member.masked(),
                replayed = posted.outcome.replayed,
                wru = posted.cost.total(),
                "posting done"
            );
            Outcome::Done
        }
        Err(e) if e.class() == ErrorClass::Transient => Outcome::Retry(e.to_string()),
        Err(e) => {
            let reason = format!("posting {} refused: {e}", request.id);
            dead_letter(app, message, &reason).await
        }
    }
}

/// Puts a message that can never succeed into the DLQ with its reason.
async fn dead_letter<L>(app: &App<L>, message: &Received, reason: &str) -> Outcome {
    let group = message.group.as_deref().unwrap_or("unknown");
    linli::queue::batch::dead_letter(app.dead_letters.as_ref(), message, reason, group).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessage;
    use linli::ids::{MemberId, OrderId, PostingId};
    use linli::ledger::{Op, PostingRequest, Source};
    use linli::money::Points;
    use linli::store::ledger::MemoryLedger;
    use linli::time::BusinessTime;

    fn at() -> BusinessTime {
        BusinessTime::from_epoch_ms(1_795_521_600_000).unwrap()
    }

    fn pay(member: &MemberId, order: &str, points: i64) -> String {
        let request = PostingRequest::new(
            PostingId::pay_order(&OrderId::parse(order).unwrap()),
            member.clone(),
            at(),
            vec![Op::Earn {
                source: Source::Pay,
                points: Points::new(points),
            }],
        );
        Envelope::posting(request).to_json()
    }

    fn record(id: &str, group: &MemberId, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m.attributes
            .insert("MessageGroupId".into(), group.to_string());
        m
    }

    #[tokio::test]
    async fn postings_apply_once_and_a_poison_message_holds_back_only_its_member() {
        let ledger = MemoryLedger::default();
        let (alice, bob) = (MemberId::generate(at(), 1), MemberId::generate(at(), 2));
        ledger.open(&alice, at()).await.unwrap();
        ledger.open(&bob, at()).await.unwrap();
        let app = App {
            ledger,
            dead_letters: None,
        };
        let mut event = SqsEvent::default();
        event.records = vec![
            record("1", &alice, &pay(&alice, "O-1", 120)),
            record("2", &alice, &pay(&alice, "O-1", 120)),
            record("3", &alice, "{not an envelope"),
            record("4", &alice, &pay(&alice, "O-2", 5)),
            record("5", &bob, &pay(&bob, "O-3", 30)),
        ];
        let response = handle(&app, LambdaEvent::new(event, Default::default())).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        // Without a DLQ the poison message is retried, and alice's later posting waits behind it.
        assert_eq!(failed, vec!["3", "4"]);
        let available = |m: &MemberId| {
            app.ledger
                .book()
                .profile(m)
                .map(|p| p.available.value())
                .unwrap()
        };
        assert_eq!(available(&alice), 120, "the repeat of O-1 changed nothing");
        assert_eq!(available(&bob), 30);
    }
}
