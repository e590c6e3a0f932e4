//! The outbound MTA as a discrete-event model: traffic fills per-destination queues,
//! sessions connect and deliver one message at a time, flow control decides what may
//! start, failed messages wait for their retry, and every outcome is counted.

use std::collections::{HashMap, VecDeque};

use rand::Rng;

use super::config::MtaConfig;
use super::invariants::{Checks, Place};
use super::log::{Context, DeliveryLog};
use super::message::{Message, MessageStore};
use super::retry::RetryPolicy;
use super::world::World;
use crate::engine::{Model, Scheduler};
use crate::flow_control::{Attempt, OutcomeClass, Permit, ReplyMatch, State, Verdict};
use crate::metrics::{BounceReason, Histogram, Interval, Sample, TransitionRecord};
use crate::receiver::{ConnectAnswer, Greeted, ReplyId, ReplyKind};
use crate::rng::{Stream, stream};
use crate::scenario::{Scenario, TrafficWave};
use crate::units::{Instant, Span};

/// What happens next in the simulated world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The next message of a traffic wave arrives.
    Inject(u32),
    /// A deferred message's retry time has come.
    Due(u32),
    /// A session's connection was greeted (220).
    Greeting(u32, u32),
    /// A session's connection failed before the greeting, as stored in the session.
    HandshakeFailed(u32, u32),
    /// A queued connection's greeting timeout.
    GreetingTimeout(u32, u32),
    /// A mail transaction's reply arrived, as stored in the session.
    TransactionDone(u32, u32),
    /// A session waiting for a rate-limit token tries again.
    Resume(u32, u32),
    /// A destination's flow-control timer or rate token is due.
    Wake(u32),
    /// Take a time-series sample.
    Sample,
}

/// The reply of the attempt in progress, kept until its event fires.
#[derive(Debug, Clone, Copy)]
struct Answer {
    class: OutcomeClass,
    reply: ReplyId,
    handshake: bool,
    close: bool,
}

/// One SMTP session to a destination.
#[derive(Debug, Clone, Copy)]
struct Session {
    destination: u32,
    /// The message being attempted.
    message: u32,
    /// Transactions completed in this session.
    done: u32,
    /// Distinguishes reuses of this slot, so stale events are ignored.
    generation: u32,
    /// Waiting in the receiver's backlog under this ticket (0: not queued).
    ticket: u64,
    greeted: bool,
    answer: Answer,
}

/// What the model knows about each distinct reply, computed once.
struct ReplyInfo {
    class: OutcomeClass,
    bounce: BounceReason,
    /// Rule matches per flow-control policy, filled lazily.
    matched: Vec<Option<ReplyMatch>>,
}

/// Text logged when a due message is held back by flow control.
pub const HOLD_REPLY: &str = "Messages queued (dynamic flow control)";

pub struct MailModel {
    pub world: World,
    mta: MtaConfig,
    retry: RetryPolicy,
    end: Instant,
    sample_every: Span,
    traffic: Vec<TrafficWave>,
    /// Per wave: messages injected so far.
    injected_of_wave: Vec<u64>,
    next_id: u32,
    traffic_rng: Stream,
    mta_rng: Stream,
    pub messages: MessageStore,
    sessions: Vec<Session>,
    free_sessions: Vec<u32>,
    tickets: HashMap<u64, u32>,
    connections: u32,
    wants_connection: VecDeque<u32>,
    replies: Vec<ReplyInfo>,
    internal_reply: ReplyId,
    greeting_timeout_reply: ReplyId,
    /// Totals over all destinations.
    pub total_interval: Interval,
    pub ready_total: u64,
    pub waiting_total: u64,
    pub in_flight_total: u64,
    /// Destinations per state (normal, backoff, suspended).
    pub in_state: [u64; 3],
    pub latency_total: Histogram,
    pub latency_detail: Vec<Histogram>,
    pub latency_other: Histogram,
    pub samples: Vec<Sample>,
    pub transitions: Vec<TransitionRecord>,
    pub log: Option<DeliveryLog>,
    /// Invariants checked as the model runs (debug builds only).
    checks: Checks,
}

impl MailModel {
    pub fn new(scenario: &Scenario, world: World, log: Option<DeliveryLog>) -> Self {
        let mut world = world;
        let internal_reply = world
            .book
            .intern("451 4.3.0 Internal error: temporary local problem, try again later")
            .expect("a literal reply");
        let greeting_timeout_reply = world
            .book
            .intern("421 4.4.2 timed out waiting for the server greeting")
            .expect("a literal reply");
        let details = world.detail_names().len();
        let destinations = world.destinations.len() as u64;
        let mut model = MailModel {
            mta: scenario.mta.clone(),
            retry: RetryPolicy::new(&scenario.mta.retry),
            end: Instant::ZERO + scenario.duration,
            sample_every: scenario.sample_every,
            traffic: scenario.traffic.clone(),
            injected_of_wave: vec![0; scenario.traffic.len()],
            next_id: 0,
            traffic_rng: stream(scenario.seed, "traffic"),
            mta_rng: stream(scenario.seed, "mta"),
            messages: MessageStore::default(),
            sessions: Vec::new(),
            free_sessions: Vec::new(),
            tickets: HashMap::new(),
            connections: 0,
            wants_connection: VecDeque::new(),
            replies: Vec::new(),
            internal_reply,
            greeting_timeout_reply,
            total_interval: Interval::default(),
            ready_total: 0,
            waiting_total: 0,
            in_flight_total: 0,
            in_state: [destinations, 0, 0],
            latency_total: Histogram::new(),
            latency_detail: vec![Histogram::new(); details],
            latency_other: Histogram::new(),
            samples: Vec::new(),
            transitions: Vec::new(),
            log,
            checks: Checks::default(),
            world,
        };
        model.index_replies();
        model
    }

    /// Schedules the first event of every wave and the first sample.
    pub fn start(&self, scheduler: &mut Scheduler<Event>) {
        for (wave, spec) in self.traffic.iter().enumerate() {
            if spec.messages > 0 {
                scheduler.at(Instant::ZERO + spec.start, Event::Inject(wave as u32));
            }
        }
        scheduler.at(Instant::ZERO, Event::Sample);
    }

    /// Learns the class and bounce reason of every reply interned so far.
    fn index_replies(&mut self) {
        for (_, reply) in self.world.book.iter().skip(self.replies.len()) {
            let class = match reply.class() {
                ReplyKind::Accepted => OutcomeClass::Delivered,
                ReplyKind::Temporary => OutcomeClass::Tempfail,
                ReplyKind::Permanent => OutcomeClass::Permfail,
            };
            let enhanced = reply.enhanced.as_deref().unwrap_or("");
            let bounce = if enhanced == "5.1.1" {
                BounceReason::UserUnknown
            } else if enhanced.starts_with("5.7.") {
                BounceReason::Blocked
            } else {
                BounceReason::Rejected
            };
            self.replies.push(ReplyInfo {
                class,
                bounce,
                matched: Vec::new(),
            });
        }
    }

    /// Which flow-control rules match `reply` for destination `d` (regexes run once per
    /// distinct reply and policy).
    fn reply_match(&mut self, d: u32, reply: ReplyId) -> ReplyMatch {
        let policy = self.world.destinations[d as usize].policy as usize;
        let info = &mut self.replies[reply.index()];
        if info.matched.len() <= policy {
            info.matched.resize(policy + 1, None);
        }
        *info.matched[policy].get_or_insert_with(|| {
            self.world.policies[policy].classify(&self.world.book.get(reply).text)
        })
    }

    fn inject(&mut self, wave: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let spec = &self.traffic[wave as usize];
        let (total, start, over) = (spec.messages, spec.start, spec.over.as_millis());
        let due_at = |n: u64| {
            Instant::ZERO
                + start
                + Span::from_millis((over as u128 * n as u128 / total as u128) as u64)
        };
        let count = &mut self.injected_of_wave[wave as usize];
        let mut batch = 0;
        while *count < total && due_at(*count) <= now {
            *count += 1;
            batch += 1;
        }
        if *count < total {
            scheduler.at(due_at(*count), Event::Inject(wave));
        }
        for _ in 0..batch {
            self.inject_one(now, scheduler);
        }
    }

    fn inject_one(&mut self, now: Instant, scheduler: &mut Scheduler<Event>) {
        let domain = self.world.pick_domain(&mut self.traffic_rng);
        let slot = self.messages.insert(Message {
            id: self.next_id,
            domain,
            injected_at: now,
            first_attempt: Instant::NEVER,
            previous_delay: 0,
            attempts: 0,
            held: false,
        });
        self.next_id = self.next_id.wrapping_add(1);
        let d = self.world.domains[domain as usize].destination;
        self.world.destinations[d as usize].tally.injected += 1;
        self.push_ready(d, slot);
        self.dispatch(d, scheduler);
    }

    fn push_ready(&mut self, d: u32, slot: u32) {
        let destination = &mut self.world.destinations[d as usize];
        destination.ready.push_back(slot);
        self.checks.moved(slot, Place::Ready, Instant::ZERO);
        destination.unheld += 1;
        self.ready_total += 1;
    }

    /// Expires the messages at the head of `d`'s ready queue that are too old, so the
    /// next one taken is deliverable.
    fn expire_stale_head(&mut self, d: u32, now: Instant) {
        let max_age = self.mta.retry.max_age;
        while let Some(&slot) = self.world.destinations[d as usize].ready.front() {
            if now.saturating_since(self.messages[slot].injected_at) < max_age {
                return;
            }
            self.pop_ready(d);
            self.expire(d, slot);
        }
    }

    fn pop_ready(&mut self, d: u32) -> Option<u32> {
        let destination = &mut self.world.destinations[d as usize];
        let slot = destination.ready.pop_front()?;
        destination.unheld = destination.unheld.min(destination.ready.len());
        self.ready_total -= 1;
        Some(slot)
    }

    /// Takes the next ready message of `d` into a session.
    fn take_ready(&mut self, d: u32) -> Option<u32> {
        let slot = self.pop_ready(d)?;
        self.checks.moved(slot, Place::Session, Instant::ZERO);
        self.world.destinations[d as usize].in_flight += 1;
        self.in_flight_total += 1;
        Some(slot)
    }

    /// Opens as many sessions for `d` as flow control and the connection cap allow.
    fn dispatch(&mut self, d: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        loop {
            self.expire_stale_head(d, now);
            let destination = &mut self.world.destinations[d as usize];
            if destination.ready.is_empty() {
                return;
            }
            if self.connections >= self.mta.max_connections {
                if !destination.wants_connection {
                    destination.wants_connection = true;
                    self.wants_connection.push_back(d);
                }
                return;
            }
            match destination.flow.permit(now, destination.sessions) {
                Permit::Granted => self.open_session(d, scheduler),
                Permit::AtLimit => return self.hold_ready(d, now),
                Permit::NotBefore(at) | Permit::Suspended { until: at } => {
                    self.hold_ready(d, now);
                    return self.wake(d, at, scheduler);
                }
            }
        }
    }

    /// Counts the ready messages not yet counted as held, if flow control is what holds
    /// them back (the destination is in backoff or suspended).
    fn hold_ready(&mut self, d: u32, now: Instant) {
        let destination = &mut self.world.destinations[d as usize];
        if destination.flow.state() == State::Normal || destination.unheld == 0 {
            return;
        }
        let first = destination.ready.len() - destination.unheld;
        let state = destination.flow.state();
        for &slot in destination.ready.range(first..) {
            let message = &mut self.messages[slot];
            destination.tally.dfc_holds += 1;
            if !message.held {
                message.held = true;
                destination.tally.dfc_held_messages += 1;
            }
            if let Some(log) = &mut self.log {
                let domain = &self.world.domain_names[message.domain as usize];
                log.hold(
                    now,
                    message,
                    Context {
                        destination: &destination.name,
                        domain,
                        state,
                    },
                );
            }
        }
        destination.unheld = 0;
    }

    /// Makes sure a Wake event for `d` fires no later than `at`.
    fn wake(&mut self, d: u32, at: Instant, scheduler: &mut Scheduler<Event>) {
        let destination = &mut self.world.destinations[d as usize];
        if at < destination.wake_at {
            destination.wake_at = at;
            scheduler.at(at, Event::Wake(d));
        }
    }

    fn on_wake(&mut self, d: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let destination = &mut self.world.destinations[d as usize];
        if destination.wake_at != now {
            return;
        }
        destination.wake_at = Instant::NEVER;
        destination.flow.advance(now);
        self.after_flow_change(d, scheduler);
        self.dispatch(d, scheduler);
    }

    /// Records transitions and re-arms the destination's flow-control timer.
    fn after_flow_change(&mut self, d: u32, scheduler: &mut Scheduler<Event>) {
        let destination = &mut self.world.destinations[d as usize];
        for transition in destination.flow.drain_transitions() {
            self.checks.transition(d, &destination.name, transition.at);
            let spent = transition.at - destination.state_since;
            destination.tally.time_in_state[transition.from as usize] += spent;
            destination.state_since = transition.at;
            self.in_state[transition.from as usize] -= 1;
            self.in_state[transition.to as usize] += 1;
            self.transitions.push(TransitionRecord {
                time: transition.at,
                destination: destination.name.clone(),
                from: transition.from,
                to: transition.to,
                reason: transition.reason.to_string(),
            });
        }
        if let Some(at) = destination.flow.next_wakeup() {
            self.wake(d, at, scheduler);
        }
    }

    /// Opens a session for the head of `d`'s ready queue (a permit was just granted).
    fn open_session(&mut self, d: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let message = self
            .take_ready(d)
            .expect("dispatch checked the ready queue");
        let destination = &mut self.world.destinations[d as usize];
        let (connections, max) = (self.connections, self.mta.max_connections);
        self.checks.opened(d, destination, connections, max);
        destination.sessions += 1;
        self.connections += 1;
        let receiver = destination.receiver;
        let s = self.new_session(d, message);
        let generation = self.sessions[s as usize].generation;
        let internal = self.mta.internal_errors.probability_at(now);
        if internal > 0.0 && self.mta_rng.random_bool(internal) {
            self.fail_handshake(
                s,
                OutcomeClass::Internal,
                self.internal_reply,
                Span::ZERO,
                scheduler,
            );
            return;
        }
        match self.world.receivers[receiver as usize].connect(now) {
            ConnectAnswer::Greeted { after } => {
                scheduler.at(now + after, Event::Greeting(s, generation))
            }
            ConnectAnswer::Rejected { after, reply } => {
                self.fail_handshake(s, OutcomeClass::Tempfail, reply, after, scheduler)
            }
            ConnectAnswer::Refused { after, reply } => {
                self.fail_handshake(s, OutcomeClass::Connect, reply, after, scheduler)
            }
            ConnectAnswer::TimedOut { after, reply } => {
                self.fail_handshake(s, OutcomeClass::Timeout, reply, after, scheduler)
            }
            ConnectAnswer::Queued { ticket } => {
                self.sessions[s as usize].ticket = ticket;
                self.tickets.insert(ticket, s);
                scheduler.after(
                    self.mta.greeting_timeout,
                    Event::GreetingTimeout(s, generation),
                );
            }
        }
    }

    fn new_session(&mut self, destination: u32, message: u32) -> u32 {
        let answer = Answer {
            class: OutcomeClass::Delivered,
            reply: self.internal_reply,
            handshake: false,
            close: false,
        };
        let fresh = Session {
            destination,
            message,
            done: 0,
            generation: 0,
            ticket: 0,
            greeted: false,
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

    fn fail_handshake(
        &mut self,
        s: u32,
        class: OutcomeClass,
        reply: ReplyId,
        after: Span,
        scheduler: &mut Scheduler<Event>,
    ) {
        let session = &mut self.sessions[s as usize];
        session.answer = Answer {
            class,
            reply,
            handshake: true,
            close: true,
        };
        scheduler.after(after, Event::HandshakeFailed(s, session.generation));
    }

    fn live(&self, s: u32, generation: u32) -> bool {
        self.sessions[s as usize].generation == generation
    }

    fn on_greeting(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let session = &mut self.sessions[s as usize];
        session.greeted = true;
        session.ticket = 0;
        self.start_transaction(s, scheduler);
    }

    fn start_transaction(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let session = self.sessions[s as usize];
        let receiver = self.world.destinations[session.destination as usize].receiver;
        let message = &mut self.messages[session.message];
        if message.first_attempt == Instant::NEVER {
            message.first_attempt = now;
        }
        let answer = self.world.receivers[receiver as usize].transaction(
            now,
            message.id as u64,
            message.first_attempt,
            session.done,
        );
        let class = self.replies[answer.reply.index()].class;
        let session = &mut self.sessions[s as usize];
        session.answer = Answer {
            class,
            reply: answer.reply,
            handshake: false,
            close: answer.close,
        };
        scheduler.at(
            now + answer.after,
            Event::TransactionDone(s, session.generation),
        );
    }

    fn on_transaction_done(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        self.finish_attempt(s, scheduler);
        self.sessions[s as usize].done += 1;
        self.continue_session(s, scheduler);
    }

    /// Sends the session's next message if flow control allows it now, waits a little
    /// for a rate token, or closes the session.
    fn continue_session(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let session = self.sessions[s as usize];
        let d = session.destination;
        self.expire_stale_head(d, now);
        let destination = &mut self.world.destinations[d as usize];
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
                scheduler.at(at, Event::Resume(s, session.generation));
            }
            Permit::NotBefore(_) | Permit::AtLimit | Permit::Suspended { .. } => {
                self.close_session(s, scheduler)
            }
        }
    }

    fn on_handshake_failed(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        self.finish_attempt(s, scheduler);
        self.close_session(s, scheduler);
    }

    fn on_greeting_timeout(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let session = &mut self.sessions[s as usize];
        if session.greeted || session.ticket == 0 {
            return;
        }
        let receiver = self.world.destinations[session.destination as usize].receiver;
        self.world.receivers[receiver as usize].abandon(session.ticket);
        self.tickets.remove(&session.ticket);
        session.ticket = 0;
        session.answer = Answer {
            class: OutcomeClass::Timeout,
            reply: self.greeting_timeout_reply,
            handshake: true,
            close: true,
        };
        self.on_handshake_failed(s, scheduler);
    }

    fn close_session(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let session = self.sessions[s as usize];
        let d = session.destination;
        let receiver = self.world.destinations[d as usize].receiver;
        if session.greeted
            && let Some(Greeted { ticket, at }) =
                self.world.receivers[receiver as usize].disconnect(now)
            && let Some(waiting) = self.tickets.remove(&ticket)
        {
            let generation = self.sessions[waiting as usize].generation;
            self.sessions[waiting as usize].ticket = 0;
            scheduler.at(at, Event::Greeting(waiting, generation));
        }
        self.sessions[s as usize].generation = session.generation.wrapping_add(1);
        self.free_sessions.push(s);
        self.world.destinations[d as usize].sessions -= 1;
        self.connections -= 1;
        self.dispatch(d, scheduler);
        while self.connections < self.mta.max_connections {
            let Some(next) = self.wants_connection.pop_front() else {
                break;
            };
            self.world.destinations[next as usize].wants_connection = false;
            self.dispatch(next, scheduler);
        }
    }

    /// Applies the outcome stored in the session to its message and to flow control.
    fn finish_attempt(&mut self, s: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let Session {
            destination: d,
            message: slot,
            answer,
            ..
        } = self.sessions[s as usize];
        self.in_flight_total -= 1;
        self.world.destinations[d as usize].in_flight -= 1;
        self.messages[slot].attempts = self.messages[slot].attempts.saturating_add(1);
        let matched = self.reply_match(d, answer.reply);
        let destination = &mut self.world.destinations[d as usize];
        let attempt = Attempt {
            class: answer.class,
            matched,
            handshake: answer.handshake,
        };
        let verdict = destination.flow.record(now, attempt);
        self.checks.recorded(d, &destination.name);
        destination.tally.attempts += 1;
        destination.interval.attempts += 1;
        self.total_interval.attempts += 1;
        if let Some(log) = &mut self.log {
            let message = &self.messages[slot];
            let domain = &self.world.domain_names[message.domain as usize];
            let reply = &self.world.book.get(answer.reply).text;
            let context = Context {
                destination: &destination.name,
                domain,
                state: destination.flow.state(),
            };
            log.attempt(now, message, context, answer.class, reply);
        }
        match (answer.class, verdict) {
            (OutcomeClass::Delivered, _) => self.deliver(d, slot, now),
            (_, Verdict::Bounce { rule: Some(_) }) => {
                self.bounce(d, slot, BounceReason::FlowControlRule)
            }
            (OutcomeClass::Permfail, _) => {
                let reason = self.replies[answer.reply.index()].bounce;
                self.bounce(d, slot, reason)
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

    fn deliver(&mut self, d: u32, slot: u32, now: Instant) {
        let latency = now - self.messages[slot].injected_at;
        let destination = &mut self.world.destinations[d as usize];
        destination.tally.delivered += 1;
        destination.interval.delivered += 1;
        self.total_interval.delivered += 1;
        self.latency_total.record(latency);
        match destination.detail {
            Some(i) => self.latency_detail[i as usize].record(latency),
            None => self.latency_other.record(latency),
        }
        self.remove(slot);
    }

    fn bounce(&mut self, d: u32, slot: u32, reason: BounceReason) {
        let destination = &mut self.world.destinations[d as usize];
        destination.tally.bounce(reason);
        destination.interval.bounced += 1;
        self.total_interval.bounced += 1;
        self.remove(slot);
    }

    /// Forgets a message whose fate is final.
    fn remove(&mut self, slot: u32) {
        self.checks.moved(slot, Place::Gone, Instant::ZERO);
        self.messages.remove(slot);
    }

    fn expire(&mut self, d: u32, slot: u32) {
        self.world.destinations[d as usize].tally.expired += 1;
        self.remove(slot);
    }

    /// A temporary failure: the message waits for its retry, at least as long as flow
    /// control asks, or expires if it is too old.
    fn defer(
        &mut self,
        d: u32,
        slot: u32,
        reply: ReplyId,
        floor: Span,
        scheduler: &mut Scheduler<Event>,
    ) {
        let now = scheduler.now();
        let destination = &mut self.world.destinations[d as usize];
        destination.tally.defer(reply.index());
        destination.interval.deferred += 1;
        self.total_interval.deferred += 1;
        let message = &mut self.messages[slot];
        let age = now - message.injected_at;
        if age >= self.mta.retry.max_age {
            return self.expire(d, slot);
        }
        let retry = u32::from(message.attempts.saturating_sub(1));
        let delay = self
            .retry
            .delay(
                retry,
                age,
                Span::from_millis(message.previous_delay.into()),
                &mut self.mta_rng,
            )
            .max(floor);
        message.previous_delay = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        self.checks
            .moved(slot, Place::Waiting, now.saturating_add(delay));
        destination.waiting += 1;
        self.waiting_total += 1;
        scheduler.after(delay, Event::Due(slot));
    }

    fn on_due(&mut self, slot: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let domain = self.messages[slot].domain;
        let d = self.world.domains[domain as usize].destination;
        self.world.destinations[d as usize].waiting -= 1;
        self.waiting_total -= 1;
        if now - self.messages[slot].injected_at >= self.mta.retry.max_age {
            return self.expire(d, slot);
        }
        self.push_ready(d, slot);
        self.dispatch(d, scheduler);
    }

    /// Samples now and schedules the next sample strictly before the end: the last one is
    /// taken by [`MailModel::finish`], after every event at the end time, so the time
    /// series' intervals hold every count of the run (the last may be a partial interval).
    fn on_sample(&mut self, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        self.sample(now);
        let next = now + self.sample_every;
        if next < self.end {
            scheduler.at(next, Event::Sample);
        }
    }

    fn sample(&mut self, now: Instant) {
        for (detail, &d) in self.world.detailed.iter().enumerate() {
            let destination = &mut self.world.destinations[d as usize];
            let receiver = &self.world.receivers[destination.receiver as usize];
            self.samples.push(Sample {
                time: now,
                destination: Some(detail as u32),
                ready: destination.ready.len() as u64,
                waiting: destination.waiting,
                in_flight: destination.in_flight,
                counts: std::mem::take(&mut destination.interval),
                state: Some(destination.flow.state()),
                concurrency_limit: Some(destination.flow.concurrency_limit()),
                rate_limit_per_hour: destination.flow.rate_limit().map(|r| r.per_hour()),
                reputation: receiver.reputation(now),
                receiver_blocking: Some(receiver.blocked()),
                receiver_tokens: receiver.tokens(now),
                in_backoff: u64::from(destination.flow.state() == State::Backoff),
                suspended: u64::from(destination.flow.state() == State::Suspended),
            });
        }
        self.samples.push(Sample {
            time: now,
            destination: None,
            ready: self.ready_total,
            waiting: self.waiting_total,
            in_flight: self.in_flight_total,
            counts: std::mem::take(&mut self.total_interval),
            state: None,
            concurrency_limit: None,
            rate_limit_per_hour: None,
            reputation: None,
            receiver_blocking: None,
            receiver_tokens: None,
            in_backoff: self.in_state[State::Backoff as usize],
            suspended: self.in_state[State::Suspended as usize],
        });
    }

    /// Closes the books at the end of the run: the last sample, time in the current states.
    pub fn finish(&mut self, now: Instant) {
        self.sample(now);
        for destination in &mut self.world.destinations {
            let state = destination.flow.state();
            destination.tally.time_in_state[state as usize] += now - destination.state_since;
            destination.state_since = now;
        }
    }

    /// Messages still queued at `d`: ready, waiting for a retry, or in a session.
    pub fn queued(&self, d: usize) -> u64 {
        let destination = &self.world.destinations[d];
        destination.ready.len() as u64 + destination.waiting + destination.in_flight
    }
}

impl Model for MailModel {
    type Event = Event;

    fn handle(&mut self, event: Event, scheduler: &mut Scheduler<Event>) {
        self.checks.clock(scheduler.now());
        match event {
            Event::Inject(wave) => self.inject(wave, scheduler),
            Event::Due(slot) => self.on_due(slot, scheduler),
            Event::Wake(d) => self.on_wake(d, scheduler),
            Event::Sample => self.on_sample(scheduler),
            Event::Greeting(s, g) if self.live(s, g) => self.on_greeting(s, scheduler),
            Event::HandshakeFailed(s, g) if self.live(s, g) => {
                self.on_handshake_failed(s, scheduler)
            }
            Event::GreetingTimeout(s, g) if self.live(s, g) => {
                self.on_greeting_timeout(s, scheduler)
            }
            Event::TransactionDone(s, g) if self.live(s, g) => {
                self.on_transaction_done(s, scheduler)
            }
            Event::Resume(s, g) if self.live(s, g) => self.continue_session(s, scheduler),
            Event::Greeting(..)
            | Event::HandshakeFailed(..)
            | Event::GreetingTimeout(..)
            | Event::TransactionDone(..)
            | Event::Resume(..) => {}
        }
    }
}
