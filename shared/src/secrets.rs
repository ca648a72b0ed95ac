//! Settings as every function reads them (DESIGN §7): the process environment, and in AWS the
//! secrets of one Secrets Manager secret (a JSON object of names to strings) named by
//! `LINLI_SECRETS_ARN`, read once at init and taking precedence for the names it holds. Without
//! the variable (locally) the environment is everything. Secret values never reach a log: the
//! `Debug` of `Settings` lists names only.

use crate::config::{optional, ProcessEnv, Source};
use std::collections::BTreeMap;

/// The variable naming the secret.
pub const SECRETS_VAR: &str = "LINLI_SECRETS_ARN";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the secret {id} could not be read: {why}")]
    Unreadable { id: String, why: String },
    #[error("the secret {id} is not a JSON object of names to strings: {why}")]
    Malformed { id: String, why: String },
}

#[derive(Clone, Default)]
pub struct Settings {
    secret: BTreeMap<String, String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("secret_names", &self.secret.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Source for Settings {
    fn get(&self, name: &str) -> Option<String> {
        self.secret
            .get(name)
            .cloned()
            .or_else(|| ProcessEnv.get(name))
    }
}

impl Settings {
    /// The environment, with the secret `LINLI_SECRETS_ARN` names over it when set.
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self, SecretsError> {
        match optional(&ProcessEnv, SECRETS_VAR) {
            None => Ok(Self::default()),
            Some(id) => Self::fetch(&aws_sdk_secretsmanager::Client::new(aws), &id).await,
        }
    }

    /// The secret `id` (an ARN or a name) over the environment.
    pub async fn fetch(
        client: &aws_sdk_secretsmanager::Client,
        id: &str,
    ) -> Result<Self, SecretsError> {
        let answer = client.get_secret_value().secret_id(id).send().await;
        let unreadable = |why: String| SecretsError::Unreadable {
            id: id.to_owned(),
            why,
        };
        let value = answer.map_err(|e| {
            unreadable(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
        })?;
        let text = value
            .secret_string()
            .ok_or_else(|| unreadable("it holds no text (SecretString)".into()))?;
        let secret = parse(text).map_err(|why| SecretsError::Malformed {
            id: id.to_owned(),
            why,
        })?;
        tracing::info!(names = secret.len(), "settings read from the secret");
        Ok(Self { secret })
    }

    /// The names the secret holds (for checks and logs; never the values).
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.secret.keys().map(String::as_str)
    }
}

/// The secret's text: a JSON object whose values are strings (numbers and booleans are taken as
/// their text); anything else names the offending key.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(map) = value else {
        return Err("not a JSON object".into());
    };
    map.into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(s) => Ok((name, s)),
            serde_json::Value::Number(n) => Ok((name, n.to_string())),
            serde_json::Value::Bool(b) => Ok((name, b.to_string())),
            _ => Err(format!("{name}: not a string")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_an_object_of_strings_and_a_bad_one_names_its_key() {
        let parsed = parse(r#"{"WECHAT_OA_TOKEN": "t", "PORT": 80, "ON": true}"#).unwrap();
        assert_eq!(parsed["WECHAT_OA_TOKEN"], "t");
        assert_eq!(parsed["PORT"], "80");
        assert_eq!(parsed["ON"], "true");
        assert_eq!(
            parse(r#"{"K": {"nested": 1}}"#).unwrap_err(),
            "K: not a string"
        );
        assert!(parse("[1]").is_err());
        assert!(parse("not json").is_err());
    }

    #[test]
    fn the_secret_wins_over_the_environment_and_debug_shows_no_value() {
        let settings = Settings {
            secret: BTreeMap::from([("PATH".to_owned(), "from-the-secret".to_owned())]),
        };
        assert_eq!(settings.get("PATH").as_deref(), Some("from-the-secret"));
        assert!(settings.get("LINLI_NO_SUCH_VARIABLE").is_none());
        let shown = format!("{settings:?}");
        assert!(
            shown.contains("PATH") && !shown.contains("from-the-secret"),
            "{shown}"
        );
        let empty = Settings::default();
        assert_eq!(
            empty.get("PATH"),
            std::env::var("PATH").ok(),
            "the environment path"
        );
    }
}
