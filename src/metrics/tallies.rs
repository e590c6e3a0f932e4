//! summary.json's numbers: counters and delivery latencies per reported destination, the
//! other destinations summed, and the totals.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{DestinationSummary, Detail, Histogram, OtherDestinations, Reputation, Summary, Tally};
use crate::flow_control::Transition;
use crate::mta::observe::{AttemptEnd, MessageEvent, Observer};
use crate::mta::world::{DestinationId, World};
use crate::replies::{BounceReason, ReplyId};
use crate::scenario::Scenario;
use crate::units::Instant;

/// Counts every message's events by destination group (see [`Detail`]).
pub struct Tallies {
    detail: Arc<Detail>,
    /// Per group: reported destinations, then the others.
    groups: Vec<Tally>,
    latency: Vec<Histogram>,
    latency_total: Histogram,
    /// Per destination: since when it has been in its current state.
    state_since: Vec<Instant>,
}

impl Tallies {
    pub fn new(detail: Arc<Detail>, destinations: usize) -> Tallies {
        Tallies {
            groups: vec![Tally::default(); detail.groups()],
            latency: vec![Histogram::new(); detail.groups()],
            latency_total: Histogram::new(),
            state_since: vec![Instant::ZERO; destinations],
            detail,
        }
    }

    fn tally(&mut self, d: DestinationId) -> &mut Tally {
        &mut self.groups[self.detail.group(d)]
    }

    /// The delivery latency of every delivered message.
    pub fn latency(&self) -> &Histogram {
        &self.latency_total
    }

    /// summary.json at `end`, reading what flow control and the receivers counted
    /// themselves (backoff entries, suspensions, blocks, reputation) from `world`.
    /// `queued` is counted, not derived — from each destination's queues, and for the
    /// totals the `stored` messages — so that [`DestinationSummary::conserved`] compares
    /// two independent numbers.
    pub fn summary(
        &self,
        world: &World,
        scenario: &Scenario,
        end: Instant,
        stored: u64,
    ) -> Summary {
        let mut groups = self.groups.clone();
        let mut queued = vec![0; self.detail.groups()];
        for d in world.destination_ids() {
            let destination = world.destination(d);
            let group = &mut groups[self.detail.group(d)];
            group.time_in_state[destination.flow.state()] += end - self.state_since[d.index()];
            group.backoff_entries += destination.flow.backoff_entries();
            group.suspensions += destination.flow.suspensions();
            group.blocks += world.receiver(destination.receiver).blocks();
            queued[self.detail.group(d)] += destination.queued();
        }
        let replies: Vec<String> = world.book.iter().map(|(_, r)| r.text.clone()).collect();
        let entry = |group: usize| {
            DestinationSummary::new(
                &groups[group],
                &self.latency[group],
                queued[group],
                &replies,
            )
        };
        let mut total = Tally::default();
        for tally in &groups {
            total.merge(tally);
        }
        // Blocks belong to receivers, which several domain destinations may share.
        total.blocks = world.receivers.iter().map(|r| r.blocks()).sum();
        let destinations = self
            .detail
            .reported()
            .iter()
            .enumerate()
            .map(|(group, &d)| {
                let mut summary = entry(group);
                let receiver = world.receiver(world.destination(d).receiver);
                summary.reputation = receiver.reputation(end).map(|last| Reputation {
                    min: receiver.reputation_min().unwrap_or(last),
                    last,
                });
                (world.destination_name(d).to_owned(), summary)
            })
            .collect::<BTreeMap<_, _>>();
        let others = world.destinations.len() - self.detail.reported().len();
        let other_destinations = (others > 0).then(|| OtherDestinations {
            count: others as u64,
            summary: entry(self.detail.groups() - 1),
        });
        Summary {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            duration_s: (end - Instant::ZERO).as_secs_f64(),
            totals: DestinationSummary::new(&total, &self.latency_total, stored, &replies),
            destinations,
            other_destinations,
        }
    }
}

impl Observer for Tallies {
    fn injected(&mut self, _: &World, event: MessageEvent) {
        self.tally(event.destination).injected += 1;
    }

    fn held(&mut self, _: &World, event: MessageEvent, first: bool) {
        let tally = self.tally(event.destination);
        tally.dfc_holds += 1;
        tally.dfc_held_messages += u64::from(first);
    }

    fn attempted(&mut self, _: &World, attempt: &AttemptEnd) {
        self.tally(attempt.destination).attempts += 1;
    }

    fn delivered(&mut self, _: &World, event: MessageEvent) {
        let latency = event.at - event.message.injected_at;
        let group = self.detail.group(event.destination);
        self.groups[group].delivered += 1;
        self.latency[group].record(latency);
        self.latency_total.record(latency);
    }

    fn bounced(&mut self, _: &World, event: MessageEvent, reason: BounceReason) {
        self.tally(event.destination).bounce(reason);
    }

    fn deferred(&mut self, _: &World, event: MessageEvent, reply: ReplyId) {
        self.tally(event.destination).defer(reply);
    }

    fn expired(&mut self, _: &World, event: MessageEvent) {
        self.tally(event.destination)
            .expire(event.message.last_reply);
    }

    fn transition(&mut self, _: &World, d: DestinationId, transition: &Transition) {
        let since = std::mem::replace(&mut self.state_since[d.index()], transition.at);
        self.tally(d).time_in_state[transition.from] += transition.at - since;
    }
}
