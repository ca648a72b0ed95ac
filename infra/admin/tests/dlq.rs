//! `linli-admin dlq` against the SQS stand-in: `list` counts each DLQ (exit 1 while any holds a
//! message), `show` gives the reason and body and leaves the message there, `redrive` moves it
//! back to its source queue with its body (the envelope id that keeps the effect once) and the
//! FIFO queue's member group, then deletes it; a second redrive moves nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use common::admin_with;

fn sqs() -> aws_sdk_sqs::Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SQS").expect("run through `make test`");
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("cn-north-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "local", "local", None, None, "t",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

async fn queue(client: &aws_sdk_sqs::Client, name: &str) -> String {
    let mut create = client.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        create = create.attributes(QueueAttributeName::FifoQueue, "true");
    }
    create.send().await.unwrap().queue_url.unwrap()
}

fn reason(text: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(text)
        .build()
        .unwrap()
}

async fn bodies(client: &aws_sdk_sqs::Client, url: &str) -> Vec<(String, Option<String>)> {
    let got = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .unwrap();
    got.messages
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let group = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId));
            (m.body().unwrap_or_default().to_owned(), group.cloned())
        })
        .collect()
}

#[tokio::test]
async fn a_dead_letter_is_listed_shown_and_redriven_once_with_its_body() {
    let client = sqs();
    let tag = format!("{:08x}", fastrand::u32(..));
    let mut env: Vec<(String, String)> = Vec::new();
    let mut urls = std::collections::HashMap::new();
    for (name, var) in [
        ("points-postings", "QUEUE_POINTS_POSTINGS"),
        ("courier-dispatch", "QUEUE_COURIER_DISPATCH"),
        ("compensations", "QUEUE_COMPENSATIONS"),
        ("cutoff-pages", "QUEUE_CUTOFF_PAGES"),
    ] {
        let fifo = if name == "points-postings" {
            ".fifo"
        } else {
            ""
        };
        let source = queue(&client, &format!("{name}-{tag}{fifo}")).await;
        let dlq = queue(&client, &format!("{name}-dlq-{tag}{fifo}")).await;
        env.push((var.to_owned(), source.clone()));
        env.push((format!("{var}_DLQ"), dlq.clone()));
        urls.insert(name, (source, dlq));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let body = r#"{"v":1,"id":"comp:order:O-1","kind":"compensate"}"#;
    let (comp_source, comp_dlq) = &urls["compensations"];
    let send = client.send_message().queue_url(comp_dlq).message_body(body);
    send.message_attributes("reason", reason("unknown order O-1"))
        .send()
        .await
        .unwrap();
    let (points_source, points_dlq) = &urls["points-postings"];
    let posting = r#"{"v":1,"id":"pay:order:O-2","kind":"posting"}"#;
    let send = client
        .send_message()
        .queue_url(points_dlq)
        .message_body(posting);
    let send = send
        .message_group_id("M-1")
        .message_deduplication_id("pay:order:O-2");
    send.message_attributes("reason", reason("ledger unavailable"))
        .send()
        .await
        .unwrap();

    let listed = admin_with(&["dlq", "list", "--json"], &env).await;
    assert_eq!(listed.code, 1, "dead letters wait: {listed:?}");
    let counts: Vec<i64> = listed.json()["dlqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["messages"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [1, 0, 1, 0]);
    let shown = admin_with(&["dlq", "show", "compensations", "--json"], &env).await;
    assert_eq!(shown.code, 0, "{shown:?}");
    assert_eq!(shown.json()["messages"][0]["reason"], "unknown order O-1");
    assert_eq!(shown.json()["messages"][0]["body"], body);
    assert_eq!(
        bodies(&client, comp_dlq).await.len(),
        1,
        "show leaves it there"
    );

    for (queue, source, dlq) in [
        ("compensations", comp_source, comp_dlq),
        ("points-postings", points_source, points_dlq),
    ] {
        let moved = admin_with(&["dlq", "redrive", queue, "--json"], &env).await;
        assert_eq!(
            (moved.code, moved.json()["moved"].as_i64()),
            (0, Some(1)),
            "{moved:?}"
        );
        assert!(
            bodies(&client, dlq).await.is_empty(),
            "{queue}: deleted from the DLQ"
        );
        let again = admin_with(&["dlq", "redrive", queue, "--json"], &env).await;
        assert_eq!(again.json()["moved"], 0, "{queue}: once");
        let back = bodies(&client, source).await;
        assert_eq!(back.len(), 1, "{queue}: {back:?}");
    }
    assert_eq!(bodies(&client, comp_source).await[0].0, body);
    let back = bodies(&client, points_source).await;
    assert_eq!(
        (back[0].0.as_str(), back[0].1.as_deref()),
        (posting, Some("M-1")),
        "the member's group kept"
    );
    let unknown = admin_with(&["dlq", "show", "nowhere"], &env).await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
}
