//! Business rules as pure functions, with the seeds' defaults. Earn rules, tiers, caps,
//! delivery pricing and compensation policy grow here as their issues land.

mod earn;

pub use earn::{base_earn, FEN_PER_POINT};
