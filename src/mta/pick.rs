//! Picking a receiver by share in constant time: Vose's alias method.
//!
//! A binary search over 100,000 cumulative shares misses the cache on every message; the
//! alias table answers with one uniform index, one uniform fraction and two reads.

use rand::Rng;

/// A table for drawing index i with probability weight_i / sum(weights).
#[derive(Debug, Clone)]
pub struct AliasTable {
    /// Per column: the probability of keeping the column's own index, and its alias.
    columns: Vec<(f64, u32)>,
    /// The index each column stands for: zero weights get no column, so adding one
    /// changes no draw.
    indices: Vec<u32>,
}

impl AliasTable {
    /// Builds the table; weights must be finite, non-negative and not all zero.
    pub fn new(all_weights: &[f64]) -> Self {
        let indices: Vec<u32> = (0..all_weights.len() as u32)
            .filter(|&i| all_weights[i as usize] > 0.0)
            .collect();
        let weights: Vec<f64> = indices.iter().map(|&i| all_weights[i as usize]).collect();
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut columns = vec![(1.0, 0); n];
        let (mut small, mut large): (Vec<u32>, Vec<u32>) =
            (0..n as u32).partition(|&i| scaled[i as usize] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            columns[s as usize] = (scaled[s as usize], l);
            scaled[l as usize] -= 1.0 - scaled[s as usize];
            if scaled[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in large.into_iter().chain(small) {
            columns[i as usize] = (1.0, i);
        }
        AliasTable { columns, indices }
    }

    /// Draws an index (u32 draws only, so the result does not depend on the platform).
    pub fn sample(&self, rng: &mut impl Rng) -> u32 {
        let column = rng.random_range(0..self.columns.len() as u32);
        let (keep, alias) = self.columns[column as usize];
        let chosen = if rng.random::<f64>() < keep {
            column
        } else {
            alias
        };
        self.indices[chosen as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn draws_follow_the_weights() {
        let weights = [5.0, 0.0, 1.0, 3.0, 1.0];
        let table = AliasTable::new(&weights);
        let mut rng = stream(9, "alias");
        let mut counts = [0u32; 5];
        let draws = 200_000;
        for _ in 0..draws {
            counts[table.sample(&mut rng) as usize] += 1;
        }
        assert_eq!(counts[1], 0, "a zero weight is never drawn");
        for (i, &w) in weights.iter().enumerate() {
            let expected = w / 10.0 * draws as f64;
            let sd = (expected * (1.0 - w / 10.0)).sqrt().max(1.0);
            assert!(
                (counts[i] as f64 - expected).abs() < 5.0 * sd,
                "index {i}: {} vs {expected}",
                counts[i]
            );
        }
    }

    #[test]
    fn a_single_weight_is_always_drawn() {
        let table = AliasTable::new(&[0.3]);
        let mut rng = stream(1, "alias");
        assert!((0..100).all(|_| table.sample(&mut rng) == 0));
    }
}
