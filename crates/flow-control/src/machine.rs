//! The per-destination state machine: normal, backoff, suspended.

use std::fmt;
use std::sync::Arc;

use crate::config::{Action, OutcomeClass, Trigger};
use crate::feedback::Window;
use crate::policy::{Policy, ReplyMatch};
use crate::rate::{Rate, TokenBucket};
use crate::time::{Instant, Span};
use crate::window::EventWindow;

/// A destination's flow-control state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// The concurrency window and `max_rate` apply.
    Normal,
    /// "Dynamic flow control": the backoff limits apply.
    Backoff,
    /// Nothing may start.
    Suspended,
}

impl State {
    /// Every state, in the order reports list them.
    pub const ALL: [State; 3] = [State::Normal, State::Backoff, State::Suspended];

    /// The state's name in logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Normal => "normal",
            State::Backoff => "backoff",
            State::Suspended => "suspended",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one delivery attempt ended, as [`FlowControl::record`] needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub class: OutcomeClass,
    /// [`Policy::classify`] of the reply text ([`ReplyMatch::NONE`] without a reply).
    pub matched: ReplyMatch,
    /// The attempt failed at connect or greeting (refused, timed out, 421 at greeting):
    /// negative concurrency feedback. Otherwise, except for `internal`, positive feedback.
    pub handshake: bool,
}

/// The answer to [`FlowControl::permit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Start the delivery now (a rate token was taken).
    Granted,
    /// The concurrency limit is reached: ask again when a delivery completes.
    AtLimit,
    /// The rate limit holds it back: ask again at this time.
    NotBefore(Instant),
    /// Nothing may start before `until`.
    Suspended { until: Instant },
}

/// What the MTA should do with the message whose attempt was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It was delivered.
    Delivered,
    /// Retry it, not sooner than `min_delay` from now (the backoff `retry_after` while in
    /// backoff or suspended, else 0; the MTA's own schedule may ask for longer).
    Retry { min_delay: Span },
    /// Fail it now: a 5xx (`rule: None`) or a `bounce` rule fired (`rule: Some(index)`).
    Bounce { rule: Option<usize> },
}

/// Why a transition happened. Display gives the text for transitions.csv.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// The error threshold was reached.
    Errors { count: u32, window: Span },
    /// Rule `index` fired.
    Rule {
        index: usize,
        pattern: Arc<str>,
        trigger: Trigger,
    },
    /// The backoff set by rule `index` ran out.
    RuleExpired {
        index: usize,
        pattern: Arc<str>,
        duration: Span,
    },
    /// Backoff lasted `to_normal_after` without a new trigger.
    ToNormalAfter(Span),
    /// The first delivery in backoff (`to_normal_after_delivery`).
    FirstDelivery,
    /// A suspension ended (the state goes to backoff).
    SuspensionOver,
    /// `cohorts` failed pseudo-cohorts: the destination is dead.
    DeadDestination { cohorts: u32 },
    /// `backoffs` backoff events within `within`.
    Escalation { backoffs: u32, within: Span },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Errors { count, window } => {
                let s = if *count == 1 { "" } else { "s" };
                write!(f, "{count} error{s} within {}", window)
            }
            Reason::Rule {
                index,
                pattern,
                trigger: Trigger::Immediate,
            } => write!(f, "rule {index} ({pattern}) matched"),
            Reason::Rule {
                index,
                pattern,
                trigger: Trigger::Threshold(rate),
            } => write!(
                f,
                "rule {index} ({pattern}) matched {} within {}",
                rate.count, rate.period
            ),
            Reason::RuleExpired {
                index,
                pattern,
                duration,
            } => write!(
                f,
                "rule {index} ({pattern}) expired {} after its last match",
                duration
            ),
            Reason::ToNormalAfter(d) => {
                write!(f, "to_normal_after {} elapsed", d)
            }
            Reason::FirstDelivery => f.write_str("first delivery"),
            Reason::SuspensionOver => f.write_str("suspension over"),
            Reason::DeadDestination { cohorts } => {
                let s = if *cohorts == 1 { "" } else { "s" };
                write!(f, "dead destination: {cohorts} failed cohort{s}")
            }
            Reason::Escalation { backoffs, within } => {
                write!(f, "{backoffs} backoffs within {}", within)
            }
        }
    }
}

/// One state change.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub at: Instant,
    pub from: State,
    pub to: State,
    pub reason: Reason,
}

/// What ends the current backoff when its deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackoffCause {
    /// The error threshold or a suspension's end: `to_normal_after`.
    ToNormalAfter,
    /// Backoff rule `index`: its `duration` after its last firing (rules are few: a
    /// `u32` keeps the cause, and so the state machine, small).
    Rule(u32),
}

/// Recovery in steps after backoff (`recovery: "ramp"`).
#[derive(Debug, Clone, Copy)]
struct Ramp {
    /// Steps taken, 1..ramp_steps.
    step: u32,
    next: Instant,
}

/// What only a destination that has left normal needs: its backoff and suspension
/// deadlines, escalation, ramp, counters and undrained transitions. Most destinations of a
/// large sender never leave normal, so this is boxed and created on the first transition.
#[derive(Debug, Clone)]
struct Trouble {
    backoff_events: EventWindow,
    suspended_until: Instant,
    /// The current suspension is a dead destination's: restart the window at its end.
    restart_window: bool,
    backoff_until: Instant,
    backoff_cause: BackoffCause,
    ramp: Option<Ramp>,
    /// Consecutive escalations so far (the suspension is `duration << level`).
    escalation_level: u32,
    /// When the last escalation's suspension ended.
    escalation_end: Instant,
    transitions: Vec<Transition>,
    backoff_entries: u64,
    suspensions: u64,
}

impl Trouble {
    fn new(policy: &Policy) -> Box<Trouble> {
        Box::new(Trouble {
            backoff_events: EventWindow::new(policy.escalate_after, policy.escalate_within),
            suspended_until: Instant::ZERO,
            restart_window: false,
            backoff_until: Instant::ZERO,
            backoff_cause: BackoffCause::ToNormalAfter,
            ramp: None,
            escalation_level: 0,
            escalation_end: Instant::ZERO,
            transitions: Vec::new(),
            backoff_entries: 0,
            suspensions: 0,
        })
    }
}

/// One destination's flow control. Feed it every attempt's end ([`FlowControl::record`]),
/// ask it before every start ([`FlowControl::permit`]), and call
/// [`FlowControl::advance`] at [`FlowControl::next_wakeup`].
#[derive(Debug, Clone)]
pub struct FlowControl {
    policy: Arc<Policy>,
    state: State,
    window: Window,
    /// Deliveries running: the last `permit` argument, plus grants, minus records since.
    in_flight: u32,
    errors: EventWindow,
    /// Per rule, its threshold trigger's recent matches.
    rule_hits: Box<[EventWindow]>,
    /// Per rule, when its `set` caps end (meaningful for rules in `set_active`).
    set_until: Box<[Instant]>,
    set_active: ReplyMatch,
    bucket: Option<TokenBucket>,
    /// Concurrency cap of the state, ramp and `set` rules (the window applies below it).
    cap: u32,
    rate: Option<Rate>,
    /// None until the first transition out of normal.
    trouble: Option<Box<Trouble>>,
}

impl FlowControl {
    /// A destination first seen at `now`: normal, window at `concurrency.initial`.
    pub fn new(policy: Arc<Policy>, now: Instant) -> Self {
        let p = &policy;
        let rule_hits = p
            .rules
            .iter()
            .map(|r| match r.trigger {
                Trigger::Immediate => EventWindow::new(0, Span::ZERO),
                Trigger::Threshold(rate) => EventWindow::new(rate.count as u32, rate.period),
            })
            .collect();
        let mut fc = FlowControl {
            state: State::Normal,
            window: Window::new(p.window.initial),
            in_flight: 0,
            errors: EventWindow::new(p.error_threshold, p.error_window),
            rule_hits,
            set_until: vec![Instant::ZERO; p.rules.len()].into_boxed_slice(),
            set_active: ReplyMatch::NONE,
            bucket: None,
            cap: u32::MAX,
            rate: None,
            trouble: None,
            policy,
        };
        fc.refresh(now);
        fc
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Deliveries that may be in flight now: 0 while suspended, else the window capped by
    /// the backoff concurrency, the ramp and any `set` rule in effect.
    pub fn concurrency_limit(&self) -> u32 {
        match self.state {
            State::Suspended => 0,
            _ => self.window.size.min(self.cap),
        }
    }

    /// The feedback window alone (Postfix's `window`), before any cap.
    pub fn window(&self) -> u32 {
        self.window.size
    }

    /// The rate in force (None: unlimited). While suspended: the backoff rate that follows.
    pub fn rate_limit(&self) -> Option<Rate> {
        self.rate
    }

    /// Backoff events so far: transitions into backoff (from normal or a suspension's end).
    pub fn backoff_entries(&self) -> u64 {
        self.trouble.as_ref().map_or(0, |t| t.backoff_entries)
    }

    /// Transitions into suspended so far (an extended suspension counts once).
    pub fn suspensions(&self) -> u64 {
        self.trouble.as_ref().map_or(0, |t| t.suspensions)
    }

    /// Least delay before a failed message may be retried: `backoff.retry_after` in backoff
    /// or suspended, else 0.
    pub fn retry_floor(&self) -> Span {
        match self.state {
            State::Normal => Span::ZERO,
            State::Backoff | State::Suspended => self.policy.retry_after,
        }
    }

    /// Asks to start one delivery with `in_flight` already running to this destination.
    /// Fires due timers first, so a suspension ending at `now` already grants.
    pub fn permit(&mut self, now: Instant, in_flight: u32) -> Permit {
        self.advance(now);
        self.in_flight = in_flight;
        if self.state == State::Suspended {
            return Permit::Suspended {
                until: self.troubled().suspended_until,
            };
        }
        if in_flight >= self.concurrency_limit() {
            return Permit::AtLimit;
        }
        if let Some(bucket) = &mut self.bucket {
            let at = bucket.next_available(now);
            if at > now {
                return Permit::NotBefore(at);
            }
            bucket.take(now);
        }
        self.in_flight = in_flight + 1;
        Permit::Granted
    }

    /// The end of one attempt started with a granted permit; says what to do with its message.
    pub fn record(&mut self, now: Instant, attempt: Attempt) -> Verdict {
        self.advance(now);
        let in_flight = self.in_flight;
        self.in_flight = in_flight.saturating_sub(1);
        let fired = self.fire_rules(now, attempt.matched);
        self.apply_sets(now, fired);
        let dead = self.feedback(attempt, in_flight);
        self.apply_suspensions(now, fired, dead);
        let triggered = self.state != State::Suspended && self.apply_backoff(now, fired, attempt);
        if !triggered
            && self.state == State::Backoff
            && attempt.class == OutcomeClass::Delivered
            && self.policy.to_normal_after_delivery
        {
            self.exit_backoff(now, Reason::FirstDelivery);
        }
        self.refresh(now);
        self.verdict(attempt.class, fired)
    }

    /// A delivery started with a granted permit that never got an outcome of its own: the
    /// receiver closed the session before it (say, "421 Max messages per connection"), and
    /// the MTA reconnects and tries the message again. No feedback, no error.
    pub fn release(&mut self, now: Instant) {
        self.advance(now);
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Fires every timer due at or before `now`, each at its own time.
    pub fn advance(&mut self, now: Instant) {
        while let Some(at) = self.next_wakeup().filter(|&at| at <= now) {
            self.fire_timers(at);
        }
    }

    /// When [`FlowControl::advance`] must next be called (None: no timer pending).
    pub fn next_wakeup(&self) -> Option<Instant> {
        let sets = self.set_active.indices().map(|i| self.set_until[i]).min();
        let Some(t) = &self.trouble else {
            return sets;
        };
        let state = match self.state {
            State::Normal => None,
            State::Backoff => Some(t.backoff_until),
            State::Suspended => Some(t.suspended_until),
        };
        [state, t.ramp.map(|r| r.next), sets]
            .into_iter()
            .flatten()
            .min()
    }

    /// The transitions since the last call, oldest first.
    pub fn drain_transitions(&mut self) -> impl Iterator<Item = Transition> + '_ {
        self.trouble
            .iter_mut()
            .flat_map(|t| t.transitions.drain(..))
    }

    /// Whether there are transitions to drain (most calls have none).
    pub fn has_transitions(&self) -> bool {
        self.trouble
            .as_ref()
            .is_some_and(|t| !t.transitions.is_empty())
    }

    fn fire_timers(&mut self, at: Instant) {
        if let Some(t) = &self.trouble {
            match self.state {
                State::Suspended if t.suspended_until <= at => self.end_suspension(at),
                State::Backoff if t.backoff_until <= at => {
                    let reason = self.backoff_expiry_reason();
                    self.exit_backoff(at, reason);
                }
                _ => {}
            }
        }
        let policy_ramp = self.policy.ramp;
        if let Some(t) = &mut self.trouble
            && let (Some(ramp), Some((steps, interval))) = (t.ramp, policy_ramp)
            && ramp.next <= at
        {
            t.ramp = (ramp.step + 1 < steps).then_some(Ramp {
                step: ramp.step + 1,
                next: ramp.next + interval,
            });
        }
        for i in self.set_active.indices() {
            if self.set_until[i] <= at {
                self.set_active.0 &= !(1 << i);
            }
        }
        self.refresh(at);
    }

    /// Counts the matched rules' hits and returns those that fire now.
    fn fire_rules(&mut self, now: Instant, matched: ReplyMatch) -> ReplyMatch {
        let known = match self.policy.rules.len() {
            64 => ReplyMatch(u64::MAX),
            n => ReplyMatch((1 << n) - 1),
        };
        let mut fired = ReplyMatch::NONE;
        for i in matched.and(known).indices() {
            let fires = match self.policy.rules[i].trigger {
                Trigger::Immediate => true,
                Trigger::Threshold(_) => self.rule_hits[i].record(now),
            };
            if fires {
                fired.0 |= 1 << i;
            }
        }
        fired
    }

    fn apply_sets(&mut self, now: Instant, fired: ReplyMatch) {
        for i in fired.and(self.policy.with_action(Action::Set)).indices() {
            self.set_until[i] = now + self.policy.rules[i].duration;
            self.set_active.0 |= 1 << i;
        }
    }

    /// Concurrency feedback for an attempt that ended with `in_flight` running (itself
    /// included); true when the destination just turned out dead.
    fn feedback(&mut self, attempt: Attempt, in_flight: u32) -> bool {
        let params = &self.policy.window;
        match (attempt.class, attempt.handshake) {
            (OutcomeClass::Internal, _) => false,
            (_, true) => self.window.negative(params),
            (_, false) => {
                self.window.positive(params, in_flight);
                false
            }
        }
    }

    /// Suspend rules first (all of them extend the suspension), then dead detection, which
    /// only applies to a destination that was not already suspended.
    fn apply_suspensions(&mut self, now: Instant, fired: ReplyMatch, dead: bool) {
        let was_suspended = self.state == State::Suspended;
        for i in fired
            .and(self.policy.with_action(Action::Suspend))
            .indices()
        {
            let reason = self.rule_reason(i);
            self.suspend(now, now + self.policy.rules[i].duration, reason);
        }
        if dead && !was_suspended {
            self.trouble().restart_window = true;
            let cohorts = self.policy.window.failed_cohort_limit;
            self.suspend(
                now,
                now + self.policy.dead_backoff,
                Reason::DeadDestination { cohorts },
            );
        }
    }

    /// Error counting and backoff rules, outside suspension. At most one backoff event per
    /// attempt: the trigger with the latest deadline (ties: lowest rule, then the errors).
    fn apply_backoff(&mut self, now: Instant, fired: ReplyMatch, attempt: Attempt) -> bool {
        let p = &self.policy;
        let counted = p.counts_as_error(attempt.class, fired);
        let threshold = counted && self.errors.record(now);
        let rules = fired
            .and(p.with_action(Action::Backoff))
            .indices()
            .map(|i| (now + p.rules[i].duration, BackoffCause::Rule(i as u32)));
        let errors = threshold.then_some((now + p.to_normal_after, BackoffCause::ToNormalAfter));
        let Some((until, cause)) = rules
            .chain(errors)
            .reduce(|a, b| if b.0 > a.0 { b } else { a })
        else {
            if counted && p.quiet && self.state == State::Backoff {
                let until = now + p.to_normal_after;
                let t = self.trouble();
                t.backoff_until = t.backoff_until.max(until);
            }
            return false;
        };
        let reason = match cause {
            BackoffCause::Rule(i) => self.rule_reason(i as usize),
            BackoffCause::ToNormalAfter => Reason::Errors {
                count: p.error_threshold,
                window: p.error_window,
            },
        };
        self.backoff_event(now, until, cause, reason);
        true
    }

    /// A backoff trigger in normal or backoff: enter backoff or push its end out, and
    /// count it toward escalation.
    fn backoff_event(&mut self, now: Instant, until: Instant, cause: BackoffCause, reason: Reason) {
        let entering = self.state == State::Normal;
        if entering {
            self.transition(now, State::Backoff, reason);
        }
        let t = self.trouble();
        if entering {
            t.backoff_entries += 1;
            t.ramp = None;
        }
        if entering || until >= t.backoff_until {
            t.backoff_until = until;
            t.backoff_cause = cause;
        }
        let escalates = t.backoff_events.record(now);
        self.errors.clear();
        if escalates {
            self.escalate(now);
        }
    }

    /// Suspends for `suspend.duration`, doubled per consecutive escalation up to
    /// `max_duration`. The doubling starts over when an escalation comes `within` or more
    /// after the previous escalation's suspension ended.
    fn escalate(&mut self, now: Instant) {
        let p = Arc::clone(&self.policy);
        let t = self.trouble();
        if now >= t.escalation_end.saturating_add(p.escalate_within) {
            t.escalation_level = 0;
        }
        let factor = 1u64.checked_shl(t.escalation_level).unwrap_or(u64::MAX);
        let duration = p.suspend_duration.saturating_mul(factor).min(p.suspend_max);
        t.escalation_level = (t.escalation_level + 1).min(63);
        t.backoff_events.clear();
        let reason = Reason::Escalation {
            backoffs: p.escalate_after,
            within: p.escalate_within,
        };
        self.suspend(now, now + duration, reason);
        let t = self.trouble();
        t.escalation_end = t.suspended_until;
    }

    /// Enters suspension until `until`, or extends the current one.
    fn suspend(&mut self, now: Instant, until: Instant, reason: Reason) {
        if self.state == State::Suspended {
            let t = self.trouble();
            t.suspended_until = t.suspended_until.max(until);
            return;
        }
        self.transition(now, State::Suspended, reason);
        let t = self.trouble();
        t.suspensions += 1;
        t.suspended_until = until;
        t.ramp = None;
        self.errors.clear();
    }

    /// A suspension's end goes to backoff, never straight to normal.
    fn end_suspension(&mut self, at: Instant) {
        self.transition(at, State::Backoff, Reason::SuspensionOver);
        let to_normal_after = self.policy.to_normal_after;
        let t = self.trouble();
        t.backoff_entries += 1;
        t.backoff_until = at + to_normal_after;
        t.backoff_cause = BackoffCause::ToNormalAfter;
        if std::mem::take(&mut t.restart_window) {
            self.window.restart(self.in_flight, &self.policy.window);
        }
    }

    fn exit_backoff(&mut self, at: Instant, reason: Reason) {
        self.transition(at, State::Normal, reason);
        let policy_ramp = self.policy.ramp;
        self.trouble().ramp = match policy_ramp {
            Some((steps, interval)) if steps > 1 => Some(Ramp {
                step: 1,
                next: at + interval,
            }),
            _ => None,
        };
    }

    fn backoff_expiry_reason(&self) -> Reason {
        match self.troubled().backoff_cause {
            BackoffCause::ToNormalAfter => Reason::ToNormalAfter(self.policy.to_normal_after),
            BackoffCause::Rule(index) => {
                let index = index as usize;
                Reason::RuleExpired {
                    index,
                    pattern: Arc::clone(&self.policy.rules[index].pattern),
                    duration: self.policy.rules[index].duration,
                }
            }
        }
    }

    fn rule_reason(&self, index: usize) -> Reason {
        let rule = &self.policy.rules[index];
        Reason::Rule {
            index,
            pattern: Arc::clone(&rule.pattern),
            trigger: rule.trigger,
        }
    }

    fn transition(&mut self, at: Instant, to: State, reason: Reason) {
        let from = self.state;
        self.trouble().transitions.push(Transition {
            at,
            from,
            to,
            reason,
        });
        self.state = to;
    }

    /// The state of a destination out of normal, created on its first transition.
    fn trouble(&mut self) -> &mut Trouble {
        let policy = &self.policy;
        self.trouble.get_or_insert_with(|| Trouble::new(policy))
    }

    /// [`FlowControl::trouble`] where it must exist already: in backoff or suspended.
    fn troubled(&self) -> &Trouble {
        self.trouble
            .as_deref()
            .expect("a destination out of normal has its trouble state")
    }

    fn verdict(&self, class: OutcomeClass, fired: ReplyMatch) -> Verdict {
        let bounce = fired.and(self.policy.with_action(Action::Bounce)).first();
        match class {
            OutcomeClass::Delivered => Verdict::Delivered,
            _ if bounce.is_some() => Verdict::Bounce { rule: bounce },
            OutcomeClass::Permfail => Verdict::Bounce { rule: None },
            _ => Verdict::Retry {
                min_delay: self.retry_floor(),
            },
        }
    }

    /// Recomputes the caps and the rate in force at `now` and retunes the bucket.
    fn refresh(&mut self, now: Instant) {
        let p = &self.policy;
        let ramp = self.trouble.as_ref().and_then(|t| t.ramp);
        let (mut cap, mut rate) = match (self.state, ramp) {
            (State::Normal, None) => (u32::MAX, p.max_rate),
            (State::Normal, Some(ramp)) => ramp_limits(p, ramp.step),
            _ => (p.backoff_concurrency, p.backoff_rate),
        };
        for i in self.set_active.indices() {
            let rule = &p.rules[i];
            cap = cap.min(rule.set_concurrency.unwrap_or(u32::MAX));
            rate = Rate::slower(rate, rule.set_rate);
        }
        self.cap = cap;
        self.rate = rate;
        match (rate, &mut self.bucket) {
            (None, _) => self.bucket = None,
            (Some(r), Some(bucket)) => bucket.set_rate(now, r, 1),
            (Some(r), None) => self.bucket = Some(TokenBucket::new(r, 1)),
        }
    }
}

/// Limits at ramp step `step` of `ramp_steps`: equal steps from the backoff limits to the
/// normal ones. With no normal rate limit the rate limit lifts at the first step.
fn ramp_limits(p: &Policy, step: u32) -> (u32, Option<Rate>) {
    let steps = p.ramp.map_or(1, |(steps, _)| steps);
    let (from, to) = (p.backoff_concurrency, p.window.max);
    let cap = if to > from {
        from + (to - from) * step / steps
    } else {
        to
    };
    let rate = match (p.backoff_rate, p.max_rate) {
        (Some(from), Some(to)) => Some(lerp_rate(from, to, step, steps)),
        (_, to) => to,
    };
    (cap, rate)
}

/// `from + (to - from) * k / n`, exactly, as one rate: per `to`'s period when that is a
/// whole count (`"195/h"`), else as a reduced fraction.
fn lerp_rate(from: Rate, to: Rate, k: u32, n: u32) -> Rate {
    let (k, n) = (u128::from(k), u128::from(n));
    let (fc, fp) = (u128::from(from.count), u128::from(from.period.as_millis()));
    let (tc, tp) = (u128::from(to.count), u128::from(to.period.as_millis()));
    // Events per `tp`: numerator / denominator.
    let numerator = fc * tp * (n - k) + tc * fp * k;
    let denominator = fp * n;
    let (mut count, mut period) = if numerator % denominator == 0 {
        (numerator / denominator, tp)
    } else {
        let g = gcd(numerator, denominator * tp);
        (numerator / g, denominator * tp / g)
    };
    while count > u128::from(u64::MAX) || period > u128::from(u64::MAX) {
        (count, period) = ((count / 2).max(1), (period / 2).max(1));
    }
    Rate::new(count as u64, Span::from_millis(period as u64))
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}
