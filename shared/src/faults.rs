//! Test-only fault switches (issue 11: "stopped mid-cutoff"). A function stops at a named point
//! as if its process died there — what it did before stays done, nothing after happens — when
//! it runs with `LINLI_FAULTS_DIR` set (the local stack's `local.env` only; the template never
//! sets it) and a file named after the point exists in that directory. Tripping removes the
//! file, so exactly one run stops and the next goes through. Without the variable every
//! `trip` is a no-op that touches nothing.

use crate::config::{optional, Source};
use std::path::PathBuf;

/// The variable naming the switches' directory.
pub const FAULTS_DIR_VAR: &str = "LINLI_FAULTS_DIR";

#[derive(Clone, Debug, Default)]
pub struct Faults {
    dir: Option<PathBuf>,
}

/// A run stopped at a fault point.
#[derive(Debug, thiserror::Error)]
#[error("stopped at the test fault point {0}")]
pub struct Tripped(pub String);

impl Faults {
    /// Switches read from `LINLI_FAULTS_DIR`, if set (read once, at init).
    pub fn from_source(source: &impl Source) -> Self {
        let dir = optional(source, FAULTS_DIR_VAR)
            .filter(|d| !d.trim().is_empty())
            .map(PathBuf::from);
        if let Some(dir) = &dir {
            tracing::warn!(dir = %dir.display(), "test fault switches are on: never in production");
        }
        Self { dir }
    }

    /// Stops here if the switch `point` is armed (letters, digits, `-` and `_` only).
    pub fn trip(&self, point: &str) -> Result<(), Tripped> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let safe = point
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !safe {
            return Ok(());
        }
        // Removing is the claim: of two runs reaching the point, one stops.
        match std::fs::remove_file(dir.join(point)) {
            Ok(()) => {
                tracing::warn!(point, "test fault switch tripped: stopping here");
                Err(Tripped(point.to_owned()))
            }
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn an_armed_switch_stops_one_run_and_an_unset_directory_stops_none() {
        let dir = std::env::temp_dir().join(format!("linli-faults-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let vars = BTreeMap::from([(FAULTS_DIR_VAR.to_owned(), dir.display().to_string())]);
        let faults = Faults::from_source(&vars);
        assert!(faults.trip("cutoff-page-R1").is_ok(), "not armed");
        std::fs::write(dir.join("cutoff-page-R1"), "").unwrap();
        assert!(faults.trip("cutoff-page-R1").is_err(), "armed: stops");
        assert!(faults.trip("cutoff-page-R1").is_ok(), "once");
        std::fs::write(dir.join("x"), "").unwrap();
        assert!(faults.trip("../x").is_ok(), "no paths");
        let off = Faults::from_source(&BTreeMap::<String, String>::new());
        std::fs::write(dir.join("cutoff-page-R1"), "").unwrap();
        assert!(off.trip("cutoff-page-R1").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
