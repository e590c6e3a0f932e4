//! Running a sweep's runs on every core (rayon), with a progress bar on stderr.
//!
//! Each run is independent and seeded by its replication, and the results are collected
//! in run order, so the rows are the same whatever the number of threads.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU32, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use super::Sweep;
use super::rank::RunRow;
use crate::sim::SimError;

/// Runs `runs` (indices into the sweep's run list) in parallel on the current rayon pool,
/// returning their rows in the order given. `progress` shows a bar counting
/// configurations whose every replication in `runs` has finished; it stays hidden when
/// stderr is not a terminal.
pub fn run_all(sweep: &Sweep, runs: &[usize], progress: bool) -> Result<Vec<RunRow>, SimError> {
    let configurations = Counter::new(sweep, runs);
    let bar = progress_bar(configurations.total(), progress);
    let rows = runs
        .par_iter()
        .map(|&run| {
            let row = sweep.run(run)?;
            if configurations.finish(row.config) {
                bar.inc(1);
            }
            Ok(row)
        })
        .collect::<Result<Vec<_>, SimError>>();
    bar.finish_and_clear();
    rows
}

/// Replications still to run per configuration.
struct Counter(Vec<AtomicU32>);

impl Counter {
    fn new(sweep: &Sweep, runs: &[usize]) -> Counter {
        let counts: Vec<AtomicU32> = (0..sweep.configurations.len())
            .map(|_| AtomicU32::new(0))
            .collect();
        for &run in runs {
            counts[sweep.run_at(run).0].fetch_add(1, Ordering::Relaxed);
        }
        Counter(counts)
    }

    /// Configurations with at least one run.
    fn total(&self) -> u64 {
        self.0
            .iter()
            .filter(|c| c.load(Ordering::Relaxed) > 0)
            .count() as u64
    }

    /// Counts one finished run of `config`; true when it was the configuration's last.
    fn finish(&self, config: usize) -> bool {
        self.0[config].fetch_sub(1, Ordering::AcqRel) == 1
    }
}

fn progress_bar(total: u64, wanted: bool) -> ProgressBar {
    let target = if wanted && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} configurations  {per_sec}  {elapsed} elapsed, ETA {eta}",
        )
        .expect("a valid template"),
    );
    bar
}
