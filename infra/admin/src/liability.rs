//! `linli-admin liability`: what the points outstanding are worth. Outstanding = Σ(available +
//! held) over members — held points still belong to the member until an order captures them —
//! valued at `--point-value-fen` each, broken down by the lot they sit in: points earned in
//! month M expire at the end of month M+12 (`ledger::lot_expires_on`), held points by the lots
//! their hold took. Debt (points owed after clawbacks) is shown apart: it reduces what Linli
//! will have to honour once repaid from future earnings.

use crate::output::{yuan, Outcome, Table};
use crate::tables::LedgerTable;
use crate::walk::{every_member, Tally, Visitor};
use crate::AdminError;
use linli::ledger::{lot_expires_on, Profile};
use linli::store::ledger::DynamoLedger;
use linli::store::StoreError;
use linli::time::Month;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Points of one earning month's lots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LotPoints {
    pub available: i64,
    pub held: i64,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Liability {
    pub members: u64,
    pub available: i64,
    pub held: i64,
    pub debt: i64,
    /// By earning month (each expires at the end of month + 12).
    pub by_month: BTreeMap<Month, LotPoints>,
    /// Profiles that could not be read: the figures leave them out.
    pub unreadable: Vec<String>,
}

impl Tally for Liability {
    fn combine(&mut self, other: Self) {
        self.members += other.members;
        self.available = self.available.saturating_add(other.available);
        self.held = self.held.saturating_add(other.held);
        self.debt = self.debt.saturating_add(other.debt);
        for (month, lot) in other.by_month {
            let slot = self.by_month.entry(month).or_default();
            slot.available = slot.available.saturating_add(lot.available);
            slot.held = slot.held.saturating_add(lot.held);
        }
        self.unreadable.extend(other.unreadable);
    }
}

impl Liability {
    pub fn add(&mut self, profile: &Profile) {
        self.members += 1;
        self.available = self.available.saturating_add(profile.available.value());
        self.held = self.held.saturating_add(profile.held.value());
        self.debt = self.debt.saturating_add(profile.debt.value());
        for (month, points) in profile.lots.iter() {
            let slot = self.by_month.entry(month).or_default();
            slot.available = slot.available.saturating_add(points.value());
        }
        for hold in profile.holds.values() {
            for (month, points) in &hold.lots {
                let slot = self.by_month.entry(*month).or_default();
                slot.held = slot.held.saturating_add(points.value());
            }
        }
    }

    pub fn outstanding(&self) -> i64 {
        self.available.saturating_add(self.held)
    }

    /// Σ of the lots, which the ledger keeps equal to available + held.
    fn lots_total(&self) -> i64 {
        self.by_month.values().fold(0i64, |t, l| {
            t.saturating_add(l.available).saturating_add(l.held)
        })
    }
}

struct Valuer;

impl Visitor for Valuer {
    type Tally = Liability;

    async fn visit(
        &self,
        _ledger: &DynamoLedger,
        found: Result<Profile, StoreError>,
        tally: &mut Liability,
    ) -> Result<(), AdminError> {
        match found {
            Ok(profile) => tally.add(&profile),
            Err(StoreError::Corrupt { key, .. }) => tally.unreadable.push(key),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

pub async fn run(table: &LedgerTable, point_value_fen: i64) -> Result<Outcome, AdminError> {
    if point_value_fen < 0 {
        return Err(AdminError::Usage(format!(
            "--point-value-fen is {point_value_fen}: a point is worth 0 fen or more"
        )));
    }
    let liability = every_member(&table.ledger, &Valuer).await?;
    Ok(outcome(&liability, point_value_fen))
}

/// Fen for `points` at `point_value_fen` each (i128: no overflow for any i64 inputs).
fn value(points: i64, point_value_fen: i64) -> i128 {
    i128::from(points) * i128::from(point_value_fen)
}

fn fen(points: i64, point_value_fen: i64) -> i64 {
    i64::try_from(value(points, point_value_fen)).unwrap_or(i64::MAX)
}

/// The lots by earning month: a table and its JSON.
fn by_expiry(l: &Liability, point_value_fen: i64) -> (Table, Vec<Value>) {
    let mut rows = Table::new(&[
        "earned",
        "expires on",
        "available",
        "held",
        "points",
        "value fen",
        "value",
    ]);
    let mut months = Vec::new();
    for (month, lot) in &l.by_month {
        let points = lot.available.saturating_add(lot.held);
        let worth = value(points, point_value_fen);
        let expires_on = lot_expires_on(*month).to_string();
        rows.row(vec![
            month.to_string(),
            expires_on.clone(),
            lot.available.to_string(),
            lot.held.to_string(),
            points.to_string(),
            worth.to_string(),
            yuan(worth),
        ]);
        months.push(json!({
            "earned": month.to_string(), "expires_on": expires_on,
            "available": lot.available, "held": lot.held, "points": points,
            "value_fen": fen(points, point_value_fen),
        }));
    }
    (rows, months)
}

/// What makes the figures untrustworthy.
fn problems(l: &Liability) -> Vec<String> {
    let mut problems = Vec::new();
    if l.lots_total() != l.outstanding() {
        problems.push(format!(
            "Σ lots ({}) ≠ available + held ({}): run `linli-admin audit`",
            l.lots_total(),
            l.outstanding()
        ));
    }
    for key in &l.unreadable {
        problems.push(format!(
            "profile {key} is unreadable and left out: run `linli-admin audit`"
        ));
    }
    problems
}

pub fn outcome(l: &Liability, point_value_fen: i64) -> Outcome {
    let (outstanding, debt) = (l.outstanding(), l.debt);
    let worth = |points| value(points, point_value_fen);
    let mut text = format!(
        "Points liability ({point_value_fen} fen a point), {} members\n  outstanding  {} points \
         (available {} + held {}) = {} fen ({})\n  debt owed    {} points = {} fen ({})\n\n",
        l.members,
        outstanding,
        l.available,
        l.held,
        worth(outstanding),
        yuan(worth(outstanding)),
        debt,
        worth(debt),
        yuan(worth(debt)),
    );
    let (rows, months) = by_expiry(l, point_value_fen);
    if rows.is_empty() {
        text.push_str("No points outstanding.\n");
    } else {
        text.push_str("By expiry (points earned in a month expire at the end of month + 12):\n");
        text.push_str(&rows.render());
    }
    let problems = problems(l);
    for p in &problems {
        text.push_str(&format!("PROBLEM: {p}\n"));
    }
    Outcome {
        text,
        json: json!({
            "point_value_fen": point_value_fen,
            "members": l.members,
            "available": l.available,
            "held": l.held,
            "outstanding_points": outstanding,
            "outstanding_fen": fen(outstanding, point_value_fen),
            "debt_points": debt,
            "debt_fen": fen(debt, point_value_fen),
            "by_expiry": months,
            "problems": problems,
        }),
        problem: !problems.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli::ids::{MemberId, OrderId};
    use linli::ledger::Hold;
    use linli::money::Points;
    use linli::time::BusinessTime;

    #[test]
    fn held_points_count_by_the_lots_their_hold_took() {
        let at = BusinessTime::from_epoch_ms(1_764_036_000_000).unwrap();
        let (jan, feb): (Month, Month) = ("2026-01".parse().unwrap(), "2026-02".parse().unwrap());
        let mut profile = Profile::new(MemberId::generate(at, 1));
        profile.available = Points::new(30);
        profile.lots.add(feb, Points::new(30)).unwrap();
        profile.held = Points::new(20);
        let hold = Hold {
            points: Points::new(20),
            expires_at: at,
            lots: BTreeMap::from([(jan, Points::new(15)), (feb, Points::new(5))]),
        };
        profile.holds.insert(OrderId::parse("O1").unwrap(), hold);
        let mut l = Liability::default();
        l.add(&profile);
        assert_eq!(l.outstanding(), 50);
        assert_eq!(
            l.by_month[&jan],
            LotPoints {
                available: 0,
                held: 15
            }
        );
        assert_eq!(
            l.by_month[&feb],
            LotPoints {
                available: 30,
                held: 5
            }
        );
        let shown = outcome(&l, 2);
        assert!(!shown.problem, "{}", shown.text);
        assert_eq!(shown.json["outstanding_fen"], 100);
        assert_eq!(shown.json["by_expiry"][0]["expires_on"], "2027-01-31");
    }
}
