//! Replay: a scenario run beside the log it should behave like, destination by
//! destination — delivered, deferred, bounced, expired, still queued, deferrals by reply,
//! delivery latency p50/p90/p99, time in backoff, and the outcome and queue curves — with
//! the relative error of each and an overall score.
//!
//! Destinations are matched by name: each named receiver of the scenario against the log's
//! destination of that name; everything else (the generated population, the log's other
//! destinations) is pooled as [`OTHER`]. The log is read with the scenario's destination
//! key, so a scenario keyed by domain compares domains.
//!
//! The score is 1 minus the mean of the relative errors (each capped at 1) of delivered,
//! deferred, bounced, expired and the three latency percentiles, destinations weighted by
//! their share of the log's recipients: 1 is a perfect fit, 0 nothing alike.

use std::collections::BTreeMap;

use serde::Serialize;

use super::collect::Evidence;
use super::collect::pace::STEP;
use super::stats::CoarseHistogram;
use crate::flow_control::State;
use crate::logs::classify::reply_key;
use crate::logs::{LogError, LogReader};
use crate::mta::observe::{MessageEvent, Observer};
use crate::mta::world::{DestinationId, World};
use crate::replies::{BounceReason, ReplyId};
use crate::scenario::CompiledScenario;
use crate::sim::{self, RunOptions, SimError};
use crate::units::{Instant, Span};

/// The pooled group of every destination not named on both sides.
pub const OTHER: &str = "other";

/// The metrics the score weighs.
const SCORED: [&str; 7] = [
    "delivered",
    "deferred",
    "bounced",
    "expired",
    "latency_p50_s",
    "latency_p90_s",
    "latency_p99_s",
];

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// One side's numbers for one destination group.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub recipients: u64,
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub expired: u64,
    pub queued: u64,
    pub deferrals_by_reply: BTreeMap<String, u64>,
    pub latency: CoarseHistogram,
    /// Time the destinations were held back: the simulation's flow-control states; the
    /// sender's conduct the log shows ([`crate::calibrate::sender`]).
    pub backoff: Span,
    pub suspended: Span,
    /// Per bin: delivered, deferred, bounced, and queued at the bin's end.
    pub curves: Vec<[u64; 4]>,
    /// Per bin: ms in backoff and suspended (summed over the group's destinations).
    pub held: Vec<[u64; 2]>,
}

impl Side {
    fn new(bins: usize) -> Side {
        Side {
            curves: vec![[0; 4]; bins],
            held: vec![[0; 2]; bins],
            ..Side::default()
        }
    }

    /// Adds `ms` of `state` from `from` (ms) on, spread over the bins it covers.
    fn hold(&mut self, state: State, (from, ms): (u64, u64), bin: u64) {
        let column = usize::from(state == State::Suspended);
        match state {
            State::Suspended => self.suspended += Span::from_millis(ms),
            _ => self.backoff += Span::from_millis(ms),
        }
        let (mut at, end) = (from, from + ms);
        let last = self.held.len().saturating_sub(1);
        while at < end && !self.held.is_empty() {
            let b = ((at / bin) as usize).min(last);
            let upto = if b == last {
                end
            } else {
                ((at / bin) + 1) * bin
            };
            let upto = upto.min(end);
            self.held[b][column] += upto - at;
            at = upto;
        }
    }

    fn metrics(&self) -> [(&'static str, f64); 12] {
        let q = |p| self.latency.quantile(p) as f64 / 1000.0;
        [
            ("delivered", self.delivered as f64),
            ("deferred", self.deferred as f64),
            ("bounced", self.bounced as f64),
            ("expired", self.expired as f64),
            ("queued", self.queued as f64),
            ("latency_p50_s", q(0.5)),
            ("latency_p90_s", q(0.9)),
            ("latency_p99_s", q(0.99)),
            ("time_in_backoff_s", self.backoff.as_secs_f64()),
            ("time_suspended_s", self.suspended.as_secs_f64()),
            (
                "time_held_back_s",
                (self.backoff + self.suspended).as_secs_f64(),
            ),
            ("recipients", self.recipients as f64),
        ]
    }
}

/// One metric on both sides.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Compared {
    pub observed: f64,
    pub simulated: f64,
    /// (simulated − observed) / observed; `None` when observed is 0 and simulated is not.
    pub relative_error: Option<f64>,
}

impl Compared {
    fn new(observed: f64, simulated: f64) -> Compared {
        Compared::within(observed, simulated, 0.0)
    }

    /// Compared with a difference up to `resolution` counted as none (a latency measured
    /// with a log's one-second timestamps).
    fn within(observed: f64, simulated: f64, resolution: f64) -> Compared {
        let gap = simulated - observed;
        let gap = gap.signum() * (gap.abs() - resolution).max(0.0);
        let relative_error = if observed != 0.0 {
            Some(round(gap / observed, 4))
        } else if gap == 0.0 {
            Some(0.0)
        } else {
            None
        };
        Compared {
            observed: round(observed, 3),
            simulated: round(simulated, 3),
            relative_error,
        }
    }

    /// The error the score counts: capped at 1.
    fn capped(&self) -> f64 {
        self.relative_error.map_or(1.0, |e| e.abs().min(1.0))
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Deferrals with one reply on both sides.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReplyCompared {
    pub reply: String,
    pub observed: u64,
    pub simulated: u64,
}

/// One destination group's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationFit {
    pub destination: String,
    /// Its share of the log's recipients: its weight in the score.
    pub weight: f64,
    pub metrics: BTreeMap<&'static str, Compared>,
    pub deferrals_by_reply: Vec<ReplyCompared>,
    /// 1 minus the mean capped relative error of the scored metrics.
    pub score: f64,
}

/// fit.json.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    pub scenario: String,
    pub bin_s: f64,
    pub score: f64,
    pub scored_metrics: Vec<&'static str>,
    /// Latency differences up to this are counted as none: the log's clock resolution.
    pub latency_resolution_s: f64,
    pub destinations: Vec<DestinationFit>,
    pub totals: DestinationFit,
}

/// A finished replay: the fit and both sides' numbers.
pub struct Replay {
    pub fit: Fit,
    /// Group names, in the order of `observed` and `simulated`.
    pub groups: Vec<String>,
    pub observed: Vec<Side>,
    pub simulated: Vec<Side>,
    pub bin: Span,
}

/// Reads the log, runs the scenario, compares them with curves in bins of `bin`.
pub fn replay(
    reader: &mut LogReader,
    compiled: &CompiledScenario,
    bin: Span,
    options: RunOptions,
) -> Result<Replay, ReplayError> {
    let evidence = Evidence::read(reader, bin)?;
    sim::check_size(&compiled.scenario, &options)?;
    let world = World::build(compiled);
    let named: Vec<String> = (0..world.destinations.len())
        .filter(|&d| world.destinations[d].receiver.0 < world.named_receivers)
        .map(|d| world.destination_names[d].to_owned())
        .collect();
    drop(world);
    let mut groups = named;
    groups.sort();
    groups.dedup();
    groups.push(OTHER.to_string());
    let bins = (compiled
        .scenario
        .duration
        .as_millis()
        .div_ceil(bin.as_millis()))
    .max(1) as usize;
    let observed = observed(&evidence, &groups, bins);
    let observer = SimSide::new(&groups, bins, bin);
    let (_, observer) = sim::simulate_with(compiled, options, observer)?;
    let end = compiled.end();
    let simulated = observer.finish(end);
    let fit = compare(
        &compiled.scenario.name,
        &groups,
        (&observed, &simulated),
        bin,
        evidence.resolution(),
    );
    Ok(Replay {
        fit,
        groups,
        observed,
        simulated,
        bin,
    })
}

fn group_of(groups: &[String], name: &str) -> usize {
    groups[..groups.len() - 1]
        .binary_search_by(|g| g.as_str().cmp(name))
        .unwrap_or(groups.len() - 1)
}

/// The log's side, from its evidence.
fn observed(e: &Evidence, groups: &[String], bins: usize) -> Vec<Side> {
    let mut sides: Vec<Side> = groups.iter().map(|_| Side::new(bins)).collect();
    let queued = e.queued_at_end_by_dest();
    let mut group_of_dest = Vec::with_capacity(e.dests.len());
    for (i, d) in e.dests.iter().enumerate() {
        let name = e.names.get(&d.name).map_or("", String::as_str);
        let g = group_of(groups, name);
        group_of_dest.push(g);
        let side = &mut sides[g];
        side.recipients += d.recipients;
        side.delivered += d.delivered;
        side.deferred += d.deferred;
        side.bounced += d.bounced;
        side.expired += d.expired;
        side.queued += queued[i];
        side.latency.merge(&d.delivery);
        for (reply, n) in &d.deferrals_by_reply {
            let text = e.text(*reply);
            let key = if text.is_empty() {
                "(no reply)".to_string()
            } else {
                mask(text)
            };
            *side.deferrals_by_reply.entry(key).or_insert(0) += n;
        }
    }
    let timelines = super::fit::timelines(e);
    for (d, t) in timelines.iter().enumerate() {
        let conduct = super::sender::Conduct::read(&t.pace);
        for (k, state) in conduct.held_steps() {
            sides[group_of_dest[d]].hold(state, (u64::from(k) * STEP, STEP), e.bin);
        }
    }
    let mut arrived = vec![vec![0u64; bins]; groups.len()];
    let mut finished = vec![vec![0u64; bins]; groups.len()];
    for (&(d, b), bin) in &e.bins {
        let g = group_of_dest[d as usize];
        let i = (b as usize).min(bins - 1);
        let c = &mut sides[g].curves[i];
        c[0] += u64::from(bin.delivered);
        c[1] += u64::from(bin.deferred);
        c[2] += u64::from(bin.bounced);
        arrived[g][i] += u64::from(bin.arrived);
        finished[g][i] += u64::from(bin.finished);
    }
    for (g, side) in sides.iter_mut().enumerate() {
        cumulate(&mut side.curves, &arrived[g], &finished[g]);
    }
    sides
}

/// Queued at each bin's end: arrived so far minus finished so far.
fn cumulate(curves: &mut [[u64; 4]], arrived: &[u64], finished: &[u64]) {
    let mut queued: i64 = 0;
    for (i, c) in curves.iter_mut().enumerate() {
        queued += arrived[i] as i64 - finished[i] as i64;
        c[3] = queued.max(0) as u64;
    }
}

/// The grouping key of a reply text, as the log reader groups them.
fn mask(text: &str) -> String {
    let mut scratch = String::new();
    reply_key(text, &mut scratch).to_string()
}

/// The simulation's side: an observer grouping destinations by name.
struct SimSide {
    bin: u64,
    sides: Vec<Side>,
    /// Per destination id, its group (resolved at the first event).
    group_of: Vec<Option<usize>>,
    groups: Vec<String>,
    /// Per reply id, its grouping key.
    keys: Vec<Option<String>>,
    arrived: Vec<Vec<u64>>,
    finished: Vec<Vec<u64>>,
    /// Per destination: since when it has been out of normal.
    held_since: Vec<Option<(Instant, State)>>,
}

impl SimSide {
    fn new(groups: &[String], bins: usize, bin: Span) -> SimSide {
        SimSide {
            bin: bin.as_millis(),
            sides: groups.iter().map(|_| Side::new(bins)).collect(),
            group_of: Vec::new(),
            groups: groups.to_vec(),
            keys: Vec::new(),
            arrived: vec![vec![0; bins]; groups.len()],
            finished: vec![vec![0; bins]; groups.len()],
            held_since: Vec::new(),
        }
    }

    fn group(&mut self, world: &World, d: DestinationId) -> usize {
        if self.group_of.len() <= d.index() {
            self.group_of.resize(world.destinations.len(), None);
            self.held_since.resize(world.destinations.len(), None);
        }
        if let Some(g) = self.group_of[d.index()] {
            return g;
        }
        let destination = world.destination(d);
        let g = if destination.receiver.0 < world.named_receivers {
            group_of(&self.groups, world.destination_name(d))
        } else {
            self.groups.len() - 1
        };
        self.group_of[d.index()] = Some(g);
        g
    }

    fn bin_of(&self, at: Instant) -> usize {
        ((at.as_millis() / self.bin) as usize).min(self.sides[0].curves.len() - 1)
    }

    fn finish_one(&mut self, world: &World, event: MessageEvent, column: usize) -> usize {
        let g = self.group(world, event.destination);
        let b = self.bin_of(event.at);
        self.sides[g].curves[b][column] += 1;
        self.finished[g][b] += 1;
        g
    }

    fn finish(mut self, end: Instant) -> Vec<Side> {
        for (d, since) in self.held_since.iter().enumerate() {
            if let (Some((since, state)), Some(g)) = (since, self.group_of[d]) {
                let ms = end.saturating_since(*since).as_millis();
                self.sides[g].hold(*state, (since.as_millis(), ms), self.bin);
            }
        }
        for (g, side) in self.sides.iter_mut().enumerate() {
            cumulate(&mut side.curves, &self.arrived[g], &self.finished[g]);
            side.queued = side.curves.last().map_or(0, |c| c[3]);
        }
        self.sides
    }
}

impl Observer for SimSide {
    fn injected(&mut self, world: &World, event: MessageEvent) {
        let g = self.group(world, event.destination);
        let b = self.bin_of(event.at);
        self.arrived[g][b] += 1;
        self.sides[g].recipients += 1;
    }

    fn delivered(&mut self, world: &World, event: MessageEvent) {
        let g = self.finish_one(world, event, 0);
        let side = &mut self.sides[g];
        side.delivered += 1;
        side.latency.record(
            event
                .at
                .saturating_since(event.message.injected_at)
                .as_millis(),
        );
    }

    fn bounced(&mut self, world: &World, event: MessageEvent, _: BounceReason) {
        let g = self.finish_one(world, event, 2);
        self.sides[g].bounced += 1;
    }

    fn deferred(&mut self, world: &World, event: MessageEvent, reply: ReplyId) {
        let g = self.group(world, event.destination);
        let b = self.bin_of(event.at);
        self.sides[g].curves[b][1] += 1;
        self.sides[g].deferred += 1;
        if self.keys.len() <= reply.index() {
            self.keys.resize(reply.index() + 1, None);
        }
        let key = self.keys[reply.index()]
            .get_or_insert_with(|| mask(&world.book.get(reply).text))
            .clone();
        *self.sides[g].deferrals_by_reply.entry(key).or_insert(0) += 1;
    }

    fn expired(&mut self, world: &World, event: MessageEvent) {
        let g = self.group(world, event.destination);
        let b = self.bin_of(event.at);
        self.finished[g][b] += 1;
        self.sides[g].expired += 1;
    }

    fn transition(
        &mut self,
        world: &World,
        d: DestinationId,
        transition: &crate::flow_control::Transition,
    ) {
        let g = self.group(world, d);
        if let Some((from, state)) = self.held_since[d.index()] {
            let ms = transition.at.saturating_since(from).as_millis();
            self.sides[g].hold(state, (from.as_millis(), ms), self.bin);
        }
        self.held_since[d.index()] =
            (transition.to != State::Normal).then_some((transition.at, transition.to));
    }
}

/// Both sides compared, per group and in total.
fn compare(
    scenario: &str,
    groups: &[String],
    (observed, simulated): (&[Side], &[Side]),
    bin: Span,
    resolution: f64,
) -> Fit {
    let total_recipients: u64 = observed.iter().map(|s| s.recipients).sum();
    let mut destinations: Vec<DestinationFit> = groups
        .iter()
        .zip(observed.iter().zip(simulated))
        .filter(|(_, (o, s))| o.recipients + s.recipients > 0)
        .map(|(name, (o, s))| {
            let weight = o.recipients as f64 / total_recipients.max(1) as f64;
            fit_of(name, round(weight, 6), (o, s), resolution)
        })
        .collect();
    destinations.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then(a.destination.cmp(&b.destination))
    });
    let weights: f64 = destinations.iter().map(|d| d.weight).sum();
    let score = if weights > 0.0 {
        destinations.iter().map(|d| d.weight * d.score).sum::<f64>() / weights
    } else {
        0.0
    };
    let sum = |sides: &[Side]| {
        let mut total = Side::default();
        for s in sides {
            total.recipients += s.recipients;
            total.delivered += s.delivered;
            total.deferred += s.deferred;
            total.bounced += s.bounced;
            total.expired += s.expired;
            total.queued += s.queued;
            total.backoff += s.backoff;
            total.suspended += s.suspended;
            total.latency.merge(&s.latency);
            for (reply, n) in &s.deferrals_by_reply {
                *total.deferrals_by_reply.entry(reply.clone()).or_insert(0) += n;
            }
        }
        total
    };
    Fit {
        scenario: scenario.to_string(),
        bin_s: bin.as_secs_f64(),
        score: round(score, 4),
        scored_metrics: SCORED.to_vec(),
        destinations,
        totals: fit_of("totals", 1.0, (&sum(observed), &sum(simulated)), resolution),
        latency_resolution_s: resolution,
    }
}

fn fit_of(name: &str, weight: f64, (o, s): (&Side, &Side), resolution: f64) -> DestinationFit {
    let metrics: BTreeMap<&'static str, Compared> = o
        .metrics()
        .iter()
        .zip(s.metrics())
        .map(|((key, observed), (_, simulated))| {
            let compared = if key.starts_with("latency_") {
                Compared::within(*observed, simulated, resolution)
            } else {
                Compared::new(*observed, simulated)
            };
            (*key, compared)
        })
        .collect();
    let error: f64 = SCORED.iter().map(|k| metrics[k].capped()).sum::<f64>() / SCORED.len() as f64;
    let mut replies: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (reply, n) in &o.deferrals_by_reply {
        replies.entry(reply).or_default().0 += n;
    }
    for (reply, n) in &s.deferrals_by_reply {
        replies.entry(reply).or_default().1 += n;
    }
    let mut deferrals_by_reply: Vec<ReplyCompared> = replies
        .into_iter()
        .map(|(reply, (observed, simulated))| ReplyCompared {
            reply: reply.to_string(),
            observed,
            simulated,
        })
        .collect();
    deferrals_by_reply.sort_by(|a, b| {
        (b.observed + b.simulated)
            .cmp(&(a.observed + a.simulated))
            .then(a.reply.cmp(&b.reply))
    });
    DestinationFit {
        destination: name.to_string(),
        weight,
        metrics,
        deferrals_by_reply,
        score: round(1.0 - error, 4),
    }
}

impl Replay {
    /// replay.csv: both sides' curves, one row per destination, side and bin.
    pub fn csv(&self) -> String {
        let mut out = String::from("destination,source,time_s,delivered,deferred,bounced,queued\n");
        for (g, name) in self.groups.iter().enumerate() {
            for (source, side) in [
                ("observed", &self.observed[g]),
                ("simulated", &self.simulated[g]),
            ] {
                if side.recipients == 0 && side.curves.iter().all(|c| c == &[0; 4]) {
                    continue;
                }
                for (i, c) in side.curves.iter().enumerate() {
                    let t = (i as u64 + 1) * self.bin.as_millis() / 1000;
                    out.push_str(&format!(
                        "{},{source},{t},{},{},{},{}\n",
                        csv_field(name),
                        c[0],
                        c[1],
                        c[2],
                        c[3]
                    ));
                }
            }
        }
        out
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_errors_and_their_cap() {
        assert_eq!(Compared::new(100.0, 110.0).relative_error, Some(0.1));
        assert_eq!(Compared::new(0.0, 0.0).relative_error, Some(0.0));
        assert_eq!(Compared::new(0.0, 3.0).relative_error, None);
        assert_eq!(Compared::new(0.0, 3.0).capped(), 1.0);
        assert_eq!(Compared::new(10.0, 40.0).capped(), 1.0);
        assert_eq!(Compared::new(10.0, 9.0).capped(), 0.1);
        assert_eq!(Compared::within(1.0, 0.2, 1.0).relative_error, Some(0.0));
        assert_eq!(Compared::within(10.0, 13.0, 1.0).relative_error, Some(0.2));
    }

    #[test]
    fn queues_are_cumulated_per_bin() {
        let mut curves = vec![[0; 4]; 3];
        cumulate(&mut curves, &[5, 2, 0], &[1, 4, 2]);
        assert_eq!(curves.iter().map(|c| c[3]).collect::<Vec<_>>(), [4, 2, 0]);
        let groups = ["b".to_string(), "d".to_string(), OTHER.to_string()];
        assert_eq!(group_of(&groups, "d"), 1);
        assert_eq!(group_of(&groups, "c"), 2);
    }
}
