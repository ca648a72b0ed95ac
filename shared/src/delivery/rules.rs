//! The delivery pricing rules (seed 000) as data: fee bands, points per yuan of fee, peaks,
//! weather factors, tier discounts, the free-delivery threshold and what lowers it, priority, and
//! the courier platforms' terms routing chooses among.
//! Operators change them with `linli-admin delivery set <file.toml>`; every field is checked
//! before they apply.

use super::routing::{Platform, PlatformOffer};
use crate::rules::earning::Tier;
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};

/// 10,000 basis points = ×1.
pub const BP_ONE: i64 = 10_000;

/// The weather an operator set for a city (`linli-admin weather`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weather {
    #[default]
    Normal,
    Rain,
    Storm,
    Heat,
}

impl Weather {
    pub fn name(self) -> &'static str {
        match self {
            Self::Normal => "天气正常",
            Self::Rain => "雨天",
            Self::Storm => "暴雨",
            Self::Heat => "高温",
        }
    }
}

/// Up to `up_to_m` metres the fee is `fee_fen`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeBand {
    pub up_to_m: u32,
    pub fee_fen: i64,
}

/// A time-of-day band (business time, minutes of day, end excluded) with a factor or a lowering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub name: String,
    pub from_min: u32,
    pub until_min: u32,
    /// A multiplier (peaks) in basis points.
    #[serde(default)]
    pub factor_bp: i64,
    /// How much it lowers the free-delivery threshold (quiet hours), fen.
    #[serde(default)]
    pub lowers_fen: i64,
}

impl Band {
    fn within_day(&self) -> bool {
        self.from_min < self.until_min && self.until_min <= 1_440
    }

    pub(super) fn contains(&self, at: BusinessTime) -> bool {
        (self.from_min..self.until_min).contains(&at.minutes_of_day())
    }
}

/// A SKU whose presence lowers the free-delivery threshold (hot or high-margin).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotSku {
    pub sku: String,
    pub lowers_fen: i64,
}

/// A delivery rules field an operator got wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryRulesError {
    #[error("not a delivery rules file: {0}")]
    Toml(String),
    #[error("{field}: {why}")]
    Field { field: String, why: String },
}

fn check(ok: bool, field: impl Into<String>, why: &str) -> Result<(), DeliveryRulesError> {
    if ok {
        Ok(())
    } else {
        Err(DeliveryRulesError::Field {
            field: field.into(),
            why: why.to_owned(),
        })
    }
}

/// The delivery pricing rules, defaults from seed 000 (operators change them with
/// `linli-admin delivery set <file.toml>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRules {
    /// Stores this close are candidates; when none covers the basket, up to `max_range_m`.
    pub range_m: u32,
    pub max_range_m: u32,
    pub fee_bands: Vec<FeeBand>,
    /// Points per yuan of fee (10: a ¥5 fee is 50 points).
    pub points_per_yuan: i64,
    pub peaks: Vec<Band>,
    /// Weather factors, basis points.
    pub rain_bp: i64,
    pub storm_bp: i64,
    pub heat_bp: i64,
    /// Tier discounts on the points price, basis points (2,000 = −20%).
    pub silver_discount_bp: i64,
    pub gold_discount_bp: i64,
    pub diamond_discount_bp: i64,
    pub free_threshold_fen: i64,
    pub hot_skus: Vec<HotSku>,
    pub quiet_hours: Vec<Band>,
    /// Priority delivery: extra points when the fee is paid in points, extra fen in cash.
    pub priority_points: i64,
    pub priority_fen: i64,
    /// The courier platforms routing chooses among, with what each charges and promises.
    #[serde(default = "default_platforms")]
    pub platforms: Vec<PlatformTerms>,
    /// Orders each store's pickers handle at once (store id → orders; a store not named has no
    /// load limit): a busy store weighs as farther away when choosing where a delivery packs.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pickers: std::collections::BTreeMap<String, u32>,
    /// Delay compensation: lateness bands, the cancellation grant, per-member caps.
    #[serde(default)]
    pub compensation: crate::rules::compensation::CompensationPolicy,
}

/// A courier platform's terms as the chain contracted them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformTerms {
    pub platform: Platform,
    /// What the platform charges the store per delivery, fen.
    pub fee_fen: i64,
    /// Minutes from dispatch to delivery it promises.
    pub promised_minutes: u32,
    /// Stores it does not serve (empty = all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_at: Vec<String>,
}

fn default_platforms() -> Vec<PlatformTerms> {
    [
        (Platform::Dada, 600, 40),
        (Platform::SfSameCity, 800, 30),
        (Platform::Meituan, 700, 35),
    ]
    .into_iter()
    .map(|(platform, fee_fen, promised_minutes)| PlatformTerms {
        platform,
        fee_fen,
        promised_minutes,
        not_at: vec![],
    })
    .collect()
}

fn band(name: &str, from: (u32, u32), until: (u32, u32), factor_bp: i64, lowers_fen: i64) -> Band {
    Band {
        name: name.to_owned(),
        from_min: from.0 * 60 + from.1,
        until_min: until.0 * 60 + until.1,
        factor_bp,
        lowers_fen,
    }
}

impl Default for DeliveryRules {
    fn default() -> Self {
        Self {
            range_m: 3_000,
            max_range_m: 5_000,
            fee_bands: vec![
                FeeBand {
                    up_to_m: 3_000,
                    fee_fen: 500,
                },
                FeeBand {
                    up_to_m: 5_000,
                    fee_fen: 800,
                },
            ],
            points_per_yuan: 10,
            peaks: vec![
                band("午高峰", (11, 0), (13, 0), 15_000, 0),
                band("晚高峰", (17, 30), (19, 30), 15_000, 0),
            ],
            rain_bp: 13_000,
            storm_bp: 16_000,
            heat_bp: 12_000,
            silver_discount_bp: 0,
            gold_discount_bp: 1_000,
            diamond_discount_bp: 2_000,
            free_threshold_fen: 5_900,
            hot_skus: vec![],
            quiet_hours: vec![band("闲时", (14, 0), (17, 0), 0, 1_000)],
            priority_points: 30,
            priority_fen: 300,
            platforms: default_platforms(),
            pickers: Default::default(),
            compensation: Default::default(),
        }
    }
}

impl DeliveryRules {
    pub fn from_toml(text: &str) -> Result<Self, DeliveryRulesError> {
        let rules: Self =
            toml::from_str(text).map_err(|e| DeliveryRulesError::Toml(e.to_string()))?;
        rules.validate()?;
        Ok(rules)
    }

    pub fn to_toml(&self) -> Result<String, DeliveryRulesError> {
        toml::to_string(self).map_err(|e| DeliveryRulesError::Toml(e.to_string()))
    }

    /// Everything an operator can get wrong, named by field.
    pub fn validate(&self) -> Result<(), DeliveryRulesError> {
        self.validate_distances()?;
        self.validate_factors()?;
        self.validate_threshold()?;
        check(
            (0..=10_000).contains(&self.priority_points),
            "priority_points",
            "0 to 10,000",
        )?;
        check(
            (0..=100_000).contains(&self.priority_fen),
            "priority_fen",
            "0 to ¥1,000",
        )?;
        self.validate_platforms()?;
        let c = &self.compensation;
        let ordered = c.bands.windows(2).all(|w| {
            w[0].until_min
                .is_some_and(|until| until <= w[1].from_min && w[0].from_min < until)
        });
        let sound = c
            .bands
            .iter()
            .all(|b| b.from_min >= 0 && b.until_min.is_none_or(|until| b.from_min < until));
        check(
            ordered && sound,
            "compensation.bands",
            "ascending, not overlapping, each from ≥ 0 minutes to a later end",
        )?;
        let amounts = c.bands.iter().map(|b| b.points).chain([c.cancelled_points]);
        check(
            amounts.into_iter().all(|p| (0..=100_000).contains(&p)),
            "compensation points",
            "0 to 100,000",
        )?;
        check(
            (0..=1_000_000).contains(&c.day_cap) && (c.day_cap..=1_000_000).contains(&c.month_cap),
            "compensation caps",
            "0 ≤ day_cap ≤ month_cap ≤ 1,000,000",
        )
    }

    fn validate_platforms(&self) -> Result<(), DeliveryRulesError> {
        for (store, capacity) in &self.pickers {
            check(
                (1..=1_000).contains(capacity),
                format!("pickers.{store}"),
                "1 to 1,000 orders at once",
            )?;
        }
        check(
            !self.platforms.is_empty(),
            "platforms",
            "at least one courier platform",
        )?;
        for (i, terms) in self.platforms.iter().enumerate() {
            let field = format!("platforms[{i}]");
            let again = self.platforms[..i]
                .iter()
                .any(|t| t.platform == terms.platform);
            check(!again, &field, "each platform once")?;
            check(
                (0..=100_000).contains(&terms.fee_fen)
                    && (1..=600).contains(&terms.promised_minutes),
                &field,
                "a fee of 0 to ¥1,000 and a promise of 1 to 600 minutes",
            )?;
        }
        Ok(())
    }

    /// The platforms' offers for a delivery from `store`.
    pub fn offers(&self, store: &str) -> Vec<PlatformOffer> {
        self.platforms
            .iter()
            .map(|t| PlatformOffer {
                platform: t.platform,
                available: !t.not_at.iter().any(|s| s == store),
                fee_fen: t.fee_fen,
                promised_minutes: t.promised_minutes,
            })
            .collect()
    }

    fn validate_distances(&self) -> Result<(), DeliveryRulesError> {
        check(self.range_m > 0, "range_m", "a positive distance in metres")?;
        check(
            (self.range_m..=50_000).contains(&self.max_range_m),
            "max_range_m",
            "from range_m to 50,000 m",
        )?;
        let mut last = 0;
        for (i, band) in self.fee_bands.iter().enumerate() {
            let field = format!("fee_bands[{i}]");
            check(band.up_to_m > last, &field, "bands rise in distance")?;
            check(
                (0..=100_000).contains(&band.fee_fen),
                &field,
                "a fee of 0 to ¥1,000",
            )?;
            last = band.up_to_m;
        }
        check(
            last >= self.max_range_m,
            "fee_bands",
            "the bands reach max_range_m",
        )
    }

    fn validate_factors(&self) -> Result<(), DeliveryRulesError> {
        let factor = (BP_ONE / 10)..=(BP_ONE * 10);
        check(
            (1..=1_000).contains(&self.points_per_yuan),
            "points_per_yuan",
            "1 to 1,000",
        )?;
        for (field, bp) in [
            ("rain_bp", self.rain_bp),
            ("storm_bp", self.storm_bp),
            ("heat_bp", self.heat_bp),
        ] {
            check(factor.contains(&bp), field, "×0.1 to ×10 in basis points")?;
        }
        for (i, peak) in self.peaks.iter().enumerate() {
            let field = format!("peaks[{i}]");
            check(
                peak.within_day(),
                &field,
                "from before until, within the day (minutes)",
            )?;
            check(
                factor.contains(&peak.factor_bp),
                &field,
                "factor_bp ×0.1 to ×10",
            )?;
        }
        for (field, bp) in [
            ("silver_discount_bp", self.silver_discount_bp),
            ("gold_discount_bp", self.gold_discount_bp),
            ("diamond_discount_bp", self.diamond_discount_bp),
        ] {
            check(
                (0..=BP_ONE).contains(&bp),
                field,
                "0 to 10,000 basis points",
            )?;
        }
        Ok(())
    }

    fn validate_threshold(&self) -> Result<(), DeliveryRulesError> {
        check(
            self.free_threshold_fen >= 0,
            "free_threshold_fen",
            "0 or more",
        )?;
        for (i, quiet) in self.quiet_hours.iter().enumerate() {
            let field = format!("quiet_hours[{i}]");
            check(
                quiet.within_day(),
                &field,
                "from before until, within the day (minutes)",
            )?;
            check(quiet.lowers_fen >= 0, &field, "lowers_fen is 0 or more")?;
        }
        for (i, hot) in self.hot_skus.iter().enumerate() {
            check(
                !hot.sku.is_empty() && hot.lowers_fen >= 0,
                format!("hot_skus[{i}]"),
                "a SKU and a lowering of 0 or more",
            )?;
        }
        Ok(())
    }

    /// The fee band's fee for `distance_m`, or None beyond the last band.
    pub fn fee_for(&self, distance_m: u32) -> Option<i64> {
        self.fee_bands
            .iter()
            .find(|b| distance_m <= b.up_to_m)
            .map(|b| b.fee_fen)
    }

    pub(super) fn weather_bp(&self, weather: Weather) -> i64 {
        match weather {
            Weather::Normal => BP_ONE,
            Weather::Rain => self.rain_bp,
            Weather::Storm => self.storm_bp,
            Weather::Heat => self.heat_bp,
        }
    }

    pub(super) fn discount_bp(&self, tier: Tier) -> i64 {
        match tier {
            Tier::Regular => 0,
            Tier::Silver => self.silver_discount_bp,
            Tier::Gold => self.gold_discount_bp,
            Tier::Diamond => self.diamond_discount_bp,
        }
        .clamp(0, BP_ONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_round_trip_through_toml_and_mistakes_name_the_field() {
        let r = DeliveryRules::default();
        assert_eq!(r.validate(), Ok(()));
        let text = r.to_toml().unwrap();
        assert_eq!(DeliveryRules::from_toml(&text), Ok(r.clone()));
        let field = |rules: DeliveryRules| match rules.validate() {
            Err(DeliveryRulesError::Field { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(DeliveryRules {
                max_range_m: 100,
                ..r.clone()
            }),
            "max_range_m"
        );
        assert_eq!(
            field(DeliveryRules {
                rain_bp: 0,
                ..r.clone()
            }),
            "rain_bp"
        );
        assert_eq!(
            field(DeliveryRules {
                gold_discount_bp: 12_000,
                ..r.clone()
            }),
            "gold_discount_bp"
        );
        let mut short = r.clone();
        short.fee_bands.pop();
        assert_eq!(field(short), "fee_bands");
        let mut backwards = r.clone();
        backwards.peaks[0].until_min = 0;
        assert_eq!(field(backwards), "peaks[0]");
        assert!(matches!(
            DeliveryRules::from_toml("range_m = 'far'"),
            Err(DeliveryRulesError::Toml(_))
        ));
        assert!(matches!(
            DeliveryRules::from_toml(&format!("surprise = 1\n{text}")),
            Err(DeliveryRulesError::Toml(_))
        ));
    }
}
