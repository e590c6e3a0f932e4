//! Per-destination dynamic flow control: a state machine an MTA embeds, one per
//! destination key, that knows nothing about the simulator.
//!
//! It combines three real designs:
//! - Postfix qmgr's **concurrency window** with positive feedback for every attempt that
//!   got past the handshake and negative feedback for connect/greeting failures, and its
//!   **dead destination** detection by failed pseudo-cohorts ([`config::ConcurrencyConfig`]);
//! - PowerMTA's **normal/backoff** modes: an error threshold or a reply pattern switches a
//!   destination to backoff limits, which last until `to_normal_after` without a new
//!   trigger, or until the first delivery ([`config::BackoffConfig`]);
//! - KumoMTA's **rules**: a regex on the reply, an action (backoff, suspend, bounce, ignore,
//!   set limits), a trigger (immediate or `N/period`) and a duration counted from the last
//!   firing ([`config::RuleConfig`]).
//!
//! Repeated backoffs escalate to a suspension whose length doubles
//! ([`config::SuspendConfig`]); every suspension ends in backoff, not in normal.
//!
//! # Semantics where the sources leave a choice
//! - **Window edges**: every sliding window (`errors.window`, a rule's `N/period`,
//!   `suspend.within`) counts an event only while it is *less* than the span old: with a
//!   1m window, errors at 0 and 59,999 ms are within it, errors at 0 and 60,000 ms are not.
//! - **Backoff deadline**: the error threshold sets it to `to_normal_after` after the
//!   trigger, a backoff rule to its `duration` after its last firing (the rule's duration
//!   replaces `to_normal_after`, as a PowerMTA pattern's own timer does); a later trigger
//!   only ever pushes it out; with `to_normal_after_from: "error"` every counted error in
//!   backoff pushes it out too (normal after a quiet `to_normal_after`), without counting
//!   as a backoff event. `to_normal_after_delivery` ends any backoff at the first
//!   delivery. A suspension's end starts a `to_normal_after` backoff.
//! - **Backoff events** (what escalation counts): every error-threshold or backoff-rule
//!   trigger in normal or backoff, at most one per attempt. Triggers are not acted on
//!   while suspended. [`FlowControl::backoff_entries`] counts *transitions into* backoff
//!   (including a suspension's end), not re-triggers.
//! - **Escalation doubling** starts over when an escalation comes `suspend.within` or
//!   more after the previous escalation's suspension ended.
//! - **Several rules matching one reply** all take effect: `set` caps apply, a `bounce`
//!   fails the message, an `ignore` keeps the outcome out of the error count; for the
//!   state, suspend beats a dead destination, which beats backoff.
//! - **Threshold triggers** keep firing at each match while N matches lie within the
//!   period (KumoMTA's behaviour), so a steady stream of matches keeps the effect alive.
//! - **Feedback** applies in every state; dead detection only outside suspension, and a
//!   dead destination restarts, when its `dead_backoff` ends, at the in-flight count or
//!   `initial`. As in released Postfix the window only grows while it is below the
//!   deliveries in flight (the one just ended included) plus `initial`, and below
//!   `concurrency.max`. `concurrency.rounding` picks released Postfix's ±feedback/2 slack
//!   (`half`, the default) or the 2007 arithmetic of SCHEDULER_README's tables (`none`).
//! - **Ramp recovery**: leaving backoff takes the first of `ramp_steps` equal steps from
//!   the backoff limits (concurrency cap, rate) to the normal ones (`concurrency.max`,
//!   `max_rate`) at once, then one more every `ramp_interval`.
//!
//! # Embedding it
//! The machine is sans-IO: it never reads a clock, sleeps or sends. Feed it the time and
//! each attempt's outcome; ask it for permits and limits; call it back at its wake-up.
//! The crate README has the whole loop of a real MTA.
//! ```
//! use std::sync::Arc;
//! use mta_flow_control::{Attempt, FlowControl, FlowControlConfig, Instant, OutcomeClass,
//!                        Permit, Policies, Span, State, Verdict};
//!
//! // Load the section (here from JSON) and compile it once: base and overrides.
//! let config: FlowControlConfig = serde_json::from_str(r#"{
//!     "max_rate": "600/min",
//!     "errors": { "window": "1m", "threshold": 2 },
//!     "rules": [ { "match": "\\[TSS04\\]", "action": "suspend", "duration": "2h" } ]
//! }"#).unwrap();
//! let policies = Policies::compile(&config).unwrap();
//! let policy = policies.get(policies.index_of("yahoo"));
//! let at = Instant::from_millis;
//! let mut yahoo = FlowControl::new(Arc::clone(policy), at(0));
//!
//! // Before starting a delivery: ask, passing how many are running to this destination.
//! assert_eq!(yahoo.permit(at(0), 0), Permit::Granted);
//! assert_eq!(yahoo.permit(at(0), 1), Permit::NotBefore(at(100))); // 600/min: one per 100 ms
//!
//! // When it ends: classify the reply once per distinct text (cache it), then record.
//! let reply = "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred";
//! let attempt = Attempt { class: OutcomeClass::Tempfail, matched: policy.classify(reply),
//!                         handshake: false };
//! let verdict = yahoo.record(at(1_000), attempt);
//! assert_eq!(yahoo.state(), State::Suspended);
//! assert_eq!(verdict, Verdict::Retry { min_delay: Span::HOUR }); // backoff.retry_after
//!
//! // Log the transitions, and come back when the next timer is due.
//! for t in yahoo.drain_transitions() {
//!     println!("{} {} -> {}: {}", t.at.as_millis(), t.from, t.to, t.reason);
//! }
//! let wake = yahoo.next_wakeup().unwrap();
//! assert_eq!(wake, at(1_000) + 2 * Span::HOUR);
//! yahoo.advance(wake);
//! assert_eq!(yahoo.state(), State::Backoff); // a suspension ends in backoff
//! ```

pub mod config;
mod feedback;
mod machine;
mod policy;
pub mod rate;
#[cfg(test)]
mod tests;
pub mod time;
pub mod validate;
mod window;

pub use config::{FlowControlConfig, OutcomeClass, Rounding};
pub use feedback::{Feedback, FeedbackError};
pub use machine::{Attempt, FlowControl, Permit, Reason, State, Transition, Verdict};
pub use policy::{Policies, Policy, PolicyIndex, ReplyMatch};
pub use rate::{Rate, TokenBucket};
pub use time::{Instant, Span};
pub use validate::Invalid;

/// The README's embedding example, compiled and run as a doctest so it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
