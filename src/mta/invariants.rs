//! Invariants of the MTA model, checked as it runs in debug builds (`cargo test`), so a
//! bug in the model panics where it happens instead of skewing the results. In release
//! builds [`Checks`] is an empty struct and every method an empty inline function.
//!
//! What is checked:
//! - the simulated clock never goes backwards, and flow-control transitions are never
//!   dated after the event that produced them nor before the previous one of their
//!   destination;
//! - a session opens only with fewer sessions than the destination's flow-control
//!   concurrency limit and fewer connections than `mta.max_connections`, and neither a
//!   session opens nor a message transaction starts while the destination is suspended;
//! - every granted permit gets exactly one `record` (FlowControl's contract): never a
//!   record without an outstanding permit;
//! - a message is in exactly one place at a time — the ready queue, a session, the retry
//!   wait — and moves only along the allowed edges (so never in two sessions, nor in a
//!   session and a queue; a session gives its message back to the queue when the receiver
//!   ends it before the message, "421 Max messages per connection");
//! - a deferred message is never due, nor attempted, before its deferral time plus the
//!   delay it was given.

#[cfg(debug_assertions)]
use std::collections::HashMap;

use super::message::MessageSlot;
use super::names::Names;
use super::world::{Destination, DestinationId};
#[cfg(debug_assertions)]
use crate::flow_control::State;
use crate::units::Instant;

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Not in the queue: not yet injected, or final (delivered, bounced, expired).
    Gone,
    /// In its destination's ready queue.
    Ready,
    /// Being attempted in a session.
    Session,
    /// Waiting for its retry time.
    Waiting,
}

/// The model's invariant checker (empty in release builds).
#[derive(Debug, Default)]
pub struct Checks {
    #[cfg(debug_assertions)]
    now: Instant,
    /// Per message slot: where it is, and the earliest time it may be attempted again.
    #[cfg(debug_assertions)]
    messages: Vec<(Place, Instant)>,
    /// Per destination: permits granted and not yet recorded.
    #[cfg(debug_assertions)]
    permits: Vec<u64>,
    /// Per destination: time of its last transition.
    #[cfg(debug_assertions)]
    last_transition: HashMap<DestinationId, Instant>,
}

#[cfg(debug_assertions)]
macro_rules! broken {
    ($now:expr, $what:expr, $($arg:tt)*) => {
        panic!("invariant broken at t={} ms, {}: {}", $now.as_millis(), $what, format!($($arg)*))
    };
}

impl Checks {
    /// An event is handled at `now`.
    #[inline(always)]
    pub fn clock(&mut self, _now: Instant) {
        #[cfg(debug_assertions)]
        {
            if _now < self.now {
                broken!(
                    _now,
                    "clock",
                    "time went backwards from {} ms",
                    self.now.as_millis()
                );
            }
            self.now = _now;
        }
    }

    /// A permit was granted and a session opens for destination `d` (its `sessions` not yet
    /// counted), with `connections` of `max_connections` open.
    #[inline(always)]
    pub fn opened(
        &mut self,
        _d: DestinationId,
        _destination: &Destination,
        _connections: u32,
        _max: u32,
    ) {
        #[cfg(debug_assertions)]
        {
            if _connections >= _max {
                broken!(
                    self.now,
                    format!("destination #{}", _d.0),
                    "a session opened with {_connections} connections open, at or over max_connections {_max}"
                );
            }
            self.granted(_d, _destination, _destination.sessions);
        }
    }

    /// A permit was granted for the next message of an open session of destination `d`.
    #[inline(always)]
    pub fn continued(&mut self, _d: DestinationId, _destination: &Destination) {
        #[cfg(debug_assertions)]
        self.granted(_d, _destination, _destination.sessions - 1);
    }

    /// A delivery starts at `d` with `others` other sessions open.
    #[cfg(debug_assertions)]
    fn granted(&mut self, d: DestinationId, destination: &Destination, others: u32) {
        let what = format!("destination #{}", d.0);
        let limit = destination.flow.concurrency_limit();
        if destination.flow.state() == State::Suspended {
            broken!(self.now, what, "a delivery started while suspended");
        }
        if others >= limit {
            broken!(
                self.now,
                what,
                "a delivery started with {others} other sessions open, at or over the concurrency limit {limit}"
            );
        }
        let d = d.index();
        if self.permits.len() <= d {
            self.permits.resize(d + 1, 0);
        }
        self.permits[d] += 1;
    }

    /// An attempt of destination `d` was recorded with flow control. The names are passed
    /// whole so that a release build, which checks nothing, never looks one up.
    #[inline(always)]
    pub fn recorded(&mut self, _d: DestinationId, _names: &Names) {
        #[cfg(debug_assertions)]
        match self.permits.get_mut(_d.index()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => broken!(
                self.now,
                format!("destination {:?}", &_names[_d.index()]),
                "an attempt recorded without a granted permit"
            ),
        }
    }

    /// Message `slot` moves to `to`; `not_before` (for [`Place::Waiting`]) is the
    /// earliest time of its next attempt.
    #[inline(always)]
    pub fn moved(&mut self, _slot: MessageSlot, _to: Place, _not_before: Instant) {
        #[cfg(debug_assertions)]
        {
            let slot = _slot.0 as usize;
            if self.messages.len() <= slot {
                self.messages.resize(slot + 1, (Place::Gone, Instant::ZERO));
            }
            let (from, earliest) = self.messages[slot];
            use Place::*;
            let allowed = matches!(
                (from, _to),
                (Gone, Ready)
                    | (Ready, Session)
                    | (Session, Ready)
                    | (Ready, Gone)
                    | (Session, Gone)
                    | (Session, Waiting)
                    | (Ready, Waiting)
                    | (Waiting, Ready)
                    | (Waiting, Gone)
            );
            let what = format!("message slot {slot}");
            if !allowed {
                broken!(self.now, what, "moved from {from:?} to {_to:?}");
            }
            if matches!((from, _to), (Waiting, _) | (Ready, Session)) && self.now < earliest {
                broken!(
                    self.now,
                    what,
                    "left {from:?} for {_to:?} before its retry time {} ms",
                    earliest.as_millis()
                );
            }
            let earliest = match (from, _to) {
                (_, Waiting) => _not_before,
                (_, Gone) => Instant::ZERO,
                _ => earliest,
            };
            self.messages[slot] = (_to, earliest);
        }
    }

    /// Destination `d` changed state at `at`.
    #[inline(always)]
    pub fn transition(&mut self, _d: DestinationId, _names: &Names, _at: Instant) {
        #[cfg(debug_assertions)]
        {
            let what = format!("destination {:?}", &_names[_d.index()]);
            if _at > self.now {
                broken!(
                    self.now,
                    what,
                    "a transition dated in the future ({} ms)",
                    _at.as_millis()
                );
            }
            let last = self.last_transition.entry(_d).or_insert(Instant::ZERO);
            if _at < *last {
                broken!(
                    self.now,
                    what,
                    "a transition at {} ms after one at {} ms",
                    _at.as_millis(),
                    last.as_millis()
                );
            }
            *last = _at;
        }
    }
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use std::sync::Arc;

    use super::*;

    const D0: DestinationId = DestinationId(0);

    /// Destination names for the checks' messages: "a" and "b".
    fn names() -> Names {
        let mut names = Names::default();
        names.push("a");
        names.push("b");
        names
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    #[should_panic(expected = "time went backwards")]
    fn the_clock_may_not_go_back() {
        let mut checks = Checks::default();
        checks.clock(at(10));
        checks.clock(at(9));
    }

    /// The one destination of a scenario with concurrency window 1.
    fn destination() -> Destination {
        with_policy().0
    }

    fn with_policy() -> (Destination, std::sync::Arc<crate::flow_control::Policy>) {
        let scenario = crate::scenario::load(
            "t",
            r#"{"name": "t", "duration": "1h",
                "flow_control": {"concurrency": {"initial": 1, "max": 1},
                                 "rules": [{"match": "TSS04", "action": "suspend"}]},
                "receivers": [{"name": "a", "domains": ["a.example"]}],
                "traffic": [{"messages": 1}]}"#,
            &[],
        )
        .unwrap();
        let mut world = crate::mta::world::World::build(&scenario);
        let policy = Arc::clone(world.policies.get(world.destinations[0].policy));
        (world.destinations.remove(0), policy)
    }

    #[test]
    #[should_panic(expected = "concurrency limit 1")]
    fn a_session_over_the_limit_panics() {
        let mut checks = Checks::default();
        let mut a = destination();
        checks.opened(D0, &a, 0, 10);
        a.sessions = 1;
        checks.opened(D0, &a, 1, 10);
    }

    #[test]
    #[should_panic(expected = "concurrency limit 1")]
    fn a_next_message_over_the_limit_panics() {
        let mut checks = Checks::default();
        let mut a = destination();
        a.sessions = 1;
        checks.continued(D0, &a);
        a.sessions = 2;
        checks.continued(D0, &a);
    }

    #[test]
    #[should_panic(expected = "while suspended")]
    fn a_delivery_while_suspended_panics() {
        use crate::flow_control::{Attempt, OutcomeClass, Permit};
        let mut checks = Checks::default();
        let (mut a, policy) = with_policy();
        assert_eq!(a.flow.permit(at(0), 0), Permit::Granted);
        let matched = policy.classify("421 [TSS04] go away");
        let attempt = Attempt {
            class: OutcomeClass::Tempfail,
            matched,
            handshake: false,
        };
        a.flow.record(at(0), attempt);
        assert_eq!(a.flow.state(), State::Suspended);
        checks.opened(D0, &a, 0, 10);
    }

    #[test]
    #[should_panic(expected = "max_connections 10")]
    fn a_session_over_the_connection_cap_panics() {
        let mut checks = Checks::default();
        checks.opened(D0, &destination(), 10, 10);
    }

    #[test]
    #[should_panic(expected = "without a granted permit")]
    fn a_record_needs_a_permit() {
        let mut checks = Checks::default();
        checks.opened(D0, &destination(), 0, 10);
        checks.recorded(D0, &names());
        checks.recorded(D0, &names());
    }

    #[test]
    #[should_panic(expected = "moved from Session to Session")]
    fn a_message_in_two_sessions_panics() {
        let mut checks = Checks::default();
        checks.moved(MessageSlot(3), Place::Ready, at(0));
        checks.moved(MessageSlot(3), Place::Session, at(0));
        checks.moved(MessageSlot(3), Place::Session, at(0));
    }

    #[test]
    #[should_panic(expected = "before its retry time 500")]
    fn an_early_retry_panics() {
        let mut checks = Checks::default();
        checks.moved(MessageSlot(3), Place::Ready, at(0));
        checks.moved(MessageSlot(3), Place::Session, at(0));
        checks.clock(at(100));
        checks.moved(MessageSlot(3), Place::Waiting, at(500));
        checks.clock(at(499));
        checks.moved(MessageSlot(3), Place::Ready, at(0));
    }

    #[test]
    fn a_message_goes_round() {
        let mut checks = Checks::default();
        checks.moved(MessageSlot(3), Place::Ready, at(0));
        checks.moved(MessageSlot(3), Place::Session, at(0));
        checks.moved(MessageSlot(3), Place::Waiting, at(500));
        checks.clock(at(500));
        checks.moved(MessageSlot(3), Place::Ready, at(0));
        checks.moved(MessageSlot(3), Place::Session, at(0));
        checks.moved(MessageSlot(3), Place::Gone, at(0));
        checks.moved(MessageSlot(3), Place::Ready, at(0));
    }

    #[test]
    #[should_panic(expected = "a transition at 5 ms after one at 7 ms")]
    fn transitions_are_in_order() {
        let mut checks = Checks::default();
        checks.clock(at(10));
        checks.transition(DestinationId(1), &names(), at(7));
        checks.transition(DestinationId(1), &names(), at(5));
    }
}
