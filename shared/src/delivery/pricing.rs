//! The delivery fee and its price in points (seed 000: 积分抵运费). Pure: the stores, stock,
//! weather and tier come in; a quote with every factor that shaped it comes out.
//!
//! fee (fen, by distance band) → points = fee in yuan × points per yuan of fee × peak × weather
//! × (1 − tier discount), multiplied in basis points and rounded up once; a basket at or above the
//! free-delivery threshold (base, lowered for hot SKUs and quiet hours) pays no fee; priority
//! delivery costs extra points (or cash).

use super::rules::{DeliveryRules, Weather, BP_ONE};
use crate::rules::earning::Tier;
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};

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
    use crate::delivery::HotSku;

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
