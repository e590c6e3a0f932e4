//! A scenario as Postfix main.cf, master.cf and a transport table: the base transport's
//! parameters and one dedicated transport per override; what Postfix cannot say is listed
//! in the header.

use crate::MtaKind;
use crate::flow_control::Feedback;
use crate::flow_control::config::{FlowControlConfig, KeyKind};
use crate::mta::config::{OnSuspension, Schedule};
use crate::mta_config::emit::{Doc, Gaps, assemble, header};
use crate::mta_config::mapping::{Destinations, leaves, neutral_backoff};
use crate::mta_config::units::SECOND;
use crate::mta_config::units::postfix_time_text;
use crate::mta_config::{Exported, Provenance};
use crate::scenario::Scenario;
use crate::units::Rate;

/// Postfix's own services, which an exported transport must not be named after.
const RESERVED: &[&str] = &[
    "smtp",
    "lmtp",
    "relay",
    "local",
    "virtual",
    "error",
    "retry",
    "discard",
    "bounce",
    "defer",
    "trace",
    "verify",
    "flush",
    "proxymap",
    "proxywrite",
    "qmgr",
    "pickup",
    "cleanup",
    "rewrite",
    "showq",
    "anvil",
    "scache",
    "tlsmgr",
    "postlog",
    "pipe",
    "smtpd",
];

pub fn export(scenario: &Scenario, provenance: &Provenance) -> Exported {
    let fc = &scenario.flow_control;
    let p = provenance;
    let mut gaps = Gaps::default();
    base_gaps(scenario, &mut gaps);
    let mut main = Doc::default();
    write_transport(&mut main, p, "flow_control", fc, &mut gaps);
    let mta = &scenario.mta;
    let r = &mta.retry;
    let mut times = vec![(
        "flow_control.concurrency.dead_backoff",
        "minimal_backoff_time",
        fc.concurrency.dead_backoff.as_millis(),
    )];
    if r.schedule == Schedule::Postfix {
        times.push(("mta.retry.max", "maximal_backoff_time", r.max.as_millis()));
    }
    if let Some(queue_run) = r.queue_run_delay {
        times.push((
            "mta.retry.queue_run_delay",
            "queue_run_delay",
            queue_run.as_millis(),
        ));
    }
    times.extend([
        (
            "mta.retry.max_age",
            "maximal_queue_lifetime",
            r.max_age.as_millis(),
        ),
        (
            "mta.connect_timeout",
            "smtp_connect_timeout",
            mta.connect_timeout.as_millis(),
        ),
        (
            "mta.greeting_timeout",
            "smtp_helo_timeout",
            mta.greeting_timeout.as_millis(),
        ),
        (
            "mta.session_idle_timeout",
            "smtp_connection_cache_time_limit",
            mta.session_idle_timeout.as_millis(),
        ),
    ]);
    for (path, name, ms) in times {
        match postfix_time_text(ms) {
            Some(text) => main.setting(p, path, "", format!("{name} = {text}")),
            None => gaps.add(path, "Postfix time values are whole seconds"),
        }
    }
    let reuse = match mta.max_deliveries_per_connection {
        u32::MAX => 0,
        n => n,
    };
    main.setting(
        p,
        "mta.max_deliveries_per_connection",
        "",
        format!("smtp_connection_reuse_count_limit = {reuse}"),
    );
    let mut master = Doc::default();
    master.setting(
        p,
        "mta.max_connections",
        "",
        format!(
            "smtp      unix  -       -       n       -       {:<7} smtp",
            mta.max_connections
        ),
    );
    let mut table = Doc::default();
    let groups = transport_groups(scenario, &mut gaps);
    if !groups.is_empty() {
        main.blank();
        main.comment("Dedicated transports for the destinations with their own settings (master.cf, transport below).");
        main.line("transport_maps = hash:/etc/postfix/transport");
    }
    for (name, key, domains) in &groups {
        let Ok(effective) = fc.effective(key) else {
            continue;
        };
        main.blank();
        master.line(format!(
            "{name:<9} unix  -       -       n       -       -       smtp"
        ));
        if domains.len() > 1 {
            main.comment(format!("transport {name}: {}", domains.join(", ")));
        }
        let at = format!("flow_control.overrides.{key}");
        let patch = &fc.overrides[key];
        let touched: Vec<String> = leaves(patch).into_iter().map(|(l, _)| l).collect();
        write_overrides(&mut main, p, name, &at, &touched, fc, &effective, &mut gaps);
        for domain in domains {
            let from = match fc.key {
                KeyKind::Domain => format!("flow_control.overrides.{domain}"),
                KeyKind::Receiver => at.clone(),
            };
            table.setting(p, &from, "", format!("{domain:<23} {name}:"));
        }
    }
    let unsupported = gaps.0.len();
    assemble(
        header(
            MtaKind::Postfix,
            provenance,
            &gaps,
            scenario.imported.as_ref(),
        ),
        vec![
            ("main.cf", main.text()),
            ("master.cf", master.text()),
            ("transport", table.text()),
        ],
        &[],
        unsupported,
    )
}

/// The base transport's parameters (`default_*`, `initial_destination_concurrency`).
fn write_transport(
    doc: &mut Doc,
    p: &Provenance,
    at: &str,
    fc: &FlowControlConfig,
    gaps: &mut Gaps,
) {
    let c = &fc.concurrency;
    doc.setting(
        p,
        &format!("{at}.concurrency.initial"),
        "",
        format!("initial_destination_concurrency = {}", c.initial),
    );
    doc.setting(
        p,
        &format!("{at}.concurrency.max"),
        "",
        format!("default_destination_concurrency_limit = {}", c.max),
    );
    for (path, name, f) in [
        (
            "concurrency.positive_feedback",
            "default_destination_concurrency_positive_feedback",
            c.positive_feedback,
        ),
        (
            "concurrency.negative_feedback",
            "default_destination_concurrency_negative_feedback",
            c.negative_feedback,
        ),
    ] {
        match feedback_text(f) {
            Some(text) => doc.setting(p, &format!("{at}.{path}"), "", format!("{name} = {text}")),
            None => gaps.add(
                format!("{at}.{path}"),
                "Postfix has 1/sqrt(concurrency) compiled out",
            ),
        }
    }
    doc.setting(
        p,
        &format!("{at}.concurrency.failed_cohort_limit"),
        "",
        format!(
            "default_destination_concurrency_failed_cohort_limit = {}",
            c.failed_cohort_limit
        ),
    );
    if let Some(rate) = fc.max_rate {
        match rate_delay(rate, c.initial, c.max) {
            Ok(text) => doc.setting(
                p,
                &format!("{at}.max_rate"),
                "",
                format!("default_destination_rate_delay = {text}"),
            ),
            Err(why) => gaps.add(format!("{at}.max_rate"), why),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_overrides(
    doc: &mut Doc,
    p: &Provenance,
    t: &str,
    at: &str,
    touched: &[String],
    fc: &FlowControlConfig,
    effective: &FlowControlConfig,
    gaps: &mut Gaps,
) {
    let c = &effective.concurrency;
    let rate_touched = touched.iter().any(|l| l == "max_rate");
    for leaf in touched {
        let path = format!("{at}.{leaf}");
        let line = match leaf.as_str() {
            "concurrency.initial" if !(rate_touched && effective.max_rate.is_some()) => Some(
                format!("{t}_initial_destination_concurrency = {}", c.initial),
            ),
            "concurrency.max" if !(rate_touched && effective.max_rate.is_some()) => {
                Some(format!("{t}_destination_concurrency_limit = {}", c.max))
            }
            "concurrency.initial" | "concurrency.max" => None,
            "concurrency.positive_feedback" => feedback_text(c.positive_feedback)
                .map(|f| format!("{t}_destination_concurrency_positive_feedback = {f}")),
            "concurrency.negative_feedback" => feedback_text(c.negative_feedback)
                .map(|f| format!("{t}_destination_concurrency_negative_feedback = {f}")),
            "concurrency.failed_cohort_limit" => Some(format!(
                "{t}_destination_concurrency_failed_cohort_limit = {}",
                c.failed_cohort_limit
            )),
            "max_rate" => match effective.max_rate {
                None if fc.max_rate.is_some() => Some(format!("{t}_destination_rate_delay = 0s")),
                None => None,
                Some(rate) => match rate_delay(rate, c.initial, c.max) {
                    Ok(text) => Some(format!("{t}_destination_rate_delay = {text}")),
                    Err(why) => {
                        gaps.add(&path, why);
                        continue;
                    }
                },
            },
            "concurrency.dead_backoff" => {
                gaps.add(
                    &path,
                    "Postfix's minimal_backoff_time is the same for every destination",
                );
                continue;
            }
            _ => {
                gaps.add(&path, override_gap(leaf));
                continue;
            }
        };
        match line {
            Some(line) => doc.setting(p, &path, "", line),
            None if leaf.contains("feedback") => {
                gaps.add(&path, "Postfix has 1/sqrt(concurrency) compiled out")
            }
            None => {}
        }
    }
}

fn override_gap(leaf: &str) -> &'static str {
    match leaf.split('.').next() {
        Some("errors") => "Postfix has no error-count threshold",
        Some("backoff") => "Postfix has no backoff mode",
        Some("suspend") => "Postfix does not escalate to suspensions",
        Some("rules") => "Postfix has no reply rules",
        _ => "no Postfix equivalent",
    }
}

/// A mtasim rate as `_destination_rate_delay`, which spaces deliveries one at a time.
fn rate_delay(rate: Rate, initial: u32, max: u32) -> Result<String, String> {
    if max != 1 || initial != 1 {
        return Err(format!(
            "Postfix's rate delay forces concurrency 1, but the concurrency here is {initial}..{max}"
        ));
    }
    let period = rate.period.as_millis();
    if !period.is_multiple_of(rate.count) {
        return Err(format!(
            "{rate} is not one delivery per whole number of seconds"
        ));
    }
    postfix_time_text(period / rate.count)
        .filter(|_| period / rate.count >= SECOND)
        .ok_or_else(|| format!("{rate} is not one delivery per whole number of seconds"))
}

fn feedback_text(f: Feedback) -> Option<String> {
    match f {
        Feedback::InverseConcurrency => Some("1/concurrency".into()),
        Feedback::InverseSqrtConcurrency => None,
        Feedback::Constant(c) => {
            let k = (1.0 / c).round();
            Some(if k > 1.0 && 1.0 / k == c {
                format!("1/{k}")
            } else {
                format!("{c}")
            })
        }
    }
}

/// Override keys as transports: (transport name, override key, its domains). Domain
/// overrides with the same settings in one receiver share a transport named after it.
fn transport_groups(scenario: &Scenario, gaps: &mut Gaps) -> Vec<(String, String, Vec<String>)> {
    let fc = &scenario.flow_control;
    let destinations = Destinations::new(scenario);
    let mut groups: Vec<(String, String, Vec<String>)> = Vec::new();
    for (key, patch) in &fc.overrides {
        let (stem, domains) = match fc.key {
            KeyKind::Domain => {
                let receiver = destinations.receiver_of(key);
                if let Some(group) = groups.iter_mut().find(|(name, first, _)| {
                    receiver.is_some_and(|r| name.starts_with(&service_name(r)))
                        && destinations.receiver_of(first) == receiver
                        && fc.overrides[first] == *patch
                }) {
                    group.2.push(key.clone());
                    continue;
                }
                (receiver.unwrap_or(key).to_string(), vec![key.clone()])
            }
            KeyKind::Receiver => match destinations.domains_of(key) {
                Some(d) => (key.clone(), d.to_vec()),
                None => {
                    gaps.no_receiver(&format!("flow_control.overrides.{key}"));
                    continue;
                }
            },
        };
        let stem = service_name(&stem);
        let mut name = stem.clone();
        let mut n = 2;
        while groups.iter().any(|(g, ..)| *g == name) {
            name = format!("{stem}_{n}");
            n += 1;
        }
        groups.push((name, key.clone(), domains));
    }
    groups
}

/// A master.cf service name for a receiver or domain: lower case, `_` for anything else,
/// never one of Postfix's own services.
fn service_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if RESERVED.contains(&name.as_str()) {
        name + "_out"
    } else {
        name
    }
}

fn base_gaps(scenario: &Scenario, gaps: &mut Gaps) {
    let fc = &scenario.flow_control;
    if fc.key == KeyKind::Receiver {
        gaps.add("flow_control.key", "Postfix keeps one queue per domain: a receiver's domains each get its limits, where mtasim shares them (the settings are written per domain)");
    }
    gaps.error_threshold(MtaKind::Postfix, fc, "");
    if fc.backoff != neutral_backoff(fc) {
        gaps.add("flow_control.backoff", "Postfix has no backoff mode: a dead destination comes back at the in-flight count or the initial concurrency");
    }
    if fc.suspend.after_backoffs != 0 {
        gaps.add(
            "flow_control.suspend",
            "Postfix does not escalate to suspensions",
        );
    }
    if !fc.rules.is_empty() {
        gaps.add(
            "flow_control.rules",
            format!("Postfix has no reply rules ({} rules)", fc.rules.len()),
        );
    }
    let r = &scenario.mta.retry;
    if r.schedule != Schedule::Postfix {
        gaps.add("mta.retry.schedule", format!("Postfix's retry delay is the message's age clamped to minimal/maximal_backoff_time (schedule {:?}, {} .. {})", r.schedule, r.initial, r.max));
    }
    if r.initial != fc.concurrency.dead_backoff {
        gaps.add("mta.retry.initial", format!("Postfix's minimal_backoff_time is both the retry minimum and the dead-destination backoff; written as the backoff ({}), not {}", fc.concurrency.dead_backoff, r.initial));
    }
    if scenario.mta.on_suspension != OnSuspension::Defer {
        gaps.add("mta.on_suspension", "Postfix defers a dead destination's queued mail to each message's next retry (\"delivery temporarily suspended\"); the scenario holds it until the suspension ends");
    }
    if r.queue_run_delay.is_none() {
        gaps.add("mta.retry.queue_run_delay", "Postfix retries deferred mail only at its queue runs, every queue_run_delay (300s unless set); the scenario retries each message when it is due");
    }
    gaps.no_jitter(MtaKind::Postfix, r.jitter);
}
