//! From runs to a verdict: each configuration's estimates, which configurations meet the
//! constraints, their order by the objective, and the Pareto front.

use super::metrics::Estimate;
use super::plan::SweepPlan;

/// One run's measurements: configuration, replication, its seed and [`super::metrics`]
/// values in the plan's metric order.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub config: usize,
    pub replication: u32,
    pub seed: u64,
    pub metrics: Vec<f64>,
}

/// A configuration's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// One estimate per metric, in the plan's metric order.
    pub estimates: Vec<Estimate>,
    /// Every constraint holds on the mean.
    pub feasible: bool,
    /// 1 for the best feasible configuration; `None` when infeasible.
    pub rank: Option<usize>,
}

/// Every configuration's verdict, the Pareto front and the winner.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub verdicts: Vec<Verdict>,
    /// Feasible configurations no other feasible one beats on both Pareto axes, ordered
    /// along the first axis.
    pub pareto: Vec<usize>,
    pub best: Option<usize>,
}

/// Ranks `configurations` configurations from `rows`, which hold every replication of
/// each, ordered by configuration then replication.
pub fn rank(plan: &SweepPlan, configurations: usize, rows: &[RunRow]) -> Ranking {
    let metrics = plan.metrics().len();
    let k = plan.replications as usize;
    let mut verdicts: Vec<Verdict> = rows
        .chunks(k)
        .take(configurations)
        .map(|runs| {
            let estimates: Vec<Estimate> = (0..metrics)
                .map(|m| Estimate::of(&runs.iter().map(|r| r.metrics[m]).collect::<Vec<_>>()))
                .collect();
            let feasible = plan
                .constraints
                .iter()
                .all(|c| c.holds(estimates[plan.column(c.metric)].mean));
            Verdict {
                estimates,
                feasible,
                rank: None,
            }
        })
        .collect();
    let objective = plan.column(plan.objective.metric);
    let mut order: Vec<usize> = (0..verdicts.len())
        .filter(|&i| verdicts[i].feasible)
        .collect();
    let key = |i: usize| {
        oriented(
            verdicts[i].estimates[objective].mean,
            plan.objective.maximize,
        )
    };
    order.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
    for (position, &i) in order.iter().enumerate() {
        verdicts[i].rank = Some(position + 1);
    }
    let axes = plan
        .pareto
        .each_ref()
        .map(|a| (plan.column(a.metric), a.maximize));
    let points: Vec<(usize, f64, f64)> = (0..verdicts.len())
        .filter(|&i| verdicts[i].feasible)
        .map(|i| {
            let at = |(m, max): (usize, bool)| oriented(verdicts[i].estimates[m].mean, max);
            (i, at(axes[0]), at(axes[1]))
        })
        .collect();
    Ranking {
        pareto: pareto_front(points),
        best: order.first().copied(),
        verdicts,
    }
}

/// A value to minimise: maximised metrics negated, undefined ones (NaN) worst of all.
fn oriented(value: f64, maximize: bool) -> f64 {
    if value.is_nan() {
        f64::INFINITY
    } else if maximize {
        -value
    } else {
        value
    }
}

/// The points (index, x, y) that no other point beats in both x and y (both minimised),
/// ordered by x: one pass over the points sorted by x then y, keeping those that lower
/// the best y seen (and exact duplicates of a kept point, which nothing beats either).
pub fn pareto_front(mut points: Vec<(usize, f64, f64)>) -> Vec<usize> {
    points.retain(|p| p.1.is_finite() && p.2.is_finite());
    points.sort_by(|a, b| {
        a.1.total_cmp(&b.1)
            .then(a.2.total_cmp(&b.2))
            .then(a.0.cmp(&b.0))
    });
    let mut front = Vec::new();
    let mut kept: Option<(f64, f64)> = None;
    for (i, x, y) in points {
        match kept {
            Some((kx, ky)) if y > ky || (y == ky && x != kx) => {}
            _ => {
                front.push(i);
                kept = Some((x, y));
            }
        }
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_keeps_the_undominated() {
        let points = vec![
            (0, 1.0, 5.0),
            (1, 2.0, 3.0),
            (2, 2.0, 4.0), // beaten by 1
            (3, 3.0, 3.0), // beaten by 1
            (4, 4.0, 1.0),
            (5, 1.0, 5.0), // duplicate of 0: kept
            (6, f64::INFINITY, 0.0),
        ];
        assert_eq!(pareto_front(points), vec![0, 5, 1, 4]);
    }
}
