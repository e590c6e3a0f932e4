//! PowerMTA: `<domain>` blocks (`*` for every domain, a name, or a `$macro` of
//! `domain-macro`), their normal and `backoff-*` limits, `<smtp-pattern-list>`s whose
//! `reply /regex/ mode=backoff` entries switch a queue to backoff mode, and `queue-to`
//! rollups of several domains into one queue.
//!
//! PowerMTA keeps a queue per domain unless `queue-to` rolls domains together: an import
//! keys flow control by domain, or by receiver when the configuration rolls domains up.

use std::collections::BTreeMap;

use serde_json::Value;

use super::diag::{ConfigError, Place, Report, Text};
use super::emit::{Doc, Gaps, assemble, header};
use super::mapping::{self, Destinations, bare, json, leaves, on_demand};
use super::units::{DAY, HOUR, MINUTE, Millis};
use super::units::{pmta_duration, pmta_duration_text, pmta_rate, pmta_rate_text};
use super::{Exported, Imported, Provenance, Source};
use crate::MtaKind;
use crate::flow_control::config::{
    Action, BackoffConfig, FlowControlConfig, KeyKind, Recovery, RuleConfig, Trigger,
};
use crate::mta::config::{Jitter, MtaConfig, RetryConfig, Schedule};
use crate::scenario::Scenario;
use crate::units::{Rate, Span};

/// `never` for `backoff-to-normal-after` and `reenable-source-ip-after`: ten years, longer
/// than any simulation.
pub const NEVER: Millis = 3650 * DAY;

/// PowerMTA's defaults (its directive reference).
const MAX_SMTP_OUT: u32 = 20;
const BACKOFF_MAX_SMTP_OUT: u32 = 20;
const RETRY_AFTER: Millis = 10 * MINUTE;
const BACKOFF_RETRY_AFTER: Millis = HOUR;
const BOUNCE_AFTER: Millis = 4 * DAY + 12 * HOUR;
const CONNECT_TIMEOUT: Millis = 2 * MINUTE;
const GREETING_TIMEOUT: Millis = 5 * MINUTE;

/// Directives that configure the whole MTA in mtasim: only `<domain *>`'s are imported.
const MTA_WIDE: &[&str] = &[
    "max-msg-per-connection",
    "retry-after",
    "bounce-after",
    "connect-timeout",
    "smtp-greeting-timeout",
];

/// A directive: name, value, where.
#[derive(Debug, Clone)]
struct Directive {
    name: String,
    value: String,
    place: Place,
}

#[derive(Debug, Clone)]
struct DomainBlock {
    /// `*`, a domain, or `$macro`.
    name: String,
    place: Place,
    directives: Vec<Directive>,
}

#[derive(Debug, Clone)]
struct Pattern {
    regex: String,
    actions: Vec<(String, Option<String>)>,
    place: Place,
}

#[derive(Debug, Default)]
struct Config {
    macros: BTreeMap<String, (Vec<String>, Place)>,
    domains: Vec<DomainBlock>,
    lists: BTreeMap<String, Vec<Pattern>>,
}

pub fn import(sources: &[Source], into: &Scenario) -> Result<Imported, ConfigError> {
    let mut report = Report::default();
    let mut config = Config::default();
    for source in sources {
        read_file(
            &Text::new(&source.name, &source.text),
            &mut config,
            &mut report,
        )?;
    }
    let scenario = build(&config, sources, into, &mut report)?;
    Ok(report.finish(scenario))
}

/// A line without its `#` comment (a `#` at the start or after whitespace).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let cut = (0..bytes.len())
        .find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()))
        .unwrap_or(line.len());
    line[..cut].trim()
}

fn read_file(text: &Text, config: &mut Config, report: &mut Report) -> Result<(), ConfigError> {
    let mut stack: Vec<(String, String, Place)> = Vec::new();
    let mut unrelated: Vec<String> = Vec::new();
    let mut offset = 0;
    for raw in text.text.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let indent = raw.len() - raw.trim_start().len();
        let line = strip_comment(raw.trim_end_matches(['\n', '\r']));
        if line.is_empty() {
            continue;
        }
        let place = text.place(start + indent);
        if let Some(tag) = line.strip_prefix("</") {
            let name = tag
                .strip_suffix('>')
                .ok_or_else(|| {
                    text.error(start + indent, "syntax error: a closing tag ends with `>`")
                })?
                .trim();
            match stack.pop() {
                Some((open, _, _)) if open == name => {}
                Some((open, _, at)) => {
                    return Err(text.error(
                        start + indent,
                        format!("</{name}> closes <{open}> opened at line {}", at.line),
                    ));
                }
                None => {
                    return Err(
                        text.error(start + indent, format!("</{name}> closes no open block"))
                    );
                }
            }
            continue;
        }
        if let Some(tag) = line.strip_prefix('<') {
            let body = tag.strip_suffix('>').ok_or_else(|| {
                text.error(
                    start + indent + line.len(),
                    "syntax error: a block tag ends with `>`",
                )
            })?;
            let (kind, arg) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
            let (kind, arg) = (kind.trim().to_string(), arg.trim().to_string());
            match kind.as_str() {
                "domain" => config.domains.push(DomainBlock { name: arg.clone(), place: place.clone(), directives: Vec::new() }),
                "smtp-pattern-list" => {
                    config.lists.insert(arg.clone(), Vec::new());
                }
                "virtual-mta" => report.approximate(place.clone(), &format!("<virtual-mta {arg}>"), "mtasim has one sending source: <domain> blocks inside it are read as global ones, its other directives are not imported"),
                other => report.skip(place.clone(), &format!("<{other} {arg}>"), "not a delivery flow-control block"),
            }
            stack.push((kind, arg, place));
            continue;
        }
        let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let directive = Directive {
            name: name.to_string(),
            value: value.trim().to_string(),
            place: place.clone(),
        };
        match stack.last().map(|(k, a, _)| (k.as_str(), a.clone())) {
            None if name == "domain-macro" => read_macro(&directive, config, text, start + indent)?,
            None => unrelated.push(format!("{name} (line {})", place.line)),
            Some(("domain", _)) => config
                .domains
                .last_mut()
                .expect("a domain block is open")
                .directives
                .push(directive),
            Some(("smtp-pattern-list", list)) => {
                let pattern = read_pattern(&directive, text, start + indent, report)?;
                if let Some(p) = pattern {
                    config.lists.get_mut(&list).expect("opened").push(p);
                }
            }
            Some(_) => {}
        }
    }
    if let Some((kind, _, place)) = stack.pop() {
        return Err(ConfigError {
            place,
            message: format!("<{kind}> is never closed (</{kind}> missing)"),
        });
    }
    if !unrelated.is_empty() {
        report.skip(
            text.place(0),
            "top level",
            format!(
                "{} directives are not delivery flow control: {}",
                unrelated.len(),
                unrelated.join(", ")
            ),
        );
    }
    Ok(())
}

fn read_macro(
    d: &Directive,
    config: &mut Config,
    text: &Text,
    offset: usize,
) -> Result<(), ConfigError> {
    let (name, list) = d
        .value
        .split_once(char::is_whitespace)
        .ok_or_else(|| text.error(offset, "syntax error: domain-macro NAME domain,domain,..."))?;
    let domains = list
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    config
        .macros
        .insert(name.to_string(), (domains, d.place.clone()));
    Ok(())
}

/// `reply /regex/ action...` of a pattern list; None for entries mtasim does not read.
fn read_pattern(
    d: &Directive,
    text: &Text,
    offset: usize,
    report: &mut Report,
) -> Result<Option<Pattern>, ConfigError> {
    if d.name != "reply" {
        report.skip(
            d.place.clone(),
            &d.name,
            "mtasim's rules match the reply text only",
        );
        return Ok(None);
    }
    let value = d.value.as_str();
    let body = value
        .strip_prefix('/')
        .ok_or_else(|| text.error(offset + 6, "syntax error: expected /regex/ after reply"))?;
    let mut end = None;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '/' if !escaped => {
                end = Some(i);
                break;
            }
            _ => escaped = false,
        }
    }
    let end = end.ok_or_else(|| {
        text.error(
            offset + 6 + value.len(),
            "syntax error: the regex has no closing /",
        )
    })?;
    let regex = body[..end].replace("\\/", "/");
    if let Err(e) = regex::Regex::new(&regex) {
        return Err(text.error(
            offset + 7,
            format!("reply /{}/: {}", &body[..end], mapping::regex_message(&e)),
        ));
    }
    let actions = body[end + 1..]
        .split_whitespace()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.to_string(), None),
        })
        .collect();
    Ok(Some(Pattern {
        regex,
        actions,
        place: d.place.clone(),
    }))
}

/// One destination's settings as PowerMTA resolves them: `<domain *>` then its own block.
#[derive(Debug, Clone, Default)]
struct Settings {
    values: BTreeMap<String, Directive>,
}

impl Settings {
    fn get(&self, name: &str) -> Option<&Directive> {
        self.values.get(name)
    }
}

fn count(d: &Directive) -> Result<u32, ConfigError> {
    d.value.parse::<u32>().map_err(|_| ConfigError {
        place: d.place.clone(),
        message: format!("{} {}: expected a whole number", d.name, d.value),
    })
}

fn rate(d: &Directive) -> Result<Option<Rate>, ConfigError> {
    pmta_rate(&d.value).map_err(|e| ConfigError {
        place: d.place.clone(),
        message: format!("{}: {e}", d.name),
    })
}

fn interval(d: &Directive, text: &str) -> Result<Millis, ConfigError> {
    if text == "never" {
        return Ok(NEVER);
    }
    pmta_duration(text).map_err(|e| ConfigError {
        place: d.place.clone(),
        message: format!("{}: {e}", d.name),
    })
}

fn boolean(d: &Directive) -> Result<bool, ConfigError> {
    match d.value.as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        other => Err(ConfigError {
            place: d.place.clone(),
            message: format!("{} {other}: expected yes, no, true or false", d.name),
        }),
    }
}

/// The flow control of one resolved destination.
fn destination(
    settings: &Settings,
    config: &Config,
    report: &mut Report,
) -> Result<FlowControlConfig, ConfigError> {
    let limit = settings
        .get("max-smtp-out")
        .map(count)
        .transpose()?
        .unwrap_or(MAX_SMTP_OUT);
    if limit == 0 {
        let place = settings
            .get("max-smtp-out")
            .map(|d| d.place.clone())
            .unwrap_or_default();
        return Err(ConfigError {
            place,
            message: "max-smtp-out 0: mtasim needs at least one connection".into(),
        });
    }
    let mut fc = bare(KeyKind::Domain, on_demand(limit));
    fc.max_rate = settings
        .get("max-msg-rate")
        .map(rate)
        .transpose()?
        .flatten();
    let backoff_concurrency = settings
        .get("backoff-max-smtp-out")
        .map(count)
        .transpose()?
        .unwrap_or(BACKOFF_MAX_SMTP_OUT)
        .max(1);
    let backoff_rate = match settings.get("backoff-max-msg-rate") {
        None => None,
        Some(d) => {
            let r = rate(d)?;
            if r.is_none() && fc.max_rate.is_some() {
                report.approximate(d.place.clone(), "backoff-max-msg-rate", "unlimited while max-msg-rate limits normal mode: mtasim's backoff without a rate uses the normal one");
            }
            r
        }
    };
    let retry_after = match settings.get("backoff-retry-after") {
        None => BACKOFF_RETRY_AFTER,
        Some(d) => {
            let first = d.value.split(',').next().unwrap_or_default();
            if d.value.contains(',') {
                report.approximate(
                    d.place.clone(),
                    "backoff-retry-after",
                    format!("mtasim's backoff has one retry floor: the first interval, {first}"),
                );
            }
            interval(d, first)?
        }
    };
    let to_normal_after = settings
        .get("backoff-to-normal-after")
        .map(|d| interval(d, &d.value))
        .transpose()?
        .unwrap_or(NEVER);
    let to_normal_after_delivery = settings
        .get("backoff-to-normal-after-delivery")
        .map(boolean)
        .transpose()?
        .unwrap_or(false);
    fc.backoff = BackoffConfig {
        concurrency: backoff_concurrency,
        max_rate: backoff_rate,
        retry_after: Span::from_millis(retry_after),
        to_normal_after: Span::from_millis(to_normal_after.max(1)),
        to_normal_after_delivery,
        recovery: Recovery::Snap,
        ..BackoffConfig::default()
    };
    let reenable = settings
        .get("reenable-source-ip-after")
        .map(|d| interval(d, &d.value))
        .transpose()?
        .unwrap_or(NEVER);
    if let Some(d) = settings.get("smtp-pattern-list") {
        let patterns = config.lists.get(&d.value).ok_or_else(|| ConfigError {
            place: d.place.clone(),
            message: format!(
                "smtp-pattern-list {}: no <smtp-pattern-list {}> is defined",
                d.value, d.value
            ),
        })?;
        fc.rules = rules(patterns, to_normal_after, reenable, report)?;
    }
    Ok(fc)
}

fn rules(
    patterns: &[Pattern],
    to_normal_after: Millis,
    reenable: Millis,
    report: &mut Report,
) -> Result<Vec<RuleConfig>, ConfigError> {
    let mut out = Vec::new();
    for p in patterns {
        let option = |name: &str| {
            p.actions
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.clone())
        };
        let rule = |action, duration: Millis| RuleConfig {
            pattern: p.regex.clone(),
            action,
            trigger: Trigger::Immediate,
            duration: Span::from_millis(duration.max(1)),
            set: None,
        };
        for (action, value) in &p.actions {
            let at = |v: &str| -> Result<Millis, ConfigError> {
                if v == "never" {
                    return Ok(NEVER);
                }
                pmta_duration(v).map_err(|e| ConfigError {
                    place: p.place.clone(),
                    message: format!("reply /{}/: {e}", p.regex),
                })
            };
            match (action.as_str(), value.as_deref()) {
                ("mode", Some("backoff")) => {
                    let duration = option("backoff-to-normal-after")
                        .map(|v| at(&v))
                        .transpose()?
                        .unwrap_or(to_normal_after);
                    out.push(rule(Action::Backoff, duration));
                }
                ("disable-source-ip", None) => {
                    report.approximate(p.place.clone(), "disable-source-ip", "mtasim has one source IP: disabling it suspends the destination until it is re-enabled");
                    let duration = option("reenable-after")
                        .map(|v| at(&v))
                        .transpose()?
                        .unwrap_or(reenable);
                    out.push(rule(Action::Suspend, duration));
                }
                ("backoff-to-normal-after" | "reenable-after", Some(_)) => {}
                (other, _) => report.skip(
                    p.place.clone(),
                    other,
                    "mtasim's rules back off (mode=backoff) or suspend (disable-source-ip)",
                ),
            }
        }
    }
    report.took();
    Ok(out)
}

/// Which names a block's `<domain NAME>` stands for.
fn block_domains(block: &DomainBlock, config: &Config) -> Result<Vec<String>, ConfigError> {
    match block.name.strip_prefix('$') {
        Some(m) => config
            .macros
            .get(m)
            .map(|(d, _)| d.clone())
            .ok_or_else(|| ConfigError {
                place: block.place.clone(),
                message: format!("<domain ${m}>: no domain-macro {m} is defined"),
            }),
        None => Ok(vec![block.name.to_ascii_lowercase()]),
    }
}

fn build(
    config: &Config,
    sources: &[Source],
    into: &Scenario,
    report: &mut Report,
) -> Result<Scenario, ConfigError> {
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
            report.skip(place, &format!("<domain {domain}>"), "no receiver of the scenario has this domain; add one (or import --into a scenario that has it)");
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
    let mut scenario = into.clone();
    scenario.flow_control = base;
    scenario.mta = mta;
    scenario.description = mapping::description(MtaKind::Pmta, sources, into);
    mapping::validated(scenario, sources)
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
        let why = match d.name.as_str() {
            "max-smtp-out"
            | "max-msg-rate"
            | "backoff-max-smtp-out"
            | "backoff-max-msg-rate"
            | "backoff-retry-after"
            | "backoff-to-normal-after"
            | "backoff-to-normal-after-delivery"
            | "smtp-pattern-list"
            | "reenable-source-ip-after" => {
                report.took();
                continue;
            }
            name if MTA_WIDE.contains(&name) => {
                if star {
                    report.took();
                    continue;
                }
                "mtasim sets this for the whole MTA (the `mta` section); only <domain *>'s value is imported"
            }
            "max-connect-rate" | "backoff-max-connect-rate" => {
                "mtasim has no connection-rate limit"
            }
            "retry-recipients-after" => {
                "mtasim's backoff.retry_after is the one per-message floor; PowerMTA's per-recipient floor after a 4xx is not modelled"
            }
            "smtp-421-means-mx-unavailable" | "max-errors-per-connection" => {
                "mtasim's sessions deliver until their limit or the first failure"
            }
            "backoff-notify"
            | "backoff-reroute-to-virtual-mta"
            | "backoff-upon-all-sources-disabled" => {
                "mtasim has one source and sends no notifications"
            }
            "connection-idle-timeout" | "smtp-out-rampup-interval" => {
                "mtasim opens and closes sessions by demand and the rate limit"
            }
            _ => "not a delivery flow-control setting mtasim models",
        };
        report.skip(d.place.clone(), &d.name, why);
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
            0 => Err(ConfigError {
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

// ---- export ----

pub fn export(scenario: &Scenario, provenance: &Provenance) -> Exported {
    let fc = &scenario.flow_control;
    let p = provenance;
    let mut gaps = Gaps::default();
    base_gaps(scenario, &mut gaps);
    let destinations = Destinations::new(scenario);
    let mut doc = Doc::default();
    if fc.key == KeyKind::Receiver {
        for (receiver, domains) in destinations.receivers().filter(|(_, d)| d.len() > 1) {
            doc.comment(format!(
                "receiver {receiver}: one queue for all its domains"
            ));
            doc.line(format!(
                "domain-macro {receiver} {}",
                domains[1..].join(",")
            ));
            doc.line(format!("<domain ${receiver}>"));
            doc.line(format!("    queue-to {}", domains[0]));
            doc.line("</domain>");
            doc.blank();
        }
    }
    let base_list = write_list(
        &mut doc,
        p,
        "mtasim-default",
        &fc.rules,
        "flow_control.rules",
        &mut gaps,
    );
    let mut blocks = Doc::default();
    blocks.line("<domain *>");
    write_limits(&mut blocks, p, "flow_control", fc, None, &mut gaps);
    write_mta(&mut blocks, p, &scenario.mta, &mut gaps);
    if base_list {
        blocks.line("    smtp-pattern-list mtasim-default");
    }
    blocks.line("</domain>");
    for (key, patch) in &fc.overrides {
        let at = format!("flow_control.overrides.{key}");
        let domain = match fc.key {
            KeyKind::Domain => key.clone(),
            KeyKind::Receiver => {
                match destinations.domains_of(key).and_then(|d| d.first()) {
                    Some(d) => d.clone(),
                    None => {
                        gaps.add(&at, "names no receiver of the scenario, so there is no domain to write it for");
                        continue;
                    }
                }
            }
        };
        let Ok(effective) = fc.effective(key) else {
            continue;
        };
        let touched: Vec<String> = leaves(patch).into_iter().map(|(l, _)| l).collect();
        let list = format!(
            "mtasim-{}",
            key.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        );
        let own_list = touched.iter().any(|l| l == "rules")
            && write_list(
                &mut doc,
                p,
                &list,
                &effective.rules,
                &format!("{at}.rules"),
                &mut gaps,
            );
        blocks.blank();
        blocks.line(format!("<domain {domain}>"));
        write_limits(&mut blocks, p, &at, &effective, Some(&touched), &mut gaps);
        if own_list {
            blocks.line(format!("    smtp-pattern-list {list}"));
        }
        blocks.line("</domain>");
    }
    doc.blank();
    let text = doc.text() + &blocks.text();
    let unsupported = gaps.0.len();
    assemble(
        header(MtaKind::Pmta, provenance, &gaps),
        vec![("config", text)],
        &[],
        unsupported,
    )
}

/// Writes a pattern list; false when no rule of it has a PowerMTA form.
fn write_list(
    doc: &mut Doc,
    p: &Provenance,
    name: &str,
    rules: &[RuleConfig],
    path: &str,
    gaps: &mut Gaps,
) -> bool {
    let mut lines = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("{path}.{i}");
        if let Trigger::Threshold(rate) = rule.trigger {
            gaps.add(
                &at,
                format!("PowerMTA patterns act at every match; no {rate} threshold"),
            );
            continue;
        }
        let regex = rule.pattern.replace('/', "\\/");
        let action = match rule.action {
            Action::Backoff => format!(
                "mode=backoff backoff-to-normal-after={}",
                duration_text(rule.duration.as_millis())
            ),
            Action::Suspend => format!(
                "disable-source-ip reenable-after={}",
                duration_text(rule.duration.as_millis())
            ),
            Action::Bounce | Action::Ignore | Action::Set => {
                gaps.add(&at, format!("PowerMTA patterns switch to backoff or disable the source IP; no {:?} action", rule.action));
                continue;
            }
        };
        lines.push((at, format!("reply /{regex}/ {action}")));
    }
    if lines.is_empty() {
        return false;
    }
    doc.line(format!("<smtp-pattern-list {name}>"));
    for (at, line) in lines {
        if line.contains("disable-source-ip") {
            doc.line("    # a suspension when the queue sends from this one source IP");
        }
        doc.setting(p, &at, "    ", line);
    }
    doc.line("</smtp-pattern-list>");
    doc.blank();
    true
}

fn duration_text(ms: Millis) -> String {
    if ms >= NEVER {
        return "never".into();
    }
    pmta_duration_text(ms).unwrap_or_else(|| format!("{}s", ms.div_ceil(1000)))
}

fn rate_text(rate: Option<Rate>) -> Option<String> {
    match rate {
        None => Some("unlimited".into()),
        Some(r) => pmta_rate_text(r),
    }
}

/// The limits of `<domain *>` (touched = None) or of an override (its touched fields).
fn write_limits(
    doc: &mut Doc,
    p: &Provenance,
    at: &str,
    fc: &FlowControlConfig,
    touched: Option<&[String]>,
    gaps: &mut Gaps,
) {
    let wants = |leaf: &str| {
        touched.is_none_or(|t| {
            t.iter()
                .any(|l| l == leaf || l.starts_with(&format!("{leaf}.")))
        })
    };
    let c = &fc.concurrency;
    if wants("concurrency.max") || wants("concurrency.initial") {
        doc.setting(
            p,
            &format!("{at}.concurrency.max"),
            "    ",
            format!("max-smtp-out {}", c.max),
        );
    }
    if wants("max_rate") && (touched.is_some() || fc.max_rate.is_some()) {
        match rate_text(fc.max_rate) {
            Some(r) => doc.setting(
                p,
                &format!("{at}.max_rate"),
                "    ",
                format!("max-msg-rate {r}"),
            ),
            None => gaps.add(
                format!("{at}.max_rate"),
                "PowerMTA rates have whole-second periods",
            ),
        }
    }
    let b = &fc.backoff;
    if wants("backoff.concurrency") {
        doc.setting(
            p,
            &format!("{at}.backoff.concurrency"),
            "    ",
            format!("backoff-max-smtp-out {}", b.concurrency),
        );
    }
    if wants("backoff.max_rate") && (touched.is_some() || b.max_rate.is_some()) {
        match b.max_rate {
            None if touched.is_some() => gaps.add(
                format!("{at}.backoff.max_rate"),
                "PowerMTA cannot reset backoff-max-msg-rate to the normal rate in one domain",
            ),
            rate => match rate_text(rate) {
                Some(r) => doc.setting(
                    p,
                    &format!("{at}.backoff.max_rate"),
                    "    ",
                    format!("backoff-max-msg-rate {r}"),
                ),
                None => gaps.add(
                    format!("{at}.backoff.max_rate"),
                    "PowerMTA rates have whole-second periods",
                ),
            },
        }
    }
    for (leaf, name, ms) in [
        (
            "backoff.retry_after",
            "backoff-retry-after",
            b.retry_after.as_millis(),
        ),
        (
            "backoff.to_normal_after",
            "backoff-to-normal-after",
            b.to_normal_after.as_millis(),
        ),
    ] {
        if wants(leaf) {
            doc.setting(
                p,
                &format!("{at}.{leaf}"),
                "    ",
                format!("{name} {}", duration_text(ms)),
            );
        }
    }
    if wants("backoff.to_normal_after_delivery") {
        let yes = if b.to_normal_after_delivery {
            "yes"
        } else {
            "no"
        };
        doc.setting(
            p,
            &format!("{at}.backoff.to_normal_after_delivery"),
            "    ",
            format!("backoff-to-normal-after-delivery {yes}"),
        );
    }
    if let Some(touched) = touched {
        for leaf in touched {
            let known = [
                "concurrency.max",
                "concurrency.initial",
                "max_rate",
                "rules",
            ]
            .contains(&leaf.as_str())
                || leaf.starts_with("backoff.")
                    && !leaf.starts_with("backoff.recovery")
                    && !leaf.starts_with("backoff.ramp");
            if leaf == "concurrency.initial" && c.initial != c.max || !known {
                gaps.add(format!("{at}.{leaf}"), "no PowerMTA <domain> equivalent");
            }
        }
    }
}

fn write_mta(doc: &mut Doc, p: &Provenance, mta: &MtaConfig, gaps: &mut Gaps) {
    let per_connection = match mta.max_deliveries_per_connection {
        u32::MAX => 0,
        n => n,
    };
    doc.setting(
        p,
        "mta.max_deliveries_per_connection",
        "    ",
        format!("max-msg-per-connection {per_connection}"),
    );
    let r = &mta.retry;
    let intervals: Option<Vec<Millis>> = match r.schedule {
        Schedule::Intervals => Some(r.intervals.iter().map(|d| d.as_millis()).collect()),
        Schedule::Exponential => Some(exponential(r)),
        Schedule::Postfix => None,
    };
    match intervals.and_then(|list| list.iter().map(|&ms| pmta_duration_text(ms)).collect::<Option<Vec<_>>>()) {
        Some(list) => doc.setting(p, "mta.retry", "    ", format!("retry-after {}", list.join(","))),
        None => gaps.add("mta.retry.schedule", "PowerMTA's retry-after is a list of intervals; the age-based postfix schedule (or a sub-second interval) has none"),
    }
    for (path, name, ms) in [
        ("mta.retry.max_age", "bounce-after", r.max_age.as_millis()),
        (
            "mta.connect_timeout",
            "connect-timeout",
            mta.connect_timeout.as_millis(),
        ),
        (
            "mta.greeting_timeout",
            "smtp-greeting-timeout",
            mta.greeting_timeout.as_millis(),
        ),
    ] {
        match pmta_duration_text(ms) {
            Some(text) => doc.setting(p, path, "    ", format!("{name} {text}")),
            None => gaps.add(path, "PowerMTA time intervals are whole seconds"),
        }
    }
}

/// An exponential schedule as its intervals: initial x factor^n up to max (the last
/// repeats), at most 20.
fn exponential(r: &RetryConfig) -> Vec<Millis> {
    let mut list = Vec::new();
    let mut delay = r.initial.as_millis() as f64;
    while list.len() < 20 {
        let ms = if delay >= r.max.as_millis() as f64 {
            r.max.as_millis()
        } else {
            delay as Millis
        };
        list.push(ms);
        if ms == r.max.as_millis() {
            break;
        }
        delay *= r.factor;
    }
    list
}

fn base_gaps(scenario: &Scenario, gaps: &mut Gaps) {
    let fc = &scenario.flow_control;
    let c = &fc.concurrency;
    if c.initial != c.max {
        gaps.add("flow_control.concurrency.initial", format!("PowerMTA opens connections on demand up to max-smtp-out; there is no initial concurrency ({})", c.initial));
    }
    if c != &on_demand(c.max) {
        gaps.add("flow_control.concurrency", format!("PowerMTA has no concurrency feedback or failed-cohort detection ({} / {}, {} cohorts)", c.positive_feedback, c.negative_feedback, c.failed_cohort_limit));
    }
    if fc.errors.threshold != 0 {
        gaps.add(
            "flow_control.errors",
            format!(
                "PowerMTA has no error-count threshold ({} in {}); pattern lists switch to backoff",
                fc.errors.threshold, fc.errors.window
            ),
        );
    }
    if fc.suspend.after_backoffs != 0 {
        gaps.add(
            "flow_control.suspend",
            "PowerMTA does not escalate backoffs to suspensions",
        );
    }
    if fc.backoff.recovery == Recovery::Ramp {
        gaps.add(
            "flow_control.backoff.recovery",
            "PowerMTA returns to the normal limits at once (no ramp)",
        );
    }
    let r = &scenario.mta.retry;
    if r.jitter != Jitter::None {
        gaps.add(
            "mta.retry.jitter",
            format!("PowerMTA does not jitter retries ({:?})", r.jitter),
        );
    }
    gaps.add(
        "mta.max_connections",
        format!(
            "not written: PowerMTA's limits are per queue ({} in mtasim over all destinations)",
            scenario.mta.max_connections
        ),
    );
    gaps.add(
        "mta.session_idle_timeout",
        "PowerMTA's connection-idle-timeout waits for new mail, not for the rate limit",
    );
}
