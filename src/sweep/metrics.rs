//! What a sweep measures in each run, and the mean with a 95% confidence interval over a
//! configuration's replications.

use crate::replies::BounceReason;
use crate::sim::RunResult;
use crate::units::{Span, human_seconds};

use super::values::round9;

/// Metrics that do not depend on the sweep's deadlines, in column order. Latencies and
/// times are in seconds; counts are totals over every destination.
pub const FIXED_METRICS: [&str; 20] = [
    "delivered_share",
    "p50_latency",
    "p95_latency",
    "p99_latency",
    "attempts_per_delivered",
    "attempts",
    "deferrals",
    "bounced",
    "user_unknown_bounces",
    "blocked_bounces",
    "rejected_bounces",
    "flow_control_rule_bounces",
    "blocks",
    "expired",
    "queued",
    "min_reputation",
    "backoff_time",
    "suspended_time",
    "backoff_entries",
    "dfc_holds",
];

/// Whether `metric` is a time (seconds in the files, `3h 59m` where people read it): the
/// one place that knows which metrics are.
pub fn is_duration(metric: &str) -> bool {
    matches!(
        metric,
        "p50_latency" | "p95_latency" | "p99_latency" | "backoff_time" | "suspended_time"
    )
}

/// A value of `metric` for people: a time in human units, anything else by `number`.
pub fn metric_text(metric: &str, value: f64, number: fn(f64) -> String) -> String {
    if is_duration(metric) {
        human_seconds(value)
    } else {
        number(value)
    }
}

/// `delivered_within_<deadline>`, with the deadline written without spaces (`1h30m`).
pub fn deadline_metric(deadline: Span) -> String {
    format!("delivered_within_{}", deadline.to_string().replace(' ', ""))
}

/// Every metric name of a sweep with these deadlines, in column order.
pub fn metric_names(deadlines: &[Span]) -> Vec<String> {
    let mut names = vec![FIXED_METRICS[0].to_string()];
    names.extend(deadlines.iter().map(|d| deadline_metric(*d)));
    names.extend(FIXED_METRICS[1..].iter().map(|m| m.to_string()));
    names
}

/// One run's metrics in [`metric_names`] order (latencies NaN when nothing was delivered,
/// so that delivering nothing never looks fast), rounded to nine significant digits so
/// that sweep.csv is readable and reads back to exactly the same numbers.
pub fn measure(result: &RunResult, deadlines: &[Span]) -> Vec<f64> {
    let t = &result.summary.totals;
    let share = |n: u64| ratio(n as f64, t.injected as f64);
    let latency = |q: f64| {
        if result.latency.count() == 0 {
            f64::NAN
        } else {
            result.latency.quantile(q).as_secs_f64()
        }
    };
    let bounces =
        |reason: BounceReason| t.bounces_by_reason.get(reason.name()).copied().unwrap_or(0) as f64;
    let min_reputation = result
        .summary
        .destinations
        .values()
        .filter_map(|d| d.reputation.map(|r| r.min))
        .reduce(f64::min)
        .unwrap_or(f64::NAN);
    let mut values = vec![share(t.delivered)];
    values.extend(
        deadlines
            .iter()
            .map(|d| share(result.latency.count_at_most(*d))),
    );
    values.extend([
        latency(0.5),
        latency(0.95),
        latency(0.99),
        ratio(t.attempts as f64, t.delivered as f64),
        t.attempts as f64,
        t.deferrals as f64,
        t.bounced as f64,
        bounces(BounceReason::UserUnknown),
        bounces(BounceReason::Blocked),
        bounces(BounceReason::Rejected),
        bounces(BounceReason::FlowControlRule),
        t.blocks as f64,
        t.expired as f64,
        t.queued as f64,
        min_reputation,
        t.time_in_state_s.backoff,
        t.time_in_state_s.suspended,
        t.backoff_entries as f64,
        t.dfc_holds as f64,
    ]);
    values.into_iter().map(round9).collect()
}

/// `a / b`, or NaN when nothing was there to divide (no message injected or delivered).
fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { f64::NAN } else { a / b }
}

/// A mean and its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    /// Mean of `values` with a Student-t 95% interval (zero width for one value); NaN
    /// when any value is NaN, because an undefined metric in one replication leaves the
    /// configuration's mean undefined too.
    pub fn of(values: &[f64]) -> Estimate {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Estimate {
                mean,
                low: mean,
                high: mean,
            };
        }
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t95(n - 1) * (variance / n as f64).sqrt();
        Estimate {
            mean,
            low: mean - half,
            high: mean + half,
        }
    }
}

/// Two-sided 95% Student-t critical values for 1..=30 degrees of freedom.
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The t critical value for `df` degrees of freedom; beyond the table, the value of the
/// next tabulated df below (slightly wide, never narrow).
pub fn t95(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T95[df - 1],
        31..=39 => 2.042,
        40..=59 => 2.021,
        60..=119 => 2.000,
        _ => 1.980,
    }
}
