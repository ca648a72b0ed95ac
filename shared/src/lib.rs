//! Linli's shared crate.
//!
//! The pure domain (`money`, `time`, `ids`, `ledger`, `rules`, `session`, and the protocols in
//! `wechat`) takes values and returns values: no AWS, Lambda or tokio types, no I/O, no clock.
//! The adapters (`store`, `queue`) do the I/O behind traits named in domain terms; `config` reads
//! the environment once at init.

pub mod catalog;
pub mod config;
pub mod courier;
pub mod delivery;
pub mod faults;
pub mod groupbuy;
pub mod ids;
pub mod ledger;
pub mod log;
pub mod metrics;
pub mod money;
pub mod notice;
pub mod order;
pub mod paying;
pub mod pos;
pub mod queue;
pub mod refunding;
pub mod rules;
pub mod secrets;
pub mod session;
pub mod store;
pub mod time;
pub mod wechat;
