//! The world the MTA delivers into, built once from the scenario: receivers, their
//! domains, the destinations flow control keys on, and how traffic picks among them.

use std::sync::Arc;

use rand::Rng;

use crate::flow_control::config::KeyKind;
use crate::flow_control::{FlowControl, Policies, PolicyIndex};
use crate::metrics::{Interval, Tally};
use crate::receiver::Receiver;
use crate::replies::ReplyBook;
use crate::rng::{Stream, stream};
use crate::scenario::CompiledScenario;
use crate::units::Instant;

use super::pick::AliasTable;

/// Generated receivers whose destinations get their own summary entry and time series.
pub const GENERATED_DETAIL: usize = 10;

/// One domain and where its mail goes.
#[derive(Debug, Clone, Copy)]
pub struct Domain {
    pub receiver: u32,
    pub destination: u32,
}

/// One flow-control destination: a receiver (MX rollup) or a single domain.
pub struct Destination {
    pub name: String,
    pub receiver: u32,
    pub flow: FlowControl,
    /// Messages due now, waiting for a session.
    pub ready: std::collections::VecDeque<u32>,
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
    /// Since when it has been in its current flow-control state.
    pub state_since: Instant,
    pub tally: Tally,
    /// Index into the run's detailed destinations (own summary entry and time series).
    pub detail: Option<u32>,
    pub interval: Interval,
}

/// Everything built from the scenario before the first event.
pub struct World {
    pub book: ReplyBook,
    pub receivers: Vec<Receiver>,
    pub receiver_names: Vec<String>,
    /// Per receiver: its domains as a range of `domains`.
    pub receiver_domains: Vec<(u32, u32)>,
    pub domains: Vec<Domain>,
    pub domain_names: Vec<String>,
    pub policies: Policies,
    pub destinations: Vec<Destination>,
    /// Destinations with their own summary entry and time series, in detail order.
    pub detailed: Vec<u32>,
    /// Receiver weights (shares), then the table that picks by them.
    weights: Vec<f64>,
    picker: Option<AliasTable>,
}

impl World {
    /// Builds the world of a compiled scenario: its receivers, each with its own random
    /// stream, their domains and the destinations flow control keys on.
    pub fn build(compiled: &CompiledScenario) -> World {
        let seed = compiled.scenario.seed;
        let mut world = World {
            book: compiled.replies.clone(),
            receivers: Vec::new(),
            receiver_names: Vec::new(),
            receiver_domains: Vec::new(),
            domains: Vec::new(),
            domain_names: Vec::new(),
            policies: compiled.policies.clone(),
            destinations: Vec::new(),
            detailed: Vec::new(),
            weights: Vec::new(),
            picker: None,
        };
        for named in &compiled.receivers {
            let rng = stream(seed, &format!("receiver:{}", named.name));
            let receiver = Receiver::new(Arc::clone(&named.behaviour), rng);
            world.add_receiver(receiver, named.name.clone(), &named.domains, named.weight);
        }
        if let Some(population) = &compiled.population {
            for member in population.members.members() {
                let rng = stream(seed, &format!("receiver:{}", member.name));
                let receiver = Receiver::new(Arc::clone(&population.behaviour), rng);
                let domains = std::slice::from_ref(&member.domain);
                world.add_receiver(receiver, member.name, domains, member.weight);
            }
        }
        world.picker = Some(AliasTable::new(&world.weights));
        world.build_destinations(compiled);
        world
    }

    fn add_receiver(&mut self, receiver: Receiver, name: String, domains: &[String], weight: f64) {
        let index = self.receivers.len() as u32;
        let start = self.domains.len() as u32;
        for domain in domains {
            self.domains.push(Domain {
                receiver: index,
                destination: 0,
            });
            self.domain_names.push(domain.clone());
        }
        self.receiver_domains.push((start, domains.len() as u32));
        self.receivers.push(receiver);
        self.receiver_names.push(name);
        self.weights.push(weight);
    }

    /// One destination per receiver or per domain, each with the flow-control policy of
    /// its key (compiled once, shared).
    fn build_destinations(&mut self, compiled: &CompiledScenario) {
        let named = compiled.receivers.len();
        let mut details = 0u32;
        let mut add = |world: &mut World, name: String, receiver: u32| {
            let policy = world.policies.index_of(&name);
            let detailed = (receiver as usize) < named + GENERATED_DETAIL;
            let detail = detailed.then(|| {
                world.detailed.push(world.destinations.len() as u32);
                details += 1;
                details - 1
            });
            world.destinations.push(Destination {
                name,
                receiver,
                flow: FlowControl::new(Arc::clone(world.policies.get(policy)), Instant::ZERO),
                ready: Default::default(),
                unheld: 0,
                waiting: 0,
                sessions: 0,
                in_flight: 0,
                policy,
                wake_at: Instant::NEVER,
                wants_connection: false,
                state_since: Instant::ZERO,
                tally: Tally::default(),
                detail,
                interval: Interval::default(),
            });
            (world.destinations.len() - 1) as u32
        };
        match compiled.scenario.flow_control.key {
            KeyKind::Receiver => {
                for r in 0..self.receivers.len() {
                    let d = add(self, self.receiver_names[r].clone(), r as u32);
                    let (start, len) = self.receiver_domains[r];
                    for domain in &mut self.domains[start as usize..(start + len) as usize] {
                        domain.destination = d;
                    }
                }
            }
            KeyKind::Domain => {
                for i in 0..self.domains.len() {
                    let receiver = self.domains[i].receiver;
                    self.domains[i].destination = add(self, self.domain_names[i].clone(), receiver);
                }
            }
        }
    }

    /// Picks a domain for a new message: a receiver by share, then one of its domains.
    pub fn pick_domain(&self, rng: &mut Stream) -> u32 {
        let picker = self.picker.as_ref().expect("built with the world");
        let (start, len) = self.receiver_domains[picker.sample(rng) as usize];
        if len == 1 {
            start
        } else {
            start + rng.random_range(0..len)
        }
    }

    /// Detailed destinations' names, in detail order.
    pub fn detail_names(&self) -> Vec<String> {
        let mut names = vec![
            String::new();
            self.destinations
                .iter()
                .filter(|d| d.detail.is_some())
                .count()
        ];
        for destination in &self.destinations {
            if let Some(i) = destination.detail {
                names[i as usize] = destination.name.clone();
            }
        }
        names
    }
}
