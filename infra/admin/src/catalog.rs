//! `linli-admin catalog import <file.csv> [--dry-run]`: stores, SKUs and stock from a CSV file,
//! one row per SKU at a store (the store's columns repeated on each of its rows):
//!
//! `store_id,store_name,lat,lng,hours,city,sku,name,price_fen,stock,category`
//!
//! Every row is checked before anything is written: ids, coordinates on Earth, a positive price
//! in fen, stock ≥ 0, a store's columns the same on all its rows, a SKU once per store. A wrong
//! file is refused naming its line and column, and nothing changes. Stock is set, not added:
//! the file says what is on the shelf now.

use crate::cli::CatalogCommand;
use crate::output::Outcome;
use crate::tables::CatalogTable;
use crate::AdminError;
use linli::catalog::{valid_coordinate, Sku, Store};
use linli::ids::{SkuId, StoreId};
use linli::money::Fen;
use linli::store::catalog::CatalogStore;
use serde_json::json;
use std::collections::BTreeMap;

const HEADER: [&str; 11] = [
    "store_id",
    "store_name",
    "lat",
    "lng",
    "hours",
    "city",
    "sku",
    "name",
    "price_fen",
    "stock",
    "category",
];

/// A file that parsed: each store once, with its SKUs.
#[derive(Debug, PartialEq)]
pub struct Import {
    pub stores: Vec<(Store, Vec<Sku>)>,
}

fn problem(line: u64, column: &str, why: impl std::fmt::Display) -> AdminError {
    AdminError::Problem(format!("line {line}, {column}: {why}"))
}

fn field(record: &csv::StringRecord, i: usize) -> &str {
    record.get(i).unwrap_or_default().trim()
}

fn row(line: u64, record: &csv::StringRecord) -> Result<(Store, Sku), AdminError> {
    let number = |i: usize| -> Result<f64, AdminError> {
        field(record, i)
            .parse::<f64>()
            .map_err(|_| problem(line, HEADER[i], "not a number"))
    };
    let whole = |i: usize| -> Result<i64, AdminError> {
        field(record, i)
            .parse::<i64>()
            .map_err(|_| problem(line, HEADER[i], "not a whole number"))
    };
    let text = |i: usize, max: usize| -> Result<String, AdminError> {
        let t = field(record, i);
        match t.chars().count() {
            0 => Err(problem(line, HEADER[i], "empty")),
            n if n > max => Err(problem(
                line,
                HEADER[i],
                format!("longer than {max} characters"),
            )),
            _ => Ok(t.to_owned()),
        }
    };
    let store_id = StoreId::parse(field(record, 0)).map_err(|e| problem(line, "store_id", e))?;
    let (lat, lng) = (number(2)?, number(3)?);
    if !valid_coordinate(lat, lng) {
        return Err(problem(
            line,
            "lat/lng",
            "not a place on Earth (WGS-84 degrees)",
        ));
    }
    let store = Store {
        store_id,
        name: text(1, 60)?,
        lat,
        lng,
        hours: text(4, 40)?,
        city: field(record, 5).to_owned(),
    };
    let (price, stock) = (whole(8)?, whole(9)?);
    if price <= 0 {
        return Err(problem(line, "price_fen", "a price is positive (fen)"));
    }
    if stock < 0 {
        return Err(problem(line, "stock", "stock is 0 or more"));
    }
    let sku = Sku {
        sku: SkuId::parse(field(record, 6)).map_err(|e| problem(line, "sku", e))?,
        name: text(7, 60)?,
        price_fen: Fen::new(price),
        stock,
        category: field(record, 10).to_owned(),
    };
    Ok((store, sku))
}

/// Parses and checks the whole file.
pub fn parse(text: &str) -> Result<Import, AdminError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| problem(1, "header", e))?
        .clone();
    let found: Vec<&str> = header.iter().map(str::trim).collect();
    if found != HEADER {
        return Err(problem(
            1,
            "header",
            format!("expected {}", HEADER.join(",")),
        ));
    }
    let mut stores: BTreeMap<String, (Store, Vec<Sku>)> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            problem(line, "row", e)
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let (store, sku) = row(line, &record)?;
        let entry = stores
            .entry(store.store_id.to_string())
            .or_insert_with(|| (store.clone(), Vec::new()));
        if entry.0 != store {
            return Err(problem(line, "store", "differs from the store's first row"));
        }
        if entry.1.iter().any(|s| s.sku == sku.sku) {
            return Err(problem(
                line,
                "sku",
                format!("{} twice for this store", sku.sku),
            ));
        }
        entry.1.push(sku);
    }
    if stores.is_empty() {
        return Err(problem(2, "row", "no rows"));
    }
    Ok(Import {
        stores: stores.into_values().collect(),
    })
}

pub async fn run(table: &CatalogTable, command: CatalogCommand) -> Result<Outcome, AdminError> {
    let CatalogCommand::Import { file, dry_run } = command;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| AdminError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let import = parse(&text)?;
    let skus: usize = import.stores.iter().map(|(_, s)| s.len()).sum();
    if !dry_run {
        for (store, store_skus) in &import.stores {
            table.catalog.put_store(store).await?;
            for sku in store_skus {
                table.catalog.put_sku(&store.store_id, sku).await?;
            }
        }
    }
    let verb = if dry_run {
        "checked (dry run: nothing written)"
    } else {
        "imported"
    };
    Ok(Outcome {
        text: format!(
            "{} stores, {skus} SKUs {verb} into {}\n",
            import.stores.len(),
            table.name
        ),
        json: json!({
            "stores": import.stores.len(), "skus": skus, "dry_run": dry_run, "table": table.name,
        }),
        problem: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "store_id,store_name,lat,lng,hours,city,sku,name,price_fen,stock,category\n";

    #[test]
    fn rows_group_by_store_and_mistakes_name_their_line_and_column() {
        let ok = format!(
            "{HEAD}SH-1,静安店,31.22,121.44,07:00-23:00,shanghai,MILK-1L,鲜牛奶 1L,1590,40,dairy\n\
             SH-1,静安店,31.22,121.44,07:00-23:00,shanghai,EGG-10,土鸡蛋,1890,0,fresh\n\
             SH-2,人广店,31.23,121.47,06:30-23:30,shanghai,MILK-1L,鲜牛奶 1L,1590,12,\n"
        );
        let import = parse(&ok).unwrap();
        assert_eq!(import.stores.len(), 2);
        assert_eq!(import.stores[0].1.len(), 2);
        assert_eq!(import.stores[0].0.city, "shanghai");
        let fail = |body: &str| match parse(&format!("{HEAD}{body}")) {
            Err(AdminError::Problem(why)) => why,
            other => panic!("{other:?}"),
        };
        let good = "SH-1,静安店,31.22,121.44,07:00-23:00,shanghai,MILK-1L,鲜牛奶,1590,40,dairy\n";
        assert!(fail("SH-1,静安店,91,121.44,07:00,sh,MILK,牛奶,1590,40,\n")
            .starts_with("line 2, lat/lng"));
        assert!(fail("SH-1,静安店,31,121,07:00,sh,MILK,牛奶,0,40,\n").contains("price_fen"));
        assert!(fail("SH-1,静安店,31,121,07:00,sh,MILK,牛奶,100,-1,\n").contains("stock"));
        assert!(fail("SH-1,静安店,31,121,07:00,sh,MILK,牛奶,1.5,1,\n").contains("price_fen"));
        assert!(fail(&format!("{good}{good}")).starts_with("line 3, sku"));
        let moved = "SH-1,静安店,31.30,121.44,07:00-23:00,shanghai,EGG,蛋,100,1,\n";
        assert!(fail(&format!("{good}{moved}")).starts_with("line 3, store"));
        assert!(fail("SH-1,静安店,31,121\n").contains("line 2"));
        assert!(parse("a,b\n1,2\n").is_err(), "wrong header");
        assert!(parse(HEAD).is_err(), "no rows");
    }
}
