//! A receiver's configuration compiled once: checked, its replies interned with their
//! kinds, its latencies ready to sample. Every receiver of a generated population shares
//! one [`Behaviour`]; only run-time state is per receiver.

use super::Stage;
use super::config::{
    DEFAULT_BURST, DEFAULT_CONNECT_LATENCY, DEFAULT_LATENCY, OutageMode, OverLimit, ReceiverConfig,
    ReplyStage,
};
use super::latency::LatencyModel;
use super::reputation::Reputation;
use crate::replies::{ReplyBook, ReplyId, ReplyKind};
use crate::rng::Stream;
use crate::units::{Instant, Rate, Span};
use crate::validate::Invalid;

/// A reply resolved once, with its kind and the SMTP stage it answers when served, so the
/// hot path needs no book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub id: ReplyId,
    pub kind: ReplyKind,
    pub stage: Stage,
}

impl Resolved {
    /// The same reply given at `stage`.
    fn at(self, stage: ReplyStage) -> Resolved {
        let stage = match stage {
            ReplyStage::Rcpt => Stage::Rcpt,
            ReplyStage::Data => Stage::Data,
        };
        Resolved { stage, ..self }
    }
}

/// `connection_limit`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlotLimit {
    pub max: u32,
    pub mode: OverLimit,
    pub backlog: usize,
    pub reply: Resolved,
}

/// `rate_limit`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateLimitSpec {
    pub rate: Rate,
    pub burst: u64,
    pub strict: bool,
    pub reply: Resolved,
}

/// What an outage does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// New connections are refused.
    Refuse,
    /// New connections get no answer.
    Silent,
    /// Every transaction gets this reply.
    Tempfail(Resolved),
}

/// One outage window [from, to).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub from: Instant,
    pub to: Instant,
    pub effect: Unavailable,
}

/// One deferral episode [from, to): a probability and the reply for a draw under it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Episode {
    pub from: Instant,
    pub to: Instant,
    pub defer: Gate<f64>,
}

/// A delay and the reply for attempts inside it (greylisting), or a probability and the
/// reply for a draw under it (transient errors, unknown users), or a count and the reply
/// past it (messages per connection).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gate<T> {
    pub value: T,
    pub reply: Resolved,
}

/// How one receiving system behaves, whatever its history.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub(crate) latency: LatencyModel,
    pub(crate) connect_latency: LatencyModel,
    pub(crate) slots: Option<SlotLimit>,
    pub(crate) rate_limit: Option<RateLimitSpec>,
    /// The score as it starts, with its parameters; each receiver runs its own copy.
    pub(crate) reputation: Option<Reputation>,
    pub(crate) greylist: Option<Gate<Span>>,
    pub(crate) outages: Box<[Window]>,
    pub(crate) episodes: Box<[Episode]>,
    pub(crate) transient: Option<Gate<f64>>,
    pub(crate) unknown_users: Option<Gate<f64>>,
    pub(crate) complaint_rate: f64,
    pub(crate) max_per_connection: Option<Gate<u32>>,
    pub(crate) accepted: Resolved,
}

impl Behaviour {
    /// Checks `config`'s behaviour (not its name, domains or share) and compiles it,
    /// interning its replies in `book`. Errors name the field relative to the receiver.
    pub fn compile(config: &ReceiverConfig, book: &mut ReplyBook) -> Result<Behaviour, Invalid> {
        config.validate_behaviour()?;
        let mut replies = Replies { book };
        let latency = LatencyModel::new(config.latency.as_ref(), DEFAULT_LATENCY)
            .map_err(|m| Invalid::new("latency", m))?;
        let connect_latency =
            LatencyModel::new(config.connect_latency.as_ref(), DEFAULT_CONNECT_LATENCY)
                .map_err(|m| Invalid::new("connect_latency", m))?;
        Ok(Behaviour {
            latency,
            connect_latency,
            slots: slots(config, &mut replies)?,
            rate_limit: rate_limit(config, &mut replies)?,
            reputation: reputation(config, &mut replies)?,
            greylist: greylist(config, &mut replies)?,
            outages: outages(config, &mut replies)?,
            episodes: episodes(config, &mut replies)?,
            transient: transient(config, &mut replies)?,
            unknown_users: unknown_users(config, &mut replies)?,
            complaint_rate: config.complaint_rate,
            max_per_connection: max_per_connection(config, &mut replies)?,
            accepted: replies.catalogue("accepted", Stage::Data),
        })
    }

    /// The outage window containing `now`, if any (windows do not overlap).
    #[inline]
    pub(crate) fn outage(&self, now: Instant) -> Option<&Window> {
        self.outages.iter().find(|w| w.from <= now && now < w.to)
    }

    /// The outage windows [from, to) in which new connections are refused, in order.
    pub fn refusals(&self) -> impl Iterator<Item = (Instant, Instant)> + '_ {
        self.outages
            .iter()
            .filter(|w| w.effect == Unavailable::Refuse)
            .map(|w| (w.from, w.to))
    }

    /// The deferral episode containing `now`, if any (episodes do not overlap).
    #[inline]
    pub(crate) fn episode(&self, now: Instant) -> Option<&Episode> {
        self.episodes.iter().find(|e| e.from <= now && now < e.to)
    }

    #[inline]
    pub(crate) fn sample_latency(&self, rng: &mut Stream) -> Span {
        self.latency.sample(rng)
    }

    #[inline]
    pub(crate) fn sample_connect_latency(&self, rng: &mut Stream) -> Span {
        self.connect_latency.sample(rng)
    }
}

/// Interning with the kind check and the field's path in the error.
struct Replies<'a> {
    book: &'a mut ReplyBook,
}

impl Replies<'_> {
    /// `spec`, or `default` when absent, which must be a `want` reply (`what` names it).
    fn resolve(
        &mut self,
        path: &str,
        spec: Option<&str>,
        default: &str,
        want: ReplyKind,
        what: &str,
    ) -> Result<Resolved, Invalid> {
        let id = self
            .book
            .intern_as(spec.unwrap_or(default), want, what)
            .map_err(|message| Invalid::new(path, message))?;
        Ok(Resolved {
            id,
            kind: want,
            stage: Stage::Rcpt,
        })
    }

    /// `spec`, or `default`, which must refuse the message: a 4xx or a 5xx.
    fn resolve_refusal(
        &mut self,
        path: &str,
        spec: Option<&str>,
        default: &str,
        what: &str,
    ) -> Result<Resolved, Invalid> {
        let spec = spec.unwrap_or(default);
        let fail = |message| Invalid::new(path, message);
        let id = self.book.intern(spec).map_err(fail)?;
        let kind = self.book.get(id).kind();
        if kind == ReplyKind::Accepted {
            return Err(fail(format!(
                "{what} must be a temporary (4xx) or permanent (5xx) reply, but {spec:?} accepts"
            )));
        }
        Ok(Resolved {
            id,
            kind,
            stage: Stage::Rcpt,
        })
    }

    /// A catalogue entry the receiver answers with on its own terms, at `stage`.
    fn catalogue(&mut self, name: &str, stage: Stage) -> Resolved {
        let id = self.book.intern(name).expect("a catalogue name");
        let kind = self.book.get(id).kind();
        Resolved { id, kind, stage }
    }
}

fn slots(config: &ReceiverConfig, replies: &mut Replies) -> Result<Option<SlotLimit>, Invalid> {
    let Some(limit) = &config.connection_limit else {
        return Ok(None);
    };
    let reply = replies.resolve(
        "connection_limit.reply",
        limit.reply.as_deref(),
        "generic-421",
        ReplyKind::Temporary,
        "a connection limit reply",
    )?;
    let reply = Resolved {
        stage: Stage::Greeting,
        ..reply
    };
    Ok(Some(SlotLimit {
        max: limit.max,
        mode: limit.over_limit,
        backlog: limit.backlog() as usize,
        reply,
    }))
}

fn rate_limit(
    config: &ReceiverConfig,
    replies: &mut Replies,
) -> Result<Option<RateLimitSpec>, Invalid> {
    let Some(limit) = &config.rate_limit else {
        return Ok(None);
    };
    let reply = replies
        .resolve(
            "rate_limit.reply",
            limit.reply.as_deref(),
            "generic-rate-limit",
            ReplyKind::Temporary,
            "a rate limit reply",
        )?
        .at(config.stages.rate_limit);
    Ok(Some(RateLimitSpec {
        rate: limit.rate,
        burst: limit.burst.unwrap_or(DEFAULT_BURST),
        strict: limit.strict,
        reply,
    }))
}

fn reputation(
    config: &ReceiverConfig,
    replies: &mut Replies,
) -> Result<Option<Reputation>, Invalid> {
    let Some(rep) = &config.reputation else {
        return Ok(None);
    };
    let throttle = replies
        .resolve(
            "reputation.throttle_reply",
            rep.throttle_reply.as_deref(),
            "generic-throttle",
            ReplyKind::Temporary,
            "a throttle reply",
        )?
        .at(config.stages.reputation);
    let block = replies
        .resolve_refusal(
            "reputation.block_reply",
            rep.block_reply.as_deref(),
            "generic-block",
            "a block reply",
        )?
        .at(config.stages.reputation);
    Ok(Some(Reputation::new(rep, throttle, block)))
}

fn greylist(config: &ReceiverConfig, replies: &mut Replies) -> Result<Option<Gate<Span>>, Invalid> {
    let Some(grey) = &config.greylisting else {
        return Ok(None);
    };
    let reply = replies
        .resolve(
            "greylisting.reply",
            grey.reply.as_deref(),
            "greylist",
            ReplyKind::Temporary,
            "a greylisting reply",
        )?
        .at(config.stages.greylisting);
    Ok(Some(Gate {
        value: grey.min_delay,
        reply,
    }))
}

fn outages(config: &ReceiverConfig, replies: &mut Replies) -> Result<Box<[Window]>, Invalid> {
    config
        .outages
        .iter()
        .enumerate()
        .map(|(i, outage)| {
            let effect = match outage.mode {
                OutageMode::Refuse => Unavailable::Refuse,
                OutageMode::Timeout => Unavailable::Silent,
                OutageMode::Tempfail => Unavailable::Tempfail(
                    replies
                        .resolve(
                            &format!("outages[{i}].reply"),
                            outage.reply.as_deref(),
                            "generic-451",
                            ReplyKind::Temporary,
                            "an outage reply",
                        )?
                        .at(config.stages.outages),
                ),
            };
            Ok(Window {
                from: Instant::ZERO + outage.from,
                to: Instant::ZERO + outage.to,
                effect,
            })
        })
        .collect()
}

fn episodes(config: &ReceiverConfig, replies: &mut Replies) -> Result<Box<[Episode]>, Invalid> {
    config
        .deferral_episodes
        .iter()
        .enumerate()
        .map(|(i, episode)| {
            let reply = replies
                .resolve(
                    &format!("deferral_episodes[{i}].reply"),
                    episode.reply.as_deref(),
                    "generic-throttle",
                    ReplyKind::Temporary,
                    "a deferral episode reply",
                )?
                .at(config.stages.deferral_episodes);
            Ok(Episode {
                from: Instant::ZERO + episode.from,
                to: Instant::ZERO + episode.to,
                defer: Gate {
                    value: episode.probability,
                    reply,
                },
            })
        })
        .collect()
}

fn transient(config: &ReceiverConfig, replies: &mut Replies) -> Result<Option<Gate<f64>>, Invalid> {
    let Some(errors) = &config.transient_errors else {
        return Ok(None);
    };
    let reply = replies
        .resolve(
            "transient_errors.reply",
            errors.reply.as_deref(),
            "generic-451",
            ReplyKind::Temporary,
            "a transient error reply",
        )?
        .at(config.stages.transient_errors);
    Ok(Some(Gate {
        value: errors.probability,
        reply,
    }))
}

fn unknown_users(
    config: &ReceiverConfig,
    replies: &mut Replies,
) -> Result<Option<Gate<f64>>, Invalid> {
    if config.unknown_user_rate <= 0.0 {
        return Ok(None);
    }
    Ok(Some(Gate {
        value: config.unknown_user_rate,
        reply: replies.catalogue("user-unknown", Stage::Rcpt),
    }))
}

fn max_per_connection(
    config: &ReceiverConfig,
    replies: &mut Replies,
) -> Result<Option<Gate<u32>>, Invalid> {
    Ok(config.max_messages_per_connection.map(|max| Gate {
        value: max,
        reply: replies.catalogue("yahoo-max-per-connection", Stage::Mail),
    }))
}
