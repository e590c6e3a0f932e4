//! The diagnosis's reports: per episode, per destination and in total, the line counts and
//! the time base, assembled at the end of the read.

use std::collections::BTreeMap;

use super::destination::{Counts, Destination, Episode};
use super::latency;
use super::verdict::verdict;
use super::{
    DestinationReport, Diagnosis, EpisodeReport, LARGEST, LatencyReport, Lines, Run, Time, cause,
};
use crate::flow_control::State;
use crate::logs::{LogReader, UnixMillis};
use crate::replies::BounceReason;
use crate::units::{Instant, Span};

impl Run {
    pub(super) fn report(self, reader: &LogReader, end: Instant) -> Diagnosis {
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
        let mut totals = self.unattributed;
        for d in &self.destinations {
            totals.merge(&d.counts);
            destinations.insert(name(d), destination_report(reader, d, end));
        }
        let stats = reader.stats();
        let first = stats.first_time.unwrap_or(origin);
        let last = stats.last_time.unwrap_or(origin);
        let verdict = verdict(&self.destinations, &episodes, reader, origin, end);
        let reported = self.reported(reader);
        let series = self.series(reader, &reported, end);
        Diagnosis {
            verdict,
            episodes,
            totals: totals_report(&self.destinations, totals, &destinations),
            destinations,
            unattributed: self.unattributed,
            lines: lines(reader),
            time: Time {
                origin: origin.to_string(),
                origin_ms: origin.0,
                first: first.to_string(),
                end: last.to_string(),
                span_s: (last.0 - first.0) as f64 / 1000.0,
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
}

pub(super) fn seconds(at: Instant) -> f64 {
    (at - Instant::ZERO).as_secs_f64()
}

pub(super) fn absolute(origin: UnixMillis, at: Instant) -> String {
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
        errors: open.errors,
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
fn totals_report(
    destinations: &[Destination],
    counts: Counts,
    reports: &BTreeMap<String, DestinationReport>,
) -> DestinationReport {
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
    for r in reports.values() {
        report.backoff_s += r.backoff_s;
        report.suspended_s += r.suspended_s;
        for (reply, n) in &r.deferrals_by_reply {
            *report.deferrals_by_reply.entry(reply.clone()).or_default() += n;
        }
    }
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
        other_format: s.other_format(),
        malformed_by_reason: s.malformed_by_reason().into_iter().collect(),
        first_malformed: s.first_malformed.clone(),
        truncated: s.truncated.clone(),
    }
}
