//! The delivery pricing rules in force (`linli-admin delivery set`): `DELIVERY#CURRENT` in the
//! Config table with the rules as JSON, who set them, why and when. None set: the defaults.

use super::ledger::item::Item;
use super::StoreError;
use crate::delivery::DeliveryRules;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::future::Future;

const KEY: &str = "DELIVERY#CURRENT";

/// The rules in force and who set them (None: the compiled-in defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRulesInForce {
    pub rules: DeliveryRules,
    /// (operator, reason, when)
    pub set_by: Option<(String, String, BusinessTime)>,
}

pub trait DeliveryRulesStore {
    fn delivery_rules(
        &self,
    ) -> impl Future<Output = Result<DeliveryRulesInForce, StoreError>> + Send;

    fn set_delivery_rules(
        &self,
        rules: &DeliveryRules,
        operator: &str,
        reason: &str,
        at: BusinessTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Clone, Debug)]
pub struct DynamoDeliveryRules {
    client: Client,
    table: String,
}

impl DynamoDeliveryRules {
    pub fn new(client: Client, config_table: impl Into<String>) -> Self {
        Self {
            client,
            table: config_table.into(),
        }
    }
}

fn key() -> Item {
    HashMap::from([("pk".to_owned(), AttributeValue::S(KEY.to_owned()))])
}

fn decode(item: &Item) -> Result<DeliveryRulesInForce, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let corrupt = |why: String| StoreError::Corrupt {
        key: KEY.to_owned(),
        why,
    };
    let rules: DeliveryRules = serde_json::from_str(&text("rules").unwrap_or_default())
        .map_err(|e| corrupt(e.to_string()))?;
    rules.validate().map_err(|e| corrupt(e.to_string()))?;
    let at = item
        .get("set_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .and_then(|ms| BusinessTime::from_epoch_ms(ms).ok());
    let set_by = match (text("operator"), text("reason"), at) {
        (Some(o), Some(r), Some(at)) => Some((o, r, at)),
        _ => None,
    };
    Ok(DeliveryRulesInForce { rules, set_by })
}

impl DeliveryRulesStore for DynamoDeliveryRules {
    async fn delivery_rules(&self) -> Result<DeliveryRulesInForce, StoreError> {
        match super::get_consistent(&self.client, &self.table, key()).await? {
            Some(item) => decode(&item),
            None => Ok(DeliveryRulesInForce {
                rules: DeliveryRules::default(),
                set_by: None,
            }),
        }
    }

    async fn set_delivery_rules(
        &self,
        rules: &DeliveryRules,
        operator: &str,
        reason: &str,
        at: BusinessTime,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(rules).map_err(|e| StoreError::Corrupt {
            key: KEY.to_owned(),
            why: e.to_string(),
        })?;
        let mut item = key();
        item.insert("rules".to_owned(), AttributeValue::S(json));
        item.insert(
            "operator".to_owned(),
            AttributeValue::S(operator.to_owned()),
        );
        item.insert("reason".to_owned(), AttributeValue::S(reason.to_owned()));
        item.insert(
            "set_at".to_owned(),
            AttributeValue::N(at.epoch_ms().to_string()),
        );
        super::put(&self.client, &self.table, item).await
    }
}
