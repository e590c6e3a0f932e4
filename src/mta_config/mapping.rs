//! The mtasim side of every mapping: the flow control an MTA without mtasim's extra
//! mechanisms amounts to, destination names, and override objects.

use serde_json::{Map, Value};

use super::Source;
use super::diag::{ConfigError, Place};
use crate::MtaKind;
use crate::flow_control::Feedback;
use crate::flow_control::config::{
    BackoffConfig, ConcurrencyConfig, ErrorsConfig, FlowControlConfig, KeyKind, Recovery,
    SuspendConfig,
};
use crate::scenario::Scenario;
use crate::units::Span;

/// Flow control with none of the mechanisms the MTA lacks: no error threshold, no
/// escalation to suspension, no rules, and (see [`neutral_backoff`]) a backoff that is
/// normal mode under another name.
pub fn bare(key: KeyKind, concurrency: ConcurrencyConfig) -> FlowControlConfig {
    FlowControlConfig {
        key,
        concurrency,
        errors: ErrorsConfig {
            threshold: 0,
            ..ErrorsConfig::default()
        },
        suspend: SuspendConfig {
            after_backoffs: 0,
            ..SuspendConfig::default()
        },
        ..FlowControlConfig::default()
    }
}

/// mtasim passes through backoff after every suspension (a dead destination's too). For an
/// MTA without a backoff mode that backoff must change nothing: the normal limits (a cap
/// at the largest concurrency of any destination, the normal rate), no retry floor, and
/// back to normal at the first delivery or after one second.
pub fn neutral_backoff(config: &FlowControlConfig) -> BackoffConfig {
    let largest = config
        .overrides
        .keys()
        .filter_map(|key| config.effective(key).ok())
        .map(|c| c.concurrency.max)
        .fold(config.concurrency.max, u32::max);
    BackoffConfig {
        concurrency: largest,
        max_rate: None,
        retry_after: Span::from_millis(0),
        to_normal_after: Span::SECOND,
        to_normal_after_delivery: true,
        recovery: Recovery::Snap,
        ..BackoffConfig::default()
    }
}

/// The concurrency of an MTA that opens connections on demand up to a limit, with no
/// feedback and no dead-destination detection (KumoMTA, PowerMTA): the window starts at the
/// limit, positive feedback 1 refills it at once, and 1/concurrency is the mildest negative
/// feedback (mtasim's window always gives up one slot at a handshake failure).
pub fn on_demand(limit: u32) -> ConcurrencyConfig {
    ConcurrencyConfig {
        initial: limit,
        max: limit,
        positive_feedback: Feedback::Constant(1.0),
        negative_feedback: Feedback::InverseConcurrency,
        failed_cohort_limit: 0,
        ..ConcurrencyConfig::default()
    }
}

/// The scenario's receivers by domain, to name the destination a domain's settings are for.
pub struct Destinations<'a> {
    scenario: &'a Scenario,
}

impl<'a> Destinations<'a> {
    pub fn new(scenario: &'a Scenario) -> Self {
        Destinations { scenario }
    }

    /// The named receiver that delivers `domain`.
    pub fn receiver_of(&self, domain: &str) -> Option<&'a str> {
        self.scenario
            .receivers
            .iter()
            .find(|r| r.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)))
            .and_then(|r| r.name.as_deref())
    }

    /// The domains of the named receiver `name`.
    pub fn domains_of(&self, name: &str) -> Option<&'a [String]> {
        self.scenario
            .receivers
            .iter()
            .find(|r| r.name.as_deref() == Some(name))
            .map(|r| r.domains.as_slice())
    }

    /// Named receivers with their domains, in scenario order.
    pub fn receivers(&self) -> impl Iterator<Item = (&'a str, &'a [String])> + 'a {
        self.scenario
            .receivers
            .iter()
            .filter_map(|r| Some((r.name.as_deref()?, r.domains.as_slice())))
    }

    /// The override key for settings the MTA gives to `domain`: the domain itself when
    /// destinations are domains, else its receiver; None when no receiver has it.
    pub fn key_of(&self, key: KeyKind, domain: &str) -> Option<String> {
        match key {
            KeyKind::Domain => Some(domain.to_ascii_lowercase()),
            KeyKind::Receiver => self.receiver_of(domain).map(str::to_string),
        }
    }
}

/// Sets `path` (dotted) in an override object, creating the objects on the way.
pub fn set(patch: &mut Value, path: &str, value: Value) {
    let mut node = patch;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let map = node.as_object_mut().expect("made an object");
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        node = map.entry(part).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The leaves of an override object as (dotted path, value); arrays are leaves.
pub fn leaves(patch: &Value) -> Vec<(String, &Value)> {
    fn walk<'v>(value: &'v Value, prefix: &str, out: &mut Vec<(String, &'v Value)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(v, &path, out);
                }
            }
            other => out.push((prefix.to_string(), other)),
        }
    }
    let mut out = Vec::new();
    walk(patch, "", &mut out);
    out
}

/// The description of an imported scenario.
pub fn description(format: MtaKind, sources: &[Source], into: &Scenario) -> String {
    let files: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    format!(
        "Flow control and retry imported from {} configuration {} by mtasim import-config; receivers and traffic from scenario {:?}.",
        format.title(),
        files.join(", "),
        into.name
    )
}

/// The imported scenario, checked like any loaded one; a failure is the configuration's
/// (reported at the first file).
pub fn validated(scenario: Scenario, sources: &[Source]) -> Result<Scenario, ConfigError> {
    let invalid = |e: crate::scenario::ScenarioError| ConfigError::Invalid {
        place: Place {
            file: sources.first().map(|s| s.name.clone()).unwrap_or_default(),
            line: 1,
            column: 0,
        },
        path: e.path,
        message: e.message,
    };
    crate::scenario::compile(&scenario).map_err(invalid)?;
    Ok(scenario)
}

/// A regex error on one line: the parser's last line (without its caret drawing).
pub fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    format!("bad regex: {}", last.trim().trim_start_matches("error: "))
}

/// A value as JSON (for override objects).
pub fn json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("config values serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json as j;

    #[test]
    fn set_builds_nested_objects_and_leaves_reads_them_back() {
        let mut patch = Value::Null;
        set(&mut patch, "concurrency.max", j!(10));
        set(&mut patch, "concurrency.initial", j!(10));
        set(&mut patch, "max_rate", j!("60/h"));
        set(
            &mut patch,
            "rules",
            j!([{"match": "x", "action": "suspend"}]),
        );
        assert_eq!(
            patch,
            j!({"concurrency": {"max": 10, "initial": 10}, "max_rate": "60/h",
                "rules": [{"match": "x", "action": "suspend"}]})
        );
        let paths: Vec<String> = leaves(&patch).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "concurrency.initial",
                "concurrency.max",
                "max_rate",
                "rules"
            ]
        );
    }

    #[test]
    fn neutral_backoff_caps_at_the_largest_destination_concurrency() {
        let mut config = bare(KeyKind::Receiver, on_demand(10));
        config.overrides.insert(
            "gmail".into(),
            j!({"concurrency": {"initial": 40, "max": 40}}),
        );
        let backoff = neutral_backoff(&config);
        assert_eq!(backoff.concurrency, 40);
        assert_eq!(backoff.retry_after, Span::from_millis(0));
        assert!(backoff.to_normal_after_delivery);
    }
}
