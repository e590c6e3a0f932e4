//! `<domain>` blocks to a scenario: `<domain *>` as the base, one override per domain, keyed
//! by receiver when `queue-to` rolls domains up.

use std::collections::BTreeMap;

use serde_json::Value;

use super::destination::{Settings, count, destination, interval};
use super::params::READ;
use super::params::not_modelled;
use super::params::{BOUNCE_AFTER, CONNECT_TIMEOUT, GREETING_TIMEOUT, MTA_WIDE, RETRY_AFTER};
use super::read::read_file;
use super::{Config, DomainBlock};
use crate::MtaKind;
use crate::flow_control::config::{FlowControlConfig, KeyKind};
use crate::mta::config::{Jitter, MtaConfig, RetryConfig, Schedule};
use crate::mta_config::diag::{ConfigError, Place, Report, Text};
use crate::mta_config::dialect::Dialect;
use crate::mta_config::mapping::{self, Destinations, json};
use crate::mta_config::units::Millis;
use crate::scenario::Scenario;
use crate::units::Span;

/// PowerMTA's config files.
pub(in crate::mta_config) struct Pmta;

impl Dialect for Pmta {
    type Config = Config;
    const KIND: MtaKind = MtaKind::Pmta;

    fn read(text: &Text, config: &mut Config, report: &mut Report) -> Result<(), ConfigError> {
        read_file(text, config, report)
    }

    /// The domains of `<domain>` blocks (through their macros), not `*` or wildcards.
    fn domains(config: &Config) -> Result<Vec<(String, Place)>, ConfigError> {
        let mut out = Vec::new();
        for block in &config.domains {
            for name in block_domains(block, config)? {
                if !name.contains('*') {
                    out.push((name, block.place.clone()));
                }
            }
        }
        Ok(out)
    }

    fn build(
        config: &Config,
        into: &Scenario,
        report: &mut Report,
    ) -> Result<(FlowControlConfig, MtaConfig), ConfigError> {
        build(config, into, report)
    }
}

/// Which names a block's `<domain NAME>` stands for.
fn block_domains(block: &DomainBlock, config: &Config) -> Result<Vec<String>, ConfigError> {
    match block.name.strip_prefix('$') {
        Some(m) => config
            .macros
            .get(m)
            .map(|(d, _)| d.clone())
            .ok_or_else(|| ConfigError::Value {
                place: block.place.clone(),
                message: format!("<domain ${m}>: no domain-macro {m} is defined"),
            }),
        None => Ok(vec![block.name.to_ascii_lowercase()]),
    }
}

fn build(
    config: &Config,
    into: &Scenario,
    report: &mut Report,
) -> Result<(FlowControlConfig, MtaConfig), ConfigError> {
    let mut star = Settings::default();
    let mut own: BTreeMap<String, Settings> = BTreeMap::new();
    let mut rollups: Vec<(String, String, Place)> = Vec::new();
    for block in &config.domains {
        let names = block_domains(block, config)?;
        if let Some(q) = block.directives.iter().find(|d| d.name == "queue-to") {
            for n in &names {
                rollups.push((n.clone(), q.value.to_ascii_lowercase(), q.place.clone()));
            }
            for d in block.directives.iter().filter(|d| d.name != "queue-to") {
                report.skip(
                    d.place.clone(),
                    &d.name,
                    format!(
                        "the queue is {}'s: a queue-to block's other settings do not apply",
                        q.value
                    ),
                );
            }
            report.took();
            continue;
        }
        for name in names {
            let target = match name.as_str() {
                "*" => &mut star,
                wild if wild.contains('*') => {
                    report.skip(
                        block.place.clone(),
                        &format!("<domain {wild}>"),
                        "mtasim reads the catch-all <domain *> and whole domain names only",
                    );
                    continue;
                }
                domain => own.entry(domain.to_string()).or_default(),
            };
            for d in &block.directives {
                target.values.insert(d.name.clone(), d.clone());
            }
        }
    }
    let key = if rollups.is_empty() {
        KeyKind::Domain
    } else {
        KeyKind::Receiver
    };
    check_directives(&star, true, report);
    let mut base = destination(&star, config, report)?;
    base.key = key;
    let mta = pmta_mta(&star, into)?;
    let destinations = Destinations::new(into);
    check_rollups(&rollups, &destinations, key, report);
    for (domain, settings) in &own {
        check_directives(settings, false, report);
        let Some(dest) = destinations.key_of(key, domain) else {
            let place = settings
                .values
                .values()
                .next()
                .map(|d| d.place.clone())
                .unwrap_or_default();
            report.no_receiver(place, &format!("<domain {domain}>"));
            continue;
        };
        if rollups.iter().any(|(from, ..)| from == domain) {
            continue;
        }
        let mut merged = star.clone();
        merged.values.extend(settings.values.clone());
        let effective = destination(&merged, config, report)?;
        let patch = destination_patch(&base, &effective, settings);
        if !patch.is_null() {
            base.overrides.insert(dest, patch);
        }
    }
    Ok((base, mta))
}

/// The override of a domain block: the fields its directives set, and the rules when its
/// pattern list or backoff timer makes them differ.
fn destination_patch(
    base: &FlowControlConfig,
    own: &FlowControlConfig,
    settings: &Settings,
) -> Value {
    let mut patch = Value::Null;
    let has = |name: &str| settings.get(name).is_some();
    if has("max-smtp-out") {
        mapping::set(
            &mut patch,
            "concurrency.initial",
            json(own.concurrency.initial),
        );
        mapping::set(&mut patch, "concurrency.max", json(own.concurrency.max));
    }
    if has("max-msg-rate") {
        mapping::set(&mut patch, "max_rate", json(own.max_rate));
    }
    let b = &own.backoff;
    for (directive, path, value) in [
        (
            "backoff-max-smtp-out",
            "backoff.concurrency",
            json(b.concurrency),
        ),
        ("backoff-max-msg-rate", "backoff.max_rate", json(b.max_rate)),
        (
            "backoff-retry-after",
            "backoff.retry_after",
            json(b.retry_after),
        ),
        (
            "backoff-to-normal-after",
            "backoff.to_normal_after",
            json(b.to_normal_after),
        ),
        (
            "backoff-to-normal-after-delivery",
            "backoff.to_normal_after_delivery",
            json(b.to_normal_after_delivery),
        ),
    ] {
        if has(directive) {
            mapping::set(&mut patch, path, value);
        }
    }
    if has("smtp-pattern-list") || own.rules != base.rules {
        mapping::set(&mut patch, "rules", json(&own.rules));
    }
    patch
}

/// Warnings for directives mtasim does not read, or reads only in `<domain *>`.
fn check_directives(settings: &Settings, star: bool, report: &mut Report) {
    for d in settings.values.values() {
        let name = d.name.as_str();
        let why = if READ.contains(&name) || star && MTA_WIDE.contains(&name) {
            report.took();
            continue;
        } else if MTA_WIDE.contains(&name) {
            "mtasim sets this for the whole MTA (the `mta` section); only <domain *>'s value is imported"
        } else {
            not_modelled(name)
        };
        report.skip(d.place.clone(), name, why);
    }
}

fn check_rollups(
    rollups: &[(String, String, Place)],
    destinations: &Destinations,
    key: KeyKind,
    report: &mut Report,
) {
    if key != KeyKind::Receiver {
        return;
    }
    for (from, to, place) in rollups {
        match (destinations.receiver_of(from), destinations.receiver_of(to)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => report.approximate(
                place.clone(),
                &format!("queue-to {to} ({from})"),
                format!(
                    "mtasim keys flow control by receiver: {from} is in {}, {to} in {}",
                    a.unwrap_or("no receiver"),
                    b.unwrap_or("no receiver")
                ),
            ),
        }
    }
    for (receiver, domains) in destinations.receivers() {
        let queue = |d: &String| {
            rollups
                .iter()
                .find(|(f, ..)| f == d)
                .map_or(d.clone(), |(_, t, _)| t.clone())
        };
        let first = domains.first().map(queue);
        if domains.iter().any(|d| Some(queue(d)) != first) {
            let place = rollups
                .first()
                .map(|(_, _, p)| p.clone())
                .unwrap_or_default();
            report.approximate(place, &format!("receiver {receiver}"), format!(
                "PowerMTA keeps separate queues for {} (no queue-to rolls them together); mtasim shares one state per receiver",
                domains.join(", ")
            ));
        }
    }
}

fn pmta_mta(star: &Settings, into: &Scenario) -> Result<MtaConfig, ConfigError> {
    let time = |name: &str, default: Millis| -> Result<Millis, ConfigError> {
        star.get(name)
            .map(|d| interval(d, &d.value))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let intervals = match star.get("retry-after") {
        None => vec![Span::from_millis(RETRY_AFTER)],
        Some(d) => d
            .value
            .split(',')
            .map(|v| interval(d, v.trim()).map(|ms| Span::from_millis(ms.max(1))))
            .collect::<Result<_, _>>()?,
    };
    let per_connection = star
        .get("max-msg-per-connection")
        .map(count)
        .transpose()?
        .unwrap_or(0);
    let first = intervals[0];
    let longest = intervals.iter().copied().max().unwrap_or(first);
    let positive = |name: &str, ms: Millis| -> Result<Span, ConfigError> {
        match ms {
            0 => Err(ConfigError::Value {
                place: star.get(name).map(|d| d.place.clone()).unwrap_or_default(),
                message: format!("{name} 0: must be longer than 0"),
            }),
            ms => Ok(Span::from_millis(ms)),
        }
    };
    Ok(MtaConfig {
        max_deliveries_per_connection: if per_connection == 0 {
            u32::MAX
        } else {
            per_connection
        },
        connect_timeout: positive("connect-timeout", time("connect-timeout", CONNECT_TIMEOUT)?)?,
        greeting_timeout: positive(
            "smtp-greeting-timeout",
            time("smtp-greeting-timeout", GREETING_TIMEOUT)?,
        )?,
        retry: RetryConfig {
            schedule: Schedule::Intervals,
            initial: first,
            factor: 2.0,
            max: longest,
            intervals,
            jitter: Jitter::None,
            max_age: positive("bounce-after", time("bounce-after", BOUNCE_AFTER)?)?,
            ..RetryConfig::default()
        },
        ..into.mta.clone()
    })
}
