//! KumoMTA: traffic shaping TOML (`default`, domain and `provider` tables with their
//! `automation` rules) and the queue helper's `queue.toml` (`[queue.default]` retry).
//!
//! Files merge in order as `kumo.shaping.load` merges them (KumoCorp/kumomta
//! crates/kumo-api-types/src/shaping.rs): a later table's values replace earlier ones key
//! by key and its rules are appended, unless it says `replace_base = true`, which discards
//! what earlier files said for that table.

use std::collections::BTreeMap;

use serde_json::Value;

use super::diag::{ConfigError, Place, Report, Text};
use super::emit::{Doc, Gaps, assemble, header};
use super::mapping::{self, Destinations, bare, json, leaves, neutral_backoff, on_demand};
use super::toml_tree::{self, Field, Kind, Node, get};
use super::units::{DAY, MINUTE, Millis, SECOND};
use super::units::{kumo_duration_seconds, kumo_duration_str, kumo_rate, kumo_throttle, per};
use super::{Exported, Imported, Provenance, Source};
use crate::MtaKind;
use crate::flow_control::Feedback;
use crate::flow_control::config::{
    Action, FlowControlConfig, KeyKind, RuleConfig, SetLimits, Trigger,
};
use crate::mta::config::{Jitter, MtaConfig, RetryConfig, Schedule};
use crate::scenario::Scenario;
use crate::units::{Rate, Span};

/// KumoMTA's defaults (egress_path.rs, rfc5321 client_types.rs, queue/config.rs).
const CONNECTION_LIMIT: u32 = 32;
const MAX_DELIVERIES_PER_CONNECTION: u32 = 1024;
const IDLE_TIMEOUT: Millis = 5 * SECOND;
const CONNECT_TIMEOUT: Millis = 60 * SECOND;
const BANNER_TIMEOUT: Millis = 60 * SECOND;
const RETRY_INTERVAL: Millis = 20 * MINUTE;
const MAX_AGE: Millis = 7 * DAY;

/// The queue helper's top-level keys: a file with any of them is a `queue.toml`.
const QUEUE_KEYS: &[&str] = &[
    "queue",
    "tenant",
    "scheduling_header",
    "tenant_header",
    "remove_tenant_header",
    "campaign_header",
    "remove_campaign_header",
    "default_tenant",
];

/// A shaping table after merging: its parameters (last value per name) and rules.
#[derive(Debug, Clone, Default)]
struct Entry {
    place: Place,
    params: Vec<Field>,
    automation: Vec<Node>,
    mx_rollup: bool,
}

impl Entry {
    fn merge(&mut self, other: Entry, replace: bool) {
        if replace {
            self.params = other.params;
            self.automation = other.automation;
        } else {
            for field in other.params {
                self.params.retain(|f| f.name != field.name);
                self.params.push(field);
            }
            self.automation.extend(other.automation);
        }
        self.mx_rollup = other.mx_rollup;
        if self.place.line == 0 {
            self.place = other.place;
        }
    }
}

/// A `provider` table after merging.
#[derive(Debug, Clone, Default)]
struct Provider {
    entry: Entry,
    matches: Vec<(String, String, Place)>,
    connection_limit: Option<(u32, Place)>,
    message_rate: Option<(Rate, Place)>,
}

#[derive(Debug, Default)]
struct Shaping {
    default: Entry,
    domains: Vec<(String, Entry)>,
    providers: Vec<(String, Provider)>,
    retry_interval: Option<Millis>,
    max_retry_interval: Option<Millis>,
    max_age: Option<Millis>,
}

pub fn import(sources: &[Source], into: &Scenario) -> Result<Imported, ConfigError> {
    let mut report = Report::default();
    let mut shaping = Shaping::default();
    for source in sources {
        let text = Text::new(&source.name, &source.text);
        let doc = toml_tree::parse(&text)?;
        if doc.iter().any(|f| QUEUE_KEYS.contains(&f.name.as_str())) {
            read_queue_file(&doc, &mut shaping, &mut report)?;
        } else {
            read_shaping_file(doc, &mut shaping, &mut report)?;
        }
    }
    let scenario = build(&shaping, sources, into, &mut report)?;
    Ok(report.finish(scenario))
}

/// The queue helper's file: `[queue.default]` retry settings; the rest is per tenant,
/// campaign or domain, which mtasim's one retry schedule cannot say.
fn read_queue_file(
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
                    _ => {
                        report.skip(
                            setting.place.clone(),
                            &name,
                            "not a retry setting mtasim models",
                        );
                        continue;
                    }
                };
                *target = Some(duration(&setting.node, &name)?);
                report.took();
            }
        }
    }
    Ok(())
}

fn read_shaping_file(
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
            "sources" => report.skip(
                f.place.clone(),
                &format!("{}.sources", field.name),
                "mtasim has one egress source: per-source settings do not apply",
            ),
            _ => entry.params.push(f.clone()),
        }
    }
    Ok((entry, replace))
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
            "sources" => report.skip(
                f.place.clone(),
                &what,
                "mtasim has one egress source: per-source settings do not apply",
            ),
            _ => provider.entry.params.push(f.clone()),
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

fn limit(node: &Node, what: &str) -> Result<u32, ConfigError> {
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

fn throttle(node: &Node, what: &str) -> Result<super::units::Throttle, ConfigError> {
    kumo_throttle(node.str(what)?).map_err(|e| node.error(format!("{what}: {e}")))
}

fn duration(node: &Node, what: &str) -> Result<Millis, ConfigError> {
    let ms = match &node.value {
        Kind::Str(s) => kumo_duration_str(s),
        Kind::Int(n) => kumo_duration_seconds(*n as f64),
        Kind::Float(x) => kumo_duration_seconds(*x),
        _ => Err(format!("expected a duration, got {}", node.type_name())),
    };
    ms.map_err(|e| node.error(format!("{what}: {e}")))
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
            "max_connection_rate" => {
                report.skip(
                    f.place.clone(),
                    &what,
                    "mtasim has no connection-rate limit",
                );
                continue;
            }
            "consecutive_connection_failures_before_delay" => {
                report.skip(
                    f.place.clone(),
                    &what,
                    "mtasim's dead-destination detection counts failed pseudo-cohorts (Postfix's); KumoMTA's delay of the ready queue after N exhausted host lists is not modelled",
                );
                continue;
            }
            _ => {
                report.skip(
                    f.place.clone(),
                    &what,
                    "not a delivery flow-control setting mtasim models",
                );
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

/// Turns KumoMTA automation rules into mtasim rules: one per action (a rule's actions all
/// fire together, so they split into rules with the same regex, trigger and duration),
/// with every `SetConfig` of a rule combined into one `set` rule.
fn read_rules(
    rules: &[Node],
    table: &str,
    key: KeyKind,
    report: &mut Report,
) -> Result<Vec<RuleConfig>, ConfigError> {
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let what = format!("{table}.automation[{i}]");
        out.extend(read_rule(rule, &what, key, report)?);
    }
    Ok(out)
}

fn read_rule(
    rule: &Node,
    what: &str,
    key: KeyKind,
    report: &mut Report,
) -> Result<Vec<RuleConfig>, ConfigError> {
    let fields = rule.table(what)?;
    let required = |name: &str| {
        get(fields, name).ok_or_else(|| rule.error(format!("{what}: missing `{name}`")))
    };
    let regex = required("regex")?;
    let patterns: Vec<&str> = match &regex.node.value {
        Kind::Array(items) => items
            .iter()
            .map(|n| n.str(&format!("{what}.regex")))
            .collect::<Result<_, _>>()?,
        _ => vec![regex.node.str(&format!("{what}.regex"))?],
    };
    let pattern = match patterns.as_slice() {
        [one] => one.to_string(),
        many => many
            .iter()
            .map(|p| format!("(?:{p})"))
            .collect::<Vec<_>>()
            .join("|"),
    };
    if let Err(e) = regex::Regex::new(&pattern) {
        let text = e.to_string();
        if text.contains("look-around") || text.contains("backreference") {
            report.skip(
                regex.place.clone(),
                what,
                "the regex uses look-around or backreferences, which mtasim's linear-time regex engine does not support",
            );
            return Ok(Vec::new());
        }
        return Err(regex
            .node
            .error(format!("{what}.regex: {}", mapping::regex_message(&e))));
    }
    let duration_field = required("duration")?;
    let duration = duration(&duration_field.node, &format!("{what}.duration"))?;
    let trigger = match get(fields, "trigger") {
        None => Trigger::Immediate,
        Some(f) => read_trigger(f, what, duration, report)?,
    };
    for f in fields {
        match f.name.as_str() {
            "regex" | "action" | "trigger" | "duration" => {}
            "match_internal" => {
                if f.node.bool("match_internal")? {
                    report.approximate(
                        f.place.clone(),
                        &format!("{what}.match_internal"),
                        "mtasim's rules see every reply, its own internal errors included",
                    );
                }
            }
            other => report.skip(
                f.place.clone(),
                &format!("{what}.{other}"),
                "not an automation rule field",
            ),
        }
    }
    let base = RuleConfig {
        pattern,
        action: Action::Suspend,
        trigger,
        duration: Span::from_millis(duration),
        set: None,
    };
    let actions = required("action")?;
    let items = match &actions.node.value {
        Kind::Array(items) => items.clone(),
        _ => vec![actions.node.clone()],
    };
    let mut rules = Vec::new();
    let mut set = SetLimits {
        concurrency: None,
        max_rate: None,
    };
    for item in &items {
        read_action(item, what, key, &base, &mut rules, &mut set, report)?;
    }
    if set.concurrency.is_some() || set.max_rate.is_some() {
        rules.push(RuleConfig {
            action: Action::Set,
            set: Some(set),
            ..base
        });
    }
    if !rules.is_empty() {
        report.took();
    }
    Ok(rules)
}

fn read_trigger(
    field: &Field,
    what: &str,
    duration: Millis,
    report: &mut Report,
) -> Result<Trigger, ConfigError> {
    let what = format!("{what}.trigger");
    match &field.node.value {
        Kind::Str(s) if s == "Immediate" => Ok(Trigger::Immediate),
        Kind::Table(t) => match t.as_slice() {
            [f] if f.name == "Threshold" => {
                let spec = throttle(&f.node, &what)?;
                if spec.rate.period.as_millis() != duration {
                    report.approximate(
                        f.place.clone(),
                        &what,
                        format!(
                            "KumoMTA's tsa-daemon counts the {} matches over the rule's duration ({}), not over the threshold's period ({}); imported as {}/{}",
                            spec.rate.count,
                            Span::from_millis(duration),
                            spec.rate.period,
                            spec.rate.count,
                            Span::from_millis(duration)
                        ),
                    );
                }
                Ok(Trigger::Threshold(per(spec.rate.count, duration)))
            }
            _ => Err(field.node.error(format!(
                "{what}: expected \"Immediate\" or {{Threshold=\"N/period\"}}"
            ))),
        },
        _ => Err(field.node.error(format!(
            "{what}: expected \"Immediate\" or {{Threshold=\"N/period\"}}"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn read_action(
    item: &Node,
    what: &str,
    key: KeyKind,
    base: &RuleConfig,
    rules: &mut Vec<RuleConfig>,
    set: &mut SetLimits,
    report: &mut Report,
) -> Result<(), ConfigError> {
    let plain = |action: Action| RuleConfig {
        action,
        ..base.clone()
    };
    let what = format!("{what}.action");
    match &item.value {
        Kind::Str(s) => match s.as_str() {
            "Suspend" => rules.push(plain(Action::Suspend)),
            "Bounce" => {
                report.approximate(
                    item.place.clone(),
                    &what,
                    "KumoMTA bounces every queued message for the domain until the duration ends; mtasim bounces the message whose reply matched",
                );
                rules.push(plain(Action::Bounce));
            }
            "SuspendTenant" | "SuspendCampaign" => {
                report.approximate(
                    item.place.clone(),
                    &what,
                    format!(
                        "mtasim has no tenants or campaigns: {s} suspends the whole destination"
                    ),
                );
                rules.push(plain(Action::Suspend));
            }
            "BounceTenant" | "BounceCampaign" => {
                report.approximate(
                    item.place.clone(),
                    &what,
                    format!("mtasim has no tenants or campaigns: {s} bounces the message whose reply matched"),
                );
                rules.push(plain(Action::Bounce));
            }
            other => return Err(item.error(format!("{what}: unknown action {other:?}"))),
        },
        Kind::Table(t) => match t.as_slice() {
            [f] if f.name == "SetConfig" || f.name == "SetDomainConfig" => {
                if f.name == "SetDomainConfig" && key == KeyKind::Receiver {
                    report.approximate(
                        f.place.clone(),
                        &what,
                        "SetDomainConfig applies to the domain alone; mtasim's destinations are receivers (MX rollup)",
                    );
                }
                read_set_config(&f.node, &what, set, report)?;
            }
            _ => return Err(item.error(format!("{what}: expected an action"))),
        },
        _ => return Err(item.error(format!("{what}: expected an action"))),
    }
    Ok(())
}

fn read_set_config(
    node: &Node,
    what: &str,
    set: &mut SetLimits,
    report: &mut Report,
) -> Result<(), ConfigError> {
    let fields = node.table(what)?;
    let name_field =
        get(fields, "name").ok_or_else(|| node.error(format!("{what}: missing `name`")))?;
    let value =
        get(fields, "value").ok_or_else(|| node.error(format!("{what}: missing `value`")))?;
    match name_field.node.str(what)? {
        "connection_limit" => set.concurrency = Some(limit(&value.node, what)?),
        "max_message_rate" => set.max_rate = Some(throttle(&value.node, what)?.rate),
        other => report.skip(
            name_field.place.clone(),
            &format!("{what}: SetConfig {other}"),
            "mtasim's `set` rules cap concurrency and the message rate only",
        ),
    }
    Ok(())
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
    sources: &[Source],
    into: &Scenario,
    report: &mut Report,
) -> Result<Scenario, ConfigError> {
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
            report.skip(
                place,
                domain,
                "no receiver of the scenario has this domain; add one (or import --into a scenario that has it)",
            );
            continue;
        };
        let limits = read_params(entry, domain, None, report)?;
        let rules = read_rules(&entry.automation, domain, key, report)?;
        contributions.entry(dest).or_default().push(Contribution {
            limits,
            rules,
            provider_limit: None,
            provider_rate: None,
        });
    }
    for (dest, parts) in contributions {
        let patch = override_patch(&config, &parts);
        if !patch.is_null() {
            config.overrides.insert(dest, patch);
        }
    }
    config.backoff = neutral_backoff(&config);
    let mut scenario = into.clone();
    scenario.flow_control = config;
    scenario.mta = mta;
    scenario.description = mapping::description(MtaKind::KumoMta, sources, into);
    mapping::validated(scenario, sources)
}

/// One table's say about one destination.
struct Contribution {
    limits: Limits,
    rules: Vec<RuleConfig>,
    provider_limit: Option<u32>,
    provider_rate: Option<Rate>,
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

// ---- export ----

pub fn export(scenario: &Scenario, provenance: &Provenance) -> Exported {
    let fc = &scenario.flow_control;
    let mut gaps = Gaps::default();
    base_gaps(scenario, &mut gaps);
    let mut shaping = Doc::default();
    shaping.line("[\"default\"]");
    let p = provenance;
    shaping.setting(
        p,
        "flow_control.concurrency.max",
        "",
        format!("connection_limit = {}", fc.concurrency.max),
    );
    if let Some(rate) = fc.max_rate {
        match kumo_rate(rate) {
            Some(text) => shaping.setting(
                p,
                "flow_control.max_rate",
                "",
                format!("max_message_rate = {}", toml_tree::string(&text)),
            ),
            None => gaps.add(
                "flow_control.max_rate",
                "KumoMTA rates have whole-second periods",
            ),
        }
    }
    let mta = &scenario.mta;
    shaping.setting(
        p,
        "mta.max_deliveries_per_connection",
        "",
        format!(
            "max_deliveries_per_connection = {}",
            mta.max_deliveries_per_connection
        ),
    );
    for (path, name, d) in [
        (
            "mta.session_idle_timeout",
            "idle_timeout",
            mta.session_idle_timeout,
        ),
        (
            "mta.connect_timeout",
            "connect_timeout",
            mta.connect_timeout,
        ),
        (
            "mta.greeting_timeout",
            "banner_timeout",
            mta.greeting_timeout,
        ),
    ] {
        shaping.setting(
            p,
            path,
            "",
            format!("{name} = {}", toml_tree::string(&d.to_string())),
        );
    }
    write_rules(
        &mut shaping,
        p,
        "default",
        &fc.rules,
        0,
        "flow_control.rules",
        &mut gaps,
    );
    for (key, patch) in &fc.overrides {
        write_override(&mut shaping, scenario, p, key, patch, &mut gaps);
    }
    let queue = queue_file(mta, p);
    let unsupported = gaps.0.len();
    assemble(
        header(MtaKind::KumoMta, provenance, &gaps),
        vec![("shaping.toml", shaping.text()), ("queue.toml", queue)],
        &["queue.toml"],
        unsupported,
    )
}

/// The flow-control and MTA settings outside overrides and rules that KumoMTA cannot say.
fn base_gaps(scenario: &Scenario, gaps: &mut Gaps) {
    let fc = &scenario.flow_control;
    let c = &fc.concurrency;
    if c.initial != c.max {
        gaps.add(
            "flow_control.concurrency.initial",
            format!("KumoMTA opens connections on demand up to connection_limit; there is no initial concurrency ({})", c.initial),
        );
    }
    if c.positive_feedback != Feedback::Constant(1.0)
        || c.negative_feedback != Feedback::InverseConcurrency
    {
        gaps.add(
            "flow_control.concurrency.positive_feedback",
            format!(
                "KumoMTA has no concurrency feedback ({} / {})",
                c.positive_feedback, c.negative_feedback
            ),
        );
    }
    if c.failed_cohort_limit != 0 {
        gaps.add(
            "flow_control.concurrency.failed_cohort_limit",
            format!(
                "KumoMTA has no dead-destination detection by failed cohorts ({}, {} off)",
                c.failed_cohort_limit, c.dead_backoff
            ),
        );
    }
    if fc.errors.threshold != 0 {
        gaps.add(
            "flow_control.errors",
            format!(
                "KumoMTA has no error-count threshold ({} in {}); automation rules react to reply text",
                fc.errors.threshold, fc.errors.window
            ),
        );
    }
    if fc.backoff != neutral_backoff(fc) {
        gaps.add(
            "flow_control.backoff",
            "KumoMTA has no backoff mode: its suspensions end in normal sending (SetConfig rules are the nearest thing)",
        );
    }
    if fc.suspend.after_backoffs != 0 {
        gaps.add(
            "flow_control.suspend",
            format!(
                "KumoMTA does not escalate repeated backoffs to a suspension ({} within {})",
                fc.suspend.after_backoffs, fc.suspend.within
            ),
        );
    }
    if fc.key == KeyKind::Domain && fc.overrides.is_empty() {
        gaps.add(
            "flow_control.key",
            "KumoMTA rolls domains up by MX unless a domain table says mx_rollup = false",
        );
    }
    let r = &scenario.mta.retry;
    if r.schedule != Schedule::Exponential || r.factor != 2.0 {
        gaps.add(
            "mta.retry.schedule",
            format!(
                "KumoMTA's retry doubles from retry_interval ({:?}, factor {})",
                r.schedule, r.factor
            ),
        );
    }
    if r.jitter != Jitter::None {
        gaps.add(
            "mta.retry.jitter",
            format!(
                "KumoMTA jitters each retry by at most ±30 s ({:?})",
                r.jitter
            ),
        );
    }
    gaps.add(
        "mta.max_connections",
        format!(
            "KumoMTA has no MTA-wide connection cap ({}); connection_limit is per destination",
            scenario.mta.max_connections
        ),
    );
}

#[allow(clippy::too_many_arguments)]
fn write_rules(
    doc: &mut Doc,
    p: &Provenance,
    table: &str,
    rules: &[RuleConfig],
    first: usize,
    path: &str,
    gaps: &mut Gaps,
) {
    for (i, rule) in rules.iter().enumerate().skip(first) {
        let at = format!("{path}.{i}");
        let action = match (rule.action, rule.set) {
            (Action::Suspend, _) => "\"Suspend\"".to_string(),
            (Action::Bounce, _) => "\"Bounce\"".to_string(),
            (Action::Set, Some(set)) => {
                let mut actions = Vec::new();
                if let Some(c) = set.concurrency {
                    actions.push(format!(
                        "{{SetConfig={{name=\"connection_limit\", value={c}}}}}"
                    ));
                }
                if let Some(rate) = set.max_rate {
                    match kumo_rate(rate) {
                        Some(text) => actions.push(format!(
                            "{{SetConfig={{name=\"max_message_rate\", value={}}}}}",
                            toml_tree::string(&text)
                        )),
                        None => gaps.add(
                            format!("{at}.set.max_rate"),
                            "KumoMTA rates have whole-second periods",
                        ),
                    }
                }
                match actions.as_slice() {
                    [] => continue,
                    [one] => one.clone(),
                    many => format!("[{}]", many.join(", ")),
                }
            }
            (Action::Backoff, _) => {
                gaps.add(&at, "KumoMTA has no backoff mode (a SetConfig rule that lowers the limits is the nearest thing)");
                continue;
            }
            (Action::Ignore, _) | (Action::Set, None) => {
                gaps.add(
                    &at,
                    "KumoMTA has no error count for a rule to keep a reply out of",
                );
                continue;
            }
        };
        let trigger = match rule.trigger {
            Trigger::Immediate => None,
            Trigger::Threshold(rate) => {
                if rate.period != rule.duration {
                    gaps.add(
                        format!("{at}.trigger"),
                        format!(
                            "written as {{Threshold=\"{}/{}\"}}, but KumoMTA's tsa-daemon counts the matches over the rule's duration ({}), not {}",
                            rate.count, rate.period, rule.duration, rate.period
                        ),
                    );
                }
                Some(format!(
                    "trigger = {{Threshold={}}}",
                    toml_tree::string(&format!(
                        "{}/{}",
                        rate.count,
                        kumo_period(rate.period.as_millis())
                    ))
                ))
            }
        };
        doc.blank();
        doc.setting(
            p,
            &at,
            "",
            format!("[[{}.automation]]", toml_tree::string(table)),
        );
        doc.line(format!("regex = {}", toml_tree::string(&rule.pattern)));
        doc.line(format!("action = {action}"));
        if let Some(trigger) = trigger {
            doc.line(trigger);
        }
        doc.line(format!(
            "duration = {}",
            toml_tree::string(&rule.duration.to_string())
        ));
    }
}

/// A period for a threshold: whole seconds in KumoMTA's units ("1h", "30m", "90s").
fn kumo_period(ms: Millis) -> String {
    kumo_rate(per(1, ms))
        .map(|t| t.trim_start_matches("1/").to_string())
        .map(|t| {
            if t.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                t
            } else {
                format!("1{t}")
            }
        })
        .unwrap_or_else(|| format!("{}s", ms.div_ceil(SECOND)))
}

/// One override as a domain table: the first domain of a receiver (MX rollup applies it to
/// the receiver's site), or the domain itself with `mx_rollup = false`.
fn write_override(
    doc: &mut Doc,
    scenario: &Scenario,
    p: &Provenance,
    key: &str,
    patch: &Value,
    gaps: &mut Gaps,
) {
    let fc = &scenario.flow_control;
    let at = format!("flow_control.overrides.{key}");
    let destinations = Destinations::new(scenario);
    let domain = match fc.key {
        KeyKind::Domain => key.to_string(),
        KeyKind::Receiver => match destinations.domains_of(key).and_then(|d| d.first()) {
            Some(d) => d.clone(),
            None => {
                gaps.add(
                    &at,
                    "names no receiver of the scenario, so there is no domain to write it for",
                );
                return;
            }
        },
    };
    let Ok(effective) = fc.effective(key) else {
        gaps.add(&at, "is not a valid override");
        return;
    };
    doc.blank();
    let note = match fc.key {
        KeyKind::Receiver => format!(
            "receiver {key} ({}): MX rollup applies this table to its whole site",
            destinations.domains_of(key).unwrap_or_default().join(", ")
        ),
        KeyKind::Domain => format!("domain {key}"),
    };
    doc.comment(note);
    doc.line(format!("[{}]", toml_tree::string(&domain)));
    if fc.key == KeyKind::Domain {
        doc.line("mx_rollup = false");
    }
    let mut rules = None;
    for (leaf, value) in leaves(patch) {
        let path = format!("{at}.{leaf}");
        match leaf.as_str() {
            "concurrency.max" => doc.setting(
                p,
                &path,
                "",
                format!("connection_limit = {}", effective.concurrency.max),
            ),
            "concurrency.initial" => {
                if effective.concurrency.initial != effective.concurrency.max {
                    gaps.add(&path, "KumoMTA has no initial concurrency: connections open on demand up to connection_limit");
                }
            }
            "max_rate" => match effective.max_rate.and_then(kumo_rate) {
                Some(text) => doc.setting(
                    p,
                    &path,
                    "",
                    format!("max_message_rate = {}", toml_tree::string(&text)),
                ),
                None if value.is_null() => gaps.add(
                    &path,
                    "a domain table cannot lift the default table's max_message_rate",
                ),
                None => gaps.add(&path, "KumoMTA rates have whole-second periods"),
            },
            "rules" => rules = Some(&effective.rules),
            _ => gaps.add(&path, override_gap(&leaf)),
        }
    }
    if let Some(rules) = rules {
        if rules.starts_with(&fc.rules) {
            write_rules(
                doc,
                p,
                &domain,
                rules,
                fc.rules.len(),
                &format!("{at}.rules"),
                gaps,
            );
        } else {
            gaps.add(
                format!("{at}.rules"),
                "KumoMTA applies the default table's rules to every domain; an override that drops or changes them cannot be written",
            );
        }
    }
}

/// Why an override field has no KumoMTA equivalent.
fn override_gap(leaf: &str) -> &'static str {
    match leaf.split('.').next() {
        Some("concurrency") => "KumoMTA has no concurrency feedback or dead-destination detection",
        Some("errors") => "KumoMTA has no error-count threshold",
        Some("backoff") => "KumoMTA has no backoff mode",
        Some("suspend") => "KumoMTA does not escalate backoffs to suspensions",
        _ => "no KumoMTA equivalent",
    }
}

/// The queue helper's `[queue.default]`.
fn queue_file(mta: &MtaConfig, p: &Provenance) -> String {
    let r = &mta.retry;
    let mut doc = Doc::default();
    doc.comment("For the queue helper (policy-extras.queue): queue.toml");
    doc.line("[queue.default]");
    doc.setting(
        p,
        "mta.retry.initial",
        "",
        format!(
            "retry_interval = {}",
            toml_tree::string(&r.initial.to_string())
        ),
    );
    if r.max < r.max_age {
        doc.setting(
            p,
            "mta.retry.max",
            "",
            format!(
                "max_retry_interval = {}",
                toml_tree::string(&r.max.to_string())
            ),
        );
    }
    doc.setting(
        p,
        "mta.retry.max_age",
        "",
        format!("max_age = {}", toml_tree::string(&r.max_age.to_string())),
    );
    doc.text()
}
