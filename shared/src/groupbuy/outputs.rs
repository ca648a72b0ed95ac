//! What a closed round produces (pure): per store, the **purchase list** (each confirmed SKU and
//! its total, for the supplier); per store and community, the **delivery batch** (the members
//! and what each order collects or receives the next day); and the round's **metrics** (orders, GMV,
//! each SKU's fill rate against its minimum — seed 002's 集单效率). Built from the confirmed
//! lines, page by page, so no output needs every line in memory at once: the purchase list
//! and metrics are running totals, the batch is one `Handout` per order, written as it comes.

use super::cutoff::{fate, LineFate, SkuOutcome};
use crate::ids::{MemberId, OrderId, SkuId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One paid order's lines as the cutoff reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaidOrder {
    pub order_id: OrderId,
    pub member: MemberId,
    /// (SKU, quantity, amount in fen).
    pub lines: Vec<(SkuId, i64, i64)>,
}

/// The running totals of a round's outputs, added to page by page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// SKU → confirmed quantity (the purchase list: at most a round's SKUs).
    pub purchase: BTreeMap<SkuId, i64>,
    pub orders: u64,
    /// Orders with at least one confirmed line.
    pub confirmed_orders: u64,
    /// Fen paid, and fen of confirmed lines.
    pub paid_fen: i64,
    pub confirmed_fen: i64,
    pub refunded_fen: i64,
}

/// One order's confirmed goods, as the delivery batch lists them (one entry per order, so the
/// batch is written page by page and never held whole in memory).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handout {
    pub order_id: OrderId,
    pub member: MemberId,
    /// SKU → confirmed quantity.
    pub skus: BTreeMap<SkuId, i64>,
}

impl Tally {
    /// Adds one page of paid orders; answers the page's handouts (orders with a confirmed line).
    pub fn add(&mut self, outcomes: &[SkuOutcome], page: &[PaidOrder]) -> Vec<Handout> {
        let mut handouts = Vec::new();
        for order in page {
            self.orders += 1;
            let mut skus = BTreeMap::new();
            for (sku, qty, amount) in &order.lines {
                self.paid_fen += amount;
                match fate(outcomes, sku) {
                    LineFate::Confirmed => {
                        self.confirmed_fen += amount;
                        *self.purchase.entry(sku.clone()).or_insert(0) += qty;
                        *skus.entry(sku.clone()).or_insert(0) += qty;
                    }
                    LineFate::Refunded | LineFate::Cancelled => self.refunded_fen += amount,
                }
            }
            if !skus.is_empty() {
                self.confirmed_orders += 1;
                handouts.push(Handout {
                    order_id: order.order_id.clone(),
                    member: order.member.clone(),
                    skus,
                });
            }
        }
        handouts
    }

    /// Each SKU's fill rate, basis points of its minimum (10,000 = exactly the minimum).
    pub fn fill_rates(outcomes: &[SkuOutcome]) -> BTreeMap<SkuId, i64> {
        outcomes
            .iter()
            .map(|o| {
                (
                    o.sku.clone(),
                    o.joined.saturating_mul(10_000) / o.min_qty.max(1),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::cutoff::decide;
    use super::super::fixtures::round;
    use super::*;

    fn order(i: u32, member: &MemberId, lines: &[(&str, i64)]) -> PaidOrder {
        PaidOrder {
            order_id: OrderId::parse(&format!("O-{i}")).unwrap(),
            member: member.clone(),
            lines: lines
                .iter()
                .map(|(s, q)| (SkuId::parse(s).unwrap(), *q, q * 1_990))
                .collect(),
        }
    }

    #[test]
    fn confirmed_lines_make_the_purchase_list_and_batch_the_rest_are_refunded() {
        let round = round();
        let (egg, cake) = (
            SkuId::parse("EGG-30").unwrap(),
            SkuId::parse("CAKE-SET").unwrap(),
        );
        let joined = BTreeMap::from([(egg.clone(), 20), (cake.clone(), 4)]);
        let outcomes = decide(&round, &joined);
        let (ann, bob) = (
            MemberId::parse("01KAV2Z0X0A000000000000001").unwrap(),
            MemberId::parse("01KAV2Z0X0B000000000000002").unwrap(),
        );
        let mut tally = Tally::default();
        // Two pages, as the cutoff reads them.
        let first = tally.add(
            &outcomes,
            &[order(1, &ann, &[("EGG-30", 15), ("CAKE-SET", 2)])],
        );
        let second = tally.add(
            &outcomes,
            &[
                order(2, &bob, &[("EGG-30", 5)]),
                order(3, &bob, &[("CAKE-SET", 2)]),
            ],
        );
        assert_eq!(tally.purchase, BTreeMap::from([(egg.clone(), 20)]));
        assert_eq!(first.len(), 1);
        assert_eq!(
            (&first[0].member, &first[0].skus),
            (&ann, &BTreeMap::from([(egg.clone(), 15)]))
        );
        assert_eq!(
            second.len(),
            1,
            "bob's all-refunded order hands nothing out"
        );
        assert_eq!(second[0].order_id.as_str(), "O-2");
        assert_eq!(second[0].skus, BTreeMap::from([(egg.clone(), 5)]));
        assert_eq!((tally.orders, tally.confirmed_orders), (3, 2));
        assert_eq!(tally.confirmed_fen, 20 * 1_990);
        assert_eq!(tally.refunded_fen, 4 * 1_990);
        assert_eq!(tally.paid_fen, tally.confirmed_fen + tally.refunded_fen);
        let rates = Tally::fill_rates(&outcomes);
        assert_eq!((rates[&egg], rates[&cake]), (10_000, 4_000));
    }
}
