//! A message's fate: each attempt's end goes to flow control, which says whether the
//! message is delivered, bounced or retried (no sooner than backoff allows); retries wait,
//! and a message too old to be worth retrying expires.

use super::session::Session;
use super::{Event, MailModel};
use crate::engine::Scheduler;
use crate::flow_control::{Attempt, OutcomeClass, Verdict};
use crate::mta::config::Expiry;
use crate::mta::invariants::Place;
use crate::mta::message::{MessageSlot, MessageStore, Ready, ReadyMessage};
use crate::mta::observe::{AttemptEnd, MessageEvent, Observer};
use crate::mta::world::DestinationId;
use crate::replies::{BounceReason, ReplyId};
use crate::units::{Instant, Span};

impl<O: Observer> MailModel<O> {
    /// Takes the next ready message of `d` into a session (an arrived one is stored now).
    pub(super) fn take_ready(&mut self, d: DestinationId) -> Option<MessageSlot> {
        let (entry, held) = self.pop_ready(d)?;
        let slot = self.slot_of(d, entry, held);
        self.checks.moved(slot, Place::Session, Instant::ZERO);
        self.world.destination_mut(d).in_flight += 1;
        self.queues.in_flight += 1;
        Some(slot)
    }

    /// The message of a ready `entry` taken from `d`'s queue, stored if it had only arrived.
    fn slot_of(&mut self, d: DestinationId, entry: Ready, held: bool) -> MessageSlot {
        match entry.message() {
            ReadyMessage::Stored(slot) => slot,
            ReadyMessage::Arrived { id, arrived } => {
                let message = self.world.destination(d).arrival(id, arrived, held);
                let slot = self.messages.insert(message);
                self.checks.moved(slot, Place::Ready, Instant::ZERO);
                slot
            }
        }
    }

    /// Takes the head of `d`'s ready queue, and whether flow control has held it (for an
    /// arrived entry: whether it was older than the `unheld` newest).
    fn pop_ready(&mut self, d: DestinationId) -> Option<(Ready, bool)> {
        let destination = self.world.destination_mut(d);
        let held = destination.ready.len() > destination.unheld;
        let entry = destination.ready.pop_front()?;
        destination.unheld = destination.unheld.min(destination.ready.len());
        self.queues.ready -= 1;
        if let ReadyMessage::Arrived { .. } = entry.message() {
            self.arrived -= 1;
        }
        Some((entry, held))
    }

    /// Expires the messages at the head of `d`'s ready queue that are too old, so the
    /// next one taken is deliverable.
    pub(super) fn expire_stale_head(&mut self, d: DestinationId, now: Instant) {
        let max_age = self.mta.max_age;
        while let Some(entry) = self.world.destination(d).ready.front() {
            let injected_at = match entry.message() {
                ReadyMessage::Stored(slot) => self.messages[slot].injected_at,
                ReadyMessage::Arrived { arrived, .. } => arrived,
            };
            if now.saturating_since(injected_at) < max_age {
                return;
            }
            let (_, held) = self.pop_ready(d).expect("the head was there");
            match entry.message() {
                ReadyMessage::Stored(slot) => self.expire(d, slot, now),
                ReadyMessage::Arrived { id, arrived } => {
                    let message = self.world.destination(d).arrival(id, arrived, held);
                    let event = MessageEvent {
                        at: now,
                        destination: d,
                        message: &message,
                    };
                    self.observer.expired(&self.world, event);
                }
            }
        }
    }

    /// Applies the outcome stored in session `s` to its message and to flow control.
    pub(super) fn finish_attempt(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let session: Session = self.sessions[s as usize];
        let (d, slot, answer) = (session.destination, session.message, session.answer);
        self.queues.in_flight -= 1;
        self.world.destination_mut(d).in_flight -= 1;
        self.messages[slot].attempted(answer.reply);
        let attempt = Attempt {
            class: answer.class,
            matched: self.reply_match(d, answer.reply),
            handshake: answer.handshake,
        };
        let destination = self.world.destination_mut(d);
        let verdict = destination.flow.record(now, attempt);
        let state = destination.flow.state();
        self.checks.recorded(d, &self.world.destination_names);
        let end = AttemptEnd {
            at: now,
            destination: d,
            message: &self.messages[slot],
            class: answer.class,
            reply: answer.reply,
            handshake: answer.handshake,
            transaction_started: session.transaction_started.filter(|_| !answer.handshake),
            session: session.info(s),
            state,
        };
        self.observer.attempted(&self.world, &end);
        match (answer.class, verdict) {
            (OutcomeClass::Delivered, _) => self.deliver(d, slot, now),
            (_, Verdict::Bounce { rule: Some(_) }) => {
                self.bounce(d, slot, now, BounceReason::FlowControlRule)
            }
            (OutcomeClass::Permfail, _) => {
                let reason = self.world.book.get(answer.reply).bounce_reason();
                self.bounce(d, slot, now, reason)
            }
            (_, Verdict::Retry { min_delay }) => {
                self.defer(d, slot, answer.reply, min_delay, scheduler)
            }
            (_, Verdict::Delivered | Verdict::Bounce { rule: None }) => {
                self.defer(d, slot, answer.reply, Span::ZERO, scheduler)
            }
        }
        self.after_flow_change(d, scheduler);
    }

    fn deliver(&mut self, d: DestinationId, slot: MessageSlot, now: Instant) {
        let event = message_event(&self.messages, d, slot, now);
        self.observer.delivered(&self.world, event);
        self.remove(slot);
    }

    fn bounce(&mut self, d: DestinationId, slot: MessageSlot, now: Instant, reason: BounceReason) {
        let event = message_event(&self.messages, d, slot, now);
        self.observer.bounced(&self.world, event, reason);
        self.remove(slot);
    }

    fn expire(&mut self, d: DestinationId, slot: MessageSlot, now: Instant) {
        let event = message_event(&self.messages, d, slot, now);
        self.observer.expired(&self.world, event);
        self.remove(slot);
    }

    /// Forgets a message whose fate is final.
    fn remove(&mut self, slot: MessageSlot) {
        self.checks.moved(slot, Place::Gone, Instant::ZERO);
        self.messages.remove(slot);
    }

    /// A temporary failure: the message waits for its retry, at least as long as flow
    /// control asks, or expires if it is too old.
    fn defer(
        &mut self,
        d: DestinationId,
        slot: MessageSlot,
        reply: ReplyId,
        floor: Span,
        scheduler: &mut Scheduler<Event>,
    ) {
        let event = message_event(&self.messages, d, slot, scheduler.now());
        self.observer.deferred(&self.world, event, reply);
        self.await_retry(d, slot, floor, scheduler);
    }

    /// A suspended destination defers its queued mail (`on_suspension: defer`, Postfix's
    /// "delivery temporarily suspended"): each message is held without an attempt and
    /// waits for its next retry, as if it had been deferred.
    pub(super) fn defer_ready(&mut self, d: DestinationId, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        while let Some((entry, held)) = self.pop_ready(d) {
            let slot = self.slot_of(d, entry, held);
            let first = self.messages[slot].hold();
            let event = message_event(&self.messages, d, slot, now);
            self.observer.held(&self.world, event, first);
            self.await_retry(d, slot, Span::ZERO, scheduler);
        }
        self.world.destination_mut(d).unheld = 0;
    }

    /// The message waits for its next retry by the schedule (not sooner than `floor`),
    /// or expires if it is too old.
    fn await_retry(
        &mut self,
        d: DestinationId,
        slot: MessageSlot,
        floor: Span,
        scheduler: &mut Scheduler<Event>,
    ) {
        let now = scheduler.now();
        let message = &mut self.messages[slot];
        let age = now - message.injected_at;
        if age >= self.mta.max_age {
            return self.expire(d, slot, now);
        }
        let retry = u32::from(message.attempts().saturating_sub(1));
        let previous = Span::from_millis(message.previous_delay.into());
        let counted = self.mta.retry.age(now, message.injected_at);
        let delay = self
            .mta
            .retry
            .delay(retry, counted, previous, &mut self.mta_rng)
            .max(floor);
        message.previous_delay = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        let delay = self.mta.retry.wait(now, delay);
        if self.mta.expire == Expiry::BeforeNextRetry && age + delay >= self.mta.max_age {
            return self.expire(d, slot, now);
        }
        self.checks
            .moved(slot, Place::Waiting, now.saturating_add(delay));
        self.world.destination_mut(d).waiting += 1;
        self.queues.waiting += 1;
        scheduler.after(delay, Event::Due(slot));
    }

    /// A deferred message's retry time has come: back to the ready queue, unless too old.
    pub(super) fn on_due(&mut self, slot: MessageSlot, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let d = self.world.destination_of(self.messages[slot].domain);
        self.world.destination_mut(d).waiting -= 1;
        self.queues.waiting -= 1;
        if now - self.messages[slot].injected_at >= self.mta.max_age {
            return self.expire(d, slot, now);
        }
        self.push_ready(d, Ready::stored(slot));
        self.dispatch(d, scheduler);
    }
}

/// The event of the message in `slot`, borrowing only the store (the observer is told
/// while the model's other fields are in use).
pub(super) fn message_event(
    messages: &MessageStore,
    d: DestinationId,
    slot: MessageSlot,
    at: Instant,
) -> MessageEvent<'_> {
    MessageEvent {
        at,
        destination: d,
        message: &messages[slot],
    }
}
