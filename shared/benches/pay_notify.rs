//! A WeChat Pay v2 payment notify without I/O, as pay-notify handles it: parse the XML (entity
//! and size guards included), verify its MD5 `sign` with the API key, read the notice, answer
//! SUCCESS. Writes its input to `target/bench/pay-input.json` so `infra/bench/cpu.sh` runs the
//! same notify through wechatpy's `WeChatPay.parse_payment_result` beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use linli::wechat::{pay_notify, pay_v2};
use std::hint::black_box;

const APPID: &str = "wxlocalmini000001";
const MCH_ID: &str = "1900000109";
const API_KEY: &str = "localpayapikey0123456789abcdefgh";

fn notify() -> String {
    let mut fields = vec![
        ("appid", APPID),
        ("bank_type", "CMC"),
        ("cash_fee", "17600"),
        ("fee_type", "CNY"),
        ("is_subscribe", "N"),
        ("mch_id", MCH_ID),
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ("out_trade_no", "01KB3Q0X9Y8Z7A6B5C4D3E2F1G"),
        ("result_code", "SUCCESS"),
        ("return_code", "SUCCESS"),
        ("time_end", "20261125120000"),
        ("total_fee", "17600"),
        ("trade_type", "JSAPI"),
        ("transaction_id", "4200000000202611250000000001"),
    ];
    let sign = pay_v2::sign(fields.iter().copied(), API_KEY, pay_v2::SignType::Md5);
    fields.push(("sign", &sign));
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("<{k}><![CDATA[{v}]]></{k}>"))
        .collect();
    format!("<xml>{body}</xml>")
}

/// What pay-notify does with a notify before touching the order.
fn handle(body: &str) -> String {
    let fields = pay_v2::parse(body.as_bytes()).unwrap();
    pay_v2::verify(&fields, API_KEY, pay_v2::SignType::Md5).unwrap();
    let notice = pay_notify::read(&fields).unwrap();
    assert!(notice.succeeded && notice.appid == APPID && notice.mch_id == MCH_ID);
    pay_v2::reply_success()
}

fn bench(c: &mut Criterion) {
    let body = notify();
    let input = serde_json::json!({
        "appid": APPID, "mch_id": MCH_ID, "api_key": API_KEY, "body": body,
    });
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(format!("{dir}/pay-input.json"), input.to_string()).unwrap();
    c.bench_function("pay_v2_notify_path", |b| {
        b.iter(|| handle(black_box(&body)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
