//! WeChat protocols (DESIGN §6): signatures, XML, encryption and answers are pure; the few
//! outbound calls (`mini::code_to_session`) are thin functions over a given HTTP client.

pub mod mini;
pub mod oa;
pub mod oa_api;
pub mod oa_token;
pub mod pay_api;
pub mod pay_notify;
pub mod pay_refund;
pub mod pay_v2;
pub mod pay_v3;
pub mod pay_v3_api;
pub mod subscribe;
pub mod xml;
