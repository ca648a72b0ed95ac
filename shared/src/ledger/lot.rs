//! Monthly lots: the points a member earned in one business month. Lots expire at the end of
//! month M+12 and are spent oldest first, so the points closest to expiry go first.

use crate::money::Points;
use crate::time::{BusinessTime, Month};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many months after the earning month a lot stays spendable.
pub const LOT_LIFETIME_MONTHS: i32 = 12;

/// The instant from which a lot earned in `month` has expired: the start of month M+13.
pub fn lot_expired_from(month: Month) -> BusinessTime {
    month.plus(LOT_LIFETIME_MONTHS + 1).start()
}

/// The last business date a lot earned in `month` can be spent: the last day of month M+12.
pub fn lot_expires_on(month: Month) -> NaiveDate {
    month.plus(LOT_LIFETIME_MONTHS).last_day()
}

/// A lot that expires soon: its earning month, points and last spendable day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiring {
    pub month: Month,
    pub points: Points,
    pub expires_on: NaiveDate,
}

/// The lots whose last spendable day is within `days` of `today` (a lot already due but not yet
/// swept by ExpireLots included), soonest first.
pub fn expiring(lots: &Lots, today: NaiveDate, days: u32) -> Vec<Expiring> {
    let horizon = today + chrono::Days::new(u64::from(days));
    lots.iter()
        .map(|(month, points)| Expiring {
            month,
            points,
            expires_on: lot_expires_on(month),
        })
        .filter(|lot| lot.expires_on <= horizon)
        .collect()
}

/// Points per earning month. Only positive amounts are stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Lots(BTreeMap<Month, Points>);

impl Lots {
    pub fn total(&self) -> Option<Points> {
        crate::money::checked_sum(self.0.values().copied())
    }

    pub fn get(&self, month: Month) -> Points {
        self.0.get(&month).copied().unwrap_or(Points::ZERO)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (Month, Points)> + '_ {
        self.0.iter().map(|(m, p)| (*m, *p))
    }

    /// Adds non-negative `points` to the lot of `month`; `None` on overflow.
    pub fn add(&mut self, month: Month, points: Points) -> Option<()> {
        debug_assert!(
            !points.is_negative(),
            "lots only grow by non-negative amounts"
        );
        if points.is_zero() {
            return Some(());
        }
        let lot = self.0.entry(month).or_insert(Points::ZERO);
        *lot = lot.checked_add(points)?;
        Some(())
    }

    /// Takes `points` from the oldest lots first and says which lots gave how much.
    /// `None` when the lots hold less than `points` (the caller checks availability first).
    pub fn take_oldest(&mut self, points: Points) -> Option<BTreeMap<Month, Points>> {
        if self.total()? < points {
            return None;
        }
        let mut taken = BTreeMap::new();
        let mut left = points;
        while left.is_positive() {
            let (&month, &lot) = self.0.iter().next()?;
            let part = lot.min(left);
            taken.insert(month, part);
            left = left.checked_sub(part)?;
            self.take_exact(month, part)?;
        }
        Some(taken)
    }

    /// Takes exactly `points` from the lot of `month`; `None` if it holds less.
    pub fn take_exact(&mut self, month: Month, points: Points) -> Option<()> {
        let lot = self.0.get_mut(&month)?;
        *lot = lot.checked_sub(points).filter(|p| !p.is_negative())?;
        if lot.is_zero() {
            self.0.remove(&month);
        }
        Some(())
    }

    /// Removes and returns the whole lot of `month`.
    pub fn remove(&mut self, month: Month) -> Points {
        self.0.remove(&month).unwrap_or(Points::ZERO)
    }
}

#[cfg(test)]
mod expiring_tests {
    use super::*;

    #[test]
    fn lots_due_within_the_horizon_are_listed_soonest_first() {
        let month = |text: &str| text.parse::<Month>().unwrap();
        let mut lots = Lots::default();
        for (m, p) in [("2025-10", 5), ("2025-11", 7), ("2025-12", 9)] {
            lots.add(month(m), Points::new(p));
        }
        let today = NaiveDate::from_ymd_opt(2026, 11, 5).unwrap();
        // 2025-10 expired on 2026-10-31 (not swept yet), 2025-11 lasts until 2026-11-30.
        let soon = expiring(&lots, today, 30);
        assert_eq!(
            soon.iter()
                .map(|l| (l.month, l.points.value()))
                .collect::<Vec<_>>(),
            [(month("2025-10"), 5), (month("2025-11"), 7)]
        );
        assert_eq!(
            soon[1].expires_on,
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
        );
        assert_eq!(expiring(&lots, today, 0).len(), 1);
        assert_eq!(expiring(&lots, today, 60).len(), 3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Month {
        text.parse().unwrap()
    }

    #[test]
    fn lots_are_spent_oldest_first() {
        let mut lots = Lots::default();
        lots.add(m("2026-03"), Points::new(30)).unwrap();
        lots.add(m("2026-01"), Points::new(10)).unwrap();
        lots.add(m("2026-02"), Points::new(20)).unwrap();
        let taken = lots.take_oldest(Points::new(25)).unwrap();
        assert_eq!(taken.get(&m("2026-01")), Some(&Points::new(10)));
        assert_eq!(taken.get(&m("2026-02")), Some(&Points::new(15)));
        assert_eq!(taken.get(&m("2026-03")), None);
        assert_eq!(lots.get(m("2026-01")), Points::ZERO);
        assert_eq!(lots.total(), Some(Points::new(35)));
        assert_eq!(lots.len(), 2, "an emptied lot is removed");
    }

    #[test]
    fn taking_more_than_the_lots_hold_changes_nothing() {
        let mut lots = Lots::default();
        lots.add(m("2026-01"), Points::new(10)).unwrap();
        assert_eq!(lots.take_oldest(Points::new(11)), None);
        assert_eq!(lots.total(), Some(Points::new(10)));
    }

    #[test]
    fn a_lot_lives_until_the_end_of_month_plus_twelve() {
        let earned = m("2026-01");
        assert_eq!(
            lot_expires_on(earned),
            NaiveDate::from_ymd_opt(2027, 1, 31).unwrap()
        );
        assert_eq!(lot_expired_from(earned), m("2027-02").start());
    }
}
