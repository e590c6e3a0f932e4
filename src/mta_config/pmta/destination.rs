//! One destination's settings (`<domain *>` then its own block) to flow control: limits,
//! the backoff mode and the pattern list's rules.

use std::collections::BTreeMap;

use super::params::{BACKOFF_MAX_SMTP_OUT, BACKOFF_RETRY_AFTER, MAX_SMTP_OUT, NEVER};
use super::{Config, Directive, Pattern};
use crate::flow_control::config::{
    Action, BackoffConfig, FlowControlConfig, KeyKind, Recovery, RuleConfig, Trigger,
};
use crate::mta_config::diag::{ConfigError, Report};
use crate::mta_config::mapping::{bare, on_demand};
use crate::mta_config::units::Millis;
use crate::mta_config::units::{pmta_duration, pmta_rate};
use crate::units::{Rate, Span};

/// One destination's settings as PowerMTA resolves them: `<domain *>` then its own block.
#[derive(Debug, Clone, Default)]
pub(super) struct Settings {
    pub(super) values: BTreeMap<String, Directive>,
}

impl Settings {
    pub(super) fn get(&self, name: &str) -> Option<&Directive> {
        self.values.get(name)
    }
}

pub(super) fn count(d: &Directive) -> Result<u32, ConfigError> {
    d.value.parse::<u32>().map_err(|_| ConfigError::Value {
        place: d.place.clone(),
        message: format!("{} {}: expected a whole number", d.name, d.value),
    })
}

pub(super) fn rate(d: &Directive) -> Result<Option<Rate>, ConfigError> {
    pmta_rate(&d.value).map_err(|e| ConfigError::Value {
        place: d.place.clone(),
        message: format!("{}: {e}", d.name),
    })
}

pub(super) fn interval(d: &Directive, text: &str) -> Result<Millis, ConfigError> {
    if text == "never" {
        return Ok(NEVER);
    }
    pmta_duration(text).map_err(|e| ConfigError::Value {
        place: d.place.clone(),
        message: format!("{}: {e}", d.name),
    })
}

fn boolean(d: &Directive) -> Result<bool, ConfigError> {
    match d.value.as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        other => Err(ConfigError::Value {
            place: d.place.clone(),
            message: format!("{} {other}: expected yes, no, true or false", d.name),
        }),
    }
}

/// The flow control of one resolved destination.
pub(super) fn destination(
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
        return Err(ConfigError::Value {
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
        let patterns = config
            .lists
            .get(&d.value)
            .ok_or_else(|| ConfigError::Value {
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

pub(super) fn rules(
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
                pmta_duration(v).map_err(|e| ConfigError::Value {
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
