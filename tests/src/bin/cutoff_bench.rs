//! `make bench-cutoff` (issue 11): how long a round's cutoff takes and how much memory the
//! function needs, at 1,000, 10,000 and 100,000 order lines, through the local stack — the
//! `Cutoff` schedule, the `cutoff-pages` queue (pages one at a time: the devstack polls a queue
//! with one batch in flight, where Lambda would run pages in parallel), then `CatchUp` writing
//! the outputs and closing the round.
//!
//! Each size gets a round of its own whose paid lines are written straight into the GroupBuys
//! table (as pay-notify's `count_paid` writes them: `LINE#<order>` and the SKU counter), every
//! line at 0.99 yuan of an SKU that goes ahead: so the run measures the cutoff itself — reading
//! and deciding every order, recording its fates, the notice check, the outputs — and not
//! points-posting's ledger work (a line under 1 yuan earns no point) or WeChat Pay refunds.
//!
//! Usage: `cutoff_bench [lines…]` (default `1000 10000 100000`), with the e2e environment
//! (`LINLI_URL`, the AWS endpoints). Prints one row per size and whether time grew linearly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a failed step should panic

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::Days;
use linli::groupbuy::join::JoinLine;
use linli::groupbuy::{Handover, Round, RoundSku, RoundStatus, SkuKind};
use linli::ids::{MemberId, RoundId, SkuId, StoreId};
use linli::store::rounds::DynamoRounds;
use linli_e2e::{call, clock, fire, queue_depth, stack_queue, stack_table, tag};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SKU: &str = "BENCH-EGG";

fn round(id: &RoundId, now: linli::time::BusinessTime) -> Round {
    let cutoff = now.plus_ms(-60_000);
    Round {
        round_id: id.clone(),
        store_id: StoreId::parse("SH-JINGAN-01").unwrap(),
        community: format!("bench-{id}"),
        title: "bench".into(),
        cutoff_at: cutoff,
        fulfil_on: cutoff.date().checked_add_days(Days::new(1)).unwrap(),
        handover: Handover::Pickup,
        skus: vec![RoundSku {
            sku: SkuId::parse(SKU).unwrap(),
            name: "bench eggs".into(),
            kind: SkuKind::Hot,
            price_fen: 99,
            min_qty: 1,
            max_qty: None,
            per_member: None,
        }],
        status: RoundStatus::Open,
        template: None,
        created_at: now,
    }
}

/// Writes `lines` paid orders of one line each into the round, 25 per BatchWriteItem, 8 at once.
async fn seed(client: &aws_sdk_dynamodb::Client, table: &str, id: &RoundId, lines: usize) {
    let now = clock().await;
    let line: AttributeValue = serde_dynamo::to_attribute_value(vec![JoinLine {
        sku: SkuId::parse(SKU).unwrap(),
        name: "bench eggs".into(),
        qty: 1,
        price_fen: 99,
        amount_fen: 99,
    }])
    .unwrap();
    let items: Vec<WriteRequest> = (0..lines)
        .map(|i| {
            let member = MemberId::generate(now, u128::from(fastrand::u64(..)));
            let item = HashMap::from([
                ("pk".to_owned(), AttributeValue::S(format!("ROUND#{id}"))),
                (
                    "sk".to_owned(),
                    AttributeValue::S(format!("LINE#B{i:07}-{}", tag())),
                ),
                ("member".to_owned(), AttributeValue::S(member.to_string())),
                (
                    "paid_at".to_owned(),
                    AttributeValue::N(now.epoch_ms().to_string()),
                ),
                ("lines".to_owned(), line.clone()),
            ]);
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in items.chunks(25 * 40) {
        let (client, table, chunk) = (client.clone(), table.to_owned(), chunk.to_vec());
        tasks.spawn(async move {
            for batch in chunk.chunks(25) {
                let mut pending = HashMap::from([(table.clone(), batch.to_vec())]);
                for _ in 0..20 {
                    let out = client
                        .batch_write_item()
                        .set_request_items(Some(pending))
                        .send()
                        .await
                        .unwrap();
                    pending = out.unprocessed_items.unwrap_or_default();
                    if pending.values().all(Vec::is_empty) {
                        break;
                    }
                }
            }
        });
        while tasks.len() >= 8 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let counter = HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("ROUND#{id}"))),
        (
            "sk".to_owned(),
            AttributeValue::S(format!("SKU#{SKU}#SHARD#0")),
        ),
        ("qty".to_owned(), AttributeValue::N(lines.to_string())),
    ]);
    let put = client.put_item().table_name(table).set_item(Some(counter));
    put.send().await.unwrap();
}

/// The largest peak resident set (VmHWM, KiB) of the running `group-cutoff` processes.
fn peak_rss_kib() -> Option<u64> {
    let mut peak = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        if !first.ends_with(b"/group-cutoff") {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        peak = peak.max(hwm);
    }
    peak
}

struct Row {
    lines: usize,
    seed_s: f64,
    cutoff_s: f64,
    close_s: f64,
    rss_mib: Option<f64>,
}

/// Seeds one round of `lines`, fires its cutoff and waits for it to close.
async fn run(lines: usize) -> Row {
    let (client, table) = stack_table("GroupBuysTable").await;
    let (sqs, pages) = stack_queue("CutoffPagesQueue").await;
    let rounds = DynamoRounds::new(client.clone(), table.clone());
    let id = RoundId::parse(&format!("BENCH-{lines}-{}", tag())).unwrap();
    let started = Instant::now();
    rounds.create(&round(&id, clock().await)).await.unwrap();
    seed(&client, &table, &id, lines).await;
    let seed_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (status, summary) = fire("GroupCutoffFunction", "Cutoff").await;
    assert_eq!(status, 200, "{summary}");
    // Pages drain one at a time; then CatchUp finds every order decided and closes the round.
    let deadline = Instant::now() + Duration::from_secs(3_600);
    let mut cutoff_s = 0.0;
    loop {
        assert!(
            Instant::now() < deadline,
            "round {id} not closed within an hour"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        if queue_depth(&sqs, &pages).await > 0 {
            continue;
        }
        cutoff_s = if cutoff_s == 0.0 {
            started.elapsed().as_secs_f64()
        } else {
            cutoff_s
        };
        let (status, summary) = fire("GroupCutoffFunction", "CatchUp").await;
        assert_eq!(status, 200, "{summary}");
        let (_, page) = call("GET", &format!("/api/group-buys/{id}"), None, None).await;
        if page["status"] == "closed" {
            break;
        }
    }
    let close_s = started.elapsed().as_secs_f64();
    let metrics = rounds.output(&id, "METRICS").await.unwrap().unwrap();
    assert_eq!(metrics["orders"], lines, "every line decided: {metrics}");
    assert_eq!(metrics["confirmed_orders"], lines);
    Row {
        lines,
        seed_s,
        cutoff_s,
        close_s,
        rss_mib: peak_rss_kib().map(|k| k as f64 / 1024.0),
    }
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    let mut rows = Vec::new();
    for lines in sizes {
        eprintln!("cutoff bench: {lines} lines…");
        rows.push(run(lines).await);
    }
    println!("| lines | seeding s | pages drained s | closed s | ms per 1,000 lines | peak RSS of group-cutoff MiB |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let per_k = r.close_s * 1_000_000.0 / r.lines as f64;
        let rss = r.rss_mib.map_or("-".into(), |m| format!("{m:.1}"));
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {per_k:.0} | {rss} |",
            r.lines, r.seed_s, r.cutoff_s, r.close_s
        );
    }
    // The smallest size is mostly fixed cost (the schedule's run, polling once a second, the
    // closing run): linearity is judged between the two largest.
    if let [.., before, last] = rows.as_slice() {
        let per_line = |r: &Row| r.close_s / r.lines as f64;
        let ratio = per_line(last) / per_line(before);
        let marginal_ms =
            (last.close_s - before.close_s) * 1_000.0 / (last.lines - before.lines) as f64;
        println!(
            "\ntime per line at {} lines is {ratio:.2}× that at {} lines ({}); each line past {} cost {marginal_ms:.2} ms.",
            last.lines,
            before.lines,
            if ratio <= 1.5 { "linear within 1.5×" } else { "NOT linear" },
            before.lines,
        );
    }
}
