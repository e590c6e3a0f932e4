//! The receiving mail systems: synthetic MX hosts that greet, accept, defer, throttle and
//! block the way large providers do.
//!
//! A [`Receiver`] is "sans-IO": it knows nothing about the event queue, sockets or clocks.
//! It is told the moments of an SMTP conversation with the time they happen, and answers
//! with what it replies and how long it takes to answer:
//! - a connection arrives: [`Receiver::connect`] (greeted, rejected at the greeting with a
//!   4xx, refused, left silent, or queued for a slot);
//! - MAIL FROM in a session that has carried `n` transactions: [`Receiver::session_spent`]
//!   (the 421 of `max_messages_per_connection`, or go on);
//! - a transaction for one recipient of one message: [`Receiver::transaction`], whose
//!   answer names the SMTP [`Stage`] it is given at (RCPT TO or the end of DATA, as the
//!   receiver's `stages` say);
//! - the session closes: [`Receiver::disconnect`] (which may greet a queued connection), or
//!   a queued client gives up: [`Receiver::abandon`].
//!
//! The simulator's model calls it at simulated times; `mtasim serve` calls the same methods
//! on the same compiled [`Behaviour`]s at wall-clock times, from real SMTP sessions. Each
//! receiver owns its random stream, so its draws do not depend on any other.
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
//! 8. a deferral episode in force: its reply, with the episode's probability;
//! 9. a transient error: its reply;
//! 10. otherwise accepted (250), and perhaps a complaint.
//!
//! Before the checks, an attempt made within `deferral_memory` of this receiver's last 4xx
//! costs reputation (an ignored deferral); so does a connect that reaches the receiver (not
//! one refused or unanswered in an outage). The memory starts when the 4xx is answered
//! (attempt time plus latency); a 421 of a `reject` connection limit counts as a deferral.
//! The 421 of step 1 is a session boundary, not a verdict on the sender: it neither counts
//! as a deferral nor charges a strict rate limit. Outages in `refuse` and `timeout` mode
//! affect new connections only; sessions already open carry on.
//!
//! A receiver only answers, or stays silent: how long the sending MTA waits for an answer
//! that does not come (its connect and greeting timeouts) is the MTA's business, and so is
//! the text it logs for a refused or unanswered connection.
//!
//! Draws from the receiver's stream, in order: the unknown-user salt at construction, then
//! per answer the latency, and only where configured the throttle, episode (inside an
//! episode's window only), transient and complaint draws, so a receiver's draws depend on nothing but its own configuration and history.

pub mod behaviour;
pub mod config;
pub mod latency;
pub mod population;
mod reputation;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

use rand::Rng;

pub use behaviour::Behaviour;
pub use config::{
    ConnectionLimit, DeferralEpisode, GeneratedReceivers, Greylisting, Outage, OutageMode,
    OverLimit, RateLimit, ReceiverConfig, ReplyStage, ReputationConfig, Stages, TransientErrors,
};
pub use latency::Latency;
pub use population::GeneratedMember;

use behaviour::{Resolved, Unavailable};
use reputation::Reputation;

use crate::replies::{ReplyId, ReplyKind};
use crate::rng::Stream;
use crate::units::{Instant, Span, TokenBucket};

/// How a connection attempt ends, relative to the time of the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectAnswer {
    /// 220 after `after`: the session is open and holds a slot until `disconnect`.
    Greeted { after: Span },
    /// Greeted with a 4xx (connection limit, `reject`) after `after`, then hung up.
    /// Holds no slot.
    Rejected { after: Span, reply: ReplyId },
    /// The TCP connection is refused (outage `refuse`) after `after`.
    Refused { after: Span },
    /// No answer at all (outage `timeout`, or a full backlog).
    Silent,
    /// Waiting in the backlog (connection limit, `queue`). A later [`Receiver::disconnect`]
    /// greets it; the MTA calls [`Receiver::abandon`] if it gives up first.
    Queued { ticket: u64 },
}

/// A waiting connection that got its slot: the greeting arrives at `at` (absolute time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeted {
    pub ticket: u64,
    pub at: Instant,
}

/// The SMTP command a reply answers when the receiver is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The 220 (or a 4xx) when the connection opens.
    Greeting,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// The end of DATA (the final "."); acceptance is always given here.
    Data,
}

impl Stage {
    /// How an MTA's log names the command: "in reply to RCPT TO command".
    pub fn command(self) -> &'static str {
        match self {
            Stage::Greeting => "greeting",
            Stage::Mail => "MAIL FROM",
            Stage::Rcpt => "RCPT TO",
            Stage::Data => "end of DATA",
        }
    }
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
    /// Where a served receiver gives the reply (the simulator's transactions have none).
    pub stage: Stage,
}

/// One synthetic receiving mail system at run time: its [`Behaviour`] and its history.
#[derive(Debug, Clone)]
pub struct Receiver {
    behaviour: Arc<Behaviour>,
    rng: Stream,
    /// Salt of the per-message unknown-user decision, drawn at construction.
    salt: u64,
    /// Sessions holding a slot: from connect (or leaving the backlog) to disconnect.
    sessions: u32,
    /// Queued connections, oldest first: (ticket, when it connected).
    backlog: VecDeque<(u64, Instant)>,
    next_ticket: u64,
    /// Boxed, as is `reputation`: most receivers (the generated population) have neither,
    /// and a million of them should not carry the room for both.
    bucket: Option<Box<TokenBucket>>,
    reputation: Option<Box<Reputation>>,
}

impl Receiver {
    /// A receiver that has served no traffic yet, drawing from its own `rng`.
    pub fn new(behaviour: Arc<Behaviour>, mut rng: Stream) -> Receiver {
        let salt = rng.random::<u64>();
        Receiver {
            bucket: behaviour
                .rate_limit
                .map(|limit| Box::new(TokenBucket::new(limit.rate, limit.burst))),
            reputation: behaviour.reputation.clone().map(Box::new),
            behaviour,
            rng,
            salt,
            sessions: 0,
            backlog: VecDeque::new(),
            next_ticket: 0,
        }
    }

    /// How this receiver behaves.
    pub fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    /// The MTA opens a connection at `now`.
    pub fn connect(&mut self, now: Instant) -> ConnectAnswer {
        match self.behaviour.outage(now).map(|w| w.effect) {
            Some(Unavailable::Refuse) => {
                let after = self.behaviour.sample_connect_latency(&mut self.rng);
                return ConnectAnswer::Refused { after };
            }
            Some(Unavailable::Silent) => return ConnectAnswer::Silent,
            Some(Unavailable::Tempfail(_)) | None => {}
        }
        if let Some(reputation) = &mut self.reputation {
            reputation.attempt(now);
        }
        let Some(slots) = self.behaviour.slots else {
            return self.greet();
        };
        if self.sessions < slots.max {
            return self.greet();
        }
        match slots.mode {
            OverLimit::Reject => {
                let after = self.behaviour.sample_connect_latency(&mut self.rng);
                if let Some(reputation) = &mut self.reputation {
                    reputation.deferred(now + after);
                }
                ConnectAnswer::Rejected {
                    after,
                    reply: slots.reply.id,
                }
            }
            OverLimit::Queue if self.backlog.len() < slots.backlog => {
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                self.backlog.push_back((ticket, now));
                ConnectAnswer::Queued { ticket }
            }
            OverLimit::Queue => ConnectAnswer::Silent,
        }
    }

    /// A greeted session ends (the MTA quit, or we closed it): its slot goes to the oldest
    /// waiting connection, whose greeting comes one connect latency later, if
    /// `still_waiting(connected_at, greeting_at)` says that client is still there by then;
    /// the others are dropped (the client gave up, and its `abandon` will find nothing).
    pub fn disconnect(
        &mut self,
        now: Instant,
        mut still_waiting: impl FnMut(Instant, Instant) -> bool,
    ) -> Option<Greeted> {
        self.sessions = self.sessions.saturating_sub(1);
        let max = self.behaviour.slots?.max;
        if self.backlog.is_empty() || self.sessions >= max {
            return None;
        }
        let at = now + self.behaviour.sample_connect_latency(&mut self.rng);
        while let Some((ticket, connected_at)) = self.backlog.pop_front() {
            if still_waiting(connected_at, at) {
                self.sessions += 1;
                return Some(Greeted { ticket, at });
            }
        }
        None
    }

    /// The MTA gave up on a queued connection (its greeting timeout fired).
    pub fn abandon(&mut self, ticket: u64) {
        if let Some(i) = self.backlog.iter().position(|&(t, _)| t == ticket) {
            self.backlog.remove(i);
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
        let after = self.behaviour.sample_latency(&mut self.rng);
        if let Some(spent) = self.session_spent(in_session) {
            return TransactionAnswer { after, ..spent };
        }
        if let Some(reputation) = &mut self.reputation {
            reputation.attempt(now);
        }
        let reply = self.verdict(now, message_id, first_attempt);
        self.settle(now, after, reply)
    }

    /// Step 1 of the transaction checks, which a served receiver answers at MAIL FROM: after
    /// `in_session` transactions, `max_messages_per_connection`'s 421 (immediate, and the
    /// receiver closes the session), or `None` to go on. Draws nothing.
    pub fn session_spent(&self, in_session: u32) -> Option<TransactionAnswer> {
        let limit = self.behaviour.max_per_connection?;
        (in_session >= limit.value).then_some(TransactionAnswer {
            after: Span::ZERO,
            reply: limit.reply.id,
            kind: limit.reply.kind,
            close: true,
            stage: limit.reply.stage,
        })
    }

    /// Steps 2 to 10 of the transaction checks. The rate limit only looks at its bucket
    /// here; [`Receiver::settle`] takes the token once the answer is known.
    fn verdict(&mut self, now: Instant, message_id: u64, first_attempt: Instant) -> Resolved {
        let behaviour = &*self.behaviour;
        if let Some(Unavailable::Tempfail(reply)) = behaviour.outage(now).map(|w| w.effect) {
            return reply;
        }
        if let Some(reputation) = &mut self.reputation
            && reputation.blocking(now)
        {
            return reputation.block_reply;
        }
        if let Some(greylist) = behaviour.greylist
            && now.saturating_since(first_attempt) < greylist.value
        {
            return greylist.reply;
        }
        if let Some(unknown) = behaviour.unknown_users
            && unit_hash(message_id ^ self.salt) < unknown.value
        {
            if let Some(reputation) = &mut self.reputation {
                reputation.penalise(now, reputation.penalty_per_unknown_user);
            }
            return unknown.reply;
        }
        if let (Some(limit), Some(bucket)) = (behaviour.rate_limit, &self.bucket)
            && bucket.next_available(now) > now
        {
            return limit.reply;
        }
        if let Some(reputation) = &self.reputation
            && reputation.throttle(now, &mut self.rng)
        {
            return reputation.throttle_reply;
        }
        if !behaviour.episodes.is_empty()
            && let Some(episode) = behaviour.episode(now)
            && self.rng.random::<f64>() < episode.defer.value
        {
            return episode.defer.reply;
        }
        if let Some(transient) = behaviour.transient
            && self.rng.random::<f64>() < transient.value
        {
            return transient.reply;
        }
        self.maybe_complain(now);
        self.behaviour.accepted
    }

    /// A delivered message draws a complaint with probability `complaint_rate`; only a
    /// receiver with a reputation listens to complaints.
    fn maybe_complain(&mut self, now: Instant) {
        let rate = self.behaviour.complaint_rate;
        if let Some(reputation) = &mut self.reputation
            && rate > 0.0
            && self.rng.random::<f64>() < rate
        {
            reputation.penalise(now, reputation.penalty_per_complaint);
        }
    }

    /// Books the consequences of an answer: the rate limit charges an accepted transaction
    /// (a token is available: `verdict` checked) and, when strict, a refused one too; a
    /// 4xx starts the deferral memory when it is answered.
    fn settle(&mut self, now: Instant, after: Span, reply: Resolved) -> TransactionAnswer {
        if let (Some(limit), Some(bucket)) = (self.behaviour.rate_limit, &mut self.bucket)
            && (reply.kind == ReplyKind::Accepted || limit.strict)
        {
            bucket.take(now);
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
            stage: reply.stage,
        }
    }

    fn greet(&mut self) -> ConnectAnswer {
        self.sessions += 1;
        ConnectAnswer::Greeted {
            after: self.behaviour.sample_connect_latency(&mut self.rng),
        }
    }

    /// The reputation score at `now`, if this receiver keeps one.
    pub fn reputation(&self, now: Instant) -> Option<f64> {
        self.reputation.as_ref().map(|r| r.score(now))
    }

    /// The lowest score seen at any interaction so far.
    pub fn reputation_min(&self) -> Option<f64> {
        self.reputation.as_ref().map(|r| r.min())
    }

    /// Whether the receiver was blocking us at its last transaction (a block ends at the
    /// first transaction after the score rises above `unblock_above`).
    pub fn blocked(&self) -> bool {
        self.reputation.as_ref().is_some_and(|r| r.is_blocking())
    }

    /// How many times the receiver started blocking us.
    pub fn blocks(&self) -> u64 {
        self.reputation.as_ref().map_or(0, |r| r.blocks())
    }

    /// Rate limit tokens available at `now`, if this receiver limits the rate.
    pub fn tokens(&self, now: Instant) -> Option<f64> {
        self.bucket.as_ref().map(|b| b.available(now))
    }

    /// When the rate limit next has a token, if this receiver limits the rate: `now` when
    /// one is available, later while the bucket is empty.
    pub fn next_token(&self, now: Instant) -> Option<Instant> {
        self.bucket.as_ref().map(|b| b.next_available(now))
    }

    /// Sessions holding a slot now.
    pub fn sessions(&self) -> u32 {
        self.sessions
    }

    /// Connections waiting in the backlog now.
    pub fn waiting(&self) -> usize {
        self.backlog.len()
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
