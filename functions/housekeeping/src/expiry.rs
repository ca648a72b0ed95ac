//! `ExpireLots`: every lot whose expiry has come (`lot_expired_from(month) <= now`: points
//! earned in month M expire at the start of M+13) is expired with posting
//! `expire:<member>:<month>`, once per member and month by construction, through the ledger
//! store like any posting. One pass over every profile per business month; runs resume it.

use crate::walk::{readable, walk_all, Budget, LedgerWalk, PageVisitor, Pass, RunCounts, Tally};
use linli::ids::PostingId;
use linli::ledger::{lot_expired_from, ErrorClass, Op, PostingRequest, Profile};
use linli::store::checkpoints::CheckpointStore;
use linli::store::StoreError;
use linli::time::{BusinessTime, Month};
use serde::{Deserialize, Serialize};

pub const TASK: &str = "ExpireLots";

/// The months of `profile`'s lots that have expired at `now`, oldest first.
pub fn due_months(profile: &Profile, now: BusinessTime) -> Vec<Month> {
    profile
        .lots
        .iter()
        .filter(|(month, points)| points.is_positive() && lot_expired_from(*month) <= now)
        .map(|(month, _)| month)
        .collect()
}

/// The posting that expires `profile`'s lot of `month` at `now`.
pub fn expiry(profile: &Profile, month: Month, now: BusinessTime) -> PostingRequest {
    PostingRequest::new(
        PostingId::expire(&profile.member, month),
        profile.member.clone(),
        now,
        vec![Op::Expire { month }],
    )
}

/// What a month's pass has done so far in one segment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryTally {
    pub members: u64,
    pub lots: u64,
    pub points: i64,
}

impl Tally for ExpiryTally {
    fn combine(&mut self, other: &Self) {
        self.members += other.members;
        self.lots += other.lots;
        self.points = self.points.saturating_add(other.points);
    }
}

/// What an ExpireLots run did.
#[derive(Debug, Default, Serialize)]
pub struct ExpirySummary {
    pub month: String,
    /// Profiles looked at in this run.
    pub members: u64,
    /// Lots expired in this run.
    pub expired: u64,
    pub failed: u32,
    /// The month's pass is complete in every segment.
    pub pass_done: bool,
    /// Over the month's pass so far, every run included.
    pub pass: ExpiryTally,
}

struct Expirer<'a, L> {
    ledger: &'a L,
    now: BusinessTime,
}

impl<L: LedgerWalk> PageVisitor for Expirer<'_, L> {
    type Tally = ExpiryTally;

    async fn visit(
        &self,
        profiles: Vec<Result<Profile, StoreError>>,
        tally: &mut ExpiryTally,
        run: &mut RunCounts,
    ) -> bool {
        for profile in profiles {
            let Some(profile) = readable(profile, run) else {
                continue;
            };
            run.members += 1;
            tally.members += 1;
            for month in due_months(&profile, self.now) {
                let request = expiry(&profile, month, self.now);
                match self.ledger.post(&request).await {
                    Ok(posted) => {
                        let points = posted
                            .outcome
                            .result
                            .available_delta
                            .value()
                            .saturating_neg();
                        if !posted.outcome.replayed {
                            run.posted += 1;
                            tally.lots += 1;
                            tally.points = tally.points.saturating_add(points);
                        }
                    }
                    // Spent or expired meanwhile by another posting: nothing left to do.
                    Err(e) if e.class() == ErrorClass::Business => {}
                    Err(e) if e.class() == ErrorClass::Transient => {
                        tracing::error!(member = %profile.member.masked(), %month, error = %e, "expiry failed; the next run retries this page");
                        run.failed += 1;
                        return false;
                    }
                    Err(e) => {
                        tracing::error!(member = %profile.member.masked(), %month, error = %e, "expiry refused: a human must look");
                        run.failed += 1;
                    }
                }
            }
        }
        true
    }
}

/// Continues this month's pass in every segment within `budget`.
pub async fn run<L: LedgerWalk, C: CheckpointStore + Sync>(
    ledger: &L,
    checkpoints: &C,
    now: BusinessTime,
    budget: &Budget,
) -> ExpirySummary {
    let month = now.month().to_string();
    let visitor = Expirer { ledger, now };
    let pass = Pass {
        task: TASK,
        period: &month,
        now,
        budget,
    };
    let walk = walk_all(ledger, checkpoints, &visitor, &pass).await;
    ExpirySummary {
        month,
        members: walk.run.members,
        expired: walk.run.posted,
        failed: walk.run.failed,
        pass_done: walk.done,
        pass: walk.tally,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli::ids::MemberId;
    use linli::ledger::{apply, Source};
    use linli::money::Points;

    fn month(text: &str) -> Month {
        text.parse().unwrap()
    }

    /// A member with 10 points earned in each of `months`.
    fn profile(months: &[&str]) -> Profile {
        let member = MemberId::generate(month("2025-01").start(), 9);
        let mut profile = Profile::new(member.clone());
        for (n, m) in months.iter().enumerate() {
            let id = PostingId::parse(&format!("adjust:T-{n}")).unwrap();
            let earn = Op::Earn {
                source: Source::Adjust,
                points: Points::new(10),
            };
            let at = month(m).start().plus_ms(1);
            let request = PostingRequest::new(id, member.clone(), at, vec![earn]);
            profile = apply(&profile, &request).unwrap().profile;
        }
        profile
    }

    #[test]
    fn a_lot_is_due_from_the_start_of_its_thirteenth_month_after_earning() {
        let p = profile(&["2025-01", "2025-02", "2025-03"]);
        let start = month("2026-02").start();
        assert_eq!(due_months(&p, start.plus_ms(-1)), vec![]);
        assert_eq!(due_months(&p, start), vec![month("2025-01")]);
        assert_eq!(
            due_months(&p, month("2026-04").start()),
            vec![month("2025-01"), month("2025-02"), month("2025-03")],
            "a late pass catches up on every month due, oldest first"
        );
    }

    #[test]
    fn the_expiry_posting_is_the_months_own_and_applies() {
        let p = profile(&["2025-01", "2025-06"]);
        let now = month("2026-02").start();
        let request = expiry(&p, month("2025-01"), now);
        assert_eq!(request.id, PostingId::expire(&p.member, month("2025-01")));
        let applied = apply(&p, &request).unwrap();
        assert_eq!(applied.profile.available, Points::new(10));
        assert_eq!(due_months(&applied.profile, now), vec![]);
        assert_eq!(
            applied.profile.lots.get(month("2025-06")),
            Points::new(10),
            "kept"
        );
    }
}
