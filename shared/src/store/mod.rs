//! Storage adapters: repository traits in domain terms with their DynamoDB implementations
//! (DESIGN §4). Every write path reports what it cost through `wru`.

pub mod catalog;
mod error;
pub mod ledger;
pub mod members;
pub mod orders;
pub mod wru;

pub use error::StoreError;
