//! The SQS publisher against the SQS stand-in (moto): FIFO groups per member, deduplication by
//! the envelope's id, dead letters with their reason.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use common::{at, new_member, NOW_MS};
use linli::ids::{PostingId, TicketId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Points;
use linli::queue::{Envelope, Publisher};

fn sqs() -> aws_sdk_sqs::Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SQS")
        .expect("AWS_ENDPOINT_URL_SQS is not set: run these tests through `make test`, which starts the SQS stand-in");
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("cn-north-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "linli-tests",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

async fn fifo_queue(client: &aws_sdk_sqs::Client, test: &str) -> String {
    client
        .create_queue()
        .queue_name(format!("postings-{test}-{:08x}.fifo", fastrand::u32(..)))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

fn earn(member: &linli::ids::MemberId, ticket: &str, points: i64) -> Envelope {
    let id = PostingId::adjust(&TicketId::parse(ticket).unwrap());
    let op = Op::Earn {
        source: Source::Adjust,
        points: Points::new(points),
    };
    Envelope::posting(PostingRequest::new(
        id,
        member.clone(),
        at(NOW_MS),
        vec![op],
    ))
}

async fn drain(client: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = vec![];
    loop {
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            return all;
        }
        for m in &got {
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        all.extend(got);
    }
}

#[tokio::test]
async fn a_repeated_send_is_deduplicated_and_a_members_postings_keep_their_order() {
    let client = sqs();
    let url = fifo_queue(&client, "dedup").await;
    let publisher = Publisher::new(client.clone());
    let member = new_member();
    let first = earn(&member, "T1", 10);
    publisher.send(&url, &first).await.unwrap();
    publisher.send(&url, &first).await.unwrap(); // WeChat repeated its notify
    publisher
        .send(&url, &earn(&member, "T2", 20))
        .await
        .unwrap();
    publisher
        .send(&url, &earn(&member, "T3", 30))
        .await
        .unwrap();

    let received = drain(&client, &url).await;
    let ids: Vec<String> = received
        .iter()
        .map(|m| Envelope::from_json(m.body().unwrap()).unwrap().id)
        .collect();
    assert_eq!(
        ids,
        ["adjust:T1", "adjust:T2", "adjust:T3"],
        "once each, in order"
    );
    let group =
        received[0].attributes().unwrap()[&MessageSystemAttributeName::MessageGroupId].clone();
    assert_eq!(group, member.to_string(), "grouped by member");
}

#[tokio::test]
async fn a_dead_letter_carries_its_reason() {
    let client = sqs();
    let url = fifo_queue(&client, "dlq").await;
    let publisher = Publisher::new(client.clone());
    publisher
        .dead_letter(
            &url,
            "{not json",
            "malformed envelope: expected value",
            "poison",
            "m-1",
        )
        .await
        .unwrap();
    let received = drain(&client, &url).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body(), Some("{not json"));
    let reason = received[0].message_attributes().unwrap()["reason"]
        .string_value()
        .unwrap()
        .to_owned();
    assert_eq!(reason, "malformed envelope: expected value");
}
