//! What the devstack runs, read from the template: tables, queues, functions with their resolved
//! environment and event sources. Pure: `provision` does the creating.

use crate::template::{invalid, Physical, Resolver, Template, TemplateError};
use serde_json::Value as Json;
use std::collections::BTreeMap;

pub const TABLE: &str = "AWS::DynamoDB::Table";
pub const QUEUE: &str = "AWS::SQS::Queue";
pub const FUNCTION: &str = "AWS::Serverless::Function";
pub const TOPIC: &str = "AWS::SNS::Topic";

/// An HttpApi route of a function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Upper case, or `ANY`.
    pub method: String,
    pub path: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSource {
    pub event: String,
    pub queue_arn: String,
    pub queue_url: String,
    pub batch_size: i32,
    pub report_failures: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub event: String,
    pub expression: String,
    /// The scheduler's `Input` (a JSON text), if any.
    pub input: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub logical_id: String,
    pub name: String,
    /// The binary cargo-lambda runs (`Metadata.BuildProperties.Binary`, else the crate folder).
    pub binary: String,
    pub code_uri: String,
    pub timeout_s: u64,
    pub environment: BTreeMap<String, String>,
    pub routes: Vec<(String, Route)>,
    pub queues: Vec<QueueSource>,
    pub schedules: Vec<Schedule>,
}

pub fn default_name(resolver: &Resolver, logical_id: &str) -> String {
    format!("{}-{logical_id}", resolver.stack_name)
}

fn text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Registers what `!Ref`/`!GetAtt` give for tables, topics and functions (queues are
/// registered by `provision` once created, since their URLs come from the SQS stand-in).
pub fn register_known(template: &Template, resolver: &mut Resolver) -> Result<(), TemplateError> {
    let arn = |r: &Resolver, service: &str, rest: &str| {
        format!(
            "arn:{}:{service}:{}:{}:{rest}",
            r.partition(),
            r.region,
            r.account
        )
    };
    let mut known = Vec::new();
    for (id, resource) in &template.resources {
        if let Some(condition) = &resource.condition {
            if !resolver.condition(template, condition)? {
                continue;
            }
        }
        let props = &resource.properties;
        let named = |key: &str| -> Result<Option<String>, TemplateError> {
            match props.as_mapping().and_then(|m| m.get(key)) {
                Some(v) => Ok(text(&resolver.resolve(
                    template,
                    v,
                    &format!("Resources.{id}.Properties.{key}"),
                )?)),
                None => Ok(None),
            }
        };
        let physical = match resource.kind.as_str() {
            TABLE => {
                let name = named("TableName")?.unwrap_or_else(|| default_name(resolver, id));
                Physical {
                    attributes: BTreeMap::from([(
                        "Arn".to_owned(),
                        arn(resolver, "dynamodb", &format!("table/{name}")),
                    )]),
                    reference: name,
                }
            }
            TOPIC => {
                let name = named("TopicName")?.unwrap_or_else(|| default_name(resolver, id));
                let topic_arn = arn(resolver, "sns", &name);
                Physical {
                    attributes: BTreeMap::from([
                        ("TopicArn".to_owned(), topic_arn.clone()),
                        ("TopicName".to_owned(), name),
                    ]),
                    reference: topic_arn,
                }
            }
            FUNCTION => {
                let name = named("FunctionName")?.unwrap_or_else(|| default_name(resolver, id));
                Physical {
                    attributes: BTreeMap::from([(
                        "Arn".to_owned(),
                        arn(resolver, "lambda", &format!("function:{name}")),
                    )]),
                    reference: name,
                }
            }
            QUEUE => continue,
            _ => Physical {
                reference: default_name(resolver, id),
                attributes: BTreeMap::new(),
            },
        };
        known.push((id.clone(), physical));
    }
    resolver.resources.extend(known);
    Ok(())
}

/// Merges `Globals.Function` under a function's own properties (environment variables merge).
fn merged_properties(
    template: &Template,
    resolver: &Resolver,
    id: &str,
    own: &serde_yaml_ng::Value,
) -> Result<serde_json::Map<String, Json>, TemplateError> {
    let globals =
        match resolver.resolve(template, &template.globals_function, "Globals.Function")? {
            Json::Object(map) => map,
            Json::Null => serde_json::Map::new(),
            _ => return Err(invalid("Globals.Function", "must be a mapping")),
        };
    let own = match resolver.resolve(template, own, &format!("Resources.{id}.Properties"))? {
        Json::Object(map) => map,
        Json::Null => serde_json::Map::new(),
        _ => {
            return Err(invalid(
                &format!("Resources.{id}.Properties"),
                "must be a mapping",
            ))
        }
    };
    let mut merged = globals.clone();
    for (key, value) in own {
        if key == "Environment" {
            let mut vars = globals
                .get("Environment")
                .and_then(|e| e.get("Variables"))
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(own_vars) = value.get("Variables").and_then(Json::as_object) {
                vars.extend(own_vars.clone());
            }
            merged.insert(key, serde_json::json!({ "Variables": vars }));
        } else {
            merged.insert(key, value);
        }
    }
    Ok(merged)
}

/// Reads every function: its binary, environment and events. Queues must be registered.
pub fn functions(template: &Template, resolver: &Resolver) -> Result<Vec<Function>, TemplateError> {
    let mut out = Vec::new();
    for found in template.of_kind(FUNCTION, resolver) {
        let (id, resource) = found?;
        let at = format!("Resources.{id}");
        let props = merged_properties(template, resolver, id, &resource.properties)?;
        let code_uri = props
            .get("CodeUri")
            .and_then(text)
            .ok_or_else(|| invalid(&at, "no CodeUri"))?;
        let metadata = resolver.resolve(template, &resource.metadata, &format!("{at}.Metadata"))?;
        let binary = metadata
            .get("BuildProperties")
            .and_then(|b| b.get("Binary"))
            .and_then(text)
            .or_else(|| {
                code_uri
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .map(str::to_owned)
            })
            .ok_or_else(|| {
                invalid(
                    &at,
                    "cannot tell the binary: set Metadata.BuildProperties.Binary",
                )
            })?;
        let timeout_s = props.get("Timeout").and_then(Json::as_u64).unwrap_or(3);
        let environment = props
            .get("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(Json::as_object)
            .map(|vars| {
                vars.iter()
                    .filter_map(|(k, v)| text(v).map(|v| (k.clone(), v)))
                    .collect()
            })
            .unwrap_or_default();
        let name = resolver
            .resources
            .get(id)
            .map(|p| p.reference.clone())
            .unwrap_or_else(|| default_name(resolver, id));
        let mut function = Function {
            logical_id: id.clone(),
            name,
            binary,
            code_uri,
            timeout_s,
            environment,
            routes: vec![],
            queues: vec![],
            schedules: vec![],
        };
        if let Some(events) = props.get("Events").and_then(Json::as_object) {
            for (event, spec) in events {
                read_event(
                    resolver,
                    &mut function,
                    event,
                    spec,
                    &format!("{at}.Properties.Events.{event}"),
                )?;
            }
        }
        out.push(function);
    }
    Ok(out)
}

fn read_event(
    resolver: &Resolver,
    function: &mut Function,
    event: &str,
    spec: &Json,
    at: &str,
) -> Result<(), TemplateError> {
    let kind = spec
        .get("Type")
        .and_then(text)
        .ok_or_else(|| invalid(at, "no Type"))?;
    let props = spec.get("Properties").cloned().unwrap_or(Json::Null);
    match kind.as_str() {
        "HttpApi" => {
            let path = props
                .get("Path")
                .and_then(text)
                .ok_or_else(|| invalid(at, "HttpApi needs Path"))?;
            let method = props
                .get("Method")
                .and_then(text)
                .ok_or_else(|| invalid(at, "HttpApi needs Method"))?;
            if !path.starts_with('/') {
                return Err(invalid(at, format!("path must start with /: {path}")));
            }
            let method = match method.to_ascii_uppercase().as_str() {
                "ANY" | "*" => "ANY".to_owned(),
                m => m.to_owned(),
            };
            function
                .routes
                .push((event.to_owned(), Route { method, path }));
        }
        "SQS" => {
            let queue_arn = props
                .get("Queue")
                .and_then(text)
                .ok_or_else(|| invalid(at, "SQS needs Queue"))?;
            let queue_url = resolver
                .resources
                .values()
                .find(|p| {
                    p.attributes.get("Arn") == Some(&queue_arn)
                        && p.attributes.contains_key("QueueUrl")
                })
                .map(|p| p.reference.clone())
                .ok_or_else(|| {
                    invalid(
                        at,
                        format!("no queue of this template has the ARN {queue_arn}"),
                    )
                })?;
            let report_failures = props
                .get("FunctionResponseTypes")
                .and_then(Json::as_array)
                .is_some_and(|types| types.iter().any(|t| t == "ReportBatchItemFailures"));
            let batch_size = props.get("BatchSize").and_then(Json::as_i64).unwrap_or(10);
            let batch_size = i32::try_from(batch_size.clamp(1, 10)).unwrap_or(10);
            if props.get("Enabled") != Some(&Json::Bool(false)) {
                function.queues.push(QueueSource {
                    event: event.to_owned(),
                    queue_arn,
                    queue_url,
                    batch_size,
                    report_failures,
                });
            }
        }
        "ScheduleV2" | "Schedule" => {
            let expression = props
                .get("ScheduleExpression")
                .or_else(|| props.get("Schedule"))
                .and_then(text)
                .unwrap_or_default();
            let input = props
                .get("Input")
                .map(|i| text(i).unwrap_or_else(|| i.to_string()));
            function.schedules.push(Schedule {
                event: event.to_owned(),
                expression,
                input,
            });
        }
        other => {
            tracing::warn!(function = %function.logical_id, event, kind = other, "event type not served locally");
        }
    }
    Ok(())
}
