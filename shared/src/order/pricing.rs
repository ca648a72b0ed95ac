//! Server-side pricing: every price comes from the catalog; whatever the client says a thing
//! costs is never read.

use super::OrderLine;
use crate::catalog::Sku;
use crate::ids::SkuId;
use crate::money::Fen;
use std::collections::BTreeMap;

/// At most this many different SKUs in one order.
pub const MAX_LINES: usize = 50;
/// At most this many of one SKU in one order.
pub const MAX_QTY: i64 = 999;

/// One requested line, as the member's client sent it (SKU and quantity only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRequest {
    pub sku: String,
    pub qty: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// A request field is wrong: 400 naming the field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The store has fewer than asked: 409 (stock is checked, not reserved, here).
    #[error("{field}: only {available} of {sku} left")]
    OutOfStock {
        field: String,
        sku: SkuId,
        available: i64,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> OrderError {
    OrderError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The order's lines and goods total, priced from the store's `catalog`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Priced {
    pub lines: Vec<OrderLine>,
    pub goods_fen: Fen,
}

/// Prices `items` from `catalog` (the store's SKUs). The same SKU twice is one line with the
/// quantities added, so the stock check sees the whole quantity.
pub fn price(items: &[ItemRequest], catalog: &[Sku]) -> Result<Priced, OrderError> {
    if items.is_empty() {
        return Err(invalid("items", "an order needs at least one item"));
    }
    if items.len() > MAX_LINES {
        return Err(invalid("items", format!("at most {MAX_LINES} items")));
    }
    let by_sku: BTreeMap<&str, &Sku> = catalog.iter().map(|s| (s.sku.as_str(), s)).collect();
    // SKU → (first index it appeared at, total quantity), in first-appearance order.
    let mut wanted: Vec<(&Sku, usize, i64)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item.qty <= 0 || item.qty > MAX_QTY {
            return Err(invalid(
                format!("items[{i}].qty"),
                format!("quantity must be 1 to {MAX_QTY}"),
            ));
        }
        let Some(sku) = by_sku.get(item.sku.as_str()) else {
            return Err(invalid(
                format!("items[{i}].sku"),
                "no such SKU in this store",
            ));
        };
        match wanted.iter_mut().find(|(s, _, _)| s.sku == sku.sku) {
            Some((_, _, qty)) => *qty = qty.saturating_add(item.qty),
            None => wanted.push((sku, i, item.qty)),
        }
    }
    let mut lines = Vec::with_capacity(wanted.len());
    let mut goods = Fen::ZERO;
    for (sku, i, qty) in wanted {
        if qty > sku.stock {
            return Err(OrderError::OutOfStock {
                field: format!("items[{i}].qty"),
                sku: sku.sku.clone(),
                available: sku.stock.max(0),
            });
        }
        goods = sku
            .price_fen
            .value()
            .checked_mul(qty)
            .map(Fen::new)
            .and_then(|line_total| goods.checked_add(line_total))
            .filter(|_| sku.price_fen.is_positive())
            .ok_or_else(|| invalid(format!("items[{i}].sku"), "this SKU cannot be sold"))?;
        lines.push(OrderLine {
            sku: sku.sku.clone(),
            name: sku.name.clone(),
            qty,
            price_fen: sku.price_fen,
            category: sku.category.clone(),
        });
    }
    Ok(Priced {
        lines,
        goods_fen: goods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(id: &str, price: i64, stock: i64) -> Sku {
        Sku {
            sku: SkuId::parse(id).unwrap(),
            name: format!("商品 {id}"),
            price_fen: Fen::new(price),
            stock,
            category: String::new(),
        }
    }

    fn item(sku: &str, qty: i64) -> ItemRequest {
        ItemRequest {
            sku: sku.into(),
            qty,
        }
    }

    fn catalog() -> Vec<Sku> {
        vec![sku("milk", 1_250, 10), sku("eggs", 2_990, 3)]
    }

    #[test]
    fn prices_come_from_the_catalog_and_repeats_merge() {
        let priced = price(
            &[item("milk", 2), item("eggs", 1), item("milk", 1)],
            &catalog(),
        )
        .unwrap();
        assert_eq!(priced.goods_fen, Fen::new(3 * 1_250 + 2_990));
        assert_eq!(priced.lines.len(), 2);
        assert_eq!(
            (priced.lines[0].sku.as_str(), priced.lines[0].qty),
            ("milk", 3)
        );
    }

    #[test]
    fn bad_items_name_the_field() {
        let field = |r: Result<Priced, OrderError>| match r {
            Err(OrderError::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        };
        assert_eq!(field(price(&[], &catalog())), "items");
        assert_eq!(
            field(price(&[item("milk", 1), item("caviar", 1)], &catalog())),
            "items[1].sku"
        );
        assert_eq!(field(price(&[item("milk", 0)], &catalog())), "items[0].qty");
        assert_eq!(
            field(price(&[item("milk", -2)], &catalog())),
            "items[0].qty"
        );
        assert_eq!(
            field(price(&[item("milk", MAX_QTY + 1)], &catalog())),
            "items[0].qty"
        );
        let free = vec![sku("gift", 0, 5)];
        assert_eq!(field(price(&[item("gift", 1)], &free)), "items[0].sku");
    }

    #[test]
    fn more_than_the_stock_is_a_conflict_counting_repeats() {
        assert_eq!(
            price(
                &[item("eggs", 2), item("milk", 1), item("eggs", 2)],
                &catalog()
            ),
            Err(OrderError::OutOfStock {
                field: "items[0].qty".into(),
                sku: SkuId::parse("eggs").unwrap(),
                available: 3
            })
        );
    }
}
