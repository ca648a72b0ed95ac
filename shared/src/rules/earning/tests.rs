//! Rule evaluation from the seeds' examples: tiers, category bonuses, campaigns and their
//! scopes, stacking, rounding once, caps, the rules in force at payment time; validation.

use super::*;
use proptest::prelude::*;

/// The seeds' campaigns (003: 周三鲜日 ×2 on fresh produce, 周末 ×1.5; 生鲜 +50%, 新品类 +30%)
/// over the default tiers, with caps.
const SEEDS: &str = r#"
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

[[categories]]
name = "新品类"
category = "imported"
bonus_bp = 3000

[[campaigns]]
name = "周三鲜日"
multiplier_bp = 20000
starts_on = "2026-01-01"
ends_on = "2026-12-31"
weekdays = [3]
categories = ["fresh"]

[[campaigns]]
name = "周末"
multiplier_bp = 15000
starts_on = "2026-11-01"
ends_on = "2026-11-30"
weekdays = [6, 7]
stores = ["S-JINGAN"]

[[campaigns]]
name = "晚市"
multiplier_bp = 12000
starts_on = "2026-11-01"
ends_on = "2026-11-30"
hours = "17:30-19:30"
channels = ["pos"]

[caps]
per_order = 2000
per_day = 3000
"#;

fn seeds() -> EarnRules {
    EarnRules::from_toml(SEEDS).unwrap()
}

/// 2026-11-25 is a Wednesday; 11-28 a Saturday.
fn at(text: &str) -> BusinessTime {
    BusinessTime::parse_rfc3339(text).unwrap()
}

struct Case {
    what: &'static str,
    at: &'static str,
    store: &'static str,
    channel: Channel,
    tier: Tier,
    lines: &'static [(&'static str, i64)],
    earned_today: i64,
    points: i64,
    explanation: &'static str,
}

const TUESDAY: &str = "2026-11-24T10:00:00+08:00";
const WEDNESDAY: &str = "2026-11-25T10:00:00+08:00";
const SATURDAY: &str = "2026-11-28T10:00:00+08:00";

fn case(what: &'static str, tier: Tier, lines: &'static [(&'static str, i64)]) -> Case {
    Case {
        what,
        at: TUESDAY,
        store: "S-PUDONG",
        channel: Channel::MiniProgram,
        tier,
        lines,
        earned_today: 0,
        points: 0,
        explanation: "",
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            points: 100,
            explanation: "100 = 100 base",
            ..case(
                "普卡: 1 yuan = 1 point",
                Tier::Regular,
                &[("grocery", 10_000)],
            )
        },
        Case {
            points: 150,
            explanation: "150 = 100 base × 1.5 金卡",
            ..case("金卡 ×1.5", Tier::Gold, &[("grocery", 10_000)])
        },
        Case {
            points: 106,
            explanation: "106 = 88.5 base × 1.2 银卡, rounded down",
            ..case("银卡 ×1.2 rounds down", Tier::Silver, &[("grocery", 8_850)])
        },
        Case {
            points: 200,
            explanation: "200 = 100 base × 2 钻石卡",
            ..case("钻石卡 ×2", Tier::Diamond, &[("grocery", 10_000)])
        },
        Case {
            points: 1,
            explanation: "1 = 1.5 base, rounded down",
            ..case(
                "rounded once over the order, not per line",
                Tier::Regular,
                &[("grocery", 50), ("grocery", 50), ("snacks", 50)],
            )
        },
        Case {
            points: 180,
            explanation: "180 = 60 base × 1.5 金卡 + 40 base × 1.5 金卡 × 1.5 生鲜加成",
            ..case(
                "category bonus on its lines only",
                Tier::Gold,
                &[("grocery", 6_000), ("fresh", 4_000)],
            )
        },
        Case {
            points: 130,
            explanation: "130 = 100 base × 1.3 新品类",
            ..case("新品类 +30%", Tier::Regular, &[("imported", 10_000)])
        },
        Case {
            at: WEDNESDAY,
            points: 270,
            explanation:
                "270 = 40 base × 1.5 金卡 × 1.5 生鲜加成 × 2 周三鲜日 + 60 base × 1.5 金卡",
            ..case(
                "周三鲜日 stacks on fresh lines",
                Tier::Gold,
                &[("fresh", 4_000), ("grocery", 6_000)],
            )
        },
        Case {
            at: SATURDAY,
            store: "S-JINGAN",
            points: 180,
            explanation: "180 = 100 base × 1.2 银卡 × 1.5 周末",
            ..case("周末 in its store", Tier::Silver, &[("grocery", 10_000)])
        },
        Case {
            at: SATURDAY,
            points: 120,
            explanation: "120 = 100 base × 1.2 银卡",
            ..case(
                "周末 not in another store",
                Tier::Silver,
                &[("grocery", 10_000)],
            )
        },
        Case {
            at: "2026-11-24T18:00:00+08:00",
            channel: Channel::Pos,
            points: 120,
            explanation: "120 = 100 base × 1.2 晚市",
            ..case(
                "晚市 at the till in its hours",
                Tier::Regular,
                &[("grocery", 10_000)],
            )
        },
        Case {
            at: "2026-11-24T18:00:00+08:00",
            points: 100,
            explanation: "100 = 100 base",
            ..case("晚市 not online", Tier::Regular, &[("grocery", 10_000)])
        },
        Case {
            at: "2026-11-24T19:30:00+08:00",
            channel: Channel::Pos,
            points: 100,
            explanation: "100 = 100 base",
            ..case("晚市 ends at 19:30", Tier::Regular, &[("grocery", 10_000)])
        },
        Case {
            points: 2000,
            explanation: "3000 = 2000 base × 1.5 金卡; order cap 2000 → 2000",
            ..case("per-order cap", Tier::Gold, &[("grocery", 200_000)])
        },
        Case {
            earned_today: 2_900,
            points: 100,
            explanation: "150 = 100 base × 1.5 金卡; daily cap 3000 → 100",
            ..case(
                "per-day cap: what is left of it",
                Tier::Gold,
                &[("grocery", 10_000)],
            )
        },
        Case {
            earned_today: 3_100,
            points: 0,
            explanation: "100 = 100 base; daily cap 3000 → 0",
            ..case("per-day cap used up", Tier::Regular, &[("grocery", 10_000)])
        },
        Case {
            points: 0,
            explanation: "0: no goods paid in cash",
            ..case("nothing paid in cash", Tier::Gold, &[("grocery", 0)])
        },
    ]
}

#[test]
fn the_seeds_examples_earn_what_they_say() {
    let rules = seeds();
    for c in cases() {
        let lines: Vec<EarnLine<'_>> = c
            .lines
            .iter()
            .map(|(category, fen)| EarnLine {
                category,
                cash: Fen::new(*fen),
            })
            .collect();
        let earned = rules.evaluate(&Purchase {
            at: at(c.at),
            store: c.store,
            channel: c.channel,
            tier: c.tier,
            lines: &lines,
            earned_today: Points::new(c.earned_today),
        });
        assert_eq!(
            (earned.points.value(), earned.explanation.as_str()),
            (c.points, c.explanation),
            "{}",
            c.what
        );
    }
}

#[test]
fn the_campaign_in_force_at_payment_time_counts_not_the_processing_time() {
    // Paid on the last evening of 周三鲜日's run; a DLQ redrive evaluates it the next day with the
    // payment's time, so yesterday's campaign still applies.
    let mut rules = seeds();
    rules.campaigns[0].ends_on = "2026-11-25".to_owned();
    let lines = [EarnLine {
        category: "fresh",
        cash: Fen::new(10_000),
    }];
    let purchase = |when| Purchase {
        at: at(when),
        store: "S-PUDONG",
        channel: Channel::MiniProgram,
        tier: Tier::Regular,
        lines: &lines,
        earned_today: Points::ZERO,
    };
    assert_eq!(
        rules
            .evaluate(&purchase("2026-11-25T23:59:00+08:00"))
            .points,
        Points::new(300)
    );
    // A Wednesday after the campaign ended: the category bonus only.
    assert_eq!(
        rules
            .evaluate(&purchase("2026-12-02T10:00:00+08:00"))
            .points,
        Points::new(150)
    );
}

#[test]
fn the_compiled_in_defaults_are_the_seeds_tiers_and_keep_one_yuan_one_point() {
    let rules = EarnRules::default();
    assert_eq!(rules.validate(), Ok(()));
    assert_eq!(rules.version, 0);
    let lines = [EarnLine {
        category: "grocery",
        cash: Fen::new(8_899),
    }];
    let earned = rules.evaluate(&Purchase {
        at: at(TUESDAY),
        store: "S",
        channel: Channel::Pos,
        tier: Tier::Regular,
        lines: &lines,
        earned_today: Points::ZERO,
    });
    assert_eq!(earned.points, crate::rules::base_earn(Fen::new(8_899)));
}

#[test]
fn rules_written_out_read_back_the_same() {
    let rules = seeds();
    let text = rules.to_toml().unwrap();
    assert_eq!(EarnRules::from_toml(&text).unwrap(), rules);
    let defaults = EarnRules::default().to_toml().unwrap();
    assert_eq!(
        EarnRules::from_toml(&defaults).unwrap(),
        EarnRules::default()
    );
}

#[test]
fn invalid_rules_are_refused_naming_the_field() {
    let refused = |from: &str, to: &str| {
        assert!(SEEDS.contains(from), "{from}");
        EarnRules::from_toml(&SEEDS.replacen(from, to, 1)).unwrap_err()
    };
    let field = |e: RulesError| match e {
        RulesError::Invalid { field, .. } => field,
        RulesError::Toml(why) => format!("toml: {why}"),
    };
    assert_eq!(field(refused("gold = 15000", "gold = 11000")), "tiers");
    assert_eq!(
        field(refused("weekdays = [3]", "weekdays = [8]")),
        "campaigns[0].weekdays"
    );
    assert_eq!(
        field(refused(
            "ends_on = \"2026-12-31\"",
            "ends_on = \"2025-12-31\""
        )),
        "campaigns[0].ends_on"
    );
    assert_eq!(
        field(refused(
            "hours = \"17:30-19:30\"",
            "hours = \"19:30-17:30\""
        )),
        "campaigns[2].hours"
    );
    assert_eq!(
        field(refused("per_day = 3000", "per_day = -1")),
        "caps.per_day"
    );
    assert_eq!(
        field(refused(
            "[caps]",
            "[tier_thresholds]\nsilver_fen = 9\ngold_fen = 8\ndiamond_fen = 10\n\n[caps]"
        )),
        "tier_thresholds"
    );
    assert_eq!(
        field(refused("bonus_bp = 5000", "bonus_bp = 500000")),
        "categories[0].bonus_bp"
    );
    // Unknown fields and wrong types are TOML errors (a typo never silently does nothing).
    assert!(matches!(
        refused("per_order = 2000", "per_ordr = 2000"),
        RulesError::Toml(_)
    ));
    assert!(matches!(
        refused("channels = [\"pos\"]", "channels = [\"fax\"]"),
        RulesError::Toml(_)
    ));
    assert!(matches!(
        EarnRules::from_toml("version = 7\n"),
        Err(RulesError::Toml(_))
    ));
}

proptest! {
    #[test]
    fn points_never_exceed_the_caps_nor_go_negative(
        fens in proptest::collection::vec(-1_000i64..10_000_000, 0..6),
        earned_today in 0i64..5_000,
        hour in 0u32..24,
        tier in 0usize..4,
    ) {
        let rules = seeds();
        let lines: Vec<EarnLine<'_>> = fens.iter().enumerate().map(|(i, fen)| EarnLine {
            category: ["fresh", "grocery", "imported"][i % 3],
            cash: Fen::new(*fen),
        }).collect();
        let when = format!("2026-11-25T{hour:02}:00:00+08:00");
        let earned = rules.evaluate(&Purchase {
            at: at(&when),
            store: "S-JINGAN",
            channel: Channel::Pos,
            tier: [Tier::Regular, Tier::Silver, Tier::Gold, Tier::Diamond][tier],
            lines: &lines,
            earned_today: Points::new(earned_today),
        });
        let points = earned.points.value();
        prop_assert!(points >= 0);
        prop_assert!(points <= 2_000);
        prop_assert!(points <= (3_000 - earned_today).max(0));
        prop_assert!(!earned.explanation.is_empty());
    }

    #[test]
    fn any_text_is_refused_or_read_never_a_panic(text in ".{0,300}") {
        let _ = EarnRules::from_toml(&text);
    }
}
