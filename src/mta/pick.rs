//! Picking a receiver by share in constant time: Vose's alias method.
//!
//! A binary search over 100,000 cumulative shares misses the cache on every message; the
//! alias table answers with one uniform index, one uniform fraction and one read.

use rand::Rng;

/// A table for drawing item i with probability weight_i / sum(weights). Each column holds
/// both of its items (not their indices), so a draw reads one entry.
#[derive(Debug, Clone)]
pub struct AliasTable<T = u32> {
    columns: Vec<Column<T>>,
}

/// The probability of keeping the column's own item, the item, and its alias.
#[derive(Debug, Clone, Copy)]
struct Column<T> {
    keep: f64,
    own: T,
    alias: T,
}

impl AliasTable {
    /// Builds the table of indices into `all_weights`; weights must be finite,
    /// non-negative and not all zero. Zero weights get no column, so adding one changes no
    /// draw.
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
        let columns = columns
            .iter()
            .enumerate()
            .map(|(own, &(keep, alias))| Column {
                keep,
                own: indices[own],
                alias: indices[alias as usize],
            })
            .collect();
        AliasTable { columns }
    }
}

impl<T: Copy> AliasTable<T> {
    /// The same table with each item replaced by `f(item)`: the draws do not change.
    pub fn map<U>(&self, f: impl Fn(T) -> U) -> AliasTable<U> {
        let columns = self
            .columns
            .iter()
            .map(|c| Column {
                keep: c.keep,
                own: f(c.own),
                alias: f(c.alias),
            })
            .collect();
        AliasTable { columns }
    }

    /// Starts fetching the column the next draw from `rng` will read.
    pub fn prefetch_next(&self, rng: &(impl Rng + Clone)) {
        let column = rng.clone().random_range(0..self.columns.len() as u32);
        prefetch(&self.columns[column as usize]);
    }

    /// Draws an item (u32 draws only, so the result does not depend on the platform).
    pub fn sample(&self, rng: &mut impl Rng) -> T {
        let column = self.columns[rng.random_range(0..self.columns.len() as u32) as usize];
        if rng.random::<f64>() < column.keep {
            column.own
        } else {
            column.alias
        }
    }
}

/// A hint to the CPU to bring every cache line of `value` in: no effect on any result, and
/// a no-op where there is no prefetch instruction to give it.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = (value as *const T).cast::<i8>();
        for line in lines(start.addr(), size_of::<T>()) {
            // SAFETY: a prefetch never faults and reads nothing the program can observe;
            // the line holds part of `value`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.with_addr(line)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// The start of every 64-byte cache line that `size` bytes at `address` touch: one more
/// than the size suggests when they do not start on a line.
#[cfg(any(target_arch = "x86_64", test))]
#[inline(always)]
fn lines(address: usize, size: usize) -> impl Iterator<Item = usize> {
    const LINE: usize = 64;
    let (first, last) = (address / LINE, (address + size.max(1) - 1) / LINE);
    (first..last + 1).map(|line| line * LINE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn a_value_across_lines_is_fetched_whole() {
        let starts = |address, size| lines(address, size).collect::<Vec<_>>();
        assert_eq!(starts(0, 304), [0, 64, 128, 192, 256]);
        assert_eq!(starts(48, 304), [0, 64, 128, 192, 256, 320]);
        assert_eq!(starts(48, 96), [0, 64, 128]);
        assert_eq!(starts(64, 64), [64]);
        assert_eq!(starts(70, 0), [64]);
    }

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
