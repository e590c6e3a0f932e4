//! Postfix qmgr's concurrency window (qmgr_queue.c, qmgr_feedback.c): positive feedback
//! raises the window at the END of 1/feedback good deliveries, negative feedback lowers it
//! at the START of 1/feedback handshake failures, and failed pseudo-cohorts detect a dead
//! destination. The window only grows while it is below the deliveries in flight plus the
//! initial concurrency (qmgr_queue_unthrottle: "so that we're not too gentle" becomes no
//! runaway window on a trickle of mail).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::Rounding;

/// A feedback amount as Postfix writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Feedback {
    /// `"1"`, `"0.25"`, `"1/4"`: a constant in [0, 1]; `"0"` never moves the window (a sender
    /// that holds its concurrency whatever happens).
    Constant(f64),
    /// `"1/concurrency"`: +-1 per pseudo-cohort (linear).
    InverseConcurrency,
    /// `"1/sqrt(concurrency)"`: between the two (Postfix has it compiled out; kept here).
    InverseSqrtConcurrency,
}

impl Feedback {
    /// The amount for one delivery at concurrency `window`.
    pub fn amount(self, window: u32) -> f64 {
        let w = f64::from(window.max(1));
        match self {
            Feedback::Constant(c) => c,
            Feedback::InverseConcurrency => 1.0 / w,
            Feedback::InverseSqrtConcurrency => 1.0 / w.sqrt(),
        }
    }
}

/// Why a feedback string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid feedback {0:?}: expected \"1/concurrency\", \"1/sqrt(concurrency)\" or a constant in [0, 1] such as \"1\", \"0.25\", \"1/4\" or \"0\" (none)"
)]
pub struct FeedbackError(String);

impl FromStr for Feedback {
    type Err = FeedbackError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || FeedbackError(text.into());
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let value = match compact.split_once('/') {
            Some(("1", "concurrency")) => return Ok(Feedback::InverseConcurrency),
            Some(("1", "sqrt(concurrency)")) => return Ok(Feedback::InverseSqrtConcurrency),
            Some((x, y)) => number(x).ok_or_else(bad)? / number(y).ok_or_else(bad)?,
            None => number(&compact).ok_or_else(bad)?,
        };
        // Postfix takes 0 to 1 inclusive: 0 turns that feedback off.
        if (0.0..=1.0).contains(&value) {
            Ok(Feedback::Constant(value))
        } else {
            Err(bad())
        }
    }
}

/// A finite decimal number (no "inf", "NaN").
fn number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

impl fmt::Display for Feedback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feedback::Constant(c) => write!(f, "{c}"),
            Feedback::InverseConcurrency => f.write_str("1/concurrency"),
            Feedback::InverseSqrtConcurrency => f.write_str("1/sqrt(concurrency)"),
        }
    }
}

impl Serialize for Feedback {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Feedback {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Feedback {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Feedback".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Concurrency feedback: \"1/concurrency\", \"1/sqrt(concurrency)\", or a constant in [0, 1] (\"1\", \"0.25\", \"1/4\"; \"0\": the window never moves that way).",
            "examples": ["1", "1/4", "1/concurrency", "1/sqrt(concurrency)", "0"]
        })
    }
}

impl Rounding {
    /// How far short of a whole step the accumulator may be and still take it.
    fn slack(self, feedback: f64) -> f64 {
        match self {
            Rounding::Half => feedback / 2.0,
            Rounding::None => 0.0,
        }
    }
}

/// The window and its feedback accumulators (Postfix's `QMGR_QUEUE` fields).
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub size: u32,
    success: f64,
    failure: f64,
    fail_cohorts: f64,
}

/// The fixed parameters of a window.
#[derive(Debug, Clone, Copy)]
pub(super) struct WindowParams {
    pub initial: u32,
    pub max: u32,
    pub positive: Feedback,
    pub negative: Feedback,
    pub failed_cohort_limit: u32,
    pub rounding: Rounding,
}

impl Window {
    pub fn new(initial: u32) -> Self {
        Window {
            size: initial,
            success: 0.0,
            failure: 0.0,
            fail_cohorts: 0.0,
        }
    }

    /// A delivery without a site-level failure, `in_flight` deliveries running (this one
    /// included). Postfix skips the accumulation when the window is at its limit, or not
    /// below `in_flight + initial`, so no credit is banked there.
    pub fn positive(&mut self, p: &WindowParams, in_flight: u32) {
        self.fail_cohorts = 0.0;
        if self.size >= p.max || self.size >= in_flight.saturating_add(p.initial) {
            return;
        }
        let g = p.positive.amount(self.size);
        let slack = p.rounding.slack(g);
        self.success += g;
        while self.success + slack >= 1.0 {
            self.size += 1;
            self.success -= 1.0;
            self.failure = 0.0;
        }
        self.size = self.size.min(p.max);
    }

    /// A connect or handshake failure. Returns true when the failed cohorts reach the limit:
    /// the destination is dead. The window keeps its negative hysteresis cycle even at 1.
    /// A dead destination's window is left alone: it restarts afterwards ([`Window::restart`]).
    pub fn negative(&mut self, p: &WindowParams) -> bool {
        self.fail_cohorts += 1.0 / f64::from(self.size);
        if p.failed_cohort_limit > 0 && self.fail_cohorts >= f64::from(p.failed_cohort_limit) {
            return true;
        }
        let f = p.negative.amount(self.size);
        let slack = p.rounding.slack(f);
        self.failure -= f;
        while self.failure - slack < 0.0 {
            self.size = self.size.saturating_sub(1);
            self.success = 0.0;
            self.failure += 1.0;
        }
        self.size = self.size.max(1);
        false
    }

    /// Postfix's restart of a dead destination: "best concurrency is anyone's guess".
    pub fn restart(&mut self, in_flight: u32, p: &WindowParams) {
        let size = if in_flight > 0 { in_flight } else { p.initial };
        *self = Window::new(size.min(p.max));
    }
}
