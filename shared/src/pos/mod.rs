//! In-store sales at the tills (pure; DESIGN §2 `pos-api`, issue 7).
//!
//! - `signature`: till requests are signed with a per-store key derived from one master secret;
//! - `member_code`: the 2-minute code the mini-program shows as a QR code, naming the member;
//! - `request`: the bodies of `POST /pos/sales` and `POST /pos/returns`, checked field by field;
//! - `sale`: what a sale earns (`earn:pos:<store>:<sale>`) and what a return claws back
//!   (`claw:pos:<store>:<return>`, cumulative and proportional, never beyond the earning).
//!
//! Persistence is `store::pos`; the handler is `functions/pos-api`.

pub mod member_code;
pub mod request;
mod sale;
pub mod signature;

pub use member_code::{MemberCode, MemberCodeError, MemberCodeKey, MEMBER_CODE_MS};
pub use request::{InvalidInput, ReturnRequest, SaleRequest, MAX_SALE_FEN};
pub use sale::{
    clawback_total, decide_return, Return, ReturnDecision, ReturnError, Sale, SaleViolation,
};
pub use signature::{till_key, MasterKey, SignatureError, TillKey};
