//! The `mta` section of a scenario: the sending MTA's connection limits, timeouts, own
//! failures and per-message retry schedule.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::units::{Duration, HOUR, MINUTE, SECOND};
use crate::validate::{self, Check, Invalid};

/// The sending MTA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MtaConfig {
    /// Simultaneous outbound connections over all destinations (default 200).
    pub max_connections: u32,
    /// How long a connection attempt may take before it fails as a timeout (default 30s).
    pub connect_timeout: Duration,
    /// How long a connected session may wait for the receiver's greeting (default 5m).
    pub greeting_timeout: Duration,
    /// Messages delivered over one connection before it is closed (default 100).
    pub max_deliveries_per_connection: u32,
    /// How long an open session may wait for the destination's rate limit to allow its
    /// next delivery before it closes (default 5s).
    pub session_idle_timeout: Duration,
    /// The MTA's own failures (DNS, local resources).
    pub internal_errors: InternalErrors,
    /// Per-message retry schedule after a temporary failure.
    pub retry: RetryConfig,
}

impl Default for MtaConfig {
    fn default() -> Self {
        MtaConfig {
            max_connections: 200,
            connect_timeout: Duration(30 * SECOND),
            greeting_timeout: Duration(5 * MINUTE),
            max_deliveries_per_connection: 100,
            session_idle_timeout: Duration(5 * SECOND),
            internal_errors: InternalErrors::default(),
            retry: RetryConfig::default(),
        }
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
    pub from: Duration,
    pub to: Duration,
    pub probability: f64,
}

impl InternalErrors {
    /// The probability in force at `now` (milliseconds).
    pub fn probability_at(&self, now: u64) -> f64 {
        self.windows
            .iter()
            .rev()
            .find(|w| (w.from.0..w.to.0).contains(&now))
            .map_or(self.probability, |w| w.probability)
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
    pub initial: Duration,
    /// Growth per retry for `exponential` (default 2.0).
    pub factor: f64,
    /// Longest delay (default 4h).
    pub max: Duration,
    /// Delays for `intervals`, the last repeating.
    pub intervals: Vec<Duration>,
    /// `none`, `full` (default), `equal` or `decorrelated`.
    pub jitter: Jitter,
    /// A message older than this expires and bounces with reason `expired` (default 5d).
    pub max_age: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            schedule: Schedule::Exponential,
            initial: Duration(10 * MINUTE),
            factor: 2.0,
            max: Duration(4 * HOUR),
            intervals: Vec::new(),
            jitter: Jitter::Full,
            max_age: Duration(5 * 24 * HOUR),
        }
    }
}

impl MtaConfig {
    /// Refuses values that cannot describe a working MTA.
    pub fn validate(&self) -> Check {
        validate::positive(
            "max_connections",
            self.max_connections.into(),
            "max_connections",
        )?;
        validate::positive("connect_timeout", self.connect_timeout.0, "connect_timeout")?;
        validate::positive(
            "greeting_timeout",
            self.greeting_timeout.0,
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
        validate::positive("initial", self.initial.0, "initial")?;
        validate::positive("max_age", self.max_age.0, "max_age")?;
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
            if let Some(i) = self.intervals.iter().position(|d| d.0 == 0) {
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
        let errors = InternalErrors {
            probability: 0.01,
            windows: vec![ErrorWindow {
                from: Duration(2 * HOUR),
                to: Duration(3 * HOUR),
                probability: 0.5,
            }],
        };
        assert_eq!(errors.probability_at(2 * HOUR - 1), 0.01);
        assert_eq!(errors.probability_at(2 * HOUR), 0.5);
        assert_eq!(errors.probability_at(3 * HOUR - 1), 0.5);
        assert_eq!(errors.probability_at(3 * HOUR), 0.01);
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
            from: Duration(5),
            to: Duration(5),
            probability: 0.1,
        });
        assert_eq!(
            mta.validate().unwrap_err().path,
            "internal_errors.windows[0].to"
        );
        mta.internal_errors.windows[0].to = Duration(6);
        mta.internal_errors.windows[0].probability = 1.5;
        assert_eq!(
            mta.validate().unwrap_err().path,
            "internal_errors.windows[0].probability"
        );
    }
}
