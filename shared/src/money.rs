//! Exact amounts: points and fen (1/100 yuan) as `i64` newtypes with checked arithmetic.
//! No floating point ever touches an amount.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! amount {
    ($(#[$doc:meta])* $name:ident, $unit:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            pub const ZERO: Self = Self(0);

            pub const fn new(value: i64) -> Self {
                Self(value)
            }

            pub const fn value(self) -> i64 {
                self.0
            }

            pub fn checked_add(self, other: Self) -> Option<Self> {
                self.0.checked_add(other.0).map(Self)
            }

            pub fn checked_sub(self, other: Self) -> Option<Self> {
                self.0.checked_sub(other.0).map(Self)
            }

            pub fn checked_neg(self) -> Option<Self> {
                self.0.checked_neg().map(Self)
            }

            pub const fn is_negative(self) -> bool {
                self.0 < 0
            }

            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }

            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", self.0, $unit)
            }
        }
    };
}

amount!(
    /// Loyalty points. The ledger keeps every balance of them non-negative (DESIGN §5).
    Points,
    "points"
);
amount!(
    /// Money in fen (1 yuan = 100 fen), as WeChat Pay counts it (`total_fee`).
    Fen,
    "fen"
);

impl Fen {
    /// As members read it: `¥12.30` (`-¥0.05` below zero).
    pub fn yuan(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}¥{}.{:02}", abs / 100, abs % 100)
    }
}

/// Sums amounts, `None` on overflow.
pub fn checked_sum<I: IntoIterator<Item = Points>>(items: I) -> Option<Points> {
    items
        .into_iter()
        .try_fold(Points::ZERO, |total, p| total.checked_add(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_read_as_yuan() {
        assert_eq!(Fen::new(1_230).yuan(), "¥12.30");
        assert_eq!(Fen::new(5).yuan(), "¥0.05");
        assert_eq!(Fen::new(-5).yuan(), "-¥0.05");
        assert_eq!(Fen::new(i64::MIN).yuan(), "-¥92233720368547758.08");
    }

    #[test]
    fn arithmetic_is_checked_at_the_edges() {
        assert_eq!(Points::new(i64::MAX).checked_add(Points::new(1)), None);
        assert_eq!(Points::new(i64::MIN).checked_sub(Points::new(1)), None);
        assert_eq!(Points::new(i64::MIN).checked_neg(), None);
        assert_eq!(
            Points::new(7).checked_sub(Points::new(9)),
            Some(Points::new(-2))
        );
    }

    #[test]
    fn sum_reports_overflow_instead_of_wrapping() {
        assert_eq!(
            checked_sum([Points::new(1), Points::new(2)]),
            Some(Points::new(3))
        );
        assert_eq!(checked_sum([Points::new(i64::MAX), Points::new(1)]), None);
    }

    #[test]
    fn amounts_serialize_as_plain_integers() {
        assert_eq!(
            serde_json::to_string(&Fen::new(1999)).ok().as_deref(),
            Some("1999")
        );
        assert_eq!(Points::new(5).to_string(), "5 points");
    }
}
