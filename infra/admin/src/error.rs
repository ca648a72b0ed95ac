//! The CLI's errors: each says what went wrong and what to fix, and maps to an exit code.

use linli::config::ConfigError;
use linli::store::StoreError;

const DYNAMO_FIX: &str = "fix: check AWS_REGION, the credentials, AWS_ENDPOINT_URL_DYNAMODB \
(DynamoDB Local under `make up`: http://127.0.0.1:8000) and the table name \
(--ledger-table / --orders-table, TABLE_LEDGER / TABLE_ORDERS, or --stack-url)";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The command cannot run as given: a flag, an argument or the environment is wrong.
    #[error("{0}")]
    Usage(String),
    /// DynamoDB (or the devstack asked for table names) could not be used.
    #[error("{0}")]
    Unreachable(String),
    /// Something is wrong in the data, or nothing was found.
    #[error("{0}")]
    Problem(String),
}

impl AdminError {
    /// 1 for a problem found, 2 for a command that could not run.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Problem(_) => 1,
            Self::Usage(_) | Self::Unreachable(_) => 2,
        }
    }
}

impl From<ConfigError> for AdminError {
    fn from(error: ConfigError) -> Self {
        Self::Usage(format!(
            "{error}: set it in the environment (README, Configuration; locally \
             infra/local/local.env has test values)"
        ))
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Dynamo { .. } => Self::Unreachable(format!("{error}\n  {DYNAMO_FIX}")),
            StoreError::Contended { .. } => {
                Self::Unreachable(format!("{error}: run the same command again"))
            }
            StoreError::Corrupt { .. } => Self::Problem(format!(
                "{error}\n  fix: a human must look at that item (`linli-admin audit` lists \
                 every broken one)"
            )),
            StoreError::Ledger(e) => Self::Problem(format!("the ledger refused: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infrastructure_and_usage_are_2_and_findings_are_1() {
        let dynamo = AdminError::from(StoreError::Dynamo {
            operation: "Scan",
            message: "connection refused".into(),
        });
        assert_eq!(dynamo.exit_code(), 2);
        assert!(dynamo.to_string().contains("AWS_ENDPOINT_URL_DYNAMODB"));
        let corrupt = AdminError::from(StoreError::Corrupt {
            key: "MEMBER#X".into(),
            why: "bad".into(),
        });
        assert_eq!(corrupt.exit_code(), 1);
        let config = AdminError::from(ConfigError::Missing("WECHAT_PAY_MCH_ID"));
        assert_eq!(config.exit_code(), 2);
        assert!(config
            .to_string()
            .starts_with("WECHAT_PAY_MCH_ID is not set: set it"));
    }
}
