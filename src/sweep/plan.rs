//! What a sweep runs and how it ranks: parameters, replications, objective, constraints,
//! deadlines and Pareto axes — from the command line, a `--plan` file, or both.
//!
//! The plan file is also what a sweep writes into its manifest (sweep.json) with every
//! value expanded, so a shard or a later merge needs nothing but that file.

use std::fmt;
use std::str::FromStr;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::metrics::metric_names;
use super::values::parse_values;
use crate::rng::derived_seed;
use crate::scenario::Override;
use crate::units::Span;

/// A varied scenario value: the `--set` path and the values it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub path: String,
    pub values: Vec<Value>,
}

impl FromStr for Parameter {
    type Err = String;

    /// `PATH=VALUES`, see [`parse_values`].
    fn from_str(text: &str) -> Result<Self, String> {
        let (path, values) = text.split_once('=').ok_or_else(|| {
            format!("{text:?}: expected PATH=VALUES, e.g. flow_control.errors.threshold=5,10,20")
        })?;
        let path = path.trim();
        if path.is_empty() {
            return Err(format!("{text:?}: the path is empty"));
        }
        Ok(Parameter {
            path: path.to_string(),
            values: parse_values(values).map_err(|e| format!("{path}: {e}"))?,
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
    pub metric: String,
    pub maximize: bool,
}

impl Objective {
    /// The objective a `minimize` or `maximize` metric names, from the command line or the
    /// plan file alike; `minimize` wins, so callers that must refuse both check first.
    pub fn named(minimize: Option<&str>, maximize: Option<&str>) -> Option<Objective> {
        match (minimize, maximize) {
            (Some(m), _) => Some(Objective {
                metric: m.into(),
                maximize: false,
            }),
            (None, Some(m)) => Some(Objective {
                metric: m.into(),
                maximize: true,
            }),
            (None, None) => None,
        }
    }
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
    pub metric: String,
    pub op: Op,
    pub value: f64,
}

impl FromStr for Constraint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?}: expected METRIC OP NUMBER with OP one of = != <= >= < >, e.g. blocks=0 or delivered_share>=0.99"
            )
        };
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
            metric: metric.to_string(),
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
    pub metric: String,
    pub maximize: bool,
}

impl FromStr for Axis {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (metric, maximize) = match text.strip_prefix("max:") {
            Some(metric) => (metric, true),
            None => (text.strip_prefix("min:").unwrap_or(text), false),
        };
        if metric.is_empty() {
            return Err(format!("{text:?}: no metric"));
        }
        Ok(Axis {
            metric: metric.to_string(),
            maximize,
        })
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.maximize {
            write!(f, "max:{}", self.metric)
        } else {
            f.write_str(&self.metric)
        }
    }
}

/// Parses `a,b` into two Pareto axes.
pub fn parse_pareto(text: &str) -> Result<[Axis; 2], String> {
    let axes: Vec<&str> = text.split(',').collect();
    match axes[..] {
        [a, b] => Ok([a.parse()?, b.parse()?]),
        _ => Err(format!(
            "{text:?}: expected two metrics, e.g. p95_latency,max:min_reputation"
        )),
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
const DEFAULT_OBJECTIVE: &str = "p95_latency";
/// The default deadlines for `delivered_within_*`.
const DEFAULT_DEADLINES: [Span; 2] = [Span::HOUR, Span::from_hours(4)];
/// Refuse sweeps larger than this many runs (configurations x replications).
pub const MAX_RUNS: usize = 1_000_000;

impl SweepPlan {
    /// Completes `parts` with defaults (seed: `scenario_seed`) and checks that every
    /// metric named exists and the sweep is of a sensible size.
    pub fn resolve(parts: PlanParts, scenario_seed: u64) -> Result<SweepPlan, String> {
        let deadlines = parts
            .deadlines
            .unwrap_or_else(|| DEFAULT_DEADLINES.to_vec());
        let objective = parts.objective.unwrap_or(Objective {
            metric: DEFAULT_OBJECTIVE.into(),
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

    fn check(&self) -> Result<(), String> {
        if self.parameters.is_empty() {
            return Err(
                "--vary: nothing varies; give at least one --vary PATH=VALUES (or vary in --plan)"
                    .into(),
            );
        }
        for (i, p) in self.parameters.iter().enumerate() {
            if self.parameters[..i].iter().any(|q| q.path == p.path) {
                return Err(format!("--vary: {} is varied twice", p.path));
            }
        }
        if self.replications == 0 {
            return Err("--replications: must be at least 1".into());
        }
        if self.samples == Some(0) {
            return Err("--samples: must be at least 1".into());
        }
        if self.deadlines.contains(&Span::ZERO)
            || self.deadlines.iter().any(|d| *d > 1000 * Span::DAY)
        {
            return Err("--deadline: must be positive".into());
        }
        let names = self.metric_names();
        let known = |flag: &str, metric: &str| {
            if names.iter().any(|n| n == metric) {
                Ok(())
            } else {
                Err(format!(
                    "{flag}: unknown metric {metric:?}; the metrics are {}",
                    names.join(", ")
                ))
            }
        };
        known("--minimize/--maximize", &self.objective.metric)?;
        for c in &self.constraints {
            known("--require", &c.metric)?;
        }
        for axis in &self.pareto {
            known("--pareto", &axis.metric)?;
        }
        let runs = self.configuration_count() as u128 * self.replications as u128;
        if runs > MAX_RUNS as u128 {
            return Err(format!(
                "--vary: the sweep has {runs} runs, more than {MAX_RUNS}; use --samples"
            ));
        }
        Ok(())
    }

    /// The metric names of sweep.csv, in column order.
    pub fn metric_names(&self) -> Vec<String> {
        metric_names(&self.deadlines)
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
            minimize: (!self.objective.maximize).then(|| self.objective.metric.clone()),
            maximize: self
                .objective
                .maximize
                .then(|| self.objective.metric.clone()),
            require: self.constraints.iter().map(ToString::to_string).collect(),
            deadlines: Some(self.deadlines.clone()),
            pareto: Some(self.pareto.iter().map(ToString::to_string).collect()),
        }
    }
}

/// The objective and, as the other axis, how hard the MTA hammered (attempts per delivered
/// message) — or latency when the objective is that already.
fn default_pareto(objective: &Objective) -> [Axis; 2] {
    let other = if objective.metric == "attempts_per_delivered" {
        DEFAULT_OBJECTIVE
    } else {
        "attempts_per_delivered"
    };
    [
        Axis {
            metric: objective.metric.clone(),
            maximize: objective.maximize,
        },
        Axis {
            metric: other.into(),
            maximize: false,
        },
    ]
}

/// The `--plan` file (see the README's "Tuning with sweeps"); every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Path -> values: a JSON list of values, or a VALUES text (`"5..50:5"`). In file order.
    #[serde(default)]
    pub vary: Vary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replications: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimize: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximize: Option<String>,
    #[serde(default)]
    pub require: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadlines: Option<Vec<Span>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pareto: Option<Vec<String>>,
}

impl PlanFile {
    /// Checks and types the file's fields; errors name the field.
    pub fn parts(&self) -> Result<PlanParts, String> {
        let parameters = self
            .vary
            .0
            .iter()
            .map(|(path, values)| {
                let values = match values {
                    VaryValues::List(list) if list.is_empty() => {
                        return Err(format!("vary.{path}: the list is empty"));
                    }
                    VaryValues::List(list) => list.clone(),
                    VaryValues::Text(text) => {
                        parse_values(text).map_err(|e| format!("vary.{path}: {e}"))?
                    }
                };
                Ok(Parameter {
                    path: path.clone(),
                    values,
                })
            })
            .collect::<Result<_, String>>()?;
        if self.minimize.is_some() && self.maximize.is_some() {
            return Err("give minimize or maximize, not both".into());
        }
        let objective = Objective::named(self.minimize.as_deref(), self.maximize.as_deref());
        let constraints = self
            .require
            .iter()
            .enumerate()
            .map(|(i, c)| c.parse().map_err(|e| format!("require[{i}]: {e}")))
            .collect::<Result<_, String>>()?;
        let pareto = match &self.pareto {
            Some(axes) => Some(parse_pareto(&axes.join(",")).map_err(|e| format!("pareto: {e}"))?),
            None => None,
        };
        Ok(PlanParts {
            parameters,
            replications: self.replications,
            samples: self.samples,
            seed: self.seed,
            objective,
            constraints,
            deadlines: self.deadlines.as_ref().cloned(),
            pareto,
        })
    }
}

/// A parameter's values in a plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VaryValues {
    List(Vec<Value>),
    Text(String),
}

/// `vary`: an object whose key order is kept, because it orders the grid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vary(pub Vec<(String, VaryValues)>);

impl Serialize for Vary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (path, values) in &self.0 {
            map.serialize_entry(path, values)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Vary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Vary;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of path: values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vary, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Vary(entries))
            }
        }
        d.deserialize_map(Ordered)
    }
}
