//! What a run measured, by the observers that measure it: [`Tallies`] (summary.json's
//! counters and latencies), [`Sampler`] (the time series), [`TransitionLog`], and
//! [`Detail`], the choice of which destinations are reported one by one. The model reports
//! events to them; the outputs only read what they collected.

mod detail;
pub mod harm;
mod histogram;
mod sampler;
mod tallies;
mod transitions;

use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};

use serde::Serialize;

pub use detail::{Detail, GENERATED_DETAIL};
pub use histogram::Histogram;
pub use sampler::Sampler;
pub use tallies::Tallies;
pub use transitions::TransitionLog;

use crate::flow_control::State;
use crate::replies::{BounceReason, ReplyId};
use crate::units::{Instant, Span};

/// One value per flow-control state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerState<T> {
    pub normal: T,
    pub backoff: T,
    pub suspended: T,
}

impl<T> Index<State> for PerState<T> {
    type Output = T;

    fn index(&self, state: State) -> &T {
        match state {
            State::Normal => &self.normal,
            State::Backoff => &self.backoff,
            State::Suspended => &self.suspended,
        }
    }
}

impl<T> IndexMut<State> for PerState<T> {
    fn index_mut(&mut self, state: State) -> &mut T {
        match state {
            State::Normal => &mut self.normal,
            State::Backoff => &mut self.backoff,
            State::Suspended => &mut self.suspended,
        }
    }
}

/// Bounces counted by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounces {
    pub user_unknown: u64,
    pub blocked: u64,
    pub rejected: u64,
    pub flow_control_rule: u64,
}

impl Bounces {
    pub fn get(&self, reason: BounceReason) -> u64 {
        match reason {
            BounceReason::UserUnknown => self.user_unknown,
            BounceReason::Blocked => self.blocked,
            BounceReason::Rejected => self.rejected,
            BounceReason::FlowControlRule => self.flow_control_rule,
        }
    }

    fn count(&mut self, reason: BounceReason, n: u64) {
        *match reason {
            BounceReason::UserUnknown => &mut self.user_unknown,
            BounceReason::Blocked => &mut self.blocked,
            BounceReason::Rejected => &mut self.rejected,
            BounceReason::FlowControlRule => &mut self.flow_control_rule,
        } += n;
    }

    pub fn total(&self) -> u64 {
        BounceReason::ALL.iter().map(|&r| self.get(r)).sum()
    }
}

/// Counters accumulated over a whole run, for one destination or the total.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub injected: u64,
    pub delivered: u64,
    pub bounces: Bounces,
    pub expired: u64,
    /// Expired messages by the reply of their last attempt.
    pub expired_by_reply: ReplyCounts,
    pub attempts: u64,
    pub deferrals: u64,
    pub deferrals_by_reply: ReplyCounts,
    pub dfc_holds: u64,
    pub dfc_held_messages: u64,
    pub backoff_entries: u64,
    pub suspensions: u64,
    pub blocks: u64,
    pub time_in_state: PerState<Span>,
}

impl Tally {
    pub fn bounced(&self) -> u64 {
        self.bounces.total()
    }

    pub fn bounce(&mut self, reason: BounceReason) {
        self.bounces.count(reason, 1);
    }

    pub fn defer(&mut self, reply: ReplyId) {
        self.deferrals += 1;
        self.deferrals_by_reply.add(reply, 1);
    }

    /// Counts an expired message whose last attempt was answered `last_reply`.
    pub fn expire(&mut self, last_reply: ReplyId) {
        self.expired += 1;
        self.expired_by_reply.add(last_reply, 1);
    }

    /// Adds another tally (destinations into the total or the "other" group).
    pub fn merge(&mut self, other: &Tally) {
        self.injected += other.injected;
        self.delivered += other.delivered;
        for reason in BounceReason::ALL {
            self.bounces.count(reason, other.bounces.get(reason));
        }
        self.expired += other.expired;
        self.expired_by_reply.merge(&other.expired_by_reply);
        self.attempts += other.attempts;
        self.deferrals += other.deferrals;
        self.deferrals_by_reply.merge(&other.deferrals_by_reply);
        self.dfc_holds += other.dfc_holds;
        self.dfc_held_messages += other.dfc_held_messages;
        self.backoff_entries += other.backoff_entries;
        self.suspensions += other.suspensions;
        self.blocks += other.blocks;
        for state in State::ALL {
            self.time_in_state[state] += other.time_in_state[state];
        }
    }
}

/// Counts by reply; a destination sees few distinct replies, so a short list beats a map.
#[derive(Debug, Clone, Default)]
pub struct ReplyCounts(Vec<(ReplyId, u64)>);

impl ReplyCounts {
    pub fn add(&mut self, reply: ReplyId, n: u64) {
        match self.0.iter_mut().find(|(r, _)| *r == reply) {
            Some((_, count)) => *count += n,
            None => self.0.push((reply, n)),
        }
    }

    pub fn merge(&mut self, other: &ReplyCounts) {
        for &(reply, n) in &other.0 {
            self.add(reply, n);
        }
    }

    /// The counts by reply text, `none` naming [`ReplyId::NONE`].
    fn named(&self, replies: &[String], none: &str) -> BTreeMap<String, u64> {
        let mut named = BTreeMap::new();
        for &(reply, n) in &self.0 {
            let name = replies.get(reply.index()).map_or(none, String::as_str);
            *named.entry(name.to_string()).or_default() += n;
        }
        named
    }
}

/// What summary.json calls the expired messages that were never attempted.
pub const NEVER_ATTEMPTED: &str = "never attempted";

/// Counts within one sample interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interval {
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub attempts: u64,
}

/// One row of the time series: a destination (or the total) at one sample time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub time: Instant,
    /// Index into [`crate::sim::RunResult::destinations`]; `None` for the total row.
    pub destination: Option<u32>,
    pub ready: u64,
    pub waiting: u64,
    pub in_flight: u64,
    pub counts: Interval,
    pub state: Option<State>,
    pub concurrency_limit: Option<u32>,
    /// The flow-control rate limit in force, per hour; `None` when unlimited.
    pub rate_limit_per_hour: Option<f64>,
    pub reputation: Option<f64>,
    pub receiver_blocking: Option<bool>,
    pub receiver_tokens: Option<f64>,
    /// Destinations in backoff and suspended (0 or 1 on a destination's own row).
    pub in_backoff: u64,
    pub suspended: u64,
}

/// One flow-control state change.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRecord {
    pub time: Instant,
    pub destination: String,
    pub from: State,
    pub to: State,
    pub reason: String,
}

/// summary.json.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub duration_s: f64,
    pub totals: DestinationSummary,
    pub destinations: BTreeMap<String, DestinationSummary>,
    /// Destinations not listed one by one (generated receivers beyond the first few), summed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_destinations: Option<OtherDestinations>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OtherDestinations {
    pub count: u64,
    #[serde(flatten)]
    pub summary: DestinationSummary,
}

/// The counters of summary.json for one destination or the total.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DestinationSummary {
    pub injected: u64,
    pub delivered: u64,
    pub bounced: u64,
    pub bounces_by_reason: BTreeMap<String, u64>,
    pub expired: u64,
    /// Expired messages by the reply of their last attempt (a 4xx block, a greylist, a
    /// rate limit...), or "never attempted".
    pub expired_by_reply: BTreeMap<String, u64>,
    pub queued: u64,
    pub attempts: u64,
    pub deferrals: u64,
    pub deferrals_by_reply: BTreeMap<String, u64>,
    pub dfc_holds: u64,
    pub dfc_held_messages: u64,
    pub backoff_entries: u64,
    pub suspensions: u64,
    pub blocks: u64,
    pub time_in_state_s: TimeInState,
    pub latency_s: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reputation: Option<Reputation>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct TimeInState {
    pub normal: f64,
    pub backoff: f64,
    pub suspended: f64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Reputation {
    pub min: f64,
    #[serde(rename = "final")]
    pub last: f64,
}

impl DestinationSummary {
    /// Summarises a tally; `queued` is counted from the queues, not derived, so the
    /// conservation check compares two independent numbers.
    pub fn new(tally: &Tally, latency: &Histogram, queued: u64, reply_names: &[String]) -> Self {
        let bounces_by_reason = BounceReason::ALL
            .iter()
            .filter(|&&r| tally.bounces.get(r) > 0)
            .map(|&r| (r.name().to_string(), tally.bounces.get(r)))
            .collect();
        let deferrals_by_reply = tally.deferrals_by_reply.named(reply_names, NEVER_ATTEMPTED);
        let t = &tally.time_in_state;
        DestinationSummary {
            injected: tally.injected,
            delivered: tally.delivered,
            bounced: tally.bounced(),
            bounces_by_reason,
            expired: tally.expired,
            expired_by_reply: tally.expired_by_reply.named(reply_names, NEVER_ATTEMPTED),
            queued,
            attempts: tally.attempts,
            deferrals: tally.deferrals,
            deferrals_by_reply,
            dfc_holds: tally.dfc_holds,
            dfc_held_messages: tally.dfc_held_messages,
            backoff_entries: tally.backoff_entries,
            suspensions: tally.suspensions,
            blocks: tally.blocks,
            time_in_state_s: TimeInState {
                normal: t.normal.as_secs_f64(),
                backoff: t.backoff.as_secs_f64(),
                suspended: t.suspended.as_secs_f64(),
            },
            latency_s: Latency {
                p50: latency.quantile(0.5).as_secs_f64(),
                p90: latency.quantile(0.9).as_secs_f64(),
                p99: latency.quantile(0.99).as_secs_f64(),
                max: latency.max().as_secs_f64(),
            },
            reputation: None,
        }
    }

    /// Whether injected = delivered + bounced + expired + queued.
    pub fn conserved(&self) -> bool {
        self.injected == self.delivered + self.bounced + self.expired + self.queued
    }
}
