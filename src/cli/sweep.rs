//! `mtasim sweep` and `mtasim sweep-merge`: run a scenario over a grid of configurations
//! and seeds (or one shard of it), and merge shards into the outputs of a whole sweep.

use std::path::{Path, PathBuf};

use super::{Failure, OverrideArgs, load_scenario};
use crate::output::OutputFolder;
use crate::sim::SimError;
use crate::sweep::metrics::metric_text;
use crate::sweep::plan::{
    Axis, Constraint, Objective, Parameter, PlanFile, PlanParts, SweepPlan, parse_pareto,
};
use crate::sweep::rank::RunRow;
use crate::sweep::report::{read_sweep_csv, write_shard, write_sweep};
use crate::sweep::values::round9;
use crate::sweep::{Manifest, Shard, Sweep, exec, plots};
use crate::units::Span;

#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// Scenario file (JSON). Without it, the built-in default scenario.
    pub scenario: Option<PathBuf>,
    /// Vary a scenario value (the `--set` path): a list `5,10,20`, a range `5..50:5` or
    /// `15m..2h:15m`, or a log range `1m..4h:x2` / `60/h..600/h:x2`. Repeatable; the grid
    /// is the product (the last --vary changes fastest).
    #[arg(long, value_name = "PATH=VALUES", value_parser = parse_parameter)]
    pub vary: Vec<Parameter>,
    /// A JSON plan file: {"vary": {...}, "replications", "samples", "seed", "minimize" or
    /// "maximize", "require": [...], "deadlines": [...], "pareto": [a, b]}. Options given
    /// on the command line win; --vary and --require add to it.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Run each configuration with this many seeds [default: 1].
    #[arg(long, short = 'k', value_name = "K")]
    pub replications: Option<u32>,
    /// Run this many random distinct grid points instead of the whole grid.
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Seed for the replications and samples, replacing the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The metric to minimise [default: p95_latency].
    #[arg(long, value_name = "METRIC", conflicts_with = "maximize")]
    pub minimize: Option<String>,
    /// The metric to maximise.
    #[arg(long, value_name = "METRIC")]
    pub maximize: Option<String>,
    /// A constraint on a configuration's mean: METRIC OP NUMBER with OP = != <= >= < >
    /// (`blocks=0`, `delivered_share>=0.99`). Repeatable.
    #[arg(long, value_name = "CONSTRAINT", value_parser = parse_constraint)]
    pub require: Vec<Constraint>,
    /// Deadline for a delivered_within_<deadline> metric. Repeatable [default: 1h and 4h].
    #[arg(long, value_name = "DURATION")]
    pub deadline: Vec<Span>,
    /// The two metrics of the Pareto front, minimised unless written max:METRIC
    /// [default: the objective and attempts_per_delivered].
    #[arg(long, value_name = "A,B", value_parser = parse_pareto)]
    pub pareto: Option<[Axis; 2]>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Run only the runs whose index modulo N is I (0 <= I < N) and write their rows;
    /// combine the shards with `mtasim sweep-merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Output folder [default: output/<scenario name>-sweep, or -sweep-shard-I-of-N].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Threads to run on [default: every core].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Write no charts.
    #[arg(long)]
    pub no_plots: bool,
    /// Print nothing on success, and no progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct MergeArgs {
    /// Shard folders written by `mtasim sweep --shard I/N`, every shard exactly once.
    #[arg(required = true, value_name = "DIR")]
    pub shards: Vec<PathBuf>,
    /// Output folder [default: output/<scenario name>-sweep].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write no charts.
    #[arg(long)]
    pub no_plots: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_parameter(text: &str) -> Result<Parameter, String> {
    text.parse()
}

fn parse_constraint(text: &str) -> Result<Constraint, String> {
    text.parse()
}

/// `mtasim sweep`.
pub fn sweep(args: &SweepArgs) -> Result<(), Failure> {
    let sweep = plan(args)?;
    let runs = sweep.runs(args.shard);
    let rows = in_pool(args.jobs, || exec::run_all(&sweep, &runs, !args.quiet))?;
    let target = args
        .out
        .clone()
        .unwrap_or_else(|| default_folder(&sweep, args.shard));
    write_outputs(&target, args.quiet, |dir| match args.shard {
        Some(shard) => {
            write_shard(&sweep, &sweep.manifest(Some(shard)), &rows, dir)
                .map_err(|e| cannot("write", &target, e))?;
            Ok(format!(
                "shard {shard}: {} of {} runs",
                rows.len(),
                sweep.run_count()
            ))
        }
        None => finish(&sweep, &rows, dir, args.no_plots),
    })
}

/// Lets `write` fill a staging folder that replaces `target` only once it succeeded (so
/// a failure leaves no half-written outputs), then prints the summary it returns.
fn write_outputs(
    target: &Path,
    quiet: bool,
    write: impl FnOnce(&Path) -> Result<String, Failure>,
) -> Result<(), Failure> {
    let folder = OutputFolder::create(target).map_err(|e| cannot("create", target, e))?;
    let summary = write(folder.path())?;
    let written = folder
        .commit()
        .map_err(|e| cannot("move outputs into", target, e))?;
    if !quiet {
        println!("{summary}\n  outputs: {}", written.display());
    }
    Ok(())
}

/// Reads the plan from the arguments and the plan file, and checks every configuration
/// before anything runs.
fn plan(args: &SweepArgs) -> Result<Sweep, Failure> {
    let base = load_scenario(args.scenario.as_ref(), &args.overrides.set)?.scenario;
    let from_file = match &args.plan {
        Some(path) => read_plan(path)?,
        None => PlanParts::default(),
    };
    let objective = Objective::named(args.minimize.as_deref(), args.maximize.as_deref());
    let from_args = PlanParts {
        parameters: args.vary.clone(),
        replications: args.replications,
        samples: args.samples,
        seed: args.seed,
        objective,
        constraints: args.require.clone(),
        deadlines: (!args.deadline.is_empty()).then(|| args.deadline.clone()),
        pareto: args.pareto.clone(),
    };
    let plan = SweepPlan::resolve(from_args.or(from_file), base.seed).map_err(Failure::Input)?;
    let sweep = Sweep::new(plan, base);
    sweep.check().map_err(Failure::Input)?;
    Ok(sweep)
}

fn read_plan(path: &Path) -> Result<PlanParts, Failure> {
    let bad = |e: String| Failure::Input(format!("--plan {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let file: PlanFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    file.parts().map_err(bad)
}

/// Runs `work` on a pool of `jobs` threads, or rayon's global pool (every core).
fn in_pool(
    jobs: Option<usize>,
    work: impl FnOnce() -> Result<Vec<RunRow>, SimError> + Send,
) -> Result<Vec<RunRow>, Failure> {
    let result = match jobs {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| Failure::Internal(format!("cannot start {n} threads: {e}")))?
            .install(work),
        None => work(),
    };
    Ok(result?)
}

fn default_folder(sweep: &Sweep, shard: Option<Shard>) -> PathBuf {
    let name = match shard {
        Some(Shard { index, count }) => {
            format!("{}-sweep-shard-{index}-of-{count}", sweep.base.name)
        }
        None => format!("{}-sweep", sweep.base.name),
    };
    PathBuf::from("output").join(name)
}

fn cannot(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure::Internal(format!("cannot {what} {}: {e}", path.display()))
}

/// Writes a whole sweep's files and charts; returns the lines to print.
fn finish(sweep: &Sweep, rows: &[RunRow], dir: &Path, no_plots: bool) -> Result<String, Failure> {
    let ranking = write_sweep(sweep, rows, dir)
        .map_err(|e| Failure::Internal(format!("writing sweep outputs: {e}")))?;
    if !no_plots {
        plots::draw(sweep, &ranking, dir)
            .map_err(|e| Failure::Internal(format!("drawing charts: {e}")))?;
    }
    let feasible = ranking.verdicts.iter().filter(|v| v.feasible).count();
    let mut text = format!(
        "{}: {} configurations x {} replications, {feasible} feasible; {}",
        sweep.base.name,
        sweep.configurations.len(),
        sweep.plan.replications,
        sweep.plan.objective
    );
    match ranking.best {
        Some(best) => {
            let m = sweep
                .plan
                .metric_names()
                .iter()
                .position(|n| *n == sweep.plan.objective.metric)
                .expect("checked");
            let e = ranking.verdicts[best].estimates[m];
            let metric = &sweep.plan.objective.metric;
            let value = |v: f64| metric_text(metric, v, |v| round9(v).to_string());
            text += &format!(
                "\n  best: {} -> {metric} = {} (95% CI {} – {}), written as best.json",
                sweep.describe(best),
                value(e.mean),
                value(e.low),
                value(e.high)
            );
        }
        None => text += "\n  no configuration meets the constraints: no best.json",
    }
    Ok(text)
}

/// `mtasim sweep-merge`.
pub fn merge(args: &MergeArgs) -> Result<(), Failure> {
    let (sweep, rows) = read_shards(&args.shards)?;
    let target = args
        .out
        .clone()
        .unwrap_or_else(|| default_folder(&sweep, None));
    write_outputs(&target, args.quiet, |dir| {
        finish(&sweep, &rows, dir, args.no_plots)
    })
}

/// Reads every shard, checks they are the shards of one sweep, each once, and returns
/// the sweep with all its rows in run order.
fn read_shards(dirs: &[PathBuf]) -> Result<(Sweep, Vec<RunRow>), Failure> {
    let manifests = dirs
        .iter()
        .map(|dir| read_manifest(dir).map(|m| (dir, m)))
        .collect::<Result<Vec<_>, _>>()?;
    let (first_dir, first) = &manifests[0];
    let sweep = Sweep::from_manifest(first)
        .map_err(|e| Failure::Input(format!("{}: sweep.json: {e}", first_dir.display())))?;
    let mut rows: Vec<Option<RunRow>> = vec![None; sweep.run_count()];
    let mut seen = Vec::new();
    for (dir, manifest) in &manifests {
        let bad = |e: String| Failure::Input(format!("{}: {e}", dir.display()));
        let shard = manifest.shard.expect("read_manifest checked");
        if (&manifest.plan, &manifest.scenario, manifest.runs)
            != (&first.plan, &first.scenario, first.runs)
            || shard.count != first.shard.expect("checked").count
        {
            return Err(bad(format!(
                "is a shard of another sweep than {}",
                first_dir.display()
            )));
        }
        if seen.contains(&shard.index) {
            return Err(bad(format!("shard {shard} is given twice")));
        }
        seen.push(shard.index);
        let text = std::fs::read_to_string(dir.join("sweep.csv"))
            .map_err(|e| bad(format!("sweep.csv: {e}")))?;
        for row in read_sweep_csv(&sweep, &text).map_err(|e| bad(format!("sweep.csv: {e}")))? {
            let index = row.config * sweep.plan.replications as usize + row.replication as usize;
            if index % shard.count != shard.index {
                return Err(bad(format!(
                    "sweep.csv: run {index} does not belong to shard {shard}"
                )));
            }
            if rows[index].replace(row).is_some() {
                return Err(bad(format!("sweep.csv: run {index} appears twice")));
            }
        }
    }
    let missing = rows.iter().filter(|r| r.is_none()).count();
    if let Some(run) = rows.iter().position(Option::is_none) {
        return Err(Failure::Input(format!(
            "{missing} of {} runs are missing (the first is run {run}); give every shard's folder",
            rows.len()
        )));
    }
    Ok((sweep, rows.into_iter().flatten().collect()))
}

/// A shard's sweep.json.
fn read_manifest(dir: &Path) -> Result<Manifest, Failure> {
    let bad = |e: String| Failure::Input(format!("{}: sweep.json: {e}", dir.display()));
    let text = std::fs::read_to_string(dir.join("sweep.json")).map_err(|e| bad(e.to_string()))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if manifest.shard.is_none() {
        return Err(bad("is a whole sweep, not a shard".into()));
    }
    Ok(manifest)
}
