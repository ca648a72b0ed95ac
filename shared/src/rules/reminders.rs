//! Lifecycle reminders (seed 001: remind at the right moment), decided from what Linli knows of
//! a member: points about to expire, a recent tier change, a usual purchase overdue. Each
//! reminder has a cause that names it exactly once (a lot's month, a tier change's time, a
//! purchase cycle), so a member hears of the same thing at most once; at most one reminder is
//! sent per member per day (the most urgent); nothing is sent in quiet hours.

use crate::ledger::{expiring, Profile};
use crate::rules::earning::Tier;
use crate::time::BusinessTime;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Points that expire within this many days are reminded of.
pub const EXPIRING_WITHIN_DAYS: u32 = 30;
/// A tier change is told within this many days of it.
pub const TIER_NEWS_DAYS: i64 = 7;
/// A purchase is "usual" after this many; the reminder comes once the usual interval has passed
/// and not after three intervals (by then the habit has changed).
pub const USUAL_AFTER_PURCHASES: u32 = 2;
/// Shortest usual interval reminded of (daily staples are not nagged about).
pub const MIN_INTERVAL_DAYS: i64 = 3;

/// What a reminder is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    TierChanged,
    PointsExpiring,
    Repurchase,
}

/// One reminder due: its kind, its once-only cause and the message's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reminder {
    pub kind: ReminderKind,
    /// E.g. `expiring:202512`, `tier:gold:1796389620000`, `repurchase:OIL-5L:2026-11-20`.
    pub cause: String,
    /// The subscribe message's fields (template keys → values) and the page it opens.
    pub data: BTreeMap<String, String>,
    pub page: &'static str,
}

/// The subscribe-message template of each kind (configured in the mini-program's console; the
/// member accepts them in `wx.requestSubscribeMessage`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReminderTemplates {
    pub tier_changed: String,
    pub points_expiring: String,
    pub repurchase: String,
    /// A delivery compensation was granted (not a reminder: sent whenever one is granted).
    pub compensation: String,
    /// A group-buy round decided a member's join (not a reminder: sent once per order).
    pub group_buy: String,
}

impl ReminderTemplates {
    /// From `WECHAT_TEMPLATE_TIER_CHANGED`, `WECHAT_TEMPLATE_POINTS_EXPIRING` and
    /// `WECHAT_TEMPLATE_REPURCHASE`; `WECHAT_TEMPLATE_COMPENSATION`, `WECHAT_TEMPLATE_GROUP_BUY`.
    pub fn from_source(
        source: &impl crate::config::Source,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::required;
        Ok(Self {
            tier_changed: required(source, "WECHAT_TEMPLATE_TIER_CHANGED")?,
            points_expiring: required(source, "WECHAT_TEMPLATE_POINTS_EXPIRING")?,
            repurchase: required(source, "WECHAT_TEMPLATE_REPURCHASE")?,
            compensation: required(source, "WECHAT_TEMPLATE_COMPENSATION")?,
            group_buy: required(source, "WECHAT_TEMPLATE_GROUP_BUY")?,
        })
    }

    pub fn of(&self, kind: ReminderKind) -> &str {
        match kind {
            ReminderKind::TierChanged => &self.tier_changed,
            ReminderKind::PointsExpiring => &self.points_expiring,
            ReminderKind::Repurchase => &self.repurchase,
        }
    }

    /// Whether `template` is one of Linli's.
    pub fn knows(&self, template: &str) -> bool {
        [
            &self.tier_changed,
            &self.points_expiring,
            &self.repurchase,
            &self.compensation,
            &self.group_buy,
        ]
        .iter()
        .any(|t| t.as_str() == template)
    }
}

/// A member's purchases of one SKU, as pay-notify counts them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkuRhythm {
    pub name: String,
    pub count: u32,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl SkuRhythm {
    /// The member's usual days between purchases, once they have a habit.
    pub fn interval_days(&self) -> Option<i64> {
        if self.count < USUAL_AFTER_PURCHASES {
            return None;
        }
        let span = (self.last - self.first).num_days();
        let interval = span / i64::from(self.count - 1);
        (interval >= MIN_INTERVAL_DAYS).then_some(interval)
    }

    /// Whether `today` is past the usual interval since the last purchase (and not long past).
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.interval_days().is_some_and(|interval| {
            let since = (today - self.last).num_days();
            since >= interval && since < 3 * interval
        })
    }
}

/// Quiet hours in business time: `from` to `until` (hours, wrapping past midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub from: u32,
    pub until: u32,
}

impl Default for QuietHours {
    /// 21:00–09:00 (no message late in the evening or early in the morning).
    fn default() -> Self {
        Self { from: 21, until: 9 }
    }
}

impl QuietHours {
    /// "21-9" → 21:00–09:00.
    pub fn parse(text: &str) -> Option<Self> {
        let (from, until) = text.trim().split_once('-')?;
        let from = from.trim().parse().ok().filter(|h| *h < 24)?;
        let until = until.trim().parse().ok().filter(|h| *h < 24)?;
        Some(Self { from, until })
    }

    pub fn contains(&self, at: BusinessTime) -> bool {
        let hour = at.minutes_of_day() / 60;
        if self.from <= self.until {
            (self.from..self.until).contains(&hour)
        } else {
            hour >= self.from || hour < self.until
        }
    }
}

fn fields(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The reminders due for the member of `profile` at `now`, most urgent first: a tier change of
/// the last days, then the soonest lot expiring within 30 days, then each overdue usual SKU.
pub fn due(
    profile: &Profile,
    rhythm: &BTreeMap<String, SkuRhythm>,
    now: BusinessTime,
) -> Vec<Reminder> {
    let today = now.date();
    let mut due = Vec::new();
    let standing = &profile.standing;
    if let Some(since) = standing.since {
        let age_days = (today - since.date()).num_days();
        if (0..TIER_NEWS_DAYS).contains(&age_days) {
            due.push(Reminder {
                kind: ReminderKind::TierChanged,
                cause: format!("tier:{}:{}", tier_key(standing.tier), since.epoch_ms()),
                data: fields(&[
                    ("thing1", standing.tier.name().to_owned()),
                    ("date2", since.date().to_string()),
                    ("thing3", "会员等级已更新，查看权益".to_owned()),
                ]),
                page: "pages/member/tier",
            });
        }
    }
    if let Some(lot) = expiring(&profile.lots, today, EXPIRING_WITHIN_DAYS)
        .into_iter()
        .find(|lot| lot.expires_on >= today)
    {
        due.push(Reminder {
            kind: ReminderKind::PointsExpiring,
            cause: format!("expiring:{}", lot.month.key()),
            data: fields(&[
                ("number1", lot.points.value().to_string()),
                ("date2", lot.expires_on.to_string()),
                ("thing3", "积分即将过期，快去使用吧".to_owned()),
            ]),
            page: "pages/points/index",
        });
    }
    for (sku, r) in rhythm {
        if r.overdue(today) {
            due.push(Reminder {
                kind: ReminderKind::Repurchase,
                cause: format!("repurchase:{sku}:{}", r.last),
                data: fields(&[
                    ("thing1", r.name.chars().take(20).collect()),
                    ("date2", r.last.to_string()),
                    ("thing3", "常买的商品该补货啦".to_owned()),
                ]),
                page: "pages/store/index",
            });
        }
    }
    due
}

fn tier_key(tier: Tier) -> &'static str {
    match tier {
        Tier::Regular => "regular",
        Tier::Silver => "silver",
        Tier::Gold => "gold",
        Tier::Diamond => "diamond",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MemberId;
    use crate::money::Points;
    use crate::time::Month;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn noon(text: &str) -> BusinessTime {
        let ms = day(text)
            .and_hms_opt(4, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        BusinessTime::from_epoch_ms(ms).unwrap()
    }

    fn rhythm(count: u32, first: &str, last: &str) -> SkuRhythm {
        SkuRhythm {
            name: "花生油 5L".into(),
            count,
            first: day(first),
            last: day(last),
        }
    }

    #[test]
    fn a_usual_purchase_is_due_after_its_interval_and_not_long_after() {
        // Every 10 days, 4 times: due from day 10 after the last, until day 29.
        let r = rhythm(4, "2026-10-01", "2026-10-31");
        assert_eq!(r.interval_days(), Some(10));
        assert!(!r.overdue(day("2026-11-09")));
        assert!(r.overdue(day("2026-11-10")));
        assert!(r.overdue(day("2026-11-29")));
        assert!(!r.overdue(day("2026-11-30")), "the habit has changed");
        assert_eq!(rhythm(1, "2026-10-01", "2026-10-01").interval_days(), None);
        assert_eq!(
            rhythm(3, "2026-10-01", "2026-10-03").interval_days(),
            None,
            "daily"
        );
    }

    #[test]
    fn quiet_hours_wrap_past_midnight() {
        let q = QuietHours::default();
        let at = |h: i64| noon("2026-11-20").plus_ms((h - 12) * 3_600_000);
        assert!(q.contains(at(21)) && q.contains(at(23)) && q.contains(at(8)));
        assert!(!q.contains(at(9)) && !q.contains(at(12)) && !q.contains(at(20)));
        assert_eq!(
            QuietHours::parse("22-7"),
            Some(QuietHours { from: 22, until: 7 })
        );
        assert_eq!(QuietHours::parse("25-7"), None);
        assert_eq!(QuietHours::parse("junk"), None);
        let day_only = QuietHours::parse("12-14").unwrap();
        assert!(day_only.contains(at(13)) && !day_only.contains(at(14)));
    }

    #[test]
    fn the_most_urgent_first_each_with_a_cause_that_names_it_once() {
        let now = noon("2026-11-20");
        let mut profile = Profile::new(MemberId::generate(now, 1));
        profile.standing.tier = Tier::Gold;
        profile.standing.since = Some(now.plus_ms(-86_400_000));
        profile
            .lots
            .add("2025-11".parse::<Month>().unwrap(), Points::new(30));
        profile
            .lots
            .add("2025-12".parse::<Month>().unwrap(), Points::new(40));
        profile.available = Points::new(70);
        let rhythm = BTreeMap::from([
            ("OIL-5L".to_owned(), rhythm(3, "2026-09-20", "2026-10-20")),
            ("EGG-10".to_owned(), rhythm(2, "2026-11-10", "2026-11-18")),
        ]);
        let due = due(&profile, &rhythm, now);
        let causes: Vec<_> = due.iter().map(|r| r.cause.as_str()).collect();
        let since = now.plus_ms(-86_400_000).epoch_ms();
        assert_eq!(
            causes,
            [
                format!("tier:gold:{since}").as_str(),
                "expiring:202511",
                "repurchase:OIL-5L:2026-10-20"
            ]
        );
        assert_eq!(due[1].data["number1"], "30");
        assert_eq!(due[1].data["date2"], "2026-11-30");
        assert_eq!(due[0].data["thing1"], "金卡");
        // A week after the change, the tier is old news; nothing in the lots expires soon.
        let later = noon("2026-11-27");
        profile.lots = Default::default();
        profile.available = Points::ZERO;
        assert!(super::due(&profile, &BTreeMap::new(), later).is_empty());
    }
}
