//! What a sweep measures in each run, and the mean with a 95% confidence interval over a
//! configuration's replications.

use std::fmt;
use std::str::FromStr;

use crate::replies::BounceReason;
use crate::sim::RunResult;
use crate::units::{Span, human_seconds};

use super::values::round9;

/// One number a sweep measures in each run. Latencies and times are in seconds; counts
/// are totals over every destination. Names, parsing and measuring live together here, so
/// they cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Share of injected messages delivered.
    DeliveredShare,
    /// Share of injected messages delivered within the deadline.
    DeliveredWithin(Span),
    P50Latency,
    P95Latency,
    P99Latency,
    AttemptsPerDelivered,
    Attempts,
    Deferrals,
    Bounced,
    /// Bounces for one reason.
    Bounces(BounceReason),
    Blocks,
    Expired,
    Queued,
    /// Lowest reputation over the receivers that keep one.
    MinReputation,
    BackoffTime,
    SuspendedTime,
    BackoffEntries,
    DfcHolds,
}

/// Metrics that do not depend on the sweep's deadlines, in column order (the deadlines'
/// `delivered_within_*` come right after the first).
const FIXED: [Metric; 20] = [
    Metric::DeliveredShare,
    Metric::P50Latency,
    Metric::P95Latency,
    Metric::P99Latency,
    Metric::AttemptsPerDelivered,
    Metric::Attempts,
    Metric::Deferrals,
    Metric::Bounced,
    Metric::Bounces(BounceReason::UserUnknown),
    Metric::Bounces(BounceReason::Blocked),
    Metric::Bounces(BounceReason::Rejected),
    Metric::Bounces(BounceReason::FlowControlRule),
    Metric::Blocks,
    Metric::Expired,
    Metric::Queued,
    Metric::MinReputation,
    Metric::BackoffTime,
    Metric::SuspendedTime,
    Metric::BackoffEntries,
    Metric::DfcHolds,
];

impl Metric {
    /// Every metric of a sweep with these deadlines, in column order.
    pub fn columns(deadlines: &[Span]) -> Vec<Metric> {
        let mut columns = vec![FIXED[0]];
        columns.extend(deadlines.iter().map(|&d| Metric::DeliveredWithin(d)));
        columns.extend(&FIXED[1..]);
        columns
    }

    /// The name in sweep.csv, plans and `--require`.
    pub fn name(self) -> String {
        let fixed = match self {
            Metric::DeliveredShare => "delivered_share",
            Metric::DeliveredWithin(deadline) => {
                return format!("delivered_within_{}", deadline.to_string().replace(' ', ""));
            }
            Metric::P50Latency => "p50_latency",
            Metric::P95Latency => "p95_latency",
            Metric::P99Latency => "p99_latency",
            Metric::AttemptsPerDelivered => "attempts_per_delivered",
            Metric::Attempts => "attempts",
            Metric::Deferrals => "deferrals",
            Metric::Bounced => "bounced",
            Metric::Bounces(reason) => return format!("{}_bounces", reason.name()),
            Metric::Blocks => "blocks",
            Metric::Expired => "expired",
            Metric::Queued => "queued",
            Metric::MinReputation => "min_reputation",
            Metric::BackoffTime => "backoff_time",
            Metric::SuspendedTime => "suspended_time",
            Metric::BackoffEntries => "backoff_entries",
            Metric::DfcHolds => "dfc_holds",
        };
        fixed.to_string()
    }

    /// Whether the metric is a time (in seconds in the files, in human units for people).
    pub fn is_duration(self) -> bool {
        matches!(
            self,
            Metric::P50Latency
                | Metric::P95Latency
                | Metric::P99Latency
                | Metric::BackoffTime
                | Metric::SuspendedTime
        )
    }

    /// The metric's value for one run (latencies NaN when nothing was delivered, so that
    /// delivering nothing never looks fast), rounded to nine significant digits so that
    /// sweep.csv is readable and reads back to exactly the same numbers.
    pub fn measure(self, result: &RunResult) -> f64 {
        round9(self.raw(result))
    }

    fn raw(self, result: &RunResult) -> f64 {
        let t = &result.summary.totals;
        let share = |n: u64| ratio(n as f64, t.injected as f64);
        let latency = |q: f64| {
            if result.latency.count() == 0 {
                f64::NAN
            } else {
                result.latency.quantile(q).as_secs_f64()
            }
        };
        match self {
            Metric::DeliveredShare => share(t.delivered),
            Metric::DeliveredWithin(deadline) => share(result.latency.count_at_most(deadline)),
            Metric::P50Latency => latency(0.5),
            Metric::P95Latency => latency(0.95),
            Metric::P99Latency => latency(0.99),
            Metric::AttemptsPerDelivered => ratio(t.attempts as f64, t.delivered as f64),
            Metric::Attempts => t.attempts as f64,
            Metric::Deferrals => t.deferrals as f64,
            Metric::Bounced => t.bounced as f64,
            Metric::Bounces(reason) => {
                t.bounces_by_reason.get(reason.name()).copied().unwrap_or(0) as f64
            }
            Metric::Blocks => t.blocks as f64,
            Metric::Expired => t.expired as f64,
            Metric::Queued => t.queued as f64,
            Metric::MinReputation => result
                .summary
                .destinations
                .values()
                .filter_map(|d| d.reputation.map(|r| r.min))
                .reduce(f64::min)
                .unwrap_or(f64::NAN),
            Metric::BackoffTime => t.time_in_state_s.backoff,
            Metric::SuspendedTime => t.time_in_state_s.suspended,
            Metric::BackoffEntries => t.backoff_entries as f64,
            Metric::DfcHolds => t.dfc_holds as f64,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A name that is no metric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric {0:?}")]
pub struct UnknownMetric(pub String);

impl FromStr for Metric {
    type Err = UnknownMetric;

    /// A metric's name; `delivered_within_` takes any duration (`1h30m`).
    fn from_str(text: &str) -> Result<Metric, UnknownMetric> {
        let unknown = || UnknownMetric(text.to_string());
        if let Some(deadline) = text.strip_prefix("delivered_within_") {
            return deadline
                .parse()
                .map(Metric::DeliveredWithin)
                .map_err(|_| unknown());
        }
        FIXED
            .into_iter()
            .find(|m| m.name() == text)
            .ok_or_else(unknown)
    }
}

/// A value of `metric` for people: a time in human units (`3h 59m`), anything else by
/// `number`.
pub fn metric_text(metric: Metric, value: f64, number: fn(f64) -> String) -> String {
    if metric.is_duration() {
        human_seconds(value)
    } else {
        number(value)
    }
}

/// One run's metrics in column order.
pub fn measure(result: &RunResult, columns: &[Metric]) -> Vec<f64> {
    columns.iter().map(|m| m.measure(result)).collect()
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
