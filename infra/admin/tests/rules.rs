//! `linli-admin rules` against DynamoDB Local: the defaults until a version is set, an invalid
//! file refused naming the field with nothing changed, a dry run that activates nothing, a valid
//! file activated as the next version (once: the same file again changes nothing), and the
//! history newest first.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{admin, client, config_table};

const CAMPAIGN_DAY: &str = r#"
fen_per_point = 100

[tiers]
regular = 10000
silver = 12000
gold = 15000
diamond = 20000

[[categories]]
name = "生鲜加成"
category = "fresh"
bonus_bp = 5000

[[campaigns]]
name = "周三鲜日"
multiplier_bp = 20000
starts_on = "2026-01-01"
ends_on = "2026-12-31"
weekdays = [3]
categories = ["fresh"]
"#;

fn file(name: &str, text: &str) -> String {
    let path =
        std::env::temp_dir().join(format!("linli-rules-{name}-{:08x}.toml", fastrand::u32(..)));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn versions(table: &str) -> Vec<u64> {
    let run = admin(&["--config-table", table, "rules", "history", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    run.json()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn rules_are_checked_before_activation_and_versioned_once() {
    let client = client();
    let table = config_table(&client, "rules").await;
    let set = |path: String, extra: &'static [&'static str]| {
        let table = table.clone();
        async move {
            let mut args = vec![
                "--config-table",
                &table,
                "rules",
                "set",
                &path,
                "--operator",
                "alice",
                "--reason",
                "fresh day",
            ];
            args.extend_from_slice(extra);
            admin(&args).await
        }
    };

    // Nothing set yet: the compiled-in defaults, version 0, as TOML to start from.
    let shown = admin(&["--config-table", &table, "rules", "show"]).await;
    assert_eq!(shown.code, 0, "{shown:?}");
    assert!(shown.stdout.contains("version 0"), "{}", shown.stdout);
    assert!(shown.stdout.contains("gold = 15000"), "{}", shown.stdout);

    // An invalid file is refused, naming the field; nothing changes.
    let invalid = set(
        file(
            "bad",
            &CAMPAIGN_DAY.replace("weekdays = [3]", "weekdays = [9]"),
        ),
        &[],
    )
    .await;
    assert_eq!(invalid.code, 2, "{invalid:?}");
    assert!(
        invalid.stderr.contains("campaigns[0].weekdays"),
        "{}",
        invalid.stderr
    );
    assert!(
        invalid.stderr.contains("nothing changed"),
        "{}",
        invalid.stderr
    );
    let typo = set(
        file("typo", &CAMPAIGN_DAY.replace("bonus_bp", "bonus")),
        &[],
    )
    .await;
    assert_eq!(typo.code, 2, "{typo:?}");
    assert_eq!(versions(&table).await, [0]);

    // A dry run checks and previews only.
    let good = file("good", CAMPAIGN_DAY);
    let dry = set(good.clone(), &["--dry-run", "--json"]).await;
    assert_eq!(
        (dry.code, dry.json()["outcome"].as_str()),
        (0, Some("checked")),
        "{dry:?}"
    );
    assert_eq!(versions(&table).await, [0]);

    // Activated as version 1; the same file again is no new version.
    let activated = set(good.clone(), &["--json"]).await;
    assert_eq!(activated.code, 0, "{activated:?}");
    assert_eq!(activated.json()["version"], 1);
    let again = set(good, &["--json"]).await;
    assert_eq!(again.json()["outcome"], "unchanged", "{again:?}");
    assert_eq!(versions(&table).await, [1, 0]);

    let shown = admin(&["--config-table", &table, "rules", "show", "--json"]).await;
    let shown = shown.json();
    assert_eq!(
        (shown["version"].as_u64(), shown["operator"].as_str()),
        (Some(1), Some("alice"))
    );
    assert_eq!(shown["earn"]["campaigns"][0]["name"], "周三鲜日");
    let old = admin(&[
        "--config-table",
        &table,
        "rules",
        "show",
        "--version",
        "0",
        "--json",
    ])
    .await;
    assert_eq!(old.json()["earn"]["campaigns"], serde_json::json!([]));
    let missing = admin(&["--config-table", &table, "rules", "show", "--version", "7"]).await;
    assert_eq!(missing.code, 1, "{missing:?}");
}
