//! Same-city delivery (seed 000, DESIGN §2 "Delivery fee in points"): pricing the fee in cash
//! and in points, the signed quote a member orders against, and routing (store and courier
//! platform, with reasons and the heatmap record). Pure.

mod pricing;
mod quote;
mod routing;

pub use pricing::{
    Band, DeliveryRules, DeliveryRulesError, Factor, FeeBand, HotSku, Price, PriceInput, Weather,
    BP_ONE,
};
pub use quote::{eligible, make_quote, Candidate, Quote, QuoteError, QuoteKey, QUOTE_VALID_MS};
pub use routing::{
    route, Heat, Platform, PlatformOffer, Route, RoutingError, RoutingRules, StoreOption,
};
