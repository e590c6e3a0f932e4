//! SMTP sessions: connecting under the global connection cap, the greeting (or its
//! failure), one transaction at a time, and closing — which frees a receiver slot for a
//! queued connection and a connection for a destination that wants one.

use rand::Rng;

use super::{Event, MailModel};
use crate::engine::Scheduler;
use crate::flow_control::{OutcomeClass, Permit};
use crate::mta::invariants::Place;
use crate::mta::message::{MessageSlot, Ready};
use crate::mta::observe::{Observer, SessionInfo};
use crate::mta::world::DestinationId;
use crate::receiver::{ConnectAnswer, Greeted};
use crate::replies::ReplyId;
use crate::units::{Instant, Span};

/// A session's slot and which use of that slot it is: events of an earlier use are stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRef {
    pub slot: u32,
    pub generation: u32,
}

/// The reply of the attempt in progress, kept until its event fires.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answer {
    pub class: OutcomeClass,
    pub reply: ReplyId,
    pub handshake: bool,
    pub close: bool,
}

/// One SMTP session to a destination.
#[derive(Debug, Clone, Copy)]
pub(super) struct Session {
    pub destination: DestinationId,
    /// The message being attempted.
    pub message: MessageSlot,
    /// Transactions completed in this session.
    pub done: u32,
    /// Distinguishes reuses of this slot, so stale events are ignored.
    pub generation: u32,
    /// Waiting in the receiver's backlog under this ticket.
    pub ticket: Option<u64>,
    pub opened: Instant,
    pub greeted: Option<Instant>,
    /// When the current message's transaction started.
    pub transaction_started: Option<Instant>,
    pub answer: Answer,
}

impl Session {
    /// What observers are told about the session of the attempt that just ended.
    pub fn info(&self, slot: u32) -> SessionInfo {
        SessionInfo {
            id: slot,
            opened: self.opened,
            greeted: self.greeted,
            earlier: self.done,
        }
    }
}

impl<O: Observer> MailModel<O> {
    /// Opens a session for the head of `d`'s ready queue (a permit was just granted).
    pub(super) fn open_session(&mut self, d: DestinationId, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let message = self
            .take_ready(d)
            .expect("dispatch checked the ready queue");
        let (connections, max) = (self.connections, self.mta.max_connections);
        let destination = self.world.destination_mut(d);
        self.checks.opened(d, destination, connections, max);
        destination.sessions += 1;
        self.connections += 1;
        let receiver = destination.receiver;
        let s = self.new_session(d, message, now);
        let internal = self.mta.internal_errors.at(now);
        if internal > 0.0 && self.mta_rng.random_bool(internal) {
            let reply = self.mta.replies.internal_error;
            self.fail_handshake(s, OutcomeClass::Internal, reply, Span::ZERO, scheduler);
            return;
        }
        match self.world.receiver_mut(receiver).connect(now) {
            ConnectAnswer::Greeted { after } => {
                scheduler.at(now + after, Event::Greeting(self.reference(s)))
            }
            ConnectAnswer::Rejected { after, reply } => {
                self.fail_handshake(s, OutcomeClass::Tempfail, reply, after, scheduler)
            }
            ConnectAnswer::Refused { after } => {
                let reply = self.mta.replies.connection_refused;
                self.fail_handshake(s, OutcomeClass::Connect, reply, after, scheduler)
            }
            ConnectAnswer::Silent => {
                let (reply, after) = (self.mta.replies.connect_timeout, self.mta.connect_timeout);
                self.fail_handshake(s, OutcomeClass::Timeout, reply, after, scheduler)
            }
            ConnectAnswer::Queued { ticket } => {
                self.sessions[s as usize].ticket = Some(ticket);
                self.tickets.insert(ticket, s);
                let timeout = Event::GreetingTimeout(self.reference(s));
                scheduler.after(self.mta.greeting_timeout, timeout);
            }
        }
    }

    fn new_session(
        &mut self,
        destination: DestinationId,
        message: MessageSlot,
        now: Instant,
    ) -> u32 {
        let answer = Answer {
            class: OutcomeClass::Delivered,
            reply: self.mta.replies.internal_error,
            handshake: false,
            close: false,
        };
        let fresh = Session {
            destination,
            message,
            done: 0,
            generation: 0,
            ticket: None,
            opened: now,
            greeted: None,
            transaction_started: None,
            answer,
        };
        match self.free_sessions.pop() {
            Some(s) => {
                let generation = self.sessions[s as usize].generation.wrapping_add(1);
                self.sessions[s as usize] = Session {
                    generation,
                    ..fresh
                };
                s
            }
            None => {
                self.sessions.push(fresh);
                (self.sessions.len() - 1) as u32
            }
        }
    }

    fn reference(&self, s: u32) -> SessionRef {
        SessionRef {
            slot: s,
            generation: self.sessions[s as usize].generation,
        }
    }

    /// Whether an event still concerns the session it was scheduled for.
    pub(super) fn live(&self, s: SessionRef) -> bool {
        self.sessions[s.slot as usize].generation == s.generation
    }

    fn fail_handshake(
        &mut self,
        s: u32,
        class: OutcomeClass,
        reply: ReplyId,
        after: Span,
        scheduler: &mut Scheduler<Event>,
    ) {
        self.sessions[s as usize].answer = Answer {
            class,
            reply,
            handshake: true,
            close: true,
        };
        scheduler.after(after, Event::HandshakeFailed(self.reference(s)));
    }

    pub(super) fn on_greeting(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let session = &mut self.sessions[s as usize];
        session.greeted = Some(scheduler.now());
        session.ticket = None;
        self.start_transaction(s, scheduler);
    }

    fn start_transaction(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let session = self.sessions[s as usize];
        let receiver = self.world.destination(session.destination).receiver;
        let message = &mut self.messages[session.message];
        if message.first_attempt == Instant::NEVER {
            message.first_attempt = now;
        }
        let answer = self.world.receivers[receiver.index()].transaction(
            now,
            u64::from(message.id),
            message.first_attempt,
            session.done,
        );
        let class = self.world.book.get(answer.reply).outcome_class();
        let session = &mut self.sessions[s as usize];
        session.transaction_started = Some(now);
        session.answer = Answer {
            class,
            reply: answer.reply,
            handshake: false,
            close: answer.close,
        };
        scheduler.at(
            now + answer.after,
            Event::TransactionDone(self.reference(s)),
        );
    }

    pub(super) fn on_transaction_done(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        if self
            .mta
            .reconnects_after(self.sessions[s as usize].answer.reply)
        {
            return self.reconnect(s, scheduler);
        }
        self.finish_attempt(s, scheduler);
        self.sessions[s as usize].done += 1;
        let d = self.sessions[s as usize].destination;
        self.continue_session(s, scheduler);
        // The delivery's feedback may have widened the window: the waiting mail gets the
        // sessions it allows now, as qmgr starts a delivery agent when one finishes.
        self.dispatch(d, scheduler);
    }

    /// Sends the session's next message if flow control allows it now, waits a little
    /// for a rate token, or closes the session.
    pub(super) fn continue_session(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let session = self.sessions[s as usize];
        let d = session.destination;
        self.expire_stale_head(d, now);
        let destination = self.world.destination_mut(d);
        let spent = session.answer.close || session.done >= self.mta.max_deliveries_per_connection;
        if spent || destination.ready.is_empty() {
            return self.close_session(s, scheduler);
        }
        match destination.flow.permit(now, destination.sessions - 1) {
            Permit::Granted => {
                self.checks.continued(d, destination);
                self.sessions[s as usize].message = self.take_ready(d).expect("checked above");
                self.start_transaction(s, scheduler);
            }
            Permit::NotBefore(at) if at - now <= self.mta.session_idle_timeout => {
                scheduler.at(at, Event::Resume(self.reference(s)));
            }
            Permit::NotBefore(_) | Permit::AtLimit | Permit::Suspended { .. } => {
                self.close_session(s, scheduler)
            }
        }
    }

    /// The receiver ended the session before this message ("421 Max messages per
    /// connection"): no outcome, the message goes back to the head of the queue and the
    /// session closes, so the next one carries it.
    fn reconnect(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let Session {
            destination: d,
            message: slot,
            ..
        } = self.sessions[s as usize];
        let destination = self.world.destination_mut(d);
        destination.flow.release(now);
        destination.in_flight -= 1;
        destination.ready.push_front(Ready::stored(slot));
        self.checks.recorded(d, &self.world.destination_names);
        self.checks.moved(slot, Place::Ready, Instant::ZERO);
        self.queues.in_flight -= 1;
        self.queues.ready += 1;
        self.close_session(s, scheduler);
    }

    pub(super) fn on_handshake_failed(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        self.finish_attempt(s, scheduler);
        self.close_session(s, scheduler);
    }

    /// The receiver's backlog kept us waiting too long: give up on the connection.
    pub(super) fn on_greeting_timeout(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let session = &mut self.sessions[s as usize];
        let Some(ticket) = session.ticket.take() else {
            return;
        };
        session.answer = Answer {
            class: OutcomeClass::Timeout,
            reply: self.mta.replies.greeting_timeout,
            handshake: true,
            close: true,
        };
        let receiver = self.world.destination(session.destination).receiver;
        self.world.receiver_mut(receiver).abandon(ticket);
        self.tickets.remove(&ticket);
        self.on_handshake_failed(s, scheduler);
    }

    fn close_session(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let session = self.sessions[s as usize];
        let d = session.destination;
        let receiver = self.world.destination(d).receiver;
        let greeting_timeout = self.mta.greeting_timeout;
        let still_waiting =
            |connected: Instant, greeting: Instant| greeting < connected + greeting_timeout;
        if session.greeted.is_some()
            && let Some(Greeted { ticket, at }) = self
                .world
                .receiver_mut(receiver)
                .disconnect(now, still_waiting)
            && let Some(waiting) = self.tickets.remove(&ticket)
        {
            self.sessions[waiting as usize].ticket = None;
            scheduler.at(at, Event::Greeting(self.reference(waiting)));
        }
        self.sessions[s as usize].generation = session.generation.wrapping_add(1);
        self.free_sessions.push(s);
        self.world.destination_mut(d).sessions -= 1;
        self.connections -= 1;
        self.dispatch(d, scheduler);
        while self.connections < self.mta.max_connections {
            let Some(next) = self.wants_connection.pop_front() else {
                break;
            };
            self.world.destination_mut(next).wants_connection = false;
            self.dispatch(next, scheduler);
        }
    }
}
