//! The world the MTA delivers into, built once from the scenario: receivers, their
//! domains, the destinations flow control keys on, and how traffic picks among them.

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;

use crate::flow_control::config::KeyKind;
use crate::flow_control::{FlowControl, Policy};
use crate::metrics::{Interval, Tally};
use crate::receiver::{Receiver, ReplyBook, Timeouts};
use crate::rng::{Stream, stream};
use crate::scenario::Scenario;
use crate::units::Instant;
use crate::validate::Invalid;

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
    /// Index of its flow-control policy in [`World::policies`].
    pub policy: u16,
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
    /// The base flow-control policy first, then one per override key.
    pub policies: Vec<Arc<Policy>>,
    pub destinations: Vec<Destination>,
    /// Destinations with their own summary entry and time series, in detail order.
    pub detailed: Vec<u32>,
    /// Receiver weights (shares), then the table that picks by them.
    weights: Vec<f64>,
    picker: Option<AliasTable>,
}

impl World {
    pub fn build(scenario: &Scenario) -> Result<World, Invalid> {
        let mut book = ReplyBook::default();
        let timeouts = Timeouts {
            connect: scenario.mta.connect_timeout,
            greeting: scenario.mta.greeting_timeout,
        };
        let mut world = World {
            book: ReplyBook::default(),
            receivers: Vec::new(),
            receiver_names: Vec::new(),
            receiver_domains: Vec::new(),
            domains: Vec::new(),
            domain_names: Vec::new(),
            policies: Vec::new(),
            destinations: Vec::new(),
            detailed: Vec::new(),
            weights: Vec::new(),
            picker: None,
        };
        for (i, config) in scenario.receivers.iter().enumerate() {
            let name = config.name.clone().unwrap_or_default();
            let rng = stream(scenario.seed, &format!("receiver:{name}"));
            let receiver = Receiver::new(config, &mut book, timeouts, rng)
                .map_err(|e| e.within(&format!("receivers[{i}]")))?;
            world.add_receiver(receiver, name, &config.domains, config.weight());
        }
        if let Some(generated) = &scenario.generated_receivers {
            let placeholder = stream(scenario.seed, "receiver:template");
            let template = Receiver::new(&generated.template, &mut book, timeouts, placeholder)
                .map_err(|e| e.within("generated_receivers.template"))?;
            for member in generated.members() {
                let rng = stream(scenario.seed, &format!("receiver:{}", member.name));
                let receiver = template.with_stream(rng);
                let domains = std::slice::from_ref(&member.domain);
                world.add_receiver(receiver, member.name, domains, member.weight);
            }
        }
        world.book = book;
        world.picker = Some(AliasTable::new(&world.weights));
        world.build_destinations(scenario)?;
        Ok(world)
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
    /// its key (overrides resolved once and shared).
    fn build_destinations(&mut self, scenario: &Scenario) -> Result<(), Invalid> {
        let config = &scenario.flow_control;
        self.policies.push(Arc::new(
            Policy::new(config).map_err(|e| e.within("flow_control"))?,
        ));
        let mut policy_of_key: HashMap<String, u16> = HashMap::new();
        for key in config.overrides.keys() {
            let merged = config
                .effective(key)
                .map_err(|e| e.within("flow_control"))?;
            let policy = Policy::new(&merged)
                .map_err(|e| e.within(&format!("flow_control.overrides.{key}")))?;
            policy_of_key.insert(key.clone(), self.policies.len() as u16);
            self.policies.push(Arc::new(policy));
        }
        let named = scenario.receivers.len();
        let mut details = 0u32;
        let mut add = |world: &mut World, name: String, receiver: u32| {
            let policy = policy_of_key.get(&name).copied().unwrap_or(0);
            let detailed = (receiver as usize) < named + GENERATED_DETAIL;
            let detail = detailed.then(|| {
                world.detailed.push(world.destinations.len() as u32);
                details += 1;
                details - 1
            });
            world.destinations.push(Destination {
                name,
                receiver,
                flow: FlowControl::new(world.policies[policy as usize].clone(), Instant::ZERO),
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
        match config.key {
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
        Ok(())
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
