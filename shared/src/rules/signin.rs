//! Daily sign-in (seed 001: 签到 5 积分): once per business day (Asia/Shanghai), so the posting id
//! is the member and the date — a second sign-in that day is the same posting, granted once.
//!
//! A streak bonus (`InteractionRules::streak`) is decided from the member's sign-in postings of
//! earlier business days only, never from today's: a retry the same day then asks for exactly
//! the same posting (same id, same content hash) and the ledger grants it once. Two things can
//! still change the content within a day: an earlier day's sign-in landing late (it went through
//! the queue) and a changed configuration; a caller that finds today's posting already stored
//! should answer from it rather than decide again.

use super::interactions::InteractionRules;
use crate::ids::{MemberId, PostingId};
use crate::ledger::{Op, Posting, PostingRequest, Source};
use crate::money::Points;
use crate::time::BusinessTime;
use chrono::NaiveDate;

/// Points for a daily sign-in (default from the seeds).
pub const SIGN_IN_POINTS: Points = Points::new(5);

/// The sign-in of `member` at `at` with the default rules and no streak bonus:
/// `signin:<member>:<yyyy-mm-dd>` in business time, earning `SIGN_IN_POINTS`.
pub fn sign_in(member: &MemberId, at: BusinessTime) -> PostingRequest {
    InteractionRules::default().sign_in(member, at, false)
}

/// Whether a recorded posting paid a streak bonus (an earn from `Source::Streak`).
pub fn had_streak_bonus(posting: &Posting) -> bool {
    posting.request.ops.iter().any(|op| {
        matches!(
            op,
            Op::Earn {
                source: Source::Streak,
                ..
            }
        )
    })
}

impl InteractionRules {
    /// The business dates whose sign-ins decide today's streak bonus: yesterday first, then
    /// backwards, `streak.days − 1` of them; empty without a streak. The caller reads
    /// `PostingId::sign_in(member, date)` for each and hands the answers to `streak_bonus_due`.
    pub fn streak_window(&self, today: NaiveDate) -> Vec<NaiveDate> {
        let Some(streak) = self.streak() else {
            return Vec::new();
        };
        let previous = usize::from(streak.days.saturating_sub(1));
        std::iter::successors(today.pred_opt(), |date| date.pred_opt())
            .take(previous)
            .collect()
    }

    /// Whether today's sign-in completes a streak. `previous` holds one entry per date of
    /// `streak_window` (yesterday first): `None` when the member did not sign in that date,
    /// `Some(had_streak_bonus)` when they did. Due iff a streak is configured and the
    /// `days − 1` previous dates all had a sign-in none of which got the bonus, so the bonus
    /// lands on day N, 2N, 3N… of an unbroken run and a gap starts the count again. Fewer
    /// entries than `days − 1`: not due. Entries beyond the window are ignored.
    pub fn streak_bonus_due(&self, previous: &[Option<bool>]) -> bool {
        let Some(streak) = self.streak() else {
            return false;
        };
        let window = usize::from(streak.days.saturating_sub(1));
        previous
            .get(..window)
            .is_some_and(|days| days.iter().all(|day| *day == Some(false)))
    }

    /// The sign-in of `member` at `at`: id `signin:<member>:<business date>`, an earn of the
    /// sign-in points and, when `streak_bonus` (from `streak_bonus_due`), an earn of the streak
    /// bonus. The daily cap limits the total, trimming the bonus first, then the base; an op
    /// trimmed to zero is left out (validated rules keep the base: the cap is at least the
    /// sign-in points).
    ///
    /// The content must be the same for every retry the same day, or the ledger sees another
    /// cause reusing the id: decide `streak_bonus` from earlier days' postings only.
    pub fn sign_in(
        &self,
        member: &MemberId,
        at: BusinessTime,
        streak_bonus: bool,
    ) -> PostingRequest {
        let bonus = self
            .streak()
            .filter(|_| streak_bonus)
            .map_or(Points::ZERO, |s| s.bonus);
        let (base, bonus) = capped(self.sign_in_points(), bonus, self.daily_cap());
        let earns = [(Source::SignIn, base), (Source::Streak, bonus)];
        let ops = earns
            .into_iter()
            .filter(|(_, points)| points.is_positive())
            .map(|(source, points)| Op::Earn { source, points })
            .collect();
        PostingRequest::new(
            PostingId::sign_in(member, at.date()),
            member.clone(),
            at,
            ops,
        )
    }
}

/// `(base, bonus)` within `cap`: the bonus gives way first, then the base.
fn capped(base: Points, bonus: Points, cap: Option<Points>) -> (Points, Points) {
    let Some(cap) = cap else {
        return (base, bonus);
    };
    let base = base.min(cap);
    let room = cap.checked_sub(base).unwrap_or(Points::ZERO);
    (base, bonus.min(room))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Legs, PostingResult};
    use crate::rules::Streak;
    use proptest::prelude::*;

    fn at(text: &str) -> BusinessTime {
        BusinessTime::parse_rfc3339(text).unwrap()
    }

    fn member() -> MemberId {
        MemberId::generate(at("2026-11-24T12:00:00+08:00"), 1)
    }

    fn streak(days: u8, bonus: i64) -> Option<Streak> {
        Some(Streak {
            days,
            bonus: Points::new(bonus),
        })
    }

    fn earns(request: &PostingRequest) -> Vec<(Source, i64)> {
        let earn = |op: &Op| match op {
            Op::Earn { source, points } => Some((*source, points.value())),
            _ => None,
        };
        request.ops.iter().filter_map(earn).collect()
    }

    /// Runs `signed` (one entry per consecutive business day: signed in or not) through the
    /// rules as the caller would, reading earlier days only; the days that got the bonus
    /// (1-based).
    fn bonus_days(rules: &InteractionRules, signed: &[bool]) -> Vec<usize> {
        let mut history: Vec<Option<bool>> = Vec::new();
        let mut bonus_days = Vec::new();
        for (day, signed) in signed.iter().enumerate() {
            let previous: Vec<Option<bool>> = history.iter().rev().copied().collect();
            let due = *signed && rules.streak_bonus_due(&previous);
            if due {
                bonus_days.push(day + 1);
            }
            history.push(signed.then_some(due));
        }
        bonus_days
    }

    #[test]
    fn one_sign_in_per_business_day() {
        // 2026-11-24 23:59 and 2026-11-25 00:01 in Shanghai: two days, though 2 minutes apart.
        let late = at("2026-11-24T23:59:00+08:00");
        let early = at("2026-11-25T00:01:00+08:00");
        let member = MemberId::generate(late, 1);
        assert_ne!(sign_in(&member, late).id, sign_in(&member, early).id);
        assert_eq!(
            sign_in(&member, early).id,
            PostingId::sign_in(&member, early.date())
        );
        let same_day = at("2026-11-25T20:00:00+08:00");
        assert_eq!(sign_in(&member, early).id, sign_in(&member, same_day).id);
        assert_eq!(
            sign_in(&member, early).content_hash(),
            sign_in(&member, same_day).content_hash(),
            "a repeat the same day is the same posting"
        );
        // 16:30 UTC is already the next business day in Shanghai.
        let utc = at("2026-11-24T16:30:00Z");
        assert_eq!(sign_in(&member, utc).id, sign_in(&member, early).id);
    }

    #[test]
    fn the_default_sign_in_earns_five_points() {
        let rules = InteractionRules::default();
        let plain = rules.sign_in(&member(), at("2026-11-24T09:00:00+08:00"), false);
        assert_eq!(earns(&plain), [(Source::SignIn, 5)]);
        assert_eq!(plain, sign_in(&member(), at("2026-11-24T09:00:00+08:00")));
        let bonus = rules.sign_in(&member(), at("2026-11-24T09:00:00+08:00"), true);
        assert_eq!(earns(&bonus), [(Source::SignIn, 5), (Source::Streak, 10)]);
        assert_eq!(bonus.validate(), Ok(()));
        let later = rules.sign_in(&member(), at("2026-11-24T22:00:00+08:00"), true);
        assert_eq!(
            bonus.content_hash(),
            later.content_hash(),
            "a retry is the same posting"
        );
    }

    #[test]
    fn the_bonus_lands_on_every_seventh_day_of_a_run() {
        let rules = InteractionRules::default();
        assert_eq!(bonus_days(&rules, &[true; 21]), [7, 14, 21]);
        assert_eq!(
            bonus_days(&rules, &[true; 13]),
            [7],
            "days 8 to 13 get none"
        );
        assert_eq!(bonus_days(&rules, &[true; 6]), Vec::<usize>::new());
    }

    #[test]
    fn a_gap_starts_the_run_again() {
        let rules = InteractionRules::default();
        let mut signed = [true; 20];
        signed[3] = false; // day 4 missed: the run restarts on day 5, so day 11 completes it.
        assert_eq!(bonus_days(&rules, &signed), [11, 18]);
        let mut late_gap = [true; 16];
        late_gap[9] = false; // after the bonus of day 7, day 10 missed: next bonus on day 17.
        assert_eq!(bonus_days(&rules, &late_gap), [7]);
    }

    #[test]
    fn too_little_history_or_no_streak_is_no_bonus() {
        let rules = InteractionRules::default();
        assert!(!rules.streak_bonus_due(&[Some(false); 5]));
        assert!(!rules.streak_bonus_due(&[]));
        assert!(rules.streak_bonus_due(&[Some(false); 6]));
        assert!(
            rules.streak_bonus_due(&[Some(false); 9]),
            "beyond the window: ignored"
        );
        let mut bonused = [Some(false); 6];
        bonused[5] = Some(true);
        assert!(!rules.streak_bonus_due(&bonused));
        bonused[5] = None;
        assert!(!rules.streak_bonus_due(&bonused));
        let off = InteractionRules::unchecked(SIGN_IN_POINTS, None, None);
        assert!(!off.streak_bonus_due(&[Some(false); 30]));
        let two = InteractionRules::unchecked(SIGN_IN_POINTS, streak(2, 3), None);
        assert_eq!(bonus_days(&two, &[true; 6]), [2, 4, 6]);
    }

    #[test]
    fn the_window_is_the_previous_days_yesterday_first() {
        let rules = InteractionRules::default();
        let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let window = rules.streak_window(today);
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert_eq!(
            window,
            [
                day(3, 1),
                day(2, 28),
                day(2, 27),
                day(2, 26),
                day(2, 25),
                day(2, 24)
            ]
        );
        let off = InteractionRules::unchecked(SIGN_IN_POINTS, None, None);
        assert!(off.streak_window(today).is_empty());
        assert!(
            rules.streak_window(NaiveDate::MIN).is_empty(),
            "no dates before the first"
        );
    }

    #[test]
    fn the_cap_trims_the_bonus_first_then_the_base() {
        let now = at("2026-11-24T09:00:00+08:00");
        let sign_in = |cap: Option<i64>| {
            let rules =
                InteractionRules::unchecked(Points::new(5), streak(7, 10), cap.map(Points::new));
            earns(&rules.sign_in(&member(), now, true))
        };
        assert_eq!(sign_in(None), [(Source::SignIn, 5), (Source::Streak, 10)]);
        assert_eq!(
            sign_in(Some(15)),
            [(Source::SignIn, 5), (Source::Streak, 10)]
        );
        assert_eq!(
            sign_in(Some(12)),
            [(Source::SignIn, 5), (Source::Streak, 7)]
        );
        assert_eq!(
            sign_in(Some(5)),
            [(Source::SignIn, 5)],
            "a zero bonus is left out"
        );
        assert_eq!(sign_in(Some(3)), [(Source::SignIn, 3)]);
    }

    #[test]
    fn a_posting_with_a_streak_earn_had_the_bonus() {
        let rules = InteractionRules::default();
        let recorded = |request: PostingRequest| Posting {
            result: PostingResult {
                posting_id: request.id.clone(),
                available: Points::new(15),
                held: Points::ZERO,
                debt: Points::ZERO,
                available_delta: Points::new(15),
            },
            request,
            legs: Legs::default(),
        };
        let now = at("2026-11-24T09:00:00+08:00");
        assert!(had_streak_bonus(&recorded(rules.sign_in(
            &member(),
            now,
            true
        ))));
        assert!(!had_streak_bonus(&recorded(rules.sign_in(
            &member(),
            now,
            false
        ))));
    }

    proptest! {
        #[test]
        fn a_sign_in_never_exceeds_the_cap(
            base in 1i64..=10_000,
            bonus in 1i64..=10_000,
            days in 2u8..=31,
            cap in proptest::option::of(1i64..=10_000),
            due: bool,
            ms in 0i64..4_102_444_800_000,
        ) {
            let rules = InteractionRules::unchecked(
                Points::new(base),
                streak(days, bonus),
                cap.map(Points::new),
            );
            let now = BusinessTime::from_epoch_ms(ms).unwrap();
            let request = rules.sign_in(&member(), now, due);
            let total: i64 = earns(&request).iter().map(|(_, p)| p).sum();
            prop_assert!(request.ops.iter().all(|op| op.amount().is_some_and(|p| p.is_positive())));
            prop_assert!(cap.is_none_or(|cap| total <= cap));
            prop_assert!(total <= base + bonus);
            prop_assert_eq!(request.validate(), Ok(()));
            prop_assert_eq!(request.id, PostingId::sign_in(&member(), now.date()));
        }
    }
}
