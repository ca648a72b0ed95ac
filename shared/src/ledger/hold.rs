//! Holds: points set aside for an order (e.g. a delivery fee paid in points) until the order is
//! paid (capture) or abandoned (void). A hold remembers the lots it took, so a void puts back
//! exactly those lots.

use crate::money::Points;
use crate::time::{BusinessTime, Month};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// At most this many holds are open per member, which keeps the profile item within 1 KB.
pub const MAX_OPEN_HOLDS: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Points held; equals the sum of `lots`.
    pub points: Points,
    /// After this instant housekeeping voids the hold (the order was never paid).
    pub expires_at: BusinessTime,
    /// Which lots gave how much.
    pub lots: BTreeMap<Month, Points>,
}

impl Hold {
    pub fn lots_total(&self) -> Option<Points> {
        crate::money::checked_sum(self.lots.values().copied())
    }
}
