//! `mtasim diagnose --table`: the support article's own input. Its customer had no raw log:
//! they collated the error messages of their most common domains, with how often each came
//! ([`read`](mod@read) reads such a table). The answer is the log diagnosis' kind of answer,
//! from what a table can say:
//!
//! - per domain: its share of all the errors, how many were the MTA's own holds ("Messages
//!   queued (dynamic flow control)", Postfix `delivery temporarily suspended`, Exim `retry
//!   time not reached`), deferrals (4xx, connection failures, the MTA's own errors) and
//!   bounces (5xx); its most frequent error, with the provider's meaning and advice when
//!   the reply is a known one, else the cause its failures' pattern or words say
//!   ([`cause_of`], as for a log's episodes);
//! - the verdict: `few-destinations` when a third of the domains or fewer (at least one)
//!   carry 90% of the errors (the sender's standing with those receivers: reputation or
//!   throttling there); `all-destinations` when the errors spread wider (the MTA itself:
//!   its own errors, rate or connections), the more so when most domains share one
//!   cause; `none` when the table counts no error;
//! - what to look at next. Timing only with a time column: the first and last time, and
//!   the busiest one with how many domains had errors in it.

pub mod read;

use std::collections::BTreeMap;

use serde::Serialize;

use super::VerdictKind;
use super::cause::{Cause, Failures, cause_of};
use crate::logs::classify::{connection_failure, reply_key};
use crate::replies::{BounceReason, ReplyCode, ReplyKind, reply_code};
pub use read::{Columns, Row, Table, TableError};

/// The share of all errors the domains a verdict names must carry together.
const CONCENTRATION: f64 = 0.9;

/// Replies listed per domain.
const TOP_ERRORS: usize = 5;

/// What one error text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The MTA held the message itself: its destination in backoff or suspended.
    Held,
    /// A temporary failure: a 4xx reply, a connection failure, the MTA's own error.
    Deferred,
    /// A permanent failure: a 5xx reply.
    Bounced,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Held => "queued (flow control)",
            ErrorKind::Deferred => "deferred",
            ErrorKind::Bounced => "bounced",
        }
    }
}

/// Phrases of the MTAs' own holds (lower case).
const HOLDS: [&str; 4] = [
    "dynamic flow control",
    "delivery temporarily suspended",
    "retry time not reached",
    "message is frozen",
];

/// An error text's kind, flow-control class, and whether it was refused at connect or
/// greeting and is a block (5.7.x).
fn kind_of(text: &str) -> (ErrorKind, crate::flow_control::OutcomeClass, bool, bool) {
    use crate::flow_control::OutcomeClass;
    let lower = text.to_ascii_lowercase();
    if HOLDS.iter().any(|h| lower.contains(h)) {
        return (ErrorKind::Held, OutcomeClass::Internal, false, false);
    }
    if let Some(f) = connection_failure(text) {
        return (ErrorKind::Deferred, f.class, f.handshake, false);
    }
    match find_code(text) {
        Some(c) => {
            let class = ReplyKind::acted_on(c.code).outcome_class();
            let blocked = BounceReason::of(c.enhanced) == BounceReason::Blocked;
            let kind = if class == OutcomeClass::Permfail {
                ErrorKind::Bounced
            } else {
                ErrorKind::Deferred
            };
            (kind, class, false, blocked)
        }
        None => (ErrorKind::Deferred, OutcomeClass::Tempfail, false, false),
    }
}

/// The first SMTP reply code in `text` that starts a word: tables quote replies bare
/// (`421 4.7.0 ...`) or wrapped (`smtp;550 5.1.1 ...`, `host mx said: 550 ...`).
fn find_code(text: &str) -> Option<ReplyCode> {
    let b = text.as_bytes();
    (0..b.len())
        .filter(|&i| i == 0 || matches!(b[i - 1], b' ' | b';' | b':' | b'(' | b'"'))
        .find_map(|i| reply_code(&text[i..]))
}

/// One error text of a domain, with its count.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub error: String,
    pub count: u64,
    pub kind: ErrorKind,
}

/// One domain of the table.
#[derive(Debug, Clone, Serialize)]
pub struct DomainReport {
    pub domain: String,
    pub errors: u64,
    /// Of all the table's errors.
    pub share: f64,
    pub held: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub cause: Cause,
    /// The catalogue name of the known provider reply among its errors (`mtasim replies`).
    pub known_reply: Option<&'static str>,
    pub meaning: Option<&'static str>,
    pub advice: &'static str,
    /// Most frequent first.
    pub top_errors: Vec<ErrorReport>,
    /// With a time column: the first and last time of its rows.
    pub first: Option<String>,
    pub last: Option<String>,
}

/// The time column's story.
#[derive(Debug, Clone, Serialize)]
pub struct TableTime {
    pub first: String,
    pub last: String,
    /// The time value with the most errors, its errors and how many domains had some.
    pub busiest: String,
    pub busiest_errors: u64,
    pub busiest_domains: u64,
}

/// The diagnosis of an error table.
#[derive(Debug, Clone, Serialize)]
pub struct TableDiagnosis {
    pub verdict: VerdictKind,
    pub summary: String,
    /// What to look at next, most important first.
    pub next: Vec<String>,
    /// The fewest domains that carry 90% of the errors, largest first.
    pub concentrated_in: Vec<String>,
    pub errors: u64,
    pub held: u64,
    pub deferred: u64,
    pub bounced: u64,
    /// Largest first.
    pub domains: Vec<DomainReport>,
    pub time: Option<TableTime>,
    pub columns: Columns,
    pub rows: u64,
    /// Sum rows (`Total`) left out.
    pub total_rows: u64,
}

/// A domain while the table is read.
#[derive(Default)]
struct Tally {
    counts: [u64; 3],
    failures: Failures,
    /// Per grouping key: the first text seen, its count and kind.
    errors: BTreeMap<String, (String, u64, ErrorKind)>,
    first: Option<crate::logs::UnixMillis>,
    last: Option<crate::logs::UnixMillis>,
}

/// Diagnoses `table`.
pub fn diagnose(table: &Table) -> TableDiagnosis {
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut scratch = String::new();
    for row in &table.rows {
        let t = tallies.entry(row.domain.as_str()).or_default();
        let (kind, class, handshake, blocked) = kind_of(&row.error);
        t.counts[kind as usize] += row.count;
        if kind != ErrorKind::Held {
            t.failures.count(class, handshake, blocked, row.count);
        }
        let key = reply_key(&row.error, &mut scratch).to_string();
        t.errors
            .entry(key)
            .or_insert_with(|| (row.error.clone(), 0, kind))
            .1 += row.count;
        if let Some(at) = row.time {
            t.first = Some(t.first.map_or(at, |f| f.min(at)));
            t.last = Some(t.last.map_or(at, |l| l.max(at)));
        }
    }
    let errors: u64 = tallies.values().map(|t| t.counts.iter().sum::<u64>()).sum();
    let mut domains: Vec<DomainReport> = tallies
        .into_iter()
        .map(|(name, t)| domain_report(name, t, errors))
        .collect();
    domains.sort_by(|a, b| b.errors.cmp(&a.errors).then(a.domain.cmp(&b.domain)));
    let concentrated_in = concentrated(&domains, errors);
    let verdict = verdict(&domains, &concentrated_in, errors);
    let time = table_time(table);
    let summary = summary(verdict, &domains, &concentrated_in, errors);
    let next = next(verdict, &domains, &concentrated_in, time.is_some());
    let sum = |k: ErrorKind| domains.iter().map(|d| d.count(k)).sum();
    TableDiagnosis {
        verdict,
        summary,
        next,
        concentrated_in,
        errors,
        held: sum(ErrorKind::Held),
        deferred: sum(ErrorKind::Deferred),
        bounced: sum(ErrorKind::Bounced),
        domains,
        time,
        columns: table.columns.clone(),
        rows: table.rows.len() as u64,
        total_rows: table.total_rows,
    }
}

impl DomainReport {
    fn count(&self, kind: ErrorKind) -> u64 {
        match kind {
            ErrorKind::Held => self.held,
            ErrorKind::Deferred => self.deferred,
            ErrorKind::Bounced => self.bounced,
        }
    }
}

fn domain_report(name: &str, t: Tally, all: u64) -> DomainReport {
    let total: u64 = t.counts.iter().sum();
    let mut top: Vec<ErrorReport> = t
        .errors
        .into_values()
        .map(|(error, count, kind)| ErrorReport { error, count, kind })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then(a.error.cmp(&b.error)));
    // The cause comes from the most frequent error that is not a hold: a hold says the
    // MTA backed off, not why.
    let top_failure = top
        .iter()
        .find(|e| e.kind != ErrorKind::Held)
        .map_or("", |e| e.error.as_str());
    let (cause, known) = cause_of(top_failure, &t.failures);
    top.truncate(TOP_ERRORS);
    DomainReport {
        domain: name.to_string(),
        errors: total,
        share: if all == 0 {
            0.0
        } else {
            total as f64 / all as f64
        },
        held: t.counts[ErrorKind::Held as usize],
        deferred: t.counts[ErrorKind::Deferred as usize],
        bounced: t.counts[ErrorKind::Bounced as usize],
        cause,
        known_reply: known.map(|k| k.name),
        meaning: known.map(|k| k.meaning()),
        advice: known.map_or_else(|| cause.advice(), |k| k.advice),
        top_errors: top,
        first: t.first.map(|t| t.to_string()),
        last: t.last.map(|t| t.to_string()),
    }
}

/// The fewest domains (largest first) whose errors reach [`CONCENTRATION`] of all.
fn concentrated(domains: &[DomainReport], errors: u64) -> Vec<String> {
    let mut carried = 0;
    let mut names = Vec::new();
    for d in domains {
        if errors == 0 || carried as f64 >= CONCENTRATION * errors as f64 {
            break;
        }
        carried += d.errors;
        names.push(d.domain.clone());
    }
    names
}

fn verdict(domains: &[DomainReport], concentrated: &[String], errors: u64) -> VerdictKind {
    if errors == 0 {
        VerdictKind::None
    } else if concentrated.len() <= (domains.len() / 3).max(1) {
        VerdictKind::FewDestinations
    } else {
        VerdictKind::AllDestinations
    }
}

/// The cause most domains share, and at how many.
fn common_cause(domains: &[DomainReport]) -> Option<(Cause, usize)> {
    let mut by_cause: BTreeMap<Cause, usize> = BTreeMap::new();
    for d in domains {
        *by_cause.entry(d.cause).or_default() += 1;
    }
    by_cause.into_iter().max_by_key(|(_, n)| *n)
}

fn percent(part: u64, whole: u64) -> String {
    format!("{:.0}%", 100.0 * part as f64 / whole.max(1) as f64)
}

fn summary(
    verdict: VerdictKind,
    domains: &[DomainReport],
    concentrated: &[String],
    errors: u64,
) -> String {
    let carried: u64 = domains
        .iter()
        .take(concentrated.len())
        .map(|d| d.errors)
        .sum();
    match verdict {
        VerdictKind::None => "The table counts no error.".to_string(),
        VerdictKind::FewDestinations => {
            let causes: Vec<&str> = domains
                .iter()
                .take(concentrated.len())
                .map(|d| d.cause.describe())
                .collect();
            format!(
                "The errors concentrate on {} of {} domains ({}: {} of {errors}), for {}: look \
                 at the sender's standing with those receivers (reputation or throttling there), \
                 not at the MTA.",
                concentrated.len(),
                domains.len(),
                concentrated.join(", "),
                percent(carried, errors),
                dedup(causes).join(", ")
            )
        }
        VerdictKind::AllDestinations => {
            let same = match common_cause(domains) {
                Some((cause, n)) if n >= 2 && 2 * n >= domains.len() => {
                    format!(", {n} of them for the same cause ({})", cause.describe())
                }
                _ => String::new(),
            };
            format!(
                "The errors spread across the domains: {} of {} carry 90% of {errors}{same}: look \
                 at the MTA itself (its own errors, its sending rate and connections), not one \
                 receiver.",
                concentrated.len(),
                domains.len()
            )
        }
    }
}

fn dedup(mut items: Vec<&str>) -> Vec<&str> {
    let mut seen = Vec::new();
    items.retain(|i| {
        let new = !seen.contains(i);
        seen.push(*i);
        new
    });
    items
}

fn next(
    verdict: VerdictKind,
    domains: &[DomainReport],
    concentrated: &[String],
    timed: bool,
) -> Vec<String> {
    let mut next = Vec::new();
    let named = match verdict {
        VerdictKind::None => 0,
        VerdictKind::FewDestinations => concentrated.len(),
        VerdictKind::AllDestinations => 3.min(domains.len()),
    };
    if verdict == VerdictKind::AllDestinations {
        next.push(
            "The same trouble at most domains points at the sending side: check the MTA's own \
             errors (DNS, local resources), its outbound IPs on blocklists, and whether its \
             concurrency and rate are above what receivers accept."
                .to_string(),
        );
    }
    for d in domains.iter().take(named) {
        next.push(format!("{}: {}", d.domain, d.advice));
    }
    if domains.iter().any(|d| d.held > 0) {
        next.push(
            "\"Messages queued (dynamic flow control)\" is the MTA's own backoff, not a \
             receiver's reply: it follows the errors above and clears when they stop."
                .to_string(),
        );
    }
    next.push(if timed {
        "For when each domain entered backoff and how long it stayed, run mtasim diagnose on \
         the MTA's log."
            .to_string()
    } else {
        "The table has no time column: nothing here says when the errors came or whether they \
         came at once; add a Day or Time column, or run mtasim diagnose on the MTA's log."
            .to_string()
    });
    next
}

/// The time column's first, last and busiest value.
fn table_time(table: &Table) -> Option<TableTime> {
    let mut by_time: BTreeMap<i64, (u64, Vec<&str>)> = BTreeMap::new();
    for row in &table.rows {
        let e = by_time.entry(row.time?.0).or_default();
        e.0 += row.count;
        if !e.1.contains(&row.domain.as_str()) {
            e.1.push(&row.domain);
        }
    }
    let (&first, _) = by_time.first_key_value()?;
    let (&last, _) = by_time.last_key_value()?;
    let (&busiest, (n, names)) = by_time
        .iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.0.cmp(a.0)))?;
    let show = |ms| crate::logs::UnixMillis(ms).to_string();
    Some(TableTime {
        first: show(first),
        last: show(last),
        busiest: show(busiest),
        busiest_errors: *n,
        busiest_domains: names.len() as u64,
    })
}
