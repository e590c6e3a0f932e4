//! The PowerMTA accounting writer: a header row with the default `acct-file` fields, then
//! `d`, `b` and `t` records (an expiry is a `b` record with `4.4.7` and category
//! `message-expired`; holds have no PowerMTA record and are not written).

use std::io::{self, Write};

use super::{
    Attempt, Expiry, Millis, Written, domain_of, dsn_of, is_greeting, push_datetime, push_enhanced,
    push_num,
};
use crate::flow_control::OutcomeClass;
use crate::logs::UnixMillis;
use crate::logs::pmta::DEFAULT_FIELDS;
use crate::replies::{Enhanced, reply_code};

/// Writes a PowerMTA `acct.csv`.
pub struct PmtaWriter<W: Write> {
    out: csv::Writer<W>,
    start: UnixMillis,
    logged: Vec<u8>,
    queued: Vec<u8>,
    status: Vec<u8>,
    diag: Vec<u8>,
    mta: Vec<u8>,
    ip: Vec<u8>,
    size: Vec<u8>,
    env: Vec<u8>,
}

const ESMTP: &str = "PIPELINING,8BITMIME,SIZE,STARTTLS,ENHANCEDSTATUSCODES";

/// The RFC 3463 meaning PowerMTA writes after a status code.
fn describe(e: Enhanced) -> &'static str {
    match (e.class, e.subject, e.detail) {
        (2, _, _) => "success",
        (_, 1, 1) => "bad destination mailbox address",
        (_, 4, 1) => "no answer from host",
        (_, 4, 2) => "bad connection",
        (_, 4, 3) => "directory server failure",
        (_, 4, 7) => "delivery time expired",
        (_, 7, _) => "other or undefined security status",
        _ => "other or undefined status",
    }
}

/// PowerMTA's bounce categories for the common codes.
fn bounce_category(e: Enhanced) -> &'static str {
    match (e.subject, e.detail) {
        (1, 1) | (1, 0) => "bad-mailbox",
        (1, 2) => "bad-domain",
        (7, _) => "policy-related",
        (2, 2) => "quota-issues",
        _ => "other",
    }
}

impl<W: Write> PmtaWriter<W> {
    /// A writer whose simulated time 0 is `start`; writes the header row.
    pub fn new(out: W, start: UnixMillis) -> io::Result<Self> {
        let mut out = csv::WriterBuilder::new().from_writer(out);
        out.write_record(DEFAULT_FIELDS).map_err(io::Error::from)?;
        Ok(PmtaWriter {
            out,
            start,
            logged: Vec::new(),
            queued: Vec::new(),
            status: Vec::new(),
            diag: Vec::new(),
            mta: Vec::new(),
            ip: Vec::new(),
            size: Vec::new(),
            env: Vec::new(),
        })
    }

    fn time(buf: &mut Vec<u8>, start: UnixMillis, t: Millis) {
        buf.clear();
        push_datetime(buf, &start.plus(t as i64).civil(), b' ');
        buf.extend_from_slice(b"+0000");
    }

    fn status(&mut self, e: Enhanced) {
        self.status.clear();
        push_enhanced(&mut self.status, e);
        self.status.extend_from_slice(b" (");
        self.status.extend_from_slice(describe(e).as_bytes());
        self.status.push(b')');
    }

    fn mta(&mut self, host: &str, ip: std::net::IpAddr) {
        self.ip.clear();
        let _ = write!(self.ip, "{ip}");
        self.mta.clear();
        self.mta.extend_from_slice(host.as_bytes());
        self.mta.extend_from_slice(b" (");
        self.mta.extend_from_slice(&self.ip);
        self.mta.push(b')');
    }

    /// A `d`, `b` or `t` record (nothing for a hold).
    pub fn attempt(&mut self, a: &Attempt) -> io::Result<()> {
        let (kind, action) = match a.outcome {
            Written::Delivered => ("d", "relayed"),
            Written::Bounced => ("b", "failed"),
            Written::Deferred => ("t", "delayed"),
            Written::Held => return Ok(()),
        };
        let dsn = dsn_of(a);
        self.status(dsn);
        self.diag.clear();
        let host = a.relay.host;
        self.mta(host, a.relay.ip);
        match (a.class, a.handshake) {
            (OutcomeClass::Connect, _) => {
                let _ = write!(
                    self.diag,
                    "smtp;421 4.4.1 connect to {host}[{}]:25: Connection refused",
                    a.relay.ip
                );
            }
            (OutcomeClass::Timeout, true) if is_greeting(a) => {
                let _ = write!(
                    self.diag,
                    "smtp;421 4.4.2 conversation with {host}[{}] timed out while receiving the initial server greeting",
                    a.relay.ip
                );
            }
            (OutcomeClass::Timeout, true) => {
                let _ = write!(
                    self.diag,
                    "smtp;421 4.4.1 connect to {host}[{}]:25: Connection timed out",
                    a.relay.ip
                );
            }
            (OutcomeClass::Timeout, false) => {
                let _ = write!(
                    self.diag,
                    "smtp;421 4.4.2 conversation with {host}[{}] timed out while sending end of data",
                    a.relay.ip
                );
            }
            (OutcomeClass::Internal, _) => {
                let _ = write!(
                    self.diag,
                    "dns;Host or domain name not found. Name service error for name={} type=MX",
                    domain_of(a.recipient)
                );
            }
            _ => {
                self.diag.extend_from_slice(b"smtp;");
                self.diag.extend_from_slice(a.reply.as_bytes());
            }
        }
        let esmtp =
            if a.handshake || matches!(a.class, OutcomeClass::Connect | OutcomeClass::Internal) {
                ""
            } else {
                ESMTP
            };
        let category = if kind == "b" {
            bounce_category(dsn)
        } else {
            ""
        };
        self.record(
            kind,
            a.time.as_millis(),
            a.arrived.as_millis(),
            a.sender,
            a.recipient,
            action,
            category,
            esmtp,
            a.size,
            a.message,
        )
    }

    /// A `b` record of category `message-expired`.
    pub fn expiry(&mut self, e: &Expiry) -> io::Result<()> {
        self.status(Enhanced {
            class: 4,
            subject: 4,
            detail: 7,
        });
        self.diag.clear();
        self.diag.extend_from_slice(b"smtp;");
        self.diag.extend_from_slice(e.last_reply.as_bytes());
        if reply_code(e.last_reply).is_none() {
            self.diag.clear();
            self.diag
                .extend_from_slice(b"smtp;421 4.4.7 delivery time expired");
        }
        self.mta(e.relay.host, e.relay.ip);
        self.record(
            "b",
            e.time.as_millis(),
            e.arrived.as_millis(),
            e.sender,
            e.recipient,
            "failed",
            "message-expired",
            "",
            e.size,
            e.message,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        kind: &str,
        time: Millis,
        arrived: Millis,
        sender: &str,
        recipient: &str,
        action: &str,
        category: &str,
        esmtp: &str,
        size: u32,
        message: u32,
    ) -> io::Result<()> {
        Self::time(&mut self.logged, self.start, time);
        Self::time(&mut self.queued, self.start, arrived);
        self.size.clear();
        push_num(&mut self.size, size as u64);
        self.env.clear();
        push_num(&mut self.env, message as u64);
        let fields: [&[u8]; 21] = [
            kind.as_bytes(),
            &self.logged,
            &self.queued,
            sender.as_bytes(),
            recipient.as_bytes(),
            b"",
            action.as_bytes(),
            &self.status,
            &self.diag,
            &self.mta,
            category.as_bytes(),
            b"smtp",
            b"mtasim",
            b"smtp",
            b"203.0.113.7",
            &self.ip,
            esmtp.as_bytes(),
            &self.size,
            b"mtasim",
            b"",
            &self.env,
        ];
        self.out.write_record(fields).map_err(io::Error::from)
    }

    /// Flushes the output.
    pub fn flush_output(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and hands back the output.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}
