//! The devstack end to end: `make test` starts it with `tests/template.yaml` (functions from
//! `../testfns` under cargo-lambda) and sets `DEVSTACK_URL`; these tests talk to it over HTTP and
//! to the SQS stand-in and DynamoDB Local directly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn base() -> String {
    std::env::var("DEVSTACK_URL").expect(
        "DEVSTACK_URL is not set: run these tests through `make test`, which starts the devstack",
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn get_json(path: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{}{path}", base()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post_json(path: &str, body: Value) -> (u16, Value) {
    let r = http()
        .post(format!("{}{path}", base()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn resources() -> Value {
    get_json("/_local/stack").await.1["resources"].clone()
}

async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", fastrand::u32(..))
}

#[tokio::test]
async fn routes_reach_the_function_with_a_payload_v2_event_and_its_environment() {
    let r = http()
        .get(format!("{}/items/42?x=1&x=2", base()))
        .header("X-Trace", "t1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-test"], "yes");
    let seen: Value = r.json().await.unwrap();
    let event = &seen["event"];
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /items/{id}");
    assert_eq!(event["pathParameters"]["id"], "42");
    assert_eq!(event["queryStringParameters"]["x"], "1,2");
    assert_eq!(event["headers"]["x-trace"], "t1");
    assert_eq!(
        seen["table"],
        resources().await["SeenTable"],
        "!Ref of the table, resolved"
    );
    assert_eq!(seen["secret"], "from-the-env-file");

    let (_, literal) = get_json("/items/all").await;
    assert_eq!(
        literal["event"]["routeKey"], "GET /items/all",
        "a literal route beats a parameter"
    );

    let r = http()
        .delete(format!("{}/api/orders/O1/cancel", base()))
        .body("{\"why\":1}")
        .send()
        .await
        .unwrap();
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["event"]["pathParameters"]["proxy"], "orders/O1/cancel");
    assert_eq!(seen["event"]["requestContext"]["http"]["method"], "DELETE");
    assert_eq!(seen["event"]["body"], "{\"why\":1}");

    let (status, body) = get_json("/nowhere").await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Not Found")));
    let r = http()
        .post(format!("{}/items/42", base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "GET-only route");
}

#[tokio::test]
async fn function_errors_timeouts_and_init_failures_are_502s_with_the_reason() {
    // Warm the function first: its first start is allowed more time than its timeout.
    assert_eq!(
        http()
            .get(format!("{}/hello", base()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let fail = http().post(format!("{}/fail", base())).send();
    let slow = http().get(format!("{}/slow", base())).send();
    let broken = http().get(format!("{}/broken", base())).send();
    let (fail, slow, broken) = tokio::join!(fail, slow, broken);
    let fail = fail.unwrap();
    assert_eq!(fail.status(), 502);
    let body: Value = fail.json().await.unwrap();
    assert!(
        body["devstack"].as_str().unwrap().contains("asked to fail"),
        "{body}"
    );
    let slow = slow.unwrap();
    assert_eq!(slow.status(), 502);
    let body: Value = slow.json().await.unwrap();
    assert!(
        body["devstack"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{body}"
    );
    assert_eq!(broken.unwrap().status(), 502);
}

#[tokio::test]
async fn the_clock_stamps_events_and_schedules() {
    let (status, set) =
        post_json("/_local/clock", json!({"now": "2026-11-24T20:00:00+08:00"})).await;
    assert_eq!(status, 200, "{set}");
    let start = set["epoch_ms"].as_i64().unwrap();
    assert!((start - 1_795_521_600_000).abs() < 2_000, "{set}");
    let (_, hello) = get_json("/hello").await;
    let stamped = hello["event"]["requestContext"]["timeEpoch"]
        .as_i64()
        .unwrap();
    assert!(
        (stamped - start).abs() < 60_000,
        "request stamped {stamped}, clock {start}"
    );

    let (_, advanced) = post_json("/_local/clock", json!({"advance": "25m"})).await;
    let later = advanced["epoch_ms"].as_i64().unwrap();
    assert!((later - start - 1_500_000).abs() < 60_000);
    let (_, now) = get_json("/_local/clock").await;
    assert!(
        now["now"].as_str().unwrap().starts_with("2026-11-24T12:2"),
        "{now}"
    );

    let (status, fired) = post_json("/_local/schedules/EchoFunction/Tick", json!({})).await;
    assert_eq!(status, 200);
    assert!(
        fired["time"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-24T12:2"),
        "the clock's time: {fired}"
    );

    for bad in [
        json!({"now": "yesterday"}),
        json!({"advance": "soon"}),
        json!({}),
    ] {
        assert_eq!(post_json("/_local/clock", bad).await.0, 400);
    }
}

#[tokio::test]
async fn a_schedule_delivers_its_input_with_the_time_substituted() {
    let (status, fired) = post_json(
        "/_local/schedules/EchoFunction/Tick",
        json!({"time": "2026-11-26T20:00:00+08:00"}),
    )
    .await;
    assert_eq!(status, 200, "{fired}");
    assert_eq!(
        fired,
        json!({"kind": "Tick", "time": "2026-11-26T12:00:00.000Z"})
    );
    assert_eq!(
        post_json("/_local/schedules/EchoFunction/Nope", json!({}))
            .await
            .0,
        404
    );
    assert_eq!(
        post_json(
            "/_local/schedules/EchoFunction/Tick",
            json!({"time": "noon"})
        )
        .await
        .0,
        400
    );
}

/// Every delivery the queue function recorded for `test`, as `seq:receive-count`.
async fn deliveries(db: &aws_sdk_dynamodb::Client, table: &str, test: &str) -> Vec<String> {
    let item = db
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("SEEN#{test}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    match item.get("deliveries") {
        Some(AttributeValue::L(list)) => {
            list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
        }
        _ => vec![],
    }
}

async fn wait_for<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_partial_batch_failure_retries_only_the_failed_message_then_dead_letters_it() {
    let config = aws().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let db = aws_sdk_dynamodb::Client::new(&config);
    let res = resources().await;
    let (queue, dlq, table) = (
        res["WorkQueue"].as_str().unwrap(),
        res["WorkDLQ"].as_str().unwrap(),
        res["SeenTable"].as_str().unwrap(),
    );
    let test = unique("partial");
    for seq in 1..=4 {
        let body = json!({"test": test, "seq": seq, "fail": seq == 2});
        sqs.send_message()
            .queue_url(queue)
            .message_body(body.to_string())
            .send()
            .await
            .unwrap();
    }
    // maxReceiveCount is 2: message 2 is delivered twice, then moved to the DLQ.
    wait_for(
        "two deliveries of the failing message",
        Duration::from_secs(30),
        || async {
            deliveries(&db, table, &test)
                .await
                .iter()
                .filter(|d| d.starts_with("2:"))
                .count()
                >= 2
        },
    )
    .await;
    let mut found = None;
    let started = Instant::now();
    while found.is_none() && started.elapsed() < Duration::from_secs(30) {
        let got = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages.unwrap_or_default() {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            if body["test"] == test.as_str() {
                found = Some(body);
                sqs.delete_message()
                    .queue_url(dlq)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    assert_eq!(found.expect("the failing message in the DLQ")["seq"], 2);
    let seen = deliveries(&db, table, &test).await;
    for ok in ["1:1", "3:1", "4:1"] {
        assert_eq!(
            seen.iter().filter(|d| *d == ok).count(),
            1,
            "{ok} delivered once: {seen:?}"
        );
    }
    assert_eq!(
        seen.iter().filter(|d| d.starts_with("2:")).count(),
        2,
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_fifo_queue_keeps_each_groups_order() {
    let config = aws().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let db = aws_sdk_dynamodb::Client::new(&config);
    let res = resources().await;
    let (queue, table) = (
        res["OrderedQueue"].as_str().unwrap(),
        res["SeenTable"].as_str().unwrap(),
    );
    let groups = [unique("fifo-a"), unique("fifo-b")];
    for seq in 1..=12 {
        for group in &groups {
            let body = json!({"test": group, "seq": seq});
            sqs.send_message()
                .queue_url(queue)
                .message_body(body.to_string())
                .message_group_id(group)
                .message_deduplication_id(format!("{group}-{seq}"))
                .send()
                .await
                .unwrap();
        }
    }
    for group in &groups {
        wait_for("all twelve", Duration::from_secs(30), || async {
            deliveries(&db, table, group).await.len() >= 12
        })
        .await;
        let seqs: Vec<u32> = deliveries(&db, table, group)
            .await
            .iter()
            .map(|d| d.split(':').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(seqs, (1..=12).collect::<Vec<_>>(), "group {group} in order");
    }
}

#[tokio::test]
async fn stand_ins_record_requests_take_faults_and_send_callbacks() {
    let client = http();
    let url = |p: &str| format!("{}/_local/example{p}", base());
    client.delete(url("/requests")).send().await.unwrap();
    let r = client
        .post(url("/echo"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echoed: Value = r.json().await.unwrap();
    assert_eq!(echoed["received"], "hello");
    assert!(echoed["now"].as_str().unwrap().ends_with('Z'));

    client
        .post(url("/fault"))
        .json(&json!({"mode": "fail", "count": 2, "status": 503}))
        .send()
        .await
        .unwrap();
    let mut statuses = vec![];
    for _ in 0..3 {
        statuses.push(
            client
                .post(url("/echo"))
                .body("x")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [503, 503, 200]);
    client
        .post(url("/fault"))
        .json(&json!({"mode": "error", "body": {"code": "SYSTEMERROR"}}))
        .send()
        .await
        .unwrap();
    let errored = client.post(url("/echo")).send().await.unwrap();
    assert_eq!(errored.status(), 200);
    assert_eq!(errored.text().await.unwrap(), r#"{"code":"SYSTEMERROR"}"#);
    assert_eq!(
        client
            .post(url("/fault"))
            .body("nonsense")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    let recorded: Vec<Value> = client
        .get(url("/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recorded.len(), 5, "every call recorded, faulted or not");
    assert_eq!(recorded[0]["body"], "hello");

    let (status, _) = post_json(
        "/_local/example/notify",
        json!({"path": "/api/notify", "body": "{\"n\":1}"}),
    )
    .await;
    assert_eq!(status, 202);
    post_json(
        "/_local/example/notify",
        json!({"path": "/fail", "body": "{}"}),
    )
    .await;
    wait_for("both callbacks", Duration::from_secs(30), || async {
        get_json("/_local/example/deliveries")
            .await
            .1
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
            >= 2
    })
    .await;
    let (_, deliveries) = get_json("/_local/example/deliveries").await;
    let accepted = deliveries
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "/api/notify")
        .unwrap();
    assert_eq!(
        (
            accepted["accepted"].as_bool(),
            accepted["attempts"].as_u64()
        ),
        (Some(true), Some(1))
    );
    let refused = deliveries
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "/fail")
        .unwrap();
    assert_eq!(
        (
            refused["accepted"].as_bool(),
            refused["attempts"].as_u64(),
            refused["last_status"].as_u64()
        ),
        (Some(false), Some(3), Some(502))
    );
}

#[tokio::test]
async fn health_names_every_component() {
    let (status, health) = get_json("/_local/health").await;
    assert_eq!(status, 200, "{health}");
    for component in ["dynamodb", "sqs", "emulator"] {
        assert_eq!(health["components"][component], "up");
    }
    assert_eq!(
        health["components"]["functions"].as_array().unwrap().len(),
        4
    );
}
