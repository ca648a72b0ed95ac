//! Hostile inputs (issue 13, part 3) for the parsers no module-level property test covered yet:
//! the courier callbacks (raw bytes, and well-signed bodies of random fields, so the parser past
//! the signature is reached), the couriers' API answers, well-signed Pay v2 notifies of any fields
//! (so the notice reader past the XML and the sign is reached), the secret's JSON, and the
//! operators' round and template files. Each returns a value or a typed error — never a panic. (OA XML,
//! decryption, Pay v2 XML and v3 JSON, sessions, POS requests and envelopes have their own
//! proptests beside their parsers.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::courier::callback::CallbackError;
use linli::courier::meituan::MeituanConfig;
use linli::courier::sf::SfConfig;
use linli::courier::{callback, dada, meituan, sf};
use linli::groupbuy::template::TemplateFile;
use linli::groupbuy::RoundFile;
use linli::time::BusinessTime;
use linli::wechat::pay_notify;
use linli::wechat::pay_v2::{self, SignType};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn sf_config() -> SfConfig {
    SfConfig {
        dev_id: "1234".into(),
        dev_key: "sf-key".into(),
    }
}

fn meituan_config() -> MeituanConfig {
    MeituanConfig {
        app_key: "mt-app".into(),
        secret: "mt-secret".into(),
    }
}

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A courier-shaped object: the fields the parsers read, each with any JSON value (or absent).
fn courier_object() -> impl Strategy<Value = Value> {
    const FIELDS: [&str; 14] = [
        "order_id",
        "order_status",
        "update_time",
        "signature",
        "client_id",
        "cancel_from",
        "dm_name",
        "dm_mobile",
        "finishTime",
        "cancelTime",
        "shop_order_id",
        "push_time",
        "url_index",
        "rider_phone",
    ];
    prop::collection::vec((0..FIELDS.len(), json()), 0..10).prop_map(|fields| {
        let map = fields
            .into_iter()
            .map(|(i, v)| (FIELDS[i].to_owned(), v))
            .collect();
        Value::Object(map)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn courier_callbacks_and_answers_never_panic_on_raw_bytes(raw in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = callback::dada(&raw);
        let _ = callback::sf(&raw, &sf::sign(&raw, "1234", "sf-key"), &sf_config());
        let _ = callback::meituan(&raw, &meituan_config());
        let _ = dada::created("O-1", &raw);
        let _ = dada::remote("O-1", &raw);
        let _ = dada::cancelled(&raw);
        let _ = sf::created(&raw);
        let _ = sf::remote(&raw);
        let _ = sf::cancelled(&raw);
        let _ = meituan::created(&raw);
        let _ = meituan::remote(&raw);
        let _ = meituan::cancelled(&raw);
    }

    #[test]
    fn well_signed_courier_bodies_of_any_fields_never_panic(body in courier_object()) {
        let raw = body.to_string().into_bytes();
        let _ = callback::dada(&raw);
        let signed = sf::sign(&raw, "1234", "sf-key");
        let parsed = callback::sf(&raw, &signed, &sf_config());
        prop_assert!(!matches!(parsed, Err(CallbackError::BadSignature)), "the parser is reached");
        let _ = dada::remote("O-1", &raw);
        let _ = sf::remote(&raw);
        let _ = meituan::remote(&raw);
    }

    #[test]
    fn well_signed_meituan_forms_of_any_values_never_panic(
        values in prop::collection::vec(".{0,24}", 12),
    ) {
        const KEYS: [&str; 12] = [
            "delivery_id", "mt_peisong_id", "order_id", "status", "courier_name", "courier_phone",
            "cancel_reason_id", "cancel_reason", "timestamp", "version", "operate_time",
            "exception_id",
        ];
        let mut params: BTreeMap<String, String> =
            KEYS.iter().map(|k| (*k).to_owned()).zip(values).collect();
        params.insert("appkey".into(), "mt-app".into());
        let sign = meituan::sign(&params, "mt-secret");
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params {
            form.append_pair(k, v);
        }
        form.append_pair("sign", &sign);
        let raw = form.finish().into_bytes();
        let parsed = callback::meituan(&raw, &meituan_config());
        prop_assert!(!matches!(parsed, Err(CallbackError::BadSignature)), "the parser is reached");
    }

    #[test]
    fn secrets_and_operator_files_never_panic(text in "(?s).{0,300}") {
        let _ = linli::secrets::parse(&text);
        let now = BusinessTime::from_epoch_ms(1_795_000_000_000).unwrap();
        if let Ok(file) = toml::from_str::<RoundFile>(&text) {
            let _ = file.round(now);
        }
        if let Ok(file) = toml::from_str::<TemplateFile>(&text) {
            let _ = file.template(now);
        }
    }

    #[test]
    fn secrets_of_any_json_are_a_map_or_an_error_naming_why(value in json()) {
        match linli::secrets::parse(&value.to_string()) {
            Ok(map) => prop_assert!(value.is_object() && map.len() == value.as_object().unwrap().len()),
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }
}

/// A Pay v2 notify's fields: the real names (each present or not) with any text, plus strays.
fn pay_fields() -> impl Strategy<Value = BTreeMap<String, String>> {
    const NAMES: [&str; 12] = [
        "appid",
        "mch_id",
        "out_trade_no",
        "transaction_id",
        "openid",
        "total_fee",
        "cash_fee",
        "time_end",
        "result_code",
        "return_code",
        "return_msg",
        "trade_type",
    ];
    // Any printable text: WeChat signs values as sent, and XML itself changes control characters
    // and line ends, so those are the XML reader's proptest, not this one's.
    let value = prop_oneof!["[0-9]{0,12}", "SUCCESS|FAIL|", "[^\\x00-\\x1f\\x7f]{0,40}"];
    (
        prop::collection::vec(prop::option::of(value), NAMES.len()),
        prop::collection::btree_map("[a-z_]{1,12}", "[a-zA-Z0-9]{0,12}", 0..4),
    )
        .prop_map(|(values, strays)| {
            let mut fields: BTreeMap<String, String> = NAMES
                .iter()
                .zip(values)
                .filter_map(|(name, value)| value.map(|v| ((*name).to_owned(), v)))
                .collect();
            fields.extend(strays);
            // CDATA cannot hold "]]>", and the reader trims text as WeChat's values never need.
            fields.retain(|name, value| {
                name != "sign" && !value.contains("]]>") && value.trim() == value
            });
            fields
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A notify signed with the right key, of any fields and values, gets past the XML and the
    /// sign to the notice reader, which answers a notice or a typed error.
    #[test]
    fn well_signed_pay_v2_notifies_of_any_fields_never_panic(fields in pay_fields()) {
        const KEY: &str = "localpayapikey0123456789abcdefgh";
        let sign = pay_v2::sign(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())), KEY, SignType::Md5);
        let body: String = fields
            .iter()
            .map(|(k, v)| format!("<{k}><![CDATA[{v}]]></{k}>"))
            .collect();
        let xml = format!("<xml>{body}<sign>{sign}</sign></xml>");
        let parsed = pay_v2::parse(xml.as_bytes());
        prop_assert!(parsed.is_ok(), "a well-formed notify parses: {parsed:?}");
        let parsed = parsed.unwrap();
        prop_assert!(pay_v2::verify(&parsed, KEY, SignType::Md5).is_ok());
        let _ = pay_notify::read(&parsed);
    }
}
