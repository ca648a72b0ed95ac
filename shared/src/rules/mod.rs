//! Business rules as pure functions, with the seeds' defaults. Earn rules, tiers, caps,
//! delivery pricing and compensation policy grow here as their issues land.

pub mod compensation;
mod earn;
pub mod earning;
mod interactions;
mod invite;
pub mod reminders;
mod signin;

pub use earn::{base_earn, FEN_PER_POINT};
pub use interactions::{
    Interaction, InteractionRules, Streak, DAILY_CAP_POINTS, DEFAULT_STREAK, INTERACTIONS_VAR,
    MAX_INTERACTION_POINTS, MAX_TRIGGER_CHARS, STREAK_DAYS,
};
pub use invite::{invite_bonuses, invite_scene, referrer_of, INVITE_POINTS};
pub use signin::{had_streak_bonus, sign_in, SIGN_IN_POINTS};
