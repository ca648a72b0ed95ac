//! Recurring round templates (`groupbuy::template`) in the GroupBuys table, one item each under
//! their own partition: `TEMPLATE#<id>` / `TEMPLATE`.

use super::DynamoRounds;
use crate::groupbuy::template::Template;
use crate::ids::TemplateId;
use crate::store::ledger::item::{key, Item};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;

const TEMPLATE_SK: &str = "TEMPLATE";

fn template_pk(id: &TemplateId) -> String {
    format!("TEMPLATE#{id}")
}

fn corrupt(id: &TemplateId, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: template_pk(id),
        why: e.to_string(),
    }
}

impl DynamoRounds {
    /// Stores a new template; false when one with its id exists.
    pub async fn create_template(&self, template: &Template) -> Result<bool, StoreError> {
        let id = &template.template_id;
        let mut item: Item = serde_dynamo::to_item(template).map_err(|e| corrupt(id, e))?;
        item.extend(key(template_pk(id), TEMPLATE_SK.to_owned()));
        crate::store::put_if_absent(&self.client, &self.table, item).await
    }

    pub async fn template(&self, id: &TemplateId) -> Result<Option<Template>, StoreError> {
        let found = crate::store::get_consistent(
            &self.client,
            &self.table,
            key(template_pk(id), TEMPLATE_SK.to_owned()),
        )
        .await?;
        found
            .map(|item| serde_dynamo::from_item(item).map_err(|e| corrupt(id, e)))
            .transpose()
    }

    /// Every template (operators' listing: a scan, not for request paths).
    pub async fn templates(&self) -> Result<Vec<Template>, StoreError> {
        let items = self.scan_sk(TEMPLATE_SK).await?;
        let mut templates = items
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
                    key: TEMPLATE_SK.into(),
                    why: e.to_string(),
                })
            })
            .collect::<Result<Vec<Template>, _>>()?;
        templates.sort_by(|a, b| a.template_id.as_str().cmp(b.template_id.as_str()));
        Ok(templates)
    }

    /// Stops a template (no further rounds open; open ones run to their cutoff); false when
    /// there is no such template.
    pub async fn stop_template(&self, id: &TemplateId) -> Result<bool, StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(template_pk(id), TEMPLATE_SK.to_owned())))
            .update_expression("SET active = :off")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":off", AttributeValue::Bool(false))
            .send()
            .await;
        crate::store::conditional_update(sent)
    }
}
