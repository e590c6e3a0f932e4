//! Calibration: a scenario that behaves like the receivers and the MTA of a real log, and
//! the replay that shows how close it comes.
//!
//! [`calibrate`] reads a log's outcomes once ([`collect::Evidence`]) and estimates
//! ([`fit`]) for the top destinations by volume one receiver each, and for the rest a
//! generated population with their pooled behaviour; the traffic as waves at the bin's
//! resolution; the MTA's retry schedule, maximum age, connection counts and own error
//! windows. The result is a complete scenario (it passes [`scenario::compile`]) whose time
//! 0 is the log's first record and whose `description` says where every value came from;
//! what could not be inferred is said there too, and listed in [`Calibration::fallbacks`].
//! [`replay`] runs a scenario and compares it with the log, destination by destination.
//!
//! Each estimator's assumptions and limits are in docs/CALIBRATION.md.

pub mod collect;
pub mod fit;
pub mod replay;
pub mod sender;
mod stats;

use std::collections::HashSet;

use collect::{Dest, Evidence};
use fit::{Notes, Timeline};
use sender::Conduct;
use sender::policy::{self, Seen};
use stats::LogMoments;

use crate::flow_control::FlowControlConfig;
use crate::flow_control::config::{Action, RuleConfig, Trigger};
use crate::logs::{LogError, LogReader};
use crate::mta::config::MtaConfig;
use crate::receiver::{GeneratedReceivers, ReceiverConfig};
use crate::scenario::{self, Scenario, TrafficWave};
use crate::units::Span;

/// How to calibrate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The traffic's resolution, and that of deferral episodes and error windows.
    pub bin: Span,
    /// Destinations modelled one by one (the top by volume); the rest are a population.
    pub receivers: usize,
    /// The scenario's name.
    pub name: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bin: Span::from_mins(5),
            receivers: 20,
            name: "calibrated".into(),
        }
    }
}

/// Why a calibration failed.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(
        "the log has no delivery attempt with a recipient to calibrate from ({0} outcomes read)"
    )]
    NoAttempts(u64),
    #[error("--bin must be at least 1s, got {0}")]
    Bin(Span),
    #[error("internal error: the calibrated scenario does not compile: {0}")]
    Invalid(String),
}

/// A calibrated scenario and what was said about it.
#[derive(Debug)]
pub struct Calibration {
    pub scenario: Scenario,
    /// Estimates that fell back to a default or a bound, and why.
    pub fallbacks: Vec<String>,
    /// Recipients still queued at the log's end (not delivered, bounced or expired).
    pub queued_at_end: u64,
}

/// Calibrates a scenario from every outcome of `reader`.
pub fn calibrate(reader: &mut LogReader, options: &Options) -> Result<Calibration, CalibrateError> {
    if options.bin < Span::SECOND {
        return Err(CalibrateError::Bin(options.bin));
    }
    let evidence = Evidence::read(reader, options.bin)?;
    from_evidence(&evidence, options)
}

/// The destinations by volume, most first (ties by name).
pub fn ranked(e: &Evidence, reader_names: impl Fn(&Dest) -> String) -> Vec<(usize, String)> {
    let mut ranked: Vec<(usize, String)> = e
        .dests
        .iter()
        .enumerate()
        .filter(|(_, d)| d.recipients > 0)
        .map(|(i, d)| (i, reader_names(d)))
        .collect();
    ranked.sort_by(|a, b| {
        e.dests[b.0]
            .recipients
            .cmp(&e.dests[a.0].recipients)
            .then(a.1.cmp(&b.1))
    });
    ranked
}

/// Builds the scenario from the evidence.
pub fn from_evidence(e: &Evidence, options: &Options) -> Result<Calibration, CalibrateError> {
    let total: u64 = e.dests.iter().map(|d| d.recipients).sum();
    if total == 0 {
        return Err(CalibrateError::NoAttempts(e.outcomes));
    }
    let mut notes = Notes::default();
    let timelines = fit::timelines(e);
    let conducts: Vec<Conduct> = timelines.iter().map(|t| Conduct::read(&t.pace)).collect();
    let quick: Vec<LogMoments> = timelines
        .iter()
        .zip(&conducts)
        .map(|(t, c)| fit::quick_deliveries(t, c))
        .collect();
    let ranked = ranked(e, |d| e.names.get(&d.name).cloned().unwrap_or_default());
    let (top, rest) = ranked.split_at(ranked.len().min(options.receivers));
    let mut taken = HashSet::new();
    let receivers: Vec<ReceiverConfig> = top
        .iter()
        .map(|(i, name)| {
            let d = &e.dests[*i];
            let mut r = receiver(e, d, (&timelines[*i], &quick[*i]), name, &mut notes);
            r.name = Some(name.clone());
            r.domains = domains(e, d, name, &mut taken);
            r.share = Some(share(d.recipients, total));
            notes.say(format!(
                "{name}.share: {} ({} of {total} recipients attempted)",
                r.share.unwrap_or(0.0),
                d.recipients
            ));
            r
        })
        .collect();
    let generated_receivers = population(e, rest, (total, &quick), &mut notes);
    let mta = mta(e, &conducts, &mut notes);
    let flow_control = flow_control(e, (&timelines, &conducts, &quick), &receivers, &mut notes);
    let traffic = traffic(e, &mut notes);
    let queued_at_end = e.queued_at_end();
    notes.say(format!(
        "{queued_at_end} recipients were still queued at the log's end (counted, not lost: replay compares them with the simulation's queue)"
    ));
    let bins = (e.end / e.bin + 1).max(1);
    let duration = Span::from_millis(bins * e.bin);
    let scenario = Scenario {
        name: options.name.clone(),
        description: description(e, &notes),
        seed: 0,
        duration,
        sample_every: Span::MINUTE.min(options.bin),
        mta,
        flow_control,
        receivers,
        generated_receivers,
        imported: None,
        traffic,
    };
    scenario::compile(&scenario).map_err(|err| CalibrateError::Invalid(err.to_string()))?;
    Ok(Calibration {
        scenario,
        fallbacks: notes.fallbacks,
        queued_at_end,
    })
}

fn share(part: u64, total: u64) -> f64 {
    (part as f64 / total as f64 * 1e6).round() / 1e6
}

fn description(e: &Evidence, notes: &Notes) -> String {
    let origin = e.origin.map_or_else(String::new, |o| o.to_string());
    let mut text = format!(
        "Calibrated by mtasim calibrate from {} log outcomes; time 0 is the log's first record ({origin}). Where each value came from: ",
        e.outcomes
    );
    text.push_str(&notes.lines.join("; "));
    text.push('.');
    text
}

/// One destination's receiver: every behaviour the evidence shows.
fn receiver(
    e: &Evidence,
    d: &Dest,
    (t, quick): (&Timeline, &LogMoments),
    name: &str,
    notes: &mut Notes,
) -> ReceiverConfig {
    let (latency, connect_latency) = fit::latencies(name, d, quick, notes);
    let rate_limit = fit::rate_limit(name, e, d, t, notes);
    let rate_limited_too = rate_limit.is_none();
    let (deferral_episodes, transient_errors) =
        fit::deferrals(name, e, d, t, rate_limited_too, notes);
    if d.other_bounces > 0 {
        notes.fallback(format!(
            "{name}: {} permanent failures other than 5.1.1 (blocks, policy) are not modelled",
            d.other_bounces
        ));
    }
    ReceiverConfig {
        latency,
        connect_latency,
        connection_limit: fit::connection_limit(name, e, d, t, notes),
        rate_limit,
        greylisting: fit::greylisting(name, e, d, notes),
        outages: fit::outages(name, d, notes),
        deferral_episodes,
        transient_errors,
        unknown_user_rate: fit::unknown_user_rate(name, d, notes),
        ..ReceiverConfig::default()
    }
}

/// Most domains listed per receiver.
const MAX_DOMAINS: usize = 20;

/// The destination's domains by volume, each given to one receiver only.
fn domains(e: &Evidence, d: &Dest, name: &str, taken: &mut HashSet<String>) -> Vec<String> {
    let mut by_volume: Vec<(String, u64)> = d
        .domains
        .iter()
        .map(|(s, n)| (e.names.get(s).cloned().unwrap_or_default(), *n))
        .filter(|(domain, _)| plausible(domain))
        .collect();
    by_volume.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out: Vec<String> = by_volume
        .into_iter()
        .map(|(domain, _)| domain)
        .filter(|domain| taken.insert(domain.clone()))
        .take(MAX_DOMAINS)
        .collect();
    if out.is_empty() {
        let mut fallback = format!(
            "{}.example",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        );
        while !taken.insert(fallback.clone()) {
            fallback.insert(0, 'x');
        }
        out.push(fallback);
    }
    out
}

fn plausible(domain: &str) -> bool {
    !domain.is_empty() && !domain.contains(|c: char| c.is_whitespace() || c == '@' || c == '/')
}

/// The destinations past the top as a generated population with their pooled behaviour.
fn population(
    e: &Evidence,
    rest: &[(usize, String)],
    (total, quick): (u64, &[LogMoments]),
    notes: &mut Notes,
) -> Option<GeneratedReceivers> {
    if rest.is_empty() {
        return None;
    }
    let mut pooled = Dest::default();
    let mut pooled_quick = LogMoments::default();
    for (i, _) in rest {
        pooled_quick.merge(&quick[*i]);
        let d = &e.dests[*i];
        pooled.recipients += d.recipients;
        pooled.delivered += d.delivered;
        pooled.bounced += d.bounced;
        pooled.unknown_users += d.unknown_users;
        pooled.latency.merge(&d.latency);
        pooled.connect_latency.merge(&d.connect_latency);
        for (reply, runs) in &d.unexplained {
            pooled
                .unexplained
                .entry(*reply)
                .or_default()
                .extend_from_slice(runs);
        }
    }
    let volumes: Vec<u64> = rest.iter().map(|(i, _)| e.dests[*i].recipients).collect();
    let zipf_exponent = fit::zipf_exponent(&volumes);
    let unexplained: u64 = pooled
        .unexplained
        .values()
        .map(|r| collect::run_total(r))
        .sum();
    let transactions = pooled.delivered + pooled.bounced + unexplained;
    let name = "generated_receivers.template";
    let transient_errors = (unexplained > 0).then(|| {
        let p = (unexplained as f64 / transactions as f64 * 100_000.0).round() / 100_000.0;
        notes.say(format!(
            "{name}.transient_errors: probability {p} (pooled: {unexplained} unexplained deferrals of {transactions} transactions)"
        ));
        let reply = pooled
            .unexplained
            .iter()
            .max_by(|a, b| {
                collect::run_total(a.1)
                    .cmp(&collect::run_total(b.1))
                    .then(b.0.index().cmp(&a.0.index()))
            })
            .map(|(s, _)| *s);
        crate::receiver::TransientErrors {
            probability: p,
            reply: Some(fit::temporary_reply(e, reply, "generic-451")),
        }
    });
    let (latency, connect_latency) = fit::latencies(name, &pooled, &pooled_quick, notes);
    let template = ReceiverConfig {
        latency,
        connect_latency,
        unknown_user_rate: fit::unknown_user_rate(name, &pooled, notes),
        transient_errors: transient_errors.filter(|t| t.probability > 0.0),
        ..ReceiverConfig::default()
    };
    let share = share(pooled.recipients, total);
    notes.say(format!(
        "generated_receivers: the {} destinations past the top {}, share {share} ({} recipients), Zipf exponent {zipf_exponent} (the largest of them gets the same part of their total as in the log); only latency, unknown users and transient errors are pooled for them",
        rest.len(),
        e.dests.len() - rest.len(),
        pooled.recipients
    ));
    Some(GeneratedReceivers {
        count: (rest.len() as u32).min(crate::receiver::config::MAX_GENERATED),
        share,
        zipf_exponent,
        template,
    })
}

/// The MTA side: retries, maximum age, connections, own failures.
fn mta(e: &Evidence, conducts: &[Conduct], notes: &mut Notes) -> MtaConfig {
    let defaults = MtaConfig::default();
    let max_connections = fit::concurrency(e.busy_minutes.values().copied())
        .map(|seen| seen.max(defaults.max_connections));
    match max_connections {
        Some(n) => notes.say(format!(
            "mta.max_connections: {n}: the most sessions seen open at once over all destinations (Postfix busy time per minute), or the default when more (a log shows what the traffic needed, a lower bound of the limit)"
        )),
        None => notes.fallback(format!(
            "mta.max_connections: the default {}, because the log has no Postfix delays to count open sessions",
            defaults.max_connections
        )),
    }
    MtaConfig {
        max_connections: max_connections.unwrap_or(defaults.max_connections).max(1),
        internal_errors: fit::internal_errors(e, notes),
        retry: fit::retry(e, conducts, notes),
        ..defaults
    }
}

/// Flow control: the policy that explains what the sender did ([`sender::policy`]), and
/// greylisting not counted as an error when any receiver greylists, as MTAs usually do.
fn flow_control(
    e: &Evidence,
    (timelines, conducts, quick): (&[Timeline], &[Conduct], &[LogMoments]),
    receivers: &[ReceiverConfig],
    notes: &mut Notes,
) -> FlowControlConfig {
    let seen: Vec<Seen> = timelines
        .iter()
        .zip(conducts)
        .enumerate()
        .map(|(i, (t, conduct))| Seen {
            conduct,
            pace: &t.pace,
            session_s: fit::session_seconds(&e.dests[i], &quick[i]),
        })
        .collect();
    let names: Vec<String> = e
        .dests
        .iter()
        .map(|d| e.names.get(&d.name).cloned().unwrap_or_default())
        .collect();
    let mut config = policy::learn(e, &seen, &names, notes).config;
    if receivers.iter().any(|r| r.greylisting.is_some()) {
        config.rules.push(RuleConfig {
            pattern: "[Gg]reylist".into(),
            action: Action::Ignore,
            trigger: Trigger::default(),
            duration: Span::HOUR,
            set: None,
        });
        notes.say(
            "flow_control.rules: greylisting replies are not counted as errors, as MTAs usually do"
                .into(),
        );
    }
    config
}

/// The arrivals per bin as waves, equal neighbouring bins merged.
fn traffic(e: &Evidence, notes: &mut Notes) -> Vec<TrafficWave> {
    let mut waves: Vec<TrafficWave> = Vec::new();
    for (i, &n) in e.traffic.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let start = Span::from_millis(i as u64 * e.bin);
        let over = Span::from_millis(e.bin);
        match waves.last_mut() {
            Some(w)
                if w.start + w.over == start && w.messages == n * (w.over.as_millis() / e.bin) =>
            {
                w.messages += n;
                w.over += over;
            }
            _ => waves.push(TrafficWave {
                start,
                messages: n,
                over,
            }),
        }
    }
    let s = e.sources;
    let total: u64 = e.traffic.iter().sum();
    notes.say(format!(
        "traffic: {total} recipients in {} waves at {} resolution (arrival times from {} arrival records, {} ages, {} first attempts)",
        waves.len(),
        Span::from_millis(e.bin),
        s.records,
        s.ages,
        s.first_attempts
    ));
    if s.before_start > 0 {
        notes.fallback(format!(
            "traffic: {} recipients arrived before the log's first record and are counted at time 0",
            s.before_start
        ));
    }
    waves
}
