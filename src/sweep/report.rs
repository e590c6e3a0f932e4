//! A sweep's files: sweep.json (the manifest: plan, base scenario, shard), sweep.csv (one
//! row per run), summary.csv, pareto.csv and best.json — and reading sweep.csv back, so
//! that merged shards go through exactly the code an unsharded sweep does.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::metrics::Estimate;
use super::plan::value_text;
use super::rank::{Ranking, RunRow, rank};
use super::values::round9;
use super::{Manifest, Sweep};
use crate::output::csv_field;

/// sweep.csv's header: run identity, the varied paths, the metrics.
pub fn sweep_header(sweep: &Sweep) -> String {
    let mut columns = vec!["config".to_string(), "replication".into(), "seed".into()];
    columns.extend(parameter_columns(sweep));
    columns.extend(sweep.plan.metrics().iter().map(|m| m.name()));
    columns.join(",")
}

/// The varied paths as column names, in plan order: every CSV names them alike.
fn parameter_columns(sweep: &Sweep) -> impl Iterator<Item = String> + '_ {
    sweep
        .plan
        .parameters
        .iter()
        .map(|p| csv_field(&p.path).into_owned())
}

/// The configuration's parameter values as CSV fields.
fn parameter_fields(sweep: &Sweep, config: usize) -> String {
    sweep.configurations[config]
        .iter()
        .zip(&sweep.plan.parameters)
        .map(|(&i, p)| csv_field(&value_text(&p.values[i])).into_owned())
        .collect::<Vec<_>>()
        .join(",")
}

/// sweep.csv: one row per run, numbers written so they read back exactly.
pub fn sweep_csv(sweep: &Sweep, rows: &[RunRow]) -> String {
    let mut text = sweep_header(sweep) + "\n";
    for row in rows {
        let _ = write!(
            text,
            "{},{},{},{}",
            row.config,
            row.replication,
            row.seed,
            parameter_fields(sweep, row.config)
        );
        for value in &row.metrics {
            let _ = write!(text, ",{value}");
        }
        text.push('\n');
    }
    text
}

/// Why sweep.csv rows could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowsError {
    #[error("its header does not match the plan in sweep.json")]
    Header,
    #[error("line {line}: {fields} fields, expected {expected}")]
    Fields {
        line: usize,
        fields: usize,
        expected: usize,
    },
    #[error("line {line}: bad number {text:?}")]
    Number { line: usize, text: String },
    #[error("line {line}: run ({config}, {replication}) is not in the plan")]
    NotInPlan {
        line: usize,
        config: usize,
        replication: u32,
    },
    #[error(
        "line {line}: run ({config}, {replication}) has other parameters or seed than the plan"
    )]
    OtherRun {
        line: usize,
        config: usize,
        replication: u32,
    },
    #[error("line {line}: bad metric value {text:?}")]
    Metric { line: usize, text: String },
}

/// Reads sweep.csv rows written for `sweep`, checking the header, the parameter values
/// and the seeds against the plan.
pub fn read_sweep_csv(sweep: &Sweep, text: &str) -> Result<Vec<RunRow>, RowsError> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| l).unwrap_or_default();
    if header != sweep_header(sweep) {
        return Err(RowsError::Header);
    }
    lines
        .map(|(n, line)| read_row(sweep, line, n + 1))
        .collect()
}

fn read_row(sweep: &Sweep, text: &str, line: usize) -> Result<RunRow, RowsError> {
    let parameters = sweep.plan.parameters.len();
    let expected = 3 + parameters + sweep.plan.metrics().len();
    let fields = split_csv(text);
    if fields.len() != expected {
        return Err(RowsError::Fields {
            line,
            fields: fields.len(),
            expected,
        });
    }
    let number = |i: usize| {
        fields[i].parse::<u64>().map_err(|_| RowsError::Number {
            line,
            text: fields[i].clone(),
        })
    };
    let config = number(0)? as usize;
    let replication = number(1)? as u32;
    if config >= sweep.configurations.len() || replication >= sweep.plan.replications {
        return Err(RowsError::NotInPlan {
            line,
            config,
            replication,
        });
    }
    let seed = number(2)?;
    let values = parameter_fields(sweep, config);
    if seed != sweep.plan.seed_of(replication) || split_csv(&values) != fields[3..3 + parameters] {
        return Err(RowsError::OtherRun {
            line,
            config,
            replication,
        });
    }
    let metrics = fields[3 + parameters..]
        .iter()
        .map(|f| {
            f.parse::<f64>().map_err(|_| RowsError::Metric {
                line,
                text: f.clone(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(RunRow {
        config,
        replication,
        seed,
        metrics,
    })
}

/// Splits one CSV line, undoing [`csv_field`]'s quoting.
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let field = fields.last_mut().expect("never empty");
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => field.push(c),
        }
    }
    fields
}

/// summary.csv: per configuration its rank, feasibility, parameters and every metric's
/// mean with its 95% interval.
pub fn summary_csv(sweep: &Sweep, ranking: &Ranking) -> String {
    let mut header = vec!["config".to_string(), "rank".into(), "feasible".into()];
    header.extend(parameter_columns(sweep));
    for m in sweep.plan.metrics().iter().map(|m| m.name()) {
        header.extend([
            format!("{m}_mean"),
            format!("{m}_ci95_low"),
            format!("{m}_ci95_high"),
        ]);
    }
    let mut text = header.join(",") + "\n";
    for (config, verdict) in ranking.verdicts.iter().enumerate() {
        let rank = verdict.rank.map(|r| r.to_string()).unwrap_or_default();
        let _ = write!(
            text,
            "{config},{rank},{},{}",
            verdict.feasible,
            parameter_fields(sweep, config)
        );
        for Estimate { mean, low, high } in &verdict.estimates {
            let _ = write!(
                text,
                ",{},{},{}",
                round9(*mean),
                round9(*low),
                round9(*high)
            );
        }
        text.push('\n');
    }
    text
}

/// pareto.csv: the front's configurations with both axes' means.
pub fn pareto_csv(sweep: &Sweep, ranking: &Ranking) -> String {
    let columns = sweep
        .plan
        .pareto
        .each_ref()
        .map(|a| sweep.plan.column(a.metric));
    let mut header = vec!["config".to_string(), "rank".into()];
    header.extend(parameter_columns(sweep));
    header.extend(sweep.plan.pareto.iter().map(|a| a.metric.name()));
    let mut text = header.join(",") + "\n";
    for &config in &ranking.pareto {
        let verdict = &ranking.verdicts[config];
        let rank = verdict.rank.map(|r| r.to_string()).unwrap_or_default();
        let _ = writeln!(
            text,
            "{config},{rank},{},{},{}",
            parameter_fields(sweep, config),
            round9(verdict.estimates[columns[0]].mean),
            round9(verdict.estimates[columns[1]].mean)
        );
    }
    text
}

/// Writes a shard's files: its rows and the manifest.
pub fn write_shard(
    sweep: &Sweep,
    manifest: &Manifest,
    rows: &[RunRow],
    dir: &Path,
) -> io::Result<()> {
    std::fs::write(dir.join("sweep.json"), manifest_json(manifest)?)?;
    std::fs::write(dir.join("sweep.csv"), sweep_csv(sweep, rows))
}

/// Writes every data file of a complete sweep and returns the ranking (for the plots).
/// `rows` holds every run in configuration then replication order.
pub fn write_sweep(sweep: &Sweep, rows: &[RunRow], dir: &Path) -> io::Result<Ranking> {
    write_shard(sweep, &sweep.manifest(None), rows, dir)?;
    let ranking = rank(&sweep.plan, sweep.configurations.len(), rows);
    std::fs::write(dir.join("summary.csv"), summary_csv(sweep, &ranking))?;
    std::fs::write(dir.join("pareto.csv"), pareto_csv(sweep, &ranking))?;
    if let Some(best) = ranking.best {
        let scenario = sweep
            .best_scenario(best, &ranking)
            .map_err(|e| io::Error::other(format!("best.json: {e}")))?;
        let text = serde_json::to_string_pretty(&scenario).map_err(io::Error::from)?;
        std::fs::write(dir.join("best.json"), text + "\n")?;
    }
    Ok(ranking)
}

fn manifest_json(manifest: &Manifest) -> io::Result<String> {
    Ok(serde_json::to_string_pretty(manifest).map_err(io::Error::from)? + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_splitting_undoes_quoting() {
        assert_eq!(
            split_csv("a,\"b,c\",\"say \"\"hi\"\"\","),
            vec!["a", "b,c", "say \"hi\"", ""]
        );
    }
}
