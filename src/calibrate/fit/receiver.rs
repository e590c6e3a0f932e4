//! The receivers' estimators: what one destination's evidence says of its latency, rate
//! and connection limits, greylisting, outages, deferral episodes, transient errors and
//! unknown users.

use rustc_hash::FxHashMap;

use super::{Notes, Timeline, most_frequent, ms, percent, seconds, temporary_reply};
use crate::calibrate::collect::{Bin, Dest, Evidence, ReplyClass, run_total};
use crate::calibrate::sender::{Conduct, Label};
use crate::calibrate::stats::{LogMoments, median, weighted_median};
use crate::logs::Sym;
use crate::receiver::config::{DEFAULT_CONNECT_LATENCY, DEFAULT_LATENCY};
use crate::receiver::latency::{LatencyDistribution, Lognormal};
use crate::receiver::{
    ConnectionLimit, DeferralEpisode, Greylisting, Latency, Outage, OutageMode, RateLimit,
    TransientErrors,
};
use crate::units::{Rate, Span};

/// Samples a latency fit needs.
const MIN_LATENCY_SAMPLES: u64 = 20;
/// Transactions a bin needs to count toward a deferral rate.
const MIN_BIN_TRANSACTIONS: u32 = 10;

/// Transaction and connect latency: log-normals fitted to Postfix `delays` d of deliveries
/// and c of new connections; without Postfix timings, one log-normal fitted to the time from
/// arrival to delivery of first attempts that found no mail waiting (`quick`: the whole
/// session, so connecting takes 0 there).
pub fn latencies(
    name: &str,
    d: &Dest,
    quick: &LogMoments,
    notes: &mut Notes,
) -> (Option<Latency>, Option<Latency>) {
    if d.latency.count < MIN_LATENCY_SAMPLES && is_a_session(quick) {
        let latency = fitted_latency(
            name,
            "latency",
            quick,
            "first deliveries that found no mail waiting (arrival to delivery, the whole session: the log has no timings)",
            notes,
        );
        notes.say(format!(
            "{name}.connect_latency: 0s, as it is inside the latency measured"
        ));
        return (latency, Some(Latency::Fixed(Span::ZERO)));
    }
    let latency = fitted_latency(
        name,
        "latency",
        &d.latency,
        "transaction times (the d of delays=) of its deliveries",
        notes,
    );
    let connect = fitted_latency(
        name,
        "connect_latency",
        &d.connect_latency,
        "connection times (the c of delays=) of its new connections",
        notes,
    );
    (latency, connect)
}

/// A session rarely takes this long: quick deliveries slower than that in the median waited
/// at the sender (a sender paced by a message rate queues even mail that found none waiting).
const LONGEST_SESSION_MS: u64 = 3_000;

/// Whether quick deliveries measure the session: enough of them, their median a session's.
fn is_a_session(quick: &LogMoments) -> bool {
    quick
        .fit(MIN_LATENCY_SAMPLES)
        .is_some_and(|(median, _)| median <= LONGEST_SESSION_MS)
}

/// The mean session a destination's deliveries took, in seconds, from what
/// [`latencies`] fits (the defaults without evidence).
pub fn session_seconds(d: &Dest, quick: &LogMoments) -> f64 {
    let mean = |m: &LogMoments, default: Span| {
        m.fit(MIN_LATENCY_SAMPLES)
            .map_or(default.as_secs_f64(), |(median, sigma)| {
                median as f64 / 1000.0 * (sigma * sigma / 2.0).exp()
            })
    };
    if d.latency.count < MIN_LATENCY_SAMPLES && is_a_session(quick) {
        return mean(quick, DEFAULT_LATENCY);
    }
    mean(&d.latency, DEFAULT_LATENCY) + mean(&d.connect_latency, DEFAULT_CONNECT_LATENCY)
}

/// Arrival to delivery of the first attempts of mail that arrived when nothing was waiting
/// at the destination (the steps the sender's conduct says nothing of).
pub fn quick_deliveries(t: &Timeline, conduct: &Conduct) -> LogMoments {
    let mut out = LogMoments::default();
    for (k, p) in &t.pace {
        if p.first_delivery.count > 0 && conduct.label(*k) == Label::Unknown {
            out.merge(&p.first_delivery);
        }
    }
    out
}

fn fitted_latency(
    name: &str,
    field: &str,
    moments: &LogMoments,
    what: &str,
    notes: &mut Notes,
) -> Option<Latency> {
    match moments.fit(MIN_LATENCY_SAMPLES) {
        Some((median, sigma)) => {
            let sigma = (sigma * 1000.0).round() / 1000.0;
            notes.say(format!(
                "{name}.{field}: lognormal median {} sigma {sigma} from {} {what}",
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

/// Outages: runs of failed connects (see [`crate::calibrate::collect::Connects`]).
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
    // Weighted by transactions: a sender that slows down in an episode makes its bins many
    // and small, and they must not pass for the usual rate.
    let rates: Vec<(f64, f64)> = t
        .bins
        .iter()
        .filter(|(_, b)| b.transactions >= MIN_BIN_TRANSACTIONS)
        .map(|(_, b)| {
            (
                f64::from(unexplained(b)) / f64::from(b.transactions),
                f64::from(b.transactions),
            )
        })
        .collect();
    let baseline = weighted_median(rates);
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
