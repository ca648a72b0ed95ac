//! Versioned rules in the `Config` table (DESIGN §4): `RULES#<n>` holds version n for good,
//! `CURRENT` a copy of the version in force. Activating version n+1 is one transaction: put
//! `RULES#<n+1>` (new) and `CURRENT` (conditional on still being n), so two operators setting
//! rules at once never both win, and the history is never rewritten. No version stored = the
//! compiled-in defaults (version 0).

use super::ledger::item::{integer, number, string, Item};
use super::StoreError;
use crate::rules::earning::EarnRules;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use std::future::Future;

/// One activated version of the rules, with who activated it and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesVersion {
    pub version: u32,
    pub earn: EarnRules,
    pub activated_at: BusinessTime,
    pub operator: String,
    pub reason: String,
}

impl RulesVersion {
    /// The compiled-in defaults, as if activated at the beginning of time.
    pub fn defaults() -> Self {
        Self {
            version: 0,
            earn: EarnRules::default(),
            activated_at: BusinessTime::from_epoch_ms(0).unwrap_or_else(|_| unreachable!()),
            operator: "defaults".to_owned(),
            reason: "compiled-in defaults (seeds 001, 003)".to_owned(),
        }
    }
}

/// What an activation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Activated {
    /// In force now as this version.
    Now(u32),
    /// Someone activated another version since `expected` was read: nothing written.
    Moved,
}

pub trait RulesStore {
    /// The version in force (consistent read); the defaults when none was ever activated.
    fn current(&self) -> impl Future<Output = Result<RulesVersion, StoreError>> + Send;

    /// Version `version` (0: the defaults), if it exists.
    fn version(
        &self,
        version: u32,
    ) -> impl Future<Output = Result<Option<RulesVersion>, StoreError>> + Send;

    /// Activates `earn` as the version after `expected` (the one the operator read).
    fn activate(
        &self,
        earn: &EarnRules,
        expected: u32,
        operator: &str,
        reason: &str,
        at: BusinessTime,
    ) -> impl Future<Output = Result<Activated, StoreError>> + Send;
}

/// The newest versions first, down to `limit` of them (the defaults last when reached).
pub async fn history<R: RulesStore>(
    store: &R,
    limit: usize,
) -> Result<Vec<RulesVersion>, StoreError> {
    let current = store.current().await?;
    let mut versions = vec![current.clone()];
    let mut next = current.version;
    while next > 0 && versions.len() < limit {
        next -= 1;
        if let Some(version) = store.version(next).await? {
            versions.push(version);
        }
    }
    Ok(versions)
}

/// The version that was in force at `at` (a payment's business time): the newest activated at or
/// before it.
pub async fn in_force_at<R: RulesStore>(
    store: &R,
    at: BusinessTime,
) -> Result<RulesVersion, StoreError> {
    let mut candidate = store.current().await?;
    while candidate.activated_at > at && candidate.version > 0 {
        candidate = match store.version(candidate.version - 1).await? {
            Some(older) => older,
            None => return Ok(RulesVersion::defaults()),
        };
    }
    Ok(candidate)
}

const CURRENT: &str = "CURRENT";

fn version_key(version: u32) -> String {
    format!("RULES#{version}")
}

fn corrupt(key: &str, why: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        why: why.to_string(),
    }
}

fn decode(key: &str, item: &Item) -> Result<RulesVersion, StoreError> {
    let version = integer(item, "v")
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| corrupt(key, "no version"))?;
    let earn = string(item, "earn").ok_or_else(|| corrupt(key, "no earn rules"))?;
    let mut earn: EarnRules = serde_json::from_str(&earn).map_err(|e| corrupt(key, e))?;
    earn.version = version;
    let activated_at = integer(item, "activated_at")
        .and_then(|ms| BusinessTime::from_epoch_ms(ms).ok())
        .ok_or_else(|| corrupt(key, "no activated_at"))?;
    Ok(RulesVersion {
        version,
        earn,
        activated_at,
        operator: string(item, "operator").unwrap_or_default(),
        reason: string(item, "reason").unwrap_or_default(),
    })
}

#[derive(Clone, Debug)]
pub struct DynamoRules {
    client: Client,
    table: String,
}

impl DynamoRules {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn read(&self, key: &str) -> Result<Option<RulesVersion>, StoreError> {
        let item = Item::from([("pk".to_owned(), AttributeValue::S(key.to_owned()))]);
        super::get_consistent(&self.client, &self.table, item)
            .await?
            .map(|item| decode(key, &item))
            .transpose()
    }

    /// A conditional put of `body` under `key`: new (`expected` None) or still at `expected`.
    fn put(
        &self,
        key: &str,
        body: &Item,
        expected: Option<u32>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = body.clone();
        item.insert("pk".to_owned(), AttributeValue::S(key.to_owned()));
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(version) => put
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", "v")
                .expression_attribute_values(":expected", number(version)),
        };
        let put = put
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

impl RulesStore for DynamoRules {
    async fn current(&self) -> Result<RulesVersion, StoreError> {
        Ok(self
            .read(CURRENT)
            .await?
            .unwrap_or_else(RulesVersion::defaults))
    }

    async fn version(&self, version: u32) -> Result<Option<RulesVersion>, StoreError> {
        if version == 0 {
            return Ok(Some(RulesVersion::defaults()));
        }
        self.read(&version_key(version)).await
    }

    async fn activate(
        &self,
        earn: &EarnRules,
        expected: u32,
        operator: &str,
        reason: &str,
        at: BusinessTime,
    ) -> Result<Activated, StoreError> {
        let next = expected
            .checked_add(1)
            .ok_or_else(|| corrupt(CURRENT, "version overflow"))?;
        let key = version_key(next);
        let earn = serde_json::to_string(earn).map_err(|e| corrupt(&key, e))?;
        let body = Item::from([
            ("v".to_owned(), number(next)),
            ("earn".to_owned(), AttributeValue::S(earn)),
            ("activated_at".to_owned(), number(at.epoch_ms())),
            (
                "operator".to_owned(),
                AttributeValue::S(operator.to_owned()),
            ),
            ("reason".to_owned(), AttributeValue::S(reason.to_owned())),
        ]);
        let items = vec![
            self.put(&key, &body, None)?,
            self.put(CURRENT, &body, (expected > 0).then_some(expected))?,
        ];
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Activated::Now(next)),
            Err(e) if condition_failed(e.as_service_error()) => Ok(Activated::Moved),
            Err(e) => Err(StoreError::dynamo("TransactWriteItems", e)),
        }
    }
}

fn condition_failed(error: Option<&TransactWriteItemsError>) -> bool {
    matches!(
        error,
        Some(TransactWriteItemsError::TransactionCanceledException(c))
            if c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
    )
}
