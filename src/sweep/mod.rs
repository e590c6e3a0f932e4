//! Parameter sweeps: run one scenario over a grid (or random sample) of configurations and
//! replicated seeds, and say which configuration wins — with honest uncertainty.
//!
//! [`plan`] says what varies and how to rank, [`values`] expands `--vary` VALUES,
//! [`metrics`] measures each run, [`rank`] turns runs into verdicts, [`report`] writes
//! and reads the files, [`merge`] puts shards back together. Running in parallel ([`exec`]) and charts ([`plots`]) belong to
//! the `cli` feature. Runs are collected in a fixed order and reduced serially, so the
//! outputs are the same whatever the number of threads or shards.

pub mod merge;
pub mod metrics;
pub mod plan;
pub mod rank;
pub mod report;
pub mod values;

#[cfg(feature = "cli")]
pub mod exec;
#[cfg(feature = "cli")]
pub mod plots;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::scenario::{self, CompiledScenario, Scenario, ScenarioError};
use crate::sim::{self, RunOptions, SimError};
use plan::{PlanError, PlanFile, SweepPlan, value_text};
use rank::{Ranking, RunRow};

/// `--shard I/N`: this process runs the runs whose index modulo N is I (0 <= I < N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// A shard that is not `I/N` with 0 <= I < N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected I/N with 0 <= I < N, e.g. 0/4")]
pub struct ShardError(String);

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, ShardError> {
        let bad = || ShardError(text.into());
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// sweep.json: all a shard's rows need to be merged — the expanded plan, the base
/// scenario and which shard this is (none for a whole sweep).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub plan: PlanFile,
    pub scenario: Scenario,
    pub shard: Option<Shard>,
    /// Runs in the whole sweep (configurations x replications).
    pub runs: usize,
}

/// A manifest that does not describe a sweep.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("the plan gives {plan} runs, the manifest says {manifest}")]
    Runs { plan: usize, manifest: usize },
}

/// A configuration of the grid that is not a valid scenario.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("configuration {config} ({described}) is not a valid scenario: {error}")]
pub struct ConfigurationError {
    pub config: usize,
    pub described: String,
    pub error: Box<ScenarioError>,
}

/// A planned sweep over one base scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub plan: SweepPlan,
    /// The scenario every configuration starts from; its seed is the plan's.
    pub base: Scenario,
    /// Each configuration's value index per parameter (see [`SweepPlan::configurations`]).
    pub configurations: Vec<Vec<usize>>,
    base_json: String,
}

impl Sweep {
    /// Plans a sweep of `base`; the base's seed becomes the plan's.
    pub fn new(plan: SweepPlan, mut base: Scenario) -> Sweep {
        base.seed = plan.seed;
        let base_json = serde_json::to_string(&base).expect("a scenario serialises to JSON");
        Sweep {
            configurations: plan.configurations(),
            plan,
            base,
            base_json,
        }
    }

    /// Rebuilds a sweep from its manifest.
    pub fn from_manifest(manifest: &Manifest) -> Result<Sweep, ManifestError> {
        let parts = manifest.plan.parts()?;
        let plan = SweepPlan::resolve(parts, manifest.scenario.seed)?;
        let sweep = Sweep::new(plan, manifest.scenario.clone());
        if sweep.run_count() != manifest.runs {
            return Err(ManifestError::Runs {
                plan: sweep.run_count(),
                manifest: manifest.runs,
            });
        }
        Ok(sweep)
    }

    /// The manifest of this sweep or of one shard of it.
    pub fn manifest(&self, shard: Option<Shard>) -> Manifest {
        Manifest {
            plan: self.plan.to_file(),
            scenario: self.base.clone(),
            shard,
            runs: self.run_count(),
        }
    }

    /// Configurations x replications.
    pub fn run_count(&self) -> usize {
        self.configurations.len() * self.plan.replications as usize
    }

    /// The (configuration, replication) of run `index`: configuration-major.
    pub fn run_at(&self, index: usize) -> (usize, u32) {
        let k = self.plan.replications as usize;
        (index / k, (index % k) as u32)
    }

    /// The runs of `shard` (all runs without one), in order.
    pub fn runs(&self, shard: Option<Shard>) -> Vec<usize> {
        let Shard { index, count } = shard.unwrap_or(Shard { index: 0, count: 1 });
        (index..self.run_count()).step_by(count).collect()
    }

    /// Configuration `config`'s scenario: the base with its overrides, loaded and
    /// compiled exactly as `--set` would be.
    pub fn scenario(&self, config: usize) -> Result<CompiledScenario, ScenarioError> {
        let overrides = self.plan.overrides(&self.configurations[config]);
        scenario::load("<sweep>", &self.base_json, &overrides)
    }

    /// Loads every configuration, so a bad value is refused before anything runs.
    pub fn check(&self) -> Result<(), ConfigurationError> {
        for config in 0..self.configurations.len() {
            self.scenario(config).map_err(|error| ConfigurationError {
                config,
                described: self.describe(config),
                error: Box::new(error),
            })?;
        }
        Ok(())
    }

    /// `path=value, ...` of a configuration, for people.
    pub fn describe(&self, config: usize) -> String {
        self.plan
            .overrides(&self.configurations[config])
            .iter()
            .map(|o| format!("{}={}", o.path, value_text(&o.value)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Simulates run `index` and measures it.
    pub fn run(&self, index: usize) -> Result<RunRow, SimError> {
        let (config, replication) = self.run_at(index);
        let mut compiled = self.scenario(config).map_err(|e| {
            SimError::Internal(format!("configuration {config} stopped loading: {e}"))
        })?;
        compiled.scenario.seed = self.plan.seed_of(replication);
        let result = sim::simulate(&compiled, RunOptions::default())?;
        Ok(RunRow {
            config,
            replication,
            seed: compiled.scenario.seed,
            metrics: metrics::measure(&result, &self.plan.metrics()),
        })
    }

    /// The winning configuration as a complete scenario: the base with the winner's
    /// overrides, renamed `<name>-best` (so running it does not replace the base run's
    /// outputs) and its description saying how it was chosen.
    pub fn best_scenario(&self, best: usize, ranking: &Ranking) -> Result<Scenario, ScenarioError> {
        let mut scenario = self.scenario(best)?.scenario;
        scenario.name = format!("{}-best", self.base.name);
        let constraints: Vec<String> = self
            .plan
            .constraints
            .iter()
            .map(|c| c.to_string())
            .collect();
        let feasible = ranking.verdicts.iter().filter(|v| v.feasible).count();
        let note = format!(
            "Chosen by mtasim sweep ({} of {} configurations feasible{}, {} replications): {}; {}.",
            feasible,
            ranking.verdicts.len(),
            if constraints.is_empty() {
                String::new()
            } else {
                format!(" under {}", constraints.join(", "))
            },
            self.plan.replications,
            self.plan.objective,
            self.describe(best)
        );
        scenario.description = [scenario.description.as_str(), &note]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(scenario)
    }
}
