//! What may start: flow control's permits per destination, the global connection cap, the
//! holds that make "Messages queued (dynamic flow control)", and flow control's timers.

use super::{Event, MailModel};
use crate::engine::Scheduler;
use crate::flow_control::{Permit, State};
use crate::mta::config::OnSuspension;
use crate::mta::message::ReadyMessage;
use crate::mta::observe::{MessageEvent, Observer};
use crate::mta::world::DestinationId;
use crate::units::Instant;

impl<O: Observer> MailModel<O> {
    /// Opens as many sessions for `d` as flow control and the connection cap allow.
    pub(super) fn dispatch(&mut self, d: DestinationId, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        loop {
            self.expire_stale_head(d, now);
            let destination = self.world.destination_mut(d);
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
                Permit::Suspended { until } if self.mta.on_suspension == OnSuspension::Defer => {
                    self.defer_ready(d, scheduler);
                    return self.wake(d, until, scheduler);
                }
                Permit::NotBefore(at) | Permit::Suspended { until: at } => {
                    self.hold_ready(d, now);
                    return self.wake(d, at, scheduler);
                }
            }
        }
    }

    /// Reports the ready messages not yet reported as held, if flow control is what holds
    /// them back (the destination is in backoff or suspended).
    fn hold_ready(&mut self, d: DestinationId, now: Instant) {
        let destination = self.world.destination(d);
        if destination.flow.state() == State::Normal || destination.unheld == 0 {
            return;
        }
        let len = destination.ready.len();
        for position in len - destination.unheld..len {
            let destination = self.world.destination(d);
            let (message, first) = match destination
                .ready
                .get(position)
                .expect("within the queue")
                .message()
            {
                ReadyMessage::Stored(slot) => {
                    let message = &mut self.messages[slot];
                    let first = message.hold();
                    (*message, first)
                }
                ReadyMessage::Arrived { id, arrived } => {
                    (destination.arrival(id, arrived, true), true)
                }
            };
            let event = MessageEvent {
                at: now,
                destination: d,
                message: &message,
            };
            self.observer.held(&self.world, event, first);
        }
        self.world.destination_mut(d).unheld = 0;
    }

    /// Makes sure a Wake event for `d` fires no later than `at`.
    pub(super) fn wake(&mut self, d: DestinationId, at: Instant, scheduler: &mut Scheduler<Event>) {
        let destination = self.world.destination_mut(d);
        if at < destination.wake_at {
            destination.wake_at = at;
            scheduler.at(at, Event::Wake(d));
        }
    }

    pub(super) fn on_wake(&mut self, d: DestinationId, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let destination = self.world.destination_mut(d);
        if destination.wake_at != now {
            return;
        }
        destination.wake_at = Instant::NEVER;
        destination.flow.advance(now);
        self.after_flow_change(d, scheduler);
        self.dispatch(d, scheduler);
    }

    /// Reports the destination's transitions and re-arms its flow-control timer.
    pub(super) fn after_flow_change(&mut self, d: DestinationId, scheduler: &mut Scheduler<Event>) {
        let destination = self.world.destination_mut(d);
        if destination.flow.has_transitions() {
            self.transitions
                .extend(destination.flow.drain_transitions());
            for transition in self.transitions.drain(..) {
                self.checks
                    .transition(d, &self.world.destination_names, transition.at);
                self.observer.transition(&self.world, d, &transition);
            }
        }
        if let Some(at) = self.world.destination(d).flow.next_wakeup() {
            self.wake(d, at, scheduler);
        }
    }
}
