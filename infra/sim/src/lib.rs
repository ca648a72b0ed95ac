//! `linli-sim`: a seeded, deterministic fault simulation of the points ledger (issue 13, DESIGN
//! §10 "Reliability"). A [`world::World`] produces causes as the handlers would, a
//! [`driver::Driver`] runs them through the real posting code over DynamoDB Local with
//! duplicates, reordering, delays and crashes between steps, and [`checks::check`] reads the
//! ledger back and checks its invariants. The same seed makes the same run.

pub mod checks;
pub mod driver;
pub mod world;

use aws_sdk_dynamodb::Client;
use linli::store::ledger::DynamoLedger;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    pub events: u64,
    pub members: usize,
    pub rates: driver::FaultRates,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("template: {0}")]
    Template(String),
    #[error(transparent)]
    Drive(#[from] driver::DriveError),
    #[error(transparent)]
    Check(#[from] checks::CheckError),
}

pub struct Run {
    pub config: Config,
    pub tally: driver::Tally,
    pub report: checks::Report,
}

/// Creates the template's tables under a stack name of this run's own, then runs and checks.
pub async fn run(client: &Client, template: &Path, config: Config) -> Result<Run, SimError> {
    let table = ledger_table(client, template, config.seed).await?;
    let ledger = DynamoLedger::new(client.clone(), table);
    let mut world =
        world::World::new(config.seed, config.members).map_err(driver::DriveError::from)?;
    let mut driver = driver::Driver::new(config.seed, config.rates, ledger);
    driver.run(&mut world, config.events).await?;
    let report = checks::check(driver.ledger(), world.members(), &driver.outcomes).await?;
    Ok(Run {
        config,
        tally: std::mem::take(&mut driver.tally),
        report,
    })
}

/// Creates every table of `template` under a stack name of its own (through the devstack's
/// provisioning, so exactly as declared) and answers the Ledger table's name.
pub async fn ledger_table(client: &Client, template: &Path, seed: u64) -> Result<String, SimError> {
    use devstack::template::{Resolver, Template};
    let bad = |e: &dyn std::fmt::Display| SimError::Template(e.to_string());
    let text = std::fs::read_to_string(template).map_err(|e| bad(&e))?;
    let template = Template::parse(&text).map_err(|e| bad(&e))?;
    let stack = format!("sim-{seed}-{:06x}", fastrand::u32(..0xff_ffff));
    let mut resolver = Resolver::new(
        &template,
        &stack,
        "cn-north-1",
        "123456789012",
        &BTreeMap::new(),
    )
    .map_err(|e| bad(&e))?;
    devstack::stack::register_known(&template, &mut resolver).map_err(|e| bad(&e))?;
    devstack::provision::tables(&template, &resolver, client)
        .await
        .map_err(|e| bad(&e))?;
    resolver
        .resources
        .get("LedgerTable")
        .map(|p| p.reference.clone())
        .ok_or_else(|| SimError::Template("no LedgerTable".into()))
}

impl Run {
    /// The printed summary: causes, faults, queue traffic and the checks.
    pub fn summary(&self) -> String {
        let c = &self.config;
        let t = &self.tally;
        let r = &self.report;
        let list = |items: Vec<(String, u32)>| {
            items
                .into_iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(" · ")
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "linli-sim seed={} events={} members={}",
            c.seed, c.events, c.members
        );
        let causes = t
            .causes
            .iter()
            .map(|(k, v)| (k.name().to_owned(), *v))
            .collect();
        let _ = writeln!(out, "causes:  {}", list(causes));
        let faults = t
            .faults
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        let _ = writeln!(out, "faults:  {}", list(faults));
        let _ = writeln!(
            out,
            "queue:   {} messages sent · {} deliveries in {} invocations · {} dead-lettered",
            t.messages_sent, t.deliveries, t.batches, t.dead_lettered
        );
        let _ = writeln!(
            out,
            "direct:  {} posts · {} refused",
            t.direct_posts, t.direct_refused
        );
        let _ = writeln!(
            out,
            "checks:  {} members · {} postings · {} requests accepted · {} refused · audit, once-only, refused-absent, balances, none negative → {}",
            r.members,
            r.postings,
            r.accepted,
            r.rejected,
            if r.is_clean() { "ok".to_owned() } else { format!("{} VIOLATIONS", r.violations.len()) }
        );
        for v in r.violations.iter().take(50) {
            let _ = writeln!(out, "  violation: {v}");
        }
        if !r.is_clean() {
            let _ = writeln!(
                out,
                "reproduce: make sim SEED={} EVENTS={}",
                c.seed, c.events
            );
        }
        out
    }
}
