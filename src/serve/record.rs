//! What the served receivers saw: per-receiver counters, and the deliveries journal that
//! records every accepted recipient before its 250 is sent.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::sync::Mutex;

use serde::Serialize;

use super::lab::Accepted;
use crate::replies::{ReplyId, ReplyKind};
use crate::units::Instant;

/// One receiver's counters since the start (cumulative; samples take differences).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// TCP connections accepted (greeted, rejected, left silent or queued).
    pub connections: u64,
    /// Connections answered with the connection limit's 4xx at the greeting.
    pub greeting_rejects: u64,
    /// Connections reset by an outage in `refuse` mode that began while accepting.
    pub refused_connections: u64,
    /// Connections left without a greeting (outage `timeout`, backlog full).
    pub unanswered_connections: u64,
    /// Connections that waited in the backlog of a `queue` connection limit.
    pub queued_connections: u64,
    /// Most sessions holding a slot at once.
    pub peak_sessions: u32,
    /// Transactions the receiver judged (one per recipient at RCPT TO).
    pub transactions: u64,
    /// Recipients accepted (journaled, then answered 250 at the end of DATA).
    pub accepted: u64,
    /// 4xx answers, including the connection limit's at the greeting.
    pub deferred: u64,
    /// 5xx answers of the receiver's behaviour.
    pub rejected: u64,
    pub deferrals_by_reply: BTreeMap<ReplyId, u64>,
    pub rejections_by_reply: BTreeMap<ReplyId, u64>,
    /// Time the rate limit's bucket was empty, in scenario milliseconds.
    pub rate_limit_empty_ms: u64,
    /// Commands answered 500, 501, 502, 503 or 555, over-long lines, and idle timeouts.
    pub protocol_errors: u64,
    /// Recipients of domains this receiver does not host (answered 550, not a relay).
    pub misrouted: u64,
}

impl Tally {
    /// A 4xx or 5xx answer of the receiver's.
    pub fn refused(&mut self, reply: ReplyId, kind: ReplyKind) {
        let (count, by_reply) = match kind {
            ReplyKind::Permanent => (&mut self.rejected, &mut self.rejections_by_reply),
            _ => (&mut self.deferred, &mut self.deferrals_by_reply),
        };
        *count += 1;
        *by_reply.entry(reply).or_default() += 1;
    }
}

/// deliveries.jsonl, written line by line as recipients are accepted.
pub struct Journal {
    file: Mutex<File>,
}

#[derive(Serialize)]
struct Line<'a> {
    time_s: f64,
    receiver: &'a str,
    recipient: &'a str,
    sender: &'a str,
    message_id: Option<&'a str>,
    client: String,
    size: u64,
}

impl Journal {
    pub fn new(file: File) -> Journal {
        Journal {
            file: Mutex::new(file),
        }
    }

    /// Appends one accepted recipient; the line is in the file when this returns.
    pub fn record(
        &self,
        at: Instant,
        receiver: &str,
        recipient: &str,
        message: &Accepted<'_>,
    ) -> io::Result<()> {
        let line = Line {
            time_s: at.as_secs_f64(),
            receiver,
            recipient,
            sender: message.sender,
            message_id: message.message_id,
            client: message.client.to_string(),
            size: message.size,
        };
        let mut text = serde_json::to_vec(&line).map_err(io::Error::from)?;
        text.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&text)
    }
}
