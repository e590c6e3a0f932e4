//! Per-message retry delays: the schedule, then the jitter.

use rand::Rng;

use super::config::{Jitter, RetryConfig, Schedule};
use crate::units::{Instant, Span};

/// A retry schedule resolved to milliseconds.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    schedule: Schedule,
    initial: u64,
    factor: f64,
    max: u64,
    intervals: Vec<u64>,
    jitter: Jitter,
    /// Postfix's queue runs: retries go out at the first multiple of this at or after
    /// their time (0: when due).
    queue_run: u64,
}

/// `ms` rounded down to a whole second.
fn whole_second(ms: u64) -> u64 {
    ms - ms % 1000
}

impl RetryPolicy {
    pub fn new(config: &RetryConfig) -> Self {
        RetryPolicy {
            schedule: config.schedule,
            initial: config.initial.as_millis(),
            factor: config.factor,
            max: config.max.as_millis(),
            intervals: config.intervals.iter().map(|d| d.as_millis()).collect(),
            jitter: config.jitter,
            queue_run: config.queue_run_delay.map_or(0, |d| d.as_millis()),
        }
    }

    /// How long after `now` a retry `delay` away goes out: at once when due, or at the first
    /// queue run at or after then. With queue runs the times are Postfix's: its clock
    /// (`time()`) counts whole seconds, and a queue run takes a deferred message up to one
    /// second before its time (qmgr_active_feed skips only files more than a second in the
    /// future). A message deferred at 30.2 s for 5 s is due at 35 s and goes out with the
    /// first run from 34 s on.
    pub fn wait(&self, now: Instant, delay: Span) -> Span {
        if self.queue_run == 0 {
            return delay;
        }
        let now = now.as_millis();
        let due = (whole_second(now) + delay.as_millis()).saturating_sub(1000);
        let mut run = due.next_multiple_of(self.queue_run);
        if run < now {
            run += self.queue_run;
        }
        Span::from_millis(run - now)
    }

    /// A message's age for its retry delay, at `now` for one that arrived at `arrived`:
    /// with queue runs (Postfix) in whole seconds, the current second less the arrival's,
    /// as Postfix computes it; else exact.
    pub fn age(&self, now: Instant, arrived: Instant) -> Span {
        if self.queue_run == 0 {
            return now - arrived;
        }
        Span::from_millis(whole_second(now.as_millis()) - whole_second(arrived.as_millis()))
    }

    /// The delay before retry number `retry` (0 for the first) of a message `age` old,
    /// before jitter.
    pub fn scheduled(&self, retry: u32, age: Span) -> Span {
        Span::from_millis(self.scheduled_ms(retry, age.as_millis()))
    }

    fn scheduled_ms(&self, retry: u32, age: u64) -> u64 {
        match self.schedule {
            Schedule::Exponential => {
                let grown = self.initial as f64 * self.factor.powi(retry.min(1024) as i32);
                if grown >= self.max as f64 {
                    self.max
                } else {
                    grown as u64
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
    pub fn delay(&self, retry: u32, age: Span, previous: Span, rng: &mut impl Rng) -> Span {
        let scheduled = self.scheduled_ms(retry, age.as_millis());
        let previous = previous.as_millis();
        Span::from_millis(match self.jitter {
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use crate::units::Span;

    const MINUTE: u64 = 60_000;
    const HOUR: u64 = 60 * MINUTE;

    /// The scheduled delay in ms for a message `age` ms old.
    fn scheduled(p: &RetryPolicy, retry: u32, age: u64) -> u64 {
        p.scheduled(retry, Span::from_millis(age)).as_millis()
    }

    fn policy(schedule: Schedule, jitter: Jitter) -> RetryPolicy {
        RetryPolicy::new(&RetryConfig {
            schedule,
            jitter,
            initial: Span::from_mins(10),
            factor: 2.0,
            max: Span::from_hours(4),
            intervals: vec![Span::from_mins(5), Span::from_mins(15), Span::HOUR],
            ..RetryConfig::default()
        })
    }

    #[test]
    fn exponential_doubles_up_to_max() {
        let p = policy(Schedule::Exponential, Jitter::None);
        let delays: Vec<_> = (0..7).map(|n| scheduled(&p, n, 0) / MINUTE).collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 240, 240]);
        assert_eq!(scheduled(&p, 5000, 0), 4 * HOUR);
    }

    #[test]
    fn intervals_repeat_the_last() {
        let p = policy(Schedule::Intervals, Jitter::None);
        let delays: Vec<_> = (0..5).map(|n| scheduled(&p, n, 0) / MINUTE).collect();
        assert_eq!(delays, vec![5, 15, 60, 60, 60]);
    }

    #[test]
    fn postfix_clamps_the_message_age() {
        let p = policy(Schedule::Postfix, Jitter::None);
        assert_eq!(scheduled(&p, 0, 0), 10 * MINUTE);
        assert_eq!(scheduled(&p, 3, 25 * MINUTE), 25 * MINUTE);
        assert_eq!(scheduled(&p, 9, 2 * 24 * HOUR), 4 * HOUR);
    }

    #[test]
    fn queue_runs_round_a_retry_up_to_the_next_run() {
        let mut config = RetryConfig {
            queue_run_delay: Some(Span::from_mins(5)),
            ..RetryConfig::default()
        };
        let p = RetryPolicy::new(&config);
        let wait = |now: u64, delay: u64| {
            p.wait(Instant::from_millis(now), Span::from_millis(delay))
                .as_millis()
        };
        // Due at 7m: the run at 10m. Due exactly at a run: that run.
        assert_eq!(wait(0, 7 * MINUTE), 10 * MINUTE);
        assert_eq!(wait(3 * MINUTE, 7 * MINUTE), 7 * MINUTE);
        assert_eq!(wait(MINUTE, 4 * MINUTE), 4 * MINUTE);
        assert_eq!(wait(MINUTE, 0), 4 * MINUTE);
        config.queue_run_delay = None;
        let p = RetryPolicy::new(&config);
        assert_eq!(
            p.wait(Instant::from_millis(MINUTE), Span::from_mins(7)),
            Span::from_mins(7)
        );
    }

    #[test]
    fn with_queue_runs_retry_times_count_in_whole_seconds_as_postfix_does() {
        let config = RetryConfig {
            schedule: Schedule::Postfix,
            initial: Span::from_secs(5),
            max: Span::from_secs(20),
            jitter: Jitter::None,
            queue_run_delay: Some(Span::from_secs(5)),
            ..RetryConfig::default()
        };
        let p = RetryPolicy::new(&config);
        let at = Instant::from_millis;
        // Arrived at 30.0 s, deferred at 30.2 s: age 0, delay 5 s from 30 s: due at 35 s,
        // taken by the run at 35 s (a run at 34 s would take it too).
        assert_eq!(p.age(at(30_200), at(30_000)), Span::ZERO);
        assert_eq!(
            p.wait(at(30_200), Span::from_secs(5)),
            Span::from_millis(4_800)
        );
        // Deferred again at 35.03 s: age 5 s (not 5.03), due at 40 s, the run at 40 s.
        assert_eq!(p.age(at(35_030), at(30_000)), Span::from_secs(5));
        assert_eq!(
            p.wait(at(35_030), Span::from_secs(5)),
            Span::from_millis(4_970)
        );
        // Due at 36 s: a run at 35 s is within a second of it and takes it.
        assert_eq!(
            p.wait(at(30_200), Span::from_secs(6)),
            Span::from_millis(4_800)
        );
        // A run never lies in the past.
        assert_eq!(p.wait(at(40_500), Span::ZERO), Span::from_millis(4_500));
        let exact = RetryPolicy::new(&RetryConfig {
            queue_run_delay: None,
            ..config
        });
        assert_eq!(exact.age(at(35_030), at(30_000)), Span::from_millis(5_030));
    }

    /// Min, max and mean of many jittered first-retry delays (scheduled 10m).
    fn spread(jitter: Jitter, previous: u64) -> (u64, u64, f64) {
        let p = policy(Schedule::Exponential, jitter);
        let mut rng = stream(1, "jitter-test");
        let samples: Vec<u64> = (0..20_000)
            .map(|_| {
                p.delay(0, Span::ZERO, Span::from_millis(previous), &mut rng)
                    .as_millis()
            })
            .collect();
        let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
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
