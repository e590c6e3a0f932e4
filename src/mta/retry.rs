//! Per-message retry delays: the schedule, then the jitter.

use rand::Rng;

use super::config::{Jitter, RetryConfig, Schedule};
use crate::units::Millis;

/// A retry schedule resolved to milliseconds.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    schedule: Schedule,
    initial: Millis,
    factor: f64,
    max: Millis,
    intervals: Vec<Millis>,
    jitter: Jitter,
}

impl RetryPolicy {
    pub fn new(config: &RetryConfig) -> Self {
        RetryPolicy {
            schedule: config.schedule,
            initial: config.initial.0,
            factor: config.factor,
            max: config.max.0,
            intervals: config.intervals.iter().map(|d| d.0).collect(),
            jitter: config.jitter,
        }
    }

    /// The delay before retry number `retry` (0 for the first) of a message `age` old,
    /// before jitter.
    pub fn scheduled(&self, retry: u32, age: Millis) -> Millis {
        match self.schedule {
            Schedule::Exponential => {
                let grown = self.initial as f64 * self.factor.powi(retry.min(1024) as i32);
                if grown >= self.max as f64 {
                    self.max
                } else {
                    grown as Millis
                }
            }
            Schedule::Intervals => {
                let last = self.intervals.len() - 1;
                self.intervals[(retry as usize).min(last)]
            }
            Schedule::Postfix => age.clamp(self.initial, self.max),
        }
    }

    /// The jittered delay; `previous` is the message's previous delay (0 before its first
    /// retry), which only `decorrelated` jitter uses.
    pub fn delay(&self, retry: u32, age: Millis, previous: Millis, rng: &mut impl Rng) -> Millis {
        let scheduled = self.scheduled(retry, age);
        match self.jitter {
            Jitter::None => scheduled,
            Jitter::Full => rng.random_range(0..=scheduled),
            Jitter::Equal => rng.random_range(scheduled / 2..=scheduled),
            Jitter::Decorrelated => {
                let base = if previous == 0 {
                    self.initial
                } else {
                    previous
                };
                let high = base.saturating_mul(3).max(self.initial);
                rng.random_range(self.initial..=high).min(self.max)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use crate::units::{Duration, HOUR, MINUTE};

    fn policy(schedule: Schedule, jitter: Jitter) -> RetryPolicy {
        RetryPolicy::new(&RetryConfig {
            schedule,
            jitter,
            initial: Duration(10 * MINUTE),
            factor: 2.0,
            max: Duration(4 * HOUR),
            intervals: vec![Duration(5 * MINUTE), Duration(15 * MINUTE), Duration(HOUR)],
            ..RetryConfig::default()
        })
    }

    #[test]
    fn exponential_doubles_up_to_max() {
        let p = policy(Schedule::Exponential, Jitter::None);
        let delays: Vec<_> = (0..7).map(|n| p.scheduled(n, 0) / MINUTE).collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 240, 240]);
        assert_eq!(p.scheduled(5000, 0), 4 * HOUR);
    }

    #[test]
    fn intervals_repeat_the_last() {
        let p = policy(Schedule::Intervals, Jitter::None);
        let delays: Vec<_> = (0..5).map(|n| p.scheduled(n, 0) / MINUTE).collect();
        assert_eq!(delays, vec![5, 15, 60, 60, 60]);
    }

    #[test]
    fn postfix_clamps_the_message_age() {
        let p = policy(Schedule::Postfix, Jitter::None);
        assert_eq!(p.scheduled(0, 0), 10 * MINUTE);
        assert_eq!(p.scheduled(3, 25 * MINUTE), 25 * MINUTE);
        assert_eq!(p.scheduled(9, 2 * 24 * HOUR), 4 * HOUR);
    }

    /// Min, max and mean of many jittered first-retry delays (scheduled 10m).
    fn spread(jitter: Jitter, previous: Millis) -> (Millis, Millis, f64) {
        let p = policy(Schedule::Exponential, jitter);
        let mut rng = stream(1, "jitter-test");
        let samples: Vec<Millis> = (0..20_000)
            .map(|_| p.delay(0, 0, previous, &mut rng))
            .collect();
        let mean = samples.iter().sum::<Millis>() as f64 / samples.len() as f64;
        (
            *samples.iter().min().unwrap(),
            *samples.iter().max().unwrap(),
            mean,
        )
    }

    #[test]
    fn no_jitter_is_exact() {
        assert_eq!(
            spread(Jitter::None, 0),
            (10 * MINUTE, 10 * MINUTE, (10 * MINUTE) as f64)
        );
    }

    #[test]
    fn full_jitter_spans_zero_to_the_delay() {
        let (min, max, mean) = spread(Jitter::Full, 0);
        assert!(min < 2 * 1000, "min {min}");
        assert!(max > 10 * MINUTE - 2000 && max <= 10 * MINUTE, "max {max}");
        assert!(
            (mean / (5 * MINUTE) as f64 - 1.0).abs() < 0.02,
            "mean {mean}"
        );
    }

    #[test]
    fn equal_jitter_spans_half_to_the_delay() {
        let (min, max, mean) = spread(Jitter::Equal, 0);
        assert!((5 * MINUTE..5 * MINUTE + 1000).contains(&min), "min {min}");
        assert!(max <= 10 * MINUTE && max > 10 * MINUTE - 1000, "max {max}");
        assert!(
            (mean / (7.5 * MINUTE as f64) - 1.0).abs() < 0.01,
            "mean {mean}"
        );
    }

    #[test]
    fn decorrelated_jitter_spans_initial_to_three_times_previous() {
        let (min, max, _) = spread(Jitter::Decorrelated, 0);
        assert!(
            (10 * MINUTE..10 * MINUTE + 2000).contains(&min),
            "min {min}"
        );
        assert!(max <= 30 * MINUTE && max > 30 * MINUTE - 2000, "max {max}");
        let (min, max, _) = spread(Jitter::Decorrelated, 2 * HOUR);
        assert!(min >= 10 * MINUTE, "min {min}");
        assert_eq!(max, 4 * HOUR, "capped at max");
    }
}
