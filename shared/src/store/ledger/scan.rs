//! Walking the whole ledger, for the jobs that must see every member: the daily audit, the
//! monthly expiry and the operator's reports. A parallel `Scan` of the `PROFILE` items, page by
//! page with a resumable cursor, and each member's postings by a `Query` on its partition.

use super::dynamo::DynamoLedger;
use super::item::{self, decode_posting, decode_profile_unchecked, string, Item, PK, SK};
use crate::ids::MemberId;
use crate::ledger::{Posting, Profile};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// One page of a scan segment's member profiles.
#[derive(Debug, Default)]
pub struct ProfilePage {
    /// Profiles as stored: their invariants are not checked here (the audit checks them). A
    /// profile item that cannot be read at all is reported with its key.
    pub profiles: Vec<Result<Profile, StoreError>>,
    /// Where the next page starts; None when the segment is done. Opaque, safe to store.
    pub next: Option<String>,
}

fn cursor_of(key: &Item) -> Option<String> {
    let pk = string(key, PK)?;
    let sk = string(key, SK)?;
    serde_json::to_string(&[pk, sk]).ok()
}

fn key_of(cursor: &str) -> Result<Item, StoreError> {
    let [pk, sk]: [String; 2] = serde_json::from_str(cursor).map_err(|e| StoreError::Corrupt {
        key: "scan cursor".to_owned(),
        why: e.to_string(),
    })?;
    Ok(item::key(pk, sk))
}

impl DynamoLedger {
    /// One page of the member profiles of scan segment `segment` of `segments`, from `cursor`
    /// (None: the segment's start). At most `limit` items are examined per page, postings
    /// included, so a page may hold few profiles or none while `next` is still set.
    pub async fn profiles_page(
        &self,
        segment: u32,
        segments: u32,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<ProfilePage, StoreError> {
        let start = cursor.map(key_of).transpose()?;
        let as_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(as_i32(segment))
            .total_segments(as_i32(segments.max(1)))
            .filter_expression("#sk = :profile")
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":profile", AttributeValue::S(item::PROFILE_SK.to_owned()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Scan", e))?;
        Ok(ProfilePage {
            profiles: output
                .items()
                .iter()
                .map(decode_profile_unchecked)
                .collect(),
            next: output.last_evaluated_key().and_then(cursor_of),
        })
    }

    /// The member's profile as stored, broken invariants included (consistent read): the audit
    /// reads it again after the postings to know it saw both at one moment.
    pub async fn profile_as_stored(
        &self,
        member: &MemberId,
    ) -> Result<Option<Profile>, StoreError> {
        match self.get(item::profile_key(member)).await? {
            Some(found) => decode_profile_unchecked(&found).map(Some),
            None => Ok(None),
        }
    }

    /// Every posting of `member`, oldest id first (consistent; all pages).
    pub async fn all_postings(&self, member: &MemberId) -> Result<Vec<Posting>, StoreError> {
        let mut postings = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :posting)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(item::member_pk(member)))
                .expression_attribute_values(":posting", AttributeValue::S("POSTING#".to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            for item in output.items() {
                postings.push(decode_posting(item)?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(postings),
            }
        }
    }
}
