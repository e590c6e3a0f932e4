//! Postfix: the queue manager's flow-control parameters in `main.cf` (and their
//! per-transport forms), the delivery services of `master.cf`, and a `transport_maps`
//! table that sends domains to dedicated transports: mtasim's per-destination overrides.
//!
//! Postfix keeps one queue per (transport, destination domain), so an import keys flow
//! control by domain. The queue manager reads `<transport>_destination_*` from main.cf
//! only: a `-o` override of one in a delivery service's master.cf entry has no effect
//! there (TUNING_README: "in main.cf since this is a queue manager parameter"), and the
//! import says so instead of applying it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::diag::{ConfigError, Place, Report, Text};
use super::emit::{Doc, Gaps, assemble, header};
use super::mapping::{self, Destinations, bare, json, leaves, neutral_backoff};
use super::units::{Millis, SECOND, per};
use super::units::{postfix_time, postfix_time_text};
use super::{Exported, Imported, Provenance, Source};
use crate::MtaKind;
use crate::flow_control::Feedback;
use crate::flow_control::config::{ConcurrencyConfig, FlowControlConfig, KeyKind, Rounding};
use crate::mta::config::{Jitter, MtaConfig, RetryConfig, Schedule};
use crate::scenario::Scenario;
use crate::units::{Rate, Span};

/// The per-transport queue-manager parameters: suffix after `<transport>`, the global
/// parameter it defaults to, and Postfix's default (mail_params.h).
const INITIAL: (&str, &str, &str) = (
    "_initial_destination_concurrency",
    "initial_destination_concurrency",
    "5",
);
const LIMIT: (&str, &str, &str) = (
    "_destination_concurrency_limit",
    "default_destination_concurrency_limit",
    "20",
);
const POSITIVE: (&str, &str, &str) = (
    "_destination_concurrency_positive_feedback",
    "default_destination_concurrency_positive_feedback",
    "1",
);
const NEGATIVE: (&str, &str, &str) = (
    "_destination_concurrency_negative_feedback",
    "default_destination_concurrency_negative_feedback",
    "1",
);
const COHORTS: (&str, &str, &str) = (
    "_destination_concurrency_failed_cohort_limit",
    "default_destination_concurrency_failed_cohort_limit",
    "1",
);
const RATE_DELAY: (&str, &str, &str) = (
    "_destination_rate_delay",
    "default_destination_rate_delay",
    "0s",
);
const RECIPIENTS: (&str, &str, &str) = (
    "_destination_recipient_limit",
    "default_destination_recipient_limit",
    "50",
);
const TRANSPORT_DELAY: (&str, &str, &str) = (
    "_transport_rate_delay",
    "default_transport_rate_delay",
    "0s",
);
const PER_TRANSPORT: [(&str, &str, &str); 8] = [
    INITIAL,
    LIMIT,
    POSITIVE,
    NEGATIVE,
    COHORTS,
    RATE_DELAY,
    RECIPIENTS,
    TRANSPORT_DELAY,
];

/// Global parameters and their defaults.
const GLOBALS: &[(&str, &str)] = &[
    ("minimal_backoff_time", "300s"),
    ("maximal_backoff_time", "4000s"),
    ("maximal_queue_lifetime", "5d"),
    ("bounce_queue_lifetime", "5d"),
    ("queue_run_delay", "300s"),
    ("default_transport", "smtp"),
    ("transport_maps", ""),
    ("default_process_limit", "100"),
    ("smtp_connect_timeout", "30s"),
    ("smtp_helo_timeout", "300s"),
    ("smtp_connection_reuse_count_limit", "0"),
    ("smtp_connection_cache_time_limit", "2s"),
    ("transport_retry_time", "60s"),
];

/// Delivery-agent (smtp client) parameters a `-o` may set for one transport.
const CLIENT_PARAMS: &[&str] = &[
    "smtp_connect_timeout",
    "smtp_helo_timeout",
    "smtp_connection_reuse_count_limit",
    "smtp_connection_cache_time_limit",
];

/// A parameter as written: its raw value and where.
#[derive(Debug, Clone)]
struct Param {
    value: String,
    place: Place,
}

/// A master.cf service that delivers mail.
#[derive(Debug, Clone)]
struct Service {
    place: Place,
    maxproc: Option<(String, Place)>,
    options: Vec<(String, Param)>,
}

#[derive(Debug, Default)]
struct Config {
    main: BTreeMap<String, Param>,
    /// Delivery services by name (smtp and lmtp commands); None without a master.cf.
    services: Option<BTreeMap<String, Service>>,
    /// Transport table: domain -> (transport, nexthop, place, file).
    table: Vec<(String, String, String, Place)>,
    tables: Vec<(String, Place)>,
}

pub fn import(sources: &[Source], into: &Scenario) -> Result<Imported, ConfigError> {
    let mut report = Report::default();
    let mut config = Config::default();
    for source in sources {
        let text = Text::new(&source.name, &source.text);
        let base = source
            .name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&source.name);
        if base.ends_with("master.cf") {
            read_master(&text, &mut config, &mut report)?;
        } else if base.ends_with(".cf") {
            read_main(&text, &mut config, &mut report)?;
        } else {
            read_table(&text, &mut config)?;
            config.tables.push((base.to_string(), text.place(0)));
        }
    }
    let scenario = build(&config, sources, into, &mut report)?;
    Ok(report.finish(scenario))
}

/// Postfix's logical lines: a line starting with whitespace continues the previous one;
/// blank lines and lines whose first non-blank character is `#` are skipped. Yields the
/// text, the byte offset of its start, and the offsets of each joined piece.
fn logical_lines(text: &Text, report: &mut Report) -> Vec<(String, usize)> {
    let mut lines: Vec<(String, usize)> = Vec::new();
    let mut offset = 0;
    for raw in text.text.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match lines.last_mut() {
                Some((logical, _)) => {
                    logical.push(' ');
                    logical.push_str(trimmed);
                }
                None => report.skip(
                    text.place(start),
                    "continuation line",
                    "it continues no preceding text (Postfix ignores it too)",
                ),
            }
            continue;
        }
        lines.push((line.to_string(), start));
    }
    lines
}

fn read_main(text: &Text, config: &mut Config, report: &mut Report) -> Result<(), ConfigError> {
    for (line, start) in logical_lines(text, report) {
        let name_len = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .unwrap_or(line.len());
        let rest = line[name_len..].trim_start();
        if name_len == 0 || !rest.starts_with('=') {
            return Err(text.error(
                start + name_len,
                "syntax error: expected `name = value` (a parameter name, then =)",
            ));
        }
        let name = line[..name_len].to_string();
        let value = rest[1..].trim().to_string();
        config.main.insert(
            name,
            Param {
                value,
                place: text.place(start),
            },
        );
    }
    Ok(())
}

fn read_master(text: &Text, config: &mut Config, report: &mut Report) -> Result<(), ConfigError> {
    let services = config.services.get_or_insert_with(BTreeMap::new);
    let mut others = Vec::new();
    for (line, start) in logical_lines(text, report) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return Err(text.error(
                start,
                format!(
                    "syntax error: a master.cf entry has 8 fields (service type private unpriv chroot wakeup maxproc command), this one has {}",
                    fields.len()
                ),
            ));
        }
        let place = text.place(start);
        let command = fields[7].rsplit('/').next().unwrap_or(fields[7]);
        let delivers = fields[1] == "unix" && matches!(command, "smtp" | "lmtp");
        if !delivers && command != "qmgr" {
            others.push(format!("{} ({})", fields[0], fields[1]));
            continue;
        }
        let options = read_options(&fields[8..], &place)?;
        if command == "qmgr" {
            for (name, param) in options {
                config.main.insert(name, param);
            }
            continue;
        }
        let maxproc = (fields[6] != "-").then(|| (fields[6].to_string(), place.clone()));
        services.insert(
            fields[0].to_string(),
            Service {
                place,
                maxproc,
                options,
            },
        );
    }
    if !others.is_empty() {
        report.skip(
            text.place(0),
            "master.cf",
            format!(
                "services that deliver no outbound mail ({}) are not flow control",
                others.join(", ")
            ),
        );
    }
    Ok(())
}

/// `-o name=value` and `-o { name = value }` arguments of a master.cf command.
fn read_options(args: &[&str], place: &Place) -> Result<Vec<(String, Param)>, ConfigError> {
    let joined = args.join(" ");
    let mut options = Vec::new();
    let mut rest = joined.as_str();
    while let Some(i) = rest.find("-o") {
        rest = rest[i + 2..].trim_start();
        let (pair, tail) = if let Some(body) = rest.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| ConfigError {
                place: place.clone(),
                message: "syntax error: `-o {` without its closing `}`".into(),
            })?;
            (body[..end].trim(), &body[end + 1..])
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        let (name, value) = pair.split_once('=').ok_or_else(|| ConfigError {
            place: place.clone(),
            message: format!("syntax error: `-o {pair}` is not name=value"),
        })?;
        options.push((
            name.trim().to_string(),
            Param {
                value: value.trim().to_string(),
                place: place.clone(),
            },
        ));
        rest = tail;
    }
    Ok(options)
}

fn read_table(text: &Text, config: &mut Config) -> Result<(), ConfigError> {
    let mut quiet = Report::default();
    for (line, start) in logical_lines(text, &mut quiet) {
        let mut parts = line.splitn(2, char::is_whitespace);
        let key = parts.next().unwrap_or_default();
        let value = parts.next().unwrap_or_default().trim();
        if value.is_empty() {
            return Err(text.error(
                start + key.len(),
                "syntax error: a transport table entry is `pattern transport:nexthop`",
            ));
        }
        let (transport, nexthop) = value.split_once(':').unwrap_or((value, ""));
        config.table.push((
            key.to_ascii_lowercase(),
            transport.to_string(),
            nexthop.to_string(),
            text.place(start),
        ));
    }
    Ok(())
}

/// Parameter lookup with `$name`, `${name}`, `$(name)`, `${name?text}` and `${name:text}`
/// expanded, as Postfix does for main.cf values.
struct Params<'c> {
    main: &'c BTreeMap<String, Param>,
}

impl Params<'_> {
    fn raw(&self, name: &str) -> Option<&str> {
        if let Some(p) = self.main.get(name) {
            return Some(&p.value);
        }
        GLOBALS
            .iter()
            .copied()
            .chain(
                PER_TRANSPORT
                    .iter()
                    .map(|&(_, global, default)| (global, default)),
            )
            .find(|(n, _)| *n == name)
            .map(|(_, default)| default)
    }

    fn get(&self, name: &str) -> String {
        self.expand(self.raw(name).unwrap_or(""), 0)
    }

    fn expand(&self, value: &str, depth: usize) -> String {
        if depth > 20 || !value.contains('$') {
            return value.to_string();
        }
        let mut out = String::new();
        let mut chars = value.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '$' {
                out.push(c);
                continue;
            }
            let rest = &value[i + 1..];
            let (name, cond, len) = match rest.chars().next() {
                Some('$') => {
                    out.push('$');
                    chars.next();
                    continue;
                }
                Some(open @ ('{' | '(')) => {
                    let close = if open == '{' { '}' } else { ')' };
                    match rest.find(close) {
                        Some(end) => {
                            let inner = &rest[1..end];
                            match inner.find(['?', ':']) {
                                Some(k) => (
                                    &inner[..k],
                                    Some((&inner[k..k + 1], &inner[k + 1..])),
                                    end + 1,
                                ),
                                None => (inner, None, end + 1),
                            }
                        }
                        None => (rest, None, rest.len()),
                    }
                }
                _ => {
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    (&rest[..end], None, end)
                }
            };
            let found = self.expand(self.raw(name).unwrap_or(""), depth + 1);
            match cond {
                None => out += &found,
                Some(("?", text)) if !found.is_empty() => out += &self.expand(text, depth + 1),
                Some((":", text)) if found.is_empty() => out += &self.expand(text, depth + 1),
                Some(_) => {}
            }
            for _ in 0..rest[..len].chars().count() {
                chars.next();
            }
        }
        out
    }

    /// Transport `t`'s value of a per-transport parameter, and whether main.cf sets it for
    /// `t` itself.
    fn transport(&self, t: &str, param: (&str, &str, &str)) -> (String, bool) {
        let own = format!("{t}{}", param.0);
        if self.main.contains_key(&own) {
            return (self.get(&own), true);
        }
        (self.get(param.1), false)
    }

    fn place(&self, name: &str) -> Option<&Place> {
        self.main.get(name).map(|p| &p.place)
    }
}

/// One transport's flow control.
#[derive(Debug, Clone, PartialEq)]
struct Transport {
    concurrency: ConcurrencyConfig,
    max_rate: Option<Rate>,
    /// Which of initial, max, positive, negative, cohorts, rate main.cf sets for it.
    explicit: [bool; 6],
}

fn number(params: &Params, name: &str, value: &str) -> Result<u32, ConfigError> {
    value.parse().map_err(|_| {
        error_at(
            params,
            name,
            format!("{name} = {value}: expected a whole number"),
        )
    })
}

fn time(params: &Params, name: &str, value: &str) -> Result<Millis, ConfigError> {
    postfix_time(value, 's').map_err(|e| error_at(params, name, format!("{name}: {e}")))
}

fn error_at(params: &Params, name: &str, message: String) -> ConfigError {
    ConfigError {
        place: params.place(name).cloned().unwrap_or_default(),
        message,
    }
}

/// Postfix feedback: `number`, `number/number` or `number/concurrency`, in 0..1.
fn feedback(
    params: &Params,
    name: &str,
    value: &str,
    report: &mut Report,
) -> Result<Feedback, ConfigError> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let place = params.place(name).cloned().unwrap_or_default();
    let bad = || {
        error_at(
            params,
            name,
            format!(
                "{name} = {value}: expected number, number/number or number/concurrency in 0..1"
            ),
        )
    };
    let (numerator, per_concurrency) = match compact.split_once('/') {
        Some((n, "concurrency")) => (n.parse::<f64>().map_err(|_| bad())?, true),
        Some((n, d)) => {
            let d: f64 = d.parse().map_err(|_| bad())?;
            (n.parse::<f64>().map_err(|_| bad())? / d, false)
        }
        None => (compact.parse::<f64>().map_err(|_| bad())?, false),
    };
    if !(0.0..=1.0).contains(&numerator) {
        return Err(bad());
    }
    if numerator == 0.0 {
        report.approximate(place, name, "mtasim needs feedback above 0: 1/1000 (one window step per 1000 deliveries) stands in for none");
        return Ok(Feedback::Constant(0.001));
    }
    if per_concurrency {
        if numerator != 1.0 {
            report.approximate(place, name, format!("mtasim's variable feedback is 1/concurrency; {numerator}/concurrency is read as that"));
        }
        return Ok(Feedback::InverseConcurrency);
    }
    Ok(Feedback::Constant(numerator))
}

fn read_transport(
    params: &Params,
    t: &str,
    dead_backoff: Millis,
    fallback_limit: u32,
    report: &mut Report,
) -> Result<Transport, ConfigError> {
    let names = |p: (&str, &str, &str)| -> (String, String, bool) {
        let (value, own) = params.transport(t, p);
        let name = if own {
            format!("{t}{}", p.0)
        } else {
            p.1.to_string()
        };
        (name, value, own)
    };
    let (n, v, own_initial) = names(INITIAL);
    let initial = number(params, &n, &v)?;
    if initial == 0 {
        return Err(error_at(params, &n, format!("{n} = 0: must be at least 1")));
    }
    let (n, v, own_limit) = names(LIMIT);
    let mut limit = number(params, &n, &v)?;
    if limit == 0 {
        report.approximate(
            params.place(&n).cloned().unwrap_or_default(),
            &n,
            format!("0 means no limit in Postfix; mtasim's window needs one: the process limit {fallback_limit}"),
        );
        limit = fallback_limit;
    }
    let (n, v, own_positive) = names(POSITIVE);
    let positive = feedback(params, &n, &v, report)?;
    let (n, v, own_negative) = names(NEGATIVE);
    let negative = feedback(params, &n, &v, report)?;
    let (n, v, own_cohorts) = names(COHORTS);
    let cohorts = number(params, &n, &v)?;
    let (n, v, own_rate) = names(RATE_DELAY);
    let delay = time(params, &n, &v)?;
    let (max_rate, max, initial) = if delay > 0 {
        if params.main.contains_key(&n) {
            report.approximate(
                params.place(&n).cloned().unwrap_or_default(),
                &n,
                "forces concurrency 1 as in Postfix; Postfix waits the delay after each delivery ends, mtasim spaces delivery starts by it",
            );
        }
        (Some(per(1, delay)), 1, 1)
    } else {
        (None, limit, initial.min(limit))
    };
    Ok(Transport {
        concurrency: ConcurrencyConfig {
            initial,
            max,
            positive_feedback: positive,
            negative_feedback: negative,
            failed_cohort_limit: cohorts,
            dead_backoff: Span::from_millis(dead_backoff),
            rounding: Rounding::Half,
        },
        max_rate,
        explicit: [
            own_initial || own_rate,
            own_limit || own_rate,
            own_positive,
            own_negative,
            own_cohorts,
            own_rate,
        ],
    })
}

fn build(
    config: &Config,
    sources: &[Source],
    into: &Scenario,
    report: &mut Report,
) -> Result<Scenario, ConfigError> {
    let params = Params { main: &config.main };
    let default_transport = params.get("default_transport");
    let default_transport = default_transport
        .split(':')
        .next()
        .unwrap_or("smtp")
        .to_string();
    let base_transport = config
        .table
        .iter()
        .find(|(k, ..)| k == "*")
        .map(|(_, t, ..)| t.clone())
        .unwrap_or(default_transport);
    let mut used: Vec<String> = vec![base_transport.clone()];
    let mut mta = postfix_mta(&params, config, &base_transport, into, report)?;
    let dead_backoff = mta.retry.initial.as_millis();
    let process_limit = mta.max_connections;
    let base = read_transport(
        &params,
        &base_transport,
        dead_backoff,
        process_limit,
        report,
    )?;
    let mut fc = bare(KeyKind::Domain, base.concurrency.clone());
    fc.max_rate = base.max_rate;
    let destinations = Destinations::new(into);
    let mut transports: BTreeMap<String, Transport> = BTreeMap::new();
    transports.insert(base_transport.clone(), base.clone());
    for (domain, transport, nexthop, place) in &config.table {
        if domain == "*" {
            report.took();
            continue;
        }
        if domain.starts_with('.') || domain.contains('@') {
            report.skip(place.clone(), domain, "mtasim's destinations are whole domains: subdomain and address patterns do not apply");
            continue;
        }
        if destinations.receiver_of(domain).is_none() {
            report.skip(place.clone(), domain, "no receiver of the scenario has this domain; add one (or import --into a scenario that has it)");
            continue;
        }
        if !nexthop.is_empty() {
            report.approximate(
                place.clone(),
                domain,
                format!(
                    "Postfix queues by nexthop ({nexthop}); mtasim keys flow control by domain"
                ),
            );
        }
        let t = if transport.is_empty() {
            base_transport.as_str()
        } else {
            transport.as_str()
        };
        if let Some(services) = &config.services
            && !services.contains_key(t)
        {
            report.skip(place.clone(), domain, format!("transport {t:?} is not a delivery service of master.cf (Postfix would defer this mail)"));
            continue;
        }
        if !used.iter().any(|u| u == t) {
            used.push(t.to_string());
        }
        if !transports.contains_key(t) {
            let own = read_transport(&params, t, dead_backoff, process_limit, report)?;
            transports.insert(t.to_string(), own);
        }
        let patch = transport_patch(&base, &transports[t]);
        report.took();
        if !patch.is_null() {
            fc.overrides.insert(domain.clone(), patch);
        }
    }
    check_parameters(config, &used, report);
    check_tables(config, &params, report);
    if let Some(services) = &config.services {
        check_services(services, &base_transport, &mut mta, report)?;
    }
    fc.backoff = neutral_backoff(&fc);
    let mut scenario = into.clone();
    scenario.flow_control = fc;
    scenario.mta = mta;
    scenario.description = mapping::description(MtaKind::Postfix, sources, into);
    mapping::validated(scenario, sources)
}

/// The override of a dedicated transport: what main.cf sets for it, and what differs from
/// the base transport because the base sets its own value.
fn transport_patch(base: &Transport, own: &Transport) -> Value {
    let mut patch = Value::Null;
    let (b, o) = (&base.concurrency, &own.concurrency);
    let fields: [(&str, Value, Value); 5] = [
        ("concurrency.initial", json(b.initial), json(o.initial)),
        ("concurrency.max", json(b.max), json(o.max)),
        (
            "concurrency.positive_feedback",
            json(b.positive_feedback),
            json(o.positive_feedback),
        ),
        (
            "concurrency.negative_feedback",
            json(b.negative_feedback),
            json(o.negative_feedback),
        ),
        (
            "concurrency.failed_cohort_limit",
            json(b.failed_cohort_limit),
            json(o.failed_cohort_limit),
        ),
    ];
    for (i, (path, base_value, value)) in fields.into_iter().enumerate() {
        if own.explicit[i] || base_value != value {
            mapping::set(&mut patch, path, value);
        }
    }
    if own.explicit[5] || base.max_rate != own.max_rate {
        mapping::set(&mut patch, "max_rate", json(own.max_rate));
    }
    patch
}

/// The `mta` section from Postfix's global parameters and its defaults.
fn postfix_mta(
    params: &Params,
    config: &Config,
    base_transport: &str,
    into: &Scenario,
    report: &mut Report,
) -> Result<MtaConfig, ConfigError> {
    let t = |name: &str| time(params, name, &params.get(name));
    let minimal = t("minimal_backoff_time")?;
    let mut maximal = t("maximal_backoff_time")?;
    let mut lifetime = t("maximal_queue_lifetime")?;
    if minimal == 0 {
        return Err(error_at(
            params,
            "minimal_backoff_time",
            "minimal_backoff_time must be longer than 0".into(),
        ));
    }
    if maximal < minimal {
        report.approximate(
            params
                .place("maximal_backoff_time")
                .cloned()
                .unwrap_or_default(),
            "maximal_backoff_time",
            "shorter than minimal_backoff_time: mtasim uses minimal_backoff_time for both",
        );
        maximal = minimal;
    }
    if lifetime == 0 {
        report.approximate(
            params
                .place("maximal_queue_lifetime")
                .cloned()
                .unwrap_or_default(),
            "maximal_queue_lifetime",
            "0 (one attempt only) becomes 1s in mtasim",
        );
        lifetime = SECOND;
    }
    let process_limit = match config
        .services
        .as_ref()
        .and_then(|s| s.get(base_transport))
        .and_then(|s| s.maxproc.clone())
    {
        Some((value, place)) => {
            value
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(ConfigError {
                    place,
                    message: format!("maxproc {value:?}: expected a positive number or -"),
                })?
        }
        None => number(
            params,
            "default_process_limit",
            &params.get("default_process_limit"),
        )?,
    };
    let reuse = number(
        params,
        "smtp_connection_reuse_count_limit",
        &params.get("smtp_connection_reuse_count_limit"),
    )?;
    let connect = t("smtp_connect_timeout")?;
    let helo = t("smtp_helo_timeout")?;
    for (name, value) in [
        ("smtp_connect_timeout", connect),
        ("smtp_helo_timeout", helo),
    ] {
        if value == 0 {
            return Err(error_at(
                params,
                name,
                format!("{name} = 0: mtasim needs a positive timeout"),
            ));
        }
    }
    Ok(MtaConfig {
        max_connections: process_limit,
        connect_timeout: Span::from_millis(connect),
        greeting_timeout: Span::from_millis(helo),
        max_deliveries_per_connection: if reuse == 0 { u32::MAX } else { reuse },
        session_idle_timeout: Span::from_millis(t("smtp_connection_cache_time_limit")?),
        retry: RetryConfig {
            schedule: Schedule::Postfix,
            initial: Span::from_millis(minimal),
            factor: 2.0,
            max: Span::from_millis(maximal),
            intervals: Vec::new(),
            jitter: Jitter::None,
            max_age: Span::from_millis(lifetime),
            ..RetryConfig::default()
        },
        ..into.mta.clone()
    })
}

/// Reports every main.cf parameter: translated, approximated, or why not.
fn check_parameters(config: &Config, used: &[String], report: &mut Report) {
    let mut unrelated = Vec::new();
    let referenced: Vec<&str> = config
        .main
        .values()
        .flat_map(|p| p.value.split('$').skip(1))
        .map(|r| {
            let r = r.trim_start_matches(['{', '(']);
            let end = r
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(r.len());
            &r[..end]
        })
        .collect();
    for (name, param) in &config.main {
        let place = param.place.clone();
        if let Some((t, suffix)) = per_transport(name) {
            let transport_known = t == "default" || used.iter().any(|u| u == t);
            match suffix {
                s if s == RECIPIENTS.0 => {
                    if param.value.trim() == "1" {
                        report.approximate(place, name, "a recipient limit of 1 makes Postfix's destination a recipient; mtasim's messages have one recipient and destinations stay domains");
                    } else {
                        report.skip(place, name, "mtasim's messages have one recipient each");
                    }
                }
                s if s == TRANSPORT_DELAY.0 => {
                    report.skip(
                        place,
                        name,
                        "mtasim has no rate limit over all the destinations of a transport",
                    );
                }
                _ if !transport_known => {
                    report.skip(
                        place,
                        name,
                        format!("transport {t:?} delivers none of the scenario's destinations"),
                    );
                }
                _ => report.took(),
            }
            continue;
        }
        match name.as_str() {
            "initial_destination_concurrency" | "minimal_backoff_time" | "maximal_backoff_time" | "maximal_queue_lifetime"
            | "default_transport" | "transport_maps" | "default_process_limit"
            | "smtp_connect_timeout" | "smtp_helo_timeout" => report.took(),
            "smtp_connection_reuse_count_limit" => {
                report.took();
                report.approximate(place, name, "mtasim's max_deliveries_per_connection caps every session; Postfix reuses cached connections only when a destination has a backlog");
            }
            "smtp_connection_cache_time_limit" => {
                report.took();
                report.approximate(place, name, "mtasim's session_idle_timeout is how long a session waits for the rate limit; Postfix's is how long an idle cached connection is kept");
            }
            "queue_run_delay" => report.skip(place, name, "mtasim retries each message when its delay ends; Postfix scans the deferred queue every queue_run_delay, which adds up to that much to each retry"),
            "bounce_queue_lifetime" => report.skip(place, name, "mtasim has no null-sender mail"),
            "transport_retry_time" => report.skip(place, name, "mtasim models no failing delivery transport"),
            _ if referenced.contains(&name.as_str()) => {}
            _ => unrelated.push(format!("{name} (line {})", param.place.line)),
        }
    }
    if let Some(first) = config.main.values().map(|p| p.place.clone()).min()
        && !unrelated.is_empty()
    {
        report.skip(
            Place {
                line: first.line,
                ..first
            },
            "main.cf",
            format!(
                "{} parameters are not delivery flow control: {}",
                unrelated.len(),
                unrelated.join(", ")
            ),
        );
    }
}

/// Splits `<transport><suffix>` for the per-transport queue-manager parameters.
fn per_transport(name: &str) -> Option<(&str, &str)> {
    if name == INITIAL.1 {
        return None;
    }
    PER_TRANSPORT.iter().find_map(|(suffix, _, _)| {
        name.strip_suffix(suffix)
            .filter(|t| !t.is_empty())
            .map(|t| (t, *suffix))
    })
}

fn check_tables(config: &Config, params: &Params, report: &mut Report) {
    let maps = params.get("transport_maps");
    for (base, place) in &config.tables {
        if !config.main.is_empty() && !maps.contains(base.as_str()) {
            report.approximate(
                place.clone(),
                base,
                format!(
                    "transport_maps ({maps:?}) does not name this table; it is read as if it did"
                ),
            );
        }
    }
}

fn check_services(
    services: &BTreeMap<String, Service>,
    base_transport: &str,
    mta: &mut MtaConfig,
    report: &mut Report,
) -> Result<(), ConfigError> {
    for (name, service) in services {
        if name == base_transport && service.maxproc.is_some() {
            report.took();
        }
        for (option, param) in &service.options {
            let place = param.place.clone();
            let what = format!("{name} -o {option}");
            if per_transport(option).is_some()
                || GLOBALS.iter().any(|(g, _)| g == option)
                    && !CLIENT_PARAMS.contains(&option.as_str())
            {
                report.skip(place, &what, "a queue manager parameter has no effect in a delivery service's -o; set it in main.cf");
            } else if CLIENT_PARAMS.contains(&option.as_str()) && name == base_transport {
                let ms = postfix_time(&param.value, 's').map_err(|e| ConfigError {
                    place: place.clone(),
                    message: format!("{what}: {e}"),
                });
                match option.as_str() {
                    "smtp_connect_timeout" => mta.connect_timeout = Span::from_millis(ms?),
                    "smtp_helo_timeout" => mta.greeting_timeout = Span::from_millis(ms?),
                    "smtp_connection_cache_time_limit" => {
                        mta.session_idle_timeout = Span::from_millis(ms?)
                    }
                    _ => {
                        let n: u32 = param.value.parse().map_err(|_| ConfigError {
                            place: place.clone(),
                            message: format!("{what}: expected a whole number"),
                        })?;
                        mta.max_deliveries_per_connection = if n == 0 { u32::MAX } else { n };
                    }
                }
                report.took();
            } else if CLIENT_PARAMS.contains(&option.as_str()) {
                report.skip(
                    place,
                    &what,
                    "mtasim's timeouts and connection reuse are MTA-wide, not per transport",
                );
            } else {
                report.skip(
                    place,
                    &what,
                    "not a delivery flow-control setting mtasim models",
                );
            }
        }
        if name != base_transport && service.maxproc.is_some() {
            report.skip(service.place.clone(), &format!("{name} maxproc"), "mtasim caps connections over all destinations (mta.max_connections), not per transport");
        }
    }
    Ok(())
}

// ---- export ----

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
        header(MtaKind::Postfix, provenance, &gaps),
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
                    gaps.add(
                        format!("flow_control.overrides.{key}"),
                        "names no receiver of the scenario, so there is no domain to route",
                    );
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
    if fc.errors.threshold != 0 {
        gaps.add(
            "flow_control.errors",
            format!(
                "Postfix has no error-count threshold ({} in {})",
                fc.errors.threshold, fc.errors.window
            ),
        );
    }
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
    if r.jitter != Jitter::None {
        gaps.add(
            "mta.retry.jitter",
            format!("Postfix does not jitter retries ({:?})", r.jitter),
        );
    }
}
