//! main.cf, master.cf and the transport table to a scenario: the base transport's queue
//! manager parameters, one override per domain routed to another transport, and the MTA's
//! retry, timeouts and process limit.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Config;
use super::checks::{check_parameters, check_services, check_tables};
use super::params::{COHORTS, INITIAL, LIMIT, NEGATIVE, POSITIVE, RATE_DELAY};
use super::read::{read_main, read_master, read_table};
use super::values::Params;
use crate::MtaKind;
use crate::flow_control::Feedback;
use crate::flow_control::config::{ConcurrencyConfig, FlowControlConfig, KeyKind, Rounding};
use crate::mta::config::{Jitter, MtaConfig, OnSuspension, RetryConfig, Schedule};
use crate::mta_config::diag::{ConfigError, Place, Report, Text};
use crate::mta_config::dialect::Dialect;
use crate::mta_config::mapping::{self, Destinations, bare, json, neutral_backoff};
use crate::mta_config::units::postfix_time;
use crate::mta_config::units::{Millis, SECOND, per};
use crate::scenario::Scenario;
use crate::units::{Rate, Span};

/// Postfix's main.cf (any `*.cf` but master.cf), master.cf and transport tables (any
/// other file name).
pub(in crate::mta_config) struct Postfix;

impl Dialect for Postfix {
    type Config = Config;
    const KIND: MtaKind = MtaKind::Postfix;

    fn read(text: &Text, config: &mut Config, report: &mut Report) -> Result<(), ConfigError> {
        let base = text.name.rsplit(['/', '\\']).next().unwrap_or(text.name);
        if base.ends_with("master.cf") {
            read_master(text, config, report)
        } else if base.ends_with(".cf") {
            read_main(text, config, report)
        } else {
            read_table(text, config)?;
            config.tables.push((base.to_string(), text.place(0)));
            Ok(())
        }
    }

    /// The transport table's domains (not its `*`, `.domain` and `user@domain` patterns).
    fn domains(config: &Config) -> Result<Vec<(String, Place)>, ConfigError> {
        Ok(config
            .table
            .iter()
            .filter(|(d, ..)| d != "*" && !d.starts_with('.') && !d.contains('@'))
            .map(|(d, _, _, place)| (d.clone(), place.clone()))
            .collect())
    }

    fn build(
        config: &Config,
        into: &Scenario,
        report: &mut Report,
    ) -> Result<(FlowControlConfig, MtaConfig), ConfigError> {
        build(config, into, report)
    }
}

/// One transport's flow control.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Transport {
    pub(super) concurrency: ConcurrencyConfig,
    pub(super) max_rate: Option<Rate>,
    /// Which of initial, max, positive, negative, cohorts, rate main.cf sets for it.
    pub(super) explicit: [bool; 6],
}

pub(super) fn number(params: &Params, name: &str, value: &str) -> Result<u32, ConfigError> {
    value.parse().map_err(|_| {
        error_at(
            params,
            name,
            format!("{name} = {value}: expected a whole number"),
        )
    })
}

pub(super) fn time(params: &Params, name: &str, value: &str) -> Result<Millis, ConfigError> {
    postfix_time(value, 's').map_err(|e| error_at(params, name, format!("{name}: {e}")))
}

fn error_at(params: &Params, name: &str, message: String) -> ConfigError {
    ConfigError::Value {
        place: params.place(name).cloned().unwrap_or_default(),
        message,
    }
}

/// Postfix feedback: `number`, `number/number` or `number/concurrency`, in 0..1.
pub(super) fn feedback(
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
    // Postfix's `number/concurrency` for any number in 0..1 is read as mtasim's one
    // variable feedback; the rest is mtasim's feedback syntax, read by its one parser.
    if let Some(n) = compact.strip_suffix("/concurrency") {
        let n: f64 = n.parse().map_err(|_| bad())?;
        if !(0.0..=1.0).contains(&n) {
            return Err(bad());
        }
        if n == 0.0 {
            return Ok(Feedback::Constant(0.0));
        }
        if n != 1.0 {
            report.approximate(
                place,
                name,
                format!(
                    "mtasim's variable feedback is 1/concurrency; {n}/concurrency is read as that"
                ),
            );
        }
        return Ok(Feedback::InverseConcurrency);
    }
    match compact.parse::<Feedback>() {
        Ok(f @ Feedback::Constant(_)) => Ok(f),
        _ => Err(bad()),
    }
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
    into: &Scenario,
    report: &mut Report,
) -> Result<(FlowControlConfig, MtaConfig), ConfigError> {
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
            report.no_receiver(place.clone(), domain);
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
    check_parameters(config, &used, report)?;
    check_tables(config, &params, report);
    if let Some(services) = &config.services {
        check_services(services, &base_transport, &mut mta, report)?;
    }
    fc.backoff = neutral_backoff(&fc);
    Ok((fc, mta))
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
                .ok_or(ConfigError::Value {
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
    let queue_run = t("queue_run_delay")?;
    for (name, value) in [
        ("smtp_connect_timeout", connect),
        ("smtp_helo_timeout", helo),
        ("queue_run_delay", queue_run),
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
        on_suspension: OnSuspension::Defer,
        session_idle_timeout: Span::from_millis(t("smtp_connection_cache_time_limit")?),
        retry: RetryConfig {
            schedule: Schedule::Postfix,
            initial: Span::from_millis(minimal),
            factor: 2.0,
            max: Span::from_millis(maximal),
            intervals: Vec::new(),
            jitter: Jitter::None,
            max_age: Span::from_millis(lifetime),
            queue_run_delay: Some(Span::from_millis(queue_run)),
            ..RetryConfig::default()
        },
        ..into.mta.clone()
    })
}
