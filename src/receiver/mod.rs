//! The receiving mail systems: synthetic MX hosts that greet, accept, defer, throttle and
//! block the way large providers do.
//!
//! A [`Receiver`] is "sans-IO": it knows nothing about the event queue. The MTA model calls
//! it at the moments of an SMTP conversation (connect, each transaction, disconnect) and
//! schedules events from the answers, which say what the receiver replies and how long it
//! takes. Each receiver owns its random stream, so its draws do not depend on any other.
//!
//! A transaction (MAIL, RCPT and DATA of one single-recipient message) is checked in this
//! order, and the first check that refuses answers:
//! 1. `max_messages_per_connection` reached: 421, and the receiver closes the session;
//! 2. an outage in `tempfail` mode: its reply;
//! 3. reputation blocking: `block_reply` (5xx);
//! 4. greylisting, until `min_delay` after the message's first attempt: 451 4.7.1;
//! 5. unknown user (fixed per message): 550 5.1.1, and a reputation penalty;
//! 6. the rate limit's token bucket, if empty: its reply (a token is taken only by an
//!    accepted transaction, or by any refused one when `strict`);
//! 7. reputation throttling: `throttle_reply`;
//! 8. a transient error: its reply;
//! 9. otherwise accepted (250), and perhaps a complaint.
//!
//! Before the checks, an attempt made within `deferral_memory` of this receiver's last 4xx
//! costs reputation (an ignored deferral); so does a connect that reaches the receiver (not
//! one refused or unanswered in an outage). The memory starts when the 4xx is answered
//! (attempt time plus latency); a 421 of a `reject` connection limit counts as a deferral.
//! The 421 of step 1 is a session boundary, not a verdict on the sender: it neither counts
//! as a deferral nor charges a strict rate limit. Outages in `refuse` and `timeout` mode
//! affect new connections only; sessions already open carry on.
//!
//! Draws from the receiver's stream, in order: the unknown-user salt at construction, then
//! per answer the latency, and only where configured the throttle, transient and complaint
//! draws, so a receiver's draws depend on nothing but its own configuration and history.

pub mod config;
pub mod latency;
pub mod population;
pub mod replies;
mod reputation;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use rand::Rng;

pub use config::{
    ConnectionLimit, GeneratedReceivers, Greylisting, Outage, OutageMode, OverLimit, RateLimit,
    ReceiverConfig, ReputationConfig, TransientErrors,
};
pub use latency::Latency;
pub use population::GeneratedMember;
pub use replies::{Reply, ReplyBook, ReplyId, ReplyKind, catalogue};

use config::{DEFAULT_BURST, DEFAULT_CONNECT_LATENCY, DEFAULT_LATENCY};
use latency::LatencyModel;
use reputation::Reputation;

use crate::rng::Stream;
use crate::units::{Instant, Span, TokenBucket};
use crate::validate::Invalid;

/// The sending MTA's timeouts (the scenario's `mta` section), which decide when a
/// connection that gets no answer fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Span,
    pub greeting: Span,
}

/// How a connection attempt ends, relative to the time of the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectAnswer {
    /// 220 after `after`: the session is open and holds a slot until `disconnect`.
    Greeted { after: Span },
    /// Greeted with a 4xx (connection limit, `reject`) after `after`, then hung up.
    /// Holds no slot.
    Rejected { after: Span, reply: ReplyId },
    /// TCP connection refused (outage `refuse`) after `after`.
    Refused { after: Span, reply: ReplyId },
    /// No answer (outage `timeout`, or a full backlog): fails after the MTA's connect timeout.
    TimedOut { after: Span, reply: ReplyId },
    /// Waiting in the backlog (connection limit, `queue`). A later [`Receiver::disconnect`]
    /// greets it; the MTA calls [`Receiver::abandon`] if its greeting timeout fires first.
    Queued { ticket: u64 },
}

/// A waiting connection that got its slot: the greeting arrives at `at` (absolute time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeted {
    pub ticket: u64,
    pub at: Instant,
}

/// The answer to one mail transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionAnswer {
    /// How long after the start of the transaction the answer arrives.
    pub after: Span,
    pub reply: ReplyId,
    pub kind: ReplyKind,
    /// The receiver closes the session after this answer.
    pub close: bool,
}

/// A reply resolved once, with its class, so the hot path needs no book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolved {
    id: ReplyId,
    kind: ReplyKind,
}

/// Interns `spec` (or `default` when absent); an error names `path`.
fn resolve(
    book: &mut ReplyBook,
    path: &str,
    spec: Option<&str>,
    default: &str,
) -> Result<Resolved, Invalid> {
    let id = book
        .intern(spec.unwrap_or(default))
        .map_err(|message| Invalid::new(path, message))?;
    Ok(Resolved {
        id,
        kind: book.get(id).class(),
    })
}

/// `connection_limit` at run time.
#[derive(Debug, Clone)]
struct Slots {
    max: u32,
    mode: OverLimit,
    backlog: usize,
    reply: Resolved,
    /// Queued connections, oldest first: (ticket, when it connected).
    waiting: VecDeque<(u64, Instant)>,
    next_ticket: u64,
}

/// `rate_limit` at run time.
#[derive(Debug, Clone)]
struct Limiter {
    bucket: TokenBucket,
    strict: bool,
    reply: Resolved,
}

/// One outage window [from, to).
#[derive(Debug, Clone, Copy)]
struct Window {
    from: Instant,
    to: Instant,
    mode: OutageMode,
    reply: Resolved,
}

/// A delay and the reply for attempts inside it (greylisting), or a probability and the
/// reply for a draw under it (transient errors).
#[derive(Debug, Clone, Copy)]
struct Gate<T> {
    value: T,
    reply: Resolved,
}

/// One synthetic receiving mail system at run time.
#[derive(Debug, Clone)]
pub struct Receiver {
    rng: Stream,
    timeouts: Timeouts,
    latency: LatencyModel,
    connect_latency: LatencyModel,
    /// Sessions holding a slot: from connect (or leaving the backlog) to disconnect.
    sessions: u32,
    slots: Option<Slots>,
    limiter: Option<Limiter>,
    reputation: Option<Reputation>,
    greylist: Option<Gate<Span>>,
    outages: Box<[Window]>,
    transient: Option<Gate<f64>>,
    unknown_users: Option<Gate<f64>>,
    /// Salt of the per-message unknown-user decision, drawn at construction.
    salt: u64,
    complaint_rate: f64,
    max_per_connection: Option<Gate<u32>>,
    accepted: Resolved,
    timed_out: Resolved,
}

impl Receiver {
    /// Builds a receiver from a (validated) configuration, resolving its replies in `book`
    /// once. Refuses an invalid configuration with the path of the offending value.
    pub fn new(
        config: &ReceiverConfig,
        book: &mut ReplyBook,
        timeouts: Timeouts,
        mut rng: Stream,
    ) -> Result<Receiver, Invalid> {
        config.validate_behaviour()?;
        let salt = rng.random::<u64>();
        let latency = LatencyModel::new(config.latency.as_ref(), DEFAULT_LATENCY)
            .map_err(|m| Invalid::new("latency", m))?;
        let connect_latency =
            LatencyModel::new(config.connect_latency.as_ref(), DEFAULT_CONNECT_LATENCY)
                .map_err(|m| Invalid::new("connect_latency", m))?;
        Ok(Receiver {
            rng,
            timeouts,
            latency,
            connect_latency,
            sessions: 0,
            slots: slots(config, book)?,
            limiter: limiter(config, book)?,
            reputation: reputation(config, book)?,
            greylist: greylist(config, book)?,
            outages: outages(config, book)?,
            transient: transient(config, book)?,
            unknown_users: unknown_users(config, book)?,
            salt,
            complaint_rate: config.complaint_rate,
            max_per_connection: max_per_connection(config, book)?,
            accepted: resolve(book, "", None, "accepted")?,
            timed_out: resolve(book, "", None, "connection-timeout")?,
        })
    }

    /// A fresh receiver with the same behaviour as this one (which must not have served
    /// any traffic yet) but its own random stream: what [`Receiver::new`] would build from
    /// the same configuration, without resolving it again. Generated populations build one
    /// receiver from their template and copy it.
    pub fn with_stream(&self, mut rng: Stream) -> Receiver {
        let salt = rng.random::<u64>();
        Receiver {
            rng,
            salt,
            ..self.clone()
        }
    }

    /// The MTA opens a connection at `now`.
    pub fn connect(&mut self, now: Instant) -> ConnectAnswer {
        if let Some(window) = self.outage(now) {
            match window.mode {
                OutageMode::Refuse => {
                    let after = self.connect_latency.sample(&mut self.rng);
                    return ConnectAnswer::Refused {
                        after,
                        reply: window.reply.id,
                    };
                }
                OutageMode::Timeout => return self.time_out(window.reply),
                OutageMode::Tempfail => {}
            }
        }
        if let Some(reputation) = &mut self.reputation {
            reputation.attempt(now);
        }
        let Some(slots) = &mut self.slots else {
            return self.greet();
        };
        if self.sessions < slots.max {
            return self.greet();
        }
        match slots.mode {
            OverLimit::Reject => {
                let (after, reply) = (self.connect_latency.sample(&mut self.rng), slots.reply);
                if let Some(reputation) = &mut self.reputation {
                    reputation.deferred(now + after);
                }
                ConnectAnswer::Rejected {
                    after,
                    reply: reply.id,
                }
            }
            OverLimit::Queue if slots.waiting.len() < slots.backlog => {
                let ticket = slots.next_ticket;
                slots.next_ticket += 1;
                slots.waiting.push_back((ticket, now));
                ConnectAnswer::Queued { ticket }
            }
            OverLimit::Queue => self.time_out(self.timed_out),
        }
    }

    /// A greeted session ends (the MTA quit, or we closed it): its slot goes to the oldest
    /// waiting connection, whose greeting comes one connect latency later, if that is
    /// before the MTA's greeting timeout for it; connections too old for that are dropped
    /// (the MTA's timeout fires for them, and its `abandon` finds nothing).
    pub fn disconnect(&mut self, now: Instant) -> Option<Greeted> {
        self.sessions = self.sessions.saturating_sub(1);
        let slots = self.slots.as_mut()?;
        if slots.waiting.is_empty() || self.sessions >= slots.max {
            return None;
        }
        let at = now + self.connect_latency.sample(&mut self.rng);
        while let Some((ticket, queued_at)) = slots.waiting.pop_front() {
            if at < queued_at + self.timeouts.greeting {
                self.sessions += 1;
                return Some(Greeted { ticket, at });
            }
        }
        None
    }

    /// The MTA gave up on a queued connection (its greeting timeout fired).
    pub fn abandon(&mut self, ticket: u64) {
        if let Some(slots) = &mut self.slots
            && let Some(i) = slots.waiting.iter().position(|&(t, _)| t == ticket)
        {
            slots.waiting.remove(i);
        }
    }

    /// One mail transaction at `now` for message `message_id`, whose first attempt at any
    /// receiver was at `first_attempt`; `in_session` transactions were done before it in
    /// this session. The checks run in the order of the module documentation.
    pub fn transaction(
        &mut self,
        now: Instant,
        message_id: u64,
        first_attempt: Instant,
        in_session: u32,
    ) -> TransactionAnswer {
        let after = self.latency.sample(&mut self.rng);
        if let Some(limit) = self.max_per_connection
            && in_session >= limit.value
        {
            return TransactionAnswer {
                after,
                reply: limit.reply.id,
                kind: limit.reply.kind,
                close: true,
            };
        }
        if let Some(reputation) = &mut self.reputation {
            reputation.attempt(now);
        }
        let reply = self.verdict(now, message_id, first_attempt);
        self.settle(now, after, reply)
    }

    /// Steps 2 to 9 of the transaction checks. The rate limit only looks at its bucket
    /// here; [`Receiver::settle`] takes the token once the answer is known.
    fn verdict(&mut self, now: Instant, message_id: u64, first_attempt: Instant) -> Resolved {
        if let Some(window) = self.outage(now)
            && window.mode == OutageMode::Tempfail
        {
            return window.reply;
        }
        if let Some(reputation) = &mut self.reputation
            && reputation.blocking(now)
        {
            return reputation.block_reply;
        }
        if let Some(greylist) = self.greylist
            && now.saturating_since(first_attempt) < greylist.value
        {
            return greylist.reply;
        }
        if let Some(unknown) = self.unknown_users
            && unit_hash(message_id ^ self.salt) < unknown.value
        {
            if let Some(reputation) = &mut self.reputation {
                reputation.penalise(now, reputation.penalty_per_unknown_user);
            }
            return unknown.reply;
        }
        if let Some(limiter) = &self.limiter
            && limiter.bucket.next_available(now) > now
        {
            return limiter.reply;
        }
        if let Some(reputation) = &self.reputation
            && reputation.throttle(now, &mut self.rng)
        {
            return reputation.throttle_reply;
        }
        if let Some(transient) = self.transient
            && self.rng.random::<f64>() < transient.value
        {
            return transient.reply;
        }
        self.maybe_complain(now);
        self.accepted
    }

    /// A delivered message draws a complaint with probability `complaint_rate`; only a
    /// receiver with a reputation listens to complaints.
    fn maybe_complain(&mut self, now: Instant) {
        if let Some(reputation) = &mut self.reputation
            && self.complaint_rate > 0.0
            && self.rng.random::<f64>() < self.complaint_rate
        {
            reputation.penalise(now, reputation.penalty_per_complaint);
        }
    }

    /// Books the consequences of an answer: the rate limit charges an accepted transaction
    /// (a token is available: `verdict` checked) and, when strict, a refused one too; a
    /// 4xx starts the deferral memory when it is answered.
    fn settle(&mut self, now: Instant, after: Span, reply: Resolved) -> TransactionAnswer {
        if let Some(limiter) = &mut self.limiter
            && (reply.kind == ReplyKind::Accepted || limiter.strict)
        {
            limiter.bucket.take(now);
        }
        if reply.kind == ReplyKind::Temporary
            && let Some(reputation) = &mut self.reputation
        {
            reputation.deferred(now + after);
        }
        TransactionAnswer {
            after,
            reply: reply.id,
            kind: reply.kind,
            close: false,
        }
    }

    fn greet(&mut self) -> ConnectAnswer {
        self.sessions += 1;
        ConnectAnswer::Greeted {
            after: self.connect_latency.sample(&mut self.rng),
        }
    }

    fn time_out(&self, reply: Resolved) -> ConnectAnswer {
        ConnectAnswer::TimedOut {
            after: self.timeouts.connect,
            reply: reply.id,
        }
    }

    /// The outage window containing `now`, if any (windows do not overlap).
    fn outage(&self, now: Instant) -> Option<Window> {
        self.outages
            .iter()
            .find(|w| w.from <= now && now < w.to)
            .copied()
    }

    /// The reputation score at `now`, if this receiver keeps one.
    pub fn reputation(&self, now: Instant) -> Option<f64> {
        self.reputation.as_ref().map(|r| r.score(now))
    }

    /// The lowest score seen at any interaction so far.
    pub fn reputation_min(&self) -> Option<f64> {
        self.reputation.as_ref().map(Reputation::min)
    }

    /// Whether the receiver was blocking us at its last transaction (a block ends at the
    /// first transaction after the score rises above `unblock_above`).
    pub fn blocked(&self) -> bool {
        self.reputation
            .as_ref()
            .is_some_and(Reputation::is_blocking)
    }

    /// How many times the receiver started blocking us.
    pub fn blocks(&self) -> u64 {
        self.reputation.as_ref().map_or(0, Reputation::blocks)
    }

    /// Rate limit tokens available at `now`, if this receiver limits the rate.
    pub fn tokens(&self, now: Instant) -> Option<f64> {
        self.limiter.as_ref().map(|l| l.bucket.available(now))
    }

    /// Sessions holding a slot now.
    pub fn sessions(&self) -> u32 {
        self.sessions
    }

    /// Connections waiting in the backlog now.
    pub fn waiting(&self) -> usize {
        self.slots.as_ref().map_or(0, |s| s.waiting.len())
    }
}

/// A uniform number in [0, 1) fixed by `key` (SplitMix64's finaliser, top 53 bits): the
/// unknown-user decision must be the same at every attempt of a message.
fn unit_hash(key: u64) -> f64 {
    let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn slots(config: &ReceiverConfig, book: &mut ReplyBook) -> Result<Option<Slots>, Invalid> {
    let Some(limit) = &config.connection_limit else {
        return Ok(None);
    };
    let reply = resolve(
        book,
        "connection_limit.reply",
        limit.reply.as_deref(),
        "generic-421",
    )?;
    Ok(Some(Slots {
        max: limit.max,
        mode: limit.over_limit,
        backlog: limit.backlog() as usize,
        reply,
        waiting: VecDeque::new(),
        next_ticket: 0,
    }))
}

fn limiter(config: &ReceiverConfig, book: &mut ReplyBook) -> Result<Option<Limiter>, Invalid> {
    let Some(limit) = &config.rate_limit else {
        return Ok(None);
    };
    let reply = resolve(
        book,
        "rate_limit.reply",
        limit.reply.as_deref(),
        "generic-rate-limit",
    )?;
    Ok(Some(Limiter {
        bucket: TokenBucket::new(limit.rate, limit.burst.unwrap_or(DEFAULT_BURST)),
        strict: limit.strict,
        reply,
    }))
}

fn reputation(
    config: &ReceiverConfig,
    book: &mut ReplyBook,
) -> Result<Option<Reputation>, Invalid> {
    let Some(rep) = &config.reputation else {
        return Ok(None);
    };
    let throttle = resolve(
        book,
        "reputation.throttle_reply",
        rep.throttle_reply.as_deref(),
        "generic-throttle",
    )?;
    let block = resolve(
        book,
        "reputation.block_reply",
        rep.block_reply.as_deref(),
        "generic-block",
    )?;
    Ok(Some(Reputation::new(rep, throttle, block)))
}

fn greylist(config: &ReceiverConfig, book: &mut ReplyBook) -> Result<Option<Gate<Span>>, Invalid> {
    let Some(grey) = &config.greylisting else {
        return Ok(None);
    };
    let reply = resolve(book, "greylisting.reply", grey.reply.as_deref(), "greylist")?;
    Ok(Some(Gate {
        value: grey.min_delay,
        reply,
    }))
}

fn outages(config: &ReceiverConfig, book: &mut ReplyBook) -> Result<Box<[Window]>, Invalid> {
    config
        .outages
        .iter()
        .enumerate()
        .map(|(i, outage)| {
            let default = match outage.mode {
                OutageMode::Refuse => "connection-refused",
                OutageMode::Timeout => "connection-timeout",
                OutageMode::Tempfail => "generic-451",
            };
            let path = format!("outages[{i}].reply");
            Ok(Window {
                from: Instant::ZERO + outage.from,
                to: Instant::ZERO + outage.to,
                mode: outage.mode,
                reply: resolve(book, &path, outage.reply.as_deref(), default)?,
            })
        })
        .collect()
}

fn transient(config: &ReceiverConfig, book: &mut ReplyBook) -> Result<Option<Gate<f64>>, Invalid> {
    let Some(errors) = &config.transient_errors else {
        return Ok(None);
    };
    let reply = resolve(
        book,
        "transient_errors.reply",
        errors.reply.as_deref(),
        "generic-451",
    )?;
    Ok(Some(Gate {
        value: errors.probability,
        reply,
    }))
}

fn unknown_users(
    config: &ReceiverConfig,
    book: &mut ReplyBook,
) -> Result<Option<Gate<f64>>, Invalid> {
    if config.unknown_user_rate <= 0.0 {
        return Ok(None);
    }
    Ok(Some(Gate {
        value: config.unknown_user_rate,
        reply: resolve(book, "unknown_user_rate", None, "user-unknown")?,
    }))
}

fn max_per_connection(
    config: &ReceiverConfig,
    book: &mut ReplyBook,
) -> Result<Option<Gate<u32>>, Invalid> {
    let Some(max) = config.max_messages_per_connection else {
        return Ok(None);
    };
    Ok(Some(Gate {
        value: max,
        reply: resolve(
            book,
            "max_messages_per_connection",
            None,
            "yahoo-max-per-connection",
        )?,
    }))
}
