//! `Audit`: the ledger invariant of DESIGN §5 over every member, nightly. Per member,
//! `ledger::audit` checks its profile against its own postings (each posting balanced, balances
//! = Σ legs, Σ lots = available, the profile's invariants); over the whole pass, Σ(available +
//! held − debt) must equal −Σ system accounts, summed from every member's postings. The pass is
//! resumable like ExpireLots, its partial sums kept in the checkpoints; the run that completes
//! it records the result (`CHECKPOINT#Audit#pass`), publishes `AuditViolations` and
//! `AuditMembers` as an embedded metric (the alarm watches the first), and an ERROR line names
//! each offending member (masked) and its violation.

use crate::tally::{mask_ids, AuditTally};
use crate::walk::{walk_all, Budget, LedgerWalk, PageVisitor, Pass, RunCounts};
use linli::ledger::{ErrorClass, Posting, Profile};
use linli::store::checkpoints::{CheckpointKey, CheckpointStore};
use linli::store::StoreError;
use linli::time::BusinessTime;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const TASK: &str = "Audit";
/// How often a member is read again when a posting lands while it is being audited.
const SNAPSHOT_TRIES: u32 = 3;

/// A completed pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditResult {
    /// The business date the pass is for.
    pub date: String,
    pub tally: AuditTally,
    /// Violations, the global one included.
    pub violations: u64,
}

/// What an Audit run did.
#[derive(Debug, Default, Serialize)]
pub struct AuditSummary {
    pub date: String,
    /// Members audited in this run, and the violations among them.
    pub members: u64,
    pub violations: u64,
    pub failed: u32,
    pub pass_done: bool,
    /// This run completed the pass and published its result.
    pub published: bool,
    /// The date's result, once the pass is complete.
    pub pass: Option<AuditResult>,
}

impl AuditSummary {
    /// Violations this run is answerable for: its own, and the pass's if it completed it.
    pub fn violations_found(&self) -> u64 {
        let completed = if self.published {
            self.pass.as_ref().map_or(0, |p| p.violations)
        } else {
            0
        };
        self.violations.max(completed)
    }
}

struct Auditor<'a, L> {
    ledger: &'a L,
}

impl<L: LedgerWalk> Auditor<'_, L> {
    /// `first` and the member's postings as of one moment: a posting changes the profile's
    /// version in the same transaction, so the same version read after the postings means
    /// nothing landed in between.
    async fn snapshot(&self, first: Profile) -> Result<(Profile, Vec<Posting>), StoreError> {
        let mut profile = first;
        for _ in 0..SNAPSHOT_TRIES {
            let postings = self.ledger.all_postings(&profile.member).await?;
            match self.ledger.profile_as_stored(&profile.member).await? {
                Some(again) if again.version != profile.version => profile = again,
                _ => return Ok((profile, postings)),
            }
        }
        Err(StoreError::Contended {
            attempts: SNAPSHOT_TRIES,
        })
    }
}

impl<L: LedgerWalk> PageVisitor for Auditor<'_, L> {
    type Tally = AuditTally;

    async fn visit(
        &self,
        profiles: Vec<Result<Profile, StoreError>>,
        tally: &mut AuditTally,
        run: &mut RunCounts,
    ) -> bool {
        for profile in profiles {
            let found = match profile {
                Ok(profile) => self.snapshot(profile).await,
                Err(e) => Err(e),
            };
            match found {
                Ok((profile, postings)) => {
                    run.members += 1;
                    for violation in tally.add_member(&profile, &postings) {
                        run.violations += 1;
                        tracing::error!(member = %profile.member.masked(), violation = %mask_ids(&violation.to_string()), "audit violation");
                    }
                }
                Err(e) if e.class() == ErrorClass::Transient => {
                    tracing::error!(error = %mask_ids(&e.to_string()), "audit read failed; the next run repeats this page");
                    run.failed += 1;
                    return false;
                }
                Err(e) => {
                    tally.add_unreadable();
                    run.members += 1;
                    run.violations += 1;
                    tracing::error!(violation = %mask_ids(&e.to_string()), "audit violation: unreadable ledger item");
                }
            }
        }
        true
    }
}

/// Continues the date's pass in every segment within `budget`; the run that completes it
/// records and publishes the result.
pub async fn run<L: LedgerWalk, C: CheckpointStore + Sync>(
    ledger: &L,
    checkpoints: &C,
    stage: &str,
    now: BusinessTime,
    budget: &Budget,
) -> AuditSummary {
    let date = now.date().to_string();
    let visitor = Auditor { ledger };
    let pass = Pass {
        task: TASK,
        period: &date,
        now,
        budget,
    };
    let walk = walk_all(ledger, checkpoints, &visitor, &pass).await;
    let mut summary = AuditSummary {
        date: date.clone(),
        members: walk.run.members,
        violations: walk.run.violations,
        failed: walk.run.failed,
        pass_done: walk.done,
        ..AuditSummary::default()
    };
    if summary.pass_done {
        complete(checkpoints, stage, now, walk.tally, &mut summary).await;
    }
    summary
}

/// Records the completed pass once (conditional on the pass checkpoint) and publishes it.
async fn complete<C: CheckpointStore>(
    checkpoints: &C,
    stage: &str,
    now: BusinessTime,
    total: AuditTally,
    summary: &mut AuditSummary,
) {
    let key = CheckpointKey::pass(TASK);
    let version = match checkpoints.load::<AuditResult>(&key).await {
        Ok(Some(saved)) if saved.state.date == summary.date => {
            summary.pass = Some(saved.state);
            return;
        }
        Ok(saved) => saved.map_or(0, |s| s.version),
        Err(e) => {
            tracing::error!(error = %e, "audit result unreadable; the next run completes the pass");
            summary.failed += 1;
            return;
        }
    };
    let global = total.global_violation();
    if let Some(violation) = &global {
        tracing::error!(violation = %violation, "audit violation: the members' balances do not mirror the system accounts");
    }
    let result = AuditResult {
        date: summary.date.clone(),
        violations: total.violations + u64::from(global.is_some()),
        tally: total,
    };
    match checkpoints.save(&key, version, &result, now).await {
        Ok(true) => {
            linli::metrics::emit(&linli::metrics::emf_line(
                stage,
                now,
                &[
                    ("AuditViolations", result.violations),
                    ("AuditMembers", result.tally.members),
                ],
                &[
                    ("task", json!(TASK)),
                    ("date", json!(result.date)),
                    ("postings", json!(result.tally.postings)),
                ],
            ));
            tracing::info!(date = %result.date, members = result.tally.members, postings = result.tally.postings, violations = result.violations, "ledger audit complete");
            summary.published = true;
        }
        Ok(false) => tracing::info!("another run recorded the audit result"),
        Err(e) => {
            tracing::error!(error = %e, "audit result not recorded; the next run completes the pass");
            summary.failed += 1;
            return;
        }
    }
    summary.pass = Some(result);
}
