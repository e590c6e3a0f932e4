//! From samples to what a chart draws: a time unit people read at a glance, series thinned
//! to a bounded number of points, and state bands as runs rather than per-sample boxes.

use crate::flow_control::State;
use crate::metrics::Sample;
use crate::units::{Instant, Span};

/// At most this many points per line: more is invisible at chart width and slows drawing.
pub const MAX_POINTS: usize = 1200;

/// The unit of the time axis, chosen by run length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Minutes,
    Hours,
    Days,
}

impl TimeUnit {
    /// Minutes up to three hours, hours up to three days, then days.
    pub fn for_duration(duration: Span) -> Self {
        if duration <= 3 * Span::HOUR {
            TimeUnit::Minutes
        } else if duration <= 3 * Span::DAY {
            TimeUnit::Hours
        } else {
            TimeUnit::Days
        }
    }

    pub fn span(self) -> Span {
        match self {
            TimeUnit::Minutes => Span::MINUTE,
            TimeUnit::Hours => Span::HOUR,
            TimeUnit::Days => Span::DAY,
        }
    }

    /// A time as a position on the axis.
    pub fn x(self, time: Instant) -> f64 {
        (time - Instant::ZERO).as_millis() as f64 / self.span().as_millis() as f64
    }

    /// The axis label, with its unit.
    pub fn axis_label(self) -> &'static str {
        match self {
            TimeUnit::Minutes => "simulated time (minutes)",
            TimeUnit::Hours => "simulated time (hours)",
            TimeUnit::Days => "simulated time (days)",
        }
    }

    /// The axis label of a real log's time.
    pub fn log_axis_label(self) -> &'static str {
        match self {
            TimeUnit::Minutes => "time since the first log record (minutes)",
            TimeUnit::Hours => "time since the first log record (hours)",
            TimeUnit::Days => "time since the first log record (days)",
        }
    }
}

/// One drawn point: depths and limits as sampled at the end of its bucket of samples,
/// outcome counts summed over the bucket and scaled to per minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub ready: f64,
    pub waiting: f64,
    pub in_flight: f64,
    pub delivered_per_min: f64,
    pub deferred_per_min: f64,
    pub bounced_per_min: f64,
    pub concurrency_limit: Option<f64>,
    pub rate_limit_per_hour: Option<f64>,
    pub reputation: Option<f64>,
    pub in_backoff: f64,
    pub suspended: f64,
}

/// Thins one destination's (or the total's) samples to at most [`MAX_POINTS`] points.
/// `interval` is the sample interval, which per-interval counts are divided by.
pub fn points(rows: &[&Sample], interval: Span, unit: TimeUnit) -> Vec<Point> {
    let stride = rows.len().div_ceil(MAX_POINTS).max(1);
    let per_minute =
        Span::MINUTE.as_millis() as f64 / (interval.as_millis().max(1) * stride as u64) as f64;
    rows.chunks(stride)
        .map(|bucket| {
            let last = bucket[bucket.len() - 1];
            let sum = |f: fn(&Sample) -> u64| bucket.iter().map(|s| f(s)).sum::<u64>() as f64;
            Point {
                x: unit.x(last.time),
                ready: last.ready as f64,
                waiting: last.waiting as f64,
                in_flight: last.in_flight as f64,
                delivered_per_min: sum(|s| s.counts.delivered) * per_minute,
                deferred_per_min: sum(|s| s.counts.deferred) * per_minute,
                bounced_per_min: sum(|s| s.counts.bounced) * per_minute,
                concurrency_limit: last.concurrency_limit.map(f64::from),
                rate_limit_per_hour: last.rate_limit_per_hour,
                reputation: last.reputation,
                in_backoff: bucket.iter().map(|s| s.in_backoff).max().unwrap_or(0) as f64,
                suspended: bucket.iter().map(|s| s.suspended).max().unwrap_or(0) as f64,
            }
        })
        .collect()
}

/// A stretch of time in one state, in axis units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub state: State,
}

/// Runs of consecutive samples that `classify` puts in the same state; a sample stands
/// for the interval that follows it. Computed at full resolution because runs are few.
pub fn bands(
    rows: &[&Sample],
    interval: Span,
    unit: TimeUnit,
    classify: impl Fn(&Sample) -> Option<State>,
) -> Vec<Band> {
    let mut bands: Vec<Band> = Vec::new();
    let mut open: Option<(Instant, State)> = None;
    let mut last_end = Instant::ZERO;
    for sample in rows {
        let state = classify(sample);
        if open.map(|(_, s)| Some(s)) != Some(state) {
            if let Some((from, s)) = open.take() {
                bands.push(band(unit, from, sample.time, s));
            }
            open = state.map(|s| (sample.time, s));
        }
        last_end = sample.time + interval;
    }
    if let Some((from, s)) = open {
        bands.push(band(unit, from, last_end, s));
    }
    bands
}

fn band(unit: TimeUnit, from: Instant, to: Instant, state: State) -> Band {
    Band {
        from: unit.x(from),
        to: unit.x(to),
        state,
    }
}

/// The largest value, at least `floor`, with 8% headroom so lines do not touch the frame.
pub fn axis_max(values: impl Iterator<Item = f64>, floor: f64) -> f64 {
    values.fold(floor, f64::max) * 1.08
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Interval;

    fn sample(ms: u64, state: Option<State>, delivered: u64) -> Sample {
        Sample {
            time: Instant::from_millis(ms),
            destination: None,
            ready: ms / 1000,
            waiting: 0,
            in_flight: 0,
            counts: Interval {
                delivered,
                ..Interval::default()
            },
            state,
            concurrency_limit: None,
            rate_limit_per_hour: None,
            reputation: None,
            receiver_blocking: None,
            receiver_tokens: None,
            in_backoff: 0,
            suspended: 0,
        }
    }

    #[test]
    fn unit_follows_run_length() {
        assert_eq!(TimeUnit::for_duration(2 * Span::HOUR), TimeUnit::Minutes);
        assert_eq!(TimeUnit::for_duration(24 * Span::HOUR), TimeUnit::Hours);
        assert_eq!(TimeUnit::for_duration(5 * Span::DAY), TimeUnit::Days);
        assert_eq!(TimeUnit::Hours.x(Instant::ZERO + Span::from_mins(90)), 1.5);
    }

    #[test]
    fn long_series_are_thinned_and_rates_stay_per_minute() {
        let samples: Vec<Sample> = (0..5000).map(|i| sample(i * 30_000, None, 10)).collect();
        let rows: Vec<&Sample> = samples.iter().collect();
        let points = points(&rows, Span::from_secs(30), TimeUnit::Hours);
        assert!(points.len() <= MAX_POINTS);
        // 10 per 30 s is 20 per minute whatever the bucket size.
        assert!(
            points
                .iter()
                .all(|p| (p.delivered_per_min - 20.0).abs() < 1e-9)
        );
    }

    #[test]
    fn bands_merge_runs_and_close_at_the_end() {
        let states = [
            None,
            Some(State::Backoff),
            Some(State::Backoff),
            None,
            Some(State::Suspended),
        ];
        let samples: Vec<Sample> = states
            .iter()
            .enumerate()
            .map(|(i, s)| sample(i as u64 * 60_000, *s, 0))
            .collect();
        let rows: Vec<&Sample> = samples.iter().collect();
        let bands = bands(&rows, Span::MINUTE, TimeUnit::Minutes, |s| s.state);
        assert_eq!(
            bands,
            vec![
                Band {
                    from: 1.0,
                    to: 3.0,
                    state: State::Backoff
                },
                Band {
                    from: 4.0,
                    to: 5.0,
                    state: State::Suspended
                },
            ]
        );
    }
}
