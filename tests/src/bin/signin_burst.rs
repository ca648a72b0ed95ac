//! `make bench` (issue 13): a sign-in burst through the local stack — N members who never wrote
//! before each tap 签到 once (the Official Account push in plaintext mode, signed as WeChat signs
//! it), `concurrency` at a time, then `repeats` of them tap again. Expected: N grants, then no
//! more. As WeChat does, a push not answered within 5 s is sent again, the same message (same
//! MsgId), at most three times in all. Counts the grants twice — from the replies and from the Ledger table's sign-in postings
//! — and prints requests/s, p50/p99 latency, lost and doubled.
//!
//! Usage: `signin_burst [members] [concurrency] [repeats]` (default 10000 64 2000), with the e2e
//! environment (`LINLI_URL`, the AWS endpoints). Last line: one JSON object with the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a failed step should panic

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use linli::wechat::oa;
use linli_e2e::{base, clock, local_setting, stack_table, tag};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Default)]
struct Phase {
    granted: u32,
    already: u32,
    failed: u32,
    /// Pushes WeChat would have sent again (unanswered within 5 s or answered 5xx).
    resent: u32,
    latencies: Vec<Duration>,
    seconds: f64,
}

impl Phase {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    }
}

/// One tap, sent again as WeChat does when unanswered: (granted, already signed, attempts).
async fn tap(http: &reqwest::Client, openid: &str, now: i64) -> Result<(bool, bool, u32), String> {
    let message = fastrand::u64(..);
    let mut last = String::new();
    for attempt in 1..=3 {
        match send(http, openid, now, message).await {
            Ok((granted, already)) => return Ok((granted, already, attempt)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn send(
    http: &reqwest::Client,
    openid: &str,
    now: i64,
    message: u64,
) -> Result<(bool, bool), String> {
    let (ts, nonce) = (now.to_string(), format!("{}", fastrand::u32(..)));
    let signature = oa::signature(&local_setting("WECHAT_OA_TOKEN"), &ts, &nonce);
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_linli]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[签到]]></Content><MsgId>{message}</MsgId></xml>"
    );
    let response = http
        .post(format!(
            "{}/wechat/callback?timestamp={ts}&nonce={nonce}&signature={signature}",
            base()
        ))
        .header("content-type", "text/xml")
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {text}"));
    }
    let (granted, already) = (text.contains("签到成功"), text.contains("已经签到"));
    if !granted && !already {
        eprintln!("[burst] unexpected reply for {openid}: {text}");
    }
    Ok((granted, already))
}

async fn phase(openids: &[String], concurrency: usize, now: i64) -> Phase {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let gate = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for openid in openids {
        let (http, gate, openid) = (http.clone(), gate.clone(), openid.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let t0 = Instant::now();
            let answer = tap(&http, &openid, now).await;
            (answer, t0.elapsed())
        });
    }
    let mut out = Phase::default();
    while let Some(joined) = tasks.join_next().await {
        let (answer, took) = joined.unwrap();
        out.latencies.push(took);
        if let Ok((_, _, attempts)) = answer {
            out.resent += attempts - 1;
        }
        match answer {
            Ok((true, _, _)) => out.granted += 1,
            Ok((false, true, _)) => out.already += 1,
            Ok(_) => out.failed += 1,
            Err(e) => {
                out.failed += 1;
                if out.failed <= 5 {
                    eprintln!("[burst] failed: {e}");
                }
            }
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    out
}

/// Sign-in postings on `date` in the Ledger table (their sort key names the date).
async fn postings_on(date: &str) -> u32 {
    let (client, table) = stack_table("LedgerTable").await;
    let mut count = 0;
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&table)
            .filter_expression("begins_with(sk, :p) AND contains(sk, :d)")
            .expression_attribute_values(":p", AttributeValue::S("POSTING#signin:".into()))
            .expression_attribute_values(":d", AttributeValue::S(date.into()))
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        count += u32::try_from(page.count()).unwrap_or(0);
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return count;
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let members = *args.first().unwrap_or(&10_000);
    let concurrency = *args.get(1).unwrap_or(&64);
    let repeats = (*args.get(2).unwrap_or(&2_000)).min(members);
    let now = clock().await;
    let date = now.date().format("%Y-%m-%d").to_string();
    // One sign-in first, so the function has started before the clock runs.
    let warm = phase(&[format!("burst-{}-warm", tag())], 1, now.epoch_seconds()).await;
    assert_eq!(warm.granted, 1, "the warm-up sign-in");
    let before = postings_on(&date).await;
    let run = tag();
    let openids: Vec<String> = (0..members).map(|i| format!("burst-{run}-{i}")).collect();
    eprintln!("[burst] {members} first sign-ins at concurrency {concurrency}");
    let first = phase(&openids, concurrency, now.epoch_seconds()).await;
    eprintln!("[burst] {repeats} repeats");
    let again = phase(&openids[..repeats], concurrency, now.epoch_seconds()).await;
    let stored = postings_on(&date).await - before;
    let lost = u32::try_from(members)
        .unwrap_or(u32::MAX)
        .saturating_sub(stored);
    let doubled = stored.saturating_sub(u32::try_from(members).unwrap_or(u32::MAX));
    println!(
        "sign-ins: {} granted, {} told already signed (a resend after the first answer was lost), {} failed, {} resent in {:.1} s ({:.0} req/s, p50 {:.1} ms, p99 {:.1} ms); repeats: {} already, {} granted again, {} failed ({:.0} req/s); postings stored {stored}: lost {lost}, doubled {doubled}",
        first.granted, first.already, first.failed, first.resent, first.seconds, members as f64 / first.seconds,
        first.percentile(0.5), first.percentile(0.99),
        again.already, again.granted, again.failed, repeats as f64 / again.seconds
    );
    println!(
        "{{\"members\":{members},\"concurrency\":{concurrency},\"granted\":{},\"already_on_resend\":{},\"failed\":{},\"resent\":{},\"rps\":{:.1},\"p50_ms\":{:.1},\"p99_ms\":{:.1},\"repeats\":{repeats},\"repeat_granted\":{},\"repeat_already\":{},\"repeat_rps\":{:.1},\"stored\":{stored},\"lost\":{lost},\"doubled\":{doubled}}}",
        first.granted, first.already, first.failed + again.failed, first.resent + again.resent, members as f64 / first.seconds,
        first.percentile(0.5), first.percentile(0.99),
        again.granted, again.already, repeats as f64 / again.seconds
    );
    let answered = (first.granted + first.already) as usize;
    if lost > 0 || doubled > 0 || answered != members || again.granted > 0 {
        std::process::exit(1);
    }
}
