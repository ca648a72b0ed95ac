//! Purchase rhythms for repurchase reminders: `MEMBER#<id>` / `RHYTHM` in the `Ledger` table,
//! per SKU `c#<sku>` purchases, `f#<sku>` / `l#<sku>` first and last day, `n#<sku>` its name —
//! counted by pay-notify when an order is first marked paid.

use super::ledger::item::Item;
use super::reminders::{n, s, DynamoReminders};
use super::StoreError;
use crate::ids::MemberId;
use crate::rules::reminders::SkuRhythm;
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::future::Future;

const RHYTHM_SK: &str = "RHYTHM";

/// One purchased line for the rhythm (SKU and its name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchased {
    pub sku: String,
    pub name: String,
}

pub trait RhythmStore {
    /// Counts a paid order's SKUs on `day` toward the member's purchase rhythm.
    fn record_purchase(
        &self,
        member: &MemberId,
        lines: &[Purchased],
        day: NaiveDate,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn rhythm(
        &self,
        member: &MemberId,
    ) -> impl Future<Output = Result<BTreeMap<String, SkuRhythm>, StoreError>> + Send;
}

fn decode_rhythm(item: &Item) -> BTreeMap<String, SkuRhythm> {
    let text = |name: String| item.get(&name).and_then(|v| v.as_s().ok()).cloned();
    let day = |name: String| text(name).and_then(|d| d.parse::<NaiveDate>().ok());
    item.iter()
        .filter_map(|(name, value)| {
            let sku = name.strip_prefix("c#")?;
            let count = value.as_n().ok()?.parse::<u32>().ok()?;
            let rhythm = SkuRhythm {
                name: text(format!("n#{sku}")).unwrap_or_else(|| sku.to_owned()),
                count,
                first: day(format!("f#{sku}"))?,
                last: day(format!("l#{sku}"))?,
            };
            Some((sku.to_owned(), rhythm))
        })
        .collect()
}

impl RhythmStore for DynamoReminders {
    async fn record_purchase(
        &self,
        member: &MemberId,
        lines: &[Purchased],
        day: NaiveDate,
    ) -> Result<(), StoreError> {
        let mut seen = std::collections::BTreeSet::new();
        let lines: Vec<&Purchased> = lines
            .iter()
            .filter(|l| seen.insert(&l.sku))
            .take(25)
            .collect();
        if lines.is_empty() {
            return Ok(());
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(member, RHYTHM_SK)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":day", s(day.to_string()));
        let (mut sets, mut adds) = (Vec::new(), Vec::new());
        for (i, line) in lines.iter().enumerate() {
            for (prefix, tag) in [("c", "c"), ("f", "f"), ("l", "l"), ("n", "n")] {
                update = update.expression_attribute_names(
                    format!("#{tag}{i}"),
                    format!("{prefix}#{}", line.sku),
                );
            }
            update = update.expression_attribute_values(format!(":n{i}"), s(line.name.clone()));
            adds.push(format!("#c{i} :one"));
            sets.push(format!(
                "#f{i} = if_not_exists(#f{i}, :day), #l{i} = :day, #n{i} = :n{i}"
            ));
        }
        update
            .update_expression(format!("SET {} ADD {}", sets.join(", "), adds.join(", ")))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    async fn rhythm(&self, member: &MemberId) -> Result<BTreeMap<String, SkuRhythm>, StoreError> {
        let item = self.get(member, RHYTHM_SK).await?;
        Ok(item.map(|i| decode_rhythm(&i)).unwrap_or_default())
    }
}
