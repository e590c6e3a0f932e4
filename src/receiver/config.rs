//! The scenario file's description of a receiving mail system (`receivers[i]`) and of a
//! generated population of them (`generated_receivers`).
//!
//! Every behaviour is optional and they combine; an entry with no behaviour accepts every
//! message after its latency. Defaults are the `DEFAULT_*` constants below and are stated
//! in each field's documentation, which also becomes the JSON Schema's.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::latency::Latency;
use crate::units::{Rate, Span};
use crate::validate::{Check, Invalid, join_path, positive, probability};

/// Transaction latency when `latency` is omitted.
pub const DEFAULT_LATENCY: Span = Span::from_millis(300);
/// Connection latency (TCP handshake to 220 greeting) when `connect_latency` is omitted.
pub const DEFAULT_CONNECT_LATENCY: Span = Span::from_millis(100);
/// Places in a `queue` connection limit's backlog when `backlog` is omitted.
pub const DEFAULT_BACKLOG: u32 = 10;
/// Token bucket burst when `rate_limit.burst` is omitted: a smooth limiter.
pub const DEFAULT_BURST: u64 = 1;
/// How fast a sender may come back after a deferral without ignoring it.
pub const DEFAULT_TOLERATED_RATE: Rate = Rate::new(120, Span::MINUTE);
/// How long after a deferral a new attempt counts as ignoring it.
pub const DEFAULT_DEFERRAL_MEMORY: Span = Span::from_mins(5);
/// Greylisting delay when `min_delay` is omitted (Postgrey's default).
pub const DEFAULT_GREYLIST_DELAY: Span = Span::from_mins(5);
/// Names generated receivers take: `gen-000001`, with domain `gen-000001.example`.
pub const GENERATED_PREFIX: &str = "gen-";
/// Largest `generated_receivers.count`.
pub const MAX_GENERATED: u32 = 1_000_000;

/// One receiving mail system: an entry of `receivers`, or (without `name`, `domains` and
/// `share`) the `template` of `generated_receivers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Stable name: the destination key for flow control and the name of its random
    /// stream. Required in `receivers`; absent in a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The domains it hosts (its MX rollup). Required and non-empty in `receivers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// Relative weight of messages addressed to it. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Time to answer a transaction (MAIL/RCPT/DATA together). Default "300ms".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Time from connecting to the 220 greeting (or to a refusal). Default "100ms".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_latency: Option<Latency>,
    /// At most `max` concurrent sessions from us. Default: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<ConnectionLimit>,
    /// Token bucket on accepted transactions. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Sender reputation that throttles and blocks. Default: none (always good).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reputation: Option<ReputationConfig>,
    /// Defer a message's attempts until `min_delay` after its first. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greylisting: Option<Greylisting>,
    /// Windows of unavailability. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outages: Vec<Outage>,
    /// Windows in which a share of transactions is deferred (reputation trouble that no
    /// other behaviour describes, as `mtasim calibrate` finds it in a log). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferral_episodes: Vec<DeferralEpisode>,
    /// Random temporary failures. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transient_errors: Option<TransientErrors>,
    /// Share of recipients that do not exist (answered 550 5.1.1, the same for every
    /// attempt of a message). Default 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown_user_rate: f64,
    /// Probability that a delivered message draws a complaint (lowers `reputation`).
    /// Default 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub complaint_rate: f64,
    /// After this many transactions in one session the next is answered
    /// "421 Max message per connection reached" and the session closes. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages_per_connection: Option<u32>,
    /// At which SMTP stage `mtasim serve` gives each behaviour's refusal. Default: every
    /// one in reply to RCPT TO. The simulator's transactions have no stages.
    #[serde(default, skip_serializing_if = "Stages::is_default")]
    pub stages: Stages,
}

/// The SMTP command a refusal answers when the receiver is served (`mtasim serve`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStage {
    /// In reply to RCPT TO, as policy services and greylisters answer.
    #[default]
    Rcpt,
    /// At the end of DATA, once the message has been sent (Gmail's 4.7.28).
    Data,
}

/// `stages`: per behaviour, the stage of its refusal. The connection limit always answers
/// at the greeting, `max_messages_per_connection` at MAIL FROM and unknown users at RCPT TO.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Stages {
    /// `rate_limit.reply`. Default "rcpt".
    pub rate_limit: ReplyStage,
    /// `reputation.throttle_reply` and `block_reply`. Default "rcpt".
    pub reputation: ReplyStage,
    /// `greylisting.reply`. Default "rcpt".
    pub greylisting: ReplyStage,
    /// The replies of `tempfail` outages. Default "rcpt".
    pub outages: ReplyStage,
    /// `deferral_episodes` replies. Default "rcpt".
    pub deferral_episodes: ReplyStage,
    /// `transient_errors.reply`. Default "rcpt".
    pub transient_errors: ReplyStage,
}

impl Stages {
    fn is_default(&self) -> bool {
        *self == Stages::default()
    }
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// What happens to a connection beyond the limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverLimit {
    /// Answer `reply` at greeting and hang up.
    #[default]
    Reject,
    /// Wait in a FIFO backlog for a free slot.
    Queue,
}

/// `connection_limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionLimit {
    /// Concurrent sessions allowed (counted from connect to disconnect).
    pub max: u32,
    /// `reject` (default) or `queue`.
    #[serde(default)]
    pub over_limit: OverLimit,
    /// Waiting places for `queue`; a connection finding it full times out. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<u32>,
    /// The 4xx greeting for `reject`. Default "generic-421".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

/// `rate_limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Accepted transactions per period, e.g. "1000/h".
    pub rate: Rate,
    /// Tokens the bucket holds (and starts with). Default 1: no burst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    /// Refused attempts cost a token too, so a hammering sender stays locked out.
    /// Default false.
    #[serde(default)]
    pub strict: bool,
    /// The 4xx answer over the limit. Default "generic-rate-limit".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

/// `reputation`: a score in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReputationConfig {
    /// Score at the start. Default: `baseline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial: Option<f64>,
    /// Where the score relaxes to. Default 1.
    pub baseline: f64,
    /// Linear relaxation toward `baseline`, score units per hour. Default 0.1.
    pub recovery_per_hour: f64,
    /// Lost per attempt (connect or transaction) that ignores a deferral: made within
    /// `deferral_memory` of this receiver's last 4xx, faster than `tolerated_rate`.
    /// Default 0.01.
    pub penalty_per_ignored_deferral: f64,
    /// How fast a sender may keep coming after a 4xx without being held to ignore it (a
    /// token bucket as deep as the rate's count, so `"120/min"` also tolerates a burst of
    /// 120). A sender that backs off below it loses nothing. Default `"120/min"`: two
    /// attempts a second.
    pub tolerated_rate: Rate,
    /// Lost per complaint. Default 0.05.
    pub penalty_per_complaint: f64,
    /// Lost per message to an unknown user. Default 0.005.
    pub penalty_per_unknown_user: f64,
    /// Below this a growing share of transactions is throttled. Default 0.5.
    pub throttle_below: f64,
    /// Below this the receiver starts blocking. Default 0.2.
    pub block_below: f64,
    /// A block lasts until the score is above this. Default 0.4.
    pub unblock_above: f64,
    /// How long a 4xx is remembered: attempts within it are ignored deferrals. Default "5m".
    pub deferral_memory: Span,
    /// The 4xx answer to a throttled transaction. Default "generic-throttle".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_reply: Option<String>,
    /// The answer while blocking: a 5xx (the message bounces) or a 4xx (it is deferred
    /// and retried until the block lifts or it expires; Yahoo's TS03). Default
    /// "generic-block".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_reply: Option<String>,
}

impl Default for ReputationConfig {
    fn default() -> Self {
        ReputationConfig {
            initial: None,
            baseline: 1.0,
            recovery_per_hour: 0.1,
            penalty_per_ignored_deferral: 0.01,
            tolerated_rate: DEFAULT_TOLERATED_RATE,
            penalty_per_complaint: 0.05,
            penalty_per_unknown_user: 0.005,
            throttle_below: 0.5,
            block_below: 0.2,
            unblock_above: 0.4,
            deferral_memory: DEFAULT_DEFERRAL_MEMORY,
            throttle_reply: None,
            block_reply: None,
        }
    }
}

/// `greylisting`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Greylisting {
    /// Attempts earlier than this after the message's first are deferred. Default "5m".
    #[serde(default = "default_greylist_delay")]
    pub min_delay: Span,
    /// The 4xx answer. Default "greylist".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

fn default_greylist_delay() -> Span {
    DEFAULT_GREYLIST_DELAY
}

/// How a receiver is unavailable during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutageMode {
    /// New connections are refused (TCP RST).
    Refuse,
    /// New connections go unanswered until the MTA's connect timeout.
    Timeout,
    /// Connections are greeted but every transaction gets `reply`.
    Tempfail,
}

/// One outage window [`from`, `to`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub from: Span,
    pub to: Span,
    pub mode: OutageMode,
    /// The 4xx answer for `tempfail`. Default "generic-451".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

/// One deferral episode [`from`, `to`): each transaction that gets this far is deferred
/// with `probability`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeferralEpisode {
    pub from: Span,
    pub to: Span,
    /// Share of transactions deferred inside the window.
    pub probability: f64,
    /// The 4xx answer. Default "generic-throttle".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

/// `transient_errors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransientErrors {
    /// Probability that an otherwise accepted transaction fails temporarily.
    pub probability: f64,
    /// The 4xx answer. Default "generic-451".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

/// `generated_receivers`: `count` anonymous receivers named `gen-000001`... (one domain
/// each, `gen-000001.example`) sharing `share` by a Zipf law, all behaving like `template`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratedReceivers {
    /// How many (at most 1,000,000).
    pub count: u32,
    /// Their total relative weight, on the same scale as the receivers' `share`.
    pub share: f64,
    /// Rank k gets weight proportional to 1/k^zipf_exponent (0: all equal). Default 1.
    #[serde(default = "default_zipf_exponent")]
    pub zipf_exponent: f64,
    /// Behaviour of each; no `name`, `domains` or `share`. Default: accept everything.
    #[serde(default)]
    pub template: ReceiverConfig,
}

fn default_zipf_exponent() -> f64 {
    1.0
}

/// `Err` at `path` with `message` unless `ok`.
fn ensure(ok: bool, path: &str, message: impl FnOnce() -> String) -> Check {
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(path, message()))
    }
}

/// Refuses a negative, infinite or NaN weight.
fn weight(path: &str, w: f64) -> Check {
    ensure(w.is_finite() && w >= 0.0, path, || {
        format!("must be a finite number >= 0, got {w}")
    })
}

impl ReceiverConfig {
    /// Checks an entry of `receivers` for its name, domains and share (its behaviour is
    /// checked when it is compiled, [`super::Behaviour::compile`]); paths are relative to
    /// the entry.
    pub fn validate_identity(&self) -> Check {
        let name = self.name.as_deref().unwrap_or("");
        ensure(!name.trim().is_empty(), "name", || {
            "a receiver needs a non-empty name".into()
        })?;
        self.validate_domains()?;
        self.share.map_or(Ok(()), |s| weight("share", s))
    }

    /// Checks that a `generated_receivers.template` has no identity of its own.
    pub(crate) fn validate_anonymous(&self) -> Check {
        let absent = |present: bool, field: &str| {
            ensure(!present, field, || {
                format!("a template must not have `{field}`: generated receivers get their own")
            })
        };
        absent(self.name.is_some(), "name")?;
        absent(!self.domains.is_empty(), "domains")?;
        absent(self.share.is_some(), "share")
    }

    /// The relative weight of messages addressed to this receiver.
    pub fn weight(&self) -> f64 {
        self.share.unwrap_or(1.0)
    }

    fn validate_domains(&self) -> Check {
        ensure(!self.domains.is_empty(), "domains", || {
            "a receiver needs at least one domain".into()
        })?;
        let mut seen = HashSet::new();
        for (i, domain) in self.domains.iter().enumerate() {
            let path = format!("domains[{i}]");
            let plausible = !domain.is_empty()
                && !domain.contains(|c: char| c.is_whitespace() || c == '@' || c == '/');
            ensure(plausible, &path, || {
                format!("{domain:?} is not a domain name")
            })?;
            ensure(seen.insert(domain.to_ascii_lowercase()), &path, || {
                format!("domain {domain:?} is listed twice")
            })?;
        }
        Ok(())
    }

    /// Everything but identity: shared by listed receivers and templates.
    pub(crate) fn validate_behaviour(&self) -> Check {
        if let Some(latency) = &self.latency {
            latency.validate("latency")?;
        }
        if let Some(latency) = &self.connect_latency {
            latency.validate("connect_latency")?;
        }
        within(
            "connection_limit",
            self.connection_limit.as_ref(),
            ConnectionLimit::validate,
        )?;
        within("rate_limit", self.rate_limit.as_ref(), RateLimit::validate)?;
        within(
            "reputation",
            self.reputation.as_ref(),
            ReputationConfig::validate,
        )?;
        self.validate_outages()?;
        self.validate_episodes()?;
        within(
            "transient_errors",
            self.transient_errors.as_ref(),
            TransientErrors::validate,
        )?;
        probability("unknown_user_rate", self.unknown_user_rate)?;
        probability("complaint_rate", self.complaint_rate)?;
        self.max_messages_per_connection.map_or(Ok(()), |max| {
            positive("max_messages_per_connection", max.into(), "the limit")
        })
    }

    fn validate_outages(&self) -> Check {
        for (i, outage) in self.outages.iter().enumerate() {
            let at = format!("outages[{i}]");
            outage.validate().map_err(|e| e.within(&at))?;
            if let Some(j) = self.outages[..i].iter().position(|o| o.overlaps(outage)) {
                return Err(Invalid::new(
                    join_path(&at, "from"),
                    format!("overlaps outages[{j}]"),
                ));
            }
        }
        Ok(())
    }

    fn validate_episodes(&self) -> Check {
        for (i, episode) in self.deferral_episodes.iter().enumerate() {
            let at = format!("deferral_episodes[{i}]");
            episode.validate().map_err(|e| e.within(&at))?;
            let earlier = &self.deferral_episodes[..i];
            if let Some(j) = earlier.iter().position(|e| e.overlaps(episode)) {
                return Err(Invalid::new(
                    join_path(&at, "from"),
                    format!("overlaps deferral_episodes[{j}]"),
                ));
            }
        }
        Ok(())
    }
}

/// Runs a section's check, if the section is present, with paths under `section`.
fn within<T>(section: &str, value: Option<&T>, check: fn(&T) -> Check) -> Check {
    value.map_or(Ok(()), |v| check(v).map_err(|e| e.within(section)))
}

impl ConnectionLimit {
    fn validate(&self) -> Check {
        positive("max", self.max.into(), "the connection limit")?;
        ensure(
            self.backlog.is_none() || self.over_limit == OverLimit::Queue,
            "backlog",
            || "backlog only applies with over_limit \"queue\"".into(),
        )
    }

    /// Waiting places in `queue` mode.
    pub fn backlog(&self) -> u32 {
        self.backlog.unwrap_or(DEFAULT_BACKLOG)
    }
}

impl RateLimit {
    fn validate(&self) -> Check {
        // Rates parsed from text are positive; this guards ones built in code.
        positive(
            "rate",
            self.rate.count.min(self.rate.period.as_millis()),
            "the rate",
        )?;
        self.burst
            .map_or(Ok(()), |b| positive("burst", b, "the burst"))
    }
}

impl ReputationConfig {
    fn validate(&self) -> Check {
        let scores = [
            ("initial", self.initial.unwrap_or(self.baseline)),
            ("baseline", self.baseline),
            ("throttle_below", self.throttle_below),
            ("block_below", self.block_below),
            ("unblock_above", self.unblock_above),
        ];
        for (path, score) in scores {
            ensure((0.0..=1.0).contains(&score), path, || {
                format!("a score must be in [0, 1], got {score}")
            })?;
        }
        let rates = [
            ("recovery_per_hour", self.recovery_per_hour),
            (
                "penalty_per_ignored_deferral",
                self.penalty_per_ignored_deferral,
            ),
            ("penalty_per_complaint", self.penalty_per_complaint),
            ("penalty_per_unknown_user", self.penalty_per_unknown_user),
        ];
        for (path, value) in rates {
            weight(path, value)?;
        }
        self.validate_thresholds()
    }

    /// block_below <= throttle_below, block_below < unblock_above < baseline: otherwise a
    /// block could never start, or never end.
    fn validate_thresholds(&self) -> Check {
        let (block, unblock) = (self.block_below, self.unblock_above);
        ensure(block < unblock, "block_below", || {
            format!("block_below ({block}) must be below unblock_above ({unblock})")
        })?;
        ensure(block <= self.throttle_below, "throttle_below", || {
            format!(
                "throttle_below ({}) must not be below block_below ({block})",
                self.throttle_below
            )
        })?;
        ensure(unblock < self.baseline, "unblock_above", || {
            format!(
                "unblock_above ({unblock}) must be below baseline ({}), or a block would never lift",
                self.baseline
            )
        })
    }
}

impl Outage {
    fn validate(&self) -> Check {
        ensure(self.from < self.to, "to", || {
            format!(
                "the outage must end after it starts ({} >= {})",
                self.from, self.to
            )
        })?;
        ensure(
            self.reply.is_none() || self.mode == OutageMode::Tempfail,
            "reply",
            || "reply only applies to mode \"tempfail\"".into(),
        )
    }

    fn overlaps(&self, other: &Outage) -> bool {
        self.from < other.to && other.from < self.to
    }
}

impl DeferralEpisode {
    fn validate(&self) -> Check {
        ensure(self.from < self.to, "to", || {
            format!(
                "the episode must end after it starts ({} >= {})",
                self.from, self.to
            )
        })?;
        probability("probability", self.probability)
    }

    fn overlaps(&self, other: &DeferralEpisode) -> bool {
        self.from < other.to && other.from < self.to
    }
}

impl TransientErrors {
    fn validate(&self) -> Check {
        probability("probability", self.probability)
    }
}

impl GeneratedReceivers {
    /// Checks the section but the template's behaviour (checked when it is compiled);
    /// paths are relative to `generated_receivers`.
    pub fn validate(&self) -> Check {
        positive("count", self.count.into(), "the count")?;
        ensure(self.count <= MAX_GENERATED, "count", || {
            format!(
                "at most {MAX_GENERATED} generated receivers, got {}",
                self.count
            )
        })?;
        weight("share", self.share)?;
        weight("zipf_exponent", self.zipf_exponent)?;
        self.template
            .validate_anonymous()
            .map_err(|e| e.within("template"))
    }
}
