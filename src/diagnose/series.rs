//! The time series: each reported destination's sparse intervals made dense, with the
//! worst flow-control state of each interval, and the total's row with how many destinations
//! were in backoff and suspended.

use super::destination::{Bucket, Counts};
use super::{Row, Run};
use crate::flow_control::State;
use crate::logs::LogReader;
use crate::units::{Instant, Span};

impl Run {
    /// Dense rows from the origin to `end`: each reported destination's, then the total's.
    pub(super) fn series(
        &self,
        reader: &LogReader,
        reported: &[usize],
        end: Instant,
    ) -> Vec<(String, Vec<Row>)> {
        let intervals = (end - Instant::ZERO).as_millis() / self.interval.as_millis() + 1;
        let mut out = Vec::with_capacity(reported.len() + 1);
        let mut in_backoff = vec![0u64; intervals as usize];
        let mut suspended = vec![0u64; intervals as usize];
        for d in &self.destinations {
            if d.states.is_empty() {
                continue;
            }
            let worst = worst_states(&d.states, self.interval, intervals);
            for (i, state) in worst.iter().enumerate() {
                match state {
                    State::Backoff => in_backoff[i] += 1,
                    State::Suspended => suspended[i] += 1,
                    State::Normal => {}
                }
            }
        }
        for &i in reported {
            let d = &self.destinations[i];
            let worst = worst_states(&d.states, self.interval, intervals);
            let mut rows = dense(&d.series, self.interval, intervals);
            for (row, state) in rows.iter_mut().zip(worst) {
                row.state = Some(state);
            }
            out.push((reader.text(d.name).to_string(), rows));
        }
        let mut total = dense(&self.total, self.interval, intervals);
        for (i, row) in total.iter_mut().enumerate() {
            row.in_backoff = in_backoff[i];
            row.suspended = suspended[i];
        }
        out.push(("*".to_string(), total));
        out
    }
}

/// A sparse series as one row per interval.
fn dense(series: &[Bucket], interval: Span, intervals: u64) -> Vec<Row> {
    let mut rows: Vec<Row> = (0..intervals)
        .map(|i| Row {
            start: Instant::ZERO + interval * i,
            counts: Counts::default(),
            state: None,
            in_backoff: 0,
            suspended: 0,
        })
        .collect();
    for b in series {
        if let Some(row) = rows.get_mut(b.index as usize) {
            row.counts.merge(&b.counts);
        }
    }
    rows
}

fn rank(state: State) -> u8 {
    match state {
        State::Normal => 0,
        State::Backoff => 1,
        State::Suspended => 2,
    }
}

/// Per interval, the worst state a destination was in during it.
fn worst_states(states: &[(Instant, State)], interval: Span, intervals: u64) -> Vec<State> {
    let mut worst = vec![State::Normal; intervals as usize];
    let mut current = State::Normal;
    let mut from = Instant::ZERO;
    let paint = |from: Instant, to: Option<Instant>, state: State, worst: &mut Vec<State>| {
        if state == State::Normal {
            return;
        }
        let first = (from - Instant::ZERO).as_millis() / interval.as_millis();
        let last = to.map_or(intervals - 1, |t| {
            ((t - Instant::ZERO).as_millis().saturating_sub(1) / interval.as_millis()).max(first)
        });
        for w in worst
            .iter_mut()
            .take(last as usize + 1)
            .skip(first as usize)
        {
            if rank(state) > rank(*w) {
                *w = state;
            }
        }
    };
    for &(at, state) in states {
        paint(from, Some(at), current, &mut worst);
        current = state;
        from = at;
    }
    paint(from, None, current, &mut worst);
    worst
}
