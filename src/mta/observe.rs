//! What the MTA model reports as it runs, to whoever measures or logs it.
//!
//! The model only simulates; every count, sample, transition and log line comes from an
//! [`Observer`] it reports typed events to. Observers are generic parameters (static
//! dispatch, no allocation per event) and combine as tuples and options, so a new output —
//! a real MTA's log format, a comparison with a real log — is one more observer, and the
//! model does not change.
//!
//! Events arrive in simulated-time order. For one attempt the order is: [`Observer::
//! attempted`] (flow control has recorded it: `state` is the state after), then the
//! message's fate ([`Observer::delivered`], [`Observer::bounced`] or [`Observer::deferred`],
//! which may be followed by [`Observer::expired`] when the message is too old to retry),
//! then any [`Observer::transition`] the attempt caused.

use super::message::Message;
use super::world::{DestinationId, World};
use crate::flow_control::{OutcomeClass, State, Transition};
use crate::replies::{BounceReason, ReplyId};
use crate::units::Instant;

/// The session an attempt was made in: which connection, and how far into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// A number for the connection, unique among those open at the same time (a log's
    /// process id or session id).
    pub id: u32,
    /// When the MTA started connecting.
    pub opened: Instant,
    /// When the receiver's greeting arrived, if it did.
    pub greeted: Option<Instant>,
    /// Transactions completed in this session before this one (0 for the first).
    pub earlier: u32,
}

/// One attempt's end.
#[derive(Debug, Clone, Copy)]
pub struct AttemptEnd<'a> {
    pub at: Instant,
    pub destination: DestinationId,
    pub message: &'a Message,
    pub class: OutcomeClass,
    pub reply: ReplyId,
    /// The attempt failed at connect or greeting.
    pub handshake: bool,
    /// When its mail transaction started (None: it never got that far).
    pub transaction_started: Option<Instant>,
    pub session: SessionInfo,
    /// The destination's flow-control state once the attempt was recorded.
    pub state: State,
}

/// Queue depths over every destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queues {
    pub ready: u64,
    pub waiting: u64,
    pub in_flight: u64,
}

/// The world as it stands at a sample or at the end.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub at: Instant,
    pub world: &'a World,
    pub queues: Queues,
    /// Messages in the store: the conservation check compares it with `queues`.
    pub stored: u64,
}

/// Something that happened to one message at one destination.
#[derive(Debug, Clone, Copy)]
pub struct MessageEvent<'a> {
    pub at: Instant,
    pub destination: DestinationId,
    pub message: &'a Message,
}

/// Receives the model's events. Every method does nothing by default.
#[allow(unused_variables)]
pub trait Observer {
    /// A message entered the queue.
    fn injected(&mut self, world: &World, event: MessageEvent) {}

    /// A due message was held back by flow control (backoff or suspension); `first` when
    /// it is the message's first hold.
    fn held(&mut self, world: &World, event: MessageEvent, first: bool) {}

    fn attempted(&mut self, world: &World, attempt: &AttemptEnd) {}

    fn delivered(&mut self, world: &World, event: MessageEvent) {}

    fn bounced(&mut self, world: &World, event: MessageEvent, reason: BounceReason) {}

    /// A temporary failure (`reply`): the message waits for a retry, or expires next.
    fn deferred(&mut self, world: &World, event: MessageEvent, reply: ReplyId) {}

    fn expired(&mut self, world: &World, event: MessageEvent) {}

    fn transition(&mut self, world: &World, destination: DestinationId, transition: &Transition) {}

    /// A sample tick: the last one comes at the end, after every event of the run.
    fn sample(&mut self, view: &View) {}
}

/// Observes nothing.
impl Observer for () {}

/// Forwards every event to each observer the expressions yield, in order. The receiver
/// is named at the call site (`self`) so the expressions can use it.
macro_rules! forward {
    ($self:ident => $($target:expr),+) => {
        fn injected(&mut $self, world: &World, event: MessageEvent) {
            $( if let Some(o) = $target { o.injected(world, event); } )+
        }
        fn held(&mut $self, world: &World, event: MessageEvent, first: bool) {
            $( if let Some(o) = $target { o.held(world, event, first); } )+
        }
        fn attempted(&mut $self, world: &World, attempt: &AttemptEnd) {
            $( if let Some(o) = $target { o.attempted(world, attempt); } )+
        }
        fn delivered(&mut $self, world: &World, event: MessageEvent) {
            $( if let Some(o) = $target { o.delivered(world, event); } )+
        }
        fn bounced(&mut $self, world: &World, event: MessageEvent, reason: BounceReason) {
            $( if let Some(o) = $target { o.bounced(world, event, reason); } )+
        }
        fn deferred(&mut $self, world: &World, event: MessageEvent, reply: ReplyId) {
            $( if let Some(o) = $target { o.deferred(world, event, reply); } )+
        }
        fn expired(&mut $self, world: &World, event: MessageEvent) {
            $( if let Some(o) = $target { o.expired(world, event); } )+
        }
        fn transition(&mut $self, world: &World, d: DestinationId, transition: &Transition) {
            $( if let Some(o) = $target { o.transition(world, d, transition); } )+
        }
        fn sample(&mut $self, view: &View) {
            $( if let Some(o) = $target { o.sample(view); } )+
        }
    };
}

/// An observer that may be absent (a delivery log only when asked for).
impl<O: Observer> Observer for Option<O> {
    forward!(self => self.as_mut());
}

/// Two observers, told in order (nest tuples for more).
impl<A: Observer, B: Observer> Observer for (A, B) {
    forward!(self => Some(&mut self.0), Some(&mut self.1));
}
