//! Runs of failed connects at one destination, closed into outages: the receiver was
//! down from its first failure (or its last greeting) to midway before the next greeting.

const MINUTE: u64 = 60_000;

/// A run of failed connects, and the outages found.
#[derive(Debug, Clone, Default)]
pub struct Connects {
    /// Start of the last new connection that was greeted (ms since the origin).
    pub last_success: Option<u64>,
    pub run: Option<FailRun>,
    pub outages: Vec<FoundOutage>,
}

#[derive(Debug, Clone, Copy)]
pub struct FailRun {
    /// When the first failed connect started, and when the last one started.
    pub first_start: u64,
    pub last_start: u64,
    pub failures: u32,
    pub refused: u32,
}

/// An outage: connects failed from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoundOutage {
    pub from: u64,
    pub to: u64,
    pub failures: u32,
    pub refused: bool,
    /// Still failing when the log ended.
    pub open: bool,
}

/// Least failed connects, and least span, of an outage.
const OUTAGE_FAILURES: u32 = 5;
const OUTAGE_SPAN: u64 = 2 * MINUTE;

impl Connects {
    pub(super) fn failed(&mut self, start: u64, refused: bool) {
        let run = self.run.get_or_insert(FailRun {
            first_start: start,
            last_start: start,
            failures: 0,
            refused: 0,
        });
        run.last_start = run.last_start.max(start);
        run.failures += 1;
        run.refused += u32::from(refused);
    }

    pub(super) fn greeted(&mut self, start: u64) {
        if let Some(run) = self.run.take() {
            self.close(run, Some(start));
        }
        self.last_success = Some(start);
    }

    /// Ends a run of failures; `until` is the start of the next greeted connection.
    pub(super) fn close(&mut self, run: FailRun, until: Option<u64>) {
        if run.failures < OUTAGE_FAILURES || run.last_start - run.first_start < OUTAGE_SPAN {
            return;
        }
        let from = self
            .last_success
            .map_or(run.first_start, |s| run.first_start.max(s));
        let (to, open) = match until {
            Some(next) => (
                run.last_start + next.saturating_sub(run.last_start) / 2,
                false,
            ),
            None => (run.last_start + 1, true),
        };
        self.outages.push(FoundOutage {
            from,
            to: to.max(from + 1),
            failures: run.failures,
            refused: run.refused * 2 > run.failures,
            open,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_of_failed_connects_is_an_outage() {
        let mut c = Connects::default();
        c.greeted(1_000);
        for i in 0..10 {
            c.failed(60_000 + i * 60_000, i % 3 != 0);
        }
        c.greeted(700_000);
        assert_eq!(
            c.outages,
            vec![FoundOutage {
                from: 60_000,
                to: 650_000,
                failures: 10,
                refused: true,
                open: false,
            }]
        );
        // Four failures, or a short run, are not an outage.
        for i in 0..4 {
            c.failed(800_000 + i * 60_000, false);
        }
        c.greeted(1_100_000);
        for i in 0..10 {
            c.failed(1_200_000 + i * 1_000, false);
        }
        c.greeted(1_300_000);
        assert_eq!(c.outages.len(), 1);
    }
}
