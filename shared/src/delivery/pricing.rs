//! The delivery fee and its price in points (seed 000: 积分抵运费). Pure: the stores, stock,
//! weather and tier come in; a quote with every factor that shaped it comes out.
//!
//! fee (fen, by distance band) → points = fee in yuan × points per yuan of fee × peak × weather
//! × (1 − tier discount), multiplied in basis points and rounded up once; a basket at or above the
//! free-delivery threshold (base, lowered for hot SKUs and quiet hours) pays no fee; priority
//! delivery costs extra points (or cash).

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
    fn contains(&self, at: BusinessTime) -> bool {
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
        }
    }
}

/// What shaped a quote, for the member and the support desk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factor {
    pub name: String,
    /// E.g. "×1.5", "−20%", "¥5.00", "−¥10.00".
    pub effect: String,
}

/// The price of delivering a basket of `goods_fen` over `distance_m` at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceInput {
    pub distance_m: u32,
    pub goods_fen: i64,
    pub skus: Vec<String>,
    pub at: BusinessTime,
    pub weather: Weather,
    pub tier: Tier,
    pub priority: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// The fee in cash (0 when free by threshold), priority included.
    pub fee_fen: i64,
    /// The fee in points (0 when free), priority included.
    pub points: i64,
    pub free: bool,
    pub free_threshold_fen: i64,
    /// What the basket lacks for free delivery (0 when free).
    pub add_for_free_fen: i64,
    pub factors: Vec<Factor>,
}

fn yuan(fen: i64) -> String {
    format!("¥{}.{:02}", fen / 100, (fen % 100).abs())
}

fn times(bp: i64) -> String {
    let whole = bp / BP_ONE;
    let frac = (bp % BP_ONE).abs();
    let text = format!("{whole}.{frac:04}");
    format!("×{}", text.trim_end_matches('0').trim_end_matches('.'))
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
        )?;
        check(
            (1..=1_000).contains(&self.points_per_yuan),
            "points_per_yuan",
            "1 to 1,000",
        )?;
        let factors = [
            ("rain_bp", self.rain_bp),
            ("storm_bp", self.storm_bp),
            ("heat_bp", self.heat_bp),
        ];
        for (field, bp) in factors {
            check(
                (BP_ONE / 10..=BP_ONE * 10).contains(&bp),
                field,
                "×0.1 to ×10 in basis points",
            )?;
        }
        for (i, peak) in self.peaks.iter().enumerate() {
            let field = format!("peaks[{i}]");
            check(
                peak.from_min < peak.until_min && peak.until_min <= 1_440,
                &field,
                "from before until, within the day (minutes)",
            )?;
            check(
                (BP_ONE / 10..=BP_ONE * 10).contains(&peak.factor_bp),
                &field,
                "factor_bp ×0.1 to ×10",
            )?;
        }
        for (i, quiet) in self.quiet_hours.iter().enumerate() {
            let field = format!("quiet_hours[{i}]");
            check(
                quiet.from_min < quiet.until_min && quiet.until_min <= 1_440,
                &field,
                "from before until, within the day (minutes)",
            )?;
            check(quiet.lowers_fen >= 0, &field, "lowers_fen is 0 or more")?;
        }
        let discounts = [
            ("silver_discount_bp", self.silver_discount_bp),
            ("gold_discount_bp", self.gold_discount_bp),
            ("diamond_discount_bp", self.diamond_discount_bp),
        ];
        for (field, bp) in discounts {
            check(
                (0..=BP_ONE).contains(&bp),
                field,
                "0 to 10,000 basis points",
            )?;
        }
        check(
            self.free_threshold_fen >= 0,
            "free_threshold_fen",
            "0 or more",
        )?;
        for (i, hot) in self.hot_skus.iter().enumerate() {
            check(
                !hot.sku.is_empty() && hot.lowers_fen >= 0,
                format!("hot_skus[{i}]"),
                "a SKU and a lowering of 0 or more",
            )?;
        }
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
        Ok(())
    }

    /// The fee band's fee for `distance_m`, or None beyond the last band.
    pub fn fee_for(&self, distance_m: u32) -> Option<i64> {
        self.fee_bands
            .iter()
            .find(|b| distance_m <= b.up_to_m)
            .map(|b| b.fee_fen)
    }

    fn weather_bp(&self, weather: Weather) -> i64 {
        match weather {
            Weather::Normal => BP_ONE,
            Weather::Rain => self.rain_bp,
            Weather::Storm => self.storm_bp,
            Weather::Heat => self.heat_bp,
        }
    }

    fn discount_bp(&self, tier: Tier) -> i64 {
        match tier {
            Tier::Regular => 0,
            Tier::Silver => self.silver_discount_bp,
            Tier::Gold => self.gold_discount_bp,
            Tier::Diamond => self.diamond_discount_bp,
        }
        .clamp(0, BP_ONE)
    }

    /// The free-delivery threshold at `at` for a basket of `skus`, with what lowered it.
    fn threshold(&self, skus: &[String], at: BusinessTime, factors: &mut Vec<Factor>) -> i64 {
        let mut threshold = self.free_threshold_fen;
        let hot = self
            .hot_skus
            .iter()
            .filter(|h| skus.contains(&h.sku))
            .map(|h| h.lowers_fen)
            .max();
        if let Some(lowers) = hot.filter(|l| *l > 0) {
            threshold -= lowers;
            factors.push(Factor {
                name: "爆品包邮门槛".into(),
                effect: format!("−{}", yuan(lowers)),
            });
        }
        for quiet in self.quiet_hours.iter().filter(|q| q.contains(at)) {
            threshold -= quiet.lowers_fen;
            factors.push(Factor {
                name: format!("{}包邮门槛", quiet.name),
                effect: format!("−{}", yuan(quiet.lowers_fen)),
            });
        }
        threshold.max(0)
    }

    /// Prices a delivery (None beyond the last fee band).
    pub fn price(&self, input: &PriceInput) -> Option<Price> {
        let fee = self.fee_for(input.distance_m)?;
        let mut factors = vec![Factor {
            name: format!("距离 {:.1} km", f64::from(input.distance_m) / 1000.0),
            effect: yuan(fee),
        }];
        let threshold = self.threshold(&input.skus, input.at, &mut factors);
        let free = input.goods_fen >= threshold;
        let mut bp_product: i128 = 1;
        let mut factor_count = 0u32;
        let mut multiply = |bp: i64| {
            bp_product *= i128::from(bp);
            factor_count += 1;
        };
        for peak in self.peaks.iter().filter(|p| p.contains(input.at)) {
            multiply(peak.factor_bp);
            factors.push(Factor {
                name: peak.name.clone(),
                effect: times(peak.factor_bp),
            });
        }
        let weather_bp = self.weather_bp(input.weather);
        multiply(weather_bp);
        if input.weather != Weather::Normal {
            factors.push(Factor {
                name: input.weather.name().into(),
                effect: times(weather_bp),
            });
        }
        let discount = self.discount_bp(input.tier);
        multiply(BP_ONE - discount);
        if discount > 0 {
            factors.push(Factor {
                name: format!("{}折扣", input.tier.name()),
                effect: format!("−{}%", discount / 100),
            });
        }
        // points = fee/100 × per-yuan × Π(bp/10000), rounded up once.
        let numerator = i128::from(fee) * i128::from(self.points_per_yuan) * bp_product;
        let denominator = 100 * i128::from(BP_ONE).pow(factor_count);
        let base_points = i64::try_from((numerator + denominator - 1) / denominator).ok()?;
        let (mut fee_fen, mut points) = if free { (0, 0) } else { (fee, base_points) };
        if free {
            factors.push(Factor {
                name: "满额包邮".into(),
                effect: format!("≥ {}", yuan(threshold)),
            });
        }
        if input.priority {
            fee_fen += self.priority_fen;
            points += self.priority_points;
            factors.push(Factor {
                name: "优先配送".into(),
                effect: format!(
                    "+{} 积分 / +{}",
                    self.priority_points,
                    yuan(self.priority_fen)
                ),
            });
        }
        Some(Price {
            fee_fen,
            points,
            free,
            free_threshold_fen: threshold,
            add_for_free_fen: (threshold - input.goods_fen).max(0),
            factors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-25 (a Wednesday) at hh:mm Beijing time.
    fn at(h: i64, m: i64) -> BusinessTime {
        BusinessTime::from_epoch_ms(1_795_536_000_000 + (h * 60 + m) * 60_000).unwrap()
    }

    fn input(distance_m: u32, goods_fen: i64, at: BusinessTime) -> PriceInput {
        PriceInput {
            distance_m,
            goods_fen,
            skus: vec!["OIL-5L".into()],
            at,
            weather: Weather::Normal,
            tier: Tier::Regular,
            priority: false,
        }
    }

    #[test]
    fn the_seed_examples_price_as_expected() {
        let r = DeliveryRules::default();
        // (distance, goods, time, weather, tier, priority) → (fee, points, free, add for free)
        let table = [
            (
                1_200,
                3_000,
                at(10, 0),
                Weather::Normal,
                Tier::Regular,
                false,
                (500, 50, false, 2_900),
            ),
            (
                1_200,
                3_000,
                at(12, 0),
                Weather::Normal,
                Tier::Regular,
                false,
                (500, 75, false, 2_900),
            ),
            (
                1_200,
                3_000,
                at(18, 0),
                Weather::Rain,
                Tier::Regular,
                false,
                (500, 98, false, 2_900),
            ),
            (
                1_200,
                3_000,
                at(12, 0),
                Weather::Storm,
                Tier::Diamond,
                false,
                (500, 96, false, 2_900),
            ),
            (
                1_200,
                3_000,
                at(10, 0),
                Weather::Heat,
                Tier::Gold,
                false,
                (500, 54, false, 2_900),
            ),
            (
                4_000,
                3_000,
                at(10, 0),
                Weather::Normal,
                Tier::Regular,
                false,
                (800, 80, false, 2_900),
            ),
            (
                1_200,
                5_900,
                at(10, 0),
                Weather::Normal,
                Tier::Regular,
                false,
                (0, 0, true, 0),
            ),
            (
                1_200,
                5_000,
                at(15, 0),
                Weather::Normal,
                Tier::Regular,
                false,
                (0, 0, true, 0),
            ),
            (
                1_200,
                3_000,
                at(10, 0),
                Weather::Normal,
                Tier::Regular,
                true,
                (800, 80, false, 2_900),
            ),
            (
                1_200,
                9_000,
                at(10, 0),
                Weather::Normal,
                Tier::Regular,
                true,
                (300, 30, true, 0),
            ),
        ];
        for (distance, goods, when, weather, tier, priority, expected) in table {
            let p = r
                .price(&PriceInput {
                    weather,
                    tier,
                    priority,
                    ..input(distance, goods, when)
                })
                .unwrap();
            assert_eq!(
                (p.fee_fen, p.points, p.free, p.add_for_free_fen),
                expected,
                "{distance} m, ¥{goods} at {when}, {weather:?}, {tier:?}: {:?}",
                p.factors
            );
        }
    }

    #[test]
    fn every_factor_is_listed_and_points_round_up_once() {
        let r = DeliveryRules::default();
        // 50 × 1.5 × 1.3 × 0.9 = 87.75 → 88.
        let p = r
            .price(&PriceInput {
                weather: Weather::Rain,
                tier: Tier::Gold,
                ..input(2_500, 1_000, at(12, 30))
            })
            .unwrap();
        assert_eq!(p.points, 88);
        let names: Vec<(&str, &str)> = p
            .factors
            .iter()
            .map(|f| (f.name.as_str(), f.effect.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("距离 2.5 km", "¥5.00"),
                ("午高峰", "×1.5"),
                ("雨天", "×1.3"),
                ("金卡折扣", "−10%"),
            ]
        );
        assert_eq!(
            r.price(&input(5_001, 1_000, at(10, 0))),
            None,
            "beyond the last band"
        );
    }

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

    #[test]
    fn hot_skus_and_quiet_hours_lower_the_free_threshold() {
        let r = DeliveryRules {
            hot_skus: vec![HotSku {
                sku: "OIL-5L".into(),
                lowers_fen: 2_000,
            }],
            ..DeliveryRules::default()
        };
        let p = r.price(&input(800, 3_000, at(15, 0))).unwrap();
        assert_eq!(p.free_threshold_fen, 5_900 - 2_000 - 1_000);
        assert!(p.free);
        let p = r.price(&input(800, 2_000, at(10, 0))).unwrap();
        assert_eq!((p.free_threshold_fen, p.add_for_free_fen), (3_900, 1_900));
    }
}
