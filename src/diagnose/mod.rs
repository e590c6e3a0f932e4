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
//! of the error window that triggered it and of the episode itself that count as errors
//! for flow control (their class is in `errors.count` and no `ignore` rule matched them:
//! the machine's own test, [`Policy::counts_as_error`](crate::flow_control::Policy::counts_as_error)); `top_reply` the most
//! frequent reply among them, bounces that say nothing of the destination's standing
//! (5xx other than 5.7.x blocks) only when there is nothing else; `cause` comes from [`cause`].
//!
//! # The verdict
//! A destination is *busy* when it had `errors.threshold` attempts within one
//! `errors.window` (any attempt when the threshold is 0 or 1), or entered backoff or
//! suspension (a reply rule can suspend it at its first attempt): only a busy destination
//! can reach the threshold, and every affected one is busy. The verdict's "N of M busy",
//! the overview chart's title and diagnosis.json use these counts. `at_once` is the
//! largest number of destinations in an episode at the same moment.
//!
//! `totals` are the sums of the destinations' counters, times in states and deferrals by
//! reply, plus the *unattributed* outcomes (expiries and holds of messages whose
//! recipients the log never named): nothing read is left out of them.
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
mod report;
mod series;
pub mod table;
mod verdict;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;

pub use cause::Cause;
pub use destination::Counts;
use destination::{Bucket, Destination};
pub use verdict::{Verdict, VerdictKind};

use crate::flow_control::{Policies, State};
use crate::logs::{
    FileInfo, Kind, LogError, LogReader, MalformedLine, Sym, TruncatedFile, UnixMillis,
};
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
    /// Skipped lines of another format than their file's (part of `skipped`).
    pub other_format: u64,
    pub malformed_by_reason: BTreeMap<&'static str, u64>,
    pub first_malformed: Vec<MalformedLine>,
    /// Files that ended early (a truncated `.gz`): the lines before the cut were read.
    pub truncated: Vec<TruncatedFile>,
}

/// The time base of the diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Time {
    /// The first outcome's time: every `_s` value counts from it.
    pub origin: String,
    pub origin_ms: i64,
    /// The earliest and the latest time seen (in a log out of order, the earliest may come
    /// after the origin).
    pub first: String,
    pub end: String,
    /// From the earliest to the latest time seen.
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
    /// Every destination's counts summed, and the unattributed ones: the sums of the
    /// destinations' counters, times in states and deferrals by reply.
    pub totals: DestinationReport,
    pub destinations: BTreeMap<String, DestinationReport>,
    /// Outcomes of no known destination: expiries of messages whose recipients the log
    /// never named (it starts after they were last tried).
    pub unattributed: Counts,
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
    unattributed: Counts,
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
        unattributed: Counts::default(),
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
        if matches!(o.kind, Kind::Arrival | Kind::Removed) {
            continue;
        }
        if o.destination.is_none() {
            run.unattributed.count(o.kind);
            destination::bucket_of(&mut run.total, at, run.interval).count(o.kind);
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
}
