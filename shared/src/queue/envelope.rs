//! The envelope every queue message travels in.
//!
//! `v` is the envelope schema version: a consumer refuses a version it does not know (the message
//! goes to the dead-letter queue with the reason) instead of guessing. `id` is deterministic, so a
//! repeated send is deduplicated (FIFO) or harmless (idempotent consumers); `at` is the cause's
//! business time, which consumers use as "now".

use crate::ids::{MemberId, OrderId, PostingId};
use crate::ledger::PostingRequest;
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};

pub const ENVELOPE_VERSION: u16 = 1;

/// Message bodies, tagged by `kind`. New kinds are added here; changing a kind's shape needs a
/// new envelope version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Message {
    /// A posting for `points-postings.fifo` (pay, refund clawback, POS).
    Posting(PostingRequest),
    /// A paid delivery order for `courier-dispatch`: create its waybill.
    Dispatch { order_id: OrderId },
    /// A late or cancelled delivery for `compensations`: re-query, apply the policy, grant once.
    Compensate { order_id: OrderId },
    /// A page of a group-buy round's paid orders for `cutoff-pages`: decide each once.
    CutoffPage {
        round_id: crate::ids::RoundId,
        orders: Vec<OrderId>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u16,
    pub id: String,
    pub at: BusinessTime,
    #[serde(flatten)]
    pub message: Message,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope version {0} is not supported (this build reads {ENVELOPE_VERSION})")]
    UnsupportedVersion(u16),
    #[error("malformed envelope: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("envelope id {id:?} does not match its message ({expected:?})")]
    IdMismatch { id: String, expected: String },
}

impl Envelope {
    /// A posting message: its id is the posting id, its time the posting's business time.
    pub fn posting(request: PostingRequest) -> Self {
        Self {
            v: ENVELOPE_VERSION,
            id: request.id.to_string(),
            at: request.at,
            message: Message::Posting(request),
        }
    }

    /// A dispatch message for a paid delivery order (`dispatch:order:<id>`).
    pub fn dispatch(order_id: OrderId, at: BusinessTime) -> Self {
        Self {
            v: ENVELOPE_VERSION,
            id: format!("dispatch:order:{order_id}"),
            at,
            message: Message::Dispatch { order_id },
        }
    }

    /// A page of `round`'s orders to decide at its cutoff (`cutoff:<round>:<first order>`).
    pub fn cutoff_page(
        round_id: crate::ids::RoundId,
        orders: Vec<OrderId>,
        at: BusinessTime,
    ) -> Self {
        let first = orders.first().map(ToString::to_string).unwrap_or_default();
        Self {
            v: ENVELOPE_VERSION,
            id: format!("cutoff:{round_id}:{first}"),
            at,
            message: Message::CutoffPage { round_id, orders },
        }
    }

    /// A delivery to assess for compensation (`comp:order:<id>`, the grant's posting id).
    pub fn compensate(order_id: OrderId, at: BusinessTime) -> Self {
        Self {
            v: ENVELOPE_VERSION,
            id: format!("comp:order:{order_id}"),
            at,
            message: Message::Compensate { order_id },
        }
    }

    /// The FIFO message group: per member, so one member's postings apply in order.
    pub fn group(&self) -> Option<&MemberId> {
        match &self.message {
            Message::Posting(request) => Some(&request.member),
            Message::Dispatch { .. } | Message::Compensate { .. } | Message::CutoffPage { .. } => {
                None
            }
        }
    }

    /// The deterministic id used for deduplication.
    pub fn dedup_id(&self) -> &str {
        &self.id
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses and checks a received envelope. Never panics, whatever the input.
    pub fn from_json(text: &str) -> Result<Self, EnvelopeError> {
        #[derive(Deserialize)]
        struct Version {
            v: u16,
        }
        let Version { v } = serde_json::from_str(text)?;
        if v != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(v));
        }
        let envelope: Self = serde_json::from_str(text)?;
        let expected = match &envelope.message {
            Message::Posting(request) => request.id.to_string(),
            Message::Dispatch { order_id } => format!("dispatch:order:{order_id}"),
            Message::Compensate { order_id } => format!("comp:order:{order_id}"),
            Message::CutoffPage { round_id, orders } => {
                let first = orders.first().map(ToString::to_string).unwrap_or_default();
                format!("cutoff:{round_id}:{first}")
            }
        };
        if envelope.id != expected {
            return Err(EnvelopeError::IdMismatch {
                id: envelope.id,
                expected,
            });
        }
        Ok(envelope)
    }

    /// The posting id, when the message is a posting.
    pub fn posting_id(&self) -> Option<&PostingId> {
        match &self.message {
            Message::Posting(request) => Some(&request.id),
            Message::Dispatch { .. } | Message::Compensate { .. } | Message::CutoffPage { .. } => {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrderId;
    use crate::ledger::{Op, Source};
    use crate::money::Points;
    use proptest::prelude::*;

    fn request() -> PostingRequest {
        let at = BusinessTime::from_epoch_ms(1_764_000_000_000).unwrap();
        let member = MemberId::generate(at, 1);
        let order = OrderId::parse("O1").unwrap();
        let ops = vec![Op::Earn {
            source: Source::Pay,
            points: Points::new(12),
        }];
        PostingRequest::new(PostingId::pay_order(&order), member, at, ops)
    }

    #[test]
    fn a_posting_envelope_round_trips_with_its_deterministic_id() {
        let envelope = Envelope::posting(request());
        assert_eq!(envelope.dedup_id(), "pay:order:O1");
        let json = envelope.to_json();
        assert!(json.starts_with(r#"{"v":1,"id":"pay:order:O1""#), "{json}");
        assert_eq!(Envelope::from_json(&json).unwrap(), envelope);
        assert_eq!(envelope.group(), Some(&request().member));
    }

    #[test]
    fn an_unknown_version_is_refused_not_guessed() {
        let json = Envelope::posting(request())
            .to_json()
            .replacen(r#""v":1"#, r#""v":2"#, 1);
        assert!(matches!(
            Envelope::from_json(&json),
            Err(EnvelopeError::UnsupportedVersion(2))
        ));
    }

    #[test]
    fn an_id_that_does_not_match_the_posting_is_refused() {
        let json = Envelope::posting(request()).to_json().replacen(
            "\"id\":\"pay:order:O1\"",
            "\"id\":\"x\"",
            1,
        );
        assert!(matches!(
            Envelope::from_json(&json),
            Err(EnvelopeError::IdMismatch { .. })
        ));
    }

    proptest! {
        #[test]
        fn the_parser_never_panics(text in "\\PC{0,300}") {
            let _ = Envelope::from_json(&text);
        }
    }
}
