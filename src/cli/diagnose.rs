//! `mtasim diagnose LOG...`: which destinations a dynamic-flow-control MTA would have put
//! into backoff, from a real Postfix, KumoMTA or PowerMTA log.

use std::path::{Path, PathBuf};

use super::calibrate::{LogArgs, log_error};
use super::outputs::Inputs;
use super::{Failure, check_out, load_scenario};
use crate::diagnose::table::{self, TableDiagnosis};
use crate::diagnose::{self, Diagnosis, Options};
use crate::logs::destinations::Providers;
use crate::logs::{LogReader, ReadOptions, YearSource};
use crate::metrics::harm::plural;
use crate::output::OutputFolder;
use crate::units::{Span, human_seconds};

#[derive(Debug, Clone, clap::Args)]
pub struct DiagnoseArgs {
    /// Log files, read as one stream in time order (rotated logs, `.gz` and `.zst`
    /// decompressed; `-` reads standard input).
    #[arg(required_unless_present = "table", value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// A collated error table instead of a log: CSV or TSV with a header row naming a
    /// domain, an error (or reply) and a count column, and optionally a day or time column,
    /// as a campaign tool exports it (`-` reads standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "logs")]
    pub table: Option<PathBuf>,
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

pub fn diagnose(args: &DiagnoseArgs) -> Result<(), Failure> {
    if let Some(table) = &args.table {
        return diagnose_table(args, table);
    }
    let (target, inputs) = target_folder(args, &args.logs, default_out(&args.logs))?;
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
    let folder = create(&target)?;
    diagnose::output::write_data(&diagnosis, folder.path())
        .map_err(|e| Failure::Internal(format!("writing outputs: {e}")))?;
    inputs.mark(folder.path())?;
    if !args.no_plots {
        diagnose::output::write_visuals(&diagnosis, folder.path())
            .map_err(|e| Failure::Internal(format!("drawing charts and report.html: {e}")))?;
    }
    let written = commit(folder, &target)?;
    if !args.quiet {
        print_summary(&diagnosis, &written);
    }
    Ok(())
}

/// The output folder of a diagnosis of `files` (`--out`, else `default`, which must not
/// hold another input's diagnosis) and the inputs to mark it with.
fn target_folder(
    args: &DiagnoseArgs,
    files: &[PathBuf],
    default: PathBuf,
) -> Result<(PathBuf, Inputs), Failure> {
    let target = args.out.clone().unwrap_or(default);
    check_out(&target)?;
    let inputs = Inputs::new("diagnosis", files.iter().map(PathBuf::as_path));
    inputs.check(&target, args.out.is_some())?;
    Ok((target, inputs))
}

fn create(target: &Path) -> Result<OutputFolder, Failure> {
    OutputFolder::create(target)
        .map_err(|e| Failure::Internal(format!("cannot create {}: {e}", target.display())))
}

fn commit(folder: OutputFolder, target: &Path) -> Result<PathBuf, Failure> {
    folder
        .commit()
        .map_err(|e| Failure::Internal(format!("moving outputs into {}: {e}", target.display())))
}

/// `diagnose --table`: reads the table whole (it is small), diagnoses it and writes
/// diagnosis.json and report.html.
fn diagnose_table(args: &DiagnoseArgs, path: &Path) -> Result<(), Failure> {
    let name = if path.as_os_str() == "-" {
        "stdin".to_string()
    } else {
        path.file_stem()
            .map_or_else(|| "table".to_string(), |n| n.to_string_lossy().to_string())
    };
    let default = PathBuf::from("output").join(format!("{name}-diagnosis"));
    let (target, inputs) = target_folder(args, &[path.to_path_buf()], default)?;
    let shown = path.display().to_string();
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| Failure::Input(format!("cannot read {shown}: {e}")))?;
    let table = table::read::read(&shown, &text).map_err(|e| Failure::Input(e.to_string()))?;
    let d = table::diagnose(&table);
    let folder = create(&target)?;
    let json = serde_json::to_string_pretty(&d).expect("a diagnosis serialises") + "\n";
    let write = |file: &str, text: &str| {
        std::fs::write(folder.path().join(file), text)
            .map_err(|e| Failure::Internal(format!("writing {file}: {e}")))
    };
    write("diagnosis.json", &json)?;
    inputs.mark(folder.path())?;
    if !args.no_plots {
        let page = crate::report::error_table::page(&d, &name);
        write("report.html", &crate::report::render(&page))?;
    }
    let written = commit(folder, &target)?;
    if !args.quiet {
        print_table_summary(&d, &written);
    }
    Ok(())
}

fn print_table_summary(d: &TableDiagnosis, folder: &Path) {
    println!("{}: {}", d.verdict.as_str(), d.summary);
    println!(
        "{} rows, {} domains, {} errors: {} queued by flow control, {} deferred, {} bounced{}",
        d.rows,
        d.domains.len(),
        d.errors,
        d.held,
        d.deferred,
        d.bounced,
        if d.total_rows > 0 {
            format!(" ({} total rows left out)", d.total_rows)
        } else {
            String::new()
        }
    );
    if let Some(t) = &d.time {
        println!(
            "{} to {}; the most errors at {}: {} at {} domains",
            t.first, t.last, t.busiest, t.busiest_errors, t.busiest_domains
        );
    }
    println!(
        "{:<24} {:>8} {:>6} {:>8} {:>8} {:>8}  cause: top error",
        "domain", "errors", "share", "queued", "deferred", "bounced"
    );
    for r in d.domains.iter().take(15) {
        println!(
            "{:<24} {:>8} {:>5.1}% {:>8} {:>8} {:>8}  {}: {}",
            r.domain,
            r.errors,
            100.0 * r.share,
            r.held,
            r.deferred,
            r.bounced,
            r.cause.describe(),
            r.top_errors.first().map_or("", |e| e.error.as_str())
        );
    }
    if d.domains.len() > 15 {
        println!("... and {} more domains", d.domains.len() - 15);
    }
    println!("next:");
    for n in &d.next {
        println!("  - {n}");
    }
    println!("outputs in {}", folder.display());
}

fn print_summary(d: &Diagnosis, folder: &Path) {
    let l = &d.lines;
    for t in &l.truncated {
        eprintln!("warning: {t}");
    }
    println!("{}: {}", d.verdict.verdict.as_str(), d.verdict.summary);
    println!(
        "{} lines read: {} parsed, {} skipped, {} malformed",
        l.read, l.parsed, l.skipped, l.malformed
    );
    if l.other_format > 0 {
        let kinds: Vec<String> = l
            .skipped_by_kind
            .iter()
            .filter(|(k, _)| k.contains("another format") || k.contains("does not read"))
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        println!(
            "  {} lines of another format skipped: {}",
            l.other_format,
            kinds.join(", ")
        );
    }
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
        "{} to {} ({}): {} ({} busy), {} attempts, {} delivered, {} deferred, {} bounced, {} expired, {} held",
        d.time.first,
        d.time.end,
        human_seconds(d.time.span_s),
        plural(d.destinations.len() as u64, "destination", "destinations"),
        d.verdict.busy,
        t.attempts,
        t.delivered,
        t.deferred,
        t.bounced,
        t.expired,
        t.held
    );
    if t.held > 0 {
        println!(
            "  held: {} deferrals the MTA made without an attempt (its destination suspended or throttled), not counted as attempts",
            t.held
        );
    }
    let u = &d.unattributed;
    if u.expired + u.held + u.attempts > 0 {
        println!(
            "  unattributed (the log starts after these messages' recipients were last tried): {} expired, {} held",
            u.expired, u.held
        );
    }
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
