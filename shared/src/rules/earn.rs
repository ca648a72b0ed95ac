//! The base earn rule (seed 001): 1 yuan of goods paid in cash earns 1 point, rounded down.

use crate::money::{Fen, Points};

/// Fen of goods cash per point earned: 100 fen = 1 yuan = 1 point.
pub const FEN_PER_POINT: i64 = 100;

/// Points earned by `goods_cash` (goods paid in cash, delivery fees excluded), rounded down
/// once. Nothing is earned for a zero or negative amount.
pub fn base_earn(goods_cash: Fen) -> Points {
    if goods_cash.is_positive() {
        Points::new(goods_cash.value() / FEN_PER_POINT)
    } else {
        Points::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_yuan_earns_one_point_rounded_down() {
        assert_eq!(base_earn(Fen::new(100)), Points::new(1));
        assert_eq!(base_earn(Fen::new(8_899)), Points::new(88));
        assert_eq!(base_earn(Fen::new(99)), Points::ZERO);
        assert_eq!(base_earn(Fen::ZERO), Points::ZERO);
        assert_eq!(base_earn(Fen::new(-500)), Points::ZERO);
    }

    proptest! {
        #[test]
        fn earn_never_exceeds_the_yuan_paid(fen in 0i64..=i64::MAX) {
            let points = base_earn(Fen::new(fen)).value();
            prop_assert!(points * FEN_PER_POINT <= fen);
            prop_assert!(fen - points * FEN_PER_POINT < FEN_PER_POINT);
        }
    }
}
