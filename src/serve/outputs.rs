//! What a served lab writes when it stops, in the shapes of a run's outputs:
//! summary.json (per receiver and in total, and the submissions), timeseries.csv (one row
//! per sample interval and receiver, then the total) and report.html; deliveries.jsonl
//! was written as the messages were accepted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use super::lab::{Lab, Snapshot};
use super::record::Tally;
use super::submit::Submissions;
use crate::output::format_seconds;
use crate::replies::{ReplyBook, ReplyId};
use crate::report::{self, Cell, Entry, Explorer, Page, Row, Series, Thresholds, Timeline};
use crate::units::Instant;

/// One receiver at one sample time: cumulative counts and the state now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Point {
    pub connections: u64,
    pub greeting_rejects: u64,
    pub transactions: u64,
    pub accepted: u64,
    pub deferred: u64,
    pub rejected: u64,
    pub sessions: u64,
    pub waiting: u64,
    pub tokens: Option<f64>,
    pub reputation: Option<f64>,
    pub blocking: Option<bool>,
}

impl Point {
    fn of(snapshot: &Snapshot) -> Point {
        let t = &snapshot.tally;
        Point {
            connections: t.connections,
            greeting_rejects: t.greeting_rejects,
            transactions: t.transactions,
            accepted: t.accepted,
            deferred: t.deferred,
            rejected: t.rejected,
            sessions: u64::from(snapshot.sessions),
            waiting: snapshot.waiting as u64,
            tokens: snapshot.tokens,
            reputation: snapshot.reputation,
            blocking: snapshot.reputation.map(|_| snapshot.blocking),
        }
    }

    /// The sum of counts and depths (the total row has no state of its own).
    fn add(&mut self, other: &Point) {
        self.connections += other.connections;
        self.greeting_rejects += other.greeting_rejects;
        self.transactions += other.transactions;
        self.accepted += other.accepted;
        self.deferred += other.deferred;
        self.rejected += other.rejected;
        self.sessions += other.sessions;
        self.waiting += other.waiting;
    }
}

/// Submission counts at one sample time (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Submitted {
    pub submitted: u64,
    pub accepted: u64,
    pub refused: u64,
    pub failed: u64,
}

impl Submitted {
    pub fn of(s: &Submissions) -> Submitted {
        Submitted {
            submitted: s.submitted,
            accepted: s.accepted,
            refused: s.refused,
            failed: s.failed,
        }
    }
}

/// Every receiver at one sample time.
#[derive(Debug, Clone)]
pub struct Tick {
    pub at: Instant,
    pub points: Vec<Point>,
    pub submitted: Submitted,
}

impl Tick {
    /// The lab now, as of scenario time `at`.
    pub fn take(lab: &Lab, at: Instant, submitted: Submitted) -> (Tick, Vec<Snapshot>) {
        let snapshots: Vec<Snapshot> = lab.desks.iter().map(|d| d.snapshot(at)).collect();
        let points = snapshots.iter().map(Point::of).collect();
        (
            Tick {
                at,
                points,
                submitted,
            },
            snapshots,
        )
    }
}

/// summary.json.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    /// Scenario seconds per wall second.
    pub time_scale: f64,
    /// Scenario time served, in seconds.
    pub served_s: f64,
    pub totals: Counters,
    pub destinations: BTreeMap<String, Served>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted: Option<SubmittedSummary>,
}

/// One receiver in summary.json: where it listened, and what it saw.
#[derive(Debug, Clone, Serialize)]
pub struct Served {
    pub address: String,
    pub domains: Vec<String>,
    #[serde(flatten)]
    pub counters: Counters,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reputation: Option<crate::metrics::Reputation>,
    pub blocks: u64,
}

/// What a receiver (or all of them) saw.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counters {
    pub connections: u64,
    pub greeting_rejects: u64,
    pub refused_connections: u64,
    pub unanswered_connections: u64,
    pub queued_connections: u64,
    pub peak_sessions: u64,
    pub transactions: u64,
    pub accepted: u64,
    pub deferrals: u64,
    pub deferrals_by_reply: BTreeMap<String, u64>,
    pub rejections: u64,
    pub rejections_by_reply: BTreeMap<String, u64>,
    pub rate_limit_empty_s: f64,
    pub protocol_errors: u64,
    pub misrouted: u64,
}

impl Counters {
    fn of(tally: &Tally, book: &ReplyBook) -> Counters {
        let named = |by_reply: &BTreeMap<ReplyId, u64>| {
            by_reply
                .iter()
                .map(|(&id, &n)| (book.get(id).text.clone(), n))
                .collect()
        };
        Counters {
            connections: tally.connections,
            greeting_rejects: tally.greeting_rejects,
            refused_connections: tally.refused_connections,
            unanswered_connections: tally.unanswered_connections,
            queued_connections: tally.queued_connections,
            peak_sessions: u64::from(tally.peak_sessions),
            transactions: tally.transactions,
            accepted: tally.accepted,
            deferrals: tally.deferred,
            deferrals_by_reply: named(&tally.deferrals_by_reply),
            rejections: tally.rejected,
            rejections_by_reply: named(&tally.rejections_by_reply),
            rate_limit_empty_s: tally.rate_limit_empty_ms as f64 / 1000.0,
            protocol_errors: tally.protocol_errors,
            misrouted: tally.misrouted,
        }
    }

    /// Adds a receiver's counters to the total (its peak is the largest, not a sum).
    fn add(&mut self, other: &Counters) {
        self.connections += other.connections;
        self.greeting_rejects += other.greeting_rejects;
        self.refused_connections += other.refused_connections;
        self.unanswered_connections += other.unanswered_connections;
        self.queued_connections += other.queued_connections;
        self.peak_sessions = self.peak_sessions.max(other.peak_sessions);
        self.transactions += other.transactions;
        self.accepted += other.accepted;
        self.deferrals += other.deferrals;
        self.rejections += other.rejections;
        for (reply, n) in &other.deferrals_by_reply {
            *self.deferrals_by_reply.entry(reply.clone()).or_default() += n;
        }
        for (reply, n) in &other.rejections_by_reply {
            *self.rejections_by_reply.entry(reply.clone()).or_default() += n;
        }
        self.rate_limit_empty_s += other.rate_limit_empty_s;
        self.protocol_errors += other.protocol_errors;
        self.misrouted += other.misrouted;
    }
}

/// The submissions in summary.json.
#[derive(Debug, Clone, Serialize)]
pub struct SubmittedSummary {
    pub messages: u64,
    pub accepted: u64,
    pub refused: u64,
    pub failed: u64,
    pub refusals_by_reply: BTreeMap<String, u64>,
}

/// summary.json's content, from the final snapshots.
pub fn summary(
    lab: &Lab,
    last: &Tick,
    snapshots: &[Snapshot],
    submitted: Option<&Submissions>,
) -> Summary {
    let mut totals = Counters::default();
    let mut destinations = BTreeMap::new();
    for (desk, snapshot) in lab.desks.iter().zip(snapshots) {
        let counters = Counters::of(&snapshot.tally, &lab.book);
        totals.add(&counters);
        let reputation = snapshot
            .reputation
            .zip(snapshot.reputation_min)
            .map(|(last, min)| crate::metrics::Reputation { min, last });
        destinations.insert(
            desk.name.clone(),
            Served {
                address: desk.address.to_string(),
                domains: desk.domains.clone(),
                counters,
                reputation,
                blocks: snapshot.blocks,
            },
        );
    }
    Summary {
        scenario: lab.scenario.clone(),
        seed: lab.seed,
        time_scale: lab.clock.scale(),
        served_s: last.at.as_secs_f64(),
        totals,
        destinations,
        submitted: submitted.map(|s| SubmittedSummary {
            messages: s.submitted,
            accepted: s.accepted,
            refused: s.refused,
            failed: s.failed,
            refusals_by_reply: s.refusals_by_reply.clone(),
        }),
    }
}

pub const TIMESERIES_HEADER: &str = "time_s,destination,connections,greeting_rejects,transactions,\
accepted,deferred,rejected,sessions,waiting,receiver_tokens,reputation,receiver_blocking,\
submitted,submit_accepted,submit_refused,submit_failed";

/// timeseries.csv: per sample, one row per receiver (counts in the interval that ends at
/// the sample, sessions and tokens at the sample), then the total (`*`) with the
/// submissions.
pub fn write_timeseries(lab: &Lab, ticks: &[Tick], out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{TIMESERIES_HEADER}")?;
    let mut previous: Option<&Tick> = None;
    let mut line = String::with_capacity(160);
    for tick in ticks {
        let mut total = Point::default();
        let mut total_before = Point::default();
        for (d, point) in tick.points.iter().enumerate() {
            let before = previous.map(|p| p.points[d]).unwrap_or_default();
            total.add(point);
            total_before.add(&before);
            line.clear();
            row(&mut line, tick.at, &lab.desks[d].name, point, &before);
            line.push_str(",,,,\n");
            out.write_all(line.as_bytes())?;
        }
        let sub = tick.submitted;
        let sub_before = previous.map(|p| p.submitted).unwrap_or_default();
        line.clear();
        row(&mut line, tick.at, "*", &total, &total_before);
        let _ = writeln!(
            line,
            ",{},{},{},{}",
            sub.submitted - sub_before.submitted,
            sub.accepted - sub_before.accepted,
            sub.refused - sub_before.refused,
            sub.failed - sub_before.failed
        );
        out.write_all(line.as_bytes())?;
        previous = Some(tick);
    }
    Ok(())
}

fn row(line: &mut String, at: Instant, name: &str, now: &Point, before: &Point) {
    let _ = write!(
        line,
        "{},{},{},{},{},{},{},{},{},{},",
        format_seconds(at),
        crate::output::csv_field(name),
        now.connections - before.connections,
        now.greeting_rejects - before.greeting_rejects,
        now.transactions - before.transactions,
        now.accepted - before.accepted,
        now.deferred - before.deferred,
        now.rejected - before.rejected,
        now.sessions,
        now.waiting,
    );
    if let Some(tokens) = now.tokens {
        let _ = write!(line, "{tokens:.3}");
    }
    line.push(',');
    if let Some(score) = now.reputation {
        let _ = write!(line, "{score:.4}");
    }
    line.push(',');
    if let Some(blocking) = now.blocking {
        line.push(if blocking { '1' } else { '0' });
    }
}

/// Writes report.html into `dir`: the summary table, and each receiver's accepted,
/// deferred and rejected transactions, sessions and reputation over time.
pub fn write_report(lab: &Lab, summary: &Summary, ticks: &[Tick], dir: &Path) -> io::Result<()> {
    let headers = vec![
        "receiver",
        "address",
        "connections",
        "greeting rejects",
        "peak sessions",
        "transactions",
        "accepted",
        "deferrals",
        "rejections",
        "rate limit empty",
        "min reputation",
    ];
    let mut table = Vec::new();
    let mut entries = vec![entry(lab, summary, ticks, None)];
    for (d, desk) in lab.desks.iter().enumerate() {
        let served = &summary.destinations[&desk.name];
        let c = &served.counters;
        let cells = vec![
            Cell::text(&desk.name),
            Cell::text(&served.address),
            Cell::count(c.connections),
            Cell::count(c.greeting_rejects),
            Cell::count(c.peak_sessions),
            Cell::count(c.transactions),
            Cell::count(c.accepted),
            Cell::count(c.deferrals),
            Cell::count(c.rejections),
            Cell::text(&crate::units::human_seconds(c.rate_limit_empty_s))
                .sorted_by(c.rate_limit_empty_s),
            served.reputation.map_or_else(
                || Cell::text("–"),
                |r| Cell::number(format!("{:.3}", r.min)).sorted_by(r.min),
            ),
        ];
        table.push(Row {
            cells,
            class: None,
            destination: Some(desk.name.clone()),
            at: None,
        });
        entries.push(entry(lab, summary, ticks, Some(d)));
    }
    let mut facts = format!(
        "seed {} · served {} of scenario time at {}× the wall clock · {} connections · {} accepted",
        summary.seed,
        crate::units::human_seconds(summary.served_s),
        summary.time_scale,
        summary.totals.connections,
        summary.totals.accepted,
    );
    if let Some(s) = &summary.submitted {
        let _ = write!(
            facts,
            " · submitted {} (accepted by the MTA {}, refused {}, failed {})",
            s.messages, s.accepted, s.refused, s.failed
        );
    }
    let page = Page {
        title: format!("{} (served)", summary.scenario),
        description: "What the scenario's receivers saw of the MTA under test (mtasim serve).".into(),
        facts,
        verdict: String::new(),
        diagnosis: "Each receiver's answers: accepted, deferred (4xx) and rejected (5xx) transactions per interval, with its sessions and reputation.".into(),
        headers,
        table,
        after_table: String::new(),
        explorer: Explorer {
            sources: vec!["served".into()],
            overlay: false,
            entries,
        },
        sections: Vec::new(),
    };
    std::fs::write(dir.join("report.html"), report::render(&page))
}

/// A receiver's (or, for `None`, the total's) entry in the explorer.
fn entry(lab: &Lab, summary: &Summary, ticks: &[Tick], d: Option<usize>) -> Entry {
    let point = |tick: &Tick| match d {
        Some(d) => tick.points[d],
        None => tick.points.iter().fold(Point::default(), |mut sum, p| {
            sum.add(p);
            sum
        }),
    };
    let mut previous = Point::default();
    let mut columns: Vec<(Series, Vec<Option<f64>>)> = [
        Series::Sessions,
        Series::Delivered,
        Series::Deferred,
        Series::Bounced,
        Series::Reputation,
        Series::Blocking,
    ]
    .into_iter()
    .map(|s| (s, Vec::with_capacity(ticks.len())))
    .collect();
    for tick in ticks {
        let now = point(tick);
        let values = [
            Some(now.sessions as f64),
            Some((now.accepted - previous.accepted) as f64),
            Some((now.deferred - previous.deferred) as f64),
            Some((now.rejected - previous.rejected) as f64),
            now.reputation,
            now.blocking.map(|b| f64::from(u8::from(b))),
        ];
        for ((_, column), value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
        previous = now;
    }
    columns.retain(|(_, values)| values.iter().any(Option::is_some));
    let (name, label, counters) = match d {
        Some(d) => {
            let name = lab.desks[d].name.clone();
            let counters = &summary.destinations[&name].counters;
            (name.clone(), name, counters)
        }
        None => (
            report::run::TOTAL.to_string(),
            "total".to_string(),
            &summary.totals,
        ),
    };
    let mut replies: Vec<(String, u64)> = counters
        .deferrals_by_reply
        .iter()
        .chain(&counters.rejections_by_reply)
        .map(|(r, &n)| (r.clone(), n))
        .collect();
    replies.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    replies.truncate(10);
    Entry {
        name,
        label,
        timelines: vec![Some(Timeline {
            times: ticks.iter().map(|t| t.at).collect(),
            columns,
        })],
        thresholds: None::<Thresholds>,
        replies,
    }
}
