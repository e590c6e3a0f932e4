//! Traffic: each wave's messages arrive evenly over its span, one event per arrival time.

use super::{Event, MailModel};
use crate::engine::Scheduler;
use crate::mta::invariants::Place;
use crate::mta::message::{Message, Ready, ReadyMessage};
use crate::mta::observe::{MessageEvent, Observer};
use crate::mta::world::{DestinationId, DomainId, World};
use crate::rng::Stream;
use crate::units::{Instant, Span};

/// How many messages ahead the traffic's domains are picked.
const AHEAD: usize = 16;

/// The traffic's domain picks, drawn [`AHEAD`] messages early so that what a message will
/// touch (its domain's entry, then its destination and receiver) is fetched into the cache
/// while the messages before it are handled: at 10^5 receivers and more, each is a cache
/// miss. The picks and their order are exactly those of drawing each when it is needed,
/// since the traffic's stream is used for nothing else.
pub(super) struct Picks {
    rng: Stream,
    ring: [DomainId; AHEAD],
    next: usize,
}

impl Picks {
    pub fn new(world: &World, mut rng: Stream) -> Picks {
        let ring = std::array::from_fn(|_| world.pick_domain(&mut rng));
        for &domain in &ring {
            world.prefetch_domain(domain);
        }
        world.prefetch_next_pick(&rng);
        Picks { rng, ring, next: 0 }
    }

    /// The next message's domain; draws the one [`AHEAD`] after it.
    fn take(&mut self, world: &World) -> DomainId {
        let domain = self.ring[self.next];
        let drawn = world.pick_domain(&mut self.rng);
        world.prefetch_domain(drawn);
        world.prefetch_next_pick(&self.rng);
        self.ring[self.next] = drawn;
        self.next = (self.next + 1) % AHEAD;
        world.prefetch_destination_of(self.ring[(self.next + AHEAD / 2) % AHEAD]);
        domain
    }
}

/// `span * n / total`, rounded down, for n at most `total`: in 64 bits when the product
/// fits (a wave of 10^8 messages over less than 5.8 years), else in 128 bits, a
/// library call several times slower that was 1 % of a large run.
fn share_of(span: u64, n: u64, total: u64) -> u64 {
    match span.checked_mul(n) {
        Some(product) => product / total,
        None => (u128::from(span) * u128::from(n) / u128::from(total)) as u64,
    }
}

impl<O: Observer> MailModel<O> {
    /// Injects every message of `wave` due by now and schedules the wave's next arrival.
    pub(super) fn inject(&mut self, wave: u32, scheduler: &mut Scheduler<Event>) {
        let now = scheduler.now();
        let spec = self.traffic[wave as usize];
        let (total, over) = (spec.messages, spec.over.as_millis());
        let due_at = |n: u64| spec.start + Span::from_millis(share_of(over, n, total));
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
        let domain = self.picks.take(&self.world);
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

#[cfg(test)]
mod tests {
    use super::share_of;

    #[test]
    fn arrival_times_agree_on_both_sides_of_64_bits() {
        assert_eq!(share_of(1_000, 0, 3), 0);
        assert_eq!(share_of(1_000, 1, 3), 333);
        assert_eq!(share_of(1_000, 3, 3), 1_000);
        let day = 86_400_000;
        assert_eq!(share_of(day, 50_000_000, 100_000_000), day / 2);
        // 2^63 ms over 4 messages: the third arrives at 3/4 of it, past 64 bits.
        assert_eq!(share_of(1 << 63, 3, 4), 3 << 61);
        assert_eq!(share_of(u64::MAX, u64::MAX - 1, u64::MAX), u64::MAX - 1);
    }
}
