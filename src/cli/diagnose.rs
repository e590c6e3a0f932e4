//! `mtasim diagnose LOG...`: which destinations a dynamic-flow-control MTA would have put
//! into backoff, from a real Postfix, KumoMTA or PowerMTA log.

use std::path::{Path, PathBuf};

use super::calibrate::{LogArgs, log_error};
use super::{Failure, check_out, load_scenario};
use crate::diagnose::{self, Diagnosis, Options};
use crate::logs::destinations::Providers;
use crate::logs::{LogReader, ReadOptions, YearSource};
use crate::output::OutputFolder;
use crate::units::{Span, human_seconds};

#[derive(Debug, Clone, clap::Args)]
pub struct DiagnoseArgs {
    /// Log files, read as one stream in time order (rotated logs, `.gz` and `.zst`
    /// decompressed; `-` reads standard input).
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
    /// The flow-control policy (and destination key) to replay the log through: this
    /// scenario's `flow_control` [default: the built-in default scenario's].
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// More MX providers: a JSON file `{"name": ["mx suffix", ...]}`.
    #[arg(long, value_name = "FILE")]
    pub providers: Option<PathBuf>,
    /// The time series' interval (doubled when the log spans more than 2,880 of them).
    #[arg(long, value_name = "SPAN", default_value = "1m", value_parser = parse_span)]
    pub interval: Span,
    /// Output folder [default: output/<log name>-diagnosis].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Skip the charts (PNG, SVG) and report.html.
    #[arg(long)]
    pub no_plots: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_span(text: &str) -> Result<Span, String> {
    let span: Span = text.parse().map_err(|e| format!("{e}"))?;
    if span < Span::SECOND {
        return Err(format!("{text:?} is below one second"));
    }
    Ok(span)
}

/// `output/<first log's name>-diagnosis`: `maillog.2.gz` gives `maillog.2-diagnosis`.
fn default_out(logs: &[PathBuf]) -> PathBuf {
    let first = logs.first().map(PathBuf::as_path).unwrap_or(Path::new("-"));
    let name = if first.as_os_str() == "-" {
        "stdin".to_string()
    } else {
        let name = first
            .file_name()
            .map_or_else(|| "log".to_string(), |n| n.to_string_lossy().to_string());
        name.strip_suffix(".gz")
            .or_else(|| name.strip_suffix(".zst"))
            .unwrap_or(&name)
            .to_string()
    };
    PathBuf::from("output").join(format!("{name}-diagnosis"))
}

/// Names the inputs of a default output folder, so another input's run does not replace
/// it silently.
const INPUT_MARK: &str = ".mtasim-input";

/// The logs, as the default folder records them: absolute paths, one a line.
fn input_identity(logs: &[PathBuf]) -> String {
    logs.iter()
        .map(|p| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Refuses to replace a default folder that holds another log's diagnosis.
fn check_default_folder(target: &Path, identity: &str) -> Result<(), Failure> {
    let Ok(previous) = std::fs::read_to_string(target.join(INPUT_MARK)) else {
        return Ok(());
    };
    if previous.trim_end() == identity {
        return Ok(());
    }
    Err(Failure::Input(format!(
        "{} holds the diagnosis of {}; give --out DIR to diagnose {} beside it (or remove the folder)",
        target.display(),
        previous.trim_end().replace('\n', ", "),
        identity.replace('\n', ", ")
    )))
}

pub fn diagnose(args: &DiagnoseArgs) -> Result<(), Failure> {
    let target = args.out.clone().unwrap_or_else(|| default_out(&args.logs));
    check_out(&target)?;
    let identity = input_identity(&args.logs);
    if args.out.is_none() {
        check_default_folder(&target, &identity)?;
    }
    let compiled = load_scenario(args.scenario.as_ref(), &[])?;
    let mut providers = Providers::builtin();
    if let Some(path) = &args.providers {
        providers = providers
            .with_file(path)
            .map_err(|e| Failure::Input(e.to_string()))?;
    }
    let read = ReadOptions {
        format: args.log.log_format,
        year: args.log.year,
        utc_offset_minutes: args.log.utc_offset,
        key: compiled.scenario.flow_control.key,
        providers,
    };
    let mut reader = LogReader::open(&args.logs, read).map_err(log_error)?;
    let options = Options {
        policies: compiled.policies.clone(),
        interval: args.interval,
    };
    let diagnosis =
        diagnose::diagnose(&mut reader, options).map_err(|e| Failure::Input(e.to_string()))?;
    let folder = OutputFolder::create(&target)
        .map_err(|e| Failure::Internal(format!("cannot create {}: {e}", target.display())))?;
    diagnose::output::write_data(&diagnosis, folder.path())
        .map_err(|e| Failure::Internal(format!("writing outputs: {e}")))?;
    if args.out.is_none() {
        std::fs::write(folder.path().join(INPUT_MARK), identity + "\n")
            .map_err(|e| Failure::Internal(format!("writing {INPUT_MARK}: {e}")))?;
    }
    if !args.no_plots {
        diagnose::output::write_visuals(&diagnosis, folder.path())
            .map_err(|e| Failure::Internal(format!("drawing charts and report.html: {e}")))?;
    }
    let written = folder
        .commit()
        .map_err(|e| Failure::Internal(format!("moving outputs into {}: {e}", target.display())))?;
    if !args.quiet {
        print_summary(&diagnosis, &written);
    }
    Ok(())
}

fn print_summary(d: &Diagnosis, folder: &Path) {
    let l = &d.lines;
    println!("{}: {}", d.verdict.verdict.as_str(), d.verdict.summary);
    println!(
        "{} lines read: {} parsed, {} skipped, {} malformed",
        l.read, l.parsed, l.skipped, l.malformed
    );
    for m in &l.first_malformed {
        println!(
            "  malformed {}:{}: {} ({})",
            m.file, m.line, m.reason, m.text
        );
    }
    for f in &d.time.files {
        let year = match (f.origin.year, f.origin.year_source) {
            (None, _) => "timestamps with their own year and zone".to_string(),
            (Some(y), YearSource::Given) => format!("year {y} (--year)"),
            (Some(y), YearSource::FileModified) => {
                format!("year {y} (from the file's modification time; --year to change)")
            }
            (Some(y), YearSource::Now) => format!("year {y} (the current year; --year to change)"),
        };
        let minutes = f.origin.utc_offset_minutes;
        println!(
            "  {} ({}): {year}, UTC offset {}{:02}:{:02}",
            f.name,
            f.format.name(),
            if minutes < 0 { '-' } else { '+' },
            minutes.unsigned_abs() / 60,
            minutes.unsigned_abs() % 60
        );
    }
    let t = &d.totals;
    println!(
        "{} to {} ({}): {} destinations ({} busy), {} attempts, {} delivered, {} deferred, {} bounced, {} expired",
        d.time.origin,
        d.time.end,
        human_seconds(d.time.span_s),
        d.destinations.len(),
        d.verdict.busy,
        t.attempts,
        t.delivered,
        t.deferred,
        t.bounced,
        t.expired
    );
    if !d.episodes.is_empty() {
        println!("backoff episodes: {}", d.episodes.len());
    }
    for e in d.episodes.iter().take(12) {
        let end = e.end.as_deref().unwrap_or("end of log");
        println!(
            "  {}: {} to {}, {} errors, {}: {}",
            e.destination,
            e.start,
            end,
            e.errors,
            e.cause.describe(),
            e.top_reply
        );
        if let Some(advice) = e.advice {
            println!("    {advice}");
        }
    }
    if d.episodes.len() > 12 {
        println!("  ... {} more in diagnosis.json", d.episodes.len() - 12);
    }
    if d.episodes
        .iter()
        .take(12)
        .any(|e| e.top_reply.contains('*'))
    {
        println!(
            "  (* in a reply: a per-message token, such as a queue ID, masked so equal replies group)"
        );
    }
    println!("outputs: {}", folder.display());
}
