//! Same-city delivery (seed 000, DESIGN §2 "Delivery fee in points"): pricing the fee in cash
//! and in points, the signed quote a member orders against, and routing (store and courier
//! platform, with reasons and the heatmap record). Pure.

mod pricing;
mod quote;
mod routing;
mod rules;

pub use pricing::{Factor, Price, PriceInput};
pub use quote::{
    choose, eligible, make_quote, Candidate, Choice, Quote, QuoteError, QuoteKey, QUOTE_VALID_MS,
};
pub use routing::{
    choose_store, route, Heat, Platform, PlatformOffer, Route, RoutingError, RoutingRules,
    StoreOption,
};
pub use rules::{
    Band, DeliveryRules, DeliveryRulesError, FeeBand, HotSku, PlatformTerms, Weather, BP_ONE,
};
