//! Member tiers (seed 003): growth value = goods paid over the rolling last 12 business months,
//! kept in monthly buckets (a refund lowers the bucket of its payment's month); thresholds are
//! data. A posting that crosses a threshold upgrades at once; a downgrade happens only at the
//! monthly review.

use super::Tier;
use crate::money::Fen;
use crate::time::Month;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many business months growth value looks back, the current one included.
pub const GROWTH_MONTHS: i32 = 12;

/// The spend (fen, rolling 12 months) from which each tier holds; defaults 银 ¥5,000, 金 ¥20,000,
/// 钻石 ¥50,000.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierThresholds {
    pub silver_fen: i64,
    pub gold_fen: i64,
    pub diamond_fen: i64,
}

impl Default for TierThresholds {
    fn default() -> Self {
        Self {
            silver_fen: 500_000,
            gold_fen: 2_000_000,
            diamond_fen: 5_000_000,
        }
    }
}

/// Goods paid per business month.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Growth(BTreeMap<Month, Fen>);

impl Growth {
    /// Adds a payment (positive) or a refund (negative) to its payment's month; a bucket never
    /// goes below zero, and buckets that no longer count are dropped.
    pub fn record(&mut self, month: Month, amount: Fen, now: Month) {
        let bucket = self.0.entry(month).or_insert(Fen::ZERO);
        *bucket = Fen::new(bucket.value().saturating_add(amount.value()).max(0));
        self.prune(now);
    }

    /// Spend over the 12 business months ending with `now`.
    pub fn rolling(&self, now: Month) -> Fen {
        let from = now.plus(1 - GROWTH_MONTHS);
        Fen::new(
            self.0
                .range(from..=now)
                .map(|(_, fen)| fen.value())
                .fold(0i64, i64::saturating_add),
        )
    }

    /// Spend the monthly review of `month` counts: the 12 whole months before it, or the rolling
    /// 12 months ending with `month` when that is more (a review resumed late in the month
    /// counts what was bought since).
    pub fn reviewed(&self, month: Month) -> Fen {
        let sum = |from: Month, to: Month| {
            self.0
                .range(from..=to)
                .map(|(_, fen)| fen.value())
                .fold(0i64, i64::saturating_add)
        };
        let whole = sum(month.plus(-GROWTH_MONTHS), month.plus(-1));
        Fen::new(whole.max(self.rolling(month).value()))
    }

    /// Adds another member's buckets (a merge).
    pub fn absorb(&mut self, other: &Growth, now: Month) {
        for (month, fen) in &other.0 {
            let bucket = self.0.entry(*month).or_insert(Fen::ZERO);
            *bucket = Fen::new(bucket.value().saturating_add(fen.value()));
        }
        self.prune(now);
    }

    /// The buckets, oldest first.
    pub fn months(&self) -> impl Iterator<Item = (Month, Fen)> + '_ {
        self.0.iter().map(|(m, f)| (*m, *f))
    }

    /// Growth from stored buckets (non-positive ones are dropped).
    pub fn from_months(months: impl IntoIterator<Item = (Month, Fen)>) -> Self {
        Self(
            months
                .into_iter()
                .filter(|(_, f)| f.is_positive())
                .collect(),
        )
    }

    /// Keeps the buckets a rolling sum or the next review can still count (13 months).
    fn prune(&mut self, now: Month) {
        let from = now.plus(-GROWTH_MONTHS);
        self.0
            .retain(|month, fen| *month >= from && fen.is_positive());
    }
}

impl TierThresholds {
    /// The spend from which `tier` holds (nothing for 普卡).
    pub fn threshold(&self, tier: Tier) -> Fen {
        Fen::new(match tier {
            Tier::Regular => 0,
            Tier::Silver => self.silver_fen,
            Tier::Gold => self.gold_fen,
            Tier::Diamond => self.diamond_fen,
        })
    }

    /// The tier `spend` qualifies for.
    pub fn tier_for(&self, spend: Fen) -> Tier {
        match spend.value() {
            s if s >= self.diamond_fen => Tier::Diamond,
            s if s >= self.gold_fen => Tier::Gold,
            s if s >= self.silver_fen => Tier::Silver,
            _ => Tier::Regular,
        }
    }

    /// After a posting: a higher tier when `spend` now qualifies for one, else the same.
    pub fn upgraded(&self, current: Tier, spend: Fen) -> Tier {
        current.max(self.tier_for(spend))
    }

    /// At the monthly review: exactly the tier `spend` qualifies for (up or down).
    pub fn reviewed(&self, spend: Fen) -> Tier {
        self.tier_for(spend)
    }

    /// The next tier above `current` and the spend still missing for it (None at the top).
    pub fn next(&self, current: Tier, spend: Fen) -> Option<(Tier, Fen)> {
        let (tier, threshold) = match current {
            Tier::Regular => (Tier::Silver, self.silver_fen),
            Tier::Silver => (Tier::Gold, self.gold_fen),
            Tier::Gold => (Tier::Diamond, self.diamond_fen),
            Tier::Diamond => return None,
        };
        Some((tier, Fen::new((threshold - spend.value()).max(0))))
    }

    /// Thresholds rise with the tier and are positive.
    pub fn is_ordered(&self) -> bool {
        0 < self.silver_fen && self.silver_fen < self.gold_fen && self.gold_fen < self.diamond_fen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(text: &str) -> Month {
        text.parse().unwrap()
    }

    #[test]
    fn a_simulated_year_upgrades_at_once_and_downgrades_only_at_review() {
        let t = TierThresholds::default();
        let mut growth = Growth::default();
        let mut tier = Tier::Regular;
        // ¥1,800 a month from January: 银卡 in March (¥5,400), 金卡 in December (¥21,600).
        let mut upgrades = Vec::new();
        for m in 1..=12 {
            let now = month(&format!("2026-{m:02}"));
            growth.record(now, Fen::new(180_000), now);
            let next = t.upgraded(tier, growth.rolling(now));
            if next != tier {
                upgrades.push((m, next));
                tier = next;
            }
        }
        assert_eq!(upgrades, [(3, Tier::Silver), (12, Tier::Gold)]);
        // December's order refunded (¥1,800): no downgrade until the review.
        let december = month("2026-12");
        growth.record(december, Fen::new(-180_000), december);
        assert_eq!(growth.rolling(december), Fen::new(1_980_000));
        assert_eq!(t.upgraded(tier, growth.rolling(december)), Tier::Gold);
        assert_eq!(t.reviewed(growth.rolling(december)), Tier::Silver);
        // Nothing bought in 2027 (December 2026's bucket is empty after the refund): mid-2027
        // the second half of 2026 still counts; by 2027-12 nothing does.
        assert_eq!(growth.rolling(month("2027-11")), Fen::ZERO);
        assert_eq!(t.reviewed(growth.rolling(month("2027-06"))), Tier::Silver);
        assert_eq!(t.reviewed(growth.rolling(month("2027-12"))), Tier::Regular);
    }

    #[test]
    fn buckets_never_go_negative_and_old_ones_are_dropped() {
        let now = month("2026-11");
        let mut growth = Growth::default();
        growth.record(now, Fen::new(10_000), now);
        growth.record(now, Fen::new(-50_000), now);
        assert_eq!(growth.rolling(now), Fen::ZERO);
        growth.record(month("2025-11"), Fen::new(99_000), now);
        assert_eq!(
            growth.rolling(now),
            Fen::ZERO,
            "12 months ago does not count"
        );
        assert_eq!(
            growth.reviewed(now),
            Fen::new(99_000),
            "but the review at the start of the month counts the 12 whole months before"
        );
        growth.record(month("2025-10"), Fen::new(99_000), now);
        assert_eq!(growth.months().count(), 1, "older buckets are not kept");
    }

    #[test]
    fn what_is_needed_for_the_next_tier() {
        let t = TierThresholds::default();
        assert_eq!(
            t.next(Tier::Regular, Fen::new(120_000)),
            Some((Tier::Silver, Fen::new(380_000)))
        );
        assert_eq!(
            t.next(Tier::Gold, Fen::new(6_000_000)),
            Some((Tier::Diamond, Fen::ZERO))
        );
        assert_eq!(t.next(Tier::Diamond, Fen::ZERO), None);
        assert!(t.is_ordered());
        assert!(!TierThresholds {
            gold_fen: 400_000,
            ..t
        }
        .is_ordered());
    }
}
