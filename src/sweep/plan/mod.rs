//! What a sweep runs and how it ranks: parameters, replications, objective, constraints,
//! deadlines and Pareto axes — from the command line, a `--plan` file, or both.
//!
//! The plan file is also what a sweep writes into its manifest (sweep.json) with every
//! value expanded, so a shard or a later merge needs nothing but that file.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

mod file;

pub use file::{PlanFile, Vary, VaryValues};

use super::metrics::{Metric, UnknownMetric};
use super::values::{ValuesError, parse_values};
use crate::rng::derived_seed;
use crate::scenario::Override;
use crate::units::Span;

/// What part of a plan a problem is about: a plan-file field, which is also a command-line
/// option of `mtasim sweep` (the command line names it by its flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Vary,
    Replications,
    Samples,
    Objective,
    Require,
    Deadlines,
    Pareto,
}

impl fmt::Display for Setting {
    /// The plan-file field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::Vary => "vary",
            Setting::Replications => "replications",
            Setting::Samples => "samples",
            Setting::Objective => "minimize/maximize",
            Setting::Require => "require",
            Setting::Deadlines => "deadlines",
            Setting::Pareto => "pareto",
        })
    }
}

/// What is wrong with a plan setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{0:?}: expected PATH=VALUES, e.g. flow_control.errors.threshold=5,10,20")]
    NotPathValues(String),
    #[error("{0:?}: the path is empty")]
    EmptyPath(String),
    #[error("{path}: {error}")]
    Values { path: String, error: ValuesError },
    #[error("{0}: the list is empty")]
    EmptyList(String),
    #[error("nothing varies: give at least one parameter PATH=VALUES")]
    NothingVaries,
    #[error("{0} is varied twice")]
    VariedTwice(String),
    #[error("must be at least 1")]
    Zero,
    #[error("must be positive")]
    NotPositive,
    #[error("give minimize or maximize, not both")]
    BothObjectives,
    #[error(
        "{0:?}: expected METRIC OP NUMBER with OP one of = != <= >= < >, e.g. blocks=0 or delivered_share>=0.99"
    )]
    Constraint(String),
    #[error("{0:?}: expected two metrics, e.g. p95_latency,max:min_reputation")]
    Axes(String),
    #[error("{0}; the metrics are {1}")]
    UnknownMetric(UnknownMetric, String),
    #[error("the sweep has {0} runs, more than {MAX_RUNS}; sample the grid instead")]
    TooManyRuns(u128),
}

/// A plan setting that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}{at}: {problem}")]
pub struct PlanError {
    pub setting: Setting,
    /// Where within the setting, in plan-file terms (`[2]` for `require[2]`), if anywhere.
    pub at: String,
    pub problem: Problem,
}

impl PlanError {
    pub fn new(setting: Setting, problem: Problem) -> PlanError {
        PlanError {
            setting,
            at: String::new(),
            problem,
        }
    }
}

/// A varied scenario value: the `--set` path and the values it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub path: String,
    pub values: Vec<Value>,
}

impl FromStr for Parameter {
    type Err = PlanError;

    /// `PATH=VALUES`, see [`parse_values`].
    fn from_str(text: &str) -> Result<Self, PlanError> {
        let bad = |problem| PlanError::new(Setting::Vary, problem);
        let (path, values) = text
            .split_once('=')
            .ok_or_else(|| bad(Problem::NotPathValues(text.into())))?;
        let path = path.trim();
        if path.is_empty() {
            return Err(bad(Problem::EmptyPath(text.into())));
        }
        Ok(Parameter {
            path: path.to_string(),
            values: parse_values(values).map_err(|error| {
                bad(Problem::Values {
                    path: path.into(),
                    error,
                })
            })?,
        })
    }
}

/// A value as it appears in tables and charts: strings bare, everything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The metric to rank feasible configurations by.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub metric: Metric,
    pub maximize: bool,
}

impl Objective {
    /// The objective a `minimize` or `maximize` metric names, from the command line or the
    /// plan file alike; `minimize` wins, so callers that must refuse both check first.
    pub fn named(
        minimize: Option<&str>,
        maximize: Option<&str>,
    ) -> Result<Option<Objective>, PlanError> {
        let (name, maximize) = match (minimize, maximize) {
            (Some(m), _) => (m, false),
            (None, Some(m)) => (m, true),
            (None, None) => return Ok(None),
        };
        let metric = metric(Setting::Objective, name)?;
        Ok(Some(Objective { metric, maximize }))
    }
}

/// The metric called `name`, or an error about `setting` listing the metrics.
fn metric(setting: Setting, name: &str) -> Result<Metric, PlanError> {
    name.trim()
        .parse()
        .map_err(|unknown| unknown_metric(setting, unknown))
}

fn unknown_metric(setting: Setting, unknown: UnknownMetric) -> PlanError {
    let known: Vec<String> = Metric::columns(&DEFAULT_DEADLINES)
        .iter()
        .map(|m| m.name())
        .collect();
    PlanError::new(setting, Problem::UnknownMetric(unknown, known.join(", ")))
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.maximize {
            "maximize"
        } else {
            "minimize"
        };
        write!(f, "{verb} {}", self.metric)
    }
}

/// A comparison of a configuration's mean metric with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
}

impl Op {
    /// Longest first, so `<=` is not read as `<`.
    const TEXT: [(&'static str, Op); 7] = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("!=", Op::Ne),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
        ("=", Op::Eq),
    ];

    fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Gt => ">",
        }
    }
}

/// `--require METRIC OP NUMBER`, e.g. `blocks=0`, `delivered_share>=0.99`.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub metric: Metric,
    pub op: Op,
    pub value: f64,
}

impl FromStr for Constraint {
    type Err = PlanError;

    fn from_str(text: &str) -> Result<Self, PlanError> {
        let bad = || PlanError::new(Setting::Require, Problem::Constraint(text.into()));
        let at = text.find(['<', '>', '=', '!']).ok_or_else(bad)?;
        let (metric, rest) = text.split_at(at);
        let (op_text, op) = Op::TEXT
            .iter()
            .find(|(t, _)| rest.starts_with(t))
            .ok_or_else(bad)?;
        let value: f64 = rest[op_text.len()..].trim().parse().map_err(|_| bad())?;
        let metric = metric.trim();
        if metric.is_empty() || !value.is_finite() {
            return Err(bad());
        }
        Ok(Constraint {
            metric: self::metric(Setting::Require, metric)?,
            op: *op,
            value,
        })
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.metric, self.op.text(), self.value)
    }
}

impl Constraint {
    /// Whether a mean satisfies the constraint; an undefined (NaN) mean never does.
    pub fn holds(&self, mean: f64) -> bool {
        match self.op {
            Op::Eq => mean == self.value,
            Op::Ne => !mean.is_nan() && mean != self.value,
            Op::Le => mean <= self.value,
            Op::Ge => mean >= self.value,
            Op::Lt => mean < self.value,
            Op::Gt => mean > self.value,
        }
    }
}

/// One axis of the Pareto front: a metric, minimised unless written `max:metric`.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub metric: Metric,
    pub maximize: bool,
}

impl FromStr for Axis {
    type Err = PlanError;

    fn from_str(text: &str) -> Result<Self, PlanError> {
        let text = text.trim();
        let (name, maximize) = match text.strip_prefix("max:") {
            Some(metric) => (metric, true),
            None => (text.strip_prefix("min:").unwrap_or(text), false),
        };
        Ok(Axis {
            metric: metric(Setting::Pareto, name)?,
            maximize,
        })
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.maximize {
            write!(f, "max:{}", self.metric)
        } else {
            write!(f, "{}", self.metric)
        }
    }
}

/// Parses `a,b` into two Pareto axes.
pub fn parse_pareto(text: &str) -> Result<[Axis; 2], PlanError> {
    let axes: Vec<&str> = text.split(',').collect();
    match axes[..] {
        [a, b] => Ok([a.parse()?, b.parse()?]),
        _ => Err(PlanError::new(Setting::Pareto, Problem::Axes(text.into()))),
    }
}

/// A plan's pieces, each optional, from the command line or a plan file; see
/// [`PlanParts::or`] and [`SweepPlan::resolve`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanParts {
    pub parameters: Vec<Parameter>,
    pub replications: Option<u32>,
    pub samples: Option<usize>,
    pub seed: Option<u64>,
    pub objective: Option<Objective>,
    pub constraints: Vec<Constraint>,
    pub deadlines: Option<Vec<Span>>,
    pub pareto: Option<[Axis; 2]>,
}

impl PlanParts {
    /// These parts completed by `fallback`: options set here win, parameters and
    /// constraints add up.
    pub fn or(self, fallback: PlanParts) -> PlanParts {
        let mut parameters = fallback.parameters;
        parameters.extend(self.parameters);
        let mut constraints = fallback.constraints;
        constraints.extend(self.constraints);
        PlanParts {
            parameters,
            replications: self.replications.or(fallback.replications),
            samples: self.samples.or(fallback.samples),
            seed: self.seed.or(fallback.seed),
            objective: self.objective.or(fallback.objective),
            constraints,
            deadlines: self.deadlines.or(fallback.deadlines),
            pareto: self.pareto.or(fallback.pareto),
        }
    }
}

/// A complete, checked sweep plan.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPlan {
    pub parameters: Vec<Parameter>,
    pub replications: u32,
    /// Random distinct grid points instead of the whole grid.
    pub samples: Option<usize>,
    /// Replication seeds and samples derive from it.
    pub seed: u64,
    pub objective: Objective,
    pub constraints: Vec<Constraint>,
    pub deadlines: Vec<Span>,
    pub pareto: [Axis; 2],
}

/// The default objective: how long most messages take.
const DEFAULT_OBJECTIVE: Metric = Metric::P95Latency;
/// The default deadlines for `delivered_within_*`.
const DEFAULT_DEADLINES: [Span; 2] = [Span::HOUR, Span::from_hours(4)];
/// Refuse sweeps larger than this many runs (configurations x replications).
pub const MAX_RUNS: usize = 1_000_000;

impl SweepPlan {
    /// Completes `parts` with defaults (seed: `scenario_seed`) and checks that every
    /// metric named exists and the sweep is of a sensible size.
    pub fn resolve(parts: PlanParts, scenario_seed: u64) -> Result<SweepPlan, PlanError> {
        let deadlines = parts
            .deadlines
            .unwrap_or_else(|| DEFAULT_DEADLINES.to_vec());
        let objective = parts.objective.unwrap_or(Objective {
            metric: DEFAULT_OBJECTIVE,
            maximize: false,
        });
        let pareto = parts.pareto.unwrap_or_else(|| default_pareto(&objective));
        let plan = SweepPlan {
            parameters: parts.parameters,
            replications: parts.replications.unwrap_or(1),
            samples: parts.samples,
            seed: parts.seed.unwrap_or(scenario_seed),
            objective,
            constraints: parts.constraints,
            deadlines,
            pareto,
        };
        plan.check()?;
        Ok(plan)
    }

    fn check(&self) -> Result<(), PlanError> {
        let bad = PlanError::new;
        if self.parameters.is_empty() {
            return Err(bad(Setting::Vary, Problem::NothingVaries));
        }
        for (i, p) in self.parameters.iter().enumerate() {
            if self.parameters[..i].iter().any(|q| q.path == p.path) {
                return Err(bad(Setting::Vary, Problem::VariedTwice(p.path.clone())));
            }
        }
        if self.replications == 0 {
            return Err(bad(Setting::Replications, Problem::Zero));
        }
        if self.samples == Some(0) {
            return Err(bad(Setting::Samples, Problem::Zero));
        }
        if self.deadlines.contains(&Span::ZERO)
            || self.deadlines.iter().any(|d| *d > 1000 * Span::DAY)
        {
            return Err(bad(Setting::Deadlines, Problem::NotPositive));
        }
        let columns = self.metrics();
        let known = |setting: Setting, metric: Metric| {
            if columns.contains(&metric) {
                return Ok(());
            }
            let names: Vec<String> = columns.iter().map(|m| m.name()).collect();
            Err(bad(
                setting,
                Problem::UnknownMetric(UnknownMetric(metric.name()), names.join(", ")),
            ))
        };
        known(Setting::Objective, self.objective.metric)?;
        for c in &self.constraints {
            known(Setting::Require, c.metric)?;
        }
        for axis in &self.pareto {
            known(Setting::Pareto, axis.metric)?;
        }
        let runs = self.configuration_count() as u128 * self.replications as u128;
        if runs > MAX_RUNS as u128 {
            return Err(bad(Setting::Vary, Problem::TooManyRuns(runs)));
        }
        Ok(())
    }

    /// The metrics of sweep.csv, in column order.
    pub fn metrics(&self) -> Vec<Metric> {
        Metric::columns(&self.deadlines)
    }

    /// The column of `metric` (which the plan checked it has).
    pub fn column(&self, metric: Metric) -> usize {
        self.metrics()
            .iter()
            .position(|&m| m == metric)
            .expect("the plan checked its metrics")
    }

    /// The whole grid's size.
    fn grid_size(&self) -> u128 {
        self.parameters
            .iter()
            .map(|p| p.values.len() as u128)
            .fold(1, u128::saturating_mul)
    }

    /// Configurations run: the grid, or the samples when fewer.
    pub fn configuration_count(&self) -> usize {
        let grid = self.grid_size();
        match self.samples {
            Some(n) if (n as u128) < grid => n,
            _ => usize::try_from(grid).unwrap_or(usize::MAX),
        }
    }

    /// Each configuration as one value index per parameter. The grid is in row-major
    /// order (the last `--vary` changes fastest); samples are distinct grid points drawn
    /// with the plan's seed, in grid order.
    pub fn configurations(&self) -> Vec<Vec<usize>> {
        let count = self.configuration_count();
        let grid = self.grid_size();
        let indices: Vec<u128> = if (count as u128) < grid {
            let mut rng = crate::rng::stream(self.seed, "sweep:samples");
            let mut drawn: Vec<u128> =
                rand::seq::index::sample(&mut rng, grid.min(usize::MAX as u128) as usize, count)
                    .into_iter()
                    .map(|i| i as u128)
                    .collect();
            drawn.sort_unstable();
            drawn
        } else {
            (0..grid).collect()
        };
        indices.into_iter().map(|i| self.grid_point(i)).collect()
    }

    /// The value indices of grid point `index` (row-major).
    fn grid_point(&self, mut index: u128) -> Vec<usize> {
        let mut point = vec![0; self.parameters.len()];
        for (slot, p) in point.iter_mut().zip(&self.parameters).rev() {
            let n = p.values.len() as u128;
            *slot = (index % n) as usize;
            index /= n;
        }
        point
    }

    /// The `--set` overrides that make configuration `point`.
    pub fn overrides(&self, point: &[usize]) -> Vec<Override> {
        self.parameters
            .iter()
            .zip(point)
            .map(|(p, &i)| Override {
                path: p.path.clone(),
                value: p.values[i].clone(),
            })
            .collect()
    }

    /// The seed of replication `k`.
    pub fn seed_of(&self, replication: u32) -> u64 {
        derived_seed(self.seed, replication as u64)
    }

    /// The plan as a plan file with every value expanded.
    pub fn to_file(&self) -> PlanFile {
        PlanFile {
            vary: Vary(
                self.parameters
                    .iter()
                    .map(|p| (p.path.clone(), VaryValues::List(p.values.clone())))
                    .collect(),
            ),
            replications: Some(self.replications),
            samples: self.samples,
            seed: Some(self.seed),
            minimize: (!self.objective.maximize).then(|| self.objective.metric.name()),
            maximize: self
                .objective
                .maximize
                .then(|| self.objective.metric.name()),
            require: self.constraints.iter().map(ToString::to_string).collect(),
            deadlines: Some(self.deadlines.clone()),
            pareto: Some(self.pareto.iter().map(ToString::to_string).collect()),
        }
    }
}

/// The objective and, as the other axis, how hard the MTA hammered (attempts per delivered
/// message) — or latency when the objective is that already.
fn default_pareto(objective: &Objective) -> [Axis; 2] {
    let other = if objective.metric == Metric::AttemptsPerDelivered {
        DEFAULT_OBJECTIVE
    } else {
        Metric::AttemptsPerDelivered
    };
    [
        Axis {
            metric: objective.metric,
            maximize: objective.maximize,
        },
        Axis {
            metric: other,
            maximize: false,
        },
    ]
}
