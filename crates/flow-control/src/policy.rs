//! A validated configuration in the form the state machine runs on: regexes compiled
//! once, class lists as bit sets, every override merged once.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::RegexSet;

use crate::OutcomeClass;
use crate::config::{Action, FlowControlConfig, Recovery, Since, Trigger, regex_error};
use crate::feedback::WindowParams;
use crate::rate::Rate;
use crate::time::Span;
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

/// The rules of each action, as a set.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ByAction {
    backoff: ReplyMatch,
    suspend: ReplyMatch,
    bounce: ReplyMatch,
    ignore: ReplyMatch,
    set: ReplyMatch,
}

impl ByAction {
    fn get(&self, action: Action) -> &ReplyMatch {
        match action {
            Action::Backoff => &self.backoff,
            Action::Suspend => &self.suspend,
            Action::Bounce => &self.bounce,
            Action::Ignore => &self.ignore,
            Action::Set => &self.set,
        }
    }

    fn get_mut(&mut self, action: Action) -> &mut ReplyMatch {
        match action {
            Action::Backoff => &mut self.backoff,
            Action::Suspend => &mut self.suspend,
            Action::Bounce => &mut self.bounce,
            Action::Ignore => &mut self.ignore,
            Action::Set => &mut self.set,
        }
    }
}

/// One rule, compiled.
#[derive(Debug)]
pub(super) struct Rule {
    /// The regex source, shared with every [`crate::Reason`] that names this rule.
    pub pattern: Arc<str>,
    pub action: Action,
    pub trigger: Trigger,
    pub duration: Span,
    pub set_concurrency: Option<u32>,
    pub set_rate: Option<Rate>,
}

/// A compiled flow-control configuration, shared (via `Arc`) by every destination using it.
#[derive(Debug)]
pub struct Policy {
    pub(super) window: WindowParams,
    pub(super) dead_backoff: Span,
    pub(super) max_rate: Option<Rate>,
    pub(super) error_window: Span,
    pub(super) error_threshold: u32,
    /// Bit set of [`crate::OutcomeClass::bit`] for the counted classes.
    pub(super) counted: u8,
    pub(super) backoff_concurrency: u32,
    pub(super) backoff_rate: Option<Rate>,
    pub(super) retry_after: Span,
    pub(super) to_normal_after: Span,
    /// Whether every counted error in backoff pushes its end out (`to_normal_after_from:
    /// "error"`).
    pub(super) quiet: bool,
    pub(super) to_normal_after_delivery: bool,
    /// `(steps, interval)` when recovery ramps.
    pub(super) ramp: Option<(u32, Span)>,
    pub(super) escalate_after: u32,
    pub(super) escalate_within: Span,
    pub(super) suspend_duration: Span,
    pub(super) suspend_max: Span,
    pub(super) rules: Vec<Rule>,
    matcher: RegexSet,
    /// Rules per action, for one-instruction tests in `record`.
    pub(super) by_action: ByAction,
}

impl Policy {
    /// Errors within [`Policy::error_window`] that switch to backoff (0: never).
    pub fn error_threshold(&self) -> u32 {
        self.error_threshold
    }

    /// The error count's sliding window.
    pub fn error_window(&self) -> Span {
        self.error_window
    }

    /// Whether an attempt of `class` whose reply matched `matched` counts toward the error
    /// threshold: its class is counted (`errors.count`) and no `ignore` rule matched it.
    pub fn counts_as_error(&self, class: OutcomeClass, matched: ReplyMatch) -> bool {
        self.counted & class.bit() != 0 && matched.and(self.with_action(Action::Ignore)).is_empty()
    }

    /// Validates `config` and compiles it as it stands: its `overrides` are neither
    /// applied nor checked ([`Policies::compile`] does both).
    pub fn new(config: &FlowControlConfig) -> Result<Policy, Invalid> {
        config.validate_fields()?;
        let matcher = compile_rules(config)?;
        let rules: Vec<Rule> = config
            .rules
            .iter()
            .map(|r| Rule {
                pattern: r.pattern.as_str().into(),
                action: r.action,
                trigger: r.trigger,
                duration: r.duration,
                set_concurrency: r.set.and_then(|s| s.concurrency),
                set_rate: r.set.and_then(|s| s.max_rate),
            })
            .collect();
        let mut by_action = ByAction::default();
        for (i, rule) in rules.iter().enumerate() {
            by_action.get_mut(rule.action).0 |= 1 << i;
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
                rounding: c.rounding,
            },
            dead_backoff: c.dead_backoff,
            max_rate: config.max_rate,
            error_window: config.errors.window,
            error_threshold: config.errors.threshold,
            counted: config.errors.count.iter().fold(0, |set, c| set | c.bit()),
            backoff_concurrency: b.concurrency,
            backoff_rate: b.max_rate.or(config.max_rate),
            retry_after: b.retry_after,
            to_normal_after: b.to_normal_after,
            quiet: b.to_normal_after_from == Since::Error,
            to_normal_after_delivery: b.to_normal_after_delivery,
            ramp: (b.recovery == Recovery::Ramp).then_some((b.ramp_steps, b.ramp_interval)),
            escalate_after: s.after_backoffs,
            escalate_within: s.within,
            suspend_duration: s.duration,
            suspend_max: s.max_duration,
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
        *self.by_action.get(action)
    }
}

/// The rules' regexes as one set. When the set does not compile, names the first rule
/// that does not compile alone, or all of them together (each may fit the regex size
/// limit while the set does not).
fn compile_rules(config: &FlowControlConfig) -> Result<RegexSet, Invalid> {
    let patterns = config.rules.iter().map(|r| r.pattern.as_str());
    RegexSet::new(patterns).map_err(|set_error| {
        config
            .rules
            .iter()
            .enumerate()
            .find_map(|(i, rule)| {
                let e = regex::Regex::new(&rule.pattern).err()?;
                Some(Invalid::new(format!("rules[{i}].match"), regex_error(&e)))
            })
            .unwrap_or_else(|| Invalid::new("rules", regex_error(&set_error)))
    })
}

/// Index of a policy in its [`Policies`]: 0 is the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PolicyIndex(pub u16);

/// Every policy of one configuration: the base, then one per overridden destination key
/// (in key order), each merged, validated and compiled once and shared by every
/// destination that uses it.
#[derive(Debug, Clone)]
pub struct Policies {
    policies: Vec<Arc<Policy>>,
    by_key: BTreeMap<String, PolicyIndex>,
}

impl Policies {
    /// Validates and compiles `config` and each of its overrides. Errors name the field
    /// relative to the section: `overrides.yahoo.backoff.retry_after`.
    pub fn compile(config: &FlowControlConfig) -> Result<Policies, Invalid> {
        let mut policies = vec![Arc::new(Policy::new(config)?)];
        let mut by_key = BTreeMap::new();
        for key in config.overrides.keys() {
            let merged = config.effective(key)?;
            let policy = Policy::new(&merged).map_err(|e| e.within(&format!("overrides.{key}")))?;
            by_key.insert(key.clone(), PolicyIndex(policies.len() as u16));
            policies.push(Arc::new(policy));
        }
        Ok(Policies { policies, by_key })
    }

    /// The policy of destination `key`: its override's, else the base.
    pub fn index_of(&self, key: &str) -> PolicyIndex {
        self.by_key.get(key).copied().unwrap_or_default()
    }

    pub fn get(&self, index: PolicyIndex) -> &Arc<Policy> {
        &self.policies[usize::from(index.0)]
    }
}
