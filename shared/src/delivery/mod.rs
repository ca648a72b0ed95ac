//! Same-city delivery (seed 000, DESIGN §2 "Delivery fee in points"): pricing the fee in cash
//! and in points, and the signed quote a member orders against. Pure.

mod pricing;
mod quote;

pub use pricing::{
    Band, DeliveryRules, Factor, FeeBand, HotSku, Price, PriceInput, Weather, BP_ONE,
};
pub use quote::{eligible, make_quote, Candidate, Quote, QuoteError, QuoteKey, QUOTE_VALID_MS};
