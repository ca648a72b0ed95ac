//! Delay compensation (seed 000: 应急配送的积分关怀) as data, with 准时宝-like defaults: raw
//! lateness against the first promise in half-open bands — [10, 20) min → 400 points,
//! [20, 30) → 600, 30 or more → 1,300 — nothing under 10 minutes; a cancellation by the
//! platform or its rider → 1,300; caps per member per day and per month. Pure: the courier
//! issue's compensation-grant applies it inside the posting's transaction.

use serde::{Deserialize, Serialize};

/// One lateness band: from `from_min` (inclusive) to `until_min` (exclusive; None = no end).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LateBand {
    pub from_min: i64,
    pub until_min: Option<i64>,
    pub points: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompensationPolicy {
    pub bands: Vec<LateBand>,
    /// A delivery the platform or its rider cancelled (not the member, not the store).
    pub cancelled_points: i64,
    /// Most points one member is granted per business day, and per month.
    pub day_cap: i64,
    pub month_cap: i64,
}

impl Default for CompensationPolicy {
    fn default() -> Self {
        let band = |from_min, until_min, points| LateBand {
            from_min,
            until_min,
            points,
        };
        Self {
            bands: vec![
                band(10, Some(20), 400),
                band(20, Some(30), 600),
                band(30, None, 1_300),
            ],
            cancelled_points: 1_300,
            day_cap: 2_600,
            month_cap: 6_500,
        }
    }
}

/// Why a delivery is compensated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortfall {
    /// Delivered this many whole minutes after the first promise (negative: early).
    Late { minutes: i64 },
    /// Cancelled by the platform or its rider.
    CancelledByPlatform,
}

impl CompensationPolicy {
    /// The points `shortfall` earns before caps (0: none).
    pub fn points(&self, shortfall: Shortfall) -> i64 {
        match shortfall {
            Shortfall::CancelledByPlatform => self.cancelled_points,
            Shortfall::Late { minutes } => self
                .bands
                .iter()
                .find(|b| minutes >= b.from_min && b.until_min.is_none_or(|until| minutes < until))
                .map_or(0, |b| b.points),
        }
    }

    /// What may still be granted to a member already granted `today` and `this_month`.
    pub fn capped(&self, points: i64, today: i64, this_month: i64) -> i64 {
        let room = (self.day_cap - today)
            .min(self.month_cap - this_month)
            .max(0);
        points.clamp(0, room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_bands_are_half_open_and_nothing_is_granted_under_ten_minutes() {
        let p = CompensationPolicy::default();
        let late = |minutes| p.points(Shortfall::Late { minutes });
        assert_eq!(
            [
                late(-5),
                late(9),
                late(10),
                late(19),
                late(20),
                late(25),
                late(29),
                late(30),
                late(300)
            ],
            [0, 0, 400, 400, 600, 600, 600, 1_300, 1_300]
        );
        assert_eq!(p.points(Shortfall::CancelledByPlatform), 1_300);
    }

    #[test]
    fn caps_leave_what_the_day_and_the_month_still_allow() {
        let p = CompensationPolicy::default();
        assert_eq!(p.capped(600, 0, 0), 600);
        assert_eq!(p.capped(600, 2_300, 2_300), 300, "the day's room");
        assert_eq!(p.capped(1_300, 0, 6_000), 500, "the month's room");
        assert_eq!(p.capped(600, 2_600, 2_600), 0, "at the daily cap");
    }
}
