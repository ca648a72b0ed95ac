//! Erasing a member's personal data (PIPL; `linli-admin member erase`). What identifies a person
//! goes; what the ledger owes stays, under the member id, which then names no one (a pseudonym):
//! - the identity items mapping OpenIDs/UnionID to the member (`IDENTITY#…`, found by a scan
//!   of the Ledger table: erasure is rare, and no hot path keeps a reverse index for it);
//! - the subscribe-message consents (they hold the mini-program OpenID) and the invite code;
//! - in each of the member's orders (index `by_member`): the payer's OpenID, the delivery
//!   address, and the riders' names and phones in the dispatch record.
//!
//! Postings, profile, lots and holds are untouched, so the ledger audit still balances. Each
//! step is idempotent; an `ERASED` item beside the profile records when it was done. A member
//! asks with `DELETE /api/me` (`request`: an `ERASE_REQUEST` item the erasure removes).

use super::ledger::item::{key, member_pk, Item};
use super::{conditional_update, StoreError};
use crate::ids::MemberId;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::Value;

/// The OpenID left on an erased member's orders.
pub const ERASED_OPENID: &str = "erased";

/// What one erasure removed (a second run finds nothing left).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub identities: u32,
    pub consents: bool,
    pub invite: bool,
    pub orders: u32,
    /// True when an earlier run had recorded the erasure.
    pub before: bool,
}

/// Erases `member`'s personal data from the Ledger and Orders tables at `at`.
pub async fn erase_member(
    client: &Client,
    ledger_table: &str,
    orders_table: &str,
    member: &MemberId,
    at: BusinessTime,
) -> Result<Erased, StoreError> {
    let mut erased = Erased::default();
    for identity in identity_keys(client, ledger_table, member).await? {
        let deleted = client
            .delete_item()
            .table_name(ledger_table)
            .set_key(Some(identity))
            .condition_expression("#m = :m")
            .expression_attribute_names("#m", "member")
            .expression_attribute_values(":m", AttributeValue::S(member.to_string()))
            .send()
            .await;
        match deleted {
            Ok(_) => erased.identities += 1,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(StoreError::dynamo("DeleteItem", e)),
        }
    }
    erased.consents = delete(
        client,
        ledger_table,
        key(member_pk(member), "CONSENT".into()),
    )
    .await?;
    erased.invite = delete(
        client,
        ledger_table,
        key(member_pk(member), "INVITE".into()),
    )
    .await?;
    for order in order_keys(client, orders_table, member).await? {
        if scrub_order(client, orders_table, order).await? {
            erased.orders += 1;
        }
    }
    // The member's request, if any, is done.
    delete(
        client,
        ledger_table,
        key(member_pk(member), REQUEST_SK.into()),
    )
    .await?;
    let mut record: Item = key(member_pk(member), "ERASED".into());
    record.insert("at".into(), AttributeValue::N(at.epoch_ms().to_string()));
    erased.before = !super::put_if_absent(client, ledger_table, record).await?;
    tracing::info!(member = %member.masked(), identities = erased.identities, orders = erased.orders, "member's personal data erased");
    Ok(erased)
}

/// The sort key of a member's pending erasure request (beside the profile).
const REQUEST_SK: &str = "ERASE_REQUEST";

/// Records `member`'s request to be erased at `at`, once; answers when it was first asked.
pub async fn request(
    client: &Client,
    ledger_table: &str,
    member: &MemberId,
    at: BusinessTime,
) -> Result<BusinessTime, StoreError> {
    let mut item: Item = key(member_pk(member), REQUEST_SK.into());
    item.insert("at".into(), AttributeValue::N(at.epoch_ms().to_string()));
    if super::put_if_absent(client, ledger_table, item).await? {
        return Ok(at);
    }
    let stored = super::get_consistent(
        client,
        ledger_table,
        key(member_pk(member), REQUEST_SK.into()),
    )
    .await?;
    let first = stored
        .and_then(|i| {
            i.get("at")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
        })
        .and_then(|ms| BusinessTime::from_epoch_ms(ms).ok());
    Ok(first.unwrap_or(at))
}

/// The members whose erasure requests are pending (a scan of the Ledger table).
pub async fn requested(client: &Client, ledger_table: &str) -> Result<Vec<MemberId>, StoreError> {
    let scan = client
        .scan()
        .table_name(ledger_table)
        .filter_expression("sk = :request")
        .expression_attribute_values(":request", AttributeValue::S(REQUEST_SK.into()))
        .projection_expression("pk");
    let members = super::scan_all(scan).await?.into_iter().filter_map(|item| {
        let pk = item.get("pk").and_then(|v| v.as_s().ok())?;
        MemberId::parse(pk.strip_prefix("MEMBER#")?).ok()
    });
    Ok(members.collect())
}

/// Deletes one item; true when it existed.
async fn delete(client: &Client, table: &str, item_key: Item) -> Result<bool, StoreError> {
    let out = client
        .delete_item()
        .table_name(table)
        .set_key(Some(item_key))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
    Ok(out.attributes.is_some_and(|a| !a.is_empty()))
}

async fn identity_keys(
    client: &Client,
    table: &str,
    member: &MemberId,
) -> Result<Vec<Item>, StoreError> {
    let scan = client
        .scan()
        .table_name(table)
        .filter_expression("sk = :identity AND #m = :m")
        .expression_attribute_names("#m", "member")
        .expression_attribute_values(":identity", AttributeValue::S("IDENTITY".into()))
        .expression_attribute_values(":m", AttributeValue::S(member.to_string()))
        .projection_expression("pk, sk");
    super::scan_all(scan).await
}

async fn order_keys(
    client: &Client,
    table: &str,
    member: &MemberId,
) -> Result<Vec<Item>, StoreError> {
    let query = client
        .query()
        .table_name(table)
        .index_name("by_member")
        .key_condition_expression("#m = :m")
        .expression_attribute_names("#m", "member")
        .expression_attribute_values(":m", AttributeValue::S(member.to_string()));
    let keys = super::query_all(query)
        .await?
        .into_iter()
        .filter_map(|item| {
            let (pk, sk) = (item.get("pk")?, item.get("sk")?);
            Some(Item::from([
                ("pk".to_owned(), pk.clone()),
                ("sk".to_owned(), sk.clone()),
            ]))
        });
    Ok(keys.collect())
}

/// Blanks the phones and riders' names anywhere in a dispatch record (JSON).
fn scrub(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let rider = map.contains_key("phone");
            for (name, inner) in map.iter_mut() {
                match name.as_str() {
                    "phone" => *inner = Value::String(String::new()),
                    "name" if rider => *inner = Value::String("已删除".into()),
                    _ => scrub(inner),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// Takes the payer's OpenID, the address and the riders' contacts off one order (conditional
/// on its dispatch not moving meanwhile; tried again a few times). True when it changed.
async fn scrub_order(client: &Client, table: &str, order: Item) -> Result<bool, StoreError> {
    for _ in 0..5 {
        let Some(item) = super::get_consistent(client, table, order.clone()).await? else {
            return Ok(false);
        };
        let payer_left = item
            .get("payer")
            .and_then(|v| v.as_s().ok())
            .is_some_and(|p| p != ERASED_OPENID);
        let dispatch = item.get("dispatch").cloned();
        let mut scrubbed = dispatch.clone();
        if let Some(d) = &dispatch {
            let mut json: Value =
                serde_dynamo::from_attribute_value(d.clone()).map_err(|e| corrupt(&order, e))?;
            scrub(&mut json);
            scrubbed =
                Some(serde_dynamo::to_attribute_value(json).map_err(|e| corrupt(&order, e))?);
        }
        let changed = payer_left || item.contains_key("address") || scrubbed != dispatch;
        if !changed {
            return Ok(false);
        }
        let mut update = client
            .update_item()
            .table_name(table)
            .set_key(Some(order.clone()))
            .expression_attribute_values(":erased", AttributeValue::S(ERASED_OPENID.into()));
        update = match (&dispatch, scrubbed) {
            (Some(before), Some(after)) => update
                .update_expression("SET payer = :erased, dispatch = :after REMOVE address")
                .condition_expression("dispatch = :before")
                .expression_attribute_values(":before", before.clone())
                .expression_attribute_values(":after", after),
            _ => update
                .update_expression("SET payer = :erased REMOVE address")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(dispatch)"),
        };
        if conditional_update(update.send().await)? {
            return Ok(true);
        }
    }
    Err(StoreError::Contended { attempts: 5 })
}

fn corrupt(order: &Item, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: format!("{:?}", order.get("pk")),
        why: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn riders_contacts_are_blanked_wherever_they_are_and_nothing_else() {
        let mut dispatch = serde_json::json!({
            "version": 3,
            "waybill": {"platform": "dada", "riders": [{"name": "张师傅", "phone": "13800000000"}]},
            "ended": [{"riders": [{"name": "李师傅", "phone": "13900000000"}], "state": "cancelled"}],
        });
        scrub(&mut dispatch);
        assert_eq!(
            dispatch["waybill"]["riders"][0],
            serde_json::json!({"name": "已删除", "phone": ""})
        );
        assert_eq!(dispatch["ended"][0]["riders"][0]["phone"], "");
        assert_eq!(dispatch["waybill"]["platform"], "dada");
        assert_eq!(dispatch["version"], 3);
    }
}
