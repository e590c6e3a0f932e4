//! A scenario as a PowerMTA config: `domain-macro`/`queue-to` rollups, `<domain>` blocks
//! and `<smtp-pattern-list>`s; what PowerMTA cannot say is listed in the header.

use super::params::NEVER;
use crate::MtaKind;
use crate::flow_control::config::{
    Action, FlowControlConfig, KeyKind, Recovery, RuleConfig, Trigger,
};
use crate::mta::config::{MtaConfig, RetryConfig, Schedule};
use crate::mta_config::emit::{Doc, Gaps, assemble, header};
use crate::mta_config::mapping::{Destinations, leaves, on_demand};
use crate::mta_config::units::Millis;
use crate::mta_config::units::{pmta_duration_text, pmta_rate_text};
use crate::mta_config::{Exported, Provenance};
use crate::scenario::Scenario;
use crate::units::Rate;

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
            KeyKind::Receiver => match destinations.domains_of(key).and_then(|d| d.first()) {
                Some(d) => d.clone(),
                None => {
                    gaps.no_receiver(&at);
                    continue;
                }
            },
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
        header(MtaKind::Pmta, provenance, &gaps, scenario.imported.as_ref()),
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
    gaps.error_threshold(MtaKind::Pmta, fc, "; pattern lists switch to backoff");
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
    gaps.no_jitter(MtaKind::Pmta, r.jitter);
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
