//! Errors of the storage adapters, classified for the caller (STYLE 6).

use crate::ledger::{ErrorClass, LedgerError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The ledger refused the posting (a business rule or a malformed request).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// DynamoDB did not answer as hoped: throttled, unreachable, misconfigured. Retry later.
    #[error("DynamoDB {operation} failed: {message}")]
    Dynamo {
        operation: &'static str,
        message: String,
    },
    /// An item Linli wrote cannot be read back: a bug or a hand edit. A human must look.
    #[error("item {key} is unreadable: {why}")]
    Corrupt { key: String, why: String },
    /// The member's profile kept changing under us; the retries ran out.
    #[error("gave up after {attempts} attempts: the member's profile kept changing")]
    Contended { attempts: u32 },
}

impl StoreError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Ledger(e) => e.class(),
            Self::Dynamo { .. } | Self::Contended { .. } => ErrorClass::Transient,
            Self::Corrupt { .. } => ErrorClass::Permanent,
        }
    }

    pub(crate) fn dynamo(operation: &'static str, error: impl std::error::Error) -> Self {
        Self::Dynamo {
            operation,
            message: aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
        }
    }
}
