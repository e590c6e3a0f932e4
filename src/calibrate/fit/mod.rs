//! The estimators: from a destination's (or the MTA's) evidence to scenario values, each
//! with a sentence saying where the value came from, or why it fell back to a default.
//! docs/CALIBRATION.md states each one's assumptions and limits.

use rustc_hash::FxHashMap;

use super::collect::{Bin, Evidence, Minute, Pace};
use crate::logs::Sym;
use crate::replies::{Reply, ReplyKind};
use crate::units::Span;

mod mta;
mod receiver;
mod retry;

pub use mta::{concurrency, internal_errors, zipf_exponent};
pub use receiver::{
    connection_limit, deferrals, greylisting, latencies, outages, quick_deliveries, rate_limit,
    session_seconds, unknown_user_rate,
};
pub use retry::retry;

/// What an estimator says: the value's provenance, or why it is a default (`fallback`
/// ones are also printed on stderr).
#[derive(Debug, Default)]
pub struct Notes {
    pub lines: Vec<String>,
    pub fallbacks: Vec<String>,
}

impl Notes {
    pub fn say(&mut self, line: String) {
        self.lines.push(line);
    }

    pub fn fallback(&mut self, line: String) {
        self.lines.push(line.clone());
        self.fallbacks.push(line);
    }
}

/// One destination's bins, minutes and pace steps in time order.
pub struct Timeline<'a> {
    pub bins: Vec<(u32, &'a Bin)>,
    pub minutes: Vec<(u32, &'a Minute)>,
    pub pace: Vec<(u32, &'a Pace)>,
}

/// Splits the evidence's per-(destination, time) maps by destination, in time order.
pub fn timelines(e: &Evidence) -> Vec<Timeline<'_>> {
    let mut out: Vec<Timeline> = (0..e.dests.len())
        .map(|_| Timeline {
            bins: Vec::new(),
            minutes: Vec::new(),
            pace: Vec::new(),
        })
        .collect();
    for (&(d, b), bin) in &e.bins {
        out[d as usize].bins.push((b, bin));
    }
    for (&(d, m), minute) in &e.minutes {
        out[d as usize].minutes.push((m, minute));
    }
    for (&(d, s), pace) in &e.pace {
        out[d as usize].pace.push((s, pace));
    }
    for t in &mut out {
        t.bins.sort_by_key(|(b, _)| *b);
        t.minutes.sort_by_key(|(m, _)| *m);
        t.pace.sort_by_key(|(s, _)| *s);
    }
    out
}

pub(super) fn ms(ms: u64) -> Span {
    Span::from_millis(ms)
}

/// A span rounded to whole seconds (logs rarely say more).
pub(super) fn seconds(value: u64) -> Span {
    Span::from_secs((value + 500) / 1000)
}

pub(super) fn percent(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// The most frequent of `counts`, ties to the smaller symbol (deterministic).
pub(super) fn most_frequent(
    counts: &FxHashMap<Sym, u64>,
    keep: impl Fn(Sym) -> bool,
) -> Option<Sym> {
    counts
        .iter()
        .filter(|(s, _)| keep(**s))
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.index().cmp(&a.0.index())))
        .map(|(s, _)| *s)
}

/// A reply of `e` usable as a 4xx in the scenario: its exact text when that is one, else
/// `fallback` (a catalogue name).
pub fn temporary_reply(e: &Evidence, reply: Option<Sym>, fallback: &str) -> String {
    let text = reply.map_or("", |r| e.text(r));
    match Reply::parse(text) {
        Ok(r) if r.kind() == ReplyKind::Temporary => r.text,
        _ => fallback.to_string(),
    }
}
