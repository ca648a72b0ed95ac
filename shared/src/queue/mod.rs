//! Messages between functions (DESIGN §9): versioned envelopes, each with a deterministic id
//! and the business time of its cause. The SQS publisher and the batch lifter come with the first
//! function that sends or consumes.

mod envelope;

pub use envelope::{Envelope, EnvelopeError, Message, ENVELOPE_VERSION};
