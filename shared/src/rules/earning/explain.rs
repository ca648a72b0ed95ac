//! The human explanation of an earning, e.g. "150 = 100 base × 1.5 金卡" or
//! "106 = 88.5 base × 1.2 银卡, rounded down".

use super::{EarnRules, Group, BP_ONE};

/// `bp` as a multiplier: 15,000 → "1.5", 20,000 → "2", 12,345 → "1.2345".
fn multiplier(bp: i128) -> String {
    decimal(bp, i128::from(BP_ONE))
}

/// `value / unit` without trailing zeros (`unit` a power of ten).
fn decimal(value: i128, unit: i128) -> String {
    let whole = value / unit;
    let mut fraction = (value % unit).abs();
    if fraction == 0 {
        return whole.to_string();
    }
    let mut digits = unit.to_string().len() - 1;
    while fraction % 10 == 0 {
        fraction /= 10;
        digits -= 1;
    }
    format!("{whole}.{fraction:0digits$}")
}

fn term(rules: &EarnRules, group: &Group<'_>) -> String {
    let fen_per_point = i128::from(rules.fen_per_point);
    // Base points to two decimals (exact for a fen per point dividing 100, as the seeds' 100).
    let base = decimal(group.cash_fen * 100 / fen_per_point, 100);
    let mut text = format!("{base} base");
    for factor in group.factors.iter().filter(|f| f.bp != BP_ONE) {
        text.push_str(&format!(
            " × {} {}",
            multiplier(i128::from(factor.bp)),
            factor.name
        ));
    }
    text
}

/// `uncapped` = the terms (", rounded down" when inexact), then each cap that cut it.
pub(super) fn explanation(
    rules: &EarnRules,
    groups: &[Group<'_>],
    uncapped: i64,
    after_order_cap: i64,
    points: i64,
) -> String {
    if groups.is_empty() {
        return "0: no goods paid in cash".to_owned();
    }
    let terms: Vec<String> = groups.iter().map(|g| term(rules, g)).collect();
    let mut text = format!("{uncapped} = {}", terms.join(" + "));
    let scale = i128::from(rules.fen_per_point) * i128::from(BP_ONE);
    let weighted: i128 = groups.iter().map(|g| g.cash_fen * g.multiplier_bp).sum();
    if weighted % scale != 0 {
        text.push_str(", rounded down");
    }
    if let Some(cap) = rules.caps.per_order.filter(|_| after_order_cap < uncapped) {
        text.push_str(&format!("; order cap {cap} → {after_order_cap}"));
    }
    if let Some(cap) = rules.caps.per_day.filter(|_| points < after_order_cap) {
        text.push_str(&format!("; daily cap {cap} → {points}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipliers_and_amounts_print_without_trailing_zeros() {
        assert_eq!(multiplier(15_000), "1.5");
        assert_eq!(multiplier(20_000), "2");
        assert_eq!(multiplier(12_345), "1.2345");
        assert_eq!(multiplier(10_500), "1.05");
        assert_eq!(decimal(8_850, 100), "88.5");
        assert_eq!(decimal(8_805, 100), "88.05");
        assert_eq!(decimal(10_000, 100), "100");
    }
}
