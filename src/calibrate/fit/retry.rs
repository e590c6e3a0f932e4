//! The MTA's retry schedule and expiry rule, from its retries
//! ([`crate::calibrate::collect::retries`]): the wait from each deferral to the time its
//! retry fell due, by retry number and by the message's age, outside the times the sender
//! held the destination back (a backoff's least retry delay is its own).
//!
//! - **By number** (KumoMTA, PowerMTA, mtasim's `exponential` and `intervals`): the median
//!   wait of each retry number; a steady factor is exponential, else the list.
//! - **By age** (Postfix): the message's age clamped between a minimum and a maximum, at the
//!   next queue run. Queue runs show as retries falling due at the same instants every
//!   `queue_run_delay`.
//!
//! The one that predicts the waits better is taken. The expiry rule is the one that
//! reproduces the log: `after_max_age` (a message older than `max_age` expires at its next
//! failed attempt or when its retry falls due) when every expiry is older than every retry
//! that fell due; else `before_next_retry` (expire at a deferral whose next retry would come
//! at or after `max_age`, KumoMTA's rule) with `max_age` just above the oldest retry that
//! fell due, which keeps every retry the log shows and expires each message at the deferral
//! the log expired it at. A Postfix, which tries a message once more after its lifetime,
//! reads as the second; the note gives the lifetime it implies.

use std::f64::consts::TAU;

use super::{Notes, seconds};
use crate::calibrate::collect::Evidence;
use crate::calibrate::collect::pace::step_of;
use crate::calibrate::sender::{Conduct, Label};
use crate::calibrate::stats::{median, quantile};
use crate::mta::config::{Expiry, Jitter, RetryConfig, Schedule};
use crate::units::Span;

/// Retry numbers kept apart (later ones join the last).
const NUMBERS: usize = 8;
/// Waits a retry number needs to be fitted.
const MIN_WAITS: usize = 20;
/// Retries falling due a queue-run detection needs.
const MIN_RUNS: usize = 50;
/// How tightly due times must gather at the runs (the mean resultant length, 1: all at
/// the same phase).
const RUN_CLUSTER: f64 = 0.9;
/// Queue-run intervals tried, in seconds.
const RUNS: [u64; 11] = [60, 120, 180, 240, 300, 600, 900, 1000, 1200, 1800, 3600];

/// One retry's wait, from its deferral to when it fell due.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Wait {
    retry: u32,
    age: u64,
    deferred: u64,
    due: u64,
    delay: u64,
    /// Whether `due` is the log's own.
    exact: bool,
}

/// The waits of the retries outside the times the sender held their destination back.
/// Without the log's due time, a retry fell due its start less the wait of the mail first
/// attempted within a step of it (the same queue); none is nearby, it waited for nothing
/// if no mail was waiting then, and is left out otherwise.
fn waits(e: &Evidence, conducts: &[Conduct]) -> Vec<Wait> {
    e.retries
        .samples
        .iter()
        .filter(|s| !conducts[s.dest as usize].held_back(s.step, 0))
        .filter_map(|s| {
            let due = match s.due {
                Some(due) => due,
                None => {
                    let k = step_of(s.start);
                    let queued = [k, k.saturating_sub(1), k + 1]
                        .into_iter()
                        .filter_map(|k| e.pace.get(&(s.dest, k)))
                        .find(|p| p.first_attempts > 0)
                        .map(|p| p.first_waits_ms / u64::from(p.first_attempts));
                    let idle = conducts[s.dest as usize].label(k) == Label::Unknown;
                    s.start.saturating_sub(queued.or(idle.then_some(0))?)
                }
            }
            .max(s.deferred);
            Some(Wait {
                retry: s.retry,
                age: s.age,
                deferred: s.deferred,
                due,
                delay: due - s.deferred,
                exact: s.due.is_some(),
            })
        })
        .collect()
}

/// The retry schedule, jitter, queue runs, maximum age and expiry rule.
pub fn retry(e: &Evidence, conducts: &[Conduct], notes: &mut Notes) -> RetryConfig {
    let samples = waits(e, conducts);
    let samples: Vec<&Wait> = samples.iter().collect();
    let (max_age, expire) = expiry(e, notes);
    let mut waits: Vec<Vec<f64>> = vec![Vec::new(); NUMBERS];
    for s in &samples {
        waits[(s.retry as usize).min(NUMBERS - 1)].push(s.delay as f64);
    }
    let fitted = waits.iter().take_while(|w| w.len() >= MIN_WAITS).count();

    if fitted == 0 {
        notes.fallback(format!(
            "mta.retry: the default schedule, because the log has {} retries outside the times the sender held a destination back (a fit needs {MIN_WAITS})",
            samples.len()
        ));
        return RetryConfig {
            max_age,
            expire,
            ..RetryConfig::default()
        };
    }
    let (jitter, scale) = jitter(&waits[0], notes);
    let medians: Vec<u64> = waits[..fitted]
        .iter()
        .map(|w| (median(&mut w.clone()) * scale).round() as u64)
        .collect();
    let by_number = |s: &Wait| medians[(s.retry as usize).min(fitted - 1)] as f64;
    let number_error = prediction_error(&samples, by_number);
    let runs = queue_runs(&samples);
    if let Some(postfix) = by_age(&samples, runs, number_error, notes) {
        return RetryConfig {
            max_age,
            expire,
            ..postfix
        };
    }
    RetryConfig {
        jitter,
        max_age,
        expire,
        ..schedule(&medians, notes)
    }
}

/// The jitter from the spread of first retries' waits (their quartiles' ratio: 1/3 for
/// `full`, 5/7 for `equal`, 1 for `none`; the quartiles, because a queue's waits make a
/// long tail), and the scale from their median to the scheduled delay.
fn jitter(first: &[f64], notes: &mut Notes) -> (Jitter, f64) {
    let spread = quantile(first, 0.25) / quantile(first, 0.75).max(1.0);
    let (jitter, scale, name) = if spread < 0.5 {
        (Jitter::Full, 2.0, "full")
    } else if spread < 0.85 {
        (Jitter::Equal, 1.0 / 0.75, "equal")
    } else {
        (Jitter::None, 1.0, "none")
    };
    notes.say(format!(
        "mta.retry.jitter: {name}, from the spread of first retries (p25/p75 = {spread:.2} over {} retries)",
        first.len()
    ));
    (jitter, scale)
}

/// The median relative error of `predict` against the waits.
fn prediction_error(samples: &[&Wait], predict: impl Fn(&Wait) -> f64) -> f64 {
    let errors: Vec<f64> = samples
        .iter()
        .filter(|s| s.delay > 0)
        .map(|s| (predict(s) - s.delay as f64).abs() / s.delay as f64)
        .collect();
    quantile(&errors, 0.5)
}

/// Queue runs: the longest interval at whose multiples (with one phase) the exactly known
/// due times gather. Returns (interval ms, phase ms).
fn queue_runs(samples: &[&Wait]) -> Option<(u64, u64)> {
    let due: Vec<u64> = samples.iter().filter(|s| s.exact).map(|s| s.due).collect();
    if due.len() < MIN_RUNS {
        return None;
    }
    RUNS.iter().rev().find_map(|&q| {
        let q = q * 1000;
        let (mut x, mut y) = (0.0, 0.0);
        for &t in &due {
            let angle = TAU * (t % q) as f64 / q as f64;
            x += angle.cos();
            y += angle.sin();
        }
        let n = due.len() as f64;
        let length = (x * x + y * y).sqrt() / n;
        let phase = (y.atan2(x).rem_euclid(TAU) / TAU * q as f64).round() as u64 % q;
        (length >= RUN_CLUSTER).then_some((q, phase))
    })
}

/// Postfix's schedule, when it predicts the waits better than retry numbers do: the age
/// clamped between the shortest and the longest waits, at the next queue run.
fn by_age(
    samples: &[&Wait],
    runs: Option<(u64, u64)>,
    number_error: f64,
    notes: &mut Notes,
) -> Option<RetryConfig> {
    let waits: Vec<f64> = samples.iter().map(|s| s.delay as f64).collect();
    let (q, phase) = runs.unwrap_or((0, 0));
    // The waits' floor and ceiling, less what rounding up to a run adds.
    let lo = (quantile(&waits, 0.05) - q as f64 / 2.0).max(1000.0) as u64;
    let hi = (quantile(&waits, 0.95) - q as f64 / 2.0).max(lo as f64) as u64;
    let predict = |s: &Wait| {
        let eligible = s.deferred + s.age.clamp(lo, hi);
        let due = if q == 0 {
            eligible
        } else {
            (eligible + q - phase).next_multiple_of(q) + phase - q
        };
        due.saturating_sub(s.deferred) as f64
    };
    let age_error = prediction_error(samples, predict);
    if !(age_error < 0.15 && age_error < number_error / 2.0) {
        return None;
    }
    let (lo, hi) = (nice(lo), nice(hi).max(nice(lo)));
    let run = (q > 0).then(|| Span::from_millis(q));
    notes.say(format!(
        "mta.retry: postfix (the message's age clamped to [{lo}, {hi}]){}: the waits follow the message's age (median error {:.1} %, against {:.1} % by retry number)",
        run.map_or(String::new(), |r| format!(", at queue runs every {r} (retries fall due together)")),
        age_error * 100.0,
        number_error * 100.0
    ));
    Some(RetryConfig {
        schedule: Schedule::Postfix,
        initial: lo,
        max: hi,
        jitter: Jitter::None,
        queue_run_delay: run,
        ..RetryConfig::default()
    })
}

/// A span rounded to whole seconds, and to whole minutes from ten minutes on.
fn nice(ms: u64) -> Span {
    if ms >= 600_000 {
        Span::from_mins((ms + 30_000) / 60_000)
    } else {
        seconds(ms)
    }
}

/// Exponential when the delays grow by a steady factor, else the intervals themselves.
fn schedule(delays: &[u64], notes: &mut Notes) -> RetryConfig {
    let defaults = RetryConfig::default();
    let shown: Vec<String> = delays.iter().map(|&d| seconds(d).to_string()).collect();
    let ratios: Vec<f64> = delays
        .windows(2)
        .map(|w| w[1] as f64 / w[0].max(1) as f64)
        .collect();
    let growing: Vec<f64> = ratios.iter().copied().filter(|r| *r > 1.15).collect();
    if !growing.is_empty() && ratios.first().is_some_and(|r| *r > 1.15) {
        let factor = growing.iter().map(|r| r.ln()).sum::<f64>() / growing.len() as f64;
        let factor = (factor.exp() * 100.0).round() / 100.0;
        let capped = ratios.last().is_some_and(|r| *r <= 1.15);
        let last = *delays.last().expect("two delays");
        let max = if capped {
            seconds(last)
        } else {
            defaults.max.max(seconds(last))
        };
        notes.say(format!(
            "mta.retry: exponential, initial {} factor {factor} max {max}{}, from the median wait of retries 1 to {} ({})",
            seconds(delays[0]),
            if capped { "" } else { " (the cap was not reached in the log: the default or the longest seen)" },
            delays.len(),
            shown.join(", ")
        ));
        return RetryConfig {
            schedule: Schedule::Exponential,
            initial: seconds(delays[0]),
            factor: factor.max(1.0),
            max: max.max(seconds(delays[0])),
            ..defaults
        };
    }
    let constant = ratios.iter().all(|r| (0.85..=1.15).contains(r));
    // A retry sooner than a second is a wait the log rounds away: a second at least.
    let interval = |d: u64| seconds(d).max(Span::SECOND);
    let intervals: Vec<Span> = if constant {
        vec![interval(delays[0])]
    } else {
        delays.iter().map(|&d| interval(d)).collect()
    };
    notes.say(format!(
        "mta.retry: intervals {}, from the median wait of retries 1 to {} ({})",
        intervals
            .iter()
            .map(Span::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        delays.len(),
        shown.join(", ")
    ));
    let initial = intervals.iter().copied().min().unwrap_or(defaults.initial);
    RetryConfig {
        schedule: Schedule::Intervals,
        initial,
        max: intervals
            .iter()
            .copied()
            .max()
            .unwrap_or(defaults.max)
            .max(initial),
        intervals,
        ..defaults
    }
}

/// The maximum age and the expiry rule: see the module documentation. Without expiries,
/// the default age (or more than the oldest message seen) and Postfix's rule.
fn expiry(e: &Evidence, notes: &mut Notes) -> (Span, Expiry) {
    let r = &e.retries;
    let expired = r.expiry_ages.count();
    if expired == 0 {
        let default = RetryConfig::default().max_age;
        let age = default.max(Span::from_hours(e.oldest / 3_600_000 + 1));
        notes.fallback(format!(
            "mta.retry.max_age: {age}: no message expired in the log (the oldest seen was {}), so the default or more",
            seconds(e.oldest)
        ));
        return (age, Expiry::AfterMaxAge);
    }
    let youngest = r.expiry_ages.quantile(0.0).as_millis();
    let oldest = r.expiry_ages.max().as_millis();
    if let Some(age) = r.stated_max_age {
        notes.say(format!(
            "mta.retry.max_age: {age}, before_next_retry: as the log's {expired} expiries state it (\"... exceeds max_age={age}\": a message expires when its next retry would come after it)"
        ));
        return (age, Expiry::BeforeNextRetry);
    }
    if youngest > r.oldest_due {
        let age = roundest(r.oldest_due, youngest);
        notes.say(format!(
            "mta.retry.max_age: {age}, after_max_age: every one of the {expired} expired messages ({} to {}) was older than every retry that fell due (the oldest {}); {age} is the roundest age between",
            seconds(youngest),
            seconds(oldest),
            seconds(r.oldest_due)
        ));
        return (age, Expiry::AfterMaxAge);
    }
    let last = oldest.max(r.oldest_due);
    let age = Span::from_mins(last.div_ceil(60_000)).max(Span::MINUTE);
    let postfix = if youngest > r.oldest_retried {
        format!(
            " (a Postfix that tries once more after its lifetime reads the same: a maximal_queue_lifetime between {} and {})",
            seconds(r.oldest_retried),
            seconds(youngest)
        )
    } else {
        String::new()
    };
    notes.say(format!(
        "mta.retry.max_age: {age}, before_next_retry: retries fell due up to {} while the {expired} expired messages expired at {} to {}; a message expires when its next retry would come at or after {age}, just above the oldest retry that fell due{postfix}",
        seconds(r.oldest_due),
        seconds(youngest),
        seconds(oldest),
    ));
    (age, Expiry::BeforeNextRetry)
}

/// The roundest span in (`lo`, `hi`] ms: a whole number of the largest unit one fits in.
fn roundest(lo: u64, hi: u64) -> Span {
    const UNITS: [u64; 12] = [
        86_400_000, 43_200_000, 21_600_000, 7_200_000, 3_600_000, 1_800_000, 900_000, 600_000,
        300_000, 60_000, 1000, 1,
    ];
    for unit in UNITS {
        let candidate = (lo / unit + 1) * unit;
        if candidate <= hi {
            return Span::from_millis(candidate);
        }
    }
    Span::from_millis(hi.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_recognised() {
        let mut notes = Notes::default();
        let r = schedule(&[600_000, 1_200_000, 2_400_000, 4_800_000], &mut notes);
        assert_eq!(
            (r.schedule, r.initial, r.factor, r.max),
            (
                Schedule::Exponential,
                Span::from_mins(10),
                2.0,
                Span::from_hours(4)
            )
        );
        let r = schedule(&[600_000, 1_200_000, 2_400_000, 2_400_000], &mut notes);
        assert_eq!((r.factor, r.max), (2.0, Span::from_mins(40)));
        let r = schedule(&[300_000, 310_000, 295_000], &mut notes);
        assert_eq!(
            (r.schedule, r.intervals.clone()),
            (Schedule::Intervals, vec![Span::from_mins(5)])
        );
        let r = schedule(&[60_000, 30_000], &mut notes);
        assert_eq!(r.intervals, vec![Span::from_mins(1), Span::from_secs(30)]);
        assert_eq!(r.initial, Span::from_secs(30));
    }

    /// Retries the moment they were deferred (a queue's own correction can bring a wait to
    /// 0) still make a schedule that compiles: a second at least, max not below initial.
    #[test]
    fn a_wait_rounded_to_nothing_is_a_second() {
        let mut notes = Notes::default();
        for delays in [vec![0], vec![400], vec![0, 0, 0]] {
            let r = schedule(&delays, &mut notes);
            assert_eq!(r.initial, Span::SECOND, "{delays:?}");
            assert!(r.max >= r.initial, "{delays:?}");
        }
    }

    #[test]
    fn the_roundest_age_between_two_bounds() {
        let day = 86_400_000;
        assert_eq!(
            roundest(5 * day - 3_600_000, 5 * day + 1_000_000),
            Span::from_hours(120)
        );
        assert_eq!(roundest(80 * 60_000, 95 * 60_000), Span::from_mins(90));
        assert_eq!(roundest(81_000, 81_500), Span::from_millis(81_001));
        assert_eq!(roundest(10, 10), Span::from_millis(10));
    }

    fn sample(due: u64, delay: u64, age: u64) -> Wait {
        Wait {
            retry: 0,
            age,
            deferred: due - delay,
            due,
            delay,
            exact: true,
        }
    }

    #[test]
    fn queue_runs_are_found_where_due_times_gather() {
        // Due at 7 s past each 5-minute run, with a second's noise.
        let samples: Vec<Wait> = (0..200)
            .map(|i| sample(300_000 * (i % 40 + 1) + 7_000 + (i * 37 % 1000), 60_000, 0))
            .collect();
        let refs: Vec<&Wait> = samples.iter().collect();
        let (q, phase) = queue_runs(&refs).unwrap();
        assert_eq!(q, 300_000);
        assert!((7_000..8_000).contains(&phase), "{phase}");
        // Spread over the whole run: none.
        let spread: Vec<Wait> = (0..200)
            .map(|i| sample(60_000 + i * 12_345, 60_000, 0))
            .collect();
        let refs: Vec<&Wait> = spread.iter().collect();
        assert_eq!(queue_runs(&refs), None);
    }
}
