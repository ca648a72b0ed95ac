//! Business rules as pure functions, with the seeds' defaults. Earn rules, tiers, caps,
//! delivery pricing and compensation policy grow here as their issues land.

mod earn;
mod invite;
mod signin;

pub use earn::{base_earn, FEN_PER_POINT};
pub use invite::{invite_bonuses, invite_scene, referrer_of, INVITE_POINTS};
pub use signin::{sign_in, SIGN_IN_POINTS};
