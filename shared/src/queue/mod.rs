//! Messages between functions (DESIGN §9): versioned envelopes, each with a deterministic id
//! and the business time of its cause, the SQS publisher and the consumers' batch lifter.

pub mod batch;
mod envelope;
mod publisher;

pub use envelope::{Envelope, EnvelopeError, Message, ENVELOPE_VERSION};
pub use publisher::{dedup_id, Publisher, QueueError};
