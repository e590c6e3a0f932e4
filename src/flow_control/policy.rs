//! A validated configuration in the form the state machine runs on: regexes compiled
//! once, durations as plain milliseconds, class lists as bit sets.

use std::sync::Arc;

use regex::RegexSet;

use super::config::{Action, FlowControlConfig, Recovery, Trigger};
use super::feedback::WindowParams;
use crate::units::{Millis, Rate};
use crate::validate::Invalid;

/// Which rules matched one reply: bit `i` is rule `i`. Callers cache it per distinct reply
/// text so no regex runs per attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReplyMatch(pub u64);

impl ReplyMatch {
    /// No rule matched (also the value for a reply-less outcome).
    pub const NONE: ReplyMatch = ReplyMatch(0);

    /// Whether rule `index` matched.
    pub fn contains(self, index: usize) -> bool {
        index < 64 && self.0 & (1 << index) != 0
    }

    /// The matched rule indices, lowest first.
    pub fn indices(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            let index = (bits != 0).then(|| bits.trailing_zeros() as usize)?;
            bits &= bits - 1;
            Some(index)
        })
    }

    /// Rules in both sets.
    pub(super) fn and(self, other: ReplyMatch) -> ReplyMatch {
        ReplyMatch(self.0 & other.0)
    }

    pub(super) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The lowest matched index.
    pub(super) fn first(self) -> Option<usize> {
        (!self.is_empty()).then(|| self.0.trailing_zeros() as usize)
    }
}

/// One rule, compiled.
#[derive(Debug)]
pub(super) struct Rule {
    /// The regex source, shared with every [`super::Reason`] that names this rule.
    pub pattern: Arc<str>,
    pub action: Action,
    pub trigger: Trigger,
    pub duration: Millis,
    pub set_concurrency: Option<u32>,
    pub set_rate: Option<Rate>,
}

/// A compiled flow-control configuration, shared (via `Arc`) by every destination using it.
#[derive(Debug)]
pub struct Policy {
    pub(super) window: WindowParams,
    pub(super) dead_backoff: Millis,
    pub(super) max_rate: Option<Rate>,
    pub(super) error_window: Millis,
    pub(super) error_threshold: u32,
    /// Bit set of [`super::OutcomeClass::bit`] for the counted classes.
    pub(super) counted: u8,
    pub(super) backoff_concurrency: u32,
    pub(super) backoff_rate: Option<Rate>,
    pub(super) retry_after: Millis,
    pub(super) to_normal_after: Millis,
    pub(super) to_normal_after_delivery: bool,
    /// `(steps, interval)` when recovery ramps.
    pub(super) ramp: Option<(u32, Millis)>,
    pub(super) escalate_after: u32,
    pub(super) escalate_within: Millis,
    pub(super) suspend_duration: Millis,
    pub(super) suspend_max: Millis,
    pub(super) rules: Vec<Rule>,
    matcher: RegexSet,
    /// Rules per action, for one-instruction tests in `record`.
    pub(super) by_action: [ReplyMatch; 5],
}

impl Policy {
    /// Validates `config` (overrides included) and compiles it as it stands: its
    /// `overrides` are not applied. For a destination with an override, compile
    /// [`FlowControlConfig::effective`] of its key (one policy per overridden key).
    pub fn new(config: &FlowControlConfig) -> Result<Policy, Invalid> {
        config.validate()?;
        let matcher = RegexSet::new(config.rules.iter().map(|r| r.pattern.as_str()))
            .map_err(|e| Invalid::new("rules", super::config::regex_error(&e)))?;
        let rules: Vec<Rule> = config
            .rules
            .iter()
            .map(|r| Rule {
                pattern: r.pattern.as_str().into(),
                action: r.action,
                trigger: r.trigger,
                duration: r.duration.0,
                set_concurrency: r.set.and_then(|s| s.concurrency),
                set_rate: r.set.and_then(|s| s.max_rate),
            })
            .collect();
        let mut by_action = [ReplyMatch::NONE; 5];
        for (i, rule) in rules.iter().enumerate() {
            by_action[rule.action as usize].0 |= 1 << i;
        }
        let c = &config.concurrency;
        let b = &config.backoff;
        let s = &config.suspend;
        Ok(Policy {
            window: WindowParams {
                initial: c.initial,
                max: c.max,
                positive: c.positive_feedback,
                negative: c.negative_feedback,
                failed_cohort_limit: c.failed_cohort_limit,
            },
            dead_backoff: c.dead_backoff.0,
            max_rate: config.max_rate,
            error_window: config.errors.window.0,
            error_threshold: config.errors.threshold,
            counted: config.errors.count.iter().fold(0, |set, c| set | c.bit()),
            backoff_concurrency: b.concurrency,
            backoff_rate: b.max_rate.or(config.max_rate),
            retry_after: b.retry_after.0,
            to_normal_after: b.to_normal_after.0,
            to_normal_after_delivery: b.to_normal_after_delivery,
            ramp: (b.recovery == Recovery::Ramp).then_some((b.ramp_steps, b.ramp_interval.0)),
            escalate_after: s.after_backoffs,
            escalate_within: s.within.0,
            suspend_duration: s.duration.0,
            suspend_max: s.max_duration.0,
            rules,
            matcher,
            by_action,
        })
    }

    /// Which rules match this reply text.
    pub fn classify(&self, reply: &str) -> ReplyMatch {
        ReplyMatch(
            self.matcher
                .matches(reply)
                .iter()
                .fold(0, |bits, i| bits | 1 << i),
        )
    }

    /// The rules with this action.
    pub(super) fn with_action(&self, action: Action) -> ReplyMatch {
        self.by_action[action as usize]
    }
}
