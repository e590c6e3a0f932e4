//! deliveries.jsonl: one line per attempt and per dynamic-flow-control hold, in the
//! style of an MTA's accounting log, so an operator can grep it like their real logs.

use std::io::{self, Write};

use serde::Serialize;

use super::message::Message;
use super::model::HOLD_REPLY;
use crate::flow_control::{OutcomeClass, State};
use crate::units::Instant;

/// A capped line writer; the first I/O error is kept and reported at the end of the run.
pub struct DeliveryLog {
    out: Box<dyn Write + Send>,
    limit: u64,
    written: u64,
    error: Option<io::Error>,
}

#[derive(Serialize)]
struct Line<'a> {
    time_s: f64,
    #[serde(rename = "type")]
    kind: &'static str,
    message: u32,
    destination: &'a str,
    domain: &'a str,
    attempt: u16,
    outcome: &'a str,
    reply: &'a str,
    state: &'a str,
}

/// Where a log line happened: the destination, the message's domain, and the
/// destination's flow-control state.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub destination: &'a str,
    pub domain: &'a str,
    pub state: State,
}

impl DeliveryLog {
    /// Logs to `out`, at most `limit` lines.
    pub fn new(out: Box<dyn Write + Send>, limit: u64) -> Self {
        DeliveryLog {
            out,
            limit,
            written: 0,
            error: None,
        }
    }

    /// One attempt's outcome.
    pub fn attempt(
        &mut self,
        now: Instant,
        message: &Message,
        context: Context,
        class: OutcomeClass,
        reply: &str,
    ) {
        self.write(now, "attempt", message, context, &class.to_string(), reply);
    }

    /// A due message held back by flow control.
    pub fn hold(&mut self, now: Instant, message: &Message, context: Context) {
        self.write(now, "hold", message, context, "held", HOLD_REPLY);
    }

    fn write(
        &mut self,
        now: Instant,
        kind: &'static str,
        message: &Message,
        context: Context,
        outcome: &str,
        reply: &str,
    ) {
        if self.written >= self.limit || self.error.is_some() {
            return;
        }
        let line = Line {
            time_s: now.as_secs_f64(),
            kind,
            message: message.id,
            destination: context.destination,
            domain: context.domain,
            attempt: message.attempts,
            outcome,
            reply,
            state: &context.state.to_string(),
        };
        self.written += 1;
        let result = serde_json::to_writer(&mut self.out, &line)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    /// Flushes, reporting the first error met while logging.
    pub fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.written)
    }
}
