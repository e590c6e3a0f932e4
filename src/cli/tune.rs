//! `mtasim tune`: from a log to a configuration. Calibrate a twin from the log, check it
//! replays the log faithfully, sweep its flow control, and write the best policy in the
//! MTA's own language, with a report that sets the log, the twin and the recommendation
//! side by side at every destination that had trouble.

use std::path::{Path, PathBuf};

use super::calibrate::{LogArgs, MtaArgs, entry, learn, log_replies, replay_logs};
use super::outputs::Inputs;
use super::sweep::{finish, flag_error, in_pool};
use super::{Failure, check_out};
use crate::MtaKind;
use crate::calibrate::Options;
use crate::calibrate::replay::Replay;
use crate::output::OutputFolder;
use crate::report::{self, Cell, Explorer, Page, Row, Section};
use crate::scenario;
use crate::sweep::plan::{Constraint, Objective, Parameter, PlanError, PlanParts, SweepPlan};
use crate::sweep::{Sweep, exec};
use crate::tune::{self, FIT_FLOOR, Numbers};
use crate::units::{Span, human_seconds};

#[derive(Debug, Clone, clap::Args)]
pub struct TuneArgs {
    /// Log files in any order (rotated, .gz, .zst; - for standard input is not possible:
    /// tune reads the log three times).
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub mta: MtaArgs,
    /// Vary a flow-control value instead of the default grid (as `mtasim sweep --vary`).
    /// Repeatable.
    #[arg(long, value_name = "PATH=VALUES", value_parser = parse_parameter)]
    pub vary: Vec<Parameter>,
    /// The metric to minimise [default: p95_latency].
    #[arg(long, value_name = "METRIC")]
    pub minimize: Option<String>,
    /// A constraint on the recommendation (`blocks=0`, `expired<=100`). Repeatable
    /// [default: no blocks, and no more expiries or undelivered mail than the twin].
    #[arg(long, value_name = "CONSTRAINT", value_parser = parse_constraint)]
    pub require: Vec<Constraint>,
    /// The MTA language of the recommended configuration [default: the log's].
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_mta)]
    pub export: Option<MtaKind>,
    /// Tune even when the twin replays the log worse than the fit floor (0.9).
    #[arg(long)]
    pub accept_fit: bool,
    /// Resolution of the traffic waves, episodes and compared curves.
    #[arg(long, default_value = "5m", value_parser = super::calibrate::parse_span)]
    pub bin: Span,
    /// Destinations modelled one by one (the top by volume).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub receivers: usize,
    /// Threads for the sweep [default: every core].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Output folder: twin.json, fit.json, sweep/, best.json, the configuration, report.html.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Print nothing on success, and no progress.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_parameter(text: &str) -> Result<Parameter, crate::sweep::plan::Problem> {
    text.parse().map_err(|e: PlanError| e.problem)
}

fn parse_constraint(text: &str) -> Result<Constraint, crate::sweep::plan::Problem> {
    text.parse().map_err(|e: PlanError| e.problem)
}

/// Prints a step of the work when on a terminal's watch.
struct Progress(bool);

impl Progress {
    fn step(&self, text: &str) {
        if self.0 {
            eprintln!("{text}");
        }
    }
}

/// `mtasim tune`.
pub fn tune(args: &TuneArgs) -> Result<(), Failure> {
    check_out(&args.out)?;
    if let Some(kind) = args.export {
        super::config::with_dialect(kind, "--export")?;
    }
    if args.logs.iter().any(|p| p.as_os_str() == "-") {
        return Err(Failure::Input(
            "tune reads the log three times (calibrate, replay, the recommendation's replay): give files, not - for standard input".into(),
        ));
    }
    let inputs = Inputs::new("tune", args.logs.iter().map(PathBuf::as_path));
    inputs.check(&args.out, true)?;
    let progress = Progress(!args.quiet);
    progress.step("1/4 calibrating the twin from the log");
    let options = Options {
        bin: args.bin,
        receivers: args.receivers,
        name: "twin".into(),
    };
    let twin = learn(&args.logs, &args.log, &args.mta, &options)?.scenario;
    let compiled = scenario::compile(&twin).map_err(|e| Failure::Internal(e.to_string()))?;
    progress.step("2/4 replaying the twin beside the log");
    let replayed = replay_logs(&args.logs, &args.log, &compiled, args.bin)?;
    check_fit(&replayed, args.accept_fit)?;
    let format = match args.export {
        Some(kind) => kind,
        None => super::config::with_dialect(log_format(args), "the log's format (give --export)")?,
    };
    let sweep = plan(args, &twin, &replayed, format)?;
    progress.step(&format!(
        "3/4 sweeping {} flow-control configurations on the twin",
        sweep.configurations.len()
    ));
    let runs = sweep.runs(None);
    let rows = in_pool(args.jobs, || exec::run_all(&sweep, &runs, !args.quiet))?;
    let folder = OutputFolder::create(&args.out).map_err(|e| cannot("create", &args.out, e))?;
    let dir = folder.path();
    inputs.mark(dir)?;
    let sweep_dir = dir.join("sweep");
    std::fs::create_dir(&sweep_dir).map_err(|e| cannot("create", &sweep_dir, e))?;
    let summary = finish(&sweep, &rows, &sweep_dir, false, None)?;
    let ranking = crate::sweep::rank::rank(&sweep.plan, sweep.configurations.len(), &rows);
    let Some(best) = ranking.best else {
        return Err(Failure::Input(format!(
            "no configuration of the sweep meets {}: loosen --require or widen --vary\n{summary}",
            constraints_text(&sweep)
        )));
    };
    let best_scenario = sweep
        .best_scenario(best, &ranking)
        .map_err(|e| Failure::Internal(format!("best.json: {e}")))?;
    progress.step("4/4 replaying the recommendation beside the log");
    let best_compiled =
        scenario::compile(&best_scenario).map_err(|e| Failure::Internal(e.to_string()))?;
    let recommended = replay_logs(&args.logs, &args.log, &best_compiled, args.bin)?;
    let config_name =
        super::config::write_chosen(&sweep, &ranking, &best_scenario, format, dir, "recommended")?;
    let files = [
        ("twin.json", json(&twin)?),
        ("fit.json", json(&replayed.fit)?),
        ("best.json", json(&best_scenario)?),
        (
            "report.html",
            report::render(&page(&replayed, &recommended, &sweep, best)),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).map_err(|e| cannot("write", &dir.join(name), e))?;
    }
    let written = folder
        .commit()
        .map_err(|e| cannot("move outputs into", &args.out, e))?;
    if !args.quiet {
        print!(
            "{}",
            terminal(&replayed, &recommended, &sweep, best, &config_name)
        );
        println!("  outputs: {}", written.display());
    }
    Ok(())
}

/// JSON text with the trailing newline every mtasim JSON file has.
fn json<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map(|t| t + "\n")
        .map_err(|e| Failure::Internal(e.to_string()))
}

fn cannot(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure::Internal(format!("cannot {what} {}: {e}", path.display()))
}

/// Refuses a twin that does not replay its log (the sweep would tune another sender),
/// naming the worst destinations.
fn check_fit(r: &Replay, accept: bool) -> Result<(), Failure> {
    if r.fit.score >= FIT_FLOOR || accept {
        return Ok(());
    }
    let mut worst: Vec<_> = r.fit.destinations.iter().collect();
    worst.sort_by(|a, b| a.score.total_cmp(&b.score));
    let named: Vec<String> = worst
        .iter()
        .take(3)
        .map(|d| format!("{} ({:.3})", d.destination, d.score))
        .collect();
    Err(Failure::Input(format!(
        "the twin replays the log with a fit score of {:.3}, below {FIT_FLOOR}; worst: {}. Tuning it would tune another sender: check those destinations with `mtasim calibrate` and `mtasim replay`, or pass --accept-fit",
        r.fit.score,
        named.join(", ")
    )))
}

/// The sweep: `--vary` or the default grid for the `target` MTA on the twin, minimising p95 latency with no
/// blocks unless told otherwise.
fn plan(
    args: &TuneArgs,
    twin: &scenario::Scenario,
    replayed: &Replay,
    target: MtaKind,
) -> Result<Sweep, Failure> {
    let parameters = if args.vary.is_empty() {
        let troubled: Vec<&str> = tune::troubled(replayed)
            .into_iter()
            .map(|g| replayed.groups[g].as_str())
            .collect();
        tune::default_grid(twin, target, &troubled)
    } else {
        args.vary.clone()
    };
    let objective = Objective::named(args.minimize.as_deref(), None).map_err(flag_error)?;
    let constraints = if args.require.is_empty() {
        tune::default_requirements(replayed)
    } else {
        args.require.clone()
    };
    let parts = PlanParts {
        parameters: parameters.clone(),
        objective,
        constraints,
        ..PlanParts::default()
    };
    let plan = SweepPlan::resolve(parts, twin.seed).map_err(flag_error)?;
    let sweep = Sweep::new(plan, tune::sweep_base(twin, &parameters));
    sweep
        .check()
        .map_err(|e| Failure::Input(e.error.describe("--vary")))?;
    Ok(sweep)
}

fn constraints_text(sweep: &Sweep) -> String {
    let all: Vec<String> = sweep
        .plan
        .constraints
        .iter()
        .map(|c| c.to_string())
        .collect();
    all.join(", ")
}

/// The log's format (its first file's): the MTA the recommendation is written for.
fn log_format(args: &TuneArgs) -> MtaKind {
    args.log.log_format.unwrap_or_else(|| {
        crate::logs::LogReader::open(&args.logs[..1], crate::logs::ReadOptions::default())
            .ok()
            .and_then(|r| r.files().first().map(|f| f.format))
            .unwrap_or(MtaKind::Postfix)
    })
}

/// One destination's numbers: the log, the twin and the recommendation.
struct Trio {
    name: String,
    sides: [Numbers; 3],
    warning: Option<String>,
}

fn trios(twin: &Replay, recommended: &Replay) -> Vec<Trio> {
    tune::troubled(twin)
        .into_iter()
        .map(|g| {
            let name = twin.groups[g].clone();
            let r = recommended
                .groups
                .iter()
                .position(|n| *n == name)
                .expect("the same scenario's groups");
            Trio {
                warning: tune::outside_evidence(
                    &name,
                    &twin.observed[g],
                    &recommended.simulated[r],
                    twin.bin,
                ),
                sides: [
                    Numbers::of(&twin.observed[g]),
                    Numbers::of(&twin.simulated[g]),
                    Numbers::of(&recommended.simulated[r]),
                ],
                name,
            }
        })
        .collect()
}

const SIDES: [&str; 3] = ["log", "twin", "recommended"];

/// A number of [`Numbers`] as the tables show it.
fn cells(n: &Numbers) -> [String; 8] {
    let ratio = if n.attempts_per_delivered.is_nan() {
        "–".to_string()
    } else {
        format!("{:.2}", n.attempts_per_delivered)
    };
    [
        n.delivered.to_string(),
        human_seconds(n.latency_p50_s),
        human_seconds(n.latency_p95_s),
        n.deferred.to_string(),
        ratio,
        human_seconds(n.backoff.as_secs_f64()),
        human_seconds(n.suspended.as_secs_f64()),
        n.expired.to_string(),
    ]
}

const NUMBER_HEADERS: [&str; 8] = [
    "delivered",
    "p50",
    "p95",
    "deferrals",
    "attempts/delivered",
    "backoff",
    "suspended",
    "expired",
];

fn terminal(
    twin: &Replay,
    recommended: &Replay,
    sweep: &Sweep,
    best: usize,
    config: &str,
) -> String {
    let mut out = format!(
        "twin fit score {:.3}; recommended of {} configurations: {}\n  written as best.json and {config}\n",
        twin.fit.score,
        sweep.configurations.len(),
        sweep.describe(best)
    );
    let trios = trios(twin, recommended);
    if trios.is_empty() {
        out.push_str("  no destination of the log had trouble (deferrals on 5 % of recipients, expiries or time held back): the recommendation changes little\n");
        return out;
    }
    out.push_str(&format!("  {:<20} {:<12}", "destination", ""));
    for h in NUMBER_HEADERS {
        out.push_str(&format!(" {h:>10}"));
    }
    out.push('\n');
    for t in &trios {
        for (s, numbers) in t.sides.iter().enumerate() {
            let name = if s == 0 { t.name.as_str() } else { "" };
            out.push_str(&format!("  {name:<20} {:<12}", SIDES[s]));
            for c in cells(numbers) {
                out.push_str(&format!(" {c:>10}"));
            }
            out.push('\n');
        }
    }
    for t in &trios {
        if let Some(w) = &t.warning {
            out.push_str(&format!("warning: {w}\n"));
        }
    }
    out
}

fn page(twin: &Replay, recommended: &Replay, sweep: &Sweep, best: usize) -> Page {
    let trios = trios(twin, recommended);
    let mut headers = vec!["destination", "side"];
    headers.extend(NUMBER_HEADERS);
    let table = trios
        .iter()
        .flat_map(|t| {
            t.sides.iter().enumerate().map(|(s, n)| {
                let mut row = vec![Cell::text(&t.name), Cell::text(SIDES[s])];
                row.extend(cells(n).into_iter().map(Cell::number));
                Row {
                    destination: Some(t.name.clone()),
                    ..Row::from(row)
                }
            })
        })
        .collect();
    let warnings: Vec<&String> = trios.iter().filter_map(|t| t.warning.as_ref()).collect();
    let entries = trios
        .iter()
        .filter_map(|t| {
            let g = twin.groups.iter().position(|n| *n == t.name)?;
            let r = recommended.groups.iter().position(|n| *n == t.name)?;
            Some(entry(
                &t.name,
                &[
                    &twin.observed[g],
                    &twin.simulated[g],
                    &recommended.simulated[r],
                ],
                twin.bin,
                log_replies(twin, &t.name),
            ))
        })
        .collect();
    let mut after = String::from(EXPLANATION);
    for w in &warnings {
        after.push_str(&format!("<p class=\"verdict\">{}</p>\n", report::escape(w)));
    }
    Page {
        title: "tune: from the log to a configuration".into(),
        description: String::new(),
        facts: format!(
            "twin fit score {:.3} · {} configurations swept · recommended: {}",
            twin.fit.score,
            sweep.configurations.len(),
            sweep.describe(best)
        ),
        verdict: verdict(&trios, warnings.len()),
        diagnosis: "At each destination where the log shows trouble: the log, the twin (the log's sender, simulated) and the recommended policy.".into(),
        headers,
        table,
        after_table: after,
        explorer: Explorer {
            sources: SIDES.iter().map(|s| s.to_string()).collect(),
            overlay: true,
            entries,
        },
        sections: vec![Section {
            id: "twin",
            title: "The twin's scenario".into(),
            html: format!(
                "<p class=\"desc\">{}</p>\n",
                report::escape(&sweep.base.description)
            ),
        }],
    }
}

fn verdict(trios: &[Trio], warnings: usize) -> String {
    let Some(worst) = trios.first() else {
        return "No destination of the log had trouble; the recommendation changes little.".into();
    };
    let [log, _, rec] = &worst.sides;
    let mut text = format!(
        "Worst: {}: p95 {} in the log, {} recommended; expired {} → {}.",
        worst.name,
        human_seconds(log.latency_p95_s),
        human_seconds(rec.latency_p95_s),
        log.expired,
        rec.expired
    );
    if warnings > 0 {
        text.push_str(" Some recommendations are outside the evidence: see below the table.");
    }
    text
}

/// What the tuning page's numbers mean, below them.
const EXPLANATION: &str = "<p class=\"note\">The log is what your MTA did; the twin is mtasim's simulation of the sender and receivers calibrated from that log (its fit is in fit.json); recommended is the twin with the sweep's best flow-control policy. \
Attempts per delivered counts every answered attempt (delivered, deferred, bounced) over delivered messages. Backoff and suspended are times the destination was held back: for the log as calibrate reads the sender's conduct. \
The explorer draws the three on the same axes (log solid, twin dashed, recommended dotted). A recommendation is a prediction of the twin: where it sends faster than the log ever did at a destination that throttled, the receiver's answer to harder sending is outside what the log can show.</p>\n";
