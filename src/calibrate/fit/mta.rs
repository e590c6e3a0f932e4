//! The sending MTA's estimators: its retry schedule and maximum age, its own failures,
//! the sessions it held open, and the long tail's Zipf exponent.

use super::{Notes, ms, seconds};
use crate::calibrate::collect::{Evidence, RETRIES};
use crate::calibrate::stats::median;
use crate::mta::config::{ErrorWindow, InternalErrors, Jitter, RetryConfig, Schedule};
use crate::units::Span;

/// Attempts a bin needs to count toward the MTA's own error rate.
const MIN_BIN_ATTEMPTS: u32 = 20;
/// Spacings a retry number needs to be fitted.
const MIN_SPACINGS: u64 = 20;

/// The retry schedule from the spacing of each message's attempts after a deferral.
pub fn retry(e: &Evidence, notes: &mut Notes) -> RetryConfig {
    let defaults = RetryConfig::default();
    let fitted: Vec<usize> = (0..RETRIES)
        .take_while(|&n| e.retries[n].count() >= MIN_SPACINGS)
        .collect();
    let Some(&first) = fitted.first() else {
        notes.fallback(format!(
            "mta.retry: the default schedule, because the log has {} retries after a deferral (a fit needs {MIN_SPACINGS})",
            e.retries[0].count()
        ));
        return RetryConfig {
            max_age: max_age(e, notes),
            ..defaults
        };
    };
    let h = &e.retries[first];
    let (p10, p90) = (
        h.quantile(0.1).as_millis() as f64,
        h.quantile(0.9).as_millis() as f64,
    );
    let spread = p10 / p90.max(1.0);
    let (jitter, scale) = if spread < 0.3 {
        (Jitter::Full, 2.0)
    } else if spread < 0.8 {
        (Jitter::Equal, 1.0 / 0.75)
    } else {
        (Jitter::None, 1.0)
    };
    let delays: Vec<u64> = fitted
        .iter()
        .map(|&n| (e.retries[n].quantile(0.5).as_millis() as f64 * scale).round() as u64)
        .collect();
    let jitter_name = match jitter {
        Jitter::Full => "full",
        Jitter::Equal => "equal",
        _ => "none",
    };
    notes.say(format!(
        "mta.retry.jitter: {jitter_name}, from the spread of first retries (p10/p90 = {spread:.2} over {} retries)",
        h.count()
    ));
    let schedule = schedule(&delays, notes);
    RetryConfig {
        jitter,
        max_age: max_age(e, notes),
        ..schedule
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
            "mta.retry: exponential, initial {} factor {factor} max {max}{}, from the median spacing of retries 1 to {} ({})",
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
    let intervals: Vec<Span> = if constant {
        vec![seconds(delays[0])]
    } else {
        delays.iter().map(|&d| seconds(d)).collect()
    };
    notes.say(format!(
        "mta.retry: intervals {}, from the median spacing of retries 1 to {} ({})",
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
        initial: initial.max(Span::SECOND),
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

/// The youngest expired message's age; without expirations the default, or more than the
/// oldest message seen.
fn max_age(e: &Evidence, notes: &mut Notes) -> Span {
    let default = RetryConfig::default().max_age;
    if e.expiry_ages.count() > 0 {
        let youngest = e.expiry_ages.quantile(0.0);
        let age = Span::from_mins(youngest.as_millis() / 60_000).max(Span::MINUTE);
        notes.say(format!(
            "mta.retry.max_age: {age}, the youngest of {} expired messages",
            e.expiry_ages.count()
        ));
        return age;
    }
    let oldest = Span::from_millis(e.oldest);
    let age = default.max(Span::from_hours(oldest.as_millis() / 3_600_000 + 1));
    notes.fallback(format!(
        "mta.retry.max_age: {age}: no message expired in the log (the oldest seen was {}), so the default or more",
        seconds(e.oldest)
    ));
    age
}

/// The MTA's own failures: a base rate, and windows where it is well above it.
pub fn internal_errors(e: &Evidence, notes: &mut Notes) -> InternalErrors {
    let total: u64 = e.mta_bins.iter().map(|b| u64::from(b.1)).sum();
    if total == 0 {
        return InternalErrors::default();
    }
    let mut rates: Vec<f64> = e
        .mta_bins
        .iter()
        .filter(|b| b.0 >= MIN_BIN_ATTEMPTS)
        .map(|b| f64::from(b.1) / f64::from(b.0))
        .collect();
    let baseline = median(&mut rates);
    let threshold = (3.0 * baseline).max(baseline + 0.02);
    let mut windows: Vec<(usize, usize, u64, u64)> = Vec::new();
    for (i, &(attempts, internal)) in e.mta_bins.iter().enumerate() {
        let high =
            attempts >= MIN_BIN_ATTEMPTS && f64::from(internal) / f64::from(attempts) >= threshold;
        if !high {
            continue;
        }
        match windows.last_mut() {
            Some(w) if w.1 + 1 == i => {
                w.1 = i;
                w.2 += u64::from(internal);
                w.3 += u64::from(attempts);
            }
            _ => windows.push((i, i, u64::from(internal), u64::from(attempts))),
        }
    }
    let inside = |i: usize| windows.iter().any(|w| (w.0..=w.1).contains(&i));
    let (mut internal, mut attempts) = (0u64, 0u64);
    for (i, b) in e.mta_bins.iter().enumerate() {
        if !inside(i) {
            internal += u64::from(b.1);
            attempts += u64::from(b.0);
        }
    }
    let probability = if attempts > 0 {
        (internal as f64 / attempts as f64 * 100_000.0).round() / 100_000.0
    } else {
        0.0
    };
    notes.say(format!(
        "mta.internal_errors.probability: {probability} ({internal} of {attempts} new connections outside windows failed inside the MTA)"
    ));
    let windows = windows
        .iter()
        .map(|&(first, last, internal, attempts)| {
            let p = (internal as f64 / attempts as f64 * 1000.0).round() / 1000.0;
            let (from, to) = (
                ms(first as u64 * e.bin),
                ms((last as u64 + 1) * e.bin),
            );
            notes.say(format!(
                "mta.internal_errors.windows: {from} to {to} with probability {p} ({internal} of {attempts} new connections)"
            ));
            ErrorWindow {
                from,
                to,
                probability: p,
            }
        })
        .collect();
    InternalErrors {
        probability,
        windows,
    }
}

/// Sessions open at once (Postfix busy time per minute, the highest minute): of one
/// destination, or of all.
pub fn concurrency(busy: impl Iterator<Item = u64>) -> Option<u32> {
    busy.max()
        .filter(|&b| b > 0)
        .map(|b| (b as f64 / 60_000.0).ceil() as u32)
}

/// The Zipf exponent that gives the largest of `volumes` (sorted, most first) the same
/// part of their total as in the log: the head of a population is what reaches flow
/// control's thresholds. In [0, 3]; 1 with fewer than three volumes.
pub fn zipf_exponent(volumes: &[u64]) -> f64 {
    let total: u64 = volumes.iter().sum();
    let largest = volumes.first().copied().unwrap_or(0);
    if volumes.len() < 3 || largest == 0 {
        return 1.0;
    }
    let want = total as f64 / largest as f64;
    let n = volumes.len();
    let harmonic = |s: f64| (1..=n).map(|k| (k as f64).powf(-s)).sum::<f64>();
    let (mut lo, mut hi) = (0.0, 3.0);
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        // The harmonic number falls as the exponent grows.
        if harmonic(mid) > want {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    ((lo + hi) / 2.0 * 100.0).round() / 100.0
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

    #[test]
    fn zipf_exponents_are_fitted() {
        let volumes: Vec<u64> = (1..=50)
            .map(|k| (1e6 / (k as f64).powf(1.2)) as u64)
            .collect();
        assert_eq!(zipf_exponent(&volumes), 1.2);
        assert_eq!(zipf_exponent(&[10, 10, 10, 10]), 0.0);
        assert_eq!(zipf_exponent(&[5, 3]), 1.0);
        assert_eq!(concurrency([30_000, 600_001].into_iter()), Some(11));
        assert_eq!(concurrency(std::iter::empty()), None);
    }
}
