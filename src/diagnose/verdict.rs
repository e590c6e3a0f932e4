//! The verdict: none, a few destinations (their opinion of the sender) or all of them at
//! once (the MTA itself), with its sentence.

use std::collections::BTreeMap;

use serde::Serialize;

use super::destination::Destination;
use super::report::{absolute, seconds};
use super::{Cause, EpisodeReport};
use crate::logs::{LogReader, UnixMillis};
use crate::units::Instant;

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

/// The verdict: see the module documentation.
pub(super) fn verdict(
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
