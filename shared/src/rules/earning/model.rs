//! The earn rules' data: what operators write (TOML) and how it is checked before it may be
//! activated.

use super::{Purchase, TierThresholds, BP_ONE};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Member tiers (seed 003: by paid spend over the last 12 months).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    #[default]
    Regular,
    Silver,
    Gold,
    Diamond,
}

impl Tier {
    /// The tier's name as members see it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Regular => "普卡",
            Self::Silver => "银卡",
            Self::Gold => "金卡",
            Self::Diamond => "钻石卡",
        }
    }
}

/// Where a purchase was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The mini-program (online orders).
    MiniProgram,
    /// A store's till.
    Pos,
    /// A community group-buy round.
    GroupBuy,
}

/// Tier multipliers in basis points.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierMultipliers {
    pub regular: i64,
    pub silver: i64,
    pub gold: i64,
    pub diamond: i64,
}

/// Extra points on a category's lines: `bonus_bp` 3,000 = +30% (×1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryBonus {
    /// Shown in explanations, e.g. "生鲜加成".
    pub name: String,
    /// The catalog category it applies to.
    pub category: String,
    pub bonus_bp: i64,
}

/// A time-slot campaign, e.g. 周三鲜日 ×2 or 周末 ×1.5, within its dates and scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub name: String,
    pub multiplier_bp: i64,
    /// First and last business day (Asia/Shanghai), "YYYY-MM-DD", both included.
    pub starts_on: String,
    pub ends_on: String,
    /// ISO weekdays (Monday = 1 … Sunday = 7); empty = every day.
    #[serde(default)]
    pub weekdays: Vec<u32>,
    /// "HH:MM-HH:MM" business time, end excluded; absent = all day.
    #[serde(default)]
    pub hours: Option<String>,
    /// Store ids; empty = every store.
    #[serde(default)]
    pub stores: Vec<String>,
    /// Channels; empty = every channel.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Categories whose lines it multiplies; empty = every line.
    #[serde(default)]
    pub categories: Vec<String>,
}

/// Caps on purchase points (after multipliers); absent = none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    pub per_order: Option<i64>,
    pub per_day: Option<i64>,
}

/// The earn rules in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarnRules {
    /// Given on activation (0 = the compiled-in defaults); never read from an operator's file.
    #[serde(skip)]
    pub version: u32,
    /// Fen of goods cash per base point (seed 001: 1 yuan = 1 point).
    pub fen_per_point: i64,
    pub tiers: TierMultipliers,
    #[serde(default)]
    pub categories: Vec<CategoryBonus>,
    #[serde(default)]
    pub campaigns: Vec<Campaign>,
    #[serde(default)]
    pub caps: Caps,
    /// Rolling 12-month spend for each tier (absent = the seeds' defaults).
    #[serde(default)]
    pub tier_thresholds: TierThresholds,
}

impl Default for EarnRules {
    /// Seeds 001 and 003: 1 yuan = 1 point; 普卡 ×1, 银卡 ×1.2, 金卡 ×1.5, 钻石卡 ×2; no
    /// campaigns or caps until operators set them.
    fn default() -> Self {
        Self {
            version: 0,
            fen_per_point: 100,
            tiers: TierMultipliers {
                regular: BP_ONE,
                silver: 12_000,
                gold: 15_000,
                diamond: 20_000,
            },
            categories: Vec::new(),
            campaigns: Vec::new(),
            caps: Caps::default(),
            tier_thresholds: TierThresholds::default(),
        }
    }
}

/// Why rules were refused: nothing is activated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("not valid rules TOML: {0}")]
    Toml(String),
    #[error("{field}: {why}")]
    Invalid { field: String, why: String },
}

const MAX_MULTIPLIER_BP: i64 = 10 * BP_ONE;
const MAX_ITEMS: usize = 50;

fn invalid(field: impl Into<String>, why: impl Into<String>) -> RulesError {
    RulesError::Invalid {
        field: field.into(),
        why: why.into(),
    }
}

fn in_range(field: &str, value: i64, low: i64, high: i64) -> Result<(), RulesError> {
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{value} is not within {low}..={high}"),
        ))
    }
}

fn name(field: &str, text: &str) -> Result<(), RulesError> {
    let chars = text.trim().chars().count();
    if (1..=32).contains(&chars) {
        Ok(())
    } else {
        Err(invalid(field, "must be 1 to 32 characters"))
    }
}

/// "YYYY-MM-DD".
pub(super) fn day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// "HH:MM-HH:MM" as minutes of the day, the end excluded (24:00 allowed as an end).
pub(super) fn hours(text: &str) -> Option<(u32, u32)> {
    let minutes = |hm: &str| {
        let (h, m) = hm.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (from, to) = text.split_once('-')?;
    let (from, to) = (minutes(from)?, minutes(to)?);
    (from < to && from < 24 * 60).then_some((from, to))
}

impl EarnRules {
    /// Reads and checks an operator's rules file; the version is set when it is activated.
    pub fn from_toml(text: &str) -> Result<Self, RulesError> {
        let rules: Self = toml::from_str(text).map_err(|e| RulesError::Toml(e.to_string()))?;
        rules.validate()?;
        Ok(rules)
    }

    /// The rules as an operator's file (what `from_toml` reads back).
    pub fn to_toml(&self) -> Result<String, RulesError> {
        toml::to_string(self).map_err(|e| RulesError::Toml(e.to_string()))
    }

    /// Everything an operator can get wrong, named by field.
    pub fn validate(&self) -> Result<(), RulesError> {
        in_range("fen_per_point", self.fen_per_point, 1, 100_000)?;
        let t = &self.tiers;
        for (field, bp) in [
            ("tiers.regular", t.regular),
            ("tiers.silver", t.silver),
            ("tiers.gold", t.gold),
            ("tiers.diamond", t.diamond),
        ] {
            in_range(field, bp, 1, MAX_MULTIPLIER_BP)?;
        }
        if !(t.regular <= t.silver && t.silver <= t.gold && t.gold <= t.diamond) {
            return Err(invalid(
                "tiers",
                "a higher tier never earns less than a lower one",
            ));
        }
        if self.categories.len() > MAX_ITEMS || self.campaigns.len() > MAX_ITEMS {
            return Err(invalid("categories/campaigns", "at most 50 of each"));
        }
        for (i, c) in self.categories.iter().enumerate() {
            name(&format!("categories[{i}].name"), &c.name)?;
            name(&format!("categories[{i}].category"), &c.category)?;
            in_range(
                &format!("categories[{i}].bonus_bp"),
                c.bonus_bp,
                0,
                MAX_MULTIPLIER_BP,
            )?;
        }
        for (i, c) in self.campaigns.iter().enumerate() {
            c.validate(&format!("campaigns[{i}]"))?;
        }
        if !self.tier_thresholds.is_ordered() {
            return Err(invalid(
                "tier_thresholds",
                "positive, and silver < gold < diamond",
            ));
        }
        for (field, cap) in [
            ("caps.per_order", self.caps.per_order),
            ("caps.per_day", self.caps.per_day),
        ] {
            if let Some(cap) = cap {
                in_range(field, cap, 1, 100_000_000)?;
            }
        }
        Ok(())
    }

    /// The multiplier of `tier`, in basis points.
    pub fn tier_bp(&self, tier: Tier) -> i64 {
        match tier {
            Tier::Regular => self.tiers.regular,
            Tier::Silver => self.tiers.silver,
            Tier::Gold => self.tiers.gold,
            Tier::Diamond => self.tiers.diamond,
        }
    }
}

impl Campaign {
    fn validate(&self, at: &str) -> Result<(), RulesError> {
        name(&format!("{at}.name"), &self.name)?;
        in_range(
            &format!("{at}.multiplier_bp"),
            self.multiplier_bp,
            1,
            MAX_MULTIPLIER_BP,
        )?;
        let starts = day(&self.starts_on)
            .ok_or_else(|| invalid(format!("{at}.starts_on"), "expected \"YYYY-MM-DD\""))?;
        let ends = day(&self.ends_on)
            .ok_or_else(|| invalid(format!("{at}.ends_on"), "expected \"YYYY-MM-DD\""))?;
        if ends < starts {
            return Err(invalid(format!("{at}.ends_on"), "before starts_on"));
        }
        if let Some(bad) = self.weekdays.iter().find(|d| !(1..=7).contains(*d)) {
            return Err(invalid(
                format!("{at}.weekdays"),
                format!("{bad}: ISO weekdays are 1 (Monday) to 7 (Sunday)"),
            ));
        }
        if let Some(text) = &self.hours {
            if hours(text).is_none() {
                return Err(invalid(
                    format!("{at}.hours"),
                    "expected \"HH:MM-HH:MM\", start before end",
                ));
            }
        }
        Ok(())
    }

    /// Whether the campaign multiplies a line of `category` in `purchase`.
    pub(super) fn applies(&self, purchase: &Purchase<'_>, category: &str) -> bool {
        let date = purchase.at.date();
        let in_dates = matches!(
            (day(&self.starts_on), day(&self.ends_on)),
            (Some(starts), Some(ends)) if starts <= date && date <= ends
        );
        let in_hours = match self.hours.as_deref().map(hours) {
            None => true,
            Some(Some((from, to))) => (from..to).contains(&purchase.at.minutes_of_day()),
            Some(None) => false,
        };
        let weekday = date.weekday().number_from_monday();
        in_dates
            && in_hours
            && (self.weekdays.is_empty() || self.weekdays.contains(&weekday))
            && (self.stores.is_empty() || self.stores.iter().any(|s| s == purchase.store))
            && (self.channels.is_empty() || self.channels.contains(&purchase.channel))
            && (self.categories.is_empty() || self.categories.iter().any(|c| c == category))
    }
}
