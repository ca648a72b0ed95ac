//! A member's standing (seed 003): the tier and the growth value it rests on, kept on the ledger
//! profile so the posting that records a payment also records its growth and, when a threshold
//! is crossed, the upgrade, in the same transaction. Downgrades happen only at the monthly review.

use crate::ids::{MemberId, PostingId};
use crate::money::Fen;
use crate::rules::earning::{Growth, Tier, TierThresholds};
use crate::time::{BusinessTime, Month};
use serde::{Deserialize, Serialize};

/// The tier and what it rests on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub tier: Tier,
    /// Goods paid per business month (a refund lowers its payment's month).
    pub growth: Growth,
    /// When the current tier was reached (None: 普卡 since the member joined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<BusinessTime>,
    /// The last month whose review ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed: Option<Month>,
}

/// The growth a posting records: goods paid (positive) or refunded (negative) in the payment's
/// business month, and, for a payment, the thresholds in force then (they may upgrade).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrowthEntry {
    pub month: Month,
    pub fen: Fen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<TierThresholds>,
}

/// Why a tier changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TierReason {
    /// A posting's growth crossed a threshold.
    Upgrade { posting: PostingId },
    /// The monthly review found the growth of the last 12 months below the tier (or above it).
    Review { month: Month },
    /// Another member merged into this one and brought its growth.
    Merge { from: MemberId },
}

impl TierReason {
    /// A stable key for the change record (one record per cause).
    pub fn key(&self) -> String {
        match self {
            Self::Upgrade { posting } => format!("upgrade:{posting}"),
            Self::Review { month } => format!("review:{}", month.key()),
            Self::Merge { from } => format!("merge:{from}"),
        }
    }

    /// What a member reads.
    pub fn describe(&self) -> String {
        match self {
            Self::Upgrade { .. } => "消费累计达到升级门槛".to_owned(),
            Self::Review { month } => format!("{month} 月度等级复核"),
            Self::Merge { .. } => "账户合并".to_owned(),
        }
    }
}

/// A recorded tier change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierChange {
    pub member: MemberId,
    pub from: Tier,
    pub to: Tier,
    pub at: BusinessTime,
    /// The growth value the change was decided on.
    pub growth: Fen,
    pub reason: TierReason,
}

impl Standing {
    /// Records `entry` at `at`; when it carries thresholds and the growth of the last 12 months
    /// now qualifies for a higher tier, upgrades and says so.
    pub fn record(
        &mut self,
        member: &MemberId,
        entry: &GrowthEntry,
        at: BusinessTime,
        posting: &PostingId,
    ) -> Option<TierChange> {
        let now = at.month().max(entry.month);
        self.growth.record(entry.month, entry.fen, now);
        let thresholds = entry.thresholds.as_ref()?;
        let growth = self.growth.rolling(now);
        let to = thresholds.upgraded(self.tier, growth);
        (to != self.tier).then(|| {
            self.change(
                member,
                to,
                at,
                growth,
                TierReason::Upgrade {
                    posting: posting.clone(),
                },
            )
        })
    }

    /// The monthly review of `month` (run at or after its start): the tier becomes exactly the
    /// one the growth of the 12 months before qualifies for, with this month's spend so far.
    /// Runs once per month: a second run (or an older month) changes nothing.
    pub fn review(
        &mut self,
        member: &MemberId,
        month: Month,
        thresholds: &TierThresholds,
        at: BusinessTime,
    ) -> Option<TierChange> {
        if self.reviewed.is_some_and(|done| done >= month) {
            return None;
        }
        self.reviewed = Some(month);
        let growth = self.growth.reviewed(month);
        let to = thresholds.reviewed(growth);
        (to != self.tier).then(|| self.change(member, to, at, growth, TierReason::Review { month }))
    }

    /// Whether the review of `month` is still to run.
    pub fn review_due(&self, month: Month) -> bool {
        self.reviewed.is_none_or(|done| done < month)
    }

    /// Takes in a merged member's standing: its growth adds up, the higher tier stays.
    pub fn absorb(
        &mut self,
        member: &MemberId,
        from: &MemberId,
        other: &Standing,
        at: BusinessTime,
    ) -> Option<TierChange> {
        self.growth.absorb(&other.growth, at.month());
        let to = self.tier.max(other.tier);
        let growth = self.growth.rolling(at.month());
        (to != self.tier).then(|| {
            self.change(
                member,
                to,
                at,
                growth,
                TierReason::Merge { from: from.clone() },
            )
        })
    }

    fn change(
        &mut self,
        member: &MemberId,
        to: Tier,
        at: BusinessTime,
        growth: Fen,
        reason: TierReason,
    ) -> TierChange {
        let change = TierChange {
            member: member.clone(),
            from: self.tier,
            to,
            at,
            growth,
            reason,
        };
        self.tier = to;
        self.since = Some(at);
        change
    }
}

/// What a member sees of their tier at `now`: the growth it rests on, what the next tier
/// needs, and what the next review will decide if nothing else is bought or refunded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierOutlook {
    pub tier: Tier,
    /// Goods paid over the 12 business months ending with this one.
    pub growth: Fen,
    /// The next tier up and the spend still missing for it (None at the top).
    pub next: Option<(Tier, Fen)>,
    /// When the tier is reviewed next (the start of next month).
    pub review_at: BusinessTime,
    /// What that review decides with the spend recorded so far.
    pub at_review: Tier,
    /// Spend still needed before the review to keep the current tier (zero when it is kept).
    pub to_keep: Fen,
}

impl TierOutlook {
    pub fn of(standing: &Standing, thresholds: &TierThresholds, now: BusinessTime) -> Self {
        let month = now.month();
        let growth = standing.growth.rolling(month);
        let review_month = month.plus(1);
        let counted = standing.growth.reviewed(review_month);
        let keep = thresholds.threshold(standing.tier).value();
        Self {
            tier: standing.tier,
            growth,
            next: thresholds.next(standing.tier, growth),
            review_at: review_month.start(),
            at_review: thresholds.reviewed(counted),
            to_keep: Fen::new(keep.saturating_sub(counted.value()).max(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(text: &str) -> Month {
        text.parse().unwrap()
    }

    fn member() -> MemberId {
        MemberId::generate(month("2026-01").start(), 5)
    }

    fn pay(fen: i64, m: &str) -> GrowthEntry {
        GrowthEntry {
            month: month(m),
            fen: Fen::new(fen),
            thresholds: Some(TierThresholds::default()),
        }
    }

    #[test]
    fn a_year_of_payments_and_refunds_moves_the_tier_up_at_once_and_down_at_review() {
        let m = member();
        let mut s = Standing::default();
        let id = PostingId::parse("pay:order:O1").unwrap();
        let mut changes = vec![];
        for n in 1..=12 {
            let at = month(&format!("2026-{n:02}")).start().plus_ms(86_400_000);
            if let Some(c) = s.record(&m, &pay(180_000, &format!("2026-{n:02}")), at, &id) {
                changes.push((n, c.from, c.to));
            }
        }
        assert_eq!(
            changes,
            [
                (3, Tier::Regular, Tier::Silver),
                (12, Tier::Silver, Tier::Gold)
            ]
        );
        // December's order refunded: growth drops under 金卡, the tier stays until the review.
        let refund = GrowthEntry {
            thresholds: None,
            ..pay(-180_000, "2026-12")
        };
        let december = month("2026-12").start().plus_ms(172_800_000);
        assert_eq!(s.record(&m, &refund, december, &id), None);
        assert_eq!(s.tier, Tier::Gold);
        let t = TierThresholds::default();
        let review = s.review(&m, month("2027-01"), &t, month("2027-01").start());
        let review = review.expect("the January review downgrades");
        assert_eq!((review.from, review.to), (Tier::Gold, Tier::Silver));
        assert_eq!(review.growth, Fen::new(1_980_000));
        assert_eq!(review.reason.key(), "review:202701");
        assert_eq!(
            s.review(&m, month("2027-01"), &t, month("2027-01").start()),
            None
        );
        assert!(!s.review_due(month("2027-01")) && s.review_due(month("2027-02")));
        // A whole year without buying: 普卡 at the review after the last bucket leaves.
        let late = month("2028-01");
        assert_eq!(
            s.review(&m, late, &t, late.start()).map(|c| c.to),
            Some(Tier::Regular)
        );
    }

    #[test]
    fn a_refund_never_upgrades_and_a_merge_keeps_the_higher_tier() {
        let m = member();
        let mut gold = Standing::default();
        let at = month("2026-06").start();
        let id = PostingId::parse("pay:order:O2").unwrap();
        let up = gold
            .record(&m, &pay(2_100_000, "2026-06"), at, &id)
            .unwrap();
        assert_eq!(
            (up.to, up.reason.key()),
            (Tier::Gold, "upgrade:pay:order:O2".into())
        );
        let mut regular = Standing::default();
        let other = MemberId::generate(at, 6);
        let merged = regular.absorb(&other, &m, &gold, at).unwrap();
        assert_eq!((merged.from, merged.to), (Tier::Regular, Tier::Gold));
        assert_eq!(regular.growth.rolling(at.month()), Fen::new(2_100_000));
    }

    #[test]
    fn the_outlook_says_what_the_next_tier_needs_and_what_keeps_this_one() {
        let m = member();
        let mut s = Standing::default();
        let id = PostingId::parse("pay:order:O3").unwrap();
        // ¥6,000 in December 2025, ¥500 in November 2026: 银卡 now.
        s.record(&m, &pay(600_000, "2025-12"), month("2025-12").start(), &id);
        s.record(&m, &pay(50_000, "2026-11"), month("2026-11").start(), &id);
        let now = month("2026-11").start().plus_ms(86_400_000);
        let o = TierOutlook::of(&s, &TierThresholds::default(), now);
        assert_eq!((o.tier, o.growth), (Tier::Silver, Fen::new(650_000)));
        assert_eq!(o.next, Some((Tier::Gold, Fen::new(1_350_000))));
        assert_eq!(o.review_at, month("2026-12").start());
        // The December review still counts December 2025 (12 whole months before): kept.
        assert_eq!((o.at_review, o.to_keep), (Tier::Silver, Fen::ZERO));
        // A month later that bucket leaves: ¥4,500 short of keeping 银卡 at the January review.
        let later = TierOutlook::of(&s, &TierThresholds::default(), month("2026-12").start());
        assert_eq!(
            (later.at_review, later.to_keep),
            (Tier::Regular, Fen::new(450_000))
        );
    }
}
