//! The cutoff decision (pure): each SKU of a round goes ahead when its paid joins reached its
//! minimum; every order line of an SKU that goes ahead is confirmed (it earns points and is
//! bought, packed and handed over), every line of one that does not is refunded — through WeChat
//! Pay under a refund id fixed by the order and the line, so a repeated or resumed cutoff never
//! refunds a line twice.

use super::Round;
use crate::ids::{OrderId, SkuId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How an SKU of the round ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuOutcome {
    pub sku: SkuId,
    pub name: String,
    pub joined: i64,
    pub min_qty: i64,
    pub max_qty: Option<i64>,
    pub goes_ahead: bool,
}

/// Each SKU's outcome from its paid count (`joined`).
pub fn decide(round: &Round, joined: &BTreeMap<SkuId, i64>) -> Vec<SkuOutcome> {
    round
        .skus
        .iter()
        .map(|s| {
            let count = joined.get(&s.sku).copied().unwrap_or(0);
            SkuOutcome {
                sku: s.sku.clone(),
                name: s.name.clone(),
                joined: count,
                min_qty: s.min_qty,
                max_qty: s.max_qty,
                goes_ahead: count >= s.min_qty,
            }
        })
        .collect()
}

/// What happens to one order line at the cutoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineFate {
    Confirmed,
    Refunded,
    /// The member cancelled the join before the cutoff: the whole payment went back.
    Cancelled,
}

/// The fate of a line of `sku` given the round's outcomes (an SKU not in them is refunded).
pub fn fate(outcomes: &[SkuOutcome], sku: &SkuId) -> LineFate {
    match outcomes.iter().any(|o| &o.sku == sku && o.goes_ahead) {
        true => LineFate::Confirmed,
        false => LineFate::Refunded,
    }
}

/// The refund id of line `index` of `order` (WeChat Pay's `out_refund_no`, ≤ 64 characters).
pub fn line_refund_id(order: &OrderId, index: usize) -> String {
    format!("{order}-G{index}")
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn an_sku_goes_ahead_at_its_minimum_and_its_lines_are_confirmed_the_others_refunded() {
        let round = round();
        let egg = SkuId::parse("EGG-30").unwrap();
        let cake = SkuId::parse("CAKE-SET").unwrap();
        let joined = BTreeMap::from([(egg.clone(), 20), (cake.clone(), 9)]);
        let outcomes = decide(&round, &joined);
        assert_eq!(
            outcomes.iter().map(|o| o.goes_ahead).collect::<Vec<_>>(),
            [true, false],
            "20 of 20 goes ahead, 9 of 10 does not"
        );
        assert_eq!(fate(&outcomes, &egg), LineFate::Confirmed);
        assert_eq!(fate(&outcomes, &cake), LineFate::Refunded);
        let none = decide(&round, &BTreeMap::new());
        assert!(none.iter().all(|o| !o.goes_ahead && o.joined == 0));
        let order = OrderId::parse("01KAV2Z0X0SAMPLE0RDER00001").unwrap();
        assert_eq!(line_refund_id(&order, 1), "01KAV2Z0X0SAMPLE0RDER00001-G1");
        assert!(line_refund_id(&order, 49).len() <= 64);
    }
}
