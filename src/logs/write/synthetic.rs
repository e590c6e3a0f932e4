//! A synthetic event stream for the writers' tests, benchmarks and the pflogsumm
//! comparison: messages to several destinations with deferrals, bounces, connect failures,
//! greeting rejects, holds and expiries, in time order, from a seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;

use super::{Arrival, Attempt, Expiry, RelayHost, Removal, Written};
use crate::flow_control::OutcomeClass;
use crate::logs::destinations::{Providers, relay_host, relay_ip};
use crate::rng::stream;
use crate::units::{Instant, Span};

type Millis = u64;
const SECOND: Millis = 1_000;
const MINUTE: Millis = 60 * SECOND;

/// One destination of the synthetic traffic.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The receiver's name (what the log should read back as the destination).
    pub name: String,
    pub domain: String,
    /// Share of the messages (weights, any scale).
    pub weight: f64,
    /// Per attempt: probability of a deferral with `defer_reply`.
    pub defer: f64,
    pub defer_reply: String,
    /// Per attempt: probability of a 5.1.1 bounce.
    pub bounce: f64,
    /// Per attempt: probability of a refused connection, and of a greeting reject.
    pub refuse: f64,
    pub greeting_reject: f64,
}

/// The stream's shape.
#[derive(Debug, Clone)]
pub struct Synthetic {
    pub messages: u32,
    pub seed: u64,
    /// Arrivals are spread evenly over this span.
    pub span: Span,
    /// Attempts per message before it expires.
    pub max_attempts: u32,
    pub destinations: Vec<Destination>,
}

/// One event, borrowing the generator's buffers.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Arrival(Arrival<'a>),
    Attempt(Attempt<'a>),
    Expiry(Expiry<'a>),
    Removal(Removal),
}

fn destination(
    name: &str,
    domain: &str,
    weight: f64,
    defer: f64,
    reply: &str,
    bounce: f64,
) -> Destination {
    Destination {
        name: name.to_string(),
        domain: domain.to_string(),
        weight,
        defer,
        defer_reply: reply.to_string(),
        bounce,
        refuse: 0.0,
        greeting_reject: 0.0,
    }
}

impl Synthetic {
    /// Six destinations: Gmail rate limiting, Yahoo TSS04, Microsoft reputation, Orange
    /// greeting rejects, a corporate MX that refuses connections, a healthy small domain.
    pub fn standard(messages: u32, seed: u64) -> Synthetic {
        let mut orange = destination(
            "orange",
            "orange.fr",
            0.1,
            0.05,
            "421 4.7.0 Service refuse, veuillez reessayer plus tard",
            0.01,
        );
        orange.greeting_reject = 0.1;
        let mut bigcorp = destination("bigcorp", "bigcorp.example", 0.05, 0.0, "", 0.0);
        bigcorp.refuse = 0.5;
        Synthetic {
            messages,
            seed,
            span: Span::from_hours(6),
            max_attempts: 5,
            destinations: vec![
                destination(
                    "gmail",
                    "gmail.com",
                    0.35,
                    0.15,
                    "421-4.7.28 [203.0.113.7] Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp",
                    0.02,
                ),
                destination(
                    "yahoo",
                    "yahoo.com",
                    0.2,
                    0.25,
                    "421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
                    0.02,
                ),
                destination(
                    "microsoft",
                    "outlook.com",
                    0.2,
                    0.1,
                    "451 4.7.650 The mail server [203.0.113.7] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://aka.ms/postmaster (S775)",
                    0.03,
                ),
                orange,
                bigcorp,
                destination("bigmail", "bigmail.example", 0.1, 0.0, "", 0.01),
            ],
        }
    }

    /// Calls `f` with every event in time order (ties: arrival order of the work).
    pub fn run(&self, providers: &Providers, mut f: impl FnMut(&Event)) {
        let mut rng = stream(self.seed, "synthetic-log");
        let hosts: Vec<(String, std::net::IpAddr)> = self
            .destinations
            .iter()
            .map(|d| (relay_host(providers, &d.name, &d.domain), relay_ip(&d.name)))
            .collect();
        let total: f64 = self.destinations.iter().map(|d| d.weight).sum();
        let mut messages: Vec<(u32, Millis, u32)> = Vec::with_capacity(self.messages as usize);
        let mut queue = BinaryHeap::new();
        for m in 0..self.messages {
            let at = self.span.as_millis() * m as u64 / self.messages.max(1) as u64;
            let mut pick = rng.random::<f64>() * total;
            let dest = self
                .destinations
                .iter()
                .position(|d| {
                    pick -= d.weight;
                    pick < 0.0
                })
                .unwrap_or(self.destinations.len() - 1);
            messages.push((dest as u32, at, 0));
            queue.push(Reverse((at, 0u8, m)));
        }
        let mut recipient = String::new();
        let mut sessions = vec![(0u32, 0u32); self.destinations.len()];
        let mut next_session = 1;
        let sender = "news@sender.example";
        while let Some(Reverse((time, step, m))) = queue.pop() {
            let (d, arrived, attempts) = messages[m as usize];
            let dest = &self.destinations[d as usize];
            recipient.clear();
            recipient.push_str("user");
            recipient.push_str(itoa::Buffer::new().format(m));
            recipient.push('@');
            recipient.push_str(&dest.domain);
            let relay = RelayHost {
                host: &hosts[d as usize].0,
                ip: hosts[d as usize].1,
            };
            match step {
                0 => {
                    f(&Event::Arrival(Arrival {
                        time: Instant::from_millis(time),
                        message: m,
                        sender,
                        recipient: &recipient,
                        size: 1000 + m % 5000,
                    }));
                    queue.push(Reverse((time + 2 * SECOND, 1, m)));
                }
                1 => {
                    let attempt = attempts + 1;
                    messages[m as usize].2 = attempt;
                    let draw: f64 = rng.random();
                    let (outcome, class, handshake, reply) = if draw < dest.refuse {
                        (
                            Written::Deferred,
                            OutcomeClass::Connect,
                            true,
                            "connect failed",
                        )
                    } else if draw < dest.refuse + dest.greeting_reject {
                        (
                            Written::Deferred,
                            OutcomeClass::Tempfail,
                            true,
                            "421 4.7.0 Trop de connexions, veuillez reessayer plus tard",
                        )
                    } else if draw < dest.refuse + dest.greeting_reject + dest.defer {
                        (
                            Written::Deferred,
                            OutcomeClass::Tempfail,
                            false,
                            dest.defer_reply.as_str(),
                        )
                    } else if draw < dest.refuse + dest.greeting_reject + dest.defer + dest.bounce {
                        (
                            Written::Bounced,
                            OutcomeClass::Permfail,
                            false,
                            "550 5.1.1 Recipient address rejected: User unknown",
                        )
                    } else {
                        (
                            Written::Delivered,
                            OutcomeClass::Delivered,
                            false,
                            "250 2.0.0 OK: queued",
                        )
                    };
                    let session = &mut sessions[d as usize];
                    let reuse = !handshake && session.1 > 0 && session.1 < 20;
                    if !reuse {
                        *session = (next_session, 0);
                        next_session += 1;
                    }
                    session.1 = if handshake { 0 } else { session.1 + 1 };
                    let connect = if reuse { 0 } else { 300 + m as u64 % 700 };
                    let done = time + connect + 200 + m as u64 % 900;
                    f(&Event::Attempt(Attempt {
                        time: Instant::from_millis(done),
                        message: m,
                        sender,
                        recipient: &recipient,
                        size: 1000 + m % 5000,
                        arrived: Instant::from_millis(arrived),
                        attempt,
                        outcome,
                        class,
                        handshake,
                        reply,
                        command: None,
                        relay,
                        session: session.0,
                        conn_use: session.1.max(1),
                        started: Instant::from_millis(time),
                        connected: (!reuse && !handshake)
                            .then_some(Instant::from_millis(time + connect)),
                    }));
                    match outcome {
                        Written::Deferred if attempt >= self.max_attempts => {
                            queue.push(Reverse((done + 5 * MINUTE * (1 << attempt), 3, m)))
                        }
                        Written::Deferred => {
                            let retry = done + 5 * MINUTE * (1 << (attempt - 1));
                            let step = if rng.random::<f64>() < 0.1 { 2 } else { 1 };
                            queue.push(Reverse((retry, step, m)));
                        }
                        _ => queue.push(Reverse((done + 1, 4, m))),
                    }
                }
                2 => {
                    f(&Event::Attempt(Attempt {
                        time: Instant::from_millis(time),
                        message: m,
                        sender,
                        recipient: &recipient,
                        size: 1000 + m % 5000,
                        arrived: Instant::from_millis(arrived),
                        attempt: attempts,
                        outcome: Written::Held,
                        class: OutcomeClass::Internal,
                        handshake: false,
                        reply: "Messages queued (dynamic flow control)",
                        command: None,
                        relay,
                        session: 0,
                        conn_use: 1,
                        started: Instant::from_millis(time),
                        connected: None,
                    }));
                    queue.push(Reverse((time + 2 * MINUTE, 1, m)));
                }
                3 => {
                    f(&Event::Expiry(Expiry {
                        time: Instant::from_millis(time),
                        message: m,
                        sender,
                        recipient: &recipient,
                        size: 1000 + m % 5000,
                        arrived: Instant::from_millis(arrived),
                        attempts,
                        relay,
                        last_reply: &dest.defer_reply,
                    }));
                    queue.push(Reverse((time + 1, 4, m)));
                }
                _ => f(&Event::Removal(Removal {
                    time: Instant::from_millis(time),
                    message: m,
                    arrived: Instant::from_millis(arrived),
                })),
            }
        }
    }
}
