//! `devstack load-demo <demo.json> <devstack URL>`: writes the demo catalog into the running
//! stack's Catalog table through `linli::store::catalog`, so demo data and functions read the
//! same item layout.

use linli::catalog::{Sku, Store};
use linli::ids::{SkuId, StoreId};
use linli::money::Fen;
use linli::store::catalog::{CatalogStore, DynamoCatalog};
use serde::Deserialize;

#[derive(Deserialize)]
struct Demo {
    stores: Vec<DemoStore>,
    #[serde(default)]
    members: Vec<DemoMember>,
}

#[derive(Deserialize)]
struct DemoStore {
    store_id: String,
    name: String,
    lat: f64,
    lng: f64,
    hours: String,
    #[serde(default)]
    city: String,
    skus: Vec<DemoSku>,
}

#[derive(Deserialize)]
struct DemoSku {
    sku: String,
    name: String,
    price_fen: i64,
    stock: i64,
    #[serde(default)]
    category: String,
}

#[derive(Deserialize)]
struct DemoMember {
    name: String,
    code: String,
}

/// Loads `file` into the stack at `base`; returns a summary line per store and member.
pub async fn load(file: &str, base: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let demo: Demo = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
    let stack: serde_json::Value = reqwest::get(format!("{base}/_local/stack"))
        .await
        .map_err(|e| format!("{base}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{base}/_local/stack: {e}"))?;
    let table = stack["resources"]["CatalogTable"]
        .as_str()
        .ok_or("the stack has no CatalogTable")?
        .to_owned();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let catalog = DynamoCatalog::new(aws_sdk_dynamodb::Client::new(&aws), table);
    let mut summary = Vec::new();
    for s in demo.stores {
        let store = Store {
            store_id: StoreId::parse(&s.store_id).map_err(|e| e.to_string())?,
            name: s.name,
            lat: s.lat,
            lng: s.lng,
            hours: s.hours,
            city: s.city,
        };
        catalog.put_store(&store).await.map_err(|e| e.to_string())?;
        for k in &s.skus {
            let sku = Sku {
                sku: SkuId::parse(&k.sku).map_err(|e| e.to_string())?,
                name: k.name.clone(),
                price_fen: Fen::new(k.price_fen),
                stock: k.stock,
                category: k.category.clone(),
            };
            catalog
                .put_sku(&store.store_id, &sku)
                .await
                .map_err(|e| e.to_string())?;
        }
        summary.push(format!(
            "store {} {} ({} SKUs) at {},{}",
            store.store_id,
            store.name,
            s.skus.len(),
            store.lat,
            store.lng
        ));
    }
    for m in demo.members {
        summary.push(format!("member {}: log in with code {}", m.name, m.code));
    }
    Ok(summary)
}
