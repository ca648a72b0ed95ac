//! Official Account interactions as configuration: which text keywords and menu `CLICK` keys ask
//! for a sign-in, the balance or the nearest store, and how a sign-in is rewarded (seed 001:
//! 签到 5 积分; a streak bonus; a daily cap on interaction points).
//!
//! The settings arrive as one optional JSON variable, `LINLI_OA_INTERACTIONS` (DESIGN §7), e.g.
//! `{"keywords": {"签到": "sign_in"}, "menu": {"SIGN_IN": "sign_in"}, "sign_in_points": 5,
//! "streak": {"days": 7, "bonus": 10}, "daily_cap": 50}`. Every field is optional and defaults to
//! the seeds; a `keywords` or `menu` object given replaces the seeded one entirely (so a keyword
//! can be retired); `"streak": null` / `"daily_cap": null` switch those off.

use super::signin::SIGN_IN_POINTS;
use crate::config::{optional, ConfigError, Source as ConfigSource};
use crate::money::Points;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The variable holding the interactions JSON.
pub const INTERACTIONS_VAR: &str = "LINLI_OA_INTERACTIONS";
/// The seeded streak: every 7th consecutive sign-in day earns 10 more points.
pub const DEFAULT_STREAK: Streak = Streak {
    days: 7,
    bonus: Points::new(10),
};
/// The seeded cap on the points one day's interactions may earn.
pub const DAILY_CAP_POINTS: Points = Points::new(50);
/// No configured amount (sign-in points, streak bonus, daily cap) may exceed this.
pub const MAX_INTERACTION_POINTS: Points = Points::new(10_000);
/// Keywords and menu keys are at most this many characters.
pub const MAX_TRIGGER_CHARS: usize = 32;
/// A streak spans 2 to 31 days: 1 would be a second sign-in bonus, a month is long enough.
pub const STREAK_DAYS: std::ops::RangeInclusive<u8> = 2..=31;

/// What a member asks of the Official Account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interaction {
    /// The daily sign-in, once per business day.
    SignIn,
    /// The balance, held points and what expires soon.
    Balance,
    /// The nearest open store.
    Nearby,
}

/// A sign-in streak: the sign-in on day `days`, `2 × days`, … of an unbroken run of business
/// days earns `bonus` more points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Streak {
    /// Length of the run, in business days (2..=31).
    pub days: u8,
    /// Extra points on the day the run completes (positive).
    pub bonus: Points,
}

/// The interactions configuration. Built only by `Default`, `from_json` or `from_source`, so it
/// always holds the validated shape: triggers non-empty, trimmed keywords, amounts in
/// 1..=`MAX_INTERACTION_POINTS`, a streak of `STREAK_DAYS`, a cap not below the sign-in points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteractionRules {
    /// Trimmed text keyword → interaction.
    keywords: BTreeMap<String, Interaction>,
    /// Menu `CLICK` key (exact, as WeChat sends it) → interaction.
    menu: BTreeMap<String, Interaction>,
    sign_in_points: Points,
    streak: Option<Streak>,
    daily_cap: Option<Points>,
}

impl Default for InteractionRules {
    /// Today's behaviour: the seeded keywords and menu keys, 5 points a sign-in, +10 on every
    /// 7th day in a row, at most 50 interaction points a day.
    fn default() -> Self {
        let entries = |pairs: &[(&str, Interaction)]| {
            pairs
                .iter()
                .map(|(k, i)| ((*k).to_owned(), *i))
                .collect::<BTreeMap<_, _>>()
        };
        Self {
            keywords: entries(&[
                ("签到", Interaction::SignIn),
                ("积分", Interaction::Balance),
                ("余额", Interaction::Balance),
                ("附近门店", Interaction::Nearby),
                ("门店", Interaction::Nearby),
            ]),
            menu: entries(&[
                ("SIGN_IN", Interaction::SignIn),
                ("BALANCE", Interaction::Balance),
                ("NEARBY", Interaction::Nearby),
            ]),
            sign_in_points: SIGN_IN_POINTS,
            streak: Some(DEFAULT_STREAK),
            daily_cap: Some(DAILY_CAP_POINTS),
        }
    }
}

impl InteractionRules {
    /// The interactions of `LINLI_OA_INTERACTIONS`; absent or empty means the defaults.
    pub fn from_source(source: &impl ConfigSource) -> Result<Self, ConfigError> {
        match optional(source, INTERACTIONS_VAR) {
            Some(text) => Self::from_json(&text),
            None => Ok(Self::default()),
        }
    }

    /// Parses and validates the JSON object described in the module docs. Errors name the
    /// variable and the offending field.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid {
            name: INTERACTIONS_VAR,
            why,
        };
        // Through a map first: a derived struct would also take a JSON array, field by position.
        let raw = serde_json::from_str::<Map<String, Value>>(text)
            .and_then(|object| Raw::deserialize(Value::Object(object)))
            .map_err(|e| invalid(e.to_string()))?;
        raw.into_rules().map_err(invalid)
    }

    /// The interaction a text message asks for (surrounding whitespace ignored).
    pub fn for_text(&self, content: &str) -> Option<Interaction> {
        self.keywords.get(content.trim()).copied()
    }

    /// The interaction a menu `CLICK` key asks for (exact match).
    pub fn for_click(&self, key: &str) -> Option<Interaction> {
        self.menu.get(key).copied()
    }

    /// Points for a daily sign-in, before the daily cap.
    /// A keyword that asks for `interaction` (for help texts): the shortest one, then the
    /// first in order; None when no keyword asks for it.
    pub fn keyword_for(&self, interaction: Interaction) -> Option<&str> {
        self.keywords
            .iter()
            .filter(|(_, i)| **i == interaction)
            .map(|(k, _)| k.as_str())
            .min_by_key(|k| (k.chars().count(), *k))
    }

    pub fn sign_in_points(&self) -> Points {
        self.sign_in_points
    }

    /// The streak, if one is configured.
    pub fn streak(&self) -> Option<Streak> {
        self.streak
    }

    /// The most points one day's interactions may earn, if capped.
    pub fn daily_cap(&self) -> Option<Points> {
        self.daily_cap
    }

    /// Rules with the seeded triggers and any amounts, unvalidated (e.g. a cap below the
    /// sign-in points), so tests can reach the trimming paths validation rules out.
    #[cfg(test)]
    pub(super) fn unchecked(
        sign_in_points: Points,
        streak: Option<Streak>,
        daily_cap: Option<Points>,
    ) -> Self {
        Self {
            sign_in_points,
            streak,
            daily_cap,
            ..Self::default()
        }
    }
}

/// The JSON as written. `Option<Option<_>>` tells an absent field (default) from `null`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default, deserialize_with = "present")]
    keywords: Option<Option<BTreeMap<String, Interaction>>>,
    #[serde(default, deserialize_with = "present")]
    menu: Option<Option<BTreeMap<String, Interaction>>>,
    #[serde(default, deserialize_with = "present")]
    sign_in_points: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present_object")]
    streak: Option<Option<RawStreak>>,
    #[serde(default, deserialize_with = "present")]
    daily_cap: Option<Option<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStreak {
    days: i64,
    bonus: i64,
}

/// A field that is present: `Some(None)` for `null`, `Some(Some(v))` for a value.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Like `present`, for a value that must be written as a JSON object (not an array).
fn present_object<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let object = Option::<Map<String, Value>>::deserialize(deserializer)?;
    object
        .map(|object| T::deserialize(Value::Object(object)).map_err(D::Error::custom))
        .transpose()
        .map(Some)
}

impl Raw {
    fn into_rules(self) -> Result<InteractionRules, String> {
        let seeds = InteractionRules::default();
        let not_null =
            |field: &str| format!("{field} cannot be null (leave it out for the default)");
        let keywords = match self.keywords {
            None => seeds.keywords,
            Some(None) => return Err(not_null("keywords")),
            Some(Some(map)) => keywords(map)?,
        };
        let menu = match self.menu {
            None => seeds.menu,
            Some(None) => return Err(not_null("menu")),
            Some(Some(map)) => menu(map)?,
        };
        let sign_in_points = match self.sign_in_points {
            None => seeds.sign_in_points,
            Some(None) => return Err(not_null("sign_in_points")),
            Some(Some(points)) => amount("sign_in_points", points)?,
        };
        let streak = match self.streak {
            None => seeds.streak,
            Some(None) => None,
            Some(Some(raw)) => Some(streak(raw)?),
        };
        let daily_cap = match self.daily_cap {
            None => seeds.daily_cap,
            Some(None) => None,
            Some(Some(points)) => Some(amount("daily_cap", points)?),
        };
        if let Some(cap) = daily_cap.filter(|cap| *cap < sign_in_points) {
            return Err(format!(
                "daily_cap ({}) is below sign_in_points ({})",
                cap.value(),
                sign_in_points.value()
            ));
        }
        Ok(InteractionRules {
            keywords,
            menu,
            sign_in_points,
            streak,
            daily_cap,
        })
    }
}

/// Keywords, trimmed; two spellings that trim to the same keyword are ambiguous.
fn keywords(map: BTreeMap<String, Interaction>) -> Result<BTreeMap<String, Interaction>, String> {
    let mut trimmed = BTreeMap::new();
    for (keyword, interaction) in map {
        let keyword = trigger("keyword", keyword.trim())?;
        if trimmed.insert(keyword.to_owned(), interaction).is_some() {
            return Err(format!("keyword {keyword:?} appears twice once trimmed"));
        }
    }
    Ok(trimmed)
}

/// Menu keys are kept exactly as written: WeChat sends back the key the menu was created with.
fn menu(map: BTreeMap<String, Interaction>) -> Result<BTreeMap<String, Interaction>, String> {
    for key in map.keys() {
        trigger("menu key", key)?;
    }
    Ok(map)
}

fn trigger<'a>(what: &str, text: &'a str) -> Result<&'a str, String> {
    if text.trim().is_empty() {
        return Err(format!("a {what} is empty"));
    }
    if text.chars().count() > MAX_TRIGGER_CHARS {
        let start: String = text.chars().take(MAX_TRIGGER_CHARS).collect();
        return Err(format!(
            "{what} {start:?}… is longer than {MAX_TRIGGER_CHARS} characters"
        ));
    }
    Ok(text)
}

fn amount(field: &str, points: i64) -> Result<Points, String> {
    let max = MAX_INTERACTION_POINTS.value();
    if points <= 0 {
        return Err(format!("{field} must be positive (got {points})"));
    }
    if points > max {
        return Err(format!("{field} must be at most {max} (got {points})"));
    }
    Ok(Points::new(points))
}

fn streak(raw: RawStreak) -> Result<Streak, String> {
    let days = u8::try_from(raw.days)
        .ok()
        .filter(|d| STREAK_DAYS.contains(d))
        .ok_or_else(|| {
            format!(
                "streak.days must be {} to {} (got {})",
                STREAK_DAYS.start(),
                STREAK_DAYS.end(),
                raw.days
            )
        })?;
    let bonus = amount("streak.bonus", raw.bonus)?;
    Ok(Streak { days, bonus })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(text: &str) -> String {
        match InteractionRules::from_json(text) {
            Err(ConfigError::Invalid { name, why }) => {
                assert_eq!(name, INTERACTIONS_VAR);
                why
            }
            other => panic!("expected an invalid configuration for {text}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_seeds() {
        let rules = InteractionRules::default();
        for (text, wanted) in [
            ("签到", Interaction::SignIn),
            ("积分", Interaction::Balance),
            ("余额", Interaction::Balance),
            ("附近门店", Interaction::Nearby),
            ("门店", Interaction::Nearby),
        ] {
            assert_eq!(rules.for_text(text), Some(wanted), "{text}");
        }
        assert_eq!(rules.for_click("SIGN_IN"), Some(Interaction::SignIn));
        assert_eq!(rules.for_click("BALANCE"), Some(Interaction::Balance));
        assert_eq!(rules.for_click("NEARBY"), Some(Interaction::Nearby));
        assert_eq!(rules.keywords.len(), 5);
        assert_eq!(rules.menu.len(), 3);
        assert_eq!(rules.sign_in_points(), Points::new(5));
        assert_eq!(
            rules.streak(),
            Some(Streak {
                days: 7,
                bonus: Points::new(10)
            })
        );
        assert_eq!(rules.daily_cap(), Some(Points::new(50)));
        assert_eq!(InteractionRules::from_json("{}"), Ok(rules));
    }

    #[test]
    fn interactions_are_snake_case_in_json() {
        let names = [
            Interaction::SignIn,
            Interaction::Balance,
            Interaction::Nearby,
        ]
        .map(|i| serde_json::to_string(&i).unwrap());
        assert_eq!(names, [r#""sign_in""#, r#""balance""#, r#""nearby""#]);
    }

    #[test]
    fn an_absent_or_empty_variable_means_the_defaults() {
        let mut env = BTreeMap::new();
        assert_eq!(
            InteractionRules::from_source(&env),
            Ok(InteractionRules::default())
        );
        env.insert(INTERACTIONS_VAR.to_owned(), "  ".to_owned());
        assert_eq!(
            InteractionRules::from_source(&env),
            Ok(InteractionRules::default())
        );
        env.insert(
            INTERACTIONS_VAR.to_owned(),
            r#"{"sign_in_points": 8}"#.to_owned(),
        );
        let rules = InteractionRules::from_source(&env).unwrap();
        assert_eq!(rules.sign_in_points(), Points::new(8));
        env.insert(INTERACTIONS_VAR.to_owned(), "[]".to_owned());
        let err = InteractionRules::from_source(&env).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("LINLI_OA_INTERACTIONS is invalid"),
            "{err}"
        );
    }

    #[test]
    fn the_full_example_parses() {
        let rules = InteractionRules::from_json(
            r#"{"keywords": {"签到": "sign_in", "打卡": "sign_in"}, "menu": {"SIGN_IN": "sign_in"},
                "sign_in_points": 6, "streak": {"days": 3, "bonus": 4}, "daily_cap": 9}"#,
        )
        .unwrap();
        assert_eq!(rules.for_text("打卡"), Some(Interaction::SignIn));
        assert_eq!(
            rules.for_text("积分"),
            None,
            "a keywords object replaces the seeds"
        );
        assert_eq!(rules.for_click("SIGN_IN"), Some(Interaction::SignIn));
        assert_eq!(
            rules.for_click("BALANCE"),
            None,
            "a menu object replaces the seeds"
        );
        assert_eq!(rules.sign_in_points(), Points::new(6));
        assert_eq!(
            rules.streak(),
            Some(Streak {
                days: 3,
                bonus: Points::new(4)
            })
        );
        assert_eq!(rules.daily_cap(), Some(Points::new(9)));
    }

    #[test]
    fn a_partial_object_keeps_the_other_defaults() {
        let rules = InteractionRules::from_json(r#"{"menu": {"QIANDAO": "sign_in"}}"#).unwrap();
        let seeds = InteractionRules::default();
        assert_eq!(rules.for_click("QIANDAO"), Some(Interaction::SignIn));
        assert_eq!(rules.keywords, seeds.keywords);
        assert_eq!(rules.sign_in_points(), seeds.sign_in_points());
        assert_eq!(rules.streak(), seeds.streak());
        assert_eq!(rules.daily_cap(), seeds.daily_cap());
    }

    #[test]
    fn null_switches_the_streak_and_the_cap_off() {
        let rules = InteractionRules::from_json(r#"{"streak": null, "daily_cap": null}"#).unwrap();
        assert_eq!(rules.streak(), None);
        assert_eq!(rules.daily_cap(), None);
        assert_eq!(rules.sign_in_points(), SIGN_IN_POINTS);
        for field in ["keywords", "menu", "sign_in_points"] {
            let why = why(&format!(r#"{{"{field}": null}}"#));
            assert!(
                why.contains(field) && why.contains("cannot be null"),
                "{why}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_interactions_are_refused() {
        assert!(why(r#"{"sign_in": 5}"#).contains("unknown field `sign_in`"));
        assert!(why(r#"{"streak": {"days": 7, "bonus": 10, "max": 1}}"#)
            .contains("unknown field `max`"));
        assert!(why(r#"{"keywords": {"签到": "signin"}}"#).contains("unknown variant `signin`"));
        assert!(why(r#"{"streak": {"days": 7}}"#).contains("missing field `bonus`"));
        assert!(why("not json").contains("expected"));
        assert!(
            why("[]").contains("expected a map"),
            "an object, not an array"
        );
        assert!(why(r#"{"streak": [7, 10]}"#).contains("expected a map"));
    }

    #[test]
    fn triggers_must_be_short_and_not_blank() {
        let long = "签".repeat(MAX_TRIGGER_CHARS + 1);
        let cases = [
            (
                r#"{"keywords": {"  ": "balance"}}"#.to_owned(),
                "a keyword is empty",
            ),
            (
                format!(r#"{{"keywords": {{"{long}": "balance"}}}}"#),
                "keyword ",
            ),
            (
                r#"{"menu": {" ": "balance"}}"#.to_owned(),
                "a menu key is empty",
            ),
            (
                format!(r#"{{"menu": {{"{long}": "balance"}}}}"#),
                "menu key ",
            ),
            (
                r#"{"keywords": {"签到": "sign_in", " 签到 ": "balance"}}"#.to_owned(),
                "keyword \"签到\" appears twice once trimmed",
            ),
        ];
        for (json, wanted) in cases {
            let why = why(&json);
            assert!(why.contains(wanted), "{json}: {why}");
        }
        assert!(why(&format!(r#"{{"menu": {{"{long}": "nearby"}}}}"#)).contains("longer than 32"));
        let exactly = "签".repeat(MAX_TRIGGER_CHARS);
        let json = format!(r#"{{"keywords": {{"  {exactly}  ": "balance"}}}}"#);
        assert!(
            InteractionRules::from_json(&json).is_ok(),
            "32 characters once trimmed"
        );
    }

    #[test]
    fn amounts_are_positive_and_bounded() {
        let cases = [
            (
                r#"{"sign_in_points": 0}"#,
                "sign_in_points must be positive (got 0)",
            ),
            (
                r#"{"sign_in_points": -5}"#,
                "sign_in_points must be positive (got -5)",
            ),
            (
                r#"{"sign_in_points": 10001}"#,
                "sign_in_points must be at most 10000",
            ),
            (
                r#"{"streak": {"days": 1, "bonus": 10}}"#,
                "streak.days must be 2 to 31 (got 1)",
            ),
            (
                r#"{"streak": {"days": 32, "bonus": 10}}"#,
                "streak.days must be 2 to 31 (got 32)",
            ),
            (r#"{"streak": {"days": 300, "bonus": 10}}"#, "(got 300)"),
            (
                r#"{"streak": {"days": 7, "bonus": 0}}"#,
                "streak.bonus must be positive",
            ),
            (
                r#"{"streak": {"days": 7, "bonus": 20000}}"#,
                "streak.bonus must be at most",
            ),
            (r#"{"daily_cap": 0}"#, "daily_cap must be positive"),
            (
                r#"{"daily_cap": 4}"#,
                "daily_cap (4) is below sign_in_points (5)",
            ),
            (
                r#"{"sign_in_points": 60}"#,
                "daily_cap (50) is below sign_in_points (60)",
            ),
        ];
        for (json, wanted) in cases {
            let why = why(json);
            assert!(why.contains(wanted), "{json}: {why}");
        }
        let edge =
            r#"{"sign_in_points": 10000, "daily_cap": 10000, "streak": {"days": 31, "bonus": 1}}"#;
        assert!(InteractionRules::from_json(edge).is_ok());
        assert!(
            InteractionRules::from_json(r#"{"sign_in_points": 60, "daily_cap": null}"#).is_ok()
        );
    }

    #[test]
    fn keyword_lookup_trims_and_menu_keys_are_exact() {
        let rules = InteractionRules::from_json(r#"{"keywords": {" 打卡\n": "sign_in"}}"#).unwrap();
        assert_eq!(
            rules.keywords.keys().collect::<Vec<_>>(),
            ["打卡"],
            "stored trimmed"
        );
        assert_eq!(rules.for_text("打卡"), Some(Interaction::SignIn));
        assert_eq!(rules.for_text("  打卡 \r\n"), Some(Interaction::SignIn));
        assert_eq!(rules.for_text("打 卡"), None);
        assert_eq!(rules.for_text(""), None);
        let seeds = InteractionRules::default();
        assert_eq!(seeds.for_click("SIGN_IN "), None);
        assert_eq!(seeds.for_click("sign_in"), None);
    }
}
