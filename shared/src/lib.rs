//! Linli's shared crate.
//!
//! The pure domain (`money`, `time`, `ids`, `ledger`, `rules`) takes values and returns values:
//! no AWS, Lambda or tokio types, no I/O, no clock. The adapters (`store`, `queue`) do the I/O
//! behind traits named in domain terms.

pub mod config;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod queue;
pub mod rules;
pub mod session;
pub mod store;
pub mod time;
pub mod wechat;
