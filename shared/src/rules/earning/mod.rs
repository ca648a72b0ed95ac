//! Earn rules as data (issue 8, seeds 001 and 003): what a purchase earns once the member's tier,
//! category bonuses and time-slot campaigns are counted. Operators write the rules as TOML
//! (`EarnRules::from_toml`, validated before anything is activated); the compiled-in defaults are
//! `EarnRules::default()`.
//!
//! Arithmetic: multipliers are basis points (10,000 = ×1). On each line the tier's, the best
//! category bonus's and every applicable campaign's multipliers stack multiplicatively, the
//! product kept in basis points (rounded down to a basis point, which the seeds' figures never
//! need); the order's points are floor(Σ line cash × multiplier ÷ (fen per point × 10,000)) —
//! rounded down once — then the per-order cap, then what is left of the per-day cap. Rules are
//! evaluated at the payment's business time, never the processing time.

mod explain;
mod model;
mod tiers;

pub use model::{Campaign, Caps, CategoryBonus, Channel, EarnRules, RulesError, Tier};
pub use tiers::{Growth, TierThresholds, GROWTH_MONTHS};

use crate::money::{Fen, Points};
use crate::time::BusinessTime;

/// A multiplier of ×1 in basis points.
pub const BP_ONE: i64 = 10_000;

/// One line of a purchase as the rules see it: its category and the goods cash paid for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarnLine<'a> {
    pub category: &'a str,
    pub cash: Fen,
}

/// A purchase to price in points.
#[derive(Clone, Copy, Debug)]
pub struct Purchase<'a> {
    /// The payment's business time (the campaign in force then is the one that counts).
    pub at: BusinessTime,
    pub store: &'a str,
    pub channel: Channel,
    pub tier: Tier,
    pub lines: &'a [EarnLine<'a>],
    /// Points the member already earned from purchases on the same business day (the per-day
    /// cap's use so far).
    pub earned_today: Points,
}

/// What a purchase earns, under which rules, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Earned {
    pub points: Points,
    /// The version of the rules that decided it (stored on the posting).
    pub rules_version: u32,
    /// For the member and for support, e.g. "150 = 100 base × 1.5 金卡".
    pub explanation: String,
}

/// A multiplier that applied to a line: its name (as shown) and basis points.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Factor<'r> {
    name: &'r str,
    bp: i64,
}

/// The lines sharing the same factors, summed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Group<'r> {
    factors: Vec<Factor<'r>>,
    cash_fen: i128,
    multiplier_bp: i128,
}

impl EarnRules {
    /// What `purchase` earns under these rules.
    pub fn evaluate(&self, purchase: &Purchase<'_>) -> Earned {
        let mut groups: Vec<Group<'_>> = Vec::new();
        for line in purchase.lines.iter().filter(|l| l.cash.is_positive()) {
            let factors = self.factors(purchase, line.category);
            let cash = i128::from(line.cash.value());
            match groups.iter_mut().find(|g| g.factors == factors) {
                Some(group) => group.cash_fen += cash,
                None => groups.push(Group {
                    multiplier_bp: stacked(&factors),
                    factors,
                    cash_fen: cash,
                }),
            }
        }
        let scale = i128::from(self.fen_per_point) * i128::from(BP_ONE);
        let weighted: i128 = groups.iter().map(|g| g.cash_fen * g.multiplier_bp).sum();
        let uncapped = clamp_points(weighted / scale);
        let after_order_cap = match self.caps.per_order {
            Some(cap) => uncapped.min(cap),
            None => uncapped,
        };
        let points = match self.caps.per_day {
            Some(cap) => after_order_cap.min((cap - purchase.earned_today.value()).max(0)),
            None => after_order_cap,
        };
        Earned {
            points: Points::new(points),
            rules_version: self.version,
            explanation: explain::explanation(self, &groups, uncapped, after_order_cap, points),
        }
    }

    /// The multipliers that apply to a line of `category` in `purchase`, in a stable order:
    /// tier, category bonus, campaigns as listed.
    fn factors<'r>(&'r self, purchase: &Purchase<'_>, category: &str) -> Vec<Factor<'r>> {
        let mut factors = vec![Factor {
            name: purchase.tier.name(),
            bp: self.tier_bp(purchase.tier),
        }];
        let bonus = self
            .categories
            .iter()
            .filter(|c| c.category == category)
            .max_by_key(|c| c.bonus_bp);
        if let Some(bonus) = bonus {
            factors.push(Factor {
                name: &bonus.name,
                bp: BP_ONE + bonus.bonus_bp,
            });
        }
        for campaign in &self.campaigns {
            if campaign.applies(purchase, category) {
                factors.push(Factor {
                    name: &campaign.name,
                    bp: campaign.multiplier_bp,
                });
            }
        }
        factors
    }
}

/// The factors' product in basis points (rounded down at each step, exact for the seeds' values).
fn stacked(factors: &[Factor<'_>]) -> i128 {
    factors.iter().fold(i128::from(BP_ONE), |product, f| {
        product * i128::from(f.bp) / i128::from(BP_ONE)
    })
}

fn clamp_points(value: i128) -> i64 {
    i64::try_from(value.max(0)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
