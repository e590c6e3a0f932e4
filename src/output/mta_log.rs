//! `mtasim run --log-format postfix|kumomta|pmta`: the run's log in a real MTA's format
//! (maillog, kumo-log.jsonl, acct.csv), so the readers of [`crate::logs`], pflogsumm and a
//! user's own log pipeline take the simulated incident as real. An observer of the run
//! that turns the model's events into the writers' [`Arrival`], [`Attempt`], [`Expiry`] and
//! [`Removal`] events.
//!
//! Simulated time 0 is [`LOG_START`]. Every recipient is `user<message id>@<its domain>`,
//! every sender [`SENDER`]; each destination's MX host and address come from
//! [`relay_host`] and [`relay_ip`], so the readers group the lines by the same destination
//! names as the run. An attempt is written once its message's fate is known (delivered,
//! bounced, deferred), since a flow-control rule may bounce a 4xx.

use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;

use crate::MtaKind;
use crate::flow_control::OutcomeClass;
use crate::logs::UnixMillis;
use crate::logs::destinations::{Providers, relay_host, relay_ip};
use crate::logs::write::{
    Arrival, Attempt, EventLog, EximWriter, Expiry, KumoWriter, PmtaWriter, PostfixStyle,
    PostfixWriter, RelayHost, Removal, Written,
};
use crate::mta::message::Message;
use crate::mta::model::HOLD_REPLY;
use crate::mta::observe::{AttemptEnd, MessageEvent, Observer, SessionInfo};
use crate::mta::world::{DestinationId, World};
use crate::replies::{BounceReason, ReplyId};
use crate::units::Instant;

/// The absolute time of simulated time 0: 2026-06-14T00:00:00Z.
pub const LOG_START: UnixMillis = UnixMillis(1_781_395_200_000);

/// The envelope sender of every message.
pub const SENDER: &str = "news@sender.example";

/// The log file's name in the output folder.
pub fn file_name(format: MtaKind) -> &'static str {
    match format {
        MtaKind::Postfix => "maillog",
        MtaKind::KumoMta => "kumo-log.jsonl",
        MtaKind::Pmta => "acct.csv",
        MtaKind::Exim => "mainlog",
    }
}

/// An attempt whose message's fate is not told yet.
#[derive(Clone, Copy)]
struct Pending {
    at: Instant,
    message: Message,
    destination: DestinationId,
    class: OutcomeClass,
    reply: ReplyId,
    handshake: bool,
    transaction_started: Option<Instant>,
    session: SessionInfo,
}

/// Writes the run's events in one MTA's log format; the first I/O error is kept and
/// reported by [`MtaLog::finish`].
pub struct MtaLog {
    log: Box<dyn EventLog>,
    /// Per destination: its MX host and address (filled at the first event).
    relays: Vec<(String, IpAddr)>,
    recipient: String,
    pending: Option<Pending>,
    error: Option<io::Error>,
}

impl MtaLog {
    /// Creates the log file for `format` in `dir`.
    pub fn create(dir: &Path, format: MtaKind) -> io::Result<MtaLog> {
        let file = BufWriter::with_capacity(
            256 * 1024,
            std::fs::File::create(dir.join(file_name(format)))?,
        );
        Ok(MtaLog::new(writer(file, format)?))
    }

    /// Logs to `log`.
    pub fn new(log: Box<dyn EventLog>) -> MtaLog {
        MtaLog {
            log,
            relays: Vec::new(),
            recipient: String::with_capacity(64),
            pending: None,
            error: None,
        }
    }

    /// Flushes, reporting the first error met while logging.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.log.flush()
    }

    /// Each destination's MX host (named after its receiver, or its first domain's) and
    /// address, computed once.
    fn relays(&mut self, world: &World) {
        if !self.relays.is_empty() {
            return;
        }
        let providers = Providers::builtin();
        let mut first_domain = vec![None; world.destinations.len()];
        for (i, domain) in world.domains.iter().enumerate().rev() {
            first_domain[domain.destination.index()] = Some(i);
        }
        self.relays = world
            .destination_ids()
            .map(|d| {
                let first = first_domain[d.index()].map_or("", |i| &world.domain_names[i]);
                let name = world.destination_name(d);
                (relay_host(&providers, name, first), relay_ip(name))
            })
            .collect();
    }

    /// `user<id>@<domain>` into the reused buffer.
    fn set_recipient(&mut self, world: &World, message: &Message) {
        self.recipient.clear();
        self.recipient.push_str("user");
        self.recipient
            .push_str(itoa::Buffer::new().format(message.id));
        self.recipient.push('@');
        self.recipient
            .push_str(&world.domain_names[message.domain.index()]);
    }

    fn keep(&mut self, result: io::Result<()>) {
        if let Err(e) = result
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }

    /// Writes the pending attempt of `message` with its fate.
    fn attempt(&mut self, world: &World, message: &Message, outcome: Written) {
        let Some(p) = self.pending.take().filter(|p| p.message.id == message.id) else {
            return;
        };
        self.set_recipient(world, &p.message);
        let first = p.session.earlier == 0;
        let started = match p.transaction_started {
            Some(t) if !first => t,
            _ => p.session.opened,
        };
        let attempt = Attempt {
            time: p.at,
            message: p.message.id,
            sender: SENDER,
            recipient: &self.recipient,
            size: size_of(p.message.id),
            arrived: p.message.injected_at,
            attempt: u32::from(p.message.attempts()),
            outcome,
            class: p.class,
            handshake: p.handshake,
            reply: &world.book.get(p.reply).text,
            command: None,
            relay: relay(&self.relays, p.destination),
            session: p.session.id,
            conn_use: p.session.earlier + 1,
            started,
            connected: p.session.greeted.filter(|_| first),
        };
        let result = self.log.attempt(&attempt);
        self.keep(result);
    }

    fn removal(&mut self, event: &MessageEvent) {
        let result = self.log.removal(&Removal {
            time: event.at,
            message: event.message.id,
            arrived: event.message.injected_at,
        });
        self.keep(result);
    }
}

/// The writer of `format` on `out`.
pub fn writer<W: Write + 'static>(out: W, format: MtaKind) -> io::Result<Box<dyn EventLog>> {
    Ok(match format {
        MtaKind::Postfix => Box::new(PostfixWriter::new(out, LOG_START, PostfixStyle::default())),
        MtaKind::KumoMta => Box::new(KumoWriter::new(out, LOG_START)),
        MtaKind::Pmta => Box::new(PmtaWriter::new(out, LOG_START)?),
        MtaKind::Exim => Box::new(EximWriter::new(out, LOG_START)),
    })
}

fn relay(relays: &[(String, IpAddr)], d: DestinationId) -> RelayHost<'_> {
    let (host, ip) = &relays[d.index()];
    RelayHost { host, ip: *ip }
}

/// A message's size in bytes: the same on every run, varied between messages.
fn size_of(message: u32) -> u32 {
    2_000 + message.wrapping_mul(2_654_435_761) % 48_000
}

impl Observer for MtaLog {
    fn injected(&mut self, world: &World, event: MessageEvent) {
        self.relays(world);
        self.set_recipient(world, event.message);
        let result = self.log.arrival(&Arrival {
            time: event.at,
            message: event.message.id,
            sender: SENDER,
            recipient: &self.recipient,
            size: size_of(event.message.id),
        });
        self.keep(result);
    }

    fn held(&mut self, world: &World, event: MessageEvent, _first: bool) {
        self.set_recipient(world, event.message);
        let hold = Attempt {
            time: event.at,
            message: event.message.id,
            sender: SENDER,
            recipient: &self.recipient,
            size: size_of(event.message.id),
            arrived: event.message.injected_at,
            attempt: u32::from(event.message.attempts()),
            outcome: Written::Held,
            class: OutcomeClass::Internal,
            handshake: false,
            reply: HOLD_REPLY,
            command: None,
            relay: relay(&self.relays, event.destination),
            session: 0,
            conn_use: 1,
            started: event.at,
            connected: None,
        };
        let result = self.log.attempt(&hold);
        self.keep(result);
    }

    fn attempted(&mut self, _world: &World, a: &AttemptEnd) {
        self.pending = Some(Pending {
            at: a.at,
            message: *a.message,
            destination: a.destination,
            class: a.class,
            reply: a.reply,
            handshake: a.handshake,
            transaction_started: a.transaction_started,
            session: a.session,
        });
    }

    fn delivered(&mut self, world: &World, event: MessageEvent) {
        self.attempt(world, event.message, Written::Delivered);
        self.removal(&event);
    }

    fn bounced(&mut self, world: &World, event: MessageEvent, _reason: BounceReason) {
        self.attempt(world, event.message, Written::Bounced);
        self.removal(&event);
    }

    fn deferred(&mut self, world: &World, event: MessageEvent, _reply: ReplyId) {
        self.attempt(world, event.message, Written::Deferred);
    }

    fn expired(&mut self, world: &World, event: MessageEvent) {
        self.set_recipient(world, event.message);
        let last = event.message.last_reply;
        let last_reply = if last == ReplyId::NONE {
            ""
        } else {
            world.book.get(last).text.as_str()
        };
        let expiry = Expiry {
            time: event.at,
            message: event.message.id,
            sender: SENDER,
            recipient: &self.recipient,
            size: size_of(event.message.id),
            arrived: event.message.injected_at,
            attempts: u32::from(event.message.attempts()),
            relay: relay(&self.relays, event.destination),
            last_reply,
        };
        let result = self.log.expiry(&expiry);
        self.keep(result);
        self.removal(&event);
    }
}
