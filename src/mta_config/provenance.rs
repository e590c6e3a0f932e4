//! Where an exported configuration came from: the scenario file, and for a sweep's
//! `best.json` the sweep's objective, constraints and how sure it is of each tuned value.

use std::path::Path;

use crate::sweep::metrics::Estimate;
use crate::sweep::plan::value_text;
use crate::sweep::rank::{Ranking, rank};
use crate::sweep::report::read_sweep_csv;
use crate::sweep::{Manifest, Sweep};

/// The origin an export names in its comments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// The scenario file (or `<default scenario>`).
    pub source: String,
    pub sweep: Option<SweepOrigin>,
}

/// How a sweep chose the exported configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepOrigin {
    /// "minimize p95_latency".
    pub objective: String,
    pub metric: String,
    /// Whether the metric is a time (shown as `4h 25m`, not seconds).
    pub duration: bool,
    pub constraints: Vec<String>,
    pub configurations: usize,
    pub replications: u32,
    pub feasible: usize,
    /// The winner's parameters, `path=value, ...`.
    pub winner: String,
    /// The winner's objective: mean and 95% interval.
    pub estimate: Estimate,
    pub swept: Vec<Swept>,
}

/// One varied scenario value.
#[derive(Debug, Clone, PartialEq)]
pub struct Swept {
    /// The `--set` path.
    pub path: String,
    pub values: Vec<String>,
    pub chosen: String,
    /// The values of the feasible configurations whose objective 95% interval overlaps the
    /// winner's, in plan order: the values the sweep cannot tell apart from the winner.
    pub close: Vec<String>,
}

impl SweepOrigin {
    /// The origin of `sweep`'s winner; None when no configuration was feasible.
    pub fn new(sweep: &Sweep, ranking: &Ranking) -> Option<SweepOrigin> {
        let best = ranking.best?;
        let plan = &sweep.plan;
        let metric = plan.column(plan.objective.metric);
        let estimate = ranking.verdicts[best].estimates[metric];
        let overlaps = |e: &Estimate| e.low <= estimate.high && estimate.low <= e.high;
        let close: Vec<usize> = (0..ranking.verdicts.len())
            .filter(|&c| {
                let v = &ranking.verdicts[c];
                v.feasible && overlaps(&v.estimates[metric])
            })
            .collect();
        let swept = plan
            .parameters
            .iter()
            .enumerate()
            .map(|(p, parameter)| {
                let mut indices: Vec<usize> =
                    close.iter().map(|&c| sweep.configurations[c][p]).collect();
                indices.sort_unstable();
                indices.dedup();
                Swept {
                    path: parameter.path.clone(),
                    values: parameter.values.iter().map(value_text).collect(),
                    chosen: value_text(&parameter.values[sweep.configurations[best][p]]),
                    close: indices
                        .into_iter()
                        .map(|i| value_text(&parameter.values[i]))
                        .collect(),
                }
            })
            .collect();
        Some(SweepOrigin {
            objective: plan.objective.to_string(),
            metric: plan.objective.metric.name(),
            duration: plan.objective.metric.is_duration(),
            constraints: plan.constraints.iter().map(|c| c.to_string()).collect(),
            configurations: sweep.configurations.len(),
            replications: plan.replications,
            feasible: ranking.verdicts.iter().filter(|v| v.feasible).count(),
            winner: sweep.describe(best),
            estimate,
            swept,
        })
    }

    /// The sweep that wrote `best` (a `best.json`), from the sweep.json and sweep.csv
    /// beside it. Ok(None) when they are not there.
    pub fn beside(best: &Path) -> Result<Option<SweepOrigin>, String> {
        let dir = best.parent().unwrap_or(Path::new("."));
        let (manifest_path, rows_path) = (dir.join("sweep.json"), dir.join("sweep.csv"));
        if best.file_name().and_then(|n| n.to_str()) != Some("best.json")
            || !manifest_path.is_file()
            || !rows_path.is_file()
        {
            return Ok(None);
        }
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
        let manifest: Manifest = serde_json::from_str(&read(&manifest_path)?)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        let sweep = Sweep::from_manifest(&manifest)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        let rows = read_sweep_csv(&sweep, &read(&rows_path)?)
            .map_err(|e| format!("{}: {e}", rows_path.display()))?;
        if rows.len() != sweep.run_count() {
            return Err(format!(
                "{}: {} rows, the sweep has {} runs",
                rows_path.display(),
                rows.len(),
                sweep.run_count()
            ));
        }
        let ranking = rank(&sweep.plan, sweep.configurations.len(), &rows);
        Ok(SweepOrigin::new(&sweep, &ranking))
    }

    /// The header lines saying how the sweep chose.
    pub fn describe(&self) -> Vec<String> {
        let under = if self.constraints.is_empty() {
            String::new()
        } else {
            format!(" under {}", self.constraints.join(", "))
        };
        let e = &self.estimate;
        let round = |x: f64| {
            if self.duration {
                crate::units::human_seconds(x)
            } else {
                round(x)
            }
        };
        vec![
            format!(
                "Chosen by mtasim sweep: {}{under}; {} configurations x {} replications, {} feasible.",
                self.objective, self.configurations, self.replications, self.feasible
            ),
            format!(
                "Winner: {} -> {} = {} (95% CI {} .. {}).",
                self.winner,
                self.metric,
                round(e.mean),
                round(e.low),
                round(e.high)
            ),
        ]
    }

    /// What the sweep says about the setting at `path` (and anything below it).
    pub fn about(&self, path: &str) -> Vec<String> {
        self.swept
            .iter()
            .filter(|s| s.path == path || s.path.starts_with(&format!("{path}.")))
            .map(|s| {
                let close = match s.close.as_slice() {
                    [] => String::new(),
                    [only] if *only == s.chosen => {
                        format!("; no other value's {} 95% CI overlaps it", self.metric)
                    }
                    many => format!(
                        "; values whose {} 95% CI overlaps the winner's: {}",
                        self.metric,
                        many.join(", ")
                    ),
                };
                format!(
                    "swept {} over {}: chose {}{close}",
                    s.path,
                    s.values.join(", "),
                    s.chosen
                )
            })
            .collect()
    }
}

/// A number for a comment: at most three decimals.
fn round(x: f64) -> String {
    let r = (x * 1000.0).round() / 1000.0;
    format!("{r}")
}

impl Provenance {
    /// A plain scenario.
    pub fn scenario(source: impl Into<String>) -> Self {
        Provenance {
            source: source.into(),
            sweep: None,
        }
    }

    /// The comment lines for the setting that came from scenario path `path`.
    pub fn origin(&self, path: &str) -> Vec<String> {
        let mut lines = vec![format!("from {path}")];
        if let Some(sweep) = &self.sweep {
            lines.extend(sweep.about(path));
        }
        lines
    }
}
