//! One destination of a diagnosed log: its flow-control machine fed with the log's
//! attempts, its counts, its sparse per-interval series and its episodes.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::cause::Failures;
use super::latency::Latency;
use crate::flow_control::{
    Attempt, FlowControl, OutcomeClass, Policy, ReplyMatch, State, Transition,
};
use crate::logs::{Kind, Outcome, Sym};
use crate::replies::BounceReason;
use crate::units::{Instant, Span};

/// Recent failures kept to seed an episode with the errors that triggered it.
const RECENT: usize = 64;

/// Counts of one destination (or of one interval).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub attempts: u64,
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub expired: u64,
    /// Flow-control holds the MTA logged (not attempts).
    pub held: u64,
}

impl Counts {
    pub fn count(&mut self, kind: Kind) {
        match kind {
            Kind::Delivered => self.delivered += 1,
            Kind::Deferred => self.deferred += 1,
            Kind::Bounced => self.bounced += 1,
            Kind::Expired => self.expired += 1,
            Kind::Held => self.held += 1,
            Kind::Arrival | Kind::Removed => return,
        }
        if matches!(kind, Kind::Delivered | Kind::Deferred | Kind::Bounced) {
            self.attempts += 1;
        }
    }

    pub fn merge(&mut self, other: &Counts) {
        self.attempts += other.attempts;
        self.delivered += other.delivered;
        self.deferred += other.deferred;
        self.bounced += other.bounced;
        self.expired += other.expired;
        self.held += other.held;
    }
}

/// One interval's counts of one destination; `index` counts intervals from the origin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    pub index: u32,
    pub counts: Counts,
}

/// A failed attempt, as an episode counts it.
#[derive(Debug, Clone, Copy)]
struct Failure {
    at: Instant,
    reply: Sym,
    class: OutcomeClass,
    handshake: bool,
    blocked: bool,
    /// It counts toward the policy's error threshold (its class is counted, no ignore rule).
    error: bool,
}

/// An episode while it lasts.
#[derive(Debug, Clone)]
pub struct Open {
    pub start: Instant,
    /// The first transition's reason ("10 errors within 1m").
    pub reason: String,
    pub worst: State,
    pub backoffs: u32,
    pub suspensions: u32,
    pub failures: Failures,
    /// Failed attempts that count as errors for flow control (its `errors.count` classes,
    /// not ignored by a rule): what "errors" means everywhere in the diagnosis.
    pub errors: u64,
    /// Per reply: how often, and whether it is no error (a bounce that says nothing of the
    /// destination's standing, such as 5.1.1 user unknown, or an ignored reply).
    pub replies: FxHashMap<Sym, (u64, bool)>,
}

/// A finished (or, at the log's end, still open) episode.
#[derive(Debug, Clone)]
pub struct Episode {
    pub open: Open,
    /// `None`: still in backoff or suspended at the end of the log.
    pub end: Option<Instant>,
}

pub struct Destination {
    pub name: Sym,
    policy: Arc<Policy>,
    flow: FlowControl,
    /// Reply key -> the rules its text matches (classified once per key).
    matches: FxHashMap<Sym, ReplyMatch>,
    pub counts: Counts,
    pub deferrals: FxHashMap<Sym, u64>,
    /// By [`BounceReason::ALL`].
    pub bounces: [u64; BounceReason::ALL.len()],
    pub latency: Latency,
    recent: Vec<Failure>,
    recent_next: usize,
    /// The last `threshold` attempt times, until the destination is busy.
    attempt_times: Vec<Instant>,
    attempt_next: usize,
    /// It had `threshold` attempts within one error window: it could have entered backoff.
    pub busy: bool,
    pub current: Option<Open>,
    pub episodes: Vec<Episode>,
    /// Every state change: (time, new state).
    pub states: Vec<(Instant, State)>,
    pub series: Vec<Bucket>,
}

impl Destination {
    pub fn new(name: Sym, policy: Arc<Policy>, at: Instant) -> Destination {
        Destination {
            name,
            flow: FlowControl::new(Arc::clone(&policy), at),
            policy,
            matches: FxHashMap::default(),
            counts: Counts::default(),
            deferrals: FxHashMap::default(),
            bounces: [0; BounceReason::ALL.len()],
            latency: Latency::default(),
            recent: Vec::new(),
            recent_next: 0,
            attempt_times: Vec::new(),
            attempt_next: 0,
            busy: false,
            current: None,
            episodes: Vec::new(),
            states: Vec::new(),
            series: Vec::new(),
        }
    }

    /// The rules `reply` (key `key`) matches, classified the first time the key is met.
    fn matched(&mut self, key: Sym, reply: &str) -> ReplyMatch {
        if key.is_none() {
            return ReplyMatch::NONE;
        }
        let policy = &self.policy;
        *self
            .matches
            .entry(key)
            .or_insert_with(|| policy.classify(reply))
    }

    /// Takes one outcome at `at` (time since the origin); `reply` is its exact reply text.
    pub fn take(&mut self, o: &Outcome, at: Instant, reply: &str, interval: Span) {
        let window = self.policy.error_window();
        self.counts.count(o.kind);
        bucket_of(&mut self.series, at, interval).count(o.kind);
        self.flow.advance(at);
        self.transitions(&None);
        let (Some(class), true) = (
            o.class,
            matches!(o.kind, Kind::Delivered | Kind::Deferred | Kind::Bounced),
        ) else {
            return;
        };
        self.busy_check(at);
        let blocked = BounceReason::of(o.enhanced) == BounceReason::Blocked;
        match o.kind {
            Kind::Delivered => {
                if let Some(age) = o.age {
                    self.latency.record(Span::from_millis(age));
                }
            }
            Kind::Deferred => *self.deferrals.entry(o.reply).or_default() += 1,
            _ => self.bounces[BounceReason::of(o.enhanced) as usize] += 1,
        }
        let matched = self.matched(o.reply, reply);
        let failure = (o.kind != Kind::Delivered).then_some(Failure {
            at,
            reply: o.reply,
            class,
            handshake: o.handshake,
            blocked,
            error: self.policy.counts_as_error(class, matched),
        });
        if let Some(f) = failure {
            self.remember(f);
        }
        self.flow.record(
            at,
            Attempt {
                class,
                matched,
                handshake: o.handshake,
            },
        );
        let opened = self.transitions(&failure.map(|f| (f, window)));
        if let (Some(f), false, Some(open)) = (failure, opened, self.current.as_mut()) {
            add(open, &f);
        }
    }

    /// Fires the timers due by `at` (the log's end).
    pub fn finish(&mut self, at: Instant) {
        self.flow.advance(at);
        self.transitions(&None);
        if let Some(open) = self.current.take() {
            self.episodes.push(Episode { open, end: None });
        }
    }

    /// Applies the machine's transitions to the episodes; true when one opened. A new
    /// episode is seeded with the failures of the error window before it.
    fn transitions(&mut self, trigger: &Option<(Failure, Span)>) -> bool {
        if !self.flow.has_transitions() {
            return false;
        }
        let mut opened = false;
        let drained: Vec<Transition> = self.flow.drain_transitions().collect();
        for t in drained {
            self.states.push((t.at, t.to));
            match (t.from, t.to) {
                (State::Normal, to) => {
                    let mut open = Open {
                        start: t.at,
                        reason: t.reason.to_string(),
                        worst: to,
                        backoffs: u32::from(to == State::Backoff),
                        suspensions: u32::from(to == State::Suspended),
                        failures: Failures::default(),
                        errors: 0,
                        replies: FxHashMap::default(),
                    };
                    if let Some((_, window)) = trigger {
                        for f in self.recent.iter().filter(|f| t.at - f.at < *window) {
                            add(&mut open, f);
                        }
                    }
                    self.current = Some(open);
                    // A destination that entered backoff could: it is busy, whatever the
                    // attempts before (a rule can suspend it at its first).
                    self.busy = true;
                    opened = true;
                }
                (_, State::Normal) => {
                    if let Some(open) = self.current.take() {
                        self.episodes.push(Episode {
                            open,
                            end: Some(t.at),
                        });
                    }
                }
                (_, to) => {
                    if let Some(open) = self.current.as_mut() {
                        match to {
                            State::Suspended => {
                                open.suspensions += 1;
                                open.worst = State::Suspended;
                            }
                            _ => open.backoffs += 1,
                        }
                    }
                }
            }
        }
        opened
    }

    fn remember(&mut self, f: Failure) {
        if self.recent.len() < RECENT {
            self.recent.push(f);
        } else {
            self.recent[self.recent_next] = f;
            self.recent_next = (self.recent_next + 1) % RECENT;
        }
    }

    /// Marks the destination busy once `threshold` attempts fell within one window.
    fn busy_check(&mut self, at: Instant) {
        let window = self.policy.error_window();
        if self.busy {
            return;
        }
        let threshold = self.policy.error_threshold() as usize;
        if threshold <= 1 {
            self.busy = true;
            return;
        }
        if self.attempt_times.len() < threshold {
            self.attempt_times.push(at);
        } else {
            self.attempt_times[self.attempt_next] = at;
            self.attempt_next = (self.attempt_next + 1) % threshold;
        }
        if self.attempt_times.len() == threshold {
            let oldest = self.attempt_times[self.attempt_next % threshold];
            if at - oldest < window {
                self.busy = true;
                self.attempt_times = Vec::new();
            }
        }
    }

    /// Halves the series' resolution: intervals `2i` and `2i + 1` become `i`.
    pub fn coarsen(&mut self) {
        coarsen(&mut self.series);
    }
}

/// The counts of `at`'s interval in a sparse series, appended when it is a new interval
/// (times never go back).
pub fn bucket_of(series: &mut Vec<Bucket>, at: Instant, interval: Span) -> &mut Counts {
    let index = ((at - Instant::ZERO).as_millis() / interval.as_millis()) as u32;
    if series.last().is_none_or(|b| b.index != index) {
        series.push(Bucket {
            index,
            counts: Counts::default(),
        });
    }
    &mut series.last_mut().expect("pushed").counts
}

/// Merges pairs of intervals of a sparse series.
pub fn coarsen(series: &mut Vec<Bucket>) {
    let mut out = 0;
    for i in 0..series.len() {
        let b = series[i];
        let index = b.index / 2;
        if out > 0 && series[out - 1].index == index {
            series[out - 1].counts.merge(&b.counts);
        } else {
            series[out] = Bucket {
                index,
                counts: b.counts,
            };
            out += 1;
        }
    }
    series.truncate(out);
}

fn add(open: &mut Open, f: &Failure) {
    open.failures.count(f.class, f.handshake, f.blocked, 1);
    open.errors += u64::from(f.error);
    let entry = open.replies.entry(f.reply).or_default();
    entry.0 += 1;
    entry.1 = !f.error && !f.blocked;
}
