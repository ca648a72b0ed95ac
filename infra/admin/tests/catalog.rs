//! `linli-admin catalog import` and `weather` against DynamoDB Local: a wrong file is refused
//! naming its line and nothing is written; a dry run writes nothing; a good file puts every store
//! and SKU with its stock, and a second import sets the stock it says. The weather a city is set
//! to is shown with who set it; delivery rules are the defaults until a checked file is set (an
//! invalid one changes nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{admin, catalog_table, client, config_table};
use linli::ids::StoreId;
use linli::store::catalog::{CatalogStore, DynamoCatalog};

const HEAD: &str = "store_id,store_name,lat,lng,hours,city,sku,name,price_fen,stock,category\n";

fn file(text: &str) -> String {
    let path = std::env::temp_dir().join(format!("linli-catalog-{:08x}.csv", fastrand::u32(..)));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn a_checked_file_imports_every_store_and_sku_and_a_wrong_one_writes_nothing() {
    let client = client();
    let table = catalog_table(&client, "import").await;
    let catalog = DynamoCatalog::new(client.clone(), table.clone());
    let import = |path: String, dry: bool| {
        let table = table.clone();
        async move {
            let mut args = vec!["--catalog-table", &table, "catalog", "import", &path];
            if dry {
                args.push("--dry-run");
            }
            admin(&args).await
        }
    };
    let good = format!(
        "{HEAD}SH-1,静安店,31.2236,121.4453,07:00-23:00,shanghai,MILK-1L,鲜牛奶 1L,1590,40,dairy\n\
         SH-1,静安店,31.2236,121.4453,07:00-23:00,shanghai,EGG-10,土鸡蛋 10枚,1890,30,fresh\n\
         SH-2,人广店,31.2304,121.4737,06:30-23:30,shanghai,MILK-1L,鲜牛奶 1L,1590,12,dairy\n"
    );
    let wrong = good.replace("1890,30", "1890,-3");
    let refused = import(file(&wrong), false).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("line 3, stock"), "{refused:?}");
    assert!(
        catalog.stores().await.unwrap().is_empty(),
        "nothing written"
    );

    let dry = import(file(&good), true).await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        catalog.stores().await.unwrap().is_empty(),
        "a dry run writes nothing"
    );

    let done = import(file(&good), false).await;
    assert_eq!(done.code, 0, "{done:?}");
    assert!(
        done.stdout.contains("2 stores, 3 SKUs imported"),
        "{done:?}"
    );
    let mut stores = catalog.stores().await.unwrap();
    stores.sort_by(|a, b| a.store_id.cmp(&b.store_id));
    assert_eq!(stores.len(), 2);
    assert_eq!(
        (stores[0].name.as_str(), stores[0].city.as_str()),
        ("静安店", "shanghai")
    );
    let sh1 = StoreId::parse("SH-1").unwrap();
    let skus = catalog.skus(&sh1).await.unwrap();
    assert_eq!(skus.len(), 2);

    // The shelf changed: a second import sets the stock it says.
    let restock = format!(
        "{HEAD}SH-1,静安店,31.2236,121.4453,07:00-23:00,shanghai,EGG-10,土鸡蛋 10枚,1890,5,fresh\n"
    );
    assert_eq!(import(file(&restock), false).await.code, 0);
    let eggs = catalog
        .skus(&sh1)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.sku.as_str() == "EGG-10");
    assert_eq!(eggs.unwrap().stock, 5);
}

#[tokio::test]
async fn the_weather_of_a_city_is_set_and_shown_with_who_set_it() {
    let client = client();
    let table = config_table(&client, "weather").await;
    let shown = admin(&[
        "--config-table",
        &table,
        "weather",
        "show",
        "chengdu",
        "--json",
    ])
    .await;
    assert_eq!(shown.code, 0, "{shown:?}");
    assert_eq!(shown.json()["weather"], "normal");
    let set = [
        "--config-table",
        &table,
        "weather",
        "set",
        "chengdu",
        "storm",
        "--operator",
        "alice",
    ];
    let done = admin(&set).await;
    assert_eq!(done.code, 0, "{done:?}");
    assert!(
        done.stdout.contains("暴雨") && done.stdout.contains("alice"),
        "{done:?}"
    );
    let bad = [
        "--config-table",
        &table,
        "weather",
        "set",
        "chengdu",
        "snow",
        "--operator",
        "bob",
    ];
    let refused = admin(&bad).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    let again = admin(&[
        "--config-table",
        &table,
        "weather",
        "show",
        "chengdu",
        "--json",
    ])
    .await;
    assert_eq!(
        (
            again.json()["weather"].as_str(),
            again.json()["set_by"].as_str()
        ),
        (Some("storm"), Some("alice"))
    );
}

#[tokio::test]
async fn delivery_rules_are_checked_before_they_are_set() {
    let client = client();
    let table = config_table(&client, "delivery").await;
    let shown = admin(&["--config-table", &table, "delivery", "show"]).await;
    assert_eq!(shown.code, 0, "{shown:?}");
    assert!(shown.stdout.contains("the defaults") && shown.stdout.contains("points_per_yuan = 10"));
    let rainier = shown.stdout.replace("rain_bp = 13000", "rain_bp = 14000");
    let broken = shown.stdout.replace("rain_bp = 13000", "rain_bp = 0");
    let set = |text: String| {
        let table = table.clone();
        async move {
            let path = file(&text);
            let args = [
                "--config-table",
                &table,
                "delivery",
                "set",
                &path,
                "--operator",
                "alice",
                "--reason",
                "rainy season",
            ];
            admin(&args).await
        }
    };
    let refused = set(broken).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("rain_bp"), "{refused:?}");
    let still = admin(&["--config-table", &table, "delivery", "show"]).await;
    assert!(
        still.stdout.contains("the defaults"),
        "nothing changed: {still:?}"
    );
    let done = set(rainier).await;
    assert_eq!(done.code, 0, "{done:?}");
    assert!(
        done.stdout.contains("rain_bp = 14000") && done.stdout.contains("alice"),
        "{done:?}"
    );
}
