//! Log writers: simulated events in the real formats (Postfix `maillog`, KumoMTA
//! `kumo-log.jsonl`, PowerMTA `acct.csv`, Exim `mainlog`), realistic enough that pflogsumm and the readers
//! of [`crate::logs`] take them as real. Pure formatting: the simulator hands over events
//! with borrowed strings and simulated times; each writer adds a fixed absolute start
//! instant and writes into a reused line buffer (no allocation per line).
//!
//! What survives a write and a read: kind, time (Postfix classic stamps to the second,
//! KumoMTA and RFC 3339 stamps to the millisecond, PowerMTA to the second), recipient and
//! domain, destination (the relay host from [`relay_host`](super::destinations::relay_host)
//! reads back as the receiver), code and enhanced code, class and handshake, the reply of
//! receiver replies, the relay address, the age (Postfix to its `delay=` precision). Held
//! outcomes are written by Postfix, KumoMTA and Exim only (PowerMTA has no such record); the
//! reply text of MTA-side failures (connect, DNS, internal) is the MTA's own wording.

mod exim;
mod kumo;
mod pmta;
mod postfix;
pub mod synthetic;

use std::io;
use std::net::IpAddr;

pub use exim::EximWriter;
pub use kumo::KumoWriter;
pub use pmta::PmtaWriter;
pub use postfix::{PostfixStyle, PostfixWriter};

use super::classify::Command;
use crate::flow_control::OutcomeClass;
use crate::replies::{Enhanced, reply_code};
use crate::units::Instant;

/// Milliseconds of simulated time, inside the writers.
type Millis = u64;

/// A message entered the queue.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// Simulated time.
    pub time: Instant,
    pub message: u32,
    pub sender: &'a str,
    pub recipient: &'a str,
    pub size: u32,
}

/// How an attempt (or hold) ended, as the log says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Delivered,
    Deferred,
    Bounced,
    /// Held back by the MTA's flow control without an attempt.
    Held,
}

/// The MX an attempt went to.
#[derive(Debug, Clone, Copy)]
pub struct RelayHost<'a> {
    pub host: &'a str,
    pub ip: IpAddr,
}

/// One delivery attempt (or hold) and its outcome.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// When the outcome was known (simulated time).
    pub time: Instant,
    pub message: u32,
    pub sender: &'a str,
    pub recipient: &'a str,
    pub size: u32,
    /// When the message arrived.
    pub arrived: Instant,
    /// 1 for the first attempt (for a hold: the attempts made so far).
    pub attempt: u32,
    pub outcome: Written,
    pub class: OutcomeClass,
    /// Failed at connect or greeting.
    pub handshake: bool,
    /// The reply line (`421 4.7.0 ...`), or the hold's reason.
    pub reply: &'a str,
    /// The command the reply answered (`None`: the usual one for its code).
    pub command: Option<Command>,
    pub relay: RelayHost<'a>,
    /// The SMTP session (its process ID in Postfix, its session ID in KumoMTA).
    pub session: u32,
    /// Deliveries over this connection, this one included (1: a new connection).
    pub conn_use: u32,
    /// When the delivery agent took the message.
    pub started: Instant,
    /// When the greeting arrived on a new connection (`None`: reused or failed before).
    pub connected: Option<Instant>,
}

/// A message gave up on: it was queued too long.
#[derive(Debug, Clone, Copy)]
pub struct Expiry<'a> {
    pub time: Instant,
    pub message: u32,
    pub sender: &'a str,
    pub recipient: &'a str,
    pub size: u32,
    pub arrived: Instant,
    pub attempts: u32,
    pub relay: RelayHost<'a>,
    /// The last deferral's reply.
    pub last_reply: &'a str,
}

/// A message left the queue (delivered, bounced or expired).
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    pub time: Instant,
    pub message: u32,
    /// When the message arrived (Postfix queue IDs are made from it).
    pub arrived: Instant,
}

/// A recipient's domain.
fn domain_of(recipient: &str) -> &str {
    recipient.rsplit_once('@').map_or("", |(_, d)| d)
}

/// A 64-bit mix of a message number (SplitMix64's finaliser), for IDs that look random
/// but are the same on every run.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Appends `n` with at least `width` digits (zero-padded).
fn push_padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let s = b.format(n);
    for _ in s.len()..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(s.as_bytes());
}

fn push_num(buf: &mut Vec<u8>, n: u64) {
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `YYYY-MM-DD?HH:MM:SS` of a civil time, `sep` between date and time.
fn push_datetime(buf: &mut Vec<u8>, c: &super::time::Civil, sep: u8) {
    push_padded(buf, c.year.max(0) as u64, 4);
    buf.push(b'-');
    push_padded(buf, c.month as u64, 2);
    buf.push(b'-');
    push_padded(buf, c.day as u64, 2);
    buf.push(sep);
    push_padded(buf, c.hour as u64, 2);
    buf.push(b':');
    push_padded(buf, c.minute as u64, 2);
    buf.push(b':');
    push_padded(buf, c.second as u64, 2);
}

fn push_enhanced(buf: &mut Vec<u8>, e: Enhanced) {
    push_num(buf, e.class as u64);
    buf.push(b'.');
    push_num(buf, e.subject as u64);
    buf.push(b'.');
    push_num(buf, e.detail as u64);
}

/// `+HH:MM` (`colon`) or `+HHMM`.
fn push_offset(buf: &mut Vec<u8>, minutes: i32, colon: bool) {
    buf.push(if minutes < 0 { b'-' } else { b'+' });
    let m = minutes.unsigned_abs() as u64;
    push_padded(buf, m / 60, 2);
    if colon {
        buf.push(b':');
    }
    push_padded(buf, m % 60, 2);
}

/// The enhanced code a writer reports for an attempt: the reply's, else the usual one for
/// its class.
fn dsn_of(a: &Attempt) -> Enhanced {
    let default = |class, subject, detail| Enhanced {
        class,
        subject,
        detail,
    };
    match (a.class, a.handshake) {
        (OutcomeClass::Connect, _) | (OutcomeClass::Timeout, true) if !is_greeting(a) => {
            default(4, 4, 1)
        }
        (OutcomeClass::Timeout, _) => default(4, 4, 2),
        (OutcomeClass::Internal, _) => default(4, 4, 3),
        _ => reply_code(a.reply)
            .and_then(|r| r.enhanced)
            .unwrap_or(match a.outcome {
                Written::Delivered => default(2, 0, 0),
                Written::Bounced => default(5, 0, 0),
                Written::Deferred | Written::Held => default(4, 0, 0),
            }),
    }
}

/// A timeout waiting for the greeting rather than for the TCP connection.
fn is_greeting(a: &Attempt) -> bool {
    a.class == OutcomeClass::Timeout && a.reply.contains("greeting")
}

/// The events every writer takes, for an observer that does not care which format.
pub trait EventLog {
    /// A message entered the queue (PowerMTA: not logged).
    fn arrival(&mut self, a: &Arrival) -> io::Result<()>;
    fn attempt(&mut self, a: &Attempt) -> io::Result<()>;
    fn expiry(&mut self, e: &Expiry) -> io::Result<()>;
    /// A message left the queue (Postfix `removed`; the others log nothing).
    fn removal(&mut self, r: &Removal) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

impl<W: io::Write> EventLog for PostfixWriter<W> {
    fn arrival(&mut self, a: &Arrival) -> io::Result<()> {
        PostfixWriter::arrival(self, a)
    }
    fn attempt(&mut self, a: &Attempt) -> io::Result<()> {
        PostfixWriter::attempt(self, a)
    }
    fn expiry(&mut self, e: &Expiry) -> io::Result<()> {
        PostfixWriter::expiry(self, e)
    }
    fn removal(&mut self, r: &Removal) -> io::Result<()> {
        PostfixWriter::removal(self, r)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_output()
    }
}

impl<W: io::Write> EventLog for KumoWriter<W> {
    fn arrival(&mut self, a: &Arrival) -> io::Result<()> {
        KumoWriter::arrival(self, a)
    }
    fn attempt(&mut self, a: &Attempt) -> io::Result<()> {
        KumoWriter::attempt(self, a)
    }
    fn expiry(&mut self, e: &Expiry) -> io::Result<()> {
        KumoWriter::expiry(self, e)
    }
    fn removal(&mut self, _: &Removal) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_output()
    }
}

impl<W: io::Write> EventLog for EximWriter<W> {
    fn arrival(&mut self, a: &Arrival) -> io::Result<()> {
        EximWriter::arrival(self, a)
    }
    fn attempt(&mut self, a: &Attempt) -> io::Result<()> {
        EximWriter::attempt(self, a)
    }
    fn expiry(&mut self, e: &Expiry) -> io::Result<()> {
        EximWriter::expiry(self, e)
    }
    fn removal(&mut self, r: &Removal) -> io::Result<()> {
        EximWriter::removal(self, r)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_output()
    }
}

impl<W: io::Write> EventLog for PmtaWriter<W> {
    fn arrival(&mut self, _: &Arrival) -> io::Result<()> {
        Ok(())
    }
    fn attempt(&mut self, a: &Attempt) -> io::Result<()> {
        PmtaWriter::attempt(self, a)
    }
    fn expiry(&mut self, e: &Expiry) -> io::Result<()> {
        PmtaWriter::expiry(self, e)
    }
    fn removal(&mut self, _: &Removal) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_output()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        let mut b = Vec::new();
        push_padded(&mut b, 7, 3);
        push_num(&mut b, 42);
        push_offset(&mut b, -330, true);
        push_offset(&mut b, 60, false);
        assert_eq!(String::from_utf8(b).unwrap(), "00742-05:30+0100");
        assert_ne!(mix(1), mix(2));
        assert_eq!(domain_of("a@b.example"), "b.example");
    }
}
