//! `pos-key`: prints the till key of each store named on the command line, for an operator who
//! sets up a store's tills (README "In-store sales"). The key derives from the master secret:
//!
//! ```sh
//! LINLI_POS_MASTER_KEY=… cargo run -p pos-api --bin pos-key -- SH-JINGAN-01 SH-HUANGPU-02
//! ```
//!
//! Output: one `<store>\t<till key>` line per store. The key is a secret: hand it to the store
//! over a safe channel, never log it. Rotating the master key changes every store's key.

use linli::config::{required, ProcessEnv};
use linli::ids::StoreId;
use linli::pos::{till_key, MasterKey};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let stores: Vec<String> = std::env::args().skip(1).collect();
    if stores.is_empty() {
        eprintln!("usage: LINLI_POS_MASTER_KEY=… pos-key <store-id>…");
        return ExitCode::from(2);
    }
    let master = match required(&ProcessEnv, "LINLI_POS_MASTER_KEY")
        .ok()
        .and_then(|key| MasterKey::new(key.into_bytes()))
    {
        Some(master) => master,
        None => {
            eprintln!(
                "LINLI_POS_MASTER_KEY must be set to the master key (at least 32 characters)"
            );
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    for text in &stores {
        let Ok(store) = StoreId::parse(text) else {
            eprintln!("{text:?} is not a store id");
            return ExitCode::from(2);
        };
        if writeln!(out, "{store}\t{}", till_key(&master, &store).expose()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
