//! Merged shaping tables to a scenario: default, then provider, then domain tables per
//! destination, as KumoMTA resolves them; the MTA-wide settings from the default table and
//! `[queue.default]`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::params::not_modelled;
use super::params::{
    BANNER_TIMEOUT, CONNECT_TIMEOUT, CONNECTION_LIMIT, IDLE_TIMEOUT, MAX_AGE,
    MAX_DELIVERIES_PER_CONNECTION, QUEUE_KEYS, RETRY_INTERVAL,
};
use super::read::{duration, limit, read_queue_file, read_shaping_file, throttle};
use super::rules::read_rules;
use super::toml_tree::{self, Kind, Node};
use super::{Entry, Provider, Shaping};
use crate::MtaKind;
use crate::flow_control::config::{FlowControlConfig, KeyKind, RuleConfig};
use crate::mta::config::{Jitter, MtaConfig, RetryConfig, Schedule};
use crate::mta_config::diag::{ConfigError, Place, Report, Text};
use crate::mta_config::dialect::Dialect;
use crate::mta_config::mapping::{self, Destinations, bare, json, neutral_backoff, on_demand};
use crate::mta_config::units::Millis;
use crate::scenario::Scenario;
use crate::units::{Rate, Span};

/// KumoMTA's traffic shaping and queue helper files.
pub(in crate::mta_config) struct KumoMta;

impl Dialect for KumoMta {
    type Config = Shaping;
    const KIND: MtaKind = MtaKind::KumoMta;

    /// A file with a top-level queue helper key is a `queue.toml`; any other is shaping.
    fn read(text: &Text, shaping: &mut Shaping, report: &mut Report) -> Result<(), ConfigError> {
        let doc = toml_tree::parse(text)?;
        if doc.iter().any(|f| QUEUE_KEYS.contains(&f.name.as_str())) {
            read_queue_file(&doc, shaping, report)
        } else {
            read_shaping_file(doc, shaping, report)
        }
    }

    /// The domain tables' domains, and the mail domains of the known providers a provider
    /// table matches (`{MXSuffix=".orange.fr"}`: orange.fr, wanadoo.fr).
    fn domains(shaping: &Shaping) -> Result<Vec<(String, Place)>, ConfigError> {
        let tables = shaping
            .domains
            .iter()
            .map(|(domain, entry)| (domain.clone(), entry.place.clone()));
        let providers = shaping.providers.iter().flat_map(|(_, provider)| {
            crate::providers::BUILTIN
                .iter()
                .flat_map(|known| known.domains.iter())
                .filter(|(domain, _)| provider_matches(provider, &[domain.to_string()]))
                .map(|(domain, _)| (domain.to_string(), provider.entry.place.clone()))
        });
        Ok(tables.chain(providers).collect())
    }

    fn build(
        shaping: &Shaping,
        into: &Scenario,
        report: &mut Report,
    ) -> Result<(FlowControlConfig, MtaConfig), ConfigError> {
        build(shaping, into, report)
    }
}

/// What one table (default, provider or domain) says, in mtasim's terms.
#[derive(Debug, Clone, Copy, Default)]
struct Limits {
    connection_limit: Option<u32>,
    max_rate: Option<Rate>,
}

/// Reads a table's parameters: the limits a destination can have, and (for `default`
/// only) the MTA-wide ones.
fn read_params(
    entry: &Entry,
    table: &str,
    mta: Option<&mut MtaConfig>,
    report: &mut Report,
) -> Result<Limits, ConfigError> {
    let mut limits = Limits::default();
    let mut mta = mta;
    for f in &entry.params {
        let what = format!("{table}.{}", f.name);
        match f.name.as_str() {
            "connection_limit" => limits.connection_limit = Some(limit(&f.node, &what)?),
            "max_message_rate" => {
                let t = throttle(&f.node, &what)?;
                if t.max_burst.is_some() {
                    report.approximate(
                        f.place.clone(),
                        &what,
                        "mtasim spaces deliveries evenly (a burst of 1): max_burst is not modelled",
                    );
                }
                limits.max_rate = Some(t.rate);
            }
            "max_deliveries_per_connection"
            | "idle_timeout"
            | "connect_timeout"
            | "banner_timeout" => match mta.as_deref_mut() {
                Some(mta) => mta_param(mta, &f.name, &f.node, &what)?,
                None => {
                    report.skip(
                        f.place.clone(),
                        &what,
                        "mtasim sets this for the whole MTA (the `mta` section), not per destination; only the default table's value is imported",
                    );
                    continue;
                }
            },
            name => {
                report.skip(f.place.clone(), &what, not_modelled(name));
                continue;
            }
        }
        report.took();
    }
    Ok(limits)
}

fn mta_param(mta: &mut MtaConfig, name: &str, node: &Node, what: &str) -> Result<(), ConfigError> {
    match name {
        "max_deliveries_per_connection" => {
            let n = match node.value {
                Kind::Int(n) => u32::try_from(n).ok().filter(|&n| n > 0),
                _ => None,
            };
            mta.max_deliveries_per_connection =
                n.ok_or_else(|| node.error(format!("{what}: expected a positive integer")))?;
        }
        "idle_timeout" => mta.session_idle_timeout = Span::from_millis(duration(node, what)?),
        "connect_timeout" => mta.connect_timeout = Span::from_millis(positive(node, what)?),
        _ => mta.greeting_timeout = Span::from_millis(positive(node, what)?),
    }
    Ok(())
}

fn positive(node: &Node, what: &str) -> Result<Millis, ConfigError> {
    match duration(node, what)? {
        0 => Err(node.error(format!("{what}: must be longer than 0"))),
        ms => Ok(ms),
    }
}
/// Does provider `p` match one of `domains` (by suffix, or by the MX host the provider
/// table gives a known mail domain)?
fn provider_matches(p: &Provider, domains: &[String]) -> bool {
    domains.iter().any(|d| {
        let d = d.to_ascii_lowercase();
        let mx = crate::providers::mx_of_domain(&d);
        p.matches
            .iter()
            .any(|(kind, value, _)| match kind.as_str() {
                "DomainSuffix" => d.ends_with(value.as_str()),
                "MXSuffix" => mx.is_some_and(|mx| mx.ends_with(value.as_str())),
                _ => mx == Some(value.as_str()),
            })
    })
}

/// Builds the scenario from the merged tables.
fn build(
    shaping: &Shaping,
    into: &Scenario,
    report: &mut Report,
) -> Result<(FlowControlConfig, MtaConfig), ConfigError> {
    let key = if !shaping.domains.is_empty() && shaping.domains.iter().all(|(_, e)| !e.mx_rollup) {
        KeyKind::Domain
    } else {
        KeyKind::Receiver
    };
    let mut mta = kumo_mta(into, shaping);
    let base = read_params(&shaping.default, "default", Some(&mut mta), report)?;
    let mut config = bare(
        key,
        on_demand(base.connection_limit.unwrap_or(CONNECTION_LIMIT)),
    );
    config.max_rate = base.max_rate;
    config.rules = read_rules(&shaping.default.automation, "default", key, report)?;
    let destinations = Destinations::new(into);
    let mut contributions: BTreeMap<String, Vec<Contribution>> = BTreeMap::new();
    gather_providers(shaping, &destinations, key, &mut contributions, report)?;
    for (domain, entry) in &shaping.domains {
        let place = entry.place.clone();
        if key == KeyKind::Receiver && !entry.mx_rollup {
            report.approximate(
                place.clone(),
                domain,
                "mx_rollup = false: mtasim keys every destination by receiver here (other domain tables roll up), so these settings apply to the domain's whole receiver",
            );
        }
        let Some(dest) = destinations.key_of(key, domain) else {
            report.no_receiver(place, domain);
            continue;
        };
        let limits = read_params(entry, domain, None, report)?;
        let rules = read_rules(&entry.automation, domain, key, report)?;
        contributions.entry(dest).or_default().push(Contribution {
            limits,
            rules,
            provider_limit: None,
            provider_rate: None,
            provider_table: None,
        });
    }
    for (dest, parts) in contributions {
        let patch = override_patch(&config, &parts);
        note_provider_limit(&dest, &patch, &parts, report);
        if !patch.is_null() {
            config.overrides.insert(dest, patch);
        }
    }
    config.backoff = neutral_backoff(&config);
    Ok((config, mta))
}

/// One table's say about one destination.
struct Contribution {
    limits: Limits,
    rules: Vec<RuleConfig>,
    provider_limit: Option<u32>,
    provider_rate: Option<Rate>,
    /// The provider table that set `provider_limit`, as KumoMTA would read it.
    provider_table: Option<String>,
}

/// A provider's `match` and `provider_connection_limit` as a shaping table, for an export
/// that keeps the limit provider-wide; None without such a limit.
fn provider_table(name: &str, provider: &Provider) -> Option<String> {
    let (limit, _) = provider.connection_limit.as_ref()?;
    let matches: Vec<String> = provider
        .matches
        .iter()
        .map(|(kind, value, _)| format!("{{{kind}={}}}", toml_tree::string(value)))
        .collect();
    Some(format!(
        "[provider.{}]\nmatch = [{}]\nprovider_connection_limit = {limit}",
        toml_tree::string(name),
        matches.join(", ")
    ))
}

fn gather_providers(
    shaping: &Shaping,
    destinations: &Destinations,
    key: KeyKind,
    contributions: &mut BTreeMap<String, Vec<Contribution>>,
    report: &mut Report,
) -> Result<(), ConfigError> {
    for (name, provider) in &shaping.providers {
        let table = format!("provider.{name}");
        let place = provider.entry.place.clone();
        let targets: Vec<String> = match key {
            KeyKind::Receiver => destinations
                .receivers()
                .filter(|(_, domains)| provider_matches(provider, domains))
                .map(|(r, _)| r.to_string())
                .collect(),
            KeyKind::Domain => destinations
                .receivers()
                .flat_map(|(_, domains)| domains.iter())
                .filter(|d| provider_matches(provider, std::slice::from_ref(*d)))
                .map(|d| d.to_ascii_lowercase())
                .collect(),
        };
        if targets.is_empty() {
            report.skip(
                place,
                &table,
                "matches no receiver of the scenario (DomainSuffix is checked against the receivers' domains, MXSuffix and HostName against mtasim's table of well-known providers' MX hosts, docs/MTA-CONFIGS.md)",
            );
            continue;
        }
        for (limit, what) in [
            (
                provider.connection_limit.as_ref().map(|(_, p)| p),
                "provider_connection_limit",
            ),
            (
                provider.message_rate.as_ref().map(|(_, p)| p),
                "provider_max_message_rate",
            ),
        ] {
            if let Some(at) = limit {
                report.took();
                if targets.len() > 1 {
                    report.approximate(
                        at.clone(),
                        &format!("{table}.{what}"),
                        format!(
                            "KumoMTA shares it among everything the provider matches; mtasim gives each of {} its own",
                            targets.join(", ")
                        ),
                    );
                }
            }
        }
        let limits = read_params(&provider.entry, &table, None, report)?;
        let rules = read_rules(&provider.entry.automation, &table, key, report)?;
        for target in targets {
            contributions.entry(target).or_default().push(Contribution {
                limits,
                rules: rules.clone(),
                provider_limit: provider.connection_limit.as_ref().map(|(n, _)| *n),
                provider_rate: provider.message_rate.as_ref().map(|(r, _)| *r),
                provider_table: provider_table(name, provider),
            });
        }
    }
    Ok(())
}

/// The override for one destination: later tables win, provider-wide limits cap, and the
/// rules are the default's followed by every matching table's, as KumoMTA collects them.
fn override_patch(base: &FlowControlConfig, parts: &[Contribution]) -> Value {
    let mut patch = Value::Null;
    let mut connection_limit = None;
    let mut rate = None;
    let mut provider_limit = None;
    let mut provider_rate = None;
    let mut rules = Vec::new();
    for part in parts {
        connection_limit = part.limits.connection_limit.or(connection_limit);
        rate = part.limits.max_rate.or(rate);
        provider_limit = part.provider_limit.or(provider_limit);
        provider_rate = part.provider_rate.or(provider_rate);
        rules.extend(part.rules.iter().cloned());
    }
    let limit = match (connection_limit, provider_limit) {
        (Some(l), Some(p)) => Some(l.min(p)),
        (None, Some(p)) => Some(base.concurrency.max.min(p)),
        (l, None) => l,
    };
    if let Some(limit) = limit {
        mapping::set(&mut patch, "concurrency.initial", json(limit));
        mapping::set(&mut patch, "concurrency.max", json(limit));
    }
    let rate = match (rate.or(base.max_rate), provider_rate) {
        (Some(r), Some(p)) => Rate::slower(Some(r), Some(p)),
        (None, Some(p)) => Some(p),
        (_, None) => rate,
    };
    if let Some(rate) = rate {
        mapping::set(&mut patch, "max_rate", json(rate));
    }
    if !rules.is_empty() {
        let all: Vec<RuleConfig> = base.rules.iter().cloned().chain(rules).collect();
        mapping::set(&mut patch, "rules", json(all));
    }
    patch
}

/// A destination whose connection limit is its provider's (KumoMTA shares it among the
/// provider's sites; mtasim gives each its own): noted, so that an export writes the
/// provider table again rather than a per-site `connection_limit`.
fn note_provider_limit(dest: &str, patch: &Value, parts: &[Contribution], report: &mut Report) {
    let Some(limit) = patch.pointer("/concurrency/max") else {
        return;
    };
    let site = parts.iter().rev().find_map(|p| p.limits.connection_limit);
    let provider = parts
        .iter()
        .rev()
        .find_map(|p| Some((p.provider_limit?, p.provider_table.clone()?)));
    if let Some((provider_limit, table)) = provider
        && site.is_none_or(|s| provider_limit <= s)
        && *limit == json(provider_limit)
    {
        report.written(
            format!("flow_control.overrides.{dest}.concurrency.max"),
            limit.clone(),
            table,
        );
    }
}

/// The scenario's `mta` with what KumoMTA configures set from the default table (later)
/// and `[queue.default]`, or KumoMTA's defaults.
fn kumo_mta(into: &Scenario, shaping: &Shaping) -> MtaConfig {
    let max_age = shaping.max_age.unwrap_or(MAX_AGE);
    let initial = shaping.retry_interval.unwrap_or(RETRY_INTERVAL);
    MtaConfig {
        max_deliveries_per_connection: MAX_DELIVERIES_PER_CONNECTION,
        session_idle_timeout: Span::from_millis(IDLE_TIMEOUT),
        connect_timeout: Span::from_millis(CONNECT_TIMEOUT),
        greeting_timeout: Span::from_millis(BANNER_TIMEOUT),
        retry: RetryConfig {
            schedule: Schedule::Exponential,
            initial: Span::from_millis(initial),
            factor: 2.0,
            max: Span::from_millis(shaping.max_retry_interval.unwrap_or(max_age).max(initial)),
            intervals: Vec::new(),
            jitter: Jitter::None,
            max_age: Span::from_millis(max_age),
            ..RetryConfig::default()
        },
        ..into.mta.clone()
    }
}
