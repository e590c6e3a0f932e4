//! `mtasim diagnose`: a real MTA's log in, the diagnosis a dynamic-flow-control MTA would
//! have made out: which destinations it would have put into backoff, when, because of
//! which replies, and whether that is a few destinations (their opinion of the sender) or
//! all of them at once (the MTA itself).
//!
//! # How
//! [`diagnose`] reads the [`LogReader`]'s outcomes in time order and feeds each attempt
//! (delivered, deferred, bounced; holds and expiries are counted, not attempts) to the
//! real [`FlowControl`](crate::flow_control::FlowControl) of its destination, with the
//! policy of the given flow-control configuration (a scenario's `flow_control`, or the
//! built-in default scenario's; overrides by destination name apply). So "would have
//! entered backoff" means exactly what it means in a simulation. Times are milliseconds
//! since the first outcome (the *origin*); an outcome older than the one before it (syslog
//! reordering) counts at the time of the one before, so the machines never see time go
//! back. The log does not say how many connections were open, so the concurrency window
//! gets no in-flight count: positive feedback does not grow it, and dead-destination
//! detection sees the initial window.
//!
//! An **episode** runs from a destination's transition out of normal to its transition
//! back (or the end of the log: `end` is then null). Its `errors` are the failed attempts
//! of the error window that triggered it and of the episode itself; `top_reply` the most
//! frequent reply among them, bounces that say nothing of the destination's standing
//! (5xx other than 5.7.x blocks) only when there is nothing else; `cause` comes from [`cause`].
//!
//! # The verdict
//! A destination is *busy* when it had `errors.threshold` attempts within one
//! `errors.window` (any attempt when the threshold is 0 or 1): only a busy destination
//! can reach the threshold. `at_once` is the largest number of destinations in an
//! episode at the same moment.
//! - `none`: no episode;
//! - `all-destinations`: at least 2 destinations at once, and at least half of the busy
//!   destinations at once;
//! - `few-destinations`: otherwise.
//!
//! # Memory
//! Bounded by the destinations (and the reader's messages in flight), not by the log's
//! size: per destination its machine, counts, replies, a latency summary, its episodes and
//! a sparse series of at most [`MAX_INTERVALS`] intervals (the interval doubles, from
//! [`Options::interval`], when a log spans more).

pub mod cause;
mod destination;
mod latency;
pub mod output;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;

pub use cause::Cause;
pub use destination::Counts;
use destination::{Bucket, Destination, Episode};

use crate::flow_control::{Policies, State};
use crate::logs::{FileInfo, Kind, LogError, LogReader, MalformedLine, Sym, UnixMillis};
use crate::replies::BounceReason;
use crate::units::{Instant, Span};

/// At most this many intervals per series (2 days of minutes).
pub const MAX_INTERVALS: u32 = 2_880;

/// How to diagnose.
#[derive(Debug, Clone)]
pub struct Options {
    /// The flow-control policies the log is replayed through.
    pub policies: Policies,
    /// The series' first interval.
    pub interval: Span,
}

/// The diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub verdict: VerdictKind,
    /// The verdict in one sentence.
    pub summary: String,
    /// Destinations with an episode, by name.
    pub affected: Vec<String>,
    /// Destinations that could have reached the error threshold.
    pub busy: u64,
    /// The most destinations in an episode at the same moment, and the first such moment.
    pub at_once: u64,
    pub at_once_time: Option<String>,
    /// Episodes by cause.
    pub causes: BTreeMap<Cause, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictKind {
    None,
    FewDestinations,
    AllDestinations,
}

impl VerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::None => "none",
            VerdictKind::FewDestinations => "few-destinations",
            VerdictKind::AllDestinations => "all-destinations",
        }
    }
}

/// One backoff episode, as diagnosis.json lists it.
#[derive(Debug, Clone, Serialize)]
pub struct EpisodeReport {
    pub destination: String,
    pub start: String,
    /// Seconds since the origin.
    pub start_s: f64,
    /// `None`: still in backoff or suspended when the log ends.
    pub end: Option<String>,
    pub end_s: Option<f64>,
    /// `suspended` when it was ever suspended, else `backoff`.
    pub worst: &'static str,
    pub backoffs: u32,
    pub suspensions: u32,
    /// What started it, as transitions.csv words it.
    pub reason: String,
    pub errors: u64,
    pub top_reply: String,
    pub top_reply_count: u64,
    pub cause: Cause,
    /// The catalogue entry of a known provider reply, its meaning and what to do.
    pub known_reply: Option<&'static str>,
    pub meaning: Option<&'static str>,
    pub advice: Option<&'static str>,
    pub failures: cause::Failures,
}

/// Latency percentiles of delivered messages, in seconds (time since arrival).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct LatencyReport {
    pub delivered: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// One destination's counts.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationReport {
    pub attempts: u64,
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub expired: u64,
    pub held: u64,
    pub busy: bool,
    pub episodes: u64,
    /// Seconds in backoff and suspended.
    pub backoff_s: f64,
    pub suspended_s: f64,
    pub deferrals_by_reply: BTreeMap<String, u64>,
    pub bounces_by_reason: BTreeMap<&'static str, u64>,
    pub latency_s: LatencyReport,
}

/// Every line read is parsed, skipped or malformed.
#[derive(Debug, Clone, Serialize)]
pub struct Lines {
    pub read: u64,
    pub parsed: u64,
    pub skipped: u64,
    pub malformed: u64,
    pub skipped_by_kind: BTreeMap<&'static str, u64>,
    pub malformed_by_reason: BTreeMap<&'static str, u64>,
    pub first_malformed: Vec<MalformedLine>,
}

/// The time base of the diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Time {
    /// The first outcome's time: every `_s` value counts from it.
    pub origin: String,
    pub origin_ms: i64,
    pub end: String,
    pub span_s: f64,
    /// Outcomes older than the one before them (counted at that one's time).
    pub reordered: u64,
    /// Per file: its format, and the year and UTC offset given to classic timestamps.
    pub files: Vec<FileInfo>,
}

/// One interval of a destination's (or the total's) series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// The interval's start, since the origin.
    pub start: Instant,
    pub counts: Counts,
    /// The worst state during the interval (destinations only).
    pub state: Option<State>,
    /// Destinations in backoff and suspended (worst state) during it (the total only).
    pub in_backoff: u64,
    pub suspended: u64,
}

/// Everything `diagnose` found.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    #[serde(flatten)]
    pub verdict: Verdict,
    pub episodes: Vec<EpisodeReport>,
    pub totals: DestinationReport,
    pub destinations: BTreeMap<String, DestinationReport>,
    pub lines: Lines,
    pub time: Time,
    pub interval_s: f64,
    /// Destinations with their own rows in timeseries.csv.
    pub reported: Vec<String>,
    #[serde(skip)]
    pub interval: Span,
    /// Per reported destination its rows, then the total's (`*`).
    #[serde(skip)]
    pub series: Vec<(String, Vec<Row>)>,
}

/// Destinations with their own series beside the affected ones: the largest by attempts.
pub const LARGEST: usize = 20;

/// Why a diagnosis failed.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error(transparent)]
    Log(#[from] LogError),
}

/// The state of a diagnosis in progress.
struct Run {
    options: Options,
    destinations: Vec<Destination>,
    by_name: FxHashMap<Sym, u32>,
    total: Vec<Bucket>,
    interval: Span,
    origin: Option<UnixMillis>,
    last: Instant,
    reordered: u64,
}

/// Reads the whole log and diagnoses it.
pub fn diagnose(reader: &mut LogReader, options: Options) -> Result<Diagnosis, DiagnoseError> {
    let mut run = Run {
        interval: options.interval.max(Span::SECOND),
        options,
        destinations: Vec::new(),
        by_name: FxHashMap::default(),
        total: Vec::new(),
        origin: None,
        last: Instant::ZERO,
        reordered: 0,
    };
    while let Some(o) = reader.next_outcome()? {
        let origin = *run.origin.get_or_insert(o.time);
        let since = o.time.0 - origin.0;
        let at = if since < (run.last - Instant::ZERO).as_millis() as i64 {
            run.reordered += 1;
            run.last
        } else {
            Instant::from_millis(since as u64)
        };
        run.last = at;
        run.fit(at);
        // Arrivals and removals are about the message; a KumoMTA Reception names the
        // recipient domain, not yet the destination.
        if o.destination.is_none() || matches!(o.kind, Kind::Arrival | Kind::Removed) {
            continue;
        }
        let d = run.destination(o.destination, reader, at);
        let reply = reader.record().map_or("", |r| r.reply);
        let interval = run.interval;
        run.destinations[d].take(&o, at, reply, interval);
        destination::bucket_of(&mut run.total, at, interval).count(o.kind);
    }
    let end = run.last;
    for d in &mut run.destinations {
        d.finish(end);
    }
    Ok(run.report(reader, end))
}

impl Run {
    /// The index of destination `name`, created at its first outcome.
    fn destination(&mut self, name: Sym, reader: &LogReader, at: Instant) -> usize {
        if let Some(&i) = self.by_name.get(&name) {
            return i as usize;
        }
        let policy = self
            .options
            .policies
            .get(self.options.policies.index_of(reader.text(name)));
        self.destinations
            .push(Destination::new(name, std::sync::Arc::clone(policy), at));
        let i = self.destinations.len() - 1;
        self.by_name.insert(name, i as u32);
        i
    }

    /// Doubles the interval until `at` falls within [`MAX_INTERVALS`].
    fn fit(&mut self, at: Instant) {
        while (at - Instant::ZERO).as_millis() / self.interval.as_millis()
            >= u64::from(MAX_INTERVALS)
        {
            self.interval = self.interval * 2;
            destination::coarsen(&mut self.total);
            for d in &mut self.destinations {
                d.coarsen();
            }
        }
    }

    fn report(self, reader: &LogReader, end: Instant) -> Diagnosis {
        let origin = self.origin.unwrap_or_default();
        let name = |d: &Destination| reader.text(d.name).to_string();
        let mut episodes: Vec<EpisodeReport> = self
            .destinations
            .iter()
            .flat_map(|d| {
                d.episodes
                    .iter()
                    .map(move |e| episode_report(reader, d, e, origin))
            })
            .collect();
        episodes.sort_by(|a, b| {
            a.start_s
                .total_cmp(&b.start_s)
                .then(a.destination.cmp(&b.destination))
        });
        let mut destinations = BTreeMap::new();
        let mut totals = Counts::default();
        for d in &self.destinations {
            totals.merge(&d.counts);
            destinations.insert(name(d), destination_report(reader, d, end));
        }
        let verdict = verdict(&self.destinations, &episodes, reader, origin, end);
        let reported = self.reported(reader);
        let series = self.series(reader, &reported, end);
        Diagnosis {
            verdict,
            episodes,
            totals: totals_report(&self.destinations, totals),
            destinations,
            lines: lines(reader),
            time: Time {
                origin: origin.to_string(),
                origin_ms: origin.0,
                end: origin
                    .plus((end - Instant::ZERO).as_millis() as i64)
                    .to_string(),
                span_s: (end - Instant::ZERO).as_secs_f64(),
                reordered: self.reordered,
                files: reader.files().to_vec(),
            },
            interval_s: self.interval.as_secs_f64(),
            reported: reported
                .iter()
                .map(|&i| name(&self.destinations[i]))
                .collect(),
            interval: self.interval,
            series,
        }
    }

    /// The destinations with their own series: every affected one and the [`LARGEST`] by
    /// attempts, in name order.
    fn reported(&self, reader: &LogReader) -> Vec<usize> {
        let mut by_size: Vec<usize> = (0..self.destinations.len()).collect();
        by_size.sort_by(|&a, &b| {
            let (x, y) = (&self.destinations[a], &self.destinations[b]);
            y.counts
                .attempts
                .cmp(&x.counts.attempts)
                .then(reader.text(x.name).cmp(reader.text(y.name)))
        });
        let mut chosen: Vec<usize> = by_size
            .iter()
            .enumerate()
            .filter(|&(rank, &i)| rank < LARGEST || !self.destinations[i].episodes.is_empty())
            .map(|(_, &i)| i)
            .collect();
        chosen.sort_by(|&a, &b| {
            reader
                .text(self.destinations[a].name)
                .cmp(reader.text(self.destinations[b].name))
        });
        chosen
    }

    /// Dense rows from the origin to `end`: each reported destination's, then the total's.
    fn series(
        &self,
        reader: &LogReader,
        reported: &[usize],
        end: Instant,
    ) -> Vec<(String, Vec<Row>)> {
        let intervals = (end - Instant::ZERO).as_millis() / self.interval.as_millis() + 1;
        let mut out = Vec::with_capacity(reported.len() + 1);
        let mut in_backoff = vec![0u64; intervals as usize];
        let mut suspended = vec![0u64; intervals as usize];
        for d in &self.destinations {
            if d.states.is_empty() {
                continue;
            }
            let worst = worst_states(&d.states, self.interval, intervals);
            for (i, state) in worst.iter().enumerate() {
                match state {
                    State::Backoff => in_backoff[i] += 1,
                    State::Suspended => suspended[i] += 1,
                    State::Normal => {}
                }
            }
        }
        for &i in reported {
            let d = &self.destinations[i];
            let worst = worst_states(&d.states, self.interval, intervals);
            let mut rows = dense(&d.series, self.interval, intervals);
            for (row, state) in rows.iter_mut().zip(worst) {
                row.state = Some(state);
            }
            out.push((reader.text(d.name).to_string(), rows));
        }
        let mut total = dense(&self.total, self.interval, intervals);
        for (i, row) in total.iter_mut().enumerate() {
            row.in_backoff = in_backoff[i];
            row.suspended = suspended[i];
        }
        out.push(("*".to_string(), total));
        out
    }
}

/// A sparse series as one row per interval.
fn dense(series: &[Bucket], interval: Span, intervals: u64) -> Vec<Row> {
    let mut rows: Vec<Row> = (0..intervals)
        .map(|i| Row {
            start: Instant::ZERO + interval * i,
            counts: Counts::default(),
            state: None,
            in_backoff: 0,
            suspended: 0,
        })
        .collect();
    for b in series {
        if let Some(row) = rows.get_mut(b.index as usize) {
            row.counts.merge(&b.counts);
        }
    }
    rows
}

fn rank(state: State) -> u8 {
    match state {
        State::Normal => 0,
        State::Backoff => 1,
        State::Suspended => 2,
    }
}

/// Per interval, the worst state a destination was in during it.
fn worst_states(states: &[(Instant, State)], interval: Span, intervals: u64) -> Vec<State> {
    let mut worst = vec![State::Normal; intervals as usize];
    let mut current = State::Normal;
    let mut from = Instant::ZERO;
    let paint = |from: Instant, to: Option<Instant>, state: State, worst: &mut Vec<State>| {
        if state == State::Normal {
            return;
        }
        let first = (from - Instant::ZERO).as_millis() / interval.as_millis();
        let last = to.map_or(intervals - 1, |t| {
            ((t - Instant::ZERO).as_millis().saturating_sub(1) / interval.as_millis()).max(first)
        });
        for w in worst
            .iter_mut()
            .take(last as usize + 1)
            .skip(first as usize)
        {
            if rank(state) > rank(*w) {
                *w = state;
            }
        }
    };
    for &(at, state) in states {
        paint(from, Some(at), current, &mut worst);
        current = state;
        from = at;
    }
    paint(from, None, current, &mut worst);
    worst
}

fn seconds(at: Instant) -> f64 {
    (at - Instant::ZERO).as_secs_f64()
}

fn absolute(origin: UnixMillis, at: Instant) -> String {
    origin
        .plus((at - Instant::ZERO).as_millis() as i64)
        .to_string()
}

fn episode_report(
    reader: &LogReader,
    d: &Destination,
    e: &Episode,
    origin: UnixMillis,
) -> EpisodeReport {
    let open = &e.open;
    let (top, count, _) = open
        .replies
        .iter()
        .map(|(sym, &(n, bounce))| (reader.text(*sym), n, bounce))
        .max_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)).then(b.0.cmp(a.0)))
        .unwrap_or(("", 0, false));
    let (cause, known) = cause::cause_of(top, &open.failures);
    EpisodeReport {
        destination: reader.text(d.name).to_string(),
        start: absolute(origin, open.start),
        start_s: seconds(open.start),
        end: e.end.map(|t| absolute(origin, t)),
        end_s: e.end.map(seconds),
        worst: open.worst.as_str(),
        backoffs: open.backoffs,
        suspensions: open.suspensions,
        reason: open.reason.clone(),
        errors: open.failures.total(),
        top_reply: top.to_string(),
        top_reply_count: count,
        cause,
        known_reply: known.map(|k| k.name),
        meaning: known.map(|k| k.meaning()),
        advice: known.map(|k| k.advice),
        failures: open.failures,
    }
}

/// Seconds in backoff and suspended, up to `end`.
fn time_in_states(states: &[(Instant, State)], end: Instant) -> (f64, f64) {
    let (mut backoff, mut suspended) = (Span::ZERO, Span::ZERO);
    let mut current = (Instant::ZERO, State::Normal);
    for &(at, state) in states.iter().chain(std::iter::once(&(end, State::Normal))) {
        let span = at - current.0;
        match current.1 {
            State::Backoff => backoff += span,
            State::Suspended => suspended += span,
            State::Normal => {}
        }
        current = (at, state);
    }
    (backoff.as_secs_f64(), suspended.as_secs_f64())
}

fn destination_report(reader: &LogReader, d: &Destination, end: Instant) -> DestinationReport {
    let (backoff_s, suspended_s) = time_in_states(&d.states, end);
    let mut report = counts_report(&d.counts, &d.latency);
    report.busy = d.busy;
    report.episodes = d.episodes.len() as u64;
    report.backoff_s = backoff_s;
    report.suspended_s = suspended_s;
    report.deferrals_by_reply = d
        .deferrals
        .iter()
        .map(|(sym, n)| (reader.text(*sym).to_string(), *n))
        .collect();
    report.bounces_by_reason = bounces(&d.bounces);
    report
}

fn bounces(by_reason: &[u64; BounceReason::ALL.len()]) -> BTreeMap<&'static str, u64> {
    BounceReason::ALL
        .iter()
        .zip(by_reason)
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| (r.name(), *n))
        .collect()
}

fn counts_report(c: &Counts, latency: &latency::Latency) -> DestinationReport {
    let q = |q: f64| latency.quantile(q).as_secs_f64();
    DestinationReport {
        attempts: c.attempts,
        delivered: c.delivered,
        deferred: c.deferred,
        bounced: c.bounced,
        expired: c.expired,
        held: c.held,
        busy: false,
        episodes: 0,
        backoff_s: 0.0,
        suspended_s: 0.0,
        deferrals_by_reply: BTreeMap::new(),
        bounces_by_reason: BTreeMap::new(),
        latency_s: LatencyReport {
            delivered: latency.count(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: latency.max().as_secs_f64(),
        },
    }
}

/// The totals: counts summed, replies merged by text, latencies from the histograms.
fn totals_report(destinations: &[Destination], counts: Counts) -> DestinationReport {
    let mut latency = crate::metrics::Histogram::new();
    let mut by_reason = [0; BounceReason::ALL.len()];
    for d in destinations {
        match &d.latency {
            latency::Latency::Few(values) => values.iter().for_each(|v| latency.record(*v)),
            latency::Latency::Many(h) => latency.merge(h),
        }
        for (total, n) in by_reason.iter_mut().zip(d.bounces) {
            *total += n;
        }
    }
    let mut report = counts_report(&counts, &latency::Latency::Many(Box::new(latency)));
    report.busy = destinations.iter().any(|d| d.busy);
    report.episodes = destinations.iter().map(|d| d.episodes.len() as u64).sum();
    report.bounces_by_reason = bounces(&by_reason);
    report
}

fn lines(reader: &LogReader) -> Lines {
    let s = reader.stats();
    Lines {
        read: s.read,
        parsed: s.parsed,
        skipped: s.skipped,
        malformed: s.malformed,
        skipped_by_kind: s.skipped_by_kind().into_iter().collect(),
        malformed_by_reason: s.malformed_by_reason().into_iter().collect(),
        first_malformed: s.first_malformed.clone(),
    }
}

/// The verdict: see the module documentation.
fn verdict(
    destinations: &[Destination],
    episodes: &[EpisodeReport],
    reader: &LogReader,
    origin: UnixMillis,
    end: Instant,
) -> Verdict {
    let busy = destinations.iter().filter(|d| d.busy).count() as u64;
    let mut affected: Vec<String> = destinations
        .iter()
        .filter(|d| !d.episodes.is_empty())
        .map(|d| reader.text(d.name).to_string())
        .collect();
    affected.sort();
    let (at_once, when) = at_once(episodes, seconds(end));
    let mut causes = BTreeMap::new();
    for e in episodes {
        *causes.entry(e.cause).or_insert(0) += 1;
    }
    let kind = if episodes.is_empty() {
        VerdictKind::None
    } else if at_once >= 2 && 2 * at_once >= busy {
        VerdictKind::AllDestinations
    } else {
        VerdictKind::FewDestinations
    };
    let at_once_time = when.map(|s| absolute(origin, Instant::from_millis((s * 1000.0) as u64)));
    let summary = sentence(
        kind,
        &affected,
        busy,
        at_once,
        at_once_time.as_deref(),
        &causes,
    );
    Verdict {
        verdict: kind,
        summary,
        affected,
        busy,
        at_once,
        at_once_time,
        causes,
    }
}

/// The most episodes open at one moment, and the first moment it happened (seconds).
fn at_once(episodes: &[EpisodeReport], end_s: f64) -> (u64, Option<f64>) {
    let mut edges: Vec<(f64, i64)> = Vec::with_capacity(episodes.len() * 2);
    for e in episodes {
        edges.push((e.start_s, 1));
        edges.push((e.end_s.unwrap_or(end_s.max(e.start_s) + 1e-3), -1));
    }
    // An episode ending when another starts does not overlap it.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut open, mut most, mut when) = (0i64, 0i64, None);
    for (t, step) in edges {
        open += step;
        if open > most {
            most = open;
            when = Some(t);
        }
    }
    (most as u64, when)
}

fn sentence(
    kind: VerdictKind,
    affected: &[String],
    busy: u64,
    at_once: u64,
    when: Option<&str>,
    causes: &BTreeMap<Cause, u64>,
) -> String {
    let cause = causes
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map_or("", |(c, _)| c.describe());
    let names = |n: usize| {
        let mut list = affected
            .iter()
            .take(n)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if affected.len() > n {
            list.push_str(&format!(" and {} more", affected.len() - n));
        }
        list
    };
    match kind {
        VerdictKind::None => {
            "No destination would have entered backoff: flow control would have stayed normal."
                .to_string()
        }
        VerdictKind::FewDestinations => format!(
            "A few destinations would have entered backoff ({} of {busy} busy: {}), mostly for \
             {cause}: look at the sender's standing with those receivers.",
            affected.len(),
            names(8)
        ),
        VerdictKind::AllDestinations => format!(
            "All destinations at once: {at_once} of {busy} busy destinations were in backoff \
             together (from {}), mostly for {cause}: look at the MTA itself, not the receivers.",
            when.unwrap_or("?")
        ),
    }
}
