//! A fixed-size log-linear histogram of delivery latencies: flat memory whatever the number
//! of messages, percentiles within 1.6% (64 buckets per doubling), exact maximum.
//! Buckets are computed on whole milliseconds.

use crate::units::Span;

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Enough octaves for any duration that fits in 2^48 ms (about 8,900 years).
const BUCKETS: usize = (SUB + (48 - SUB_BITS as u64) * SUB) as usize;

#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of(value: u64) -> usize {
    let value = value.min((1 << 48) - 1);
    if value < SUB {
        return value as usize;
    }
    let octave = 63 - value.leading_zeros();
    let sub = (value >> (octave - SUB_BITS)) & (SUB - 1);
    (SUB + (octave - SUB_BITS) as u64 * SUB + sub) as usize
}

/// The smallest value and the width of bucket `index`.
fn bucket_range(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < SUB {
        return (index, 1);
    }
    let octave = (index - SUB) / SUB + SUB_BITS as u64;
    let sub = (index - SUB) % SUB;
    let width = 1 << (octave - SUB_BITS as u64);
    ((1 << octave) + sub * width, width)
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    pub fn record(&mut self, value: Span) {
        let value = value.as_millis();
        self.counts[bucket_of(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> Span {
        Span::from_millis(self.max)
    }

    /// The value below which a share `q` of the recorded values fall (the middle of its
    /// bucket, never above the maximum); 0 when empty.
    pub fn quantile(&self, q: f64) -> Span {
        Span::from_millis(self.quantile_ms(q))
    }

    fn quantile_ms(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = bucket_range(index);
                return (low + width / 2).min(self.max);
            }
        }
        self.max
    }

    /// How many recorded values are at most `limit` (exact at bucket edges, otherwise
    /// counting the whole bucket that holds `limit`).
    pub fn count_at_most(&self, limit: Span) -> u64 {
        let limit = limit.as_millis();
        if limit >= self.max {
            return self.total;
        }
        self.counts[..=bucket_of(limit)].iter().sum()
    }

    /// Adds another histogram's values.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_contiguously() {
        let mut expected_low = 0;
        for index in 0..BUCKETS {
            let (low, width) = bucket_range(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert_eq!(bucket_of(low), index);
            assert_eq!(bucket_of(low + width - 1), index);
            expected_low = low + width;
        }
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 1..=50 {
            h.record(Span::from_millis(v));
        }
        assert_eq!(h.quantile(0.5).as_millis(), 25);
        assert_eq!(h.quantile(0.9).as_millis(), 45);
        assert_eq!(h.quantile(1.0).as_millis(), 50);
        assert_eq!(h.max().as_millis(), 50);
    }

    #[test]
    fn large_values_are_within_two_percent() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(Span::from_millis(v * 1000));
        }
        for q in [0.5, 0.9, 0.99] {
            let exact = q * 100_000_000.0;
            let got = h.quantile(q).as_millis() as f64;
            assert!((got / exact - 1.0).abs() < 0.016, "q{q}: {got} vs {exact}");
        }
        assert_eq!(h.max().as_millis(), 100_000_000);
        assert_eq!(h.quantile(1.0).as_millis(), 100_000_000);
    }

    #[test]
    fn empty_and_merged() {
        let mut a = Histogram::new();
        assert_eq!(a.quantile(0.5).as_millis(), 0);
        let mut b = Histogram::new();
        a.record(Span::from_millis(10));
        b.record(Span::from_millis(30));
        b.record(Span::from_millis(40));
        a.merge(&b);
        assert_eq!(
            (a.count(), a.max().as_millis(), a.quantile(0.5).as_millis()),
            (3, 40, 30)
        );
        assert_eq!(
            (
                a.count_at_most(Span::from_millis(9)),
                a.count_at_most(Span::from_millis(10)),
                a.count_at_most(Span::from_millis(39)),
                a.count_at_most(Span::from_millis(40))
            ),
            (0, 1, 2, 3)
        );
    }
}
