//! Reminders' data in the `Ledger` table, beside the member's profile:
//!
//! | sk | attributes |
//! |---|---|
//! | `CONSENT` | `openid` (mini-program), `t#<template>`: consents left (one per accepted request) |
//! | `REMINDED#<cause>` | `template`, `at` ms: this cause was reminded (once, ever) |
//! | `REMINDED#day:<date>` | the member had a reminder that business day (one a day) |
//!
//! A send is claimed in one transaction that writes the cause's and the day's `REMINDED#` items
//! (only if absent) and takes one consent (only if one is left); a send that failed for a passing reason
//! is released (the item deleted, the consent given back) so the next run tries again.

use super::ledger::item::{key, member_pk, Item};
use super::StoreError;
use crate::ids::{MemberId, OpenId};
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;

const CONSENT_SK: &str = "CONSENT";
const TEMPLATE_PREFIX: &str = "t#";

/// A member's consents: where messages go and how many each template has left.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consents {
    pub openid: Option<String>,
    pub left: BTreeMap<String, u32>,
}

impl Consents {
    pub fn any(&self) -> bool {
        self.openid.is_some() && self.left.values().any(|n| *n > 0)
    }
}

/// What claiming a send found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// The cause is now marked reminded and one consent taken: send.
    Claimed,
    /// This cause was reminded before.
    AlreadyReminded,
    /// The member had a reminder today already (at most one a day).
    AlreadyToday,
    /// No consent left for the template.
    NoConsent,
}

pub trait ReminderStore {
    /// Adds one consent for each of `templates` and records where messages go; answers the
    /// consents left afterwards.
    fn add_consents(
        &self,
        member: &MemberId,
        openid: &OpenId,
        templates: &[String],
    ) -> impl Future<Output = Result<Consents, StoreError>> + Send;

    fn consents(
        &self,
        member: &MemberId,
    ) -> impl Future<Output = Result<Consents, StoreError>> + Send;

    /// The consents of up to 100 members in one round trip (members without any are absent).
    fn consents_of(
        &self,
        members: &[MemberId],
    ) -> impl Future<Output = Result<HashMap<MemberId, Consents>, StoreError>> + Send;

    /// Marks `cause` reminded and today's reminder sent, and takes one consent for `template`:
    /// all three or nothing.
    fn claim(
        &self,
        member: &MemberId,
        template: &str,
        cause: &str,
        at: BusinessTime,
    ) -> impl Future<Output = Result<Claimed, StoreError>> + Send;

    /// Marks `cause` notified and takes one consent for `template` — a message the member is
    /// owed (a compensation), so not limited to one a day. `AlreadyReminded` when it was sent.
    fn claim_notice(
        &self,
        member: &MemberId,
        template: &str,
        cause: &str,
        at: BusinessTime,
    ) -> impl Future<Output = Result<Claimed, StoreError>> + Send;

    /// Undoes a claim (made at `at`) whose message WeChat did not take: the cause and the day
    /// are free again, and the consent is given back when `give_back`.
    fn release(
        &self,
        member: &MemberId,
        template: &str,
        cause: &str,
        at: BusinessTime,
        give_back: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// WeChat says the member has no consent left for `template`: none are counted any more.
    fn drop_consents(
        &self,
        member: &MemberId,
        template: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Clone, Debug)]
pub struct DynamoReminders {
    pub(super) client: Client,
    pub(super) table: String,
}

impl DynamoReminders {
    /// The reminders' items live in the `Ledger` table.
    pub fn new(client: Client, ledger_table: impl Into<String>) -> Self {
        Self {
            client,
            table: ledger_table.into(),
        }
    }

    pub(super) fn key(member: &MemberId, sk: &str) -> Item {
        key(member_pk(member), sk.to_owned())
    }

    pub(super) async fn get(
        &self,
        member: &MemberId,
        sk: &str,
    ) -> Result<Option<Item>, StoreError> {
        super::get_consistent(&self.client, &self.table, Self::key(member, sk)).await
    }
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn decode_consents(item: &Item) -> Consents {
    let openid = match item.get("openid") {
        Some(AttributeValue::S(o)) => Some(o.clone()),
        _ => None,
    };
    let left = item
        .iter()
        .filter_map(|(name, value)| {
            let template = name.strip_prefix(TEMPLATE_PREFIX)?;
            let count = value.as_n().ok()?.parse::<u32>().ok()?;
            Some((template.to_owned(), count))
        })
        .collect();
    Consents { openid, left }
}

/// The marker of the day (business date) a member was reminded.
fn day_sk(at: BusinessTime) -> String {
    format!("REMINDED#day:{}", at.date())
}

impl DynamoReminders {
    /// The claim of a send: the cause's marker, the day's (when `daily`) and one consent.
    async fn claim_sending(
        &self,
        member: &MemberId,
        template: &str,
        cause: &str,
        at: BusinessTime,
        daily: bool,
    ) -> Result<Claimed, StoreError> {
        let marker = |sk: String| {
            let mut item = Self::key(member, &sk);
            item.insert("template".to_owned(), s(template));
            item.insert("at".to_owned(), n(at.epoch_ms()));
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::dynamo("TransactWriteItems", e))
        };
        let put = marker(format!("REMINDED#{cause}"))?;
        let take = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(member, CONSENT_SK)))
            .update_expression("SET #t = #t - :one")
            .condition_expression("#t > :zero")
            .expression_attribute_names("#t", format!("{TEMPLATE_PREFIX}{template}"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        if daily {
            items.push(
                TransactWriteItem::builder()
                    .put(marker(day_sk(at))?)
                    .build(),
            );
        }
        items.push(TransactWriteItem::builder().update(take).build());
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let failed = match sent {
            Ok(_) => return Ok(Claimed::Claimed),
            Err(error) => match super::condition_failed(error.as_service_error()) {
                Some(failed) => failed,
                None => return Err(StoreError::dynamo("TransactWriteItems", error)),
            },
        };
        // Which condition failed, in the order of the items.
        let mut kinds = vec![Claimed::AlreadyReminded];
        if daily {
            kinds.push(Claimed::AlreadyToday);
        }
        kinds.push(Claimed::NoConsent);
        kinds
            .into_iter()
            .zip(failed)
            .find_map(|(kind, failed)| failed.then_some(kind))
            .ok_or_else(|| StoreError::Dynamo {
                operation: "TransactWriteItems",
                message: "cancelled without a failed condition".into(),
            })
    }
}

impl ReminderStore for DynamoReminders {
    async fn add_consents(
        &self,
        member: &MemberId,
        openid: &OpenId,
        templates: &[String],
    ) -> Result<Consents, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(member, CONSENT_SK)))
            .expression_attribute_names("#o", "openid")
            .expression_attribute_values(":o", s(openid.as_str()))
            .expression_attribute_values(":one", n(1));
        let mut adds = Vec::new();
        for (i, template) in templates.iter().enumerate() {
            update = update.expression_attribute_names(
                format!("#t{i}"),
                format!("{TEMPLATE_PREFIX}{template}"),
            );
            adds.push(format!("#t{i} :one"));
        }
        let mut expression = "SET #o = :o".to_owned();
        if !adds.is_empty() {
            expression.push_str(&format!(" ADD {}", adds.join(", ")));
        }
        let out = update
            .update_expression(expression)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(out
            .attributes
            .map(|a| decode_consents(&a))
            .unwrap_or_default())
    }

    async fn consents(&self, member: &MemberId) -> Result<Consents, StoreError> {
        let item = self.get(member, CONSENT_SK).await?;
        Ok(item.map(|i| decode_consents(&i)).unwrap_or_default())
    }

    async fn consents_of(
        &self,
        members: &[MemberId],
    ) -> Result<HashMap<MemberId, Consents>, StoreError> {
        let mut found = HashMap::new();
        if members.is_empty() {
            return Ok(found);
        }
        let keys: Vec<Item> = members.iter().map(|m| Self::key(m, CONSENT_SK)).collect();
        for item in super::batch_get_consistent(&self.client, &self.table, keys, 5).await? {
            let member = match item.get("pk") {
                Some(AttributeValue::S(pk)) => pk
                    .strip_prefix("MEMBER#")
                    .and_then(|m| MemberId::parse(m).ok()),
                _ => None,
            };
            if let Some(member) = member {
                found.insert(member, decode_consents(&item));
            }
        }
        Ok(found)
    }

    async fn claim(
        &self,
        member: &MemberId,
        template: &str,
        cause: &str,
        at: BusinessTime,
    ) -> Result<Claimed, StoreError> {
        self.claim_sending(member, template, cause, at, true).await
    }

    async fn claim_notice(
        &self,
        member: &MemberId,
        template: &str,
        cause: &str,
        at: BusinessTime,
    ) -> Result<Claimed, StoreError> {
        self.claim_sending(member, template, cause, at, false).await
    }

    async fn release(
        &self,
        member: &MemberId,
        template: &str,
        cause: &str,
        at: BusinessTime,
        give_back: bool,
    ) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(member, &format!("REMINDED#{cause}"))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        let today = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(member, &day_sk(at))))
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        let consent = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(member, CONSENT_SK)))
            .update_expression("ADD #t :one")
            .expression_attribute_names("#t", format!("{TEMPLATE_PREFIX}{template}"))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        let mut items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().delete(today).build(),
        ];
        if give_back {
            items.push(TransactWriteItem::builder().update(consent).build());
        }
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // Released before (a retry of the release): nothing more to give back.
            Err(error)
                if super::condition_failed(error.as_service_error())
                    .is_some_and(|c| c.first() == Some(&true)) =>
            {
                Ok(())
            }
            Err(error) => Err(StoreError::dynamo("TransactWriteItems", error)),
        }
    }

    async fn drop_consents(&self, member: &MemberId, template: &str) -> Result<(), StoreError> {
        let dropped = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(member, CONSENT_SK)))
            .update_expression("SET #t = :zero")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#t", format!("{TEMPLATE_PREFIX}{template}"))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match dropped {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(StoreError::dynamo("UpdateItem", e)),
        }
    }
}
