//! `mtasim sweep` and `mtasim sweep-merge`: run a scenario over a grid of configurations
//! and seeds (or one shard of it), and merge shards into the outputs of a whole sweep.

use std::path::{Path, PathBuf};

use super::outputs::Inputs;
use super::{Failure, OverrideArgs, check_out, load_scenario};
use crate::MtaKind;
use crate::output::OutputFolder;
use crate::sim::SimError;
use crate::sweep::metrics::metric_text;
use crate::sweep::plan::{
    Axis, Constraint, Objective, Parameter, PlanError, PlanFile, PlanParts, Problem, Setting,
    SweepPlan, parse_pareto,
};
use crate::sweep::rank::RunRow;
use crate::sweep::report::{write_shard, write_sweep};
use crate::sweep::values::round9;
use crate::sweep::{Shard, Sweep, exec, plots};
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
    #[arg(long, value_name = "A,B", value_parser = parse_axes)]
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
    /// Also write the winner as a real MTA's configuration beside best.json
    /// (best.kumomta.toml, best.postfix.cf or best.pmta.config): kumomta, postfix or pmta.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_mta)]
    pub export: Option<MtaKind>,
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
    /// Also write the winner as a real MTA's configuration beside best.json, as
    /// `mtasim sweep --export` does: kumomta, postfix or pmta.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_mta)]
    pub export: Option<MtaKind>,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The value parsers report the problem alone: clap names the flag.
fn parse_parameter(text: &str) -> Result<Parameter, Problem> {
    text.parse().map_err(|e: PlanError| e.problem)
}

fn parse_constraint(text: &str) -> Result<Constraint, Problem> {
    text.parse().map_err(|e: PlanError| e.problem)
}

fn parse_axes(text: &str) -> Result<[Axis; 2], Problem> {
    parse_pareto(text).map_err(|e| e.problem)
}

/// A plan problem as the command line says it: by the flag that sets it.
pub(super) fn flag_error(e: PlanError) -> Failure {
    let flag = match e.setting {
        Setting::Vary => "--vary",
        Setting::Replications => "--replications",
        Setting::Samples => "--samples",
        Setting::Objective => "--minimize/--maximize",
        Setting::Require => "--require",
        Setting::Deadlines => "--deadline",
        Setting::Pareto => "--pareto",
    };
    Failure::Input(format!("{flag}: {}", e.problem))
}

/// `mtasim sweep`.
pub fn sweep(args: &SweepArgs) -> Result<(), Failure> {
    if let Some(kind) = args.export {
        super::config::with_dialect(kind, "--export")?;
    }
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    let sweep = plan(args)?;
    let target = args
        .out
        .clone()
        .unwrap_or_else(|| default_folder(&sweep, args.shard));
    let inputs = Inputs::scenario("sweep", args.scenario.as_deref(), args.plan.as_deref());
    inputs.check(&target, args.out.is_some())?;
    let runs = sweep.runs(args.shard);
    let rows = in_pool(args.jobs, || exec::run_all(&sweep, &runs, !args.quiet))?;
    write_outputs(&target, &inputs, args.quiet, |dir| match args.shard {
        Some(shard) => {
            write_shard(&sweep, &sweep.manifest(Some(shard)), &rows, dir)
                .map_err(|e| cannot("write", &target, e))?;
            Ok(format!(
                "shard {shard}: {} of {} runs",
                rows.len(),
                sweep.run_count()
            ))
        }
        None => finish(&sweep, &rows, dir, args.no_plots, args.export),
    })
}

/// Lets `write` fill a staging folder that replaces `target` only once it succeeded (so
/// a failure leaves no half-written outputs), then prints the summary it returns.
fn write_outputs(
    target: &Path,
    inputs: &Inputs,
    quiet: bool,
    write: impl FnOnce(&Path) -> Result<String, Failure>,
) -> Result<(), Failure> {
    let folder = OutputFolder::create(target).map_err(|e| cannot("create", target, e))?;
    inputs.mark(folder.path())?;
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
    let objective =
        Objective::named(args.minimize.as_deref(), args.maximize.as_deref()).map_err(flag_error)?;
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
    let plan = SweepPlan::resolve(from_args.or(from_file), base.seed).map_err(flag_error)?;
    let sweep = Sweep::new(plan, base);
    sweep.check().map_err(|e| {
        Failure::Input(match e.error.set_by {
            Some(_) => e.error.describe("--vary"),
            None => format!("--vary: {e}"),
        })
    })?;
    Ok(sweep)
}

fn read_plan(path: &Path) -> Result<PlanParts, Failure> {
    let bad = |e: &dyn std::fmt::Display| Failure::Input(format!("--plan {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(&e))?;
    let file: PlanFile = serde_json::from_str(&text).map_err(|e| bad(&e))?;
    file.parts().map_err(|e| bad(&e))
}

/// Runs `work` on a pool of `jobs` threads, or rayon's global pool (every core).
pub(super) fn in_pool(
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
pub(super) fn finish(
    sweep: &Sweep,
    rows: &[RunRow],
    dir: &Path,
    no_plots: bool,
    export: Option<MtaKind>,
) -> Result<String, Failure> {
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
    let mut tie = String::new();
    match ranking.best {
        Some(best) => {
            let metric = sweep.plan.objective.metric;
            let e = ranking.verdicts[best].estimates[sweep.plan.column(metric)];
            let value = |v: f64| metric_text(metric, v, |v| round9(v).to_string());
            text += &format!(
                "\n  best: {} -> {metric} = {} (95% CI {} – {}), written as best.json",
                sweep.describe(best),
                value(e.mean),
                value(e.low),
                value(e.high)
            );
            if let Some(runner) = runner_up(&ranking, best) {
                let r = ranking.verdicts[runner].estimates[sweep.plan.column(metric)];
                if (e.low..=e.high).contains(&r.mean) {
                    tie = format!(
                        "\n  a tie, not a win: the runner-up {} ({metric} = {}) lies inside the \
                         best's 95% CI; more --replications can separate them",
                        sweep.describe(runner),
                        value(r.mean)
                    );
                }
            }
        }
        None => text += "\n  no configuration meets the constraints: no best.json",
    }
    if let Some(format) = export.filter(|_| ranking.best.is_some()) {
        let name = super::config::export_best(sweep, &ranking, format, dir)?;
        text += &format!("; its {} configuration as {name}", format.title());
    }
    Ok(text + &tie)
}

/// The feasible configuration ranked second, if any.
fn runner_up(ranking: &crate::sweep::rank::Ranking, best: usize) -> Option<usize> {
    ranking
        .verdicts
        .iter()
        .enumerate()
        .filter(|(c, v)| *c != best && v.feasible)
        .min_by_key(|(_, v)| v.rank)
        .map(|(c, _)| c)
}

/// `mtasim sweep-merge`.
pub fn merge(args: &MergeArgs) -> Result<(), Failure> {
    if let Some(kind) = args.export {
        super::config::with_dialect(kind, "--export")?;
    }
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    let (sweep, rows) =
        crate::sweep::merge::merge(&args.shards).map_err(|e| Failure::Input(e.to_string()))?;
    let target = args
        .out
        .clone()
        .unwrap_or_else(|| default_folder(&sweep, None));
    // Shards of one sweep name its scenario (and plan); their merge is that sweep's.
    let recorded: Vec<Option<Inputs>> = args.shards.iter().map(|s| Inputs::of(s)).collect();
    let inputs = match &recorded[..] {
        [Some(first), rest @ ..] if rest.iter().all(|r| r.as_ref() == Some(first)) => first.clone(),
        _ => Inputs::new("sweep", args.shards.iter().map(PathBuf::as_path)),
    };
    inputs.check(&target, args.out.is_some())?;
    write_outputs(&target, &inputs, args.quiet, |dir| {
        finish(&sweep, &rows, dir, args.no_plots, args.export)
    })
}
