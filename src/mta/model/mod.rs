//! The outbound MTA as a discrete-event model: traffic fills per-destination queues
//! ([`inject`]), flow control decides what may start ([`dispatch`]), sessions connect and
//! deliver one message at a time ([`session`]), and each attempt decides its message's
//! fate ([`fate`]). It only simulates: every measurement is an [`Observer`]'s.

mod dispatch;
mod fate;
mod inject;
mod session;

use std::collections::{HashMap, VecDeque};

use super::config::Mta;
use super::invariants::Checks;
use super::message::{MessageSlot, MessageStore};
use super::observe::{Observer, Queues, View};
use super::world::{DestinationId, World};
use crate::engine::{Model, Scheduler};
use crate::flow_control::{ReplyMatch, Transition};
use crate::replies::ReplyId;
use crate::rng::{Stream, stream};
use crate::scenario::{CompiledScenario, Wave};
use crate::units::{Instant, Span};

use session::{Session, SessionRef};

/// Text logged when a due message is held back by flow control.
pub const HOLD_REPLY: &str = "Messages queued (dynamic flow control)";

/// What happens next in the simulated world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The next message of a traffic wave (by index) arrives.
    Inject(u32),
    /// A deferred message's retry time has come.
    Due(MessageSlot),
    /// A session's connection was greeted (220).
    Greeting(SessionRef),
    /// A session's connection failed before the greeting, as stored in the session.
    HandshakeFailed(SessionRef),
    /// A queued connection's greeting timeout.
    GreetingTimeout(SessionRef),
    /// A mail transaction's reply arrived, as stored in the session.
    TransactionDone(SessionRef),
    /// A session waiting for a rate-limit token tries again.
    Resume(SessionRef),
    /// A destination's flow-control timer or rate token is due.
    Wake(DestinationId),
    /// Take a time-series sample.
    Sample,
}

/// The MTA model, reporting to observer `O`.
pub struct MailModel<O> {
    pub world: World,
    pub observer: O,
    mta: Mta,
    end: Instant,
    sample_every: Span,
    traffic: Vec<Wave>,
    /// Per wave: messages injected so far.
    injected_of_wave: Vec<u64>,
    next_id: u32,
    picks: inject::Picks,
    mta_rng: Stream,
    pub messages: MessageStore,
    /// Ready entries that are arrived messages, not in `messages`.
    arrived: u64,
    sessions: Vec<Session>,
    free_sessions: Vec<u32>,
    /// Sessions waiting in a receiver's backlog, by ticket.
    tickets: HashMap<u64, u32>,
    connections: u32,
    wants_connection: VecDeque<DestinationId>,
    /// Per reply: which rules of each policy match it, filled lazily.
    matches: Vec<Vec<Option<ReplyMatch>>>,
    queues: Queues,
    /// Transitions drained from a destination, handed to the observer (reused).
    transitions: Vec<Transition>,
    /// Invariants checked as the model runs (debug builds only).
    checks: Checks,
}

impl<O: Observer> MailModel<O> {
    pub fn new(compiled: &CompiledScenario, world: World, observer: O) -> Self {
        let seed = compiled.scenario.seed;
        let picks = inject::Picks::new(&world, stream(seed, "traffic"));
        MailModel {
            matches: vec![Vec::new(); world.book.len()],
            world,
            observer,
            mta: compiled.mta.clone(),
            end: compiled.end(),
            sample_every: compiled.scenario.sample_every,
            traffic: compiled.traffic.clone(),
            injected_of_wave: vec![0; compiled.traffic.len()],
            next_id: 0,
            picks,
            mta_rng: stream(seed, "mta"),
            messages: MessageStore::default(),
            arrived: 0,
            sessions: Vec::new(),
            free_sessions: Vec::new(),
            tickets: HashMap::new(),
            connections: 0,
            wants_connection: VecDeque::new(),
            queues: Queues::default(),
            transitions: Vec::new(),
            checks: Checks::default(),
        }
    }

    /// Schedules the first event of every wave and the first sample.
    pub fn start(&self, scheduler: &mut Scheduler<Event>) {
        for (index, wave) in self.traffic.iter().enumerate() {
            if wave.messages > 0 {
                scheduler.at(wave.start, Event::Inject(index as u32));
            }
        }
        scheduler.at(Instant::ZERO, Event::Sample);
    }

    /// Which flow-control rules match `reply` for destination `d` (regexes run once per
    /// distinct reply and policy).
    fn reply_match(&mut self, d: DestinationId, reply: ReplyId) -> ReplyMatch {
        let policy = self.world.destination(d).policy;
        let slot = usize::from(policy.0);
        let matched = &mut self.matches[reply.index()];
        if matched.len() <= slot {
            matched.resize(slot + 1, None);
        }
        *matched[slot].get_or_insert_with(|| {
            self.world
                .policies
                .get(policy)
                .classify(&self.world.book.get(reply).text)
        })
    }

    /// Samples now and schedules the next sample strictly before the end: the last one is
    /// taken by [`MailModel::finish`], after every event at the end time, so the time
    /// series' intervals hold every count of the run (the last may be a partial interval).
    fn on_sample(&mut self, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let view = view(&self.world, self.queues, self.stored(), now);
        self.observer.sample(&view);
        let next = now + self.sample_every;
        if next < self.end {
            scheduler.at(next, Event::Sample);
        }
    }

    /// Queue depths over every destination now.
    pub fn queues(&self) -> Queues {
        self.queues
    }

    /// Closes the books at the end of the run, after every event at `now`: the last
    /// sample.
    pub fn finish(&mut self, now: Instant) {
        let view = view(&self.world, self.queues, self.stored(), now);
        self.observer.sample(&view);
    }

    /// Messages queued: stored ones and arrived entries.
    pub fn stored(&self) -> u64 {
        self.messages.len() as u64 + self.arrived
    }
}

/// The world as observers see it at `at` (built from the fields it needs, so that the
/// observer field stays free to be told).
fn view(world: &World, queues: Queues, stored: u64, at: Instant) -> View<'_> {
    View {
        at,
        world,
        queues,
        stored,
    }
}

impl<O: Observer> Model for MailModel<O> {
    type Event = Event;

    fn handle(&mut self, event: Event, scheduler: &mut Scheduler<Event>) {
        self.checks.clock(scheduler.now());
        match event {
            Event::Inject(wave) => self.inject(wave, scheduler),
            Event::Due(slot) => self.on_due(slot, scheduler),
            Event::Wake(d) => self.on_wake(d, scheduler),
            Event::Sample => self.on_sample(scheduler),
            Event::Greeting(s) if self.live(s) => self.on_greeting(s.slot, scheduler),
            Event::HandshakeFailed(s) if self.live(s) => {
                self.on_handshake_failed(s.slot, scheduler)
            }
            Event::GreetingTimeout(s) if self.live(s) => {
                self.on_greeting_timeout(s.slot, scheduler)
            }
            Event::TransactionDone(s) if self.live(s) => {
                self.on_transaction_done(s.slot, scheduler)
            }
            Event::Resume(s) if self.live(s) => self.continue_session(s.slot, scheduler),
            Event::Greeting(_)
            | Event::HandshakeFailed(_)
            | Event::GreetingTimeout(_)
            | Event::TransactionDone(_)
            | Event::Resume(_) => {}
        }
    }
}
