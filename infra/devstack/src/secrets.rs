//! The template's Secrets Manager secrets (`AWS::SecretsManager::Secret`), kept in the SQS
//! stand-in (moto serves Secrets Manager on the same port). Each holds the local settings — the
//! env file's values — as one JSON object, so the functions read their secrets at init the way
//! they do in AWS (`linli::secrets`, `LINLI_SECRETS_ARN` = `!Ref` of the secret: its name here).

use crate::provision::ProvisionError;
use crate::stack::default_name;
use crate::template::{Resolver, Template};
use std::collections::BTreeMap;

pub const SECRET: &str = "AWS::SecretsManager::Secret";

/// Where functions and the devstack reach Secrets Manager: its own endpoint if set, else the
/// SQS stand-in's.
pub fn endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SQS"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// Creates (or refreshes) every secret of the template with `values`; answers their names.
pub async fn provision(
    template: &Template,
    resolver: &Resolver,
    aws: &aws_config::SdkConfig,
    values: &BTreeMap<String, String>,
) -> Result<Vec<String>, ProvisionError> {
    let ids: Vec<String> = template
        .of_kind(SECRET, resolver)
        .map(|r| r.map(|(id, _)| id.clone()))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut config = aws_sdk_secretsmanager::config::Builder::from(aws);
    if let Some(url) = endpoint() {
        config = config.endpoint_url(url);
    }
    let client = aws_sdk_secretsmanager::Client::from_conf(config.build());
    let text = serde_json::to_string(values).unwrap_or_else(|_| "{}".into());
    let mut names = Vec::new();
    for id in ids {
        let name = default_name(resolver, &id);
        let failed = |e: &dyn std::fmt::Display| ProvisionError::Aws {
            resource: id.clone(),
            what: e.to_string(),
        };
        let created = client
            .create_secret()
            .name(&name)
            .secret_string(&text)
            .send()
            .await;
        if let Err(e) = created {
            let exists = e
                .as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception());
            if !exists {
                return Err(failed(&aws_sdk_secretsmanager::error::DisplayErrorContext(
                    e,
                )));
            }
            let put = client
                .put_secret_value()
                .secret_id(&name)
                .secret_string(&text);
            put.send()
                .await
                .map_err(|e| failed(&aws_sdk_secretsmanager::error::DisplayErrorContext(e)))?;
        }
        names.push(name);
    }
    Ok(names)
}
