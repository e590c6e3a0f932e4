//! A scenario as KumoMTA shaping TOML: the `default` table, one domain table per override
//! (MX rollup applies it to the receiver's site), automation rules, the queue helper's
//! `[queue.default]`; what KumoMTA cannot say is listed in the header.

use serde_json::Value;

use super::toml_tree::{self};
use crate::MtaKind;
use crate::flow_control::Feedback;
use crate::flow_control::config::{Action, KeyKind, RuleConfig, Trigger};
use crate::mta::config::{Jitter, MtaConfig, Schedule};
use crate::mta_config::ImportNotes;
use crate::mta_config::emit::{Doc, Gaps, assemble, header};
use crate::mta_config::mapping::{Destinations, json, leaves, neutral_backoff};
use crate::mta_config::notes::trigger_about;
use crate::mta_config::units::{Millis, SECOND};
use crate::mta_config::units::{kumo_rate, per};
use crate::mta_config::{Exported, Provenance};
use crate::scenario::Scenario;

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
        scenario.imported.as_ref(),
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
        header(
            MtaKind::KumoMta,
            provenance,
            &gaps,
            scenario.imported.as_ref(),
        ),
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
    gaps.error_threshold(
        MtaKind::KumoMta,
        fc,
        "; automation rules react to reply text",
    );
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
    notes: Option<&ImportNotes>,
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
        // A trigger the import approximated is written as KumoMTA's file had it.
        let as_written = notes.and_then(|n| {
            n.written(
                MtaKind::KumoMta,
                &trigger_about(&rule.pattern),
                &json(rule.trigger),
            )
        });
        let trigger = match (rule.trigger, as_written) {
            (Trigger::Immediate, _) => None,
            (Trigger::Threshold(_), Some(text)) => Some(format!("trigger = {text}")),
            (Trigger::Threshold(rate), None) => {
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
                gaps.no_receiver(&at);
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
    // A limit the import took from a provider table is written as that table again.
    let provider = scenario.imported.as_ref().and_then(|n| {
        n.written(
            MtaKind::KumoMta,
            &format!("{at}.concurrency.max"),
            &json(effective.concurrency.max),
        )
    });
    if let Some(table) = provider
        && !doc.has(table)
    {
        doc.comment(
            "provider-wide, as imported: KumoMTA shares it among the sites the provider matches",
        );
        for line in table.lines() {
            doc.line(line);
        }
        doc.blank();
    }
    doc.line(format!("[{}]", toml_tree::string(&domain)));
    if fc.key == KeyKind::Domain {
        doc.line("mx_rollup = false");
    }
    let mut rules = None;
    for (leaf, value) in leaves(patch) {
        let path = format!("{at}.{leaf}");
        match leaf.as_str() {
            "concurrency.max" if provider.is_some() => {}
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
                scenario.imported.as_ref(),
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
