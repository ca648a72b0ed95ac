//! Creates the template's tables in DynamoDB Local and its queues in the SQS stand-in, and
//! registers what `!Ref`/`!GetAtt` give for them.

use crate::stack::{default_name, QUEUE, TABLE};
use crate::template::{Physical, Resolver, Template, TemplateError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, LocalSecondaryIndex,
    Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{resource}: {what}")]
    Aws { resource: String, what: String },
}

fn aws(resource: &str, error: impl std::error::Error) -> ProvisionError {
    ProvisionError::Aws {
        resource: resource.to_owned(),
        what: aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
    }
}

fn props(template: &Template, resolver: &Resolver, id: &str) -> Result<Json, TemplateError> {
    let resource = &template.resources[id];
    resolver.resolve(
        template,
        &resource.properties,
        &format!("Resources.{id}.Properties"),
    )
}

fn str_of<'a>(value: &'a Json, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Json::as_str)
}

/// SQS attributes as CloudFormation names them, minus the redrive (set once every queue exists).
const QUEUE_ATTRIBUTES: [&str; 9] = [
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
];

fn attribute_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Creates every queue, then sets the redrive policies (which name other queues' ARNs).
pub async fn queues(
    template: &Template,
    resolver: &mut Resolver,
    sqs: &aws_sdk_sqs::Client,
) -> Result<Vec<String>, ProvisionError> {
    let ids: Vec<String> = template
        .of_kind(QUEUE, resolver)
        .map(|r| r.map(|(id, _)| id.clone()))
        .collect::<Result<_, _>>()?;
    let mut created = Vec::new();
    for id in &ids {
        let p = props(template, resolver, id)?;
        let fifo = p.get("FifoQueue") == Some(&Json::Bool(true))
            || str_of(&p, "FifoQueue") == Some("true");
        let name = match str_of(&p, "QueueName") {
            Some(name) => name.to_owned(),
            None if fifo => format!("{}.fifo", default_name(resolver, id)),
            None => default_name(resolver, id),
        };
        let mut attributes = HashMap::new();
        for key in QUEUE_ATTRIBUTES {
            if let Some(value) = p.get(key) {
                attributes.insert(QueueAttributeName::from(key), attribute_text(value));
            }
        }
        let url = queue(sqs, &name, attributes)
            .await
            .map_err(|e| aws(id, e))?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| aws(id, e))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_default();
        resolver.resources.insert(
            id.clone(),
            Physical {
                reference: url.clone(),
                attributes: BTreeMap::from([
                    ("Arn".to_owned(), arn),
                    ("QueueName".to_owned(), name.clone()),
                    ("QueueUrl".to_owned(), url),
                ]),
            },
        );
        created.push(name);
    }
    for id in &ids {
        let p = props(template, resolver, id)?;
        let Some(redrive) = p.get("RedrivePolicy") else {
            continue;
        };
        let redrive = match redrive {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        let url = resolver.resources[id].reference.clone();
        sqs.set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .map_err(|e| aws(id, e))?;
    }
    Ok(created)
}

fn scalar_type(text: &str) -> ScalarAttributeType {
    ScalarAttributeType::from(text)
}

fn key_schema(at: &str, value: Option<&Json>) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    let list = value
        .and_then(Json::as_array)
        .ok_or_else(|| TemplateError::Invalid {
            at: at.to_owned(),
            what: "KeySchema missing".to_owned(),
        })?;
    list.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(str_of(k, "AttributeName").unwrap_or_default())
                .key_type(KeyType::from(str_of(k, "KeyType").unwrap_or_default()))
                .build()
                .map_err(|e| aws(at, e))
        })
        .collect()
}

fn projection(value: Option<&Json>) -> Projection {
    let kind = value
        .and_then(|p| str_of(p, "ProjectionType"))
        .unwrap_or("ALL");
    let attrs = value
        .and_then(|p| p.get("NonKeyAttributes"))
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        });
    Projection::builder()
        .projection_type(ProjectionType::from(kind))
        .set_non_key_attributes(attrs)
        .build()
}

/// A table that existed already gets the global secondary indexes the template declared since
/// it was created (one `UpdateTable` each, as DynamoDB wants); the rest of it is left as it is.
async fn add_missing_indexes(
    dynamodb: &aws_sdk_dynamodb::Client,
    id: &str,
    table: &str,
    definitions: &[AttributeDefinition],
    wanted: Vec<GlobalSecondaryIndex>,
) -> Result<(), ProvisionError> {
    let described = dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| aws(id, e))?;
    let existing: Vec<String> = described
        .table()
        .map(|t| {
            t.global_secondary_indexes()
                .iter()
                .filter_map(|g| g.index_name().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for index in wanted {
        if existing.iter().any(|e| e == index.index_name()) {
            continue;
        }
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(index.index_name())
            .set_key_schema(Some(index.key_schema().to_vec()))
            .set_projection(index.projection().cloned())
            .build()
            .map_err(|e| aws(id, e))?;
        dynamodb
            .update_table()
            .table_name(table)
            .set_attribute_definitions(Some(definitions.to_vec()))
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder().create(create).build(),
            )
            .send()
            .await
            .map_err(|e| aws(id, e))?;
        wait_until_active(dynamodb, id, table, index.index_name()).await?;
        tracing::info!(
            table,
            index = index.index_name(),
            "index added to the existing table"
        );
    }
    Ok(())
}

/// Waits (at most 30 s) for a new index to be queryable: DynamoDB Local backfills it first.
async fn wait_until_active(
    dynamodb: &aws_sdk_dynamodb::Client,
    id: &str,
    table: &str,
    index: &str,
) -> Result<(), ProvisionError> {
    for _ in 0..150 {
        let described = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| aws(id, e))?;
        let active = described.table().is_some_and(|t| {
            t.global_secondary_indexes().iter().any(|g| {
                g.index_name() == Some(index) && g.index_status() == Some(&IndexStatus::Active)
            })
        });
        if active {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(ProvisionError::Aws {
        resource: id.to_owned(),
        what: format!("index {index} of {table} is still not active after 30 s"),
    })
}

/// Creates every table (keys, LSIs, GSIs) and turns on TTL where declared. An existing table
/// (a restarted devstack against the same DynamoDB Local) is kept, with any GSI the template
/// added since.
pub async fn tables(
    template: &Template,
    resolver: &Resolver,
    dynamodb: &aws_sdk_dynamodb::Client,
) -> Result<Vec<String>, ProvisionError> {
    let mut created = Vec::new();
    for found in template.of_kind(TABLE, resolver) {
        let (id, _) = found?;
        let p = props(template, resolver, id)?;
        let name = resolver.resources[id.as_str()].reference.clone();
        let mut request = dynamodb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(id, p.get("KeySchema"))?));
        let mut definitions = Vec::new();
        for a in p
            .get("AttributeDefinitions")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let definition = AttributeDefinition::builder()
                .attribute_name(str_of(a, "AttributeName").unwrap_or_default())
                .attribute_type(scalar_type(str_of(a, "AttributeType").unwrap_or_default()))
                .build()
                .map_err(|e| aws(id, e))?;
            definitions.push(definition.clone());
            request = request.attribute_definitions(definition);
        }
        for lsi in p
            .get("LocalSecondaryIndexes")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let index = LocalSecondaryIndex::builder()
                .index_name(str_of(lsi, "IndexName").unwrap_or_default())
                .set_key_schema(Some(key_schema(id, lsi.get("KeySchema"))?))
                .projection(projection(lsi.get("Projection")))
                .build()
                .map_err(|e| aws(id, e))?;
            request = request.local_secondary_indexes(index);
        }
        let mut global_indexes = Vec::new();
        for gsi in p
            .get("GlobalSecondaryIndexes")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let index = GlobalSecondaryIndex::builder()
                .index_name(str_of(gsi, "IndexName").unwrap_or_default())
                .set_key_schema(Some(key_schema(id, gsi.get("KeySchema"))?))
                .projection(projection(gsi.get("Projection")))
                .build()
                .map_err(|e| aws(id, e))?;
            global_indexes.push(index.clone());
            request = request.global_secondary_indexes(index);
        }
        match request.send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                tracing::info!(table = %name, "table exists: kept");
                add_missing_indexes(dynamodb, id, &name, &definitions, global_indexes).await?;
                continue;
            }
            Err(e) => return Err(aws(id, e)),
        }
        if let Some(ttl) = p.get("TimeToLiveSpecification") {
            if ttl.get("Enabled") == Some(&Json::Bool(true)) {
                let spec = TimeToLiveSpecification::builder()
                    .attribute_name(str_of(ttl, "AttributeName").unwrap_or_default())
                    .enabled(true)
                    .build()
                    .map_err(|e| aws(id, e))?;
                dynamodb
                    .update_time_to_live()
                    .table_name(&name)
                    .time_to_live_specification(spec)
                    .send()
                    .await
                    .map_err(|e| aws(id, e))?;
            }
        }
        created.push(name);
    }
    Ok(created)
}

/// Creates queue `name`, or, when it exists from an earlier run with other attributes (a
/// template change), brings its attributes up to date; its URL.
async fn queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<String, aws_sdk_sqs::Error> {
    let created = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.clone()))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.queue_url.unwrap_or_default()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_name_exists()) =>
        {
            let url = sqs
                .get_queue_url()
                .queue_name(name)
                .send()
                .await?
                .queue_url
                .unwrap_or_default();
            // FIFO-ness cannot change and SetQueueAttributes refuses it: the rest can.
            let mut settable = attributes;
            settable.remove(&QueueAttributeName::FifoQueue);
            settable.remove(&QueueAttributeName::ContentBasedDeduplication);
            sqs.set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(settable))
                .send()
                .await?;
            tracing::info!(queue = name, "queue existed with other attributes: updated");
            Ok(url)
        }
        Err(e) => Err(e.into()),
    }
}
