//! What must hold after a run, read back from DynamoDB:
//! - the audit balances (every posting's legs, each member's balances = Σ legs, Σ lots =
//!   available, members = −system), and no balance is negative;
//! - every accepted request is stored exactly once, with its own content, and nothing else is
//!   stored (a member's history is exactly the accepted ids);
//! - every refused request left nothing (absent, or its id holds the accepted content);
//! - each member's net (available + held − debt) and held equal what an independent count of
//!   the accepted operations says.

use crate::driver::Outcomes;
use linli::ids::{MemberId, OrderId, PostingId};
use linli::ledger::{audit, Op, Posting, PostingRequest, Profile};
use linli::store::ledger::{DynamoLedger, HistoryCursor, LedgerStore};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub struct Report {
    pub members: usize,
    pub postings: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub violations: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("reading member {member}: {why}")]
pub struct CheckError {
    member: String,
    why: String,
}

/// Checks the ledger of `members` (and of every member a refused request named) against
/// `outcomes`.
pub async fn check(
    ledger: &DynamoLedger,
    members: &[MemberId],
    outcomes: &Outcomes,
) -> Result<Report, CheckError> {
    let mut report = Report {
        accepted: outcomes.accepted.len(),
        rejected: outcomes.rejected.len(),
        ..Report::default()
    };
    let mut profiles = Vec::new();
    let mut postings = Vec::new();
    for member in members {
        let (profile, stored) = read(ledger, member).await?;
        let Some(profile) = profile else {
            report.violations.push(format!("{member}: no profile"));
            continue;
        };
        let accepted: Vec<&PostingRequest> = outcomes
            .accepted
            .iter()
            .filter(|r| r.member == *member)
            .collect();
        compare(member, &accepted, &stored, &mut report.violations);
        expect_balances(&profile, &accepted, &mut report.violations);
        profiles.push(profile);
        postings.extend(stored);
    }
    let audited = audit(&profiles, &postings);
    report.members = audited.members;
    report.postings = audited.postings;
    report
        .violations
        .extend(audited.violations.iter().map(|v| format!("audit: {v}")));
    for refused in &outcomes.rejected {
        let stored = ledger
            .posting(&refused.member, &refused.id)
            .await
            .map_err(|e| error(&refused.member, e))?;
        let left = stored.is_some_and(|p| p.request.content_hash() == refused.content_hash());
        if left && !outcomes.accepted.iter().any(|a| a == refused) {
            report
                .violations
                .push(format!("refused {} is stored", refused.id));
        }
    }
    Ok(report)
}

fn error(member: &MemberId, e: impl std::fmt::Display) -> CheckError {
    CheckError {
        member: member.to_string(),
        why: e.to_string(),
    }
}

/// The member's profile and every posting its history lists.
async fn read(
    ledger: &DynamoLedger,
    member: &MemberId,
) -> Result<(Option<Profile>, Vec<Posting>), CheckError> {
    let profile = ledger.profile(member).await.map_err(|e| error(member, e))?;
    let mut ids: Vec<PostingId> = Vec::new();
    let mut cursor: Option<HistoryCursor> = None;
    loop {
        let page = ledger
            .history(member, cursor.as_ref(), 100)
            .await
            .map_err(|e| error(member, e))?;
        ids.extend(page.lines.iter().map(|l| l.posting_id.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut stored = Vec::new();
    for chunk in ids.chunks(100) {
        let found = ledger
            .postings(member, chunk)
            .await
            .map_err(|e| error(member, e))?;
        stored.extend(found.into_iter().flatten());
    }
    Ok((profile, stored))
}

/// Stored = accepted, id for id and content for content; no id twice.
fn compare(
    member: &MemberId,
    accepted: &[&PostingRequest],
    stored: &[Posting],
    violations: &mut Vec<String>,
) {
    let mut want: BTreeMap<&PostingId, String> = BTreeMap::new();
    for request in accepted {
        if want.insert(&request.id, request.content_hash()).is_some() {
            violations.push(format!(
                "{member}: two contents accepted under {}",
                request.id
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for posting in stored {
        let id = &posting.request.id;
        if !seen.insert(id) {
            violations.push(format!("{member}: {id} stored twice"));
        }
        match want.get(id) {
            None => violations.push(format!("{member}: {id} stored but never accepted")),
            Some(hash) if *hash != posting.request.content_hash() => {
                violations.push(format!("{member}: {id} stored with other content"))
            }
            Some(_) => {}
        }
    }
    for id in want.keys() {
        if !seen.contains(id) {
            violations.push(format!("{member}: accepted {id} is not stored"));
        }
    }
}

/// The independent count: net = Σ earns + returns − redemptions − clawbacks − captured holds;
/// held = Σ holds neither captured nor voided.
fn expect_balances(profile: &Profile, accepted: &[&PostingRequest], violations: &mut Vec<String>) {
    let mut holds: BTreeMap<&OrderId, i64> = BTreeMap::new();
    let mut settled: BTreeSet<&OrderId> = BTreeSet::new();
    let mut net: i64 = 0;
    for op in accepted.iter().flat_map(|r| r.ops.iter()) {
        match op {
            Op::Earn { points, .. } | Op::ReturnRedemption { points, .. } => net += points.value(),
            Op::Redeem { points, .. } | Op::Clawback { points } => net -= points.value(),
            Op::Hold { order, points, .. } => {
                holds.insert(order, points.value());
            }
            Op::Capture { order, .. } => {
                net -= holds.get(order).copied().unwrap_or(0);
                settled.insert(order);
            }
            Op::Void { order } => {
                settled.insert(order);
            }
            Op::Expire { .. } | Op::MergeOut { .. } | Op::MergeIn { .. } => {}
        }
    }
    let held: i64 = holds
        .iter()
        .filter(|(order, _)| !settled.contains(*order))
        .map(|(_, points)| points)
        .sum();
    let member = &profile.member;
    let actual = profile.available.value() + profile.held.value() - profile.debt.value();
    if actual != net {
        violations.push(format!(
            "{member}: net {actual}, the accepted operations say {net}"
        ));
    }
    if profile.held.value() != held {
        violations.push(format!(
            "{member}: held {}, the accepted holds say {held}",
            profile.held.value()
        ));
    }
    for (name, value) in [
        ("available", profile.available.value()),
        ("held", profile.held.value()),
        ("debt", profile.debt.value()),
    ] {
        if value < 0 {
            violations.push(format!("{member}: {name} is {value}"));
        }
    }
}
