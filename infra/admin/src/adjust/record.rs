//! The record of who made an adjustment and why, beside its posting in the member's partition:
//! `MEMBER#<id>` / `ADJUST#<ticket>` {`posting_id`, `points`, `reason`, `operator`, `at` ms,
//! `at_text`}. Not a posting: the audit, the history index and the scans of profiles pass it by.

use crate::tables::LedgerTable;
use aws_sdk_dynamodb::types::AttributeValue;
use linli::ids::{MemberId, TicketId};
use linli::ledger::PostingRequest;
use linli::store::StoreError;
use std::collections::HashMap;

/// The record of who made an adjustment and why.
pub struct Record {
    pub points: i64,
    pub reason: String,
    pub operator: String,
}

fn record_key(member: &MemberId, ticket: &TicketId) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            "pk".to_owned(),
            AttributeValue::S(format!("MEMBER#{member}")),
        ),
        (
            "sk".to_owned(),
            AttributeValue::S(format!("ADJUST#{ticket}")),
        ),
    ])
}

/// Puts the record unless one exists; answers the existing one (a retry, or a reused ticket).
pub async fn put_record(
    table: &LedgerTable,
    member: &MemberId,
    ticket: &TicketId,
    request: &PostingRequest,
    record: &Record,
) -> Result<Option<Record>, StoreError> {
    let mut item = record_key(member, ticket);
    let s = |v: &str| AttributeValue::S(v.to_owned());
    item.insert("posting_id".into(), s(request.id.as_str()));
    item.insert(
        "points".into(),
        AttributeValue::N(record.points.to_string()),
    );
    item.insert("reason".into(), s(&record.reason));
    item.insert("operator".into(), s(&record.operator));
    // Not `posted_at`: that would put the record in the history index among the postings.
    item.insert(
        "at".into(),
        AttributeValue::N(request.at.epoch_ms().to_string()),
    );
    item.insert("at_text".into(), s(&request.at.to_string()));
    let sent = table
        .client
        .put_item()
        .table_name(&table.name)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    match sent {
        Ok(_) => Ok(None),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            read_record(table, member, ticket).await
        }
        Err(e) => Err(dynamo("PutItem", e)),
    }
}

pub async fn read_record(
    table: &LedgerTable,
    member: &MemberId,
    ticket: &TicketId,
) -> Result<Option<Record>, StoreError> {
    let output = table
        .client
        .get_item()
        .table_name(&table.name)
        .set_key(Some(record_key(member, ticket)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| dynamo("GetItem", e))?;
    let Some(item) = output.item else {
        return Ok(None);
    };
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    let points = match item.get("points") {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    };
    let points = points.ok_or_else(|| StoreError::Corrupt {
        key: format!("MEMBER#{member}/ADJUST#{ticket}"),
        why: "no points".to_owned(),
    })?;
    Ok(Some(Record {
        points,
        reason: text("reason"),
        operator: text("operator"),
    }))
}

pub async fn forget_record(
    table: &LedgerTable,
    member: &MemberId,
    ticket: &TicketId,
) -> Result<(), StoreError> {
    table
        .client
        .delete_item()
        .table_name(&table.name)
        .set_key(Some(record_key(member, ticket)))
        .send()
        .await
        .map_err(|e| dynamo("DeleteItem", e))?;
    Ok(())
}

fn dynamo(operation: &'static str, error: impl std::error::Error) -> StoreError {
    StoreError::Dynamo {
        operation,
        message: aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
    }
}
