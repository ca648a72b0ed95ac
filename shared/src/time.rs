//! Business time: instants come from the cause (an event's time), and calendars are read in
//! Asia/Shanghai. China has kept UTC+8 without daylight saving since 1991, so a fixed offset is
//! exact for every date Linli handles and needs no time-zone database.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// UTC+8, checked at compile time.
const SHANGHAI: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

fn shanghai() -> FixedOffset {
    SHANGHAI
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("not an RFC 3339 time: {0:?}")]
    NotRfc3339(String),
    #[error("not a yyyyMMddHHmmss time: {0:?}")]
    NotCompact(String),
    #[error("time out of the supported range (years 1970–9999)")]
    OutOfRange,
    #[error("not a month (expected YYYY-MM or YYYYMM): {0:?}")]
    NotAMonth(String),
}

/// An instant, in milliseconds since the Unix epoch (UTC), taken from the cause of an effect:
/// API Gateway's `requestContext.timeEpoch`, a scheduler's time, a payment's `time_end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BusinessTime(i64);

/// Milliseconds of 9999-12-31T23:59:59.999Z: the last instant we accept.
const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

impl BusinessTime {
    pub fn from_epoch_ms(ms: i64) -> Result<Self, TimeError> {
        if (0..=MAX_EPOCH_MS).contains(&ms) {
            Ok(Self(ms))
        } else {
            Err(TimeError::OutOfRange)
        }
    }

    pub fn parse_rfc3339(text: &str) -> Result<Self, TimeError> {
        let parsed = DateTime::parse_from_rfc3339(text)
            .map_err(|_| TimeError::NotRfc3339(text.chars().take(64).collect()))?;
        Self::from_epoch_ms(parsed.timestamp_millis())
    }

    /// WeChat Pay's `yyyyMMddHHmmss` (e.g. `time_end`), which is Beijing time.
    pub fn parse_shanghai_compact(text: &str) -> Result<Self, TimeError> {
        let bad = || TimeError::NotCompact(text.chars().take(32).collect());
        if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let local =
            chrono::NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S").map_err(|_| bad())?;
        let instant = shanghai()
            .from_local_datetime(&local)
            .single()
            .ok_or_else(bad)?;
        Self::from_epoch_ms(instant.timestamp_millis())
    }

    pub const fn epoch_ms(self) -> i64 {
        self.0
    }

    /// WeChat Pay's `yyyyMMddHHmmss` in Beijing time (e.g. `time_expire`); the inverse of
    /// `parse_shanghai_compact` to the second.
    pub fn shanghai_compact(self) -> String {
        self.in_shanghai().format("%Y%m%d%H%M%S").to_string()
    }

    /// RFC 3339 to the second in Beijing time, as WeChat Pay v3 writes times
    /// (`2026-11-25T10:30:00+08:00`, e.g. `time_expire`).
    pub fn shanghai_rfc3339(self) -> String {
        self.in_shanghai()
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    /// Whole seconds since the Unix epoch (e.g. `timeStamp` of `wx.requestPayment`).
    pub const fn epoch_seconds(self) -> i64 {
        self.0 / 1000
    }

    fn in_shanghai(self) -> DateTime<FixedOffset> {
        // The constructor bounds the value, so the conversion cannot fail.
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or_default()
            .with_timezone(&shanghai())
    }

    /// The business date (Asia/Shanghai) of this instant.
    pub fn date(self) -> NaiveDate {
        self.in_shanghai().date_naive()
    }

    /// Minutes since midnight, business time (0..1440).
    pub fn minutes_of_day(self) -> u32 {
        use chrono::Timelike;
        let t = self.in_shanghai();
        t.hour() * 60 + t.minute()
    }

    /// The business month (Asia/Shanghai) of this instant.
    pub fn month(self) -> Month {
        let date = self.date();
        Month::of(date.year(), date.month())
    }

    /// `self` plus a number of milliseconds, saturating at the supported range.
    /// `date` at `minutes` after midnight, Asia/Shanghai.
    pub fn at_shanghai(date: NaiveDate, minutes: u32) -> Self {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        let ms = shanghai()
            .from_local_datetime(&midnight)
            .single()
            .map_or(0, |t| t.timestamp_millis());
        Self((ms + i64::from(minutes) * 60_000).clamp(0, MAX_EPOCH_MS))
    }

    pub fn plus_ms(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms).clamp(0, MAX_EPOCH_MS))
    }
}

impl fmt::Display for BusinessTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            self.in_shanghai().format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        )
    }
}

/// A calendar month in business time, counted as months since year 0 so arithmetic is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month(i32);

impl Month {
    fn of(year: i32, month: u32) -> Self {
        // chrono gives months 1..=12; keep the arithmetic in i32 without casts on input.
        let month0 = i32::try_from(month.saturating_sub(1)).unwrap_or(0);
        Self(year * 12 + month0)
    }

    /// Builds a month from a year and a month number 1..=12.
    pub fn new(year: i32, month: u32) -> Result<Self, TimeError> {
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(TimeError::NotAMonth(format!("{year}-{month}")));
        }
        Ok(Self::of(year, month))
    }

    pub fn year(self) -> i32 {
        self.0.div_euclid(12)
    }

    /// 1..=12
    pub fn number(self) -> u32 {
        u32::try_from(self.0.rem_euclid(12) + 1).unwrap_or(1)
    }

    pub fn plus(self, months: i32) -> Self {
        Self(self.0.saturating_add(months))
    }

    /// The first day of this month.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year(), self.number(), 1).unwrap_or_default()
    }

    /// The last day of this month.
    pub fn last_day(self) -> NaiveDate {
        self.plus(1).first_day().pred_opt().unwrap_or_default()
    }

    /// The first instant (Asia/Shanghai midnight) of this month.
    pub fn start(self) -> BusinessTime {
        let midnight = self.first_day().and_hms_opt(0, 0, 0).unwrap_or_default();
        let ms = shanghai()
            .from_local_datetime(&midnight)
            .single()
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        BusinessTime(ms.clamp(0, MAX_EPOCH_MS))
    }

    /// Compact form used in item attributes: `YYYYMM`.
    pub fn key(self) -> String {
        format!("{:04}{:02}", self.year(), self.number())
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.number())
    }
}

impl FromStr for Month {
    type Err = TimeError;

    /// Accepts `YYYY-MM` and the compact `YYYYMM`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || TimeError::NotAMonth(text.chars().take(16).collect());
        let (year, month) = match (text.len(), text.as_bytes().get(4)) {
            (7, Some(b'-')) => (text.get(..4), text.get(5..)),
            (6, _) => (text.get(..4), text.get(4..)),
            _ => return Err(bad()),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        match (year, month) {
            (Some(y), Some(m)) if all_digits(y) && all_digits(m) => {
                let year = y.parse().map_err(|_| bad())?;
                let month = m.parse().map_err(|_| bad())?;
                Self::new(year, month).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for Month {
    type Error = TimeError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Month> for String {
    fn from(month: Month) -> Self {
        month.to_string()
    }
}

/// Wall-clock Unix milliseconds. STYLE 11's exception, for adapters only: whether a call to
/// another system is still in flight, and the timestamps a platform checks against its own
/// clock, are questions about real time; no event carries the moment of a redelivery.
#[allow(clippy::disallowed_methods)]
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> BusinessTime {
        BusinessTime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn business_date_is_read_in_shanghai() {
        // 16:30 UTC on 30 Nov is 00:30 on 1 Dec in Shanghai.
        let t = at("2026-11-30T16:30:00Z");
        assert_eq!(t.date(), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(t.month().to_string(), "2026-12");
        let t = at("2026-11-30T15:59:59.999Z");
        assert_eq!(t.month().to_string(), "2026-11");
    }

    #[test]
    fn month_start_is_shanghai_midnight() {
        let m: Month = "2026-12".parse().unwrap();
        assert_eq!(m.start(), at("2026-11-30T16:00:00Z"));
        assert_eq!(m.start().to_string(), "2026-12-01T00:00:00.000+08:00");
    }

    #[test]
    fn month_arithmetic_crosses_years() {
        let m: Month = "2026-11".parse().unwrap();
        assert_eq!(m.plus(12).to_string(), "2027-11");
        assert_eq!(m.plus(2).to_string(), "2027-01");
        assert_eq!(m.plus(-11).to_string(), "2025-12");
        assert_eq!(
            m.plus(13).first_day(),
            NaiveDate::from_ymd_opt(2027, 12, 1).unwrap()
        );
        let feb: Month = "2028-02".parse().unwrap();
        assert_eq!(
            feb.last_day(),
            NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()
        );
    }

    #[test]
    fn month_parses_both_forms_and_rejects_garbage() {
        assert_eq!("202611".parse::<Month>().unwrap().key(), "202611");
        assert_eq!("2026-11".parse::<Month>().unwrap().key(), "202611");
        for bad in [
            "2026-13",
            "2026-00",
            "20261",
            "2026/11",
            "",
            "２０２６-11",
            "+026-11",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn out_of_range_instants_are_rejected() {
        assert_eq!(BusinessTime::from_epoch_ms(-1), Err(TimeError::OutOfRange));
        assert!(BusinessTime::parse_rfc3339("yesterday").is_err());
    }

    proptest! {
        #[test]
        fn month_parser_never_panics(text in "\\PC{0,12}") {
            let _ = text.parse::<Month>();
        }

        #[test]
        fn every_instant_falls_inside_its_month(ms in 0i64..4_102_444_800_000) {
            let t = BusinessTime::from_epoch_ms(ms).unwrap();
            let m = t.month();
            prop_assert!(m.start() <= t);
            prop_assert!(t < m.plus(1).start());
        }
    }
}
