//! `mtasim calibrate` (a scenario from a real log) and `mtasim replay` (a scenario run
//! beside the log, with its fit).

use std::path::{Path, PathBuf};

use super::config::{read_source, scenario_name, write_atomically};
use super::outputs::Inputs;
use super::{Failure, OverrideArgs, check_out};
use crate::MtaKind;
use crate::calibrate::replay::{self, DestinationFit, OTHER, Replay, Side};
use crate::calibrate::{self, CalibrateError, Options};
use crate::flow_control::State;
use crate::flow_control::config::KeyKind;
use crate::logs::{LogReader, ReadOptions};
use crate::metrics::harm::plural;
use crate::mta_config;
use crate::output::OutputFolder;
use crate::report::{
    self, Cell, Entry, Explorer, Page, Row, Section, Series, Timeline, escape, state_code,
};
use crate::scenario;
use crate::sim::RunOptions;
use crate::units::{Instant, Span, human_seconds};

/// How to read the logs: the same flags in diagnose, calibrate and replay.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// The log format: postfix, exim, kumomta or pmta [default: detected from each file's
    /// content]. (`--format` is the old spelling in diagnose.)
    #[arg(long, alias = "format", value_name = "FORMAT", value_parser = super::parse_mta)]
    pub log_format: Option<MtaKind>,
    /// The year of the first classic syslog timestamp [default: from the file's
    /// modification time].
    #[arg(long, value_name = "YEAR")]
    pub year: Option<i64>,
    /// The UTC offset of classic syslog timestamps (`+02:00`, `-0500`).
    #[arg(long, value_name = "+HH:MM", default_value = "+00:00", value_parser = parse_offset, allow_hyphen_values = true)]
    pub utc_offset: i32,
}

fn parse_offset(text: &str) -> Result<i32, String> {
    crate::logs::time::parse_utc_offset(text)
        .ok_or_else(|| format!("not a UTC offset: {text:?} (write +02:00)"))
}

/// A log error as the command line says it: by the flag that fixes it.
pub(super) fn log_error(e: crate::logs::LogError) -> Failure {
    match e {
        crate::logs::LogError::UnknownFormat { file } => Failure::Input(format!(
            "{file}: unknown format: none of its first lines is a Postfix, Exim, KumoMTA or PowerMTA record (give --log-format postfix, exim, kumomta or pmta to read it as one)"
        )),
        e => Failure::Input(e.to_string()),
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct CalibrateArgs {
    /// Log files in any order (rotated, .gz, .zst; - for standard input).
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Where to write the scenario; its name becomes the file's stem.
    #[arg(long, value_name = "SCENARIO.json")]
    pub out: PathBuf,
    /// Resolution of the traffic waves, deferral episodes and error windows.
    #[arg(long, default_value = "5m", value_parser = parse_span)]
    pub bin: Span,
    /// Destinations modelled one by one (the top by volume); the rest become a generated
    /// population with their pooled behaviour.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub receivers: usize,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub mta: MtaArgs,
    /// Print no summary (fallbacks are still printed, on stderr).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Log files in any order (rotated, .gz, .zst; - for standard input).
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// The scenario to run beside the log (calibrated or written by hand).
    #[arg(long, value_name = "SCENARIO.json")]
    pub scenario: PathBuf,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Output folder [default: output/<scenario name>-replay].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Resolution of the compared curves.
    #[arg(long, default_value = "5m", value_parser = parse_span)]
    pub bin: Span,
    #[command(flatten)]
    pub log: LogArgs,
    /// Skip report.html.
    #[arg(long)]
    pub no_plots: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

pub(super) fn parse_span(text: &str) -> Result<Span, String> {
    let span: Span = text.parse().map_err(|e| format!("{e}"))?;
    if span < Span::SECOND {
        return Err(format!("must be at least 1s, got {span}"));
    }
    Ok(span)
}

fn open(logs: &[PathBuf], args: &LogArgs, key: KeyKind) -> Result<LogReader, Failure> {
    let options = ReadOptions {
        format: args.log_format,
        year: args.year,
        utc_offset_minutes: args.utc_offset,
        key,
        ..ReadOptions::default()
    };
    LogReader::open(logs, options).map_err(log_error)
}

/// `mtasim calibrate`.
pub fn calibrate(args: &CalibrateArgs) -> Result<(), Failure> {
    let options = Options {
        bin: args.bin,
        receivers: args.receivers,
        name: scenario_name(&args.out).unwrap_or_else(|| "calibrated".into()),
    };
    let calibration = learn(&args.logs, &args.log, &args.mta, &options)?;
    for fallback in &calibration.fallbacks {
        eprintln!("note: {fallback}");
    }
    let text = serde_json::to_string_pretty(&calibration.scenario)
        .map_err(|e| Failure::Internal(e.to_string()))?;
    write_atomically(&args.out, &(text + "\n"))?;
    if !args.quiet {
        let s = &calibration.scenario;
        println!(
            "{} written: {}{}, {} messages in {} waves over {}, {} still queued at the log's end; {} fell back (see the notes above)",
            args.out.display(),
            plural(s.receivers.len() as u64, "receiver", "receivers"),
            s.generated_receivers
                .as_ref()
                .map_or(String::new(), |g| format!(" and {} generated", g.count)),
            s.total_messages(),
            s.traffic.len(),
            s.duration,
            calibration.queued_at_end,
            plural(calibration.fallbacks.len() as u64, "estimate", "estimates")
        );
    }
    Ok(())
}

/// The MTA's own configuration, for calibrate and tune.
#[derive(Debug, Clone, clap::Args)]
pub struct MtaArgs {
    /// The MTA's configuration files: the MTA side (flow control, retries, connections)
    /// comes from them instead of from the log.
    #[arg(long = "mta", id = "mta", value_name = "FILE", requires = "mta_format")]
    pub files: Vec<PathBuf>,
    /// The MTA of --mta: kumomta, postfix or pmta.
    #[arg(long = "mta-format", id = "mta_format", value_name = "FORMAT", value_parser = super::parse_mta, requires = "mta")]
    pub format: Option<MtaKind>,
}

/// The twin of the logs: calibrated from them, its MTA side replaced by the configuration
/// files when given.
pub(super) fn learn(
    logs: &[PathBuf],
    log: &LogArgs,
    mta: &MtaArgs,
    options: &Options,
) -> Result<calibrate::Calibration, Failure> {
    if let Some(kind) = mta.format {
        super::config::with_dialect(kind, "--mta-format")?;
    }
    let sources = mta
        .files
        .iter()
        .map(|p| read_source(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut reader = open(logs, log, KeyKind::Receiver)?;
    let mut calibration = calibrate::calibrate(&mut reader, options).map_err(|e| match e {
        CalibrateError::Invalid(_) => Failure::Internal(e.to_string()),
        _ => Failure::Input(e.to_string()),
    })?;
    if let Some(format) = mta.format {
        let imported = mta_config::import(
            format,
            &sources,
            &calibration.scenario,
            mta_config::MissingDomains::Report,
        )
        .map_err(|e| Failure::Input(e.to_string()))?;
        for warning in &imported.warnings {
            eprintln!("warning: {warning}");
        }
        let files: Vec<String> = mta.files.iter().map(|p| p.display().to_string()).collect();
        let mut scenario = imported.scenario;
        scenario.description.push_str(&format!(
            " The MTA side (flow_control, and the mta settings the MTA configures) is {}'s configuration {}, not the log's estimates.",
            format.title(),
            files.join(", ")
        ));
        scenario::compile(&scenario).map_err(|e| Failure::Input(e.to_string()))?;
        calibration.scenario = scenario;
        // The policy is the configuration's now, not what the log's estimates fell back to.
        calibration
            .fallbacks
            .retain(|note| !note.starts_with("flow_control"));
    }
    Ok(calibration)
}

/// The scenario run beside the logs.
pub(super) fn replay_logs(
    logs: &[PathBuf],
    log: &LogArgs,
    compiled: &scenario::CompiledScenario,
    bin: Span,
) -> Result<Replay, Failure> {
    let mut reader = open(logs, log, compiled.scenario.flow_control.key)?;
    replay::replay(&mut reader, compiled, bin, RunOptions::default()).map_err(|e| match e {
        replay::ReplayError::Log(e) => log_error(e),
        replay::ReplayError::Sim(e) => Failure::from(e),
    })
}

/// `mtasim replay`.
pub fn replay(args: &ReplayArgs) -> Result<(), Failure> {
    let compiled = scenario::load_file(&args.scenario, &args.overrides.set)?;
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    let target = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(format!("{}-replay", compiled.scenario.name)));
    let inputs = Inputs::new(
        "replay",
        args.logs
            .iter()
            .chain([&args.scenario])
            .map(PathBuf::as_path),
    );
    inputs.check(&target, args.out.is_some())?;
    let replayed = replay_logs(&args.logs, &args.log, &compiled, args.bin)?;
    let internal = |e: std::io::Error| Failure::Internal(format!("{}: {e}", target.display()));
    let folder = OutputFolder::create(&target).map_err(internal)?;
    inputs.mark(folder.path())?;
    let fit = serde_json::to_string_pretty(&replayed.fit)
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let scenario_text = serde_json::to_string_pretty(&compiled.scenario)
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let mut files = vec![
        ("fit.json", fit + "\n"),
        ("replay.csv", replayed.csv()),
        ("scenario.json", scenario_text + "\n"),
    ];
    if !args.no_plots {
        let html = report::render(&page(&replayed, &compiled.scenario));
        files.push(("report.html", html));
    }
    for (name, text) in files {
        std::fs::write(folder.path().join(name), text).map_err(internal)?;
    }
    let written = folder.commit().map_err(internal)?;
    if !args.quiet {
        println!(
            "replay of {} against {}: score {:.3}; fit.json, replay.csv{} in {}",
            compiled.scenario.name,
            plural(args.logs.len() as u64, "log file", "log files"),
            replayed.fit.score,
            if args.no_plots {
                ""
            } else {
                " and report.html"
            },
            written.display()
        );
        print!("{}", fit_table(&replayed));
    }
    Ok(())
}

/// The compared metrics of the terminal table and the page: key, heading, whether a time.
const COMPARED: [(&str, &str, bool); 6] = [
    ("delivered", "delivered", false),
    ("deferred", "deferred", false),
    ("bounced", "bounced", false),
    ("expired", "expired", false),
    ("latency_p90_s", "p90", true),
    ("time_held_back_s", "held back", true),
];

/// The page's table headings: [`COMPARED`] as log / twin.
const HEADERS: [&str; 9] = [
    "destination",
    "weight",
    "score",
    "delivered log / twin",
    "deferred log / twin",
    "bounced log / twin",
    "expired log / twin",
    "p90 log / twin",
    "held back log / twin",
];

/// The destinations, worst fit first (the page opens on the first).
fn worst_first(r: &Replay) -> Vec<&DestinationFit> {
    let mut all: Vec<&DestinationFit> = r.fit.destinations.iter().collect();
    all.sort_by(|a, b| {
        a.score
            .total_cmp(&b.score)
            .then(b.weight.total_cmp(&a.weight))
    });
    all
}

fn shown(value: f64, time: bool) -> String {
    if time {
        human_seconds(value)
    } else {
        format!("{value}")
    }
}

/// The terminal's fit table: every compared metric as "log / twin", worst fit first.
fn fit_table(r: &Replay) -> String {
    let mut out = format!("  {:<22} {:>6}", "destination", "score");
    for (_, heading, _) in COMPARED {
        out.push_str(&format!("  {:>21}", format!("{heading} log / twin")));
    }
    out.push('\n');
    for d in worst_first(r) {
        out.push_str(&format!("  {:<22} {:>6.3}", d.destination, d.score));
        for (key, _, time) in COMPARED {
            let m = &d.metrics[key];
            let pair = format!("{} / {}", shown(m.observed, time), shown(m.simulated, time));
            out.push_str(&format!("  {pair:>21}"));
        }
        out.push('\n');
    }
    out
}

/// The replay's report page, worst fit first: the fit table (the explanation below it),
/// and an explorer with the log and the twin as two lines on each chart, and the twin's
/// flow-control state beside the state the log shows the sender in.
fn page(r: &Replay, scenario: &scenario::Scenario) -> Page {
    let worst = worst_first(r);
    let table = worst.iter().map(|d| fit_row(d)).collect();
    let entries = worst
        .iter()
        .filter_map(|d| r.groups.iter().position(|g| *g == d.destination))
        .filter(|&g| r.observed[g].recipients + r.simulated[g].recipients > 0)
        .map(|g| {
            let name = &r.groups[g];
            entry(
                name,
                &[&r.observed[g], &r.simulated[g]],
                r.bin,
                log_replies(r, name),
            )
        })
        .collect();
    let verdict = worst.first().map_or(String::new(), |d| {
        format!(
            "Fit score {:.3}; the worst fit is {} ({:.3}).",
            r.fit.score, d.destination, d.score
        )
    });
    Page {
        title: format!("replay: {}", scenario.name),
        description: String::new(),
        facts: format!(
            "score {:.3} · curves in bins of {} · {} simulated",
            r.fit.score, r.bin, scenario.duration
        ),
        verdict,
        diagnosis: "Each metric as log / twin, worst fit first.".into(),
        headers: HEADERS.to_vec(),
        table,
        after_table: EXPLANATION.into(),
        explorer: Explorer {
            sources: vec!["log".into(), "twin".into()],
            overlay: true,
            entries,
        },
        sections: vec![
            Section {
                id: "deferrals",
                title: "Deferrals by reply".into(),
                html: replies_html(r),
            },
            Section {
                id: "scenario",
                title: "The twin's scenario".into(),
                html: format!("<p class=\"desc\">{}</p>\n", escape(&scenario.description)),
            },
        ],
    }
}

/// What the page's numbers mean, below them.
const EXPLANATION: &str = "<p class=\"note\">Each row compares the log with the twin (the scenario run beside it). \
The score is 1 minus the mean relative error (each capped at 1) of delivered, deferred, bounced, expired and latency p50/p90/p99, \
destinations weighted by their share of the log's recipients. Held back is the time the destination spent in backoff or suspended: \
for the twin its flow-control states; for the log the sender's conduct as calibrate reads it (slowed below its usual pace, or paused with mail due). \
The explorer draws the log (solid) and the twin (dashed) on the same axes, and each side's flow-control state as a strip. \
Queue depth counts every queued message (a log cannot tell ready from waiting for a retry). The replies listed are the log's deferrals by reply.</p>\n";

fn fit_row(d: &DestinationFit) -> Row {
    let mut cells = vec![
        Cell::text(&d.destination),
        Cell::number(format!("{:.3}", d.weight)).sorted_by(d.weight),
        Cell::number(format!("{:.3}", d.score)).sorted_by(d.score),
    ];
    for (key, _, time) in COMPARED {
        let m = &d.metrics[key];
        let pair = format!("{} / {}", shown(m.observed, time), shown(m.simulated, time));
        cells.push(Cell::number(pair).sorted_by(m.observed));
    }
    Row {
        destination: Some(d.destination.clone()),
        ..Row::from(cells)
    }
}

/// One destination's explorer entry: a timeline per side (log, twin, ...), drawn on the
/// same axes.
pub(super) fn entry(name: &str, sides: &[&Side], bin: Span, replies: Vec<(String, u64)>) -> Entry {
    Entry {
        name: name.to_string(),
        label: if name == OTHER {
            "other destinations (pooled)".into()
        } else {
            name.to_string()
        },
        timelines: sides.iter().map(|s| Some(timeline(s, bin))).collect(),
        thresholds: None,
        replies,
    }
}

/// The log's ten most frequent deferrals at `name`.
pub(super) fn log_replies(r: &Replay, name: &str) -> Vec<(String, u64)> {
    r.fit
        .destinations
        .iter()
        .find(|d| d.destination == name)
        .map(|d| {
            d.deferrals_by_reply
                .iter()
                .take(10)
                .map(|x| (x.reply.clone(), x.observed))
                .collect()
        })
        .unwrap_or_default()
}

fn timeline(side: &Side, bin: Span) -> Timeline {
    let times = (1..=side.curves.len())
        .map(|i| Instant::ZERO + Span::from_millis(i as u64 * bin.as_millis()))
        .collect();
    let column = |i: usize| side.curves.iter().map(|c| Some(c[i] as f64)).collect();
    // A bin's state: where the destination spent at least half of it.
    let half = bin.as_millis() / 2;
    let state = side
        .held
        .iter()
        .map(|&[backoff, suspended]| {
            Some(if suspended >= half {
                state_code(State::Suspended)
            } else if backoff + suspended >= half {
                state_code(State::Backoff)
            } else {
                state_code(State::Normal)
            })
        })
        .collect();
    Timeline {
        times,
        columns: vec![
            (Series::State, state),
            (Series::Delivered, column(0)),
            (Series::Deferred, column(1)),
            (Series::Bounced, column(2)),
            (Series::Waiting, column(3)),
        ],
    }
}

fn replies_html(r: &Replay) -> String {
    let mut html = String::from(
        "<table><thead><tr><th>destination</th><th>reply</th><th>log</th><th>twin</th></tr></thead><tbody>\n",
    );
    for d in &r.fit.destinations {
        for x in d.deferrals_by_reply.iter().take(10) {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                escape(&d.destination),
                escape(&x.reply),
                x.observed,
                x.simulated
            ));
        }
    }
    html.push_str("</tbody></table>\n");
    html
}
