//! The devstack's clock: starts at the system time and runs; tests shift it instead of waiting.
//! Every event the devstack produces (HTTP requests, schedules, stand-in callbacks) is stamped
//! with it, so peaks, lateness, cutoffs and expiry can be tested instantly.

use chrono::{DateTime, SecondsFormat, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug, Default)]
pub struct Clock {
    /// Milliseconds added to the system time.
    offset_ms: AtomicI64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClockError {
    #[error("not an RFC 3339 time: {0:?}")]
    NotATime(String),
    #[error("not a duration like 25m, 2h, 1d, 90s, 1h30m or -10m: {0:?}")]
    NotADuration(String),
}

fn system_ms() -> i64 {
    // The one place the devstack reads the wall clock: everything else asks `Clock`.
    #[allow(clippy::disallowed_methods)]
    Utc::now().timestamp_millis()
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        system_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }

    /// RFC 3339 in UTC with milliseconds, as the scheduler writes it.
    pub fn now_rfc3339(&self) -> String {
        self.now().to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn set(&self, rfc3339: &str) -> Result<(), ClockError> {
        let wanted = DateTime::parse_from_rfc3339(rfc3339)
            .map_err(|_| ClockError::NotATime(rfc3339.chars().take(64).collect()))?;
        self.offset_ms
            .store(wanted.timestamp_millis() - system_ms(), Ordering::Relaxed);
        Ok(())
    }

    pub fn advance(&self, duration: &str) -> Result<(), ClockError> {
        let ms = parse_duration_ms(duration)?;
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
        Ok(())
    }
}

/// `25m`, `2h`, `1d`, `90s`, `500ms`, `1h30m`, with an optional leading `-`.
pub fn parse_duration_ms(text: &str) -> Result<i64, ClockError> {
    let bad = || ClockError::NotADuration(text.chars().take(32).collect());
    let (sign, body) = match text.trim().strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.trim()),
    };
    if body.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 12 {
            return Err(bad());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.as_bytes().first() {
                Some(b's') => (1_000, 1),
                Some(b'm') => (60_000, 1),
                Some(b'h') => (3_600_000, 1),
                Some(b'd') => (86_400_000, 1),
                _ => return Err(bad()),
            }
        };
        rest = &rest[len..];
        total = number
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(bad)?;
    }
    Ok(sign * total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_garbage_does_not() {
        assert_eq!(parse_duration_ms("25m"), Ok(1_500_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_duration_ms("-10s"), Ok(-10_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        for bad in ["", "m", "10", "10x", "1.5h", "-", "99999999999999999h"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_clock_can_be_set_and_advanced() {
        let clock = Clock::default();
        clock.set("2026-11-24T20:00:00+08:00").unwrap();
        let set = clock.now_ms();
        assert!((set - 1_795_521_600_000).abs() < 1_000, "{set}");
        clock.advance("25m").unwrap();
        assert!((clock.now_ms() - set - 1_500_000).abs() < 1_000);
        assert!(clock.set("yesterday").is_err());
        assert!(clock.now_rfc3339().ends_with('Z'));
    }
}
