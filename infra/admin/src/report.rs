//! `linli-admin report --month YYYY-MM`: the month's movements, from every posting whose
//! business time (`request.at`, read in Asia/Shanghai) falls in that month, summed from the legs:
//! issued by source (issuance legs), redeemed by use (redemption legs; a returned redemption,
//! e.g. a delivery fee given back, is shown apart), expired (breakage), compensated (issuance
//! for compensation), clawed back, debt incurred and repaid.

use crate::output::{Outcome, Table};
use crate::tables::LedgerTable;
use crate::walk::{every_member, Tally, Visitor};
use crate::AdminError;
use linli::ledger::{Account, Op, Posting, Profile, Source};
use linli::store::ledger::DynamoLedger;
use linli::store::StoreError;
use linli::time::Month;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct MonthFigures {
    pub postings: u64,
    /// Members with at least one posting in the month.
    pub members: u64,
    /// Points issued, by issuance account.
    pub issued: BTreeMap<Account, i64>,
    /// Points redeemed, by redemption account.
    pub redeemed: BTreeMap<Account, i64>,
    /// Redemptions given back, by redemption account.
    pub returned: BTreeMap<Account, i64>,
    pub expired: i64,
    pub clawed_back: i64,
    pub debt_incurred: i64,
    /// Debt repaid by postings other than merges.
    pub debt_repaid: i64,
    /// Σ debt legs of merges: a merge moves debt from one member to the other (a repayment on
    /// one side, new debt on the other) and may repay it at once; only the net is a repayment.
    pub merge_debt: i64,
    /// Items that could not be read: the figures leave them out.
    pub unreadable: Vec<String>,
}

fn add_to(map: &mut BTreeMap<Account, i64>, account: Account, points: i64) {
    let slot = map.entry(account).or_insert(0);
    *slot = slot.saturating_add(points);
}

fn is_merge(posting: &Posting) -> bool {
    posting
        .request
        .ops
        .iter()
        .any(|op| matches!(op, Op::MergeIn { .. } | Op::MergeOut { .. }))
}

impl MonthFigures {
    /// Adds one posting of the month.
    pub fn add(&mut self, posting: &Posting) {
        self.postings += 1;
        let merge = is_merge(posting);
        for (account, amount) in posting.legs.iter() {
            match account {
                Account::Issuance(_) => add_to(&mut self.issued, account, -amount),
                Account::Redemption(_) if amount >= 0 => {
                    add_to(&mut self.redeemed, account, amount)
                }
                Account::Redemption(_) => add_to(&mut self.returned, account, -amount),
                Account::Breakage => self.expired = self.expired.saturating_add(amount),
                Account::Clawback => self.clawed_back = self.clawed_back.saturating_add(amount),
                Account::Debt if merge => self.merge_debt = self.merge_debt.saturating_add(amount),
                Account::Debt if amount >= 0 => {
                    self.debt_repaid = self.debt_repaid.saturating_add(amount)
                }
                Account::Debt => self.debt_incurred = self.debt_incurred.saturating_add(-amount),
                // Merges net to zero over their pair; members' own accounts are not movements.
                Account::Transfer | Account::Available | Account::Held => {}
            }
        }
    }

    pub fn compensated(&self) -> i64 {
        self.issued
            .get(&Account::Issuance(Source::Compensation))
            .copied()
            .unwrap_or(0)
    }

    /// Debt repaid, merges included (their net repayment).
    pub fn debt_repaid_total(&self) -> i64 {
        self.debt_repaid.saturating_add(self.merge_debt.max(0))
    }
}

impl Tally for MonthFigures {
    fn combine(&mut self, other: Self) {
        self.postings += other.postings;
        self.members += other.members;
        for (mine, theirs) in [
            (&mut self.issued, other.issued),
            (&mut self.redeemed, other.redeemed),
            (&mut self.returned, other.returned),
        ] {
            for (account, points) in theirs {
                add_to(mine, account, points);
            }
        }
        self.expired = self.expired.saturating_add(other.expired);
        self.clawed_back = self.clawed_back.saturating_add(other.clawed_back);
        self.debt_incurred = self.debt_incurred.saturating_add(other.debt_incurred);
        self.debt_repaid = self.debt_repaid.saturating_add(other.debt_repaid);
        self.merge_debt = self.merge_debt.saturating_add(other.merge_debt);
        self.unreadable.extend(other.unreadable);
    }
}

struct Reporter {
    month: Month,
}

impl Visitor for Reporter {
    type Tally = MonthFigures;

    async fn visit(
        &self,
        ledger: &DynamoLedger,
        found: Result<Profile, StoreError>,
        tally: &mut MonthFigures,
    ) -> Result<(), AdminError> {
        let profile = match found {
            Ok(profile) => profile,
            Err(StoreError::Corrupt { key, .. }) => {
                tally.unreadable.push(key);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let postings = match ledger.all_postings(&profile.member).await {
            Ok(postings) => postings,
            Err(StoreError::Corrupt { key, .. }) => {
                tally.unreadable.push(key);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let mut any = false;
        for posting in postings
            .iter()
            .filter(|p| p.request.at.month() == self.month)
        {
            tally.add(posting);
            any = true;
        }
        tally.members += u64::from(any);
        Ok(())
    }
}

pub async fn run(table: &LedgerTable, month: Month) -> Result<Outcome, AdminError> {
    let figures = every_member(&table.ledger, &Reporter { month }).await?;
    Ok(outcome(month, &figures))
}

/// `issuance:pay` → `pay`: the map keyed by source or use.
fn by_name(map: &BTreeMap<Account, i64>) -> Map<String, Value> {
    map.iter()
        .map(|(account, points)| {
            let name = account.to_string();
            let short = name.split_once(':').map_or(name.as_str(), |(_, n)| n);
            (short.to_owned(), json!(points))
        })
        .collect()
}

fn total(map: &BTreeMap<Account, i64>) -> i64 {
    map.values().fold(0i64, |t, v| t.saturating_add(*v))
}

pub fn outcome(month: Month, f: &MonthFigures) -> Outcome {
    let mut table = Table::new(&["movement", "points"]);
    let mut section = |label: &str, map: &BTreeMap<Account, i64>| {
        for (name, points) in by_name(map) {
            table.row(vec![format!("{label} {name}"), points.to_string()]);
        }
        table.row(vec![format!("{label} (total)"), total(map).to_string()]);
    };
    section("issued", &f.issued);
    section("redeemed", &f.redeemed);
    if !f.returned.is_empty() {
        section("returned", &f.returned);
    }
    for (label, points) in [
        ("expired (breakage)", f.expired),
        ("compensated", f.compensated()),
        ("clawed back", f.clawed_back),
        ("debt incurred", f.debt_incurred),
        ("debt repaid", f.debt_repaid_total()),
    ] {
        table.row(vec![label.to_owned(), points.to_string()]);
    }
    let mut text = format!(
        "Report for {month} (business time, Asia/Shanghai): {} postings of {} members\n",
        f.postings, f.members
    );
    text.push_str(&table.render());
    for key in &f.unreadable {
        text.push_str(&format!(
            "PROBLEM: {key} is unreadable and left out: run `linli-admin audit`\n"
        ));
    }
    Outcome {
        text,
        json: json!({
            "month": month.to_string(),
            "postings": f.postings,
            "members": f.members,
            "issued": by_name(&f.issued),
            "issued_total": total(&f.issued),
            "redeemed": by_name(&f.redeemed),
            "redeemed_total": total(&f.redeemed),
            "returned": by_name(&f.returned),
            "expired": f.expired,
            "compensated": f.compensated(),
            "clawed_back": f.clawed_back,
            "debt_incurred": f.debt_incurred,
            "debt_repaid": f.debt_repaid_total(),
            "unreadable": f.unreadable,
        }),
        problem: !f.unreadable.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli::ids::{MemberId, PostingId, TicketId};
    use linli::ledger::{Book, PostingRequest, Usage};
    use linli::money::Points;

    #[test]
    fn a_merge_counts_only_the_debt_it_repays() {
        let month: Month = "2026-03".parse().unwrap();
        let at = month.start().plus_ms(3_600_000);
        let (from, into) = (MemberId::generate(at, 1), MemberId::generate(at, 2));
        let mut book = Book::default();
        book.open(from.clone());
        book.open(into.clone());
        let post = |book: &mut Book, member: &MemberId, ticket: &str, op: Op| {
            let id = PostingId::adjust(&TicketId::parse(ticket).unwrap());
            book.post(&PostingRequest::new(id, member.clone(), at, vec![op]))
                .unwrap();
        };
        let claw = Op::Clawback {
            points: Points::new(30),
        };
        post(&mut book, &from, "C", claw);
        let earn = Op::Earn {
            source: Source::Compensation,
            points: Points::new(50),
        };
        post(&mut book, &into, "E", earn);
        let spend = Op::Redeem {
            usage: Usage::Goods,
            points: Points::new(5),
        };
        post(&mut book, &into, "S", spend);
        book.merge(&from, &into, at).unwrap();
        let mut f = MonthFigures::default();
        book.postings().for_each(|p| f.add(p));
        assert_eq!(f.postings, 5);
        assert_eq!(f.compensated(), 50);
        assert_eq!(f.clawed_back, 30);
        assert_eq!(f.debt_incurred, 30);
        assert_eq!(
            f.debt_repaid_total(),
            30,
            "the merge repaid the debt it moved"
        );
        let shown = outcome(month, &f);
        assert_eq!(shown.json["redeemed"]["goods"], 5);
        assert_eq!(shown.json["issued"]["compensation"], 50);
        assert!(!shown.problem);
    }
}
