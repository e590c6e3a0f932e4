//! deliveries.jsonl: one line per attempt and per dynamic-flow-control hold, in the
//! style of an MTA's accounting log, so an operator can grep it like their real logs.
//! An observer of the run.

use std::io::{self, Write};

use serde::Serialize;

use crate::mta::message::Message;
use crate::mta::model::HOLD_REPLY;
use crate::mta::observe::{AttemptEnd, MessageEvent, Observer};
use crate::mta::world::{DestinationId, World};
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

/// What a line says happened.
struct Entry<'a> {
    kind: &'static str,
    outcome: &'static str,
    reply: &'a str,
    state: &'static str,
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

    fn write(
        &mut self,
        world: &World,
        at: Instant,
        d: DestinationId,
        message: &Message,
        entry: Entry,
    ) {
        if self.written >= self.limit || self.error.is_some() {
            return;
        }
        let line = Line {
            time_s: at.as_secs_f64(),
            kind: entry.kind,
            message: message.id,
            destination: world.destination_name(d),
            domain: &world.domain_names[message.domain.index()],
            attempt: message.attempts(),
            outcome: entry.outcome,
            reply: entry.reply,
            state: entry.state,
        };
        self.written += 1;
        let result = serde_json::to_writer(&mut self.out, &line)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    /// Flushes, reporting the first error met while logging; returns the lines written.
    pub fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.written)
    }
}

impl Observer for DeliveryLog {
    fn held(&mut self, world: &World, event: MessageEvent, _first: bool) {
        let entry = Entry {
            kind: "hold",
            outcome: "held",
            reply: HOLD_REPLY,
            state: world.destination(event.destination).flow.state().as_str(),
        };
        self.write(world, event.at, event.destination, event.message, entry);
    }

    fn attempted(&mut self, world: &World, attempt: &AttemptEnd) {
        let entry = Entry {
            kind: "attempt",
            outcome: attempt.class.as_str(),
            reply: &world.book.get(attempt.reply).text,
            state: attempt.state.as_str(),
        };
        self.write(
            world,
            attempt.at,
            attempt.destination,
            attempt.message,
            entry,
        );
    }
}
