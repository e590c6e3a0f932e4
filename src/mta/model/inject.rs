//! Traffic: each wave's messages arrive evenly over its span, one event per arrival time.

use super::{Event, MailModel};
use crate::engine::Scheduler;
use crate::mta::invariants::Place;
use crate::mta::message::{Message, Ready, ReadyMessage};
use crate::mta::observe::{MessageEvent, Observer};
use crate::mta::world::DestinationId;
use crate::units::{Instant, Span};

impl<O: Observer> MailModel<O> {
    /// Injects every message of `wave` due by now and schedules the wave's next arrival.
    pub(super) fn inject(&mut self, wave: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let spec = self.traffic[wave as usize];
        let (total, over) = (spec.messages, u128::from(spec.over.as_millis()));
        let due_at = |n: u64| {
            spec.start + Span::from_millis((over * u128::from(n) / u128::from(total)) as u64)
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

    /// A message arrives: at a one-domain destination it queues as an arrived entry, else
    /// it is stored.
    fn inject_one(&mut self, now: Instant, scheduler: &mut Scheduler<Event>) {
        let domain = self.world.pick_domain(&mut self.traffic_rng);
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let d = self.world.destination_of(domain);
        let message = Message::new(id, domain, now);
        let event = MessageEvent {
            at: now,
            destination: d,
            message: &message,
        };
        self.observer.injected(&self.world, event);
        let arrived = match self.world.destination(d).only_domain {
            Some(_) => Ready::arrived(id, now),
            None => None,
        };
        let entry = arrived.unwrap_or_else(|| Ready::stored(self.messages.insert(message)));
        self.push_ready(d, entry);
        self.dispatch(d, scheduler);
    }

    /// Puts a message at the back of its destination's ready queue.
    pub(super) fn push_ready(&mut self, d: DestinationId, entry: Ready) {
        let destination = self.world.destination_mut(d);
        destination.ready.push_back(entry);
        destination.unheld += 1;
        match entry.message() {
            ReadyMessage::Stored(slot) => self.checks.moved(slot, Place::Ready, Instant::ZERO),
            ReadyMessage::Arrived { .. } => self.arrived += 1,
        }
        self.queues.ready += 1;
    }
}
