//! What every main.cf parameter and master.cf `-o` option becomes: translated,
//! approximated, reported with the reason, or refused as no Postfix parameter.

use std::collections::BTreeMap;

use super::params::is_parameter;
use super::params::nearest_parameter;
use super::params::{CLIENT_PARAMS, GLOBALS, INITIAL, PER_TRANSPORT, RECIPIENTS, TRANSPORT_DELAY};
use super::values::Params;
use super::{Config, Service};
use crate::mta::config::MtaConfig;
use crate::mta_config::diag::{ConfigError, Place, Report};
use crate::mta_config::units::postfix_time;
use crate::units::Span;

/// Reports every main.cf parameter: translated, approximated, or why not.
pub(super) fn check_parameters(
    config: &Config,
    used: &[String],
    report: &mut Report,
) -> Result<(), ConfigError> {
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
            "initial_destination_concurrency"
            | "minimal_backoff_time"
            | "maximal_backoff_time"
            | "maximal_queue_lifetime"
            | "queue_run_delay"
            | "default_transport"
            | "transport_maps"
            | "default_process_limit"
            | "smtp_connect_timeout"
            | "smtp_helo_timeout" => report.took(),
            "smtp_connection_reuse_count_limit" => {
                report.took();
                report.approximate(place, name, "mtasim's max_deliveries_per_connection caps every session; Postfix reuses cached connections only when a destination has a backlog");
            }
            "smtp_connection_cache_time_limit" => {
                report.took();
                report.approximate(place, name, "mtasim's session_idle_timeout is how long a session waits for the rate limit; Postfix's is how long an idle cached connection is kept");
            }
            "bounce_queue_lifetime" => report.skip(place, name, "mtasim has no null-sender mail"),
            "transport_retry_time" => {
                report.skip(place, name, "mtasim models no failing delivery transport")
            }
            _ if referenced.contains(&name.as_str()) => {}
            _ if !is_parameter(name) => return Err(unknown_parameter(name, &param.place)),
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
    Ok(())
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

pub(super) fn check_tables(config: &Config, params: &Params, report: &mut Report) {
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

pub(super) fn check_services(
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
                let ms = postfix_time(&param.value, 's').map_err(|e| ConfigError::Value {
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
                        let n: u32 = param.value.parse().map_err(|_| ConfigError::Value {
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
            } else if is_parameter(option) {
                report.skip(
                    place,
                    &what,
                    "not a delivery flow-control setting mtasim models",
                );
            } else {
                return Err(unknown_parameter(option, &place));
            }
        }
        if name != base_transport && service.maxproc.is_some() {
            report.skip(service.place.clone(), &format!("{name} maxproc"), "mtasim caps connections over all destinations (mta.max_connections), not per transport");
        }
    }
    Ok(())
}

/// The error for a name that is no Postfix parameter (nor a macro another value uses).
fn unknown_parameter(name: &str, place: &Place) -> ConfigError {
    ConfigError::UnknownSetting {
        place: place.clone(),
        name: name.to_string(),
        suggestion: nearest_parameter(name),
    }
}
