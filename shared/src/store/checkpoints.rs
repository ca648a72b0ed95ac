//! Checkpoints of resumable passes over many items (housekeeping's lot expiry and audit): where
//! a pass stands and what it has summed so far, so a run that stops at its time budget is
//! continued by the next one. They live in the `Config` table (key `pk` only) as
//! `CHECKPOINT#<job>#<part>` with `v` (version), `state` (the job's own state, JSON) and
//! `saved_at` (ms). A save is conditional on the version it read, so two overlapping runs never
//! both advance one checkpoint: the later one learns it was overtaken and stops.

use super::ledger::item::{self, integer, string, Item};
use super::StoreError;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

/// The key of one checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckpointKey(String);

impl CheckpointKey {
    /// The checkpoint of one scan segment of `job`'s pass.
    pub fn segment(job: &str, segment: u32) -> Self {
        Self(format!("CHECKPOINT#{job}#{segment}"))
    }

    /// The checkpoint of `job`'s pass as a whole (e.g. its published result).
    pub fn pass(job: &str) -> Self {
        Self(format!("CHECKPOINT#{job}#pass"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored checkpoint: the job's state and the version a save must start from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint<T> {
    /// 1 after the first save, one more after each.
    pub version: u64,
    pub state: T,
}

/// Checkpoints, in domain terms.
pub trait CheckpointStore {
    /// The checkpoint under `key`, if any was saved (consistent read).
    fn load<T: DeserializeOwned + Send>(
        &self,
        key: &CheckpointKey,
    ) -> impl Future<Output = Result<Option<Checkpoint<T>>, StoreError>> + Send;

    /// Saves `state` under `key` as the version after `version` (0: never saved), at `at`.
    /// False, and nothing written, when another run saved a different version meanwhile.
    fn save<T: Serialize + Sync>(
        &self,
        key: &CheckpointKey,
        version: u64,
        state: &T,
        at: BusinessTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

const VERSION: &str = "v";
const STATE: &str = "state";
const SAVED_AT: &str = "saved_at";

#[derive(Clone, Debug)]
pub struct DynamoCheckpoints {
    client: Client,
    table: String,
}

impl DynamoCheckpoints {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn corrupt(key: &CheckpointKey, why: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: key.as_str().to_owned(),
        why: why.to_string(),
    }
}

fn decode<T: DeserializeOwned>(
    key: &CheckpointKey,
    item: &Item,
) -> Result<Checkpoint<T>, StoreError> {
    let version = integer(item, VERSION)
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| corrupt(key, "no version"))?;
    let state = string(item, STATE).ok_or_else(|| corrupt(key, "no state"))?;
    let state = serde_json::from_str(&state).map_err(|e| corrupt(key, e))?;
    Ok(Checkpoint { version, state })
}

impl CheckpointStore for DynamoCheckpoints {
    async fn load<T: DeserializeOwned + Send>(
        &self,
        key: &CheckpointKey,
    ) -> Result<Option<Checkpoint<T>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.as_str().to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        output.item.map(|i| decode(key, &i)).transpose()
    }

    async fn save<T: Serialize + Sync>(
        &self,
        key: &CheckpointKey,
        version: u64,
        state: &T,
        at: BusinessTime,
    ) -> Result<bool, StoreError> {
        let state = serde_json::to_string(state).map_err(|e| corrupt(key, e))?;
        let next = version
            .checked_add(1)
            .ok_or_else(|| corrupt(key, "version overflow"))?;
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.as_str().to_owned()))
            .item(VERSION, item::number(next))
            .item(STATE, AttributeValue::S(state))
            .item(SAVED_AT, item::number(at.epoch_ms()));
        request = if version == 0 {
            request.condition_expression("attribute_not_exists(pk)")
        } else {
            request
                .condition_expression("#v = :read")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":read", item::number(version))
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::dynamo("PutItem", e)),
        }
    }
}

/// Checkpoints over memory, for other crates' fast tests (feature `memory`).
#[cfg(any(test, feature = "memory"))]
#[derive(Debug, Default)]
pub struct MemoryCheckpoints {
    saved: std::sync::Mutex<std::collections::BTreeMap<CheckpointKey, (u64, String)>>,
}

#[cfg(any(test, feature = "memory"))]
impl MemoryCheckpoints {
    fn with<R>(
        &self,
        f: impl FnOnce(&mut std::collections::BTreeMap<CheckpointKey, (u64, String)>) -> R,
    ) -> R {
        f(&mut self
            .saved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

#[cfg(any(test, feature = "memory"))]
impl CheckpointStore for MemoryCheckpoints {
    async fn load<T: DeserializeOwned + Send>(
        &self,
        key: &CheckpointKey,
    ) -> Result<Option<Checkpoint<T>>, StoreError> {
        let found = self.with(|saved| saved.get(key).cloned());
        found
            .map(|(version, state)| {
                let state = serde_json::from_str(&state).map_err(|e| corrupt(key, e))?;
                Ok(Checkpoint { version, state })
            })
            .transpose()
    }

    async fn save<T: Serialize + Sync>(
        &self,
        key: &CheckpointKey,
        version: u64,
        state: &T,
        _at: BusinessTime,
    ) -> Result<bool, StoreError> {
        let state = serde_json::to_string(state).map_err(|e| corrupt(key, e))?;
        Ok(self.with(|saved| {
            let current = saved.get(key).map_or(0, |(v, _)| *v);
            if current != version {
                return false;
            }
            saved.insert(key.clone(), (version.saturating_add(1), state));
            true
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_job_and_the_part() {
        assert_eq!(
            CheckpointKey::segment("ExpireLots", 3).as_str(),
            "CHECKPOINT#ExpireLots#3"
        );
        assert_eq!(
            CheckpointKey::pass("Audit").as_str(),
            "CHECKPOINT#Audit#pass"
        );
    }

    #[tokio::test]
    async fn a_save_from_a_stale_version_is_refused() {
        let store = MemoryCheckpoints::default();
        let key = CheckpointKey::segment("Audit", 0);
        let at = BusinessTime::from_epoch_ms(0).unwrap();
        assert!(store.save(&key, 0, &"first", at).await.unwrap());
        assert!(!store.save(&key, 0, &"overtaken", at).await.unwrap());
        assert!(store.save(&key, 1, &"second", at).await.unwrap());
        let saved: Checkpoint<String> = store.load(&key).await.unwrap().unwrap();
        assert_eq!((saved.version, saved.state.as_str()), (2, "second"));
    }
}
