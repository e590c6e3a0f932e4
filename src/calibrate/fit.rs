//! The estimators: from a destination's (or the MTA's) evidence to scenario values, each
//! with a sentence saying where the value came from, or why it fell back to a default.
//! docs/CALIBRATION.md states each one's assumptions and limits.

use rustc_hash::FxHashMap;

use super::collect::{Bin, Dest, Evidence, Minute, RETRIES, ReplyClass, run_total};
use super::stats::median;
use crate::logs::Sym;
use crate::mta::config::{ErrorWindow, InternalErrors, Jitter, RetryConfig, Schedule};
use crate::receiver::latency::{LatencyDistribution, Lognormal};
use crate::receiver::{
    ConnectionLimit, DeferralEpisode, Greylisting, Latency, Outage, OutageMode, RateLimit,
    TransientErrors,
};
use crate::replies::{Reply, ReplyKind};
use crate::units::{Rate, Span};

/// Samples a latency fit needs.
const MIN_LATENCY_SAMPLES: u64 = 20;
/// Transactions a bin needs to count toward a deferral rate.
const MIN_BIN_TRANSACTIONS: u32 = 10;
/// Attempts a bin needs to count toward the MTA's own error rate.
const MIN_BIN_ATTEMPTS: u32 = 20;
/// Spacings a retry number needs to be fitted.
const MIN_SPACINGS: u64 = 20;

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

/// One destination's bins and minutes in time order.
pub struct Timeline<'a> {
    pub bins: Vec<(u32, &'a Bin)>,
    pub minutes: Vec<(u32, &'a Minute)>,
}

/// Splits the evidence's per-(destination, time) maps by destination, in time order.
pub fn timelines(e: &Evidence) -> Vec<Timeline<'_>> {
    let mut out: Vec<Timeline> = (0..e.dests.len())
        .map(|_| Timeline {
            bins: Vec::new(),
            minutes: Vec::new(),
        })
        .collect();
    for (&(d, b), bin) in &e.bins {
        out[d as usize].bins.push((b, bin));
    }
    for (&(d, m), minute) in &e.minutes {
        out[d as usize].minutes.push((m, minute));
    }
    for t in &mut out {
        t.bins.sort_by_key(|(b, _)| *b);
        t.minutes.sort_by_key(|(m, _)| *m);
    }
    out
}

fn ms(ms: u64) -> Span {
    Span::from_millis(ms)
}

/// A span rounded to whole seconds (logs rarely say more).
fn seconds(value: u64) -> Span {
    Span::from_secs((value + 500) / 1000)
}

fn percent(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// The most frequent of `counts`, ties to the smaller symbol (deterministic).
fn most_frequent(counts: &FxHashMap<Sym, u64>, keep: impl Fn(Sym) -> bool) -> Option<Sym> {
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

/// Transaction latency: a log-normal fitted to Postfix `delays` d of deliveries.
pub fn latency(name: &str, d: &Dest, notes: &mut Notes) -> Option<Latency> {
    fitted_latency(
        name,
        "latency",
        &d.latency,
        "transaction times (the d of delays=) of its deliveries",
        notes,
    )
}

/// Connect latency: a log-normal fitted to Postfix `delays` c of new connections.
pub fn connect_latency(name: &str, d: &Dest, notes: &mut Notes) -> Option<Latency> {
    fitted_latency(
        name,
        "connect_latency",
        &d.connect_latency,
        "connection times (the c of delays=) of its new connections",
        notes,
    )
}

fn fitted_latency(
    name: &str,
    field: &str,
    moments: &super::stats::LogMoments,
    what: &str,
    notes: &mut Notes,
) -> Option<Latency> {
    match moments.fit(MIN_LATENCY_SAMPLES) {
        Some((median, sigma)) => {
            let sigma = (sigma * 1000.0).round() / 1000.0;
            notes.say(format!(
                "{name}.{field}: lognormal median {} sigma {sigma} from {} Postfix {what}",
                ms(median),
                moments.count
            ));
            Some(Latency::Distribution(LatencyDistribution::Lognormal(
                Lognormal {
                    median: ms(median),
                    sigma,
                },
            )))
        }
        None => {
            notes.fallback(format!(
                "{name}.{field}: the default, because the log has {} Postfix {what} (a fit needs {MIN_LATENCY_SAMPLES}; KumoMTA and PowerMTA logs carry no timings)",
                if moments.count == 0 { "no".to_string() } else { format!("only {}", moments.count) }
            ));
            None
        }
    }
}

/// Share of messages bounced 5.1.1 among those that got a verdict.
pub fn unknown_user_rate(name: &str, d: &Dest, notes: &mut Notes) -> f64 {
    let verdicts = d.delivered + d.bounced;
    if verdicts == 0 || d.unknown_users == 0 {
        return 0.0;
    }
    let rate = (d.unknown_users as f64 / verdicts as f64 * 10_000.0).round() / 10_000.0;
    notes.say(format!(
        "{name}.unknown_user_rate: {rate} ({} 5.1.1 bounces of {verdicts} delivered or bounced)",
        d.unknown_users
    ));
    rate
}

/// A rate limit: the accepted deliveries per minute in the minutes where a rate-limit
/// reply appears, if they plateau (coefficient of variation under 0.35).
pub fn rate_limit(
    name: &str,
    e: &Evidence,
    d: &Dest,
    t: &Timeline,
    notes: &mut Notes,
) -> Option<RateLimit> {
    let limited: u64 = d.rate_limited.values().map(|r| run_total(r)).sum();
    if limited == 0 {
        return None;
    }
    let mut per_minute: Vec<f64> = t
        .minutes
        .iter()
        .filter(|(_, m)| m.rate_limited > 0 && m.delivered > 0)
        .map(|(_, m)| f64::from(m.delivered))
        .collect();
    let minutes = per_minute.len();
    let mean = per_minute.iter().sum::<f64>() / minutes.max(1) as f64;
    let variance =
        per_minute.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / minutes.max(1) as f64;
    let cv = variance.sqrt() / mean.max(1.0);
    if minutes == 0 || (minutes >= 3 && cv >= 0.35) {
        notes.fallback(format!(
            "{name}: {limited} rate-limit replies but accepted deliveries do not plateau while they appear ({minutes} minutes, variation {cv:.2}): counted as deferral episodes instead of a rate_limit"
        ));
        return None;
    }
    let per_hour = (median(&mut per_minute) * 60.0).round() as u64;
    let burst = burst(d, per_hour);
    let totals: FxHashMap<Sym, u64> = d
        .rate_limited
        .iter()
        .map(|(s, r)| (*s, run_total(r)))
        .collect();
    let reply = most_frequent(&totals, |_| true);
    let reply = temporary_reply(e, reply, "generic-rate-limit");
    let doubt = if minutes < 3 {
        " (few minutes: uncertain)"
    } else {
        ""
    };
    notes.say(format!(
        "{name}.rate_limit: {per_hour}/h, the median of accepted deliveries per minute over the {minutes} minutes with rate-limit replies{doubt} ({limited} such replies); burst {}, the deliveries before the first rate-limit reply beyond what the rate allowed since the first delivery",
        burst.unwrap_or(1)
    ));
    Some(RateLimit {
        rate: Rate::new(per_hour.max(1), Span::HOUR),
        burst,
        strict: false,
        reply: Some(reply),
    })
}

/// The rate limit's burst: deliveries before the first rate-limit reply, less what the
/// rate refilled since the first delivery (`None`: 1 or less).
fn burst(d: &Dest, per_hour: u64) -> Option<u64> {
    let (first, limited) = (d.first_delivery?, d.first_limited?);
    let refilled = per_hour as f64 * limited.saturating_sub(first) as f64 / 3_600_000.0;
    let burst = (d.delivered_before_limit as f64 - refilled).round();
    (burst > 1.0).then_some(burst as u64)
}

/// A connection limit: the sessions open (Postfix busy time per minute) in the minutes
/// with greeting 421s.
pub fn connection_limit(
    name: &str,
    e: &Evidence,
    d: &Dest,
    t: &Timeline,
    notes: &mut Notes,
) -> Option<ConnectionLimit> {
    if d.greeting_rejects == 0 {
        return None;
    }
    let mut open: Vec<f64> = t
        .minutes
        .iter()
        .filter(|(_, m)| m.greeting_rejects > 0 && m.busy_ms > 0)
        .map(|(_, m)| m.busy_ms as f64 / 60_000.0)
        .collect();
    if open.is_empty() {
        notes.fallback(format!(
            "{name}: {} greeting rejects, but no Postfix delays to count open sessions: no connection_limit",
            d.greeting_rejects
        ));
        return None;
    }
    let minutes = open.len();
    let max = median(&mut open).round().max(1.0) as u32;
    let reply = most_frequent(&d.reject_replies, |_| true);
    notes.say(format!(
        "{name}.connection_limit: max {max}, the median of sessions open (busy time per minute) over the {minutes} minutes with greeting rejects ({} rejects)",
        d.greeting_rejects
    ));
    Some(ConnectionLimit {
        max,
        over_limit: crate::receiver::OverLimit::Reject,
        backlog: None,
        reply: Some(temporary_reply(e, reply, "generic-421")),
    })
}

/// Greylisting: between the longest wait still greylisted and the shortest accepted.
pub fn greylisting(name: &str, e: &Evidence, d: &Dest, notes: &mut Notes) -> Option<Greylisting> {
    let g = d.greylist;
    if g.greylisted == 0 {
        return None;
    }
    let reply = most_frequent(&d.deferrals_by_reply, |s| {
        e.class(s) == ReplyClass::Greylist
    });
    let reply = Some(temporary_reply(e, reply, "greylist"));
    let (delay, how) = match (g.lower, g.upper) {
        (Some(lower), Some(upper)) if lower < upper => (
            (lower + upper) / 2,
            format!(
                "midway between the longest retry still greylisted ({}) and the shortest accepted ({})",
                seconds(lower),
                seconds(upper)
            ),
        ),
        (_, Some(upper)) => {
            notes.fallback(format!(
                "{name}.greylisting.min_delay is an upper bound: no retry came before {}, so the real delay may be shorter",
                seconds(upper)
            ));
            (
                upper,
                "the shortest wait of a message accepted after being greylisted".into(),
            )
        }
        (Some(lower), None) => (
            lower + 1000,
            "just above the longest wait still greylisted".into(),
        ),
        (None, None) => {
            notes.fallback(format!(
                "{name}.greylisting: {} greylisting replies but no retry of a greylisted message: min_delay left at the default",
                g.greylisted
            ));
            return Some(Greylisting {
                min_delay: crate::receiver::config::DEFAULT_GREYLIST_DELAY,
                reply,
            });
        }
    };
    notes.say(format!(
        "{name}.greylisting.min_delay: {}, {how} ({} greylisting replies)",
        seconds(delay),
        g.greylisted
    ));
    Some(Greylisting {
        min_delay: seconds(delay),
        reply,
    })
}

/// Outages: runs of failed connects (see [`super::collect::Connects`]).
pub fn outages(name: &str, d: &Dest, notes: &mut Notes) -> Vec<Outage> {
    let mut out = Vec::new();
    for o in &d.connects.outages {
        let (from, to) = (seconds(o.from), seconds(o.to).max(seconds(o.from + 1000)));
        let mode = if o.refused {
            OutageMode::Refuse
        } else {
            OutageMode::Timeout
        };
        let end = if o.open {
            " (still failing at the log's end)"
        } else {
            ", ending midway between the last failed connect and the next greeted one"
        };
        notes.say(format!(
            "{name}.outages: {from} to {to}, {} ({} failed connects in a row{end})",
            if o.refused { "refuse" } else { "timeout" },
            o.failures
        ));
        out.push(Outage {
            from,
            to,
            mode,
            reply: None,
        });
    }
    out
}

/// Deferral rates by bin: episodes where the unexplained rate is well above the
/// destination's median, and transient errors for the rest.
pub fn deferrals(
    name: &str,
    e: &Evidence,
    d: &Dest,
    t: &Timeline,
    rate_limited_too: bool,
    notes: &mut Notes,
) -> (Vec<DeferralEpisode>, Option<TransientErrors>) {
    let unexplained = |b: &Bin| b.unexplained + if rate_limited_too { b.rate_limited } else { 0 };
    let mut rates: Vec<f64> = t
        .bins
        .iter()
        .filter(|(_, b)| b.transactions >= MIN_BIN_TRANSACTIONS)
        .map(|(_, b)| f64::from(unexplained(b)) / f64::from(b.transactions))
        .collect();
    let baseline = median(&mut rates);
    let threshold = (3.0 * baseline).max(baseline + 0.05);
    let in_episode = |b: &Bin| {
        b.transactions >= MIN_BIN_TRANSACTIONS
            && f64::from(unexplained(b)) / f64::from(b.transactions) >= threshold
    };
    // A window goes on across bins with too few transactions to tell (a destination held
    // back by flow control): only a bin with enough of them and a low rate ends it, midway
    // between the last high bin and that one.
    let mut windows: Vec<Window> = Vec::new();
    let mut open = false;
    for (i, b) in &t.bins {
        if b.transactions < MIN_BIN_TRANSACTIONS {
            continue;
        }
        if !in_episode(b) {
            if open && let Some(w) = windows.last_mut() {
                w.end = (u64::from(w.last + 1) * e.bin + u64::from(*i) * e.bin) / 2;
            }
            open = false;
            continue;
        }
        let (deferred, transactions) = (u64::from(unexplained(b)), u64::from(b.transactions));
        match windows.last_mut() {
            Some(w) if open => {
                w.last = *i;
                w.end = u64::from(*i + 1) * e.bin;
                w.deferred += deferred;
                w.transactions += transactions;
            }
            _ => windows.push(Window {
                first: *i,
                last: *i,
                end: u64::from(*i + 1) * e.bin,
                deferred,
                transactions,
            }),
        }
        open = true;
    }
    let replies = reply_counts(d, rate_limited_too);
    let episode_bins = |i: u32| windows.iter().any(|w| (w.first..=w.last).contains(&i));
    let mut episodes = Vec::new();
    for &Window {
        first,
        last,
        end,
        deferred,
        transactions,
    } in &windows
    {
        let rate = deferred as f64 / transactions as f64;
        let p = ((rate - baseline) / (1.0 - baseline)).clamp(0.0, 1.0);
        let p = (p * 1000.0).round() / 1000.0;
        let reply = top_reply(&replies, |b| (first..=last).contains(&b));
        let (from, to) = (ms(u64::from(first) * e.bin), ms(end));
        notes.say(format!(
            "{name}.deferral_episodes: {from} to {to} with probability {p} ({deferred} unexplained deferrals of {transactions} transactions, {} against a median of {})",
            percent(rate),
            percent(baseline)
        ));
        episodes.push(DeferralEpisode {
            from,
            to,
            probability: p,
            reply: Some(temporary_reply(e, reply, "generic-throttle")),
        });
    }
    let (mut deferred, mut transactions) = (0u64, 0u64);
    for (i, b) in &t.bins {
        if !episode_bins(*i) {
            deferred += u64::from(unexplained(b));
            transactions += u64::from(b.transactions);
        }
    }
    let transient = (deferred > 0 && transactions > 0).then(|| {
        let p = (deferred as f64 / transactions as f64 * 100_000.0).round() / 100_000.0;
        let reply = top_reply(&replies, |b| !episode_bins(b));
        notes.say(format!(
            "{name}.transient_errors: probability {p} ({deferred} unexplained deferrals of {transactions} transactions outside episodes)"
        ));
        TransientErrors {
            probability: p,
            reply: Some(temporary_reply(e, reply, "generic-451")),
        }
    });
    (episodes, transient.filter(|t| t.probability > 0.0))
}

/// A deferral episode as found: its high bins, its estimated end (ms) and its counts.
#[derive(Debug, Clone, Copy)]
struct Window {
    first: u32,
    last: u32,
    end: u64,
    deferred: u64,
    transactions: u64,
}

/// Unexplained deferrals per reply and bin (rate-limit replies too when they are not a
/// rate limit).
fn reply_counts(d: &Dest, rate_limited_too: bool) -> Vec<(Sym, &[(u32, u32)])> {
    let rate_limited = d.rate_limited.iter().filter(|_| rate_limited_too);
    let mut out: Vec<(Sym, &[(u32, u32)])> = d
        .unexplained
        .iter()
        .chain(rate_limited)
        .map(|(s, runs)| (*s, runs.as_slice()))
        .collect();
    out.sort_by_key(|(s, _)| s.index());
    out
}

fn top_reply(replies: &[(Sym, &[(u32, u32)])], keep: impl Fn(u32) -> bool) -> Option<Sym> {
    replies
        .iter()
        .map(|(s, runs)| {
            let n: u64 = runs
                .iter()
                .filter(|(b, _)| keep(*b))
                .map(|(_, n)| u64::from(*n))
                .sum();
            (*s, n)
        })
        .filter(|(_, n)| *n > 0)
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.index().cmp(&a.0.index())))
        .map(|(s, _)| s)
}

/// The retry schedule from the spacing of each message's attempts after a deferral.
pub fn retry(e: &Evidence, notes: &mut Notes) -> RetryConfig {
    let defaults = RetryConfig::default();
    let fitted: Vec<usize> = (0..RETRIES)
        .take_while(|&n| e.retries[n].count() >= MIN_SPACINGS)
        .collect();
    let Some(&first) = fitted.first() else {
        notes.fallback(format!(
            "mta.retry: the default schedule, because the log has {} retries after a deferral (a fit needs {MIN_SPACINGS})",
            e.retries[0].count()
        ));
        return RetryConfig {
            max_age: max_age(e, notes),
            ..defaults
        };
    };
    let h = &e.retries[first];
    let (p10, p90) = (
        h.quantile(0.1).as_millis() as f64,
        h.quantile(0.9).as_millis() as f64,
    );
    let spread = p10 / p90.max(1.0);
    let (jitter, scale) = if spread < 0.3 {
        (Jitter::Full, 2.0)
    } else if spread < 0.8 {
        (Jitter::Equal, 1.0 / 0.75)
    } else {
        (Jitter::None, 1.0)
    };
    let delays: Vec<u64> = fitted
        .iter()
        .map(|&n| (e.retries[n].quantile(0.5).as_millis() as f64 * scale).round() as u64)
        .collect();
    let jitter_name = match jitter {
        Jitter::Full => "full",
        Jitter::Equal => "equal",
        _ => "none",
    };
    notes.say(format!(
        "mta.retry.jitter: {jitter_name}, from the spread of first retries (p10/p90 = {spread:.2} over {} retries)",
        h.count()
    ));
    let schedule = schedule(&delays, notes);
    RetryConfig {
        jitter,
        max_age: max_age(e, notes),
        ..schedule
    }
}

/// Exponential when the delays grow by a steady factor, else the intervals themselves.
fn schedule(delays: &[u64], notes: &mut Notes) -> RetryConfig {
    let defaults = RetryConfig::default();
    let shown: Vec<String> = delays.iter().map(|&d| seconds(d).to_string()).collect();
    let ratios: Vec<f64> = delays
        .windows(2)
        .map(|w| w[1] as f64 / w[0].max(1) as f64)
        .collect();
    let growing: Vec<f64> = ratios.iter().copied().filter(|r| *r > 1.15).collect();
    if !growing.is_empty() && ratios.first().is_some_and(|r| *r > 1.15) {
        let factor = growing.iter().map(|r| r.ln()).sum::<f64>() / growing.len() as f64;
        let factor = (factor.exp() * 100.0).round() / 100.0;
        let capped = ratios.last().is_some_and(|r| *r <= 1.15);
        let last = *delays.last().expect("two delays");
        let max = if capped {
            seconds(last)
        } else {
            defaults.max.max(seconds(last))
        };
        notes.say(format!(
            "mta.retry: exponential, initial {} factor {factor} max {max}{}, from the median spacing of retries 1 to {} ({})",
            seconds(delays[0]),
            if capped { "" } else { " (the cap was not reached in the log: the default or the longest seen)" },
            delays.len(),
            shown.join(", ")
        ));
        return RetryConfig {
            schedule: Schedule::Exponential,
            initial: seconds(delays[0]),
            factor: factor.max(1.0),
            max: max.max(seconds(delays[0])),
            ..defaults
        };
    }
    let constant = ratios.iter().all(|r| (0.85..=1.15).contains(r));
    let intervals: Vec<Span> = if constant {
        vec![seconds(delays[0])]
    } else {
        delays.iter().map(|&d| seconds(d)).collect()
    };
    notes.say(format!(
        "mta.retry: intervals {}, from the median spacing of retries 1 to {} ({})",
        intervals
            .iter()
            .map(Span::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        delays.len(),
        shown.join(", ")
    ));
    let initial = intervals.iter().copied().min().unwrap_or(defaults.initial);
    RetryConfig {
        schedule: Schedule::Intervals,
        initial: initial.max(Span::SECOND),
        max: intervals
            .iter()
            .copied()
            .max()
            .unwrap_or(defaults.max)
            .max(initial),
        intervals,
        ..defaults
    }
}

/// The youngest expired message's age; without expirations the default, or more than the
/// oldest message seen.
fn max_age(e: &Evidence, notes: &mut Notes) -> Span {
    let default = RetryConfig::default().max_age;
    if e.expiry_ages.count() > 0 {
        let youngest = e.expiry_ages.quantile(0.0);
        let age = Span::from_mins(youngest.as_millis() / 60_000).max(Span::MINUTE);
        notes.say(format!(
            "mta.retry.max_age: {age}, the youngest of {} expired messages",
            e.expiry_ages.count()
        ));
        return age;
    }
    let oldest = Span::from_millis(e.oldest);
    let age = default.max(Span::from_hours(oldest.as_millis() / 3_600_000 + 1));
    notes.fallback(format!(
        "mta.retry.max_age: {age}: no message expired in the log (the oldest seen was {}), so the default or more",
        seconds(e.oldest)
    ));
    age
}

/// The MTA's own failures: a base rate, and windows where it is well above it.
pub fn internal_errors(e: &Evidence, notes: &mut Notes) -> InternalErrors {
    let total: u64 = e.mta_bins.iter().map(|b| u64::from(b.1)).sum();
    if total == 0 {
        return InternalErrors::default();
    }
    let mut rates: Vec<f64> = e
        .mta_bins
        .iter()
        .filter(|b| b.0 >= MIN_BIN_ATTEMPTS)
        .map(|b| f64::from(b.1) / f64::from(b.0))
        .collect();
    let baseline = median(&mut rates);
    let threshold = (3.0 * baseline).max(baseline + 0.02);
    let mut windows: Vec<(usize, usize, u64, u64)> = Vec::new();
    for (i, &(attempts, internal)) in e.mta_bins.iter().enumerate() {
        let high =
            attempts >= MIN_BIN_ATTEMPTS && f64::from(internal) / f64::from(attempts) >= threshold;
        if !high {
            continue;
        }
        match windows.last_mut() {
            Some(w) if w.1 + 1 == i => {
                w.1 = i;
                w.2 += u64::from(internal);
                w.3 += u64::from(attempts);
            }
            _ => windows.push((i, i, u64::from(internal), u64::from(attempts))),
        }
    }
    let inside = |i: usize| windows.iter().any(|w| (w.0..=w.1).contains(&i));
    let (mut internal, mut attempts) = (0u64, 0u64);
    for (i, b) in e.mta_bins.iter().enumerate() {
        if !inside(i) {
            internal += u64::from(b.1);
            attempts += u64::from(b.0);
        }
    }
    let probability = if attempts > 0 {
        (internal as f64 / attempts as f64 * 100_000.0).round() / 100_000.0
    } else {
        0.0
    };
    notes.say(format!(
        "mta.internal_errors.probability: {probability} ({internal} of {attempts} new connections outside windows failed inside the MTA)"
    ));
    let windows = windows
        .iter()
        .map(|&(first, last, internal, attempts)| {
            let p = (internal as f64 / attempts as f64 * 1000.0).round() / 1000.0;
            let (from, to) = (
                ms(first as u64 * e.bin),
                ms((last as u64 + 1) * e.bin),
            );
            notes.say(format!(
                "mta.internal_errors.windows: {from} to {to} with probability {p} ({internal} of {attempts} new connections)"
            ));
            ErrorWindow {
                from,
                to,
                probability: p,
            }
        })
        .collect();
    InternalErrors {
        probability,
        windows,
    }
}

/// Sessions open at once (Postfix busy time per minute, the highest minute): of one
/// destination, or of all.
pub fn concurrency(busy: impl Iterator<Item = u64>) -> Option<u32> {
    busy.max()
        .filter(|&b| b > 0)
        .map(|b| (b as f64 / 60_000.0).ceil() as u32)
}

/// The Zipf exponent that gives the largest of `volumes` (sorted, most first) the same
/// part of their total as in the log: the head of a population is what reaches flow
/// control's thresholds. In [0, 3]; 1 with fewer than three volumes.
pub fn zipf_exponent(volumes: &[u64]) -> f64 {
    let total: u64 = volumes.iter().sum();
    let largest = volumes.first().copied().unwrap_or(0);
    if volumes.len() < 3 || largest == 0 {
        return 1.0;
    }
    let want = total as f64 / largest as f64;
    let n = volumes.len();
    let harmonic = |s: f64| (1..=n).map(|k| (k as f64).powf(-s)).sum::<f64>();
    let (mut lo, mut hi) = (0.0, 3.0);
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        // The harmonic number falls as the exponent grows.
        if harmonic(mid) > want {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    ((lo + hi) / 2.0 * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_recognised() {
        let mut notes = Notes::default();
        let r = schedule(&[600_000, 1_200_000, 2_400_000, 4_800_000], &mut notes);
        assert_eq!(
            (r.schedule, r.initial, r.factor, r.max),
            (
                Schedule::Exponential,
                Span::from_mins(10),
                2.0,
                Span::from_hours(4)
            )
        );
        let r = schedule(&[600_000, 1_200_000, 2_400_000, 2_400_000], &mut notes);
        assert_eq!((r.factor, r.max), (2.0, Span::from_mins(40)));
        let r = schedule(&[300_000, 310_000, 295_000], &mut notes);
        assert_eq!(
            (r.schedule, r.intervals.clone()),
            (Schedule::Intervals, vec![Span::from_mins(5)])
        );
        let r = schedule(&[60_000, 30_000], &mut notes);
        assert_eq!(r.intervals, vec![Span::from_mins(1), Span::from_secs(30)]);
        assert_eq!(r.initial, Span::from_secs(30));
    }

    #[test]
    fn zipf_exponents_are_fitted() {
        let volumes: Vec<u64> = (1..=50)
            .map(|k| (1e6 / (k as f64).powf(1.2)) as u64)
            .collect();
        assert_eq!(zipf_exponent(&volumes), 1.2);
        assert_eq!(zipf_exponent(&[10, 10, 10, 10]), 0.0);
        assert_eq!(zipf_exponent(&[5, 3]), 1.0);
        assert_eq!(concurrency([30_000, 600_001].into_iter()), Some(11));
        assert_eq!(concurrency(std::iter::empty()), None);
    }
}
