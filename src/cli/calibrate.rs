//! `mtasim calibrate` (a scenario from a real log) and `mtasim replay` (a scenario run
//! beside the log, with its fit).

use std::path::{Path, PathBuf};

use super::config::{read_source, scenario_name, write_atomically};
use super::outputs::Inputs;
use super::{Failure, OverrideArgs, check_out};
use crate::MtaKind;
use crate::calibrate::replay::{self, OTHER, Replay, Side};
use crate::calibrate::{self, CalibrateError, Options};
use crate::flow_control::config::KeyKind;
use crate::logs::{LogReader, ReadOptions};
use crate::metrics::harm::plural;
use crate::mta_config;
use crate::output::OutputFolder;
use crate::report::{self, Cell, Entry, Explorer, Page, Row, Section, Series, Timeline};
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
    /// The MTA's configuration files: the MTA side (flow control, retries, connections)
    /// comes from them instead of from the log.
    #[arg(long, value_name = "FILE", requires = "mta_format")]
    pub mta: Vec<PathBuf>,
    /// The MTA of --mta: kumomta, postfix or pmta.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_mta, requires = "mta")]
    pub mta_format: Option<MtaKind>,
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

fn parse_span(text: &str) -> Result<Span, String> {
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
    if let Some(kind) = args.mta_format {
        super::config::with_dialect(kind, "--mta-format")?;
    }
    let sources = args
        .mta
        .iter()
        .map(|p| read_source(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut reader = open(&args.logs, &args.log, KeyKind::Receiver)?;
    let options = Options {
        bin: args.bin,
        receivers: args.receivers,
        name: scenario_name(&args.out).unwrap_or_else(|| "calibrated".into()),
    };
    let mut calibration = calibrate::calibrate(&mut reader, &options).map_err(|e| match e {
        CalibrateError::Invalid(_) => Failure::Internal(e.to_string()),
        _ => Failure::Input(e.to_string()),
    })?;
    if let Some(format) = args.mta_format {
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
        let files: Vec<String> = args.mta.iter().map(|p| p.display().to_string()).collect();
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

/// `mtasim replay`.
pub fn replay(args: &ReplayArgs) -> Result<(), Failure> {
    let compiled = scenario::load_file(&args.scenario, &args.overrides.set)?;
    let mut reader = open(&args.logs, &args.log, compiled.scenario.flow_control.key)?;
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
    let replayed = replay::replay(&mut reader, &compiled, args.bin, RunOptions::default())
        .map_err(|e| match e {
            replay::ReplayError::Log(e) => log_error(e),
            replay::ReplayError::Sim(e) => Failure::from(e),
        })?;
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
        for d in &replayed.fit.destinations {
            let m = |k: &str| &d.metrics[k];
            println!(
                "  {:<20} delivered {:>8} / {:<8} deferred {:>8} / {:<8} p90 {:>7} / {:<7} score {:.3}",
                d.destination,
                m("delivered").observed,
                m("delivered").simulated,
                m("deferred").observed,
                m("deferred").simulated,
                human_seconds(m("latency_p90_s").observed),
                human_seconds(m("latency_p90_s").simulated),
                d.score
            );
        }
    }
    Ok(())
}

const HEADERS: [&str; 13] = [
    "destination",
    "weight",
    "score",
    "delivered (log)",
    "delivered (sim)",
    "deferred (log)",
    "deferred (sim)",
    "bounced (log)",
    "bounced (sim)",
    "expired (log)",
    "expired (sim)",
    "p90 (log)",
    "p90 (sim)",
];

/// The replay's report page: the fit table, and an explorer with the log and the
/// simulation on the same axes.
fn page(r: &Replay, scenario: &scenario::Scenario) -> Page {
    let table = r
        .fit
        .destinations
        .iter()
        .map(|d| {
            let m = |k: &str| &d.metrics[k];
            let mut cells = vec![
                Cell::text(&d.destination),
                Cell::number(format!("{:.3}", d.weight)).sorted_by(d.weight),
                Cell::number(format!("{:.3}", d.score)).sorted_by(d.score),
            ];
            for key in ["delivered", "deferred", "bounced", "expired"] {
                cells.push(Cell::count(m(key).observed as u64));
                cells.push(Cell::count(m(key).simulated as u64));
            }
            for v in [m("latency_p90_s").observed, m("latency_p90_s").simulated] {
                cells.push(Cell::number(human_seconds(v)).sorted_by(v));
            }
            Row {
                destination: Some(d.destination.clone()),
                ..Row::from(cells)
            }
        })
        .collect();
    let entries = r
        .groups
        .iter()
        .enumerate()
        .filter(|(g, _)| r.observed[*g].recipients + r.simulated[*g].recipients > 0)
        .map(|(g, name)| Entry {
            name: name.clone(),
            label: if name == OTHER {
                "other destinations (pooled)".into()
            } else {
                name.clone()
            },
            timelines: vec![
                Some(timeline(&r.observed[g], r.bin)),
                Some(timeline(&r.simulated[g], r.bin)),
            ],
            thresholds: None,
            replies: r
                .fit
                .destinations
                .iter()
                .find(|d| &d.destination == name)
                .map(|d| {
                    d.deferrals_by_reply
                        .iter()
                        .take(10)
                        .map(|x| (x.reply.clone(), x.observed))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    Page {
        title: format!("replay: {}", scenario.name),
        description: scenario.description.clone(),
        facts: format!(
            "score {:.3} · curves in bins of {} · {} simulated",
            r.fit.score, r.bin, scenario.duration
        ),
        verdict: String::new(),
        diagnosis: "Each row compares the log (observed) with the simulation; the score is 1 minus the mean relative error (capped at 1) of delivered, deferred, bounced, expired and latency p50/p90/p99.".into(),
        headers: HEADERS.to_vec(),
        table,
        after_table: "<p class=\"note\">The explorer draws the log and the simulation side by side on one time axis. Queue depth: every queued message (a log cannot tell ready from waiting for a retry). The replies listed are the log's deferrals by reply.</p>\n".into(),
        explorer: Explorer {
            sources: vec!["observed".into(), "simulated".into()],
            entries,
        },
        sections: vec![Section {
            id: "deferrals",
            title: "Deferrals by reply".into(),
            html: replies_html(r),
        }],
    }
}

fn timeline(side: &Side, bin: Span) -> Timeline {
    let times = (1..=side.curves.len())
        .map(|i| Instant::ZERO + Span::from_millis(i as u64 * bin.as_millis()))
        .collect();
    let column = |i: usize| side.curves.iter().map(|c| Some(c[i] as f64)).collect();
    Timeline {
        times,
        columns: vec![
            (Series::Delivered, column(0)),
            (Series::Deferred, column(1)),
            (Series::Bounced, column(2)),
            (Series::Waiting, column(3)),
        ],
    }
}

fn replies_html(r: &Replay) -> String {
    let mut html = String::from(
        "<table><thead><tr><th>destination</th><th>reply</th><th>log</th><th>simulation</th></tr></thead><tbody>\n",
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

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
