//! Messages' retries: each wait from a deferral (or a hold) to the time the retry fell due,
//! with the message's age and retry number, sampled into a bounded reservoir; and the
//! bounds the expiry rule is read from.
//!
//! When a retry fell due is the log's own word for Postfix (`delays` a: the time before
//! the active queue, from arrival); elsewhere it is the attempt's start less the wait mail
//! had at that destination then (its latest first attempts' wait), so a congested queue
//! does not pass for a longer schedule.

use super::{Evidence, pace};
use crate::logs::RecipientKey;
use crate::metrics::Histogram;
use crate::units::Span;

/// Samples kept: enough for every retry number's median and the schedule's shape.
pub const CAPACITY: usize = 100_000;

/// One retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySample {
    pub dest: u32,
    /// The pace step of the deferral (or hold) it followed.
    pub step: u32,
    /// How many deferrals and holds the message had before this retry (0: its first).
    pub retry: u32,
    /// The message's age at that deferral, ms.
    pub age: u64,
    /// The deferral's time and the retry's start, ms since the origin.
    pub deferred: u64,
    pub start: u64,
    /// When it fell due, where the log says (Postfix `delays` a); else the wait of the
    /// mail first attempted near its start tells ([`Retries::due`]).
    pub due: Option<u64>,
}

/// Every retry's evidence, bounded.
#[derive(Debug, Default)]
pub struct Retries {
    /// A uniform sample of the retries (reservoir sampling with a fixed hash as the draw,
    /// so the same log keeps the same samples).
    pub samples: Vec<RetrySample>,
    seen: u64,
    /// The oldest age at which a deferral was followed by another attempt, ms.
    pub oldest_retried: u64,
    /// The oldest age at which a retry fell due, ms.
    pub oldest_due: u64,
    /// Expired messages' ages.
    pub expiry_ages: Histogram,
    /// The maximum age the log's expiries state (KumoMTA: "... exceeds max_age=1h 30m").
    pub stated_max_age: Option<Span>,
}

impl Retries {
    /// Records a retry; `due` is when it fell due, the log's or an estimate.
    pub fn record(&mut self, sample: RetrySample, due: u64) {
        self.oldest_retried = self.oldest_retried.max(sample.age);
        self.oldest_due = self
            .oldest_due
            .max(sample.age + due.saturating_sub(sample.deferred));
        self.seen += 1;
        if self.samples.len() < CAPACITY {
            self.samples.push(sample);
            return;
        }
        let draw = (self.seen.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % self.seen;
        if let Some(slot) = self.samples.get_mut(draw as usize) {
            *slot = sample;
        }
    }

    /// An expired message of `age` ms, with its expiry's text.
    pub fn expired(&mut self, age: u64, text: &str) {
        self.expiry_ages.record(Span::from_millis(age));
        if let Some(stated) = stated_max_age(text) {
            self.stated_max_age = Some(self.stated_max_age.map_or(stated, |s| s.max(stated)));
        }
    }

    /// Retries seen (the reservoir holds at most [`CAPACITY`] of them).
    pub fn count(&self) -> u64 {
        self.seen
    }
}

/// The maximum age an expiry's text states: KumoMTA's "Next delivery time would be 2h 10m
/// after creation, which exceeds max_age=1h 30m".
fn stated_max_age(text: &str) -> Option<Span> {
    let (_, rest) = text.split_once("max_age=")?;
    rest.trim().trim_end_matches('.').parse().ok()
}

/// Collecting the retries, as the outcomes stream by.
impl Evidence {
    /// A retry: the wait from the recipient's last deferral (or hold) to when this attempt
    /// fell due (see [`retries`]), and the least such wait in the pace of the deferral's
    /// step.
    pub(super) fn retried(
        &mut self,
        key: RecipientKey,
        d: u32,
        start: u64,
        delays: Option<[u64; 4]>,
    ) {
        let Some(r) = self.recipients.get(&key) else {
            return;
        };
        if !r.last_deferred {
            return;
        }
        let exact = delays.map(|[a, ..]| (r.arrived + a).max(r.last));
        let due = exact.unwrap_or_else(|| {
            start
                .saturating_sub(self.dests[d as usize].queue_wait)
                .max(r.last)
        });
        let sample = RetrySample {
            dest: d,
            step: pace::step_of(r.last),
            retry: r.deferrals.saturating_sub(1),
            age: r.last.saturating_sub(r.arrived),
            deferred: r.last,
            start,
            due: exact,
        };
        let wait = ((due - r.last) / 1000).min(u64::from(u32::MAX - 1)) as u32;
        let p = self.pace.entry((d, sample.step)).or_default();
        p.retry_wait = p.retry_wait.min(wait);
        self.retries.record(sample, due);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: u64) -> RetrySample {
        RetrySample {
            dest: 0,
            step: 0,
            retry: 0,
            age: i,
            deferred: i,
            start: i + 1,
            due: Some(i + 1),
        }
    }

    #[test]
    fn kumomta_states_its_max_age() {
        let text =
            "Next delivery time would be 2h 10m 12s after creation, which exceeds max_age=1h 30m";
        assert_eq!(stated_max_age(text), Some(Span::from_mins(90)));
        // humantime's format_duration, as kumod writes it.
        assert_eq!(
            stated_max_age("exceeds max_age=7days"),
            Some(Span::from_hours(7 * 24))
        );
        assert_eq!(stated_max_age("exceeds max_age=a week"), None);
        assert_eq!(
            stated_max_age("Next delivery time would be at 2026-06-14"),
            None
        );
    }

    #[test]
    fn the_reservoir_is_bounded_and_keeps_a_spread() {
        let mut r = Retries::default();
        for i in 0..(3 * CAPACITY as u64) {
            r.record(sample(i), i + 1);
        }
        assert_eq!(r.samples.len(), CAPACITY);
        assert_eq!(r.count(), 3 * CAPACITY as u64);
        assert_eq!(r.oldest_retried, 3 * CAPACITY as u64 - 1);
        assert_eq!(r.oldest_due, 3 * CAPACITY as u64);
        // About a third of the kept samples come from each third of the stream.
        let late = r
            .samples
            .iter()
            .filter(|s| s.age >= 2 * CAPACITY as u64)
            .count();
        assert!(
            (late as f64 / CAPACITY as f64 - 1.0 / 3.0).abs() < 0.05,
            "{late}"
        );
    }
}
