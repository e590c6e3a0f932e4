//! The `mta` section of a scenario: the sending MTA's connection limits, timeouts, own
//! failures and per-message retry schedule.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::retry::RetryPolicy;
use crate::replies::{ReplyBook, ReplyId, ReplyKind};
use crate::units::{Instant, Span};
use crate::validate::{self, Check, Invalid};

/// The sending MTA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MtaConfig {
    /// Simultaneous outbound connections over all destinations (default 200).
    pub max_connections: u32,
    /// How long a connection attempt may take before it fails as a timeout (default 30s).
    pub connect_timeout: Span,
    /// How long a connected session may wait for the receiver's greeting (default 5m).
    pub greeting_timeout: Span,
    /// Messages delivered over one connection before it is closed (default 100).
    pub max_deliveries_per_connection: u32,
    /// How long an open session may wait for the destination's rate limit to allow its
    /// next delivery before it closes (default 5s).
    pub session_idle_timeout: Span,
    /// What a receiver's "421 Max messages per connection" (recognised by its text) means:
    /// `reconnect` (default, as KumoMTA and PowerMTA do) closes the session and tries the
    /// message again on a new one, no error and no retry delay; `tempfail` treats it as any
    /// 4xx (an error for flow control, a deferral and a retry), as some Postfix set-ups do.
    pub on_connection_limit_reply: ConnectionLimitReply,
    /// What a suspended destination does with its queued mail: `hold` (default, as
    /// KumoMTA and PowerMTA do) keeps it queued until the suspension ends; `defer` (as
    /// Postfix does with a dead destination: "delivery temporarily suspended") defers each
    /// message to its next retry by the retry schedule, and each one due or arriving while
    /// the suspension lasts, without an attempt.
    #[serde(skip_serializing_if = "OnSuspension::is_default")]
    pub on_suspension: OnSuspension,
    /// The MTA's own failures (DNS, local resources).
    pub internal_errors: InternalErrors,
    /// Per-message retry schedule after a temporary failure.
    pub retry: RetryConfig,
}

impl Default for MtaConfig {
    fn default() -> Self {
        MtaConfig {
            max_connections: 200,
            connect_timeout: Span::from_secs(30),
            greeting_timeout: Span::from_mins(5),
            max_deliveries_per_connection: 100,
            session_idle_timeout: Span::from_secs(5),
            on_connection_limit_reply: ConnectionLimitReply::Reconnect,
            on_suspension: OnSuspension::Hold,
            internal_errors: InternalErrors::default(),
            retry: RetryConfig::default(),
        }
    }
}

/// The MTA's reaction to a receiver's per-connection message limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionLimitReply {
    /// Reconnect and go on: not a failure.
    Reconnect,
    /// A temporary failure like any other 4xx.
    Tempfail,
}

/// What a suspended destination's queued mail does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnSuspension {
    /// Waits in the destination's queue until the suspension ends.
    #[default]
    Hold,
    /// Waits for its next retry, as if deferred.
    Defer,
}

impl OnSuspension {
    fn is_default(&self) -> bool {
        *self == OnSuspension::Hold
    }
}

/// The MTA's own failures: a base probability per attempt, and windows where it differs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct InternalErrors {
    /// Probability that an attempt fails inside the MTA (default 0).
    pub probability: f64,
    /// Windows of time with their own probability (the last matching window wins).
    pub windows: Vec<ErrorWindow>,
}

/// A span of simulated time `[from, to)` with its own internal-error probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorWindow {
    pub from: Span,
    pub to: Span,
    pub probability: f64,
}

/// The MTA's own failure rate over time, compiled: windows in simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct InternalErrorRate {
    probability: f64,
    /// (from, to, probability), in file order; the last matching window wins.
    windows: Vec<(Instant, Instant, f64)>,
}

impl InternalErrorRate {
    /// The probability in force at `now`.
    pub fn at(&self, now: Instant) -> f64 {
        self.windows
            .iter()
            .rev()
            .find(|(from, to, _)| (*from..*to).contains(&now))
            .map_or(self.probability, |w| w.2)
    }
}

/// What the MTA logs for failures that are its own, not a receiver's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtaReplies {
    /// An internal error before any connection (DNS, local resources).
    pub internal_error: ReplyId,
    /// The TCP connection was refused.
    pub connection_refused: ReplyId,
    /// No answer within `connect_timeout`.
    pub connect_timeout: ReplyId,
    /// Connected, but no greeting within `greeting_timeout`.
    pub greeting_timeout: ReplyId,
}

/// The `mta` section compiled: what the MTA model runs on.
#[derive(Debug, Clone)]
pub struct Mta {
    pub max_connections: u32,
    pub connect_timeout: Span,
    pub greeting_timeout: Span,
    pub max_deliveries_per_connection: u32,
    pub session_idle_timeout: Span,
    pub internal_errors: InternalErrorRate,
    /// Per reply (by id): a per-connection message limit the MTA reconnects after.
    pub reconnects_after: Vec<bool>,
    pub retry: RetryPolicy,
    /// A message older than this expires.
    pub max_age: Span,
    pub expire: Expiry,
    pub on_suspension: OnSuspension,
    pub replies: MtaReplies,
    reaction: ConnectionLimitReply,
}

/// How MTAs recognise a receiver's per-connection message limit: by the text of its 421
/// ("Max message per connection reached", "too many messages in this session").
const CONNECTION_LIMIT_TEXT: &str = r"(?i)(max(imum)?\s+(number\s+of\s+)?messages?\s+(per|for\s+this)\s+(connection|session))|(too\s+many\s+messages\s+(in|per)\s+(this\s+)?(connection|session))";

impl Mta {
    /// Marks the replies the MTA reconnects after (with `reconnect`); every other reply
    /// is an outcome. Runs the recognising regex once per distinct reply.
    pub fn learn_replies(&mut self, book: &ReplyBook) {
        let limit = regex::Regex::new(CONNECTION_LIMIT_TEXT).expect("a valid regex");
        self.reconnects_after = book
            .iter()
            .map(|(_, reply)| {
                self.reaction == ConnectionLimitReply::Reconnect
                    && reply.kind() == ReplyKind::Temporary
                    && limit.is_match(&reply.text)
            })
            .collect();
    }

    /// Whether the MTA reconnects after `reply` instead of counting it as an outcome.
    pub fn reconnects_after(&self, reply: ReplyId) -> bool {
        self.reconnects_after[reply.index()]
    }
}

impl MtaConfig {
    /// Checks the section and compiles it, interning the MTA's own replies in `book`;
    /// call [`Mta::learn_replies`] once the book holds every reply of the scenario.
    pub fn compile(&self, book: &mut ReplyBook) -> Result<Mta, Invalid> {
        self.validate()?;
        let mut own = |name| book.intern(name).expect("a catalogue name");
        let replies = MtaReplies {
            internal_error: own("mta-internal-error"),
            connection_refused: own("connection-refused"),
            connect_timeout: own("connection-timeout"),
            greeting_timeout: own("greeting-timeout"),
        };
        let windows = self.internal_errors.windows.iter();
        Ok(Mta {
            max_connections: self.max_connections,
            connect_timeout: self.connect_timeout,
            greeting_timeout: self.greeting_timeout,
            max_deliveries_per_connection: self.max_deliveries_per_connection,
            session_idle_timeout: self.session_idle_timeout,
            reconnects_after: Vec::new(),
            internal_errors: InternalErrorRate {
                probability: self.internal_errors.probability,
                windows: windows
                    .map(|w| (Instant::ZERO + w.from, Instant::ZERO + w.to, w.probability))
                    .collect(),
            },
            retry: RetryPolicy::new(&self.retry),
            max_age: self.retry.max_age,
            expire: self.retry.expire,
            on_suspension: self.on_suspension,
            replies,
            reaction: self.on_connection_limit_reply,
        })
    }
}

/// How the delay before the n-th retry grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// `initial` x `factor`^n, capped at `max`.
    Exponential,
    /// The list `intervals`, the last repeating.
    Intervals,
    /// clamp(message age, `initial`, `max`): Postfix's minimal and maximal backoff.
    Postfix,
}

/// How the scheduled delay is randomised, so deferred messages do not retry in waves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    /// Exactly the scheduled delay.
    None,
    /// Uniform in [0, delay].
    Full,
    /// Uniform in [delay/2, delay].
    Equal,
    /// Uniform in [initial, 3 x the previous delay], capped at `max`.
    Decorrelated,
}

/// The per-message retry schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// `exponential` (default), `intervals` or `postfix`.
    pub schedule: Schedule,
    /// First delay, and the minimum for `postfix` and `decorrelated` (default 10m).
    pub initial: Span,
    /// Growth per retry for `exponential` (default 2.0).
    pub factor: f64,
    /// Longest delay (default 4h).
    pub max: Span,
    /// Delays for `intervals`, the last repeating.
    pub intervals: Vec<Span>,
    /// `none`, `full` (default), `equal` or `decorrelated`.
    pub jitter: Jitter,
    /// A message older than this expires and bounces with reason `expired` (default 5d).
    pub max_age: Span,
    /// When a message expires: `after_max_age` (default) or `before_next_retry`.
    #[serde(skip_serializing_if = "Expiry::is_default")]
    pub expire: Expiry,
    /// Postfix's `queue_run_delay`: deferred messages are retried at the first queue run
    /// (every this long from time 0) at or after their retry time. Omitted (default): each
    /// retry goes out when it is due, as KumoMTA and PowerMTA do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_run_delay: Option<Span>,
}

/// When a message too old to be worth retrying expires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    /// Once it is older than `max_age`, at its next failed attempt or retry time (Postfix:
    /// `maximal_queue_lifetime` is checked when delivery fails).
    #[default]
    AfterMaxAge,
    /// At a deferral whose next retry would come after `max_age` (KumoMTA: "next delivery
    /// time would exceed the expiry time"), so it is logged before `max_age`.
    BeforeNextRetry,
}

impl Expiry {
    fn is_default(&self) -> bool {
        *self == Expiry::default()
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            schedule: Schedule::Exponential,
            initial: Span::from_mins(10),
            factor: 2.0,
            max: Span::from_hours(4),
            intervals: Vec::new(),
            jitter: Jitter::Full,
            max_age: Span::from_hours(120),
            expire: Expiry::AfterMaxAge,
            queue_run_delay: None,
        }
    }
}

impl MtaConfig {
    /// Refuses values that cannot describe a working MTA.
    fn validate(&self) -> Check {
        validate::positive(
            "max_connections",
            self.max_connections.into(),
            "max_connections",
        )?;
        validate::positive(
            "connect_timeout",
            self.connect_timeout.as_millis(),
            "connect_timeout",
        )?;
        validate::positive(
            "greeting_timeout",
            self.greeting_timeout.as_millis(),
            "greeting_timeout",
        )?;
        validate::positive(
            "max_deliveries_per_connection",
            self.max_deliveries_per_connection.into(),
            "max_deliveries_per_connection",
        )?;
        self.internal_errors
            .validate()
            .map_err(|e| e.within("internal_errors"))?;
        self.retry.validate().map_err(|e| e.within("retry"))
    }
}

impl InternalErrors {
    fn validate(&self) -> Check {
        validate::probability("probability", self.probability)?;
        for (i, window) in self.windows.iter().enumerate() {
            let at = |field: &str| format!("windows[{i}].{field}");
            if window.to <= window.from {
                return Err(Invalid::new(at("to"), "must be later than `from`"));
            }
            validate::probability(&at("probability"), window.probability)?;
        }
        Ok(())
    }
}

impl RetryConfig {
    fn validate(&self) -> Check {
        validate::positive("initial", self.initial.as_millis(), "initial")?;
        validate::positive("max_age", self.max_age.as_millis(), "max_age")?;
        if let Some(delay) = self.queue_run_delay {
            validate::positive("queue_run_delay", delay.as_millis(), "queue_run_delay")?;
        }
        if self.max < self.initial {
            return Err(Invalid::new("max", "must be at least `initial`"));
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(Invalid::new(
                "factor",
                format!("must be a number >= 1, got {}", self.factor),
            ));
        }
        if self.schedule == Schedule::Intervals {
            if self.intervals.is_empty() {
                return Err(Invalid::new(
                    "intervals",
                    "the `intervals` schedule needs at least one interval",
                ));
            }
            if let Some(i) = self.intervals.iter().position(|d| d.is_zero()) {
                return Err(Invalid::new(
                    format!("intervals[{i}]"),
                    "must be greater than zero",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_probability_applies_inside_its_span_only() {
        let config = MtaConfig {
            internal_errors: InternalErrors {
                probability: 0.01,
                windows: vec![ErrorWindow {
                    from: Span::from_hours(2),
                    to: Span::from_hours(3),
                    probability: 0.5,
                }],
            },
            ..MtaConfig::default()
        };
        let errors = config
            .compile(&mut ReplyBook::new())
            .unwrap()
            .internal_errors;
        let at = |ms| errors.at(Instant::from_millis(ms));
        let hour = Span::HOUR.as_millis();
        assert_eq!(at(2 * hour - 1), 0.01);
        assert_eq!(at(2 * hour), 0.5);
        assert_eq!(at(3 * hour - 1), 0.5);
        assert_eq!(at(3 * hour), 0.01);
    }

    #[test]
    fn validation_names_the_field() {
        let mut mta = MtaConfig::default();
        assert_eq!(mta.validate(), Ok(()));
        mta.retry.factor = f64::NAN;
        assert_eq!(mta.validate().unwrap_err().path, "retry.factor");
        mta.retry = RetryConfig {
            schedule: Schedule::Intervals,
            ..RetryConfig::default()
        };
        assert_eq!(mta.validate().unwrap_err().path, "retry.intervals");
        mta.retry = RetryConfig::default();
        mta.internal_errors.windows.push(ErrorWindow {
            from: Span::from_millis(5),
            to: Span::from_millis(5),
            probability: 0.1,
        });
        assert_eq!(
            mta.validate().unwrap_err().path,
            "internal_errors.windows[0].to"
        );
        mta.internal_errors.windows[0].to = Span::from_millis(6);
        mta.internal_errors.windows[0].probability = 1.5;
        assert_eq!(
            mta.validate().unwrap_err().path,
            "internal_errors.windows[0].probability"
        );
    }
}
