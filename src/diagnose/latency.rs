//! Delivery latencies of one destination in little memory: the first few exactly, then the
//! run's log-linear [`Histogram`], so a log's long tail of small domains stays small.

use crate::metrics::Histogram;
use crate::units::Span;

/// Latencies kept exactly before a histogram (22 KB) is worth it.
const EXACT: usize = 32;

#[derive(Debug, Clone)]
pub enum Latency {
    Few(Vec<Span>),
    Many(Box<Histogram>),
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Few(Vec::new())
    }
}

impl Latency {
    pub fn record(&mut self, value: Span) {
        match self {
            Latency::Few(values) if values.len() < EXACT => values.push(value),
            Latency::Few(values) => {
                let mut h = Histogram::new();
                for v in values.iter() {
                    h.record(*v);
                }
                h.record(value);
                *self = Latency::Many(Box::new(h));
            }
            Latency::Many(h) => h.record(value),
        }
    }

    pub fn count(&self) -> u64 {
        match self {
            Latency::Few(values) => values.len() as u64,
            Latency::Many(h) => h.count(),
        }
    }

    /// The `q` quantile (nearest rank on the exact values, as the histogram rounds).
    pub fn quantile(&self, q: f64) -> Span {
        match self {
            Latency::Few(values) if values.is_empty() => Span::ZERO,
            Latency::Few(values) => {
                let mut sorted = values.clone();
                sorted.sort_unstable();
                let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
                sorted[rank - 1]
            }
            Latency::Many(h) => h.quantile(q),
        }
    }

    pub fn max(&self) -> Span {
        match self {
            Latency::Few(values) => values.iter().copied().max().unwrap_or(Span::ZERO),
            Latency::Many(h) => h.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_histogram() {
        let mut l = Latency::default();
        for s in 1..=10 {
            l.record(Span::from_secs(s));
        }
        assert_eq!(l.quantile(0.5), Span::from_secs(5));
        assert_eq!(l.quantile(0.9), Span::from_secs(9));
        assert_eq!(l.max(), Span::from_secs(10));
        for s in 11..=100 {
            l.record(Span::from_secs(s));
        }
        assert!(matches!(l, Latency::Many(_)));
        assert_eq!(l.count(), 100);
        let p50 = l.quantile(0.5).as_millis() as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.02, "{p50}");
        assert_eq!(l.max(), Span::from_secs(100));
    }
}
