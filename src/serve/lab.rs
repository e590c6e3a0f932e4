//! The receivers shared by every SMTP session: each one's run-time [`Receiver`] (the
//! simulator's own, driven by the lab's clock), its greylisting memory and its tallies,
//! behind one short-held lock per receiver. Sessions tell a [`Desk`] the moments of their
//! conversation and get the receiver's answers; nothing here does I/O but the deliveries
//! journal's one write per accepted recipient.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::clock::Clock;
use super::record::{Journal, Tally};
use super::reply::Wire;
use crate::mta::world::World;
use crate::receiver::{ConnectAnswer, Greeted, Receiver, TransactionAnswer};
use crate::replies::{ReplyBook, ReplyId, ReplyKind};
use crate::units::Instant;

/// Every served receiver, the clock they share, and where accepted messages are journaled.
pub struct Lab {
    pub clock: Clock,
    pub book: ReplyBook,
    /// Each interned reply as it goes on the wire (multi-line where long).
    pub wire: Vec<Wire>,
    pub desks: Vec<Desk>,
    pub journal: Journal,
    /// The scenario's name and seed, for the outputs.
    pub scenario: String,
    pub seed: u64,
}

/// One served receiver.
pub struct Desk {
    pub name: String,
    /// Its domains, lower case: mail for others is refused (it is not a relay).
    pub domains: Vec<String>,
    pub address: SocketAddr,
    /// Outage windows that refuse connections: the accept loop stops listening in them.
    pub refusals: Vec<(Instant, Instant)>,
    station: Mutex<Station>,
}

/// A receiver's run-time state and what it saw.
struct Station {
    receiver: Receiver,
    /// Greylisting's memory: when each (client, sender, recipient) triplet was first seen.
    first_seen: HashMap<(IpAddr, Box<str>, Box<str>), Instant>,
    /// Queued connections waiting for a slot, by ticket: told the greeting's time.
    waiting: HashMap<u64, oneshot::Sender<Instant>>,
    tally: Tally,
    /// The rate limit is empty until then (as of the last transaction).
    empty_until: Instant,
    /// Time with an empty rate limit is counted up to here.
    empty_counted_to: Instant,
}

/// How a connection is answered.
pub enum Arrival {
    /// Greet it after this wall-clock delay.
    Greet(std::time::Duration),
    /// Answer this reply at the greeting after the delay, then hang up.
    Reject(std::time::Duration, ReplyId),
    /// Refuse it (reset).
    Refuse,
    /// Stay silent.
    Silent,
    /// Wait for a slot: the ticket, and the greeting's scenario time once one frees up.
    Queued(u64, oneshot::Receiver<Instant>),
}

/// A receiver's counters at one moment, for samples and the summary.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub tally: Tally,
    pub sessions: u32,
    pub waiting: usize,
    pub tokens: Option<f64>,
    pub reputation: Option<f64>,
    pub reputation_min: Option<f64>,
    pub blocking: bool,
    pub blocks: u64,
}

impl Lab {
    /// The lab of `receivers` (taken from `world`, in its order) at `addresses`, on
    /// `clock`.
    pub fn new(
        world: &World,
        receivers: Vec<Receiver>,
        addresses: &[SocketAddr],
        clock: Clock,
        journal: Journal,
        scenario: (&str, u64),
    ) -> Lab {
        let wire = world
            .book
            .iter()
            .map(|(_, reply)| Wire::of(reply))
            .collect();
        let mut desks = Vec::with_capacity(receivers.len());
        for (r, receiver) in receivers.into_iter().enumerate() {
            let domains = world
                .domains
                .iter()
                .enumerate()
                .filter(|(_, d)| d.receiver.index() == r)
                .map(|(i, _)| world.domain_names[i].to_ascii_lowercase())
                .collect();
            desks.push(Desk {
                name: world.receiver_names[r].to_string(),
                domains,
                address: addresses[r],
                refusals: receiver.behaviour().refusals().collect(),
                station: Mutex::new(Station {
                    receiver,
                    first_seen: HashMap::new(),
                    waiting: HashMap::new(),
                    tally: Tally::default(),
                    empty_until: Instant::ZERO,
                    empty_counted_to: Instant::ZERO,
                }),
            });
        }
        Lab {
            clock,
            book: world.book.clone(),
            wire,
            desks,
            journal,
            scenario: scenario.0.to_string(),
            seed: scenario.1,
        }
    }
}

impl Desk {
    fn station(&self) -> MutexGuard<'_, Station> {
        // A session that panicked holding the lock left counters, not broken invariants.
        self.station.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this receiver hosts `domain` (ASCII case-insensitive).
    pub fn hosts(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// A connection arrives now.
    pub fn connect(&self, clock: &Clock) -> Arrival {
        let now = clock.now();
        let mut station = self.station();
        let answer = station.receiver.connect(now);
        let tally = &mut station.tally;
        tally.connections += 1;
        let arrival = match answer {
            ConnectAnswer::Greeted { after } => Arrival::Greet(clock.wall(after)),
            ConnectAnswer::Rejected { after, reply } => {
                tally.greeting_rejects += 1;
                tally.refused(reply, ReplyKind::Temporary);
                Arrival::Reject(clock.wall(after), reply)
            }
            ConnectAnswer::Refused { .. } => {
                tally.refused_connections += 1;
                Arrival::Refuse
            }
            ConnectAnswer::Silent => {
                tally.unanswered_connections += 1;
                Arrival::Silent
            }
            ConnectAnswer::Queued { ticket } => {
                tally.queued_connections += 1;
                let (tell, told) = oneshot::channel();
                station.waiting.insert(ticket, tell);
                Arrival::Queued(ticket, told)
            }
        };
        let sessions = station.receiver.sessions();
        station.tally.peak_sessions = station.tally.peak_sessions.max(sessions);
        arrival
    }

    /// A queued client gave up before its slot came.
    pub fn abandon(&self, ticket: u64) {
        let mut station = self.station();
        station.receiver.abandon(ticket);
        station.waiting.remove(&ticket);
    }

    /// A session holding a slot ended: the slot goes to the oldest queued connection
    /// still there (one whose client left gives its slot on at once).
    pub fn disconnect(&self, clock: &Clock) {
        let now = clock.now();
        let mut station = self.station();
        let mut greeted = station.receiver.disconnect(now, |_, _| true);
        while let Some(Greeted { ticket, at }) = greeted {
            let told = station
                .waiting
                .remove(&ticket)
                .is_some_and(|tell| tell.send(at).is_ok());
            if told {
                let sessions = station.receiver.sessions();
                station.tally.peak_sessions = station.tally.peak_sessions.max(sessions);
                return;
            }
            greeted = station.receiver.disconnect(now, |_, _| true);
        }
    }

    /// MAIL FROM after `in_session` transactions: the receiver's 421 if the session is
    /// spent.
    pub fn mail(&self, in_session: u32) -> Option<TransactionAnswer> {
        let station = self.station();
        station.receiver.session_spent(in_session)
    }

    /// RCPT TO: one transaction of the receiver for `recipient` of a message from `sender`,
    /// sent by `client`; greylisting remembers the triplet's first attempt.
    pub fn transaction(
        &self,
        clock: &Clock,
        client: IpAddr,
        sender: &str,
        recipient: &str,
        in_session: u32,
    ) -> TransactionAnswer {
        let now = clock.now();
        let mut station = self.station();
        station.count_empty_rate_limit(now);
        let key = (
            client,
            sender.to_ascii_lowercase().into_boxed_str(),
            recipient.to_ascii_lowercase().into_boxed_str(),
        );
        let message = fnv1a(key.2.as_bytes());
        let first_attempt = *station.first_seen.entry(key).or_insert(now);
        let answer = station
            .receiver
            .transaction(now, message, first_attempt, in_session);
        station.empty_until = station.receiver.next_token(now).unwrap_or(now);
        station.tally.transactions += 1;
        answer
    }

    /// The session answered `reply` (a 4xx or 5xx) to a transaction or at the greeting.
    pub fn refused(&self, reply: ReplyId, kind: ReplyKind) {
        self.station().tally.refused(reply, kind);
    }

    /// The session is about to answer 250 to a message for `recipients`: count them and
    /// journal each one first, so that nothing accepted is unrecorded.
    pub fn accepted(&self, lab: &Lab, message: &Accepted<'_>) -> std::io::Result<()> {
        let now = lab.clock.now();
        for recipient in message.recipients {
            lab.journal.record(now, &self.name, recipient, message)?;
        }
        self.station().tally.accepted += message.recipients.len() as u64;
        Ok(())
    }

    /// A command answered 500, 501, 502, 503 or 555, a line too long, or an idle client.
    pub fn protocol_error(&self) {
        self.station().tally.protocol_errors += 1;
    }

    /// A recipient of a domain this receiver does not host.
    pub fn misrouted(&self) {
        self.station().tally.misrouted += 1;
    }

    /// The receiver's counters and state now.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let mut station = self.station();
        station.count_empty_rate_limit(now);
        let receiver = &station.receiver;
        Snapshot {
            sessions: receiver.sessions(),
            waiting: receiver.waiting(),
            tokens: receiver.tokens(now),
            reputation: receiver.reputation(now),
            reputation_min: receiver.reputation_min(),
            blocking: receiver.blocked(),
            blocks: receiver.blocks(),
            tally: station.tally.clone(),
        }
    }
}

impl Station {
    /// Adds the time the rate limit has been empty since it was last counted, up to `now`.
    fn count_empty_rate_limit(&mut self, now: Instant) {
        let end = self.empty_until.min(now);
        if end > self.empty_counted_to {
            self.tally.rate_limit_empty_ms += (end - self.empty_counted_to).as_millis();
        }
        self.empty_counted_to = self.empty_counted_to.max(now);
    }
}

/// A message about to be accepted, as the journal records it.
pub struct Accepted<'a> {
    pub client: IpAddr,
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub message_id: Option<&'a str>,
    pub size: u64,
}

/// FNV-1a: a stable key per recipient address, so the unknown-user decision is the same at
/// every attempt of a message (the simulator keys it on the message's id).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
