//! Running a scenario: compiled scenario -> world -> model -> engine -> observers ->
//! measurements.
//!
//! [`simulate`] is the library's front door: it refuses runs that would be too large,
//! drives the engine to the scenario's end with the observers that measure it, checks
//! conservation, and returns a [`RunResult`] that the outputs, plots, report and sweeps
//! read. [`simulate_with`] adds an observer of the caller's (a log writer, a comparison).

use std::fmt;
use std::sync::Arc;
use std::time::Duration as WallDuration;

use crate::engine::{self, Scheduler};
use crate::metrics::{
    DestinationSummary, Detail, Histogram, Sample, Sampler, Summary, Tallies, TransitionLog,
    TransitionRecord,
};
use crate::mta::model::MailModel;
use crate::mta::observe::Observer;
use crate::mta::world::World;
use crate::scenario::{CompiledScenario, Scenario};
use crate::units::Span;

/// Limits of one run.
pub struct RunOptions {
    /// Refuse scenarios injecting more messages than this.
    pub max_messages: u64,
    /// Refuse scenarios whose estimated event count exceeds this.
    pub max_events: u64,
    /// Polled during the run; returning false stops it (Ctrl-C).
    pub keep_going: Box<dyn FnMut() -> bool>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_messages: 20_000_000,
            max_events: 400_000_000,
            keep_going: Box::new(|| true),
        }
    }
}

/// What a run would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Messages injected ([`RunOptions::max_messages`]).
    Messages,
    /// Estimated events ([`RunOptions::max_events`]).
    Events,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Messages => "messages",
            Limit::Events => "events",
        })
    }
}

/// Why a run did not produce results.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The run would exceed a resource limit.
    #[error(
        "the scenario {} {needed} {limit}, more than the limit of {max}",
        if *limit == Limit::Messages { "injects" } else { "needs an estimated" }
    )]
    TooLarge { limit: Limit, needed: u64, max: u64 },
    /// Stopped before the end (Ctrl-C), at this simulated time.
    #[error("interrupted at simulated time {0}; no outputs were written or replaced")]
    Interrupted(Span),
    /// A broken invariant: a bug in mtasim.
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

/// Runs a compiled scenario to its end.
pub fn simulate(compiled: &CompiledScenario, options: RunOptions) -> Result<RunResult, SimError> {
    simulate_with(compiled, options, ()).map(|(result, ())| result)
}

/// The observers every run has: summary.json, the time series, the transitions.
type Measures = (Tallies, (Sampler, TransitionLog));

/// Runs a compiled scenario to its end, telling `extra` everything the model reports, and
/// gives it back with the results.
pub fn simulate_with<O: Observer>(
    compiled: &CompiledScenario,
    options: RunOptions,
    extra: O,
) -> Result<(RunResult, O), SimError> {
    let scenario = &compiled.scenario;
    check_size(scenario, &options)?;
    let started = std::time::Instant::now();
    let world = World::build(compiled);
    let detail = Arc::new(Detail::choose(&world));
    let destinations = world.destinations.len();
    let measures: Measures = (
        Tallies::new(Arc::clone(&detail), destinations),
        (
            Sampler::new(Arc::clone(&detail), destinations),
            TransitionLog::default(),
        ),
    );
    let mut model = MailModel::new(compiled, world, (measures, extra));
    let mut scheduler = Scheduler::new();
    model.start(&mut scheduler);
    let end = compiled.end();
    let progress = engine::run(&mut model, &mut scheduler, end, options.keep_going);
    if scheduler.now() < end {
        return Err(SimError::Interrupted(
            scheduler.now() - crate::units::Instant::ZERO,
        ));
    }
    model.finish(end);
    let stored = model.stored();
    let queues = model.queues();
    if queues.ready + queues.waiting + queues.in_flight != stored {
        return Err(SimError::Internal(format!(
            "queue depths ({} ready, {} waiting, {} in flight) do not add up to {stored} queued messages",
            queues.ready, queues.waiting, queues.in_flight
        )));
    }
    let MailModel {
        world, observer, ..
    } = model;
    let ((tallies, (sampler, transitions)), extra) = observer;
    let summary = tallies.summary(&world, scenario, end, stored);
    check_conserved(&summary)?;
    let stats = RunStats {
        events: progress.events,
        wall: started.elapsed(),
        simulated: scenario.duration,
        peak_pending_events: progress.peak_pending,
    };
    let result = RunResult {
        scenario: scenario.clone(),
        summary,
        destinations: detail
            .reported()
            .iter()
            .map(|&d| world.destination_name(d).to_owned())
            .collect(),
        samples: sampler.into_samples(),
        transitions: transitions.into_records(),
        latency: tallies.latency().clone(),
        stats,
    };
    Ok((result, extra))
}

/// Refuses a scenario beyond the limits of `options`, with the estimate; [`simulate`]
/// calls it first, and the command line before it prepares the output folder.
pub fn check_size(scenario: &Scenario, options: &RunOptions) -> Result<(), SimError> {
    let messages = scenario.total_messages();
    if messages > options.max_messages {
        return Err(SimError::TooLarge {
            limit: Limit::Messages,
            needed: messages,
            max: options.max_messages,
        });
    }
    let events = estimate_events(scenario);
    if events > options.max_events {
        return Err(SimError::TooLarge {
            limit: Limit::Events,
            needed: events,
            max: options.max_events,
        });
    }
    Ok(())
}

/// Every message is accounted for, in total and at each reported destination.
fn check_conserved(summary: &Summary) -> Result<(), SimError> {
    let entries = summary
        .destinations
        .iter()
        .map(|(name, entry)| (name.as_str(), entry))
        .chain([("totals", &summary.totals)]);
    for (name, entry) in entries {
        if !entry.conserved() {
            return Err(broken(name, entry));
        }
    }
    Ok(())
}

fn broken(name: &str, summary: &DestinationSummary) -> SimError {
    SimError::Internal(format!(
        "conservation broken for {name}: injected {} != delivered {} + bounced {} + expired {} + queued {}",
        summary.injected, summary.delivered, summary.bounced, summary.expired, summary.queued
    ))
}
