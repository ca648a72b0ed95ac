//! Runs the world's causes through the real code: direct causes through `LedgerStore::post` as
//! their handlers call it, queued ones through `points_posting::handle` fed from a simulated
//! `points-postings.fifo` (the simulator is the network: it picks which messages arrive, when,
//! how often, in which order). Faults are drawn from the seed:
//! - crash before the enqueue: the handler's earlier steps happened, its message did not; the
//!   caller's retry (WeChat Pay re-notifying, the schedule firing again) runs it again later;
//! - duplicate: the message is sent twice (a retried send, a repeated notify);
//! - delay: the message is not deliverable for a while (so later causes overtake it);
//! - crash before the ack: the handler applied a message but died before SQS heard, so it
//!   comes back (its receive count grows; at 5 it goes to the DLQ as the redrive policy says);
//! - mid-cutoff crash: only part of a cutoff's postings were sent before the run stopped; the
//!   next run sends them all;
//! - lost answer: a direct post happened but the caller never heard and posts again.

use crate::world::{Cause, Kind, World, WorldError};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};
use linli::ledger::{ErrorClass, PostingRequest};
use linli::queue::Envelope;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use points_posting::App;
use std::collections::{BTreeMap, HashSet};

/// The template's `maxReceiveCount` for the points queue.
const MAX_RECEIVES: u32 = 5;
const BATCH: usize = 10;

/// Fault probabilities, in percent.
#[derive(Clone, Copy, Debug)]
pub struct FaultRates {
    pub crash_before_enqueue: u8,
    pub duplicate: u8,
    pub delay: u8,
    pub crash_before_ack: u8,
    pub mid_cutoff: u8,
    pub lost_answer: u8,
}

impl Default for FaultRates {
    fn default() -> Self {
        Self {
            crash_before_enqueue: 8,
            duplicate: 15,
            delay: 15,
            crash_before_ack: 10,
            mid_cutoff: 30,
            lost_answer: 10,
        }
    }
}

struct InFlight {
    message_id: String,
    request: PostingRequest,
    receives: u32,
    not_before: u64,
}

/// What happened to each request, for the checks.
#[derive(Default)]
pub struct Outcomes {
    /// Requests some handler call answered as applied (the first of each content).
    pub accepted: Vec<PostingRequest>,
    /// Requests refused for good (a direct refusal, or dead-lettered).
    pub rejected: Vec<PostingRequest>,
}

/// Counts for the summary.
#[derive(Default)]
pub struct Tally {
    pub causes: BTreeMap<Kind, u32>,
    pub faults: BTreeMap<&'static str, u32>,
    pub messages_sent: u32,
    pub deliveries: u32,
    pub batches: u32,
    pub dead_lettered: u32,
    pub direct_posts: u32,
    pub direct_refused: u32,
}

pub struct Driver {
    rng: fastrand::Rng,
    rates: FaultRates,
    app: App<DynamoLedger>,
    pool: Vec<InFlight>,
    /// Causes whose queue sends crashed, to be run again.
    rerun: Vec<Cause>,
    /// Direct posts that failed transiently, to be posted again.
    retry: Vec<(Kind, PostingRequest)>,
    step: u64,
    sent: u64,
    /// `<member> <content hash>` of every accepted request.
    accepted: HashSet<String>,
    pub outcomes: Outcomes,
    pub tally: Tally,
}

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    World(#[from] WorldError),
    #[error("opening member {member}: {why}")]
    Open { member: String, why: String },
}

impl Driver {
    pub fn new(seed: u64, rates: FaultRates, ledger: DynamoLedger) -> Self {
        Self {
            // Another stream than the world's, so faults do not shift the causes.
            rng: fastrand::Rng::with_seed(seed ^ 0x5eed_fa17),
            rates,
            app: App {
                ledger,
                dead_letters: None,
            },
            pool: Vec::new(),
            rerun: Vec::new(),
            retry: Vec::new(),
            step: 0,
            sent: 0,
            accepted: HashSet::new(),
            outcomes: Outcomes::default(),
            tally: Tally::default(),
        }
    }

    pub fn ledger(&self) -> &DynamoLedger {
        &self.app.ledger
    }

    /// Opens the world's members, then runs `events` steps: each produces a cause, delivers a
    /// batch, or reruns a crashed cause. Then everything still in flight is delivered.
    pub async fn run(&mut self, world: &mut World, events: u64) -> Result<(), DriveError> {
        let start = World::start()?;
        for member in world.members() {
            self.app
                .ledger
                .open(member, start)
                .await
                .map_err(|e| DriveError::Open {
                    member: member.to_string(),
                    why: e.to_string(),
                })?;
        }
        for _ in 0..events {
            self.step += 1;
            let roll = self.rng.u8(..100);
            if roll < 45 || (self.pool.is_empty() && self.rerun.is_empty()) {
                let cause = world.next_cause()?;
                self.produce(world, cause).await;
            } else if roll < 90 && !self.pool.is_empty() {
                self.deliver(false).await;
            } else if !self.rerun.is_empty() {
                let cause = self.rerun.swap_remove(self.rng.usize(..self.rerun.len()));
                self.send(cause, true);
            } else {
                self.retry_direct(world).await;
            }
        }
        self.drain(world).await;
        Ok(())
    }

    async fn drain(&mut self, world: &mut World) {
        while let Some(cause) = self.rerun.pop() {
            self.send(cause, true);
        }
        while !self.retry.is_empty() {
            self.retry_direct(world).await;
        }
        while !self.pool.is_empty() {
            self.deliver(true).await;
        }
    }

    async fn produce(&mut self, world: &mut World, cause: Cause) {
        *self.tally.causes.entry(cause.kind).or_default() += 1;
        if cause.kind.queued() {
            self.send(cause, false);
            return;
        }
        for request in cause.requests {
            self.post(world, cause.kind, request).await;
        }
    }

    /// A direct handler's post; a lost answer makes its caller post the same again.
    async fn post(&mut self, world: &mut World, kind: Kind, request: PostingRequest) {
        let tries = if self.roll(self.rates.lost_answer, "lost answer (posted again)") {
            2
        } else {
            1
        };
        for _ in 0..tries {
            self.tally.direct_posts += 1;
            match self.app.ledger.post(&request).await {
                Ok(_) => {
                    if kind == Kind::DeliveryHold && !self.was_accepted(&request) {
                        world.hold_accepted(&request);
                    }
                    self.accept(&request);
                }
                Err(e) if e.class() == ErrorClass::Transient => {
                    self.retry.push((kind, request));
                    return;
                }
                Err(_) => {
                    self.tally.direct_refused += 1;
                    self.outcomes.rejected.push(request.clone());
                }
            }
        }
    }

    async fn retry_direct(&mut self, world: &mut World) {
        if let Some((kind, request)) = self.retry.pop() {
            self.post(world, kind, request).await;
        }
    }

    /// Puts a queued cause's messages in flight, unless its handler crashes first.
    fn send(&mut self, cause: Cause, rerun: bool) {
        let count = cause.requests.len();
        let mut upto = count;
        if !rerun && self.roll(self.rates.crash_before_enqueue, "crash before enqueue") {
            upto = 0;
        } else if cause.kind == Kind::Cutoff
            && !rerun
            && self.roll(self.rates.mid_cutoff, "mid-cutoff crash")
        {
            upto = self.rng.usize(..count);
        }
        for request in cause.requests.iter().take(upto) {
            let copies = if self.roll(self.rates.duplicate, "duplicate send") {
                2
            } else {
                1
            };
            for _ in 0..copies {
                self.enqueue(request.clone());
            }
        }
        if upto < count {
            self.rerun.push(cause);
        }
    }

    fn enqueue(&mut self, request: PostingRequest) {
        self.sent += 1;
        self.tally.messages_sent += 1;
        let not_before = if self.roll(self.rates.delay, "delay") {
            self.step + self.rng.u64(5..60)
        } else {
            0
        };
        self.pool.push(InFlight {
            message_id: format!("m{}", self.sent),
            request,
            receives: 0,
            not_before,
        });
    }

    /// One Lambda invocation: up to ten deliverable messages, in random order.
    async fn deliver(&mut self, draining: bool) {
        let mut ready: Vec<usize> = (0..self.pool.len())
            .filter(|i| draining || self.pool[*i].not_before <= self.step)
            .collect();
        if ready.is_empty() {
            return;
        }
        self.rng.shuffle(&mut ready);
        ready.truncate(self.rng.usize(1..=BATCH));
        let mut event = SqsEvent::default();
        for i in &ready {
            let m = &mut self.pool[*i];
            m.receives += 1;
            event.records.push(record(m));
        }
        self.tally.batches += 1;
        self.tally.deliveries += u32::try_from(ready.len()).unwrap_or(u32::MAX);
        let response =
            points_posting::handle(&self.app, LambdaEvent::new(event, Context::default())).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        let mut gone = Vec::new();
        for i in ready {
            let m = &self.pool[i];
            if failed.contains(&m.message_id) {
                if m.receives >= MAX_RECEIVES {
                    self.tally.dead_lettered += 1;
                    self.outcomes.rejected.push(m.request.clone());
                    gone.push(i);
                }
                continue;
            }
            let request = m.request.clone();
            self.accept(&request);
            if !self.roll(self.rates.crash_before_ack, "crash before ack") {
                gone.push(i);
            }
        }
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            self.pool.swap_remove(i);
        }
    }

    fn accept(&mut self, request: &PostingRequest) {
        if self.accepted.insert(key(request)) {
            self.outcomes.accepted.push(request.clone());
        }
    }

    fn was_accepted(&self, request: &PostingRequest) -> bool {
        self.accepted.contains(&key(request))
    }

    fn roll(&mut self, percent: u8, fault: &'static str) -> bool {
        let hit = self.rng.u8(..100) < percent;
        if hit {
            *self.tally.faults.entry(fault).or_default() += 1;
        }
        hit
    }
}

fn key(request: &PostingRequest) -> String {
    format!("{} {}", request.member, request.content_hash())
}

fn record(m: &InFlight) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(m.message_id.clone());
    record.body = Some(Envelope::posting(m.request.clone()).to_json());
    record
        .attributes
        .insert("MessageGroupId".into(), m.request.member.to_string());
    record
        .attributes
        .insert("ApproximateReceiveCount".into(), m.receives.to_string());
    record
}
