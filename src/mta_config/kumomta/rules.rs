//! Automation rules (regex, action, trigger, duration) to mtasim rules: one per action,
//! every `SetConfig` of a rule in one `set` rule.

use super::params::RULE;
use super::read::{duration, limit, throttle};
use super::toml_tree::{self, Field, Kind, Node, get};
use crate::flow_control::config::{Action, KeyKind, RuleConfig, SetLimits, Trigger};
use crate::mta_config::diag::{ConfigError, Report};
use crate::mta_config::mapping::{self, json};
use crate::mta_config::notes::trigger_about;
use crate::mta_config::settings::unknown;
use crate::mta_config::units::Millis;
use crate::mta_config::units::{kumo_throttle, per};
use crate::units::Span;

/// Turns KumoMTA automation rules into mtasim rules: one per action (a rule's actions all
/// fire together, so they split into rules with the same regex, trigger and duration),
/// with every `SetConfig` of a rule combined into one `set` rule.
pub(super) fn read_rules(
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
        Some(f) => {
            let trigger = read_trigger(f, what, duration, report)?;
            if let (Trigger::Threshold(rate), Kind::Table(t)) = (trigger, &f.node.value)
                && let [spec] = t.as_slice()
                && kumo_throttle(spec.node.str(what)?).map(|t| t.rate) != Ok(rate)
            {
                report.written(
                    trigger_about(&pattern),
                    json(trigger),
                    format!("{{Threshold={}}}", toml_tree::string(spec.node.str(what)?)),
                );
            }
            trigger
        }
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
            other => {
                return Err(unknown(f.place.clone(), other, RULE.iter().map(|s| s.name)));
            }
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
