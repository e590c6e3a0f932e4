//! The `flow_control` section of a scenario: serde types, defaults and validation.
//!
//! Every field is optional; the defaults are listed on each field and follow Postfix
//! (concurrency feedback), PowerMTA (backoff mode) and KumoMTA (rules) where those systems
//! have one.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::feedback::Feedback;
use crate::rate::Rate;
use crate::time::Span;
use crate::validate::{Check, Invalid, positive};

/// Most rules a policy may hold: a reply's matches fit in one `u64` ([`super::ReplyMatch`]).
pub const MAX_RULES: usize = 64;

/// Largest event count a sliding window may need (`errors.threshold`, a rule trigger's N,
/// `suspend.after_backoffs`): each window is a ring buffer of that many timestamps.
pub const MAX_WINDOW_EVENTS: u32 = 100_000;

/// Dynamic flow control for one destination (and, through `overrides`, for named ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct FlowControlConfig {
    /// What a destination is: `receiver` (MX rollup, default) or `domain`. Flow control
    /// only carries this; the embedding MTA keys its states by it.
    pub key: KeyKind,
    /// Postfix-style concurrency window with feedback.
    pub concurrency: ConcurrencyConfig,
    /// Normal-mode message rate, e.g. `"600/min"`. Omitted (default): no rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<Rate>,
    /// The error threshold that switches a destination to backoff.
    pub errors: ErrorsConfig,
    /// Limits and exit conditions of backoff mode ("dynamic flow control").
    pub backoff: BackoffConfig,
    /// Escalation from repeated backoffs to a suspension.
    pub suspend: SuspendConfig,
    /// Reply rules (regex, action, trigger, duration), at most 64. Default: none.
    pub rules: Vec<RuleConfig>,
    /// Per destination key, a partial `flow_control` object (any fields but `key` and
    /// `overrides`) deep-merged onto this one: objects merge field by field, anything else
    /// (including `rules`) replaces; `null` resets an optional field. Default: none.
    pub overrides: BTreeMap<String, Value>,
}

impl Default for FlowControlConfig {
    fn default() -> Self {
        FlowControlConfig {
            key: KeyKind::Receiver,
            concurrency: ConcurrencyConfig::default(),
            max_rate: None,
            errors: ErrorsConfig::default(),
            backoff: BackoffConfig::default(),
            suspend: SuspendConfig::default(),
            rules: Vec::new(),
            overrides: BTreeMap::new(),
        }
    }
}

/// How destinations are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// One state per receiving system (MX rollup).
    Receiver,
    /// One state per recipient domain.
    Domain,
}

/// Postfix qmgr's per-destination concurrency window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct ConcurrencyConfig {
    /// Window at start and after a dead destination restarts with nothing in flight. Default 5.
    pub initial: u32,
    /// Upper bound of the window. Default 20.
    pub max: u32,
    /// Added per attempt that got past the handshake. Default `"1"` (Postfix's).
    pub positive_feedback: Feedback,
    /// Subtracted per handshake failure. Default `"1"` (Postfix's).
    pub negative_feedback: Feedback,
    /// Failed pseudo-cohorts after which the destination is dead; 0 disables. Default 1.
    pub failed_cohort_limit: u32,
    /// How long a dead destination stays suspended. Default `"5m"` (Postfix's
    /// minimal_backoff_time).
    pub dead_backoff: Span,
    /// When accumulated feedback moves the window: `"half"` (default) with the ±feedback/2
    /// slack of every released Postfix, `"none"` with the 2007 development arithmetic that
    /// SCHEDULER_README's measurements were made with.
    pub rounding: Rounding,
}

/// The arithmetic of the feedback loops (Postfix qmgr_queue.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Rounding {
    /// Released Postfix: grow while `success + g/2 >= 1`, shrink while `failure - f/2 < 0`.
    #[default]
    Half,
    /// The 2007 development code: grow while `success >= 1`, shrink while `failure < 0`.
    None,
}

impl Default for ConcurrencyConfig {
    fn default() -> Self {
        ConcurrencyConfig {
            initial: 5,
            max: 20,
            positive_feedback: Feedback::Constant(1.0),
            negative_feedback: Feedback::Constant(1.0),
            failed_cohort_limit: 1,
            dead_backoff: Span::from_mins(5),
            rounding: Rounding::Half,
        }
    }
}

/// The error threshold: `threshold` counted outcomes within `window` mean backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct ErrorsConfig {
    /// Sliding window; an error exactly `window` old no longer counts. Default `"1m"`.
    pub window: Span,
    /// Errors within `window` that switch to backoff; 0 disables. Default 10.
    pub threshold: u32,
    /// Outcome classes that count. Default `connect`, `timeout`, `tempfail`, `internal`.
    pub count: Vec<OutcomeClass>,
}

impl Default for ErrorsConfig {
    fn default() -> Self {
        ErrorsConfig {
            window: Span::MINUTE,
            threshold: 10,
            count: vec![
                OutcomeClass::Connect,
                OutcomeClass::Timeout,
                OutcomeClass::Tempfail,
                OutcomeClass::Internal,
            ],
        }
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum OutcomeClass {
    /// Accepted by the receiver.
    Delivered,
    /// A 4xx reply.
    Tempfail,
    /// A 5xx reply.
    Permfail,
    /// Connection refused.
    Connect,
    /// Connect or greeting timed out.
    Timeout,
    /// The sending MTA's own failure (DNS, local resources).
    Internal,
}

impl OutcomeClass {
    /// Bit of this class in a class set.
    pub(super) fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The class's name, as configuration files and logs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Delivered => "delivered",
            OutcomeClass::Tempfail => "tempfail",
            OutcomeClass::Permfail => "permfail",
            OutcomeClass::Connect => "connect",
            OutcomeClass::Timeout => "timeout",
            OutcomeClass::Internal => "internal",
        }
    }
}

impl fmt::Display for OutcomeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Backoff mode (PowerMTA's `backoff-*` directives).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// Concurrency cap in backoff (the window still applies below it). Default 1.
    pub concurrency: u32,
    /// Rate in backoff. Omitted (default): the normal `max_rate`, as in PowerMTA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<Rate>,
    /// Least delay before a failed message is retried in backoff or suspension; `"0s"`
    /// means none. Default `"1h"` (PowerMTA's backoff-retry-after).
    pub retry_after: Span,
    /// Back to normal this long after the last error-threshold trigger. Default `"1h"`.
    pub to_normal_after: Span,
    /// What `to_normal_after` counts from: `"trigger"` (default), the last time the error
    /// threshold was reached; `"error"`, the last counted error, so backoff lasts until a
    /// quiet `to_normal_after` (PowerMTA-like).
    #[serde(skip_serializing_if = "Since::is_default")]
    pub to_normal_after_from: Since,
    /// Back to normal at the first delivery in backoff. Default false.
    pub to_normal_after_delivery: bool,
    /// `snap` (default): normal limits at once; `ramp`: they climb back in steps.
    pub recovery: Recovery,
    /// With `ramp`: number of equal steps from the backoff limits to the normal ones; the
    /// first step is taken on leaving backoff. Default 4.
    pub ramp_steps: u32,
    /// With `ramp`: time between steps. Default `"15m"`.
    pub ramp_interval: Span,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            concurrency: 1,
            max_rate: None,
            retry_after: Span::HOUR,
            to_normal_after: Span::HOUR,
            to_normal_after_from: Since::Trigger,
            to_normal_after_delivery: false,
            recovery: Recovery::Snap,
            ramp_steps: 4,
            ramp_interval: Span::from_mins(15),
        }
    }
}

/// What a backoff's `to_normal_after` is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Since {
    /// The last time the error threshold (or a backoff rule) fired.
    #[default]
    Trigger,
    /// The last counted error: each one, while in backoff, pushes the end out.
    Error,
}

impl Since {
    fn is_default(&self) -> bool {
        *self == Since::default()
    }
}

/// How limits come back when backoff ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Recovery {
    /// Normal limits at once (PowerMTA, KumoMTA).
    Snap,
    /// Limits climb in `ramp_steps` steps every `ramp_interval` (KumoMTA PR #594, Momentum).
    Ramp,
}

/// Escalation: `after_backoffs` backoff events within `within` suspend the destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct SuspendConfig {
    /// Backoff events (entries and re-triggers) that escalate; 0 disables. Default 3.
    pub after_backoffs: u32,
    /// Window for counting them. Default `"6h"`.
    pub within: Span,
    /// First suspension; it doubles on each consecutive escalation. Default `"2h"`.
    pub duration: Span,
    /// Cap of the doubling. Default `"16h"`.
    pub max_duration: Span,
}

impl Default for SuspendConfig {
    fn default() -> Self {
        SuspendConfig {
            after_backoffs: 3,
            within: Span::from_hours(6),
            duration: Span::from_hours(2),
            max_duration: Span::from_hours(16),
        }
    }
}

/// A reply rule (KumoMTA's traffic-shaping automation, PowerMTA's smtp-pattern-list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Regex searched in the full reply text (the `regex` crate: linear time).
    #[serde(rename = "match")]
    pub pattern: String,
    /// What happens when the rule fires.
    pub action: Action,
    /// `"immediate"` (default) or `"N/period"`: fires when N matches fall within the period.
    #[serde(default)]
    pub trigger: Trigger,
    /// How long the effect lasts after the last firing (backoff, suspend, set). Default `"1h"`.
    #[serde(default = "default_rule_duration")]
    pub duration: Span,
    /// For `set`: limit caps while in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<SetLimits>,
}

fn default_rule_duration() -> Span {
    Span::HOUR
}

/// What a rule does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Switch to (or stay in) backoff until `duration` after the last firing.
    Backoff,
    /// Suspend until `duration` after the last firing.
    Suspend,
    /// Fail the message now.
    Bounce,
    /// Do not count the outcome toward the error threshold.
    Ignore,
    /// Cap the limits with `set` until `duration` after the last firing, in any state.
    Set,
}

/// When a matching rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trigger {
    /// At every match.
    #[default]
    Immediate,
    /// When `count` matches fall within `period` (an exactly `period`-old match no longer counts).
    Threshold(Rate),
}

impl Serialize for Trigger {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Trigger::Immediate => s.serialize_str("immediate"),
            Trigger::Threshold(rate) => rate.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim() == "immediate" {
            return Ok(Trigger::Immediate);
        }
        text.parse().map(Trigger::Threshold).map_err(|e| {
            serde::de::Error::custom(format!(
                "trigger: expected \"immediate\" or \"N/period\": {e}"
            ))
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Trigger {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Trigger".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "\"immediate\", or \"N/period\" (e.g. \"2/1h\"): fires when N matches fall within the period.",
            "examples": ["immediate", "2/1h"]
        })
    }
}

/// Limit caps of a `set` rule; at least one is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetLimits {
    /// Concurrency cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Rate cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<Rate>,
}

impl FlowControlConfig {
    /// The configuration for destination `key`: the base with `overrides[key]` deep-merged
    /// onto it, and no overrides of its own. Only the merge is checked here (errors name
    /// `overrides.<key>.<field>`); [`crate::Policies::compile`] validates the result.
    pub fn effective(&self, key: &str) -> Result<FlowControlConfig, Invalid> {
        let mut base = self.clone();
        base.overrides.clear();
        let Some(patch) = self.overrides.get(key) else {
            return Ok(base);
        };
        merge_override(&base, patch).map_err(|e| e.within(&format!("overrides.{key}")))
    }

    /// Every field's own constraints, overrides aside; the rules' regexes are checked
    /// where they are compiled ([`crate::Policy::new`]).
    pub(crate) fn validate_fields(&self) -> Check {
        self.concurrency
            .validate()
            .map_err(|e| e.within("concurrency"))?;
        self.errors.validate().map_err(|e| e.within("errors"))?;
        self.backoff.validate().map_err(|e| e.within("backoff"))?;
        self.suspend.validate().map_err(|e| e.within("suspend"))?;
        if self.rules.len() > MAX_RULES {
            return Err(Invalid::new(
                "rules",
                format!("at most {MAX_RULES} rules, got {}", self.rules.len()),
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            rule.validate()
                .map_err(|e| e.within(&format!("rules[{i}]")))?;
        }
        Ok(())
    }
}

impl ConcurrencyConfig {
    fn validate(&self) -> Check {
        positive("max", self.max.into(), "the concurrency limit")?;
        positive("initial", self.initial.into(), "the initial concurrency")?;
        if self.initial > self.max {
            return Err(Invalid::new(
                "initial",
                format!(
                    "initial concurrency {} exceeds max {}",
                    self.initial, self.max
                ),
            ));
        }
        if self.failed_cohort_limit > 0 {
            positive(
                "dead_backoff",
                self.dead_backoff.as_millis(),
                "dead_backoff",
            )?;
        }
        Ok(())
    }
}

impl ErrorsConfig {
    fn validate(&self) -> Check {
        if self.threshold == 0 {
            return Ok(());
        }
        positive("window", self.window.as_millis(), "the error window")?;
        window_size("threshold", self.threshold)?;
        if self.count.is_empty() {
            return Err(Invalid::new(
                "count",
                "no outcome class counts toward the threshold; list some or set threshold to 0",
            ));
        }
        Ok(())
    }
}

impl BackoffConfig {
    fn validate(&self) -> Check {
        positive(
            "concurrency",
            self.concurrency.into(),
            "backoff concurrency",
        )?;
        positive(
            "to_normal_after",
            self.to_normal_after.as_millis(),
            "to_normal_after",
        )?;
        if self.recovery == Recovery::Ramp {
            positive("ramp_steps", self.ramp_steps.into(), "ramp_steps")?;
            positive(
                "ramp_interval",
                self.ramp_interval.as_millis(),
                "ramp_interval",
            )?;
        }
        Ok(())
    }
}

impl SuspendConfig {
    fn validate(&self) -> Check {
        if self.after_backoffs == 0 {
            return Ok(());
        }
        window_size("after_backoffs", self.after_backoffs)?;
        positive("within", self.within.as_millis(), "the escalation window")?;
        positive("duration", self.duration.as_millis(), "the suspension")?;
        if self.max_duration < self.duration {
            return Err(Invalid::new(
                "max_duration",
                format!(
                    "max_duration {} is shorter than duration {}",
                    self.max_duration, self.duration
                ),
            ));
        }
        Ok(())
    }
}

impl RuleConfig {
    fn validate(&self) -> Check {
        if let Trigger::Threshold(rate) = self.trigger {
            window_size("trigger", u32::try_from(rate.count).unwrap_or(u32::MAX))?;
        }
        if matches!(self.action, Action::Backoff | Action::Suspend | Action::Set) {
            positive("duration", self.duration.as_millis(), "a rule's duration")?;
        }
        match (self.action, &self.set) {
            (Action::Set, None) => {
                Err(Invalid::new("set", "action \"set\" needs a \"set\" object"))
            }
            (Action::Set, Some(set)) => set.validate().map_err(|e| e.within("set")),
            (_, Some(_)) => Err(Invalid::new(
                "set",
                "only action \"set\" takes a \"set\" object",
            )),
            (_, None) => Ok(()),
        }
    }
}

impl SetLimits {
    fn validate(&self) -> Check {
        if self.concurrency.is_none() && self.max_rate.is_none() {
            return Err(Invalid::new("", "give concurrency, max_rate or both"));
        }
        if let Some(c) = self.concurrency {
            positive("concurrency", c.into(), "the concurrency cap")?;
        }
        Ok(())
    }
}

/// Refuses an event count of 0 or one too large for a sliding window's ring buffer.
fn window_size(path: &str, n: u32) -> Check {
    positive(path, n.into(), "the count")?;
    if n > MAX_WINDOW_EVENTS {
        return Err(Invalid::new(
            path,
            format!("at most {MAX_WINDOW_EVENTS} events, got {n}"),
        ));
    }
    Ok(())
}

/// Deep-merges `patch` onto `base` and reads the result back. On failure, finds the first
/// patched leaf that alone fails, so the error names that field.
fn merge_override(base: &FlowControlConfig, patch: &Value) -> Result<FlowControlConfig, Invalid> {
    let Value::Object(fields) = patch else {
        return Err(Invalid::new("", "an override must be an object"));
    };
    for forbidden in ["key", "overrides"] {
        if fields.contains_key(forbidden) {
            return Err(Invalid::new(
                forbidden,
                "cannot be overridden per destination",
            ));
        }
    }
    let base = serde_json::to_value(base).expect("a config always serializes");
    let mut merged = base.clone();
    deep_merge(&mut merged, patch);
    serde_json::from_value(merged).map_err(|e| {
        let path = first_bad_leaf(&base, patch, &mut Vec::new()).unwrap_or_default();
        Invalid::new(path, e.to_string())
    })
}

/// Merges objects field by field; anything else in `patch` replaces what is in `target`.
fn deep_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                deep_merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The path of the first part of `patch` that makes `base` unreadable when merged alone:
/// the deepest such field, or the object holding it when only a combination fails.
fn first_bad_leaf(base: &Value, patch: &Value, path: &mut Vec<String>) -> Option<String> {
    if let Value::Object(fields) = patch {
        for (k, v) in fields {
            path.push(k.clone());
            let found = first_bad_leaf(base, v, path);
            path.pop();
            if found.is_some() {
                return found;
            }
        }
    }
    if path.is_empty() {
        return None;
    }
    let single = path.iter().rev().fold(patch.clone(), |inner, k| {
        Value::Object(serde_json::Map::from_iter([(k.clone(), inner)]))
    });
    let mut merged = base.clone();
    deep_merge(&mut merged, &single);
    serde_json::from_value::<FlowControlConfig>(merged)
        .is_err()
        .then(|| path.join("."))
}

/// A regex error on one line: the parser's message without its multi-line caret drawing
/// (the error already names the rule's place in the file).
pub(crate) fn regex_error(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => {
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            format!("bad regex: {}", last.trim().trim_start_matches("error: "))
        }
        _ => format!("bad regex: {}", e.to_string().trim_end_matches('.')),
    }
}
