//! The full encrypted Official Account path without I/O (DESIGN §10: ≤ 3 µs, ≥ 20× wechatpy):
//! timestamp window + `signature` + `msg_signature` → decrypt → parse → decide → encrypted reply.
//! Writes its input to `target/bench/oa-input.json` so `infra/bench/oa.sh` runs the very same
//! message through wechatpy beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use linli::wechat::oa::{self, AesKey, Inbound, Message};
use linli::wechat::xml;
use std::hint::black_box;

const TOKEN: &str = "linlilocaltoken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wxlocaloa00000001";
const TIMESTAMP: i64 = 1_795_521_600;
const NONCE: &str = "1234567890";

struct Push {
    query_signature: String,
    msg_signature: String,
    body: String,
}

fn push(key: &AesKey) -> Push {
    let inner = format!(
        "<xml><ToUserName><![CDATA[gh_linli]]></ToUserName><FromUserName><![CDATA[oa-alice-0001]]></FromUserName>\
         <CreateTime>{TIMESTAMP}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[积分]]></Content>\
         <MsgId>24000000000000001</MsgId></xml>"
    );
    let encrypt = oa::encrypt(key, &inner, APPID, [7u8; 16]);
    Push {
        query_signature: oa::signature(TOKEN, &TIMESTAMP.to_string(), NONCE),
        msg_signature: oa::msg_signature(TOKEN, &TIMESTAMP.to_string(), NONCE, &encrypt),
        body: format!("<xml><ToUserName><![CDATA[gh_linli]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
    }
}

/// What wechat-callback does with a push, minus the I/O.
fn handle(key: &AesKey, p: &Push) -> String {
    let ts = TIMESTAMP.to_string();
    oa::verify_timestamp(&ts, TIMESTAMP).unwrap();
    oa::verify_signature(TOKEN, &ts, NONCE, &p.query_signature).unwrap();
    let outer = xml::parse_borrowed(p.body.as_bytes()).unwrap();
    let encrypt = outer.get("Encrypt").unwrap();
    oa::verify_msg_signature(TOKEN, &ts, NONCE, encrypt, &p.msg_signature).unwrap();
    let inner = oa::decrypt(key, encrypt, APPID).unwrap();
    let inbound = Inbound::parse(inner.as_bytes()).unwrap();
    let content = match &inbound.message {
        Message::Text { content, .. } if content == "积分" => {
            "普卡会员，你现在有 128 积分。30 天内没有到期的积分。"
        }
        _ => "success",
    };
    let reply = oa::text_reply(&inbound.from_user, &inbound.to_user, TIMESTAMP, content);
    oa::encrypted_reply(key, TOKEN, APPID, &reply, TIMESTAMP, NONCE, [9u8; 16])
}

fn bench(c: &mut Criterion) {
    let key = AesKey::from_encoding_aes_key(AES_KEY).unwrap();
    let p = push(&key);
    let input = serde_json::json!({
        "token": TOKEN, "encoding_aes_key": AES_KEY, "appid": APPID, "timestamp": TIMESTAMP,
        "nonce": NONCE, "signature": p.query_signature, "msg_signature": p.msg_signature,
        "body": p.body, "reply_content": "普卡会员，你现在有 128 积分。30 天内没有到期的积分。",
    });
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(format!("{dir}/oa-input.json"), input.to_string()).unwrap();
    c.bench_function("oa_encrypted_text_path", |b| {
        b.iter(|| handle(&key, black_box(&p)))
    });
    // Where the time goes, step by step.
    let ts = TIMESTAMP.to_string();
    let outer = xml::parse(p.body.as_bytes()).unwrap();
    let encrypt = outer["Encrypt"].clone();
    let inner = oa::decrypt(&key, &encrypt, APPID).unwrap();
    let inbound = Inbound::parse(inner.as_bytes()).unwrap();
    let reply = oa::text_reply(
        &inbound.from_user,
        &inbound.to_user,
        TIMESTAMP,
        "普卡会员，你现在有 128 积分。",
    );
    c.bench_function("step_signatures", |b| {
        b.iter(|| {
            oa::verify_signature(TOKEN, &ts, NONCE, black_box(&p.query_signature)).unwrap();
            oa::verify_msg_signature(TOKEN, &ts, NONCE, &encrypt, black_box(&p.msg_signature))
                .unwrap()
        })
    });
    c.bench_function("step_outer_xml", |b| {
        b.iter(|| xml::parse(black_box(p.body.as_bytes())).unwrap())
    });
    // What the path does: the envelope read borrowed, `Encrypt` a slice of the body.
    c.bench_function("step_outer_xml_borrowed", |b| {
        b.iter(|| xml::parse_borrowed(black_box(p.body.as_bytes())).unwrap())
    });
    c.bench_function("step_decrypt", |b| {
        b.iter(|| oa::decrypt(&key, black_box(&encrypt), APPID).unwrap())
    });
    c.bench_function("step_parse_inbound", |b| {
        b.iter(|| Inbound::parse(black_box(inner.as_bytes())).unwrap())
    });
    c.bench_function("step_text_reply", |b| {
        b.iter(|| {
            oa::text_reply(
                &inbound.from_user,
                &inbound.to_user,
                TIMESTAMP,
                black_box("普卡会员，你现在有 128 积分。"),
            )
        })
    });
    c.bench_function("step_encrypted_reply", |b| {
        b.iter(|| {
            oa::encrypted_reply(
                &key,
                TOKEN,
                APPID,
                black_box(&reply),
                TIMESTAMP,
                NONCE,
                [9u8; 16],
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
