//! WeChat protocols (DESIGN §6), pure: signatures, XML, encryption. No I/O.

pub mod pay_notify;
pub mod pay_v2;
pub mod xml;
