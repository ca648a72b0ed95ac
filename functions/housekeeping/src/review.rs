//! `TierReview` (monthly, seed 003): every member's tier becomes the one the goods paid over the
//! 12 whole months before qualifies for (downgrades happen only here; upgrades happen at once,
//! on the posting that crosses a threshold). One resumable pass over every profile per business
//! month; each member is reviewed at most once per month (the profile keeps the last reviewed
//! month), the change recorded with its reason in the same transaction. 普卡 members whose
//! growth qualifies for nothing more are not written.

use crate::walk::{readable, walk_all, Budget, LedgerWalk, PageVisitor, Pass, RunCounts, Tally};
use linli::ledger::{ErrorClass, Profile};
use linli::rules::earning::{Tier, TierThresholds};
use linli::store::checkpoints::CheckpointStore;
use linli::store::ledger::{Reviewed, Standings};
use linli::store::StoreError;
use linli::time::{BusinessTime, Month};
use serde::{Deserialize, Serialize};

pub const TASK: &str = "TierReview";

/// Whether `profile` needs the review of `month` written: not yet reviewed, and either above
/// 普卡 or with enough growth to move up.
pub fn due(profile: &Profile, month: Month, thresholds: &TierThresholds) -> bool {
    let standing = &profile.standing;
    profile.merged_into.is_none()
        && standing.review_due(month)
        && (standing.tier != Tier::Regular
            || thresholds.reviewed(standing.growth.reviewed(month)) != Tier::Regular)
}

/// What a month's review pass has done so far in one segment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewTally {
    pub members: u64,
    pub reviewed: u64,
    pub upgraded: u64,
    pub downgraded: u64,
}

impl Tally for ReviewTally {
    fn combine(&mut self, other: &Self) {
        self.members += other.members;
        self.reviewed += other.reviewed;
        self.upgraded += other.upgraded;
        self.downgraded += other.downgraded;
    }
}

#[derive(Debug, Default, Serialize)]
pub struct ReviewSummary {
    pub month: String,
    /// Profiles looked at in this run.
    pub members: u64,
    /// Tier changes made in this run.
    pub changed: u64,
    pub failed: u32,
    pub pass_done: bool,
    /// Over the month's pass so far.
    pub pass: ReviewTally,
}

struct Reviewer<'a, L> {
    ledger: &'a L,
    thresholds: &'a TierThresholds,
    month: Month,
    now: BusinessTime,
}

impl<L: LedgerWalk + Standings> PageVisitor for Reviewer<'_, L> {
    type Tally = ReviewTally;

    async fn visit(
        &self,
        profiles: Vec<Result<Profile, StoreError>>,
        tally: &mut ReviewTally,
        run: &mut RunCounts,
    ) -> bool {
        for profile in profiles {
            let Some(profile) = readable(profile, run) else {
                continue;
            };
            run.members += 1;
            tally.members += 1;
            if !due(&profile, self.month, self.thresholds) {
                continue;
            }
            let member = &profile.member;
            match self
                .ledger
                .review_tier(member, self.month, self.thresholds, self.now)
                .await
            {
                Ok(Reviewed::Changed(change)) => {
                    tracing::info!(member = %member.masked(), month = %self.month, from = ?change.from, to = ?change.to, growth_fen = change.growth.value(), "tier changed at review");
                    run.posted += 1;
                    tally.reviewed += 1;
                    if change.to > change.from {
                        tally.upgraded += 1;
                    } else {
                        tally.downgraded += 1;
                    }
                }
                Ok(Reviewed::Kept) => tally.reviewed += 1,
                Ok(Reviewed::AlreadyDone) => {}
                Err(e) if e.class() == ErrorClass::Transient => {
                    tracing::error!(member = %member.masked(), month = %self.month, error = %e, "tier review failed; the next run retries this page");
                    run.failed += 1;
                    return false;
                }
                Err(e) => {
                    tracing::error!(member = %member.masked(), month = %self.month, error = %e, "tier review refused: a human must look (the pass goes on)");
                    run.failed += 1;
                }
            }
        }
        true
    }
}

/// Continues this month's review pass in every segment within `budget`.
pub async fn run<L: LedgerWalk + Standings, C: CheckpointStore + Sync>(
    ledger: &L,
    checkpoints: &C,
    thresholds: &TierThresholds,
    now: BusinessTime,
    budget: &Budget,
) -> ReviewSummary {
    let month = now.month();
    let period = month.to_string();
    let visitor = Reviewer {
        ledger,
        thresholds,
        month,
        now,
    };
    let pass = Pass {
        task: TASK,
        period: &period,
        now,
        budget,
    };
    let walk = walk_all(ledger, checkpoints, &visitor, &pass).await;
    ReviewSummary {
        month: period,
        members: walk.run.members,
        changed: walk.run.posted,
        failed: walk.run.failed,
        pass_done: walk.done,
        pass: walk.tally,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli::ids::{MemberId, PostingId};
    use linli::ledger::{apply, GrowthEntry, Op, PostingRequest, Source};
    use linli::money::{Fen, Points};

    fn month(text: &str) -> Month {
        text.parse().unwrap()
    }

    fn spent(fen: i64, m: &str) -> Profile {
        let at = month(m).start();
        let member = MemberId::generate(at, 3);
        let mut request = PostingRequest::new(
            PostingId::parse("adjust:T-1").unwrap(),
            member.clone(),
            at,
            vec![Op::Earn {
                source: Source::Adjust,
                points: Points::new(1),
            }],
        );
        request.growth = Some(GrowthEntry {
            month: month(m),
            fen: Fen::new(fen),
            thresholds: Some(TierThresholds::default()),
        });
        apply(&Profile::new(member), &request).unwrap().profile
    }

    #[test]
    fn only_members_above_regular_or_qualifying_for_more_are_written() {
        let t = TierThresholds::default();
        let may = month("2026-05");
        assert!(!due(&spent(100_000, "2026-01"), may, &t), "普卡 stays 普卡");
        assert!(due(&spent(600_000, "2026-01"), may, &t), "银卡 is reviewed");
        let lower = TierThresholds {
            silver_fen: 50_000,
            ..TierThresholds::default()
        };
        let mut regular = spent(100_000, "2026-01");
        regular.standing.tier = Tier::Regular;
        assert!(
            due(&regular, may, &lower),
            "thresholds lowered: a review may upgrade"
        );
        let mut done = spent(600_000, "2026-01");
        done.standing.reviewed = Some(may);
        assert!(!due(&done, may, &t), "once per month");
    }
}
