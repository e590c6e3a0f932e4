//! The world the MTA delivers into, built once from the compiled scenario: receivers,
//! their domains, the destinations flow control keys on, and how traffic picks among them.
//! It holds mechanics only; what is measured about it lives with the observers.

use std::sync::Arc;

use rand::Rng;

use super::message::Message;
use super::names::Names;
use super::pick::{AliasTable, prefetch};
use super::ready::ReadyQueue;
use crate::flow_control::config::KeyKind;
use crate::flow_control::{FlowControl, Policies, PolicyIndex};
use crate::receiver::Receiver;
use crate::replies::ReplyBook;
use crate::rng::{Stream, stream};
use crate::scenario::CompiledScenario;
use crate::units::Instant;

/// A flow-control destination, by position in [`World::destinations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestinationId(pub u32);

/// A receiver, by position in [`World::receivers`]: named ones first, in file order,
/// then the generated population by rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiverId(pub u32);

/// A recipient domain, by position in [`World::domains`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainId(pub u32);

impl DestinationId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl ReceiverId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl DomainId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One domain and where its mail goes (its name is in [`World::domain_names`], apart, so
/// that the lookup on every message stays small).
#[derive(Debug, Clone, Copy)]
pub struct Domain {
    pub receiver: ReceiverId,
    pub destination: DestinationId,
}

/// One flow-control destination: a receiver (MX rollup) or a single domain (its name is
/// in [`World::destination_names`]).
pub struct Destination {
    pub receiver: ReceiverId,
    pub flow: FlowControl,
    /// Messages due now, waiting for a session.
    pub ready: ReadyQueue,
    /// Its one recipient domain, if it has only one: then messages that have only arrived
    /// wait in `ready` without a stored [`Message`].
    pub only_domain: Option<DomainId>,
    /// How many of the newest `ready` messages have not yet been counted as held.
    pub unheld: usize,
    /// Messages waiting for their retry time.
    pub waiting: u64,
    /// Open sessions (each carries one message while it is being attempted).
    pub sessions: u32,
    /// Messages being attempted in its sessions.
    pub in_flight: u64,
    /// Its flow-control policy in [`World::policies`].
    pub policy: PolicyIndex,
    /// When a Wake event is pending for it, or [`Instant::NEVER`].
    pub wake_at: Instant,
    /// Waiting in the MTA's queue for a free connection.
    pub wants_connection: bool,
}

impl Destination {
    /// Messages queued here: ready, waiting for a retry, or in a session.
    pub fn queued(&self) -> u64 {
        self.ready.len() as u64 + self.waiting + self.in_flight
    }

    /// The message an arrived ready entry stands for.
    pub fn arrival(&self, id: u32, arrived: Instant, held: bool) -> Message {
        let domain = self
            .only_domain
            .expect("arrived entries only queue at one-domain destinations");
        Message::arrival(id, domain, arrived, held)
    }
}

/// Everything built from the scenario before the first event.
pub struct World {
    pub book: ReplyBook,
    pub receivers: Vec<Receiver>,
    pub receiver_names: Names,
    /// How many receivers are named ones (the rest are the generated population).
    pub named_receivers: u32,
    /// Per receiver: its domains as a range of `domains`.
    receiver_domains: Vec<(u32, u32)>,
    pub domains: Vec<Domain>,
    pub domain_names: Names,
    pub policies: Policies,
    /// In receiver order: those of named receivers first, then the generated population's
    /// by rank (the observers count the first few one by one, `metrics::Detail`).
    pub destinations: Vec<Destination>,
    pub destination_names: Names,
    /// The table that picks a receiver by share, as its range of `domains`.
    picker: AliasTable<(u32, u32)>,
}

impl World {
    /// Builds the world of a compiled scenario: its receivers, each with its own random
    /// stream, their domains and the destinations flow control keys on.
    pub fn build(compiled: &CompiledScenario) -> World {
        let seed = compiled.scenario.seed;
        let mut parts = Parts::default();
        for named in &compiled.receivers {
            let rng = stream(seed, &format!("receiver:{}", named.name));
            let receiver = Receiver::new(Arc::clone(&named.behaviour), rng);
            parts.add(receiver, &named.name, &named.domains, named.weight);
        }
        if let Some(population) = &compiled.population {
            for member in population.members.members() {
                let rng = stream(seed, &format!("receiver:{}", member.name));
                let receiver = Receiver::new(Arc::clone(&population.behaviour), rng);
                let domains = std::slice::from_ref(&member.domain);
                parts.add(receiver, &member.name, domains, member.weight);
            }
        }
        let mut world = World {
            book: compiled.replies.clone(),
            picker: AliasTable::new(&parts.weights).map(|r| parts.receiver_domains[r as usize]),
            receivers: parts.receivers,
            receiver_names: parts.names,
            named_receivers: compiled.receivers.len() as u32,
            receiver_domains: parts.receiver_domains,
            domains: parts.domains,
            domain_names: parts.domain_names,
            policies: compiled.policies.clone(),
            destinations: Vec::new(),
            destination_names: Names::default(),
        };
        world.build_destinations(compiled.scenario.flow_control.key);
        world
    }

    /// One destination per receiver or per domain, each with the flow-control policy of
    /// its key (compiled once, shared).
    fn build_destinations(&mut self, key: KeyKind) {
        match key {
            KeyKind::Receiver => {
                for r in 0..self.receivers.len() {
                    let (start, len) = self.receiver_domains[r];
                    let only = (len == 1).then_some(DomainId(start));
                    let d = self.add_destination(r, ReceiverId(r as u32), only, KeyKind::Receiver);
                    for domain in &mut self.domains[start as usize..(start + len) as usize] {
                        domain.destination = d;
                    }
                }
            }
            KeyKind::Domain => {
                for i in 0..self.domains.len() {
                    let (receiver, only) = (self.domains[i].receiver, Some(DomainId(i as u32)));
                    self.domains[i].destination =
                        self.add_destination(i, receiver, only, KeyKind::Domain);
                }
            }
        }
    }

    /// Adds the destination named by receiver or domain `name` (as `key` says).
    fn add_destination(
        &mut self,
        name: usize,
        receiver: ReceiverId,
        only_domain: Option<DomainId>,
        key: KeyKind,
    ) -> DestinationId {
        let name = match key {
            KeyKind::Receiver => &self.receiver_names[name],
            KeyKind::Domain => &self.domain_names[name],
        };
        let policy = self.policies.index_of(name);
        self.destination_names.push(name);
        self.destinations.push(Destination {
            receiver,
            flow: FlowControl::new(Arc::clone(self.policies.get(policy)), Instant::ZERO),
            ready: ReadyQueue::default(),
            only_domain,
            unheld: 0,
            waiting: 0,
            sessions: 0,
            in_flight: 0,
            policy,
            wake_at: Instant::NEVER,
            wants_connection: false,
        });
        DestinationId(self.destinations.len() as u32 - 1)
    }

    /// Picks a domain for a new message: a receiver by share, then one of its domains.
    pub fn pick_domain(&self, rng: &mut Stream) -> DomainId {
        let (start, len) = self.picker.sample(rng);
        DomainId(if len == 1 {
            start
        } else {
            start + rng.random_range(0..len)
        })
    }

    /// Starts fetching `domain`'s entry into the cache, for a message that will use it soon.
    pub fn prefetch_domain(&self, domain: DomainId) {
        prefetch(&self.domains[domain.index()]);
    }

    /// Starts fetching what the next pick drawn from `rng` will read: with the draws of a
    /// pick depending on what it reads, this is a guess, right whenever the pick before was
    /// of a receiver with one domain.
    pub fn prefetch_next_pick(&self, rng: &Stream) {
        self.picker.prefetch_next(rng);
    }

    /// Starts fetching the destination and receiver of `domain` (whose entry should be in
    /// the cache by now) into the cache.
    pub fn prefetch_destination_of(&self, domain: DomainId) {
        let Domain {
            receiver,
            destination,
        } = self.domains[domain.index()];
        prefetch(&self.destinations[destination.index()]);
        prefetch(&self.receivers[receiver.index()]);
    }

    pub fn destination(&self, id: DestinationId) -> &Destination {
        &self.destinations[id.index()]
    }

    pub fn destination_name(&self, id: DestinationId) -> &str {
        &self.destination_names[id.index()]
    }

    pub fn destination_mut(&mut self, id: DestinationId) -> &mut Destination {
        &mut self.destinations[id.index()]
    }

    /// Where mail for `domain` goes.
    pub fn destination_of(&self, domain: DomainId) -> DestinationId {
        self.domains[domain.index()].destination
    }

    pub fn receiver(&self, id: ReceiverId) -> &Receiver {
        &self.receivers[id.index()]
    }

    pub fn receiver_mut(&mut self, id: ReceiverId) -> &mut Receiver {
        &mut self.receivers[id.index()]
    }

    /// Every destination with its id, in id order.
    pub fn destination_ids(&self) -> impl Iterator<Item = DestinationId> + use<> {
        (0..self.destinations.len() as u32).map(DestinationId)
    }
}

/// Receivers and domains as they are added, before the destinations exist.
#[derive(Default)]
struct Parts {
    receivers: Vec<Receiver>,
    names: Names,
    receiver_domains: Vec<(u32, u32)>,
    domains: Vec<Domain>,
    domain_names: Names,
    weights: Vec<f64>,
}

impl Parts {
    fn add(&mut self, receiver: Receiver, name: &str, domains: &[String], weight: f64) {
        let index = ReceiverId(self.receivers.len() as u32);
        let start = self.domains.len() as u32;
        self.domains.extend(domains.iter().map(|_| Domain {
            receiver: index,
            destination: DestinationId(0),
        }));
        for domain in domains {
            self.domain_names.push(domain);
        }
        self.receiver_domains.push((start, domains.len() as u32));
        self.receivers.push(receiver);
        self.names.push(name);
        self.weights.push(weight);
    }
}
