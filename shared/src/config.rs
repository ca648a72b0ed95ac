//! The configuration contract (DESIGN §7): every setting is an environment variable read once at
//! init, typed, and a missing or malformed one is an error naming the variable — never a default
//! that hides a misconfiguration. In AWS the secrets arrive through one Secrets Manager secret
//! (issue 12) merged into the same source, so callers only see `Source`.

use std::collections::BTreeMap;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

/// Where settings come from.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

/// A setting that must be present and non-empty.
pub fn required(source: &impl Source, name: &'static str) -> Result<String, ConfigError> {
    source
        .get(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// A setting that may be absent (empty counts as absent).
pub fn optional(source: &impl Source, name: &'static str) -> Option<String> {
    source.get(name).filter(|v| !v.trim().is_empty())
}

/// A required setting parsed into `T`.
pub fn parsed<T>(source: &impl Source, name: &'static str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text = required(source, name)?;
    text.trim()
        .parse()
        .map_err(|e: T::Err| ConfigError::Invalid {
            name,
            why: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("TABLE_LEDGER".to_owned(), "linli-Ledger".to_owned()),
            ("EMPTY".to_owned(), " ".to_owned()),
            ("PORT".to_owned(), "eighty".to_owned()),
        ])
    }

    #[test]
    fn errors_name_the_variable() {
        let s = source();
        assert_eq!(required(&s, "TABLE_LEDGER").unwrap(), "linli-Ledger");
        assert_eq!(
            required(&s, "TABLE_ORDERS"),
            Err(ConfigError::Missing("TABLE_ORDERS"))
        );
        assert_eq!(required(&s, "EMPTY"), Err(ConfigError::Missing("EMPTY")));
        assert_eq!(optional(&s, "EMPTY"), None);
        let err = parsed::<u16>(&s, "PORT").unwrap_err();
        assert!(err.to_string().starts_with("PORT is invalid"), "{err}");
    }
}
