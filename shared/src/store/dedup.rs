//! The `Dedup` table (DESIGN §4): one item per inbound message, callback or notify, keyed
//! `<source>#<key>`, with its state (processing / done + the stored reply) and a TTL. WeChat
//! retries a message it got no answer for within 5 s, three times: a retry of a done message gets
//! the same reply and no new effect; a retry while the first is still processing gets a holding
//! answer. A claim left `processing` by a crash goes stale after `STALE_MS` and can be taken
//! again — safe, because every effect has a deterministic id. TTL deletes lazily (days late), so
//! expiry is checked on every claim, never assumed.

use super::ledger::item::{string, Item};
use super::StoreError;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use std::future::Future;

/// A `processing` claim older than this is presumed dead (its function timed out or crashed).
/// wechat-callback gives up on a message at its 4.3 s reply budget, so a claim older than 4.5 s
/// does nothing any more; WeChat resends an unanswered message 5 s after the first attempt, so
/// the resend after a crash is handled again rather than answered "no reply" (which would end
/// WeChat's retries and lose the member's tap; found by the sign-in burst of `make bench`).
pub const STALE_MS: i64 = 4_500;

/// What claiming a message found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First sight (or a stale or expired claim): handle it, then `complete`.
    Fresh,
    /// Another invocation is handling it right now.
    InProgress,
    /// Handled before: answer with the stored reply.
    Done(String),
}

pub trait DedupStore {
    /// Claims `key` at `now` for `ttl_ms`.
    fn claim(
        &self,
        key: &str,
        now: BusinessTime,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;
    /// Records the reply of a handled message.
    fn complete(
        &self,
        key: &str,
        reply: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Clone, Debug)]
pub struct DynamoDedup {
    client: Client,
    table: String,
}

impl DynamoDedup {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// What an existing item says, read at `now`.
fn existing(old: &Item, now: BusinessTime) -> Claim {
    let number = |name: &str| super::ledger::item::integer(old, name).unwrap_or(0);
    let expired = number("expires_at") <= now.epoch_ms() / 1000;
    match string(old, "state").as_deref() {
        _ if expired => Claim::Fresh,
        Some("done") => Claim::Done(string(old, "reply").unwrap_or_default()),
        _ if number("claimed_at") + STALE_MS <= now.epoch_ms() => Claim::Fresh,
        _ => Claim::InProgress,
    }
}

impl DedupStore for DynamoDedup {
    async fn claim(&self, key: &str, now: BusinessTime, ttl_ms: i64) -> Result<Claim, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_owned()))
            .item("state", AttributeValue::S("processing".into()))
            .item("claimed_at", n(now.epoch_ms()))
            .item("expires_at", n(now.plus_ms(ttl_ms).epoch_ms() / 1000))
            // Absent, expired (TTL is lazy) or a stale processing claim: ours now.
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at <= :now_s \
                 OR (#state = :processing AND claimed_at <= :stale)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now_s", n(now.epoch_ms() / 1000))
            .expression_attribute_values(":processing", AttributeValue::S("processing".into()))
            .expression_attribute_values(":stale", n(now.epoch_ms() - STALE_MS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Fresh),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(failed) => Ok(failed
                    .item
                    .map(|old| existing(&old, now))
                    .unwrap_or(Claim::InProgress)),
                other => Err(StoreError::dynamo("PutItem", other)),
            },
        }
    }

    async fn complete(&self, key: &str, reply: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression("SET #state = :done, reply = :reply")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .expression_attribute_values(":reply", AttributeValue::S(reply.to_owned()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn item(state: &str, claimed_at: i64, expires_s: i64) -> Item {
        HashMap::from([
            ("state".to_owned(), AttributeValue::S(state.into())),
            ("claimed_at".to_owned(), n(claimed_at)),
            ("expires_at".to_owned(), n(expires_s)),
            ("reply".to_owned(), AttributeValue::S("<xml>r</xml>".into())),
        ])
    }

    #[test]
    fn an_existing_claim_reads_as_done_in_progress_stale_or_expired() {
        let now = BusinessTime::from_epoch_ms(1_795_521_600_000).unwrap();
        let later = now.epoch_ms() / 1000 + 3600;
        assert_eq!(
            existing(&item("done", now.epoch_ms(), later), now),
            Claim::Done("<xml>r</xml>".into())
        );
        assert_eq!(
            existing(&item("processing", now.epoch_ms() - 1000, later), now),
            Claim::InProgress
        );
        assert_eq!(
            existing(&item("processing", now.epoch_ms() - STALE_MS, later), now),
            Claim::Fresh
        );
        assert_eq!(
            existing(&item("done", now.epoch_ms(), now.epoch_ms() / 1000), now),
            Claim::Fresh,
            "expired, TTL not yet run"
        );
    }
}
