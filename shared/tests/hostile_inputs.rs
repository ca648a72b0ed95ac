//! Hostile inputs (issue 13, part 3) for the parsers no module-level property test covered yet:
//! the courier callbacks (raw bytes, and well-signed bodies of random fields, so the parser past
//! the signature is reached), the couriers' API answers, the secret's JSON, and the operators'
//! round and template files. Each returns a value or a typed error — never a panic. (OA XML,
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
