//! Storage adapters: repository traits in domain terms with their DynamoDB implementations
//! (DESIGN §4). Every write path reports what it cost through `wru`.

pub mod catalog;
pub mod checkpoints;
pub mod compensations;
pub mod dedup;
pub mod delivery_rules;
pub mod dispatching;
pub mod erase;
mod error;
pub mod ledger;
pub mod members;
pub mod orders;
pub mod placing;
pub mod pos;
pub mod refunds;
pub mod reminders;
pub mod rhythm;
pub mod rounds;
pub mod rules;
pub mod weather;
pub mod wru;

pub use error::StoreError;

/// Pages one `scan_all` or `query_all` reads at most (STYLE 16).
const MAX_PAGES: usize = 1_000_000;

/// Every item `scan` returns, page after page.
pub(crate) async fn scan_all(
    scan: aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
) -> Result<Vec<ledger::item::Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    for _ in 0..MAX_PAGES {
        let page = scan
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Scan", e))?;
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(next) if !next.is_empty() => start = Some(next),
            _ => break,
        }
    }
    Ok(items)
}

/// Every item `query` returns, page after page.
pub(crate) async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<ledger::item::Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    for _ in 0..MAX_PAGES {
        let page = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(next) if !next.is_empty() => start = Some(next),
            _ => break,
        }
    }
    Ok(items)
}

/// Which items of a cancelled transaction failed their condition, by position (None: the
/// error is not a cancellation, e.g. throttling).
pub(crate) fn condition_failed(
    error: Option<&aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError>,
) -> Option<Vec<bool>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match error {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

/// What a conditional UpdateItem found: true when it wrote, false when its condition failed.
pub(crate) fn conditional_update<R: std::fmt::Debug + Send + Sync + 'static>(
    sent: Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::update_item::UpdateItemError,
            R,
        >,
    >,
) -> Result<bool, StoreError> {
    match sent {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::dynamo("UpdateItem", e)),
    }
}

/// The item with `key`, read strongly consistently (what every store reads before it decides).
pub(crate) async fn get_consistent(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: ledger::item::Item,
) -> Result<Option<ledger::item::Item>, StoreError> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| StoreError::dynamo("GetItem", e))?;
    Ok(output.item)
}

/// The items with `keys` (at most 100, none twice) in `table`, read strongly consistently with
/// BatchGetItem; keys DynamoDB leaves unprocessed (throttling) are asked again after a growing
/// pause, at most `rounds` times in all.
pub(crate) async fn batch_get_consistent(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    mut keys: Vec<ledger::item::Item>,
    rounds: u32,
) -> Result<Vec<ledger::item::Item>, StoreError> {
    let mut found = Vec::new();
    let mut round = 0u32;
    while !keys.is_empty() {
        round += 1;
        if round > rounds {
            return Err(StoreError::Contended { attempts: rounds });
        }
        if round > 1 {
            let pause_ms = 10u64.saturating_mul(1 << round.min(8));
            tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        }
        let asked = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
            .set_keys(Some(std::mem::take(&mut keys)))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::dynamo("BatchGetItem", e))?;
        let output = client
            .batch_get_item()
            .request_items(table, asked)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("BatchGetItem", e))?;
        found.extend(
            output
                .responses
                .and_then(|mut r| r.remove(table))
                .unwrap_or_default(),
        );
        keys = output
            .unprocessed_keys
            .and_then(|mut u| u.remove(table))
            .map(|k| k.keys)
            .unwrap_or_default();
    }
    Ok(found)
}

/// Puts `item`, replacing any item with its key (caches and catalog data, never postings).
pub(crate) async fn put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    item: ledger::item::Item,
) -> Result<(), StoreError> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| StoreError::dynamo("PutItem", e))?;
    Ok(())
}

/// Puts `item` unless an item with its key exists (`attribute_not_exists(pk)`): true when this
/// call wrote it, false when one was there already.
pub(crate) async fn put_if_absent(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    item: ledger::item::Item,
) -> Result<bool, StoreError> {
    let sent = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    match sent {
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
