//! Small streaming statistics the estimators share: log-normal moments and a compact
//! histogram cheap enough to keep one per destination.

/// Sums of `ln x` and `(ln x)^2` over positive samples: a log-normal fit without storing
/// the samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMoments {
    pub count: u64,
    sum: f64,
    sum_sq: f64,
}

impl LogMoments {
    /// Adds a sample in milliseconds; zero (below the log's resolution) is skipped.
    pub fn add(&mut self, ms: u64) {
        if ms == 0 {
            return;
        }
        let l = (ms as f64).ln();
        self.count += 1;
        self.sum += l;
        self.sum_sq += l * l;
    }

    pub fn merge(&mut self, other: &LogMoments) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
    }

    /// The fitted median (ms) and sigma, from at least `min` samples.
    pub fn fit(&self, min: u64) -> Option<(u64, f64)> {
        if self.count < min.max(2) {
            return None;
        }
        let n = self.count as f64;
        let mean = self.sum / n;
        let variance = (self.sum_sq / n - mean * mean).max(0.0) * n / (n - 1.0);
        Some((mean.exp().round().max(1.0) as u64, variance.sqrt()))
    }
}

/// Sub-buckets per doubling: percentiles within about 4.4 %.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;

/// A log-linear histogram of durations in ms whose buckets are allocated as values arrive
/// (about 1 KB for durations up to days), so every destination of a log can have one.
#[derive(Debug, Clone, Default)]
pub struct CoarseHistogram {
    counts: Vec<u32>,
    total: u64,
}

fn bucket_of(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let octave = 63 - value.leading_zeros();
    let sub = (value >> (octave - SUB_BITS)) & (SUB - 1);
    (SUB + (octave - SUB_BITS) as u64 * SUB + sub) as usize
}

/// The middle of bucket `index`.
fn bucket_middle(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let octave = (index - SUB) / SUB + SUB_BITS as u64;
    let sub = (index - SUB) % SUB;
    let width = 1u64 << (octave - SUB_BITS as u64);
    (1u64 << octave) + sub * width + width / 2
}

impl CoarseHistogram {
    pub fn record(&mut self, ms: u64) {
        let b = bucket_of(ms.min(1 << 48));
        if b >= self.counts.len() {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] = self.counts[b].saturating_add(1);
        self.total += 1;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn merge(&mut self, other: &CoarseHistogram) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.total += other.total;
    }

    /// The `q` quantile in ms (0 when empty).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n as u64;
            if seen >= rank {
                return bucket_middle(i);
            }
        }
        bucket_middle(self.counts.len().saturating_sub(1))
    }
}

/// The `q` quantile of `values` by nearest rank (0 when empty).
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

/// The value below which half the weight of (value, weight) pairs lies (0 when empty).
pub fn weighted_median(mut pairs: Vec<(f64, f64)>) -> f64 {
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let half = pairs.iter().map(|p| p.1).sum::<f64>() / 2.0;
    let mut seen = 0.0;
    for (value, weight) in &pairs {
        seen += weight;
        if seen >= half {
            return *value;
        }
    }
    0.0
}

/// The median of `values` (0 when empty); sorts them.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_moments_fit_a_lognormal() {
        let mut m = LogMoments::default();
        for ms in [100, 1000, 10_000] {
            m.add(ms);
        }
        m.add(0);
        let (median, sigma) = m.fit(3).unwrap();
        assert_eq!(median, 1000);
        // ln 10 = 2.3026: the sample standard deviation of (-2.3, 0, 2.3) is 2.3026.
        assert!((sigma - 10f64.ln()).abs() < 1e-9, "{sigma}");
        assert_eq!(m.fit(4), None);
    }

    #[test]
    fn coarse_quantiles_are_within_their_bucket() {
        let mut h = CoarseHistogram::default();
        for ms in 1..=10_000 {
            h.record(ms);
        }
        for (q, want) in [(0.5, 5000.0), (0.9, 9000.0), (0.99, 9900.0)] {
            let got = h.quantile(q) as f64;
            assert!((got / want - 1.0).abs() < 0.045, "{q}: {got}");
        }
        assert_eq!(CoarseHistogram::default().quantile(0.5), 0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), 2.5);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&hundred, 0.99), 99.0);
        assert_eq!(quantile(&hundred, 0.0), 1.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
        // One heavy bin outweighs three light ones.
        assert_eq!(
            weighted_median(vec![(0.6, 50.0), (0.6, 50.0), (0.0, 500.0), (0.6, 50.0)]),
            0.0
        );
        assert_eq!(
            weighted_median(vec![(3.0, 1.0), (1.0, 1.0), (2.0, 1.0)]),
            2.0
        );
        assert_eq!(weighted_median(Vec::new()), 0.0);
    }
}
