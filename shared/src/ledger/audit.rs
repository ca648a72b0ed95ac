//! The audit invariant of DESIGN §5 over a set of members and their postings: every posting
//! balances, every member's balances equal the sums of their legs, Σ lots = available, and
//! Σ(available + held − debt) over members = −Σ system accounts.

use super::account::Account;
use super::error::Violation;
use super::posting::Posting;
use super::profile::Profile;
use crate::ids::MemberId;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub members: usize,
    pub postings: usize,
    /// Σ of every system account's legs, by account (issuance is negative, redemption positive).
    pub system_accounts: BTreeMap<Account, i64>,
    pub violations: Vec<Violation>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

#[derive(Default)]
struct MemberSums {
    available: i64,
    held: i64,
    debt_legs: i64,
}

/// Audits `profiles` against `postings`. Overflow while summing is itself a violation.
pub fn audit<'a>(
    profiles: impl IntoIterator<Item = &'a Profile>,
    postings: impl IntoIterator<Item = &'a Posting>,
) -> AuditReport {
    let mut report = AuditReport::default();
    let mut sums: BTreeMap<&MemberId, MemberSums> = BTreeMap::new();
    for posting in postings {
        report.postings += 1;
        if posting.legs.sum() != Some(0) {
            report
                .violations
                .push(Violation::UnbalancedLegs(posting.request.id.to_string()));
        }
        let member = sums.entry(&posting.request.member).or_default();
        for (account, amount) in posting.legs.iter() {
            let slot = match account {
                Account::Available => &mut member.available,
                Account::Held => &mut member.held,
                Account::Debt => &mut member.debt_legs,
                system => report.system_accounts.entry(system).or_insert(0),
            };
            *slot = slot.saturating_add(amount);
        }
    }
    let mut members_total: i64 = 0;
    for profile in profiles {
        report.members += 1;
        if let Err(v) = profile.check_invariants() {
            report.violations.push(v);
        }
        let legs = sums.remove(&profile.member).unwrap_or_default();
        let member = profile.member.to_string();
        let checks = [
            ("available", profile.available.value(), legs.available),
            ("held", profile.held.value(), legs.held),
            (
                "debt",
                profile.debt.value(),
                legs.debt_legs.saturating_neg(),
            ),
        ];
        for (account, profile_value, legs_value) in checks {
            if profile_value != legs_value {
                report.violations.push(Violation::BalanceNotEqualLegs {
                    member: member.clone(),
                    account,
                    profile: profile_value,
                    legs: legs_value,
                });
            }
        }
        let net = profile
            .available
            .value()
            .saturating_add(profile.held.value());
        members_total = members_total.saturating_add(net.saturating_sub(profile.debt.value()));
    }
    for orphan in sums.keys() {
        report
            .violations
            .push(Violation::OrphanPosting(orphan.to_string()));
    }
    let system: i64 = report
        .system_accounts
        .values()
        .fold(0i64, |t, v| t.saturating_add(*v));
    if members_total != system.saturating_neg() {
        report.violations.push(Violation::MembersNotEqualSystem {
            members: members_total,
            system,
        });
    }
    report
}
