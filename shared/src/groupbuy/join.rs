//! A member joining a round (pure): the request's lines priced from the round (never from the
//! client), each SKU known, each quantity positive and within the member's limit counting what
//! they joined before. Whether a capped SKU still has stock is decided when the payment is
//! counted (one conditional counter: never oversold), and shown before from the live counts.

use super::Round;
use crate::ids::SkuId;
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lines in one join (counted in one transaction: two writes a line and two more, ≤ 100).
pub const MAX_LINES: usize = 24;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinLine {
    pub sku: SkuId,
    pub name: String,
    pub qty: i64,
    pub price_fen: i64,
    pub amount_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("the round is closed to joins (its cutoff has passed)")]
    Closed,
    #[error("no lines")]
    Empty,
    #[error("too many lines")]
    TooMany,
    #[error("{0} is not in this round")]
    UnknownSku(SkuId),
    #[error("{0}: quantity must be 1 to 1,000, each SKU once")]
    Quantity(SkuId),
    #[error("{sku}: at most {limit} per member ({already} joined before)")]
    OverLimit {
        sku: SkuId,
        limit: i64,
        already: i64,
    },
    #[error("{sku}: only {left} left")]
    SoldOut { sku: SkuId, left: i64 },
}

/// Prices `requested` (SKU, quantity) for a member who joined `already` before, at `now`;
/// `joined` is each SKU's count so far (a capped SKU with no room left is refused early).
pub fn price(
    round: &Round,
    requested: &[(SkuId, i64)],
    already: &BTreeMap<SkuId, i64>,
    joined: &BTreeMap<SkuId, i64>,
    now: BusinessTime,
) -> Result<Vec<JoinLine>, JoinError> {
    if !round.accepts(now) {
        return Err(JoinError::Closed);
    }
    if requested.is_empty() {
        return Err(JoinError::Empty);
    }
    if requested.len() > MAX_LINES {
        return Err(JoinError::TooMany);
    }
    let mut lines = Vec::with_capacity(requested.len());
    for (i, (sku, qty)) in requested.iter().enumerate() {
        let offer = round
            .sku(sku)
            .ok_or_else(|| JoinError::UnknownSku(sku.clone()))?;
        let twice = requested[..i].iter().any(|(s, _)| s == sku);
        if twice || !(1..=1_000).contains(qty) {
            return Err(JoinError::Quantity(sku.clone()));
        }
        let before = already.get(sku).copied().unwrap_or(0);
        if let Some(limit) = offer.per_member {
            if before + qty > limit {
                return Err(JoinError::OverLimit {
                    sku: sku.clone(),
                    limit,
                    already: before,
                });
            }
        }
        if let Some(max) = offer.max_qty {
            let left = (max - joined.get(sku).copied().unwrap_or(0)).max(0);
            if *qty > left {
                return Err(JoinError::SoldOut {
                    sku: sku.clone(),
                    left,
                });
            }
        }
        lines.push(JoinLine {
            sku: sku.clone(),
            name: offer.name.clone(),
            qty: *qty,
            price_fen: offer.price_fen,
            amount_fen: offer.price_fen.saturating_mul(*qty),
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn id(s: &str) -> SkuId {
        SkuId::parse(s).unwrap()
    }

    #[test]
    fn a_join_is_priced_from_the_round_within_limits_and_stock() {
        let round = round();
        let now = at("2026-12-08T12:00:00+08:00");
        let none = BTreeMap::new();
        let lines = price(&round, &[(id("EGG-30"), 2)], &none, &none, now).unwrap();
        assert_eq!((lines[0].amount_fen, lines[0].price_fen), (3_980, 1_990));
        let before = BTreeMap::from([(id("EGG-30"), 4)]);
        assert_eq!(
            price(&round, &[(id("EGG-30"), 2)], &before, &none, now),
            Err(JoinError::OverLimit {
                sku: id("EGG-30"),
                limit: 5,
                already: 4
            })
        );
        let joined = BTreeMap::from([(id("CAKE-SET"), 29)]);
        assert_eq!(
            price(&round, &[(id("CAKE-SET"), 2)], &none, &joined, now),
            Err(JoinError::SoldOut {
                sku: id("CAKE-SET"),
                left: 1
            })
        );
        assert!(matches!(
            price(&round, &[(id("MILK"), 1)], &none, &none, now),
            Err(JoinError::UnknownSku(_))
        ));
        assert!(matches!(
            price(
                &round,
                &[(id("EGG-30"), 1), (id("EGG-30"), 1)],
                &none,
                &none,
                now
            ),
            Err(JoinError::Quantity(_))
        ));
        let late = at("2026-12-08T20:00:01+08:00");
        assert_eq!(
            price(&round, &[(id("EGG-30"), 1)], &none, &none, late),
            Err(JoinError::Closed)
        );
    }
}
