//! Running a scenario: scenario -> world and model -> engine -> measurements.
//!
//! [`simulate`] is the library's front door: it refuses runs that would be too large,
//! drives the engine to the scenario's end, checks conservation, and returns a
//! [`RunResult`] that the outputs, plots, report and sweeps read.

use std::collections::BTreeMap;
use std::time::Duration as WallDuration;

use crate::engine::{self, Scheduler};
use crate::metrics::{
    DestinationSummary, Histogram, OtherDestinations, Reputation, Sample, Summary, Tally,
    TransitionRecord,
};
use crate::mta::log::DeliveryLog;
use crate::mta::model::MailModel;
use crate::mta::world::World;
use crate::scenario::Scenario;
use crate::units::{Instant, Span};
use crate::validate::Invalid;

/// Limits and extras of one run.
pub struct RunOptions {
    /// Refuse scenarios injecting more messages than this.
    pub max_messages: u64,
    /// Refuse scenarios whose estimated event count exceeds this.
    pub max_events: u64,
    /// Write deliveries.jsonl lines here.
    pub log: Option<DeliveryLog>,
    /// Polled during the run; returning false stops it (Ctrl-C).
    pub keep_going: Box<dyn FnMut() -> bool>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_messages: 20_000_000,
            max_events: 400_000_000,
            log: None,
            keep_going: Box::new(|| true),
        }
    }
}

/// Why a run did not produce results.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is valid JSON but cannot be simulated as asked (exit code 2).
    #[error("{0}")]
    Invalid(Invalid),
    /// The run would exceed a resource limit (exit code 2).
    #[error("{0}")]
    TooLarge(String),
    /// Stopped before the end (Ctrl-C; exit code 130).
    #[error("interrupted at simulated time {0} s; no outputs were written or replaced")]
    Interrupted(f64),
    /// A broken invariant: a bug in mtasim (exit code 1).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Wall-clock facts about a run.
#[derive(Debug, Clone, Copy)]
pub struct RunStats {
    pub events: u64,
    pub wall: WallDuration,
    pub simulated: Span,
    pub peak_pending_events: usize,
}

/// Everything a run measured.
pub struct RunResult {
    pub scenario: Scenario,
    pub summary: Summary,
    /// Names of the destinations that have their own time series, by index.
    pub destinations: Vec<String>,
    pub samples: Vec<Sample>,
    pub transitions: Vec<TransitionRecord>,
    /// Delivery latencies of every delivered message (injection to delivery).
    pub latency: Histogram,
    pub stats: RunStats,
    /// deliveries.jsonl lines written, when logging.
    pub log_lines: Option<u64>,
}

/// Events per message on a typical run (inject, connect, transaction, retry...): used to
/// refuse runs that would take hours before they start.
const EVENTS_PER_MESSAGE: u64 = 4;

/// Estimates the events a scenario will need, to refuse runs beyond the limits.
pub fn estimate_events(scenario: &Scenario) -> u64 {
    let samples = scenario.duration.as_millis() / scenario.sample_every.as_millis().max(1);
    scenario
        .total_messages()
        .saturating_mul(EVENTS_PER_MESSAGE)
        .saturating_add(samples)
}

/// Runs `scenario` to its end.
pub fn simulate(scenario: &Scenario, mut options: RunOptions) -> Result<RunResult, SimError> {
    check_size(scenario, &options)?;
    let started = std::time::Instant::now();
    let world = World::build(scenario).map_err(SimError::Invalid)?;
    let mut model = MailModel::new(scenario, world, options.log.take());
    let mut scheduler = Scheduler::new();
    model.start(&mut scheduler);
    let end = Instant::ZERO + scenario.duration;
    let progress = engine::run(&mut model, &mut scheduler, end, options.keep_going);
    if scheduler.now() < end {
        return Err(SimError::Interrupted(scheduler.now().as_secs_f64()));
    }
    model.finish(end);
    let log_lines = match model.log.take() {
        Some(log) => Some(
            log.finish()
                .map_err(|e| SimError::Internal(format!("writing deliveries.jsonl: {e}")))?,
        ),
        None => None,
    };
    let summary = summarise(scenario, &model, end)?;
    let stats = RunStats {
        events: progress.events,
        wall: started.elapsed(),
        simulated: scenario.duration,
        peak_pending_events: progress.peak_pending,
    };
    Ok(RunResult {
        scenario: scenario.clone(),
        summary,
        destinations: model.world.detail_names(),
        samples: std::mem::take(&mut model.samples),
        transitions: std::mem::take(&mut model.transitions),
        latency: std::mem::take(&mut model.latency_total),
        stats,
        log_lines,
    })
}

/// Refuses a scenario beyond the limits of `options`, with the estimate; [`simulate`]
/// calls it first, and the command line before it prepares the output folder.
pub fn check_size(scenario: &Scenario, options: &RunOptions) -> Result<(), SimError> {
    let messages = scenario.total_messages();
    if messages > options.max_messages {
        return Err(SimError::TooLarge(format!(
            "the scenario injects {messages} messages, more than the limit of {}; raise it with --max-messages",
            options.max_messages
        )));
    }
    let events = estimate_events(scenario);
    if events > options.max_events {
        return Err(SimError::TooLarge(format!(
            "the scenario needs an estimated {events} events, more than the limit of {}; raise it with --max-events",
            options.max_events
        )));
    }
    Ok(())
}

/// Builds summary.json's numbers and checks that every message is accounted for.
fn summarise(scenario: &Scenario, model: &MailModel, end: Instant) -> Result<Summary, SimError> {
    let world = &model.world;
    let reply_name: Vec<String> = world
        .book
        .iter()
        .map(|(_, reply)| reply.text.clone())
        .collect();
    let mut total = Tally::default();
    let mut other = Tally::default();
    let mut other_count = 0;
    let mut other_queued = 0;
    let mut destinations = BTreeMap::new();
    for (d, destination) in world.destinations.iter().enumerate() {
        let mut tally = destination.tally.clone();
        let receiver = &world.receivers[destination.receiver as usize];
        tally.backoff_entries = destination.flow.backoff_entries();
        tally.suspensions = destination.flow.suspensions();
        tally.blocks = receiver.blocks();
        total.merge(&tally);
        let queued = model.queued(d);
        match destination.detail {
            Some(i) => {
                let mut entry = DestinationSummary::new(
                    &tally,
                    &model.latency_detail[i as usize],
                    queued,
                    &reply_name,
                );
                entry.reputation = receiver.reputation(end).map(|last| Reputation {
                    min: receiver.reputation_min().unwrap_or(last),
                    last,
                });
                check_conserved(&destination.name, &entry)?;
                destinations.insert(destination.name.clone(), entry);
            }
            None => {
                other.merge(&tally);
                other_count += 1;
                other_queued += queued;
            }
        }
    }
    // Blocks belong to receivers, which several domain destinations may share.
    total.blocks = world.receivers.iter().map(|r| r.blocks()).sum();
    let queued = model.messages.len() as u64;
    let totals = DestinationSummary::new(&total, &model.latency_total, queued, &reply_name);
    check_conserved("totals", &totals)?;
    let other_destinations = (other_count > 0).then(|| OtherDestinations {
        count: other_count,
        summary: DestinationSummary::new(&other, &model.latency_other, other_queued, &reply_name),
    });
    if model.ready_total + model.waiting_total + model.in_flight_total != queued {
        return Err(SimError::Internal(format!(
            "queue depths ({} ready, {} waiting, {} in flight) do not add up to {queued} queued messages",
            model.ready_total, model.waiting_total, model.in_flight_total
        )));
    }
    Ok(Summary {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        duration_s: (end - Instant::ZERO).as_secs_f64(),
        totals,
        destinations,
        other_destinations,
    })
}

fn check_conserved(name: &str, summary: &DestinationSummary) -> Result<(), SimError> {
    if summary.conserved() {
        return Ok(());
    }
    Err(SimError::Internal(format!(
        "conservation broken for {name}: injected {} != delivered {} + bounced {} + expired {} + queued {}",
        summary.injected, summary.delivered, summary.bounced, summary.expired, summary.queued
    )))
}
