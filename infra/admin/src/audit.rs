//! `linli-admin audit`: the audit invariant of DESIGN §5 over every member, with the same
//! `ledger::audit` the nightly housekeeping audit calls. Per member: each posting balanced, the
//! profile's balances = Σ of its legs, Σ lots = available and the profile's own invariants; over
//! all members: Σ(available + held − debt) = −Σ system accounts. Every violation is listed with
//! the member's full id (operators may see it); a profile that cannot be read at all is a
//! violation listed by its key. Exit 1 on any violation.

use crate::output::{Outcome, Table};
use crate::tables::LedgerTable;
use crate::walk::{every_member, snapshot, Tally, Visitor};
use crate::AdminError;
use linli::ledger::{audit, Account, Posting, Profile, Violation};
use linli::store::ledger::DynamoLedger;
use linli::store::StoreError;
use serde_json::json;
use std::collections::BTreeMap;

/// One violation and whom it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The member's id, when its profile could be read.
    pub member: Option<String>,
    /// The item's key (the member's `PROFILE`, or the unreadable item's key).
    pub key: String,
    pub violation: String,
}

#[derive(Debug, Default)]
pub struct AuditTally {
    pub members: u64,
    pub postings: u64,
    /// Σ(available + held − debt) over the members read.
    pub members_net: i64,
    /// Σ legs per system account over their postings (issuance negative).
    pub system: BTreeMap<Account, i64>,
    pub findings: Vec<Finding>,
}

impl Tally for AuditTally {
    fn combine(&mut self, other: Self) {
        self.members += other.members;
        self.postings += other.postings;
        self.members_net = self.members_net.saturating_add(other.members_net);
        for (account, sum) in other.system {
            let slot = self.system.entry(account).or_insert(0);
            *slot = slot.saturating_add(sum);
        }
        self.findings.extend(other.findings);
    }
}

impl AuditTally {
    /// Audits one member against its own postings and adds it to the sums.
    pub fn add_member(&mut self, profile: &Profile, postings: &[Posting]) {
        let report = audit([profile], postings);
        self.members += 1;
        self.postings += u64::try_from(report.postings).unwrap_or(u64::MAX);
        let net = profile
            .available
            .value()
            .saturating_add(profile.held.value())
            .saturating_sub(profile.debt.value());
        self.members_net = self.members_net.saturating_add(net);
        for (account, sum) in report.system_accounts {
            let slot = self.system.entry(account).or_insert(0);
            *slot = slot.saturating_add(sum);
        }
        for violation in report.violations {
            self.findings.push(Finding {
                member: Some(profile.member.to_string()),
                key: format!("MEMBER#{}/PROFILE", profile.member),
                violation: violation.to_string(),
            });
        }
    }

    /// A member (or one of its items) that cannot be read: one violation, nothing summed.
    pub fn add_unreadable(&mut self, member: Option<String>, key: String, why: String) {
        self.members += 1;
        self.findings.push(Finding {
            member,
            key,
            violation: format!("unreadable item: {why}"),
        });
    }

    pub fn system_total(&self) -> i64 {
        self.system.values().fold(0i64, |t, v| t.saturating_add(*v))
    }

    /// The global invariant over everything read: Σ members = −Σ system accounts.
    pub fn global_violation(&self) -> Option<Violation> {
        let system = self.system_total();
        (self.members_net != system.saturating_neg()).then_some(Violation::MembersNotEqualSystem {
            members: self.members_net,
            system,
        })
    }
}

struct Auditor;

impl Visitor for Auditor {
    type Tally = AuditTally;

    async fn visit(
        &self,
        ledger: &DynamoLedger,
        found: Result<Profile, StoreError>,
        tally: &mut AuditTally,
    ) -> Result<(), AdminError> {
        let profile = match found {
            Ok(profile) => profile,
            Err(StoreError::Corrupt { key, why }) => {
                let why = format!("the profile does not decode ({why})");
                tally.add_unreadable(None, key, why);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let member = profile.member.to_string();
        match snapshot(ledger, profile).await {
            Ok((profile, postings)) => tally.add_member(&profile, &postings),
            Err(StoreError::Corrupt { key, why }) => {
                let why = format!("{key} does not decode ({why})");
                tally.add_unreadable(Some(member), key, why)
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

pub async fn run(table: &LedgerTable) -> Result<Outcome, AdminError> {
    let mut tally = every_member(&table.ledger, &Auditor).await?;
    tally.findings.sort_by(|a, b| a.key.cmp(&b.key));
    if let Some(global) = tally.global_violation() {
        tally.findings.push(Finding {
            member: None,
            key: "(all members)".to_owned(),
            violation: global.to_string(),
        });
    }
    Ok(outcome(&table.name, &tally))
}

fn outcome(table: &str, tally: &AuditTally) -> Outcome {
    let system_total = tally.system_total();
    let mut text = format!(
        "Ledger audit of {table}\n  members   {}\n  postings  {}\n\n",
        tally.members, tally.postings
    );
    let mut accounts = Table::new(&["system account", "Σ legs"]);
    for (account, sum) in &tally.system {
        accounts.row(vec![account.to_string(), sum.to_string()]);
    }
    accounts.row(vec!["Σ system accounts".into(), system_total.to_string()]);
    accounts.row(vec![
        "Σ members (available + held − debt)".into(),
        tally.members_net.to_string(),
    ]);
    text.push_str(&accounts.render());
    text.push('\n');
    if tally.findings.is_empty() {
        text.push_str("No violations: the ledger is consistent.\n");
    } else {
        text.push_str(&format!("VIOLATIONS ({}):\n", tally.findings.len()));
        let mut list = Table::new(&["member / item", "violation"]);
        for f in &tally.findings {
            list.row(vec![
                f.member.clone().unwrap_or_else(|| f.key.clone()),
                f.violation.clone(),
            ]);
        }
        text.push_str(&list.render());
    }
    let violations: Vec<_> = tally
        .findings
        .iter()
        .map(|f| json!({"member": f.member, "key": f.key, "violation": f.violation}))
        .collect();
    let system: BTreeMap<String, i64> = tally
        .system
        .iter()
        .map(|(a, v)| (a.to_string(), *v))
        .collect();
    Outcome {
        text,
        json: json!({
            "table": table,
            "members": tally.members,
            "postings": tally.postings,
            "system_accounts": system,
            "system_total": system_total,
            "members_net": tally.members_net,
            "violations": violations,
            "clean": tally.findings.is_empty(),
        }),
        problem: !tally.findings.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli::ids::{MemberId, PostingId, TicketId};
    use linli::ledger::{Book, Op, PostingRequest, Source};
    use linli::money::Points;
    use linli::time::BusinessTime;

    fn book() -> (Book, MemberId) {
        let at = BusinessTime::from_epoch_ms(1_764_036_000_000).unwrap();
        let member = MemberId::generate(at, 9);
        let mut book = Book::default();
        book.open(member.clone());
        let earn = Op::Earn {
            source: Source::Adjust,
            points: Points::new(50),
        };
        let id = PostingId::adjust(&TicketId::parse("T1").unwrap());
        book.post(&PostingRequest::new(id, member.clone(), at, vec![earn]))
            .unwrap();
        (book, member)
    }

    #[test]
    fn a_consistent_member_passes_and_a_tampered_one_is_named() {
        let (book, member) = book();
        let postings: Vec<Posting> = book.postings().cloned().collect();
        let mut tally = AuditTally::default();
        tally.add_member(book.profile(&member).unwrap(), &postings);
        assert!(tally.findings.is_empty(), "{:?}", tally.findings);
        assert_eq!(tally.global_violation(), None);
        assert_eq!(tally.system_total(), -50);

        let mut broken = book.profile(&member).unwrap().clone();
        broken.available = Points::new(51);
        let mut tally = AuditTally::default();
        tally.add_member(&broken, &postings);
        assert!(!tally.findings.is_empty());
        assert!(tally
            .findings
            .iter()
            .all(|f| f.member.as_deref() == Some(member.as_str())));
        assert!(tally.global_violation().is_some());
        let shown = outcome("Ledger", &tally);
        assert!(shown.problem);
        assert!(shown.text.contains(member.as_str()), "{}", shown.text);
    }
}
