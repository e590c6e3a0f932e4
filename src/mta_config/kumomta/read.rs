//! Reading shaping and queue helper files into merged tables, as `kumo.shaping.load`
//! merges them; every key checked against the parameter table.

use super::params::EGRESS;
use super::params::QUEUE;
use super::params::provider_names;
use super::params::table_names;
use super::toml_tree::{Field, Kind, Node};
use super::{Entry, Provider, Shaping};
use crate::mta_config::diag::{ConfigError, Report};
use crate::mta_config::settings::find;
use crate::mta_config::settings::unknown;
use crate::mta_config::units::Millis;
use crate::mta_config::units::{kumo_duration_seconds, kumo_duration_str, kumo_throttle};

/// The queue helper's file: `[queue.default]` retry settings; the rest is per tenant,
/// campaign or domain, which mtasim's one retry schedule cannot say.
pub(super) fn read_queue_file(
    doc: &[Field],
    shaping: &mut Shaping,
    report: &mut Report,
) -> Result<(), ConfigError> {
    for field in doc {
        if field.name != "queue" {
            report.skip(
                field.place.clone(),
                &field.name,
                "mtasim has no tenants, campaigns or message headers",
            );
            continue;
        }
        for queue in field.node.table("queue")? {
            if queue.name != "default" {
                report.skip(
                    queue.place.clone(),
                    &format!("queue.{}", queue.name),
                    "mtasim has one retry schedule for the whole MTA (mta.retry); only [queue.default] is imported",
                );
                continue;
            }
            for setting in queue.node.table("queue.default")? {
                let name = format!("queue.default.{}", setting.name);
                let target = match setting.name.as_str() {
                    "retry_interval" => &mut shaping.retry_interval,
                    "max_retry_interval" => &mut shaping.max_retry_interval,
                    "max_age" => &mut shaping.max_age,
                    other if find(QUEUE, other).is_some() => {
                        report.skip(
                            setting.place.clone(),
                            &name,
                            "not a retry setting mtasim models",
                        );
                        continue;
                    }
                    other => {
                        return Err(unknown(
                            setting.place.clone(),
                            other,
                            QUEUE.iter().map(|s| s.name),
                        ));
                    }
                };
                *target = Some(duration(&setting.node, &name)?);
                report.took();
            }
        }
    }
    Ok(())
}

pub(super) fn read_shaping_file(
    doc: Vec<Field>,
    shaping: &mut Shaping,
    report: &mut Report,
) -> Result<(), ConfigError> {
    for field in doc {
        match field.name.as_str() {
            "default" => {
                let (entry, replace) = read_entry(&field, report)?;
                shaping.default.merge(entry, replace);
            }
            "provider" => {
                for provider in field.node.table("provider")? {
                    read_provider(provider, shaping, report)?;
                }
            }
            domain => {
                let (entry, replace) = read_entry(&field, report)?;
                let domain = domain.to_ascii_lowercase();
                match shaping.domains.iter_mut().find(|(d, _)| *d == domain) {
                    Some((_, existing)) => existing.merge(entry, replace),
                    None => shaping.domains.push((domain, entry)),
                }
            }
        }
    }
    Ok(())
}

/// A default or domain table; returns it and its `replace_base`.
fn read_entry(field: &Field, report: &mut Report) -> Result<(Entry, bool), ConfigError> {
    let mut entry = Entry {
        place: field.place.clone(),
        mx_rollup: true,
        ..Entry::default()
    };
    let mut replace = false;
    for f in field.node.table(&field.name)? {
        match f.name.as_str() {
            "mx_rollup" => entry.mx_rollup = f.node.bool("mx_rollup")?,
            "replace_base" => replace = f.node.bool("replace_base")?,
            "automation" => entry.automation = f.node.array("automation")?.to_vec(),
            "sources" => {
                check_sources(f)?;
                report.skip(
                    f.place.clone(),
                    &format!("{}.sources", field.name),
                    "mtasim has one egress source: per-source settings do not apply",
                )
            }
            name if find(EGRESS, name).is_some() => entry.params.push(f.clone()),
            name => return Err(unknown(f.place.clone(), name, table_names())),
        }
    }
    Ok((entry, replace))
}

/// A `sources` table's per-source tables hold egress options only: a typo there is an
/// error too, though mtasim reads none of them.
fn check_sources(field: &Field) -> Result<(), ConfigError> {
    for source in field.node.table("sources")? {
        for f in source.node.table(&format!("sources.{}", source.name))? {
            if find(EGRESS, &f.name).is_none() {
                return Err(unknown(
                    f.place.clone(),
                    &f.name,
                    EGRESS.iter().map(|s| s.name),
                ));
            }
        }
    }
    Ok(())
}

fn read_provider(
    field: &Field,
    shaping: &mut Shaping,
    report: &mut Report,
) -> Result<(), ConfigError> {
    let name = field.name.clone();
    let mut provider = Provider {
        entry: Entry {
            place: field.place.clone(),
            mx_rollup: true,
            ..Entry::default()
        },
        ..Provider::default()
    };
    let mut replace = false;
    for f in field.node.table(&format!("provider.{name}"))? {
        let what = format!("provider.{name}.{}", f.name);
        match f.name.as_str() {
            "match" => {
                for rule in f.node.array(&what)? {
                    for m in rule.table(&what)? {
                        let value = m.node.str(&what)?.to_ascii_lowercase();
                        match m.name.as_str() {
                            "MXSuffix" | "DomainSuffix" | "HostName" => {
                                provider
                                    .matches
                                    .push((m.name.clone(), value, m.place.clone()))
                            }
                            other => {
                                return Err(m.node.error(format!(
                                "{what}: unknown match rule {other:?}: expected MXSuffix, DomainSuffix or HostName"
                            )));
                            }
                        }
                    }
                }
            }
            "provider_connection_limit" => {
                provider.connection_limit = Some((limit(&f.node, &what)?, f.place.clone()))
            }
            "provider_max_message_rate" => {
                let throttle = throttle(&f.node, &what)?;
                provider.message_rate = Some((throttle.rate, f.place.clone()));
            }
            "replace_base" => replace = f.node.bool(&what)?,
            "automation" => provider.entry.automation = f.node.array(&what)?.to_vec(),
            "sources" => {
                check_sources(f)?;
                report.skip(
                    f.place.clone(),
                    &what,
                    "mtasim has one egress source: per-source settings do not apply",
                )
            }
            name if find(EGRESS, name).is_some() => provider.entry.params.push(f.clone()),
            name => return Err(unknown(f.place.clone(), name, provider_names())),
        }
    }
    match shaping.providers.iter_mut().find(|(n, _)| *n == name) {
        Some((_, existing)) => merge_provider(existing, provider, replace, report),
        None => shaping.providers.push((name, provider)),
    }
    Ok(())
}

/// KumoMTA's `ProviderEntry::merge_from`, including what it leaves out: a later file's
/// `provider_max_message_rate` for a provider already defined is not merged at all.
fn merge_provider(existing: &mut Provider, other: Provider, replace: bool, report: &mut Report) {
    if let Some((_, place)) = &other.message_rate {
        report.skip(
            place.clone(),
            "provider_max_message_rate",
            "KumoMTA keeps the first file's value when a later file defines the provider again",
        );
    }
    if replace {
        existing.connection_limit = other.connection_limit;
        existing.matches = other.matches;
    } else {
        if other.connection_limit.is_some() {
            existing.connection_limit = other.connection_limit;
        }
        existing.matches.extend(other.matches);
    }
    existing.entry.merge(other.entry, replace);
}

pub(super) fn limit(node: &Node, what: &str) -> Result<u32, ConfigError> {
    let n = match &node.value {
        Kind::Int(n) => *n,
        Kind::Str(s) => {
            let digits: String = s
                .strip_prefix("local:")
                .unwrap_or(s)
                .chars()
                .filter(|c| !matches!(c, '_' | ','))
                .collect();
            digits
                .parse()
                .map_err(|_| node.error(format!("{what}: invalid limit {s:?}")))?
        }
        _ => {
            return Err(node.error(format!(
                "{what}: expected a number, got {}",
                node.type_name()
            )));
        }
    };
    u32::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
        node.error(format!(
            "{what}: the limit must be between 1 and {}",
            u32::MAX
        ))
    })
}

pub(super) fn throttle(
    node: &Node,
    what: &str,
) -> Result<crate::mta_config::units::Throttle, ConfigError> {
    kumo_throttle(node.str(what)?).map_err(|e| node.error(format!("{what}: {e}")))
}

pub(super) fn duration(node: &Node, what: &str) -> Result<Millis, ConfigError> {
    let ms = match &node.value {
        Kind::Str(s) => kumo_duration_str(s),
        Kind::Int(n) => kumo_duration_seconds(*n as f64),
        Kind::Float(x) => kumo_duration_seconds(*x),
        _ => Err(format!("expected a duration, got {}", node.type_name())),
    };
    ms.map_err(|e| node.error(format!("{what}: {e}")))
}
