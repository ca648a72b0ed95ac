//! The weather operators set per city (`linli-admin weather set`), which prices deliveries:
//! `WEATHER#<city>` in the Config table with `weather`, `operator`, `set_at` ms. A city never
//! set is `normal`.

use super::ledger::item::Item;
use super::StoreError;
use crate::delivery::Weather;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::future::Future;

/// A city's weather and who set it when (None for a city never set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CityWeather {
    pub weather: Weather,
    pub set_by: Option<(String, BusinessTime)>,
}

pub trait WeatherStore {
    fn weather(&self, city: &str) -> impl Future<Output = Result<CityWeather, StoreError>> + Send;

    fn set_weather(
        &self,
        city: &str,
        weather: Weather,
        operator: &str,
        at: BusinessTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Clone, Debug)]
pub struct DynamoWeather {
    client: Client,
    table: String,
}

impl DynamoWeather {
    pub fn new(client: Client, config_table: impl Into<String>) -> Self {
        Self {
            client,
            table: config_table.into(),
        }
    }
}

fn key(city: &str) -> Item {
    HashMap::from([(
        "pk".to_owned(),
        AttributeValue::S(format!("WEATHER#{city}")),
    )])
}

fn decode(city: &str, item: &Item) -> Result<CityWeather, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let corrupt = |why: String| StoreError::Corrupt {
        key: format!("WEATHER#{city}"),
        why,
    };
    let weather = serde_json::from_value(serde_json::Value::String(
        text("weather").unwrap_or_default(),
    ))
    .map_err(|e| corrupt(e.to_string()))?;
    let at = item
        .get("set_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .and_then(|ms| BusinessTime::from_epoch_ms(ms).ok());
    Ok(CityWeather {
        weather,
        set_by: text("operator").zip(at),
    })
}

impl WeatherStore for DynamoWeather {
    async fn weather(&self, city: &str) -> Result<CityWeather, StoreError> {
        match super::get_consistent(&self.client, &self.table, key(city)).await? {
            Some(item) => decode(city, &item),
            None => Ok(CityWeather {
                weather: Weather::Normal,
                set_by: None,
            }),
        }
    }

    async fn set_weather(
        &self,
        city: &str,
        weather: Weather,
        operator: &str,
        at: BusinessTime,
    ) -> Result<(), StoreError> {
        let name = serde_json::to_value(weather)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut item = key(city);
        item.insert("weather".to_owned(), AttributeValue::S(name));
        item.insert(
            "operator".to_owned(),
            AttributeValue::S(operator.to_owned()),
        );
        item.insert(
            "set_at".to_owned(),
            AttributeValue::N(at.epoch_ms().to_string()),
        );
        super::put(&self.client, &self.table, item).await
    }
}
