//! Recurring rounds (pure): a template opens its next round when one closes — cutoffs on the
//! given weekdays at a time of day (seed 002: every Tuesday and Thursday evening), Asia/Shanghai,
//! handed over a number of days later.

use crate::time::BusinessTime;
use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    /// Cutoff days, ISO numbers (1 Monday … 7 Sunday): `[2, 4]` is Tuesday and Thursday.
    pub weekdays: Vec<u32>,
    /// Minutes after midnight of the cutoff (20:00 = 1,200).
    pub cutoff_minutes: u32,
    /// Days from the cutoff to the handover (1: the next day).
    pub fulfil_after_days: u32,
}

impl Recurrence {
    /// The seeds' rhythm: Tuesday and Thursday at 20:00, handed over the next day.
    pub fn tuesday_thursday() -> Self {
        Self {
            weekdays: vec![
                Weekday::Tue.number_from_monday(),
                Weekday::Thu.number_from_monday(),
            ],
            cutoff_minutes: 20 * 60,
            fulfil_after_days: 1,
        }
    }

    pub fn is_valid(&self) -> bool {
        !self.weekdays.is_empty()
            && self.weekdays.iter().all(|d| (1..=7).contains(d))
            && self.cutoff_minutes < 24 * 60
            && self.fulfil_after_days <= 30
    }

    /// The first cutoff strictly after `after`, with its handover date.
    pub fn next(&self, after: BusinessTime) -> Option<(BusinessTime, NaiveDate)> {
        if !self.is_valid() {
            return None;
        }
        let start = after.date();
        (0..8u64).find_map(|d| {
            let day = start.checked_add_days(Days::new(d))?;
            if !self.weekdays.contains(&day.weekday().number_from_monday()) {
                return None;
            }
            let cutoff = BusinessTime::at_shanghai(day, self.cutoff_minutes);
            let fulfil = day.checked_add_days(Days::new(u64::from(self.fulfil_after_days)))?;
            (cutoff > after).then_some((cutoff, fulfil))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuesday_and_thursday_at_eight_in_the_evening_beijing_time() {
        let r = Recurrence::tuesday_thursday();
        let at = |s: &str| BusinessTime::parse_rfc3339(s).unwrap();
        // Monday → Tuesday 20:00; Tuesday 20:00 itself → Thursday.
        let (cutoff, fulfil) = r.next(at("2026-12-07T09:00:00+08:00")).unwrap();
        assert_eq!(cutoff, at("2026-12-08T20:00:00+08:00"));
        assert_eq!(fulfil, NaiveDate::from_ymd_opt(2026, 12, 9).unwrap());
        let (cutoff, _) = r.next(at("2026-12-08T20:00:00+08:00")).unwrap();
        assert_eq!(cutoff, at("2026-12-10T20:00:00+08:00"));
        // Thursday night → next Tuesday.
        let (cutoff, _) = r.next(at("2026-12-10T21:00:00+08:00")).unwrap();
        assert_eq!(cutoff, at("2026-12-15T20:00:00+08:00"));
        let never = Recurrence {
            weekdays: vec![],
            ..r
        };
        assert_eq!(never.next(at("2026-12-07T09:00:00+08:00")), None);
    }
}
