//! The sending MTA's estimators besides its retries and flow control: its own failures,
//! the sessions it held open, and the long tail's Zipf exponent.

use super::{Notes, ms};
use crate::calibrate::collect::Evidence;
use crate::calibrate::stats::median;
use crate::mta::config::{ErrorWindow, InternalErrors};

/// Attempts a bin needs to count toward the MTA's own error rate.
const MIN_BIN_ATTEMPTS: u32 = 20;

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
