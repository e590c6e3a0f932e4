//! A receiver's opinion of the sender: a score in [0, 1] that relaxes toward a baseline,
//! drops with every ignored deferral, complaint and unknown user, throttles below one
//! threshold and blocks below another, with hysteresis.
//!
//! A deferral is ignored by coming back too fast, not by coming back: after a 4xx, attempts
//! are metered by a token bucket of `tolerated_rate` (as deep as its count), and only those
//! beyond it cost reputation. A sender in backoff below that rate loses nothing; one that
//! keeps hammering loses on almost every attempt.
//!
//! The score is kept as (value, time of value) and relaxed lazily when it is next looked
//! at, so an idle receiver costs nothing.

use rand::Rng;

use super::behaviour::Resolved;
use super::config::ReputationConfig;
use crate::rng::Stream;
use crate::units::{Instant, Span, TokenBucket};

#[derive(Debug, Clone)]
pub(crate) struct Reputation {
    score: f64,
    /// When `score` was last brought up to date.
    at: Instant,
    min: f64,
    baseline: f64,
    recovery_per_hour: f64,
    penalty_per_ignored_deferral: f64,
    pub(crate) penalty_per_complaint: f64,
    pub(crate) penalty_per_unknown_user: f64,
    throttle_below: f64,
    block_below: f64,
    unblock_above: f64,
    deferral_memory: Span,
    /// When this receiver last answered us with a 4xx.
    last_deferral: Option<Instant>,
    /// Attempts after a deferral, at the tolerated rate.
    tolerance: TokenBucket,
    blocking: bool,
    blocks: u64,
    pub(crate) throttle_reply: Resolved,
    pub(crate) block_reply: Resolved,
}

impl Reputation {
    pub(crate) fn new(config: &ReputationConfig, throttle: Resolved, block: Resolved) -> Self {
        let initial = config.initial.unwrap_or(config.baseline);
        Reputation {
            score: initial,
            at: Instant::ZERO,
            min: initial,
            baseline: config.baseline,
            recovery_per_hour: config.recovery_per_hour,
            penalty_per_ignored_deferral: config.penalty_per_ignored_deferral,
            penalty_per_complaint: config.penalty_per_complaint,
            penalty_per_unknown_user: config.penalty_per_unknown_user,
            throttle_below: config.throttle_below,
            block_below: config.block_below,
            unblock_above: config.unblock_above,
            deferral_memory: config.deferral_memory,
            last_deferral: None,
            tolerance: TokenBucket::new(config.tolerated_rate, config.tolerated_rate.count),
            blocking: false,
            blocks: 0,
            throttle_reply: throttle,
            block_reply: block,
        }
    }

    /// The score at `now`: the stored value moved linearly toward the baseline.
    pub(crate) fn score(&self, now: Instant) -> f64 {
        let hours =
            now.saturating_since(self.at).as_millis() as f64 / Span::HOUR.as_millis() as f64;
        let step = hours * self.recovery_per_hour;
        if self.score < self.baseline {
            (self.score + step).min(self.baseline)
        } else {
            (self.score - step).max(self.baseline)
        }
    }

    fn advance(&mut self, now: Instant) {
        self.score = self.score(now);
        self.at = self.at.max(now);
        self.min = self.min.min(self.score);
    }

    /// Lowers the score by `amount` at `now`.
    pub(crate) fn penalise(&mut self, now: Instant, amount: f64) {
        if amount > 0.0 {
            self.advance(now);
            self.score = (self.score - amount).max(0.0);
            self.min = self.min.min(self.score);
        }
    }

    /// The sender tries again (connects or starts a transaction) at `now`: if we deferred
    /// it within `deferral_memory` and it comes faster than the tolerated rate, it is
    /// ignoring us.
    pub(crate) fn attempt(&mut self, now: Instant) {
        let recent = self
            .last_deferral
            .is_some_and(|at| now.saturating_since(at) < self.deferral_memory);
        if recent && !self.tolerance.try_take(now) {
            self.penalise(now, self.penalty_per_ignored_deferral);
        }
    }

    /// We answered a 4xx at `at`.
    pub(crate) fn deferred(&mut self, at: Instant) {
        self.last_deferral = Some(self.last_deferral.map_or(at, |last| last.max(at)));
    }

    /// Whether we block at `now`: starts below `block_below`, ends above `unblock_above`.
    pub(crate) fn blocking(&mut self, now: Instant) -> bool {
        self.advance(now);
        if self.blocking && self.score > self.unblock_above {
            self.blocking = false;
        } else if !self.blocking && self.score < self.block_below {
            self.blocking = true;
            self.blocks += 1;
        }
        self.blocking
    }

    /// Whether to throttle this transaction: with probability
    /// (throttle_below - score) / (throttle_below - block_below), clamped to [0, 1].
    /// Draws only inside the throttling band.
    pub(crate) fn throttle(&self, now: Instant, rng: &mut Stream) -> bool {
        let score = self.score(now);
        let band = self.throttle_below - self.block_below;
        if band <= 0.0 || score >= self.throttle_below {
            return false;
        }
        let share = ((self.throttle_below - score) / band).clamp(0.0, 1.0);
        rng.random::<f64>() < share
    }

    pub(crate) fn min(&self) -> f64 {
        self.min
    }

    pub(crate) fn is_blocking(&self) -> bool {
        self.blocking
    }

    pub(crate) fn blocks(&self) -> u64 {
        self.blocks
    }
}
