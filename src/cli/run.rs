//! `mtasim run`: one scenario, its outputs and a short human summary.

use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::outputs::Inputs;
use super::{Failure, OverrideArgs, check_out, load_scenario};
use crate::MtaKind;
use crate::metrics::harm;
use crate::output::{self, DeliveryLog, MtaLog, OutputFolder};
use crate::sim::{self, RunOptions, RunResult};
use crate::units::human_seconds;
use crate::{plot, report};

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Scenario file (JSON; `-` reads standard input). Without it, the built-in default
    /// scenario runs.
    pub scenario: Option<PathBuf>,
    /// Output folder [default: output/<scenario name>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed for every random stream, replacing the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
    /// Skip the charts (PNG, SVG) and report.html.
    #[arg(long)]
    pub no_plots: bool,
    /// Also write deliveries.jsonl: one line per attempt and per flow-control hold.
    #[arg(long)]
    pub log: bool,
    /// Also write the run's log in a real MTA's format: `postfix` (maillog), `kumomta`
    /// (kumo-log.jsonl) or `pmta` (acct.csv); simulated time 0 is 2026-06-14T00:00:00Z.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_mta)]
    pub log_format: Option<MtaKind>,
    /// At most this many deliveries.jsonl lines.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub log_limit: u64,
    /// Print engine statistics: events, events per second, simulated time per wall
    /// second, wall time, peak memory.
    #[arg(long)]
    pub stats: bool,
    /// Refuse scenarios injecting more messages than this.
    #[arg(long, value_name = "N", default_value_t = RunOptions::default().max_messages)]
    pub max_messages: u64,
    /// Refuse scenarios whose estimated number of events exceeds this.
    #[arg(long, value_name = "N", default_value_t = RunOptions::default().max_events)]
    pub max_events: u64,
}

impl Default for RunArgs {
    fn default() -> Self {
        let options = RunOptions::default();
        RunArgs {
            scenario: None,
            out: None,
            seed: None,
            overrides: OverrideArgs::default(),
            quiet: false,
            no_plots: false,
            log: false,
            log_format: None,
            log_limit: 1_000_000,
            stats: false,
            max_messages: options.max_messages,
            max_events: options.max_events,
        }
    }
}

/// Set by Ctrl-C; the run stops at its next poll and writes nothing.
fn interrupted() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    // A second handler cannot be installed (tests call run twice): Ctrl-C then kills.
    let _ = ctrlc::set_handler(move || handler_flag.store(true, Ordering::SeqCst));
    flag
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    // First, so a Ctrl-C at any point before the outputs are committed stops cleanly.
    let stop = interrupted();
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    let mut compiled = load_scenario(args.scenario.as_ref(), &args.overrides.set)?;
    if let Some(seed) = args.seed {
        compiled.scenario.seed = seed;
    }
    let scenario = &compiled.scenario;
    let limits = RunOptions {
        max_messages: args.max_messages,
        max_events: args.max_events,
        ..RunOptions::default()
    };
    sim::check_size(scenario, &limits)?;
    let target = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(&scenario.name));
    let inputs = Inputs::scenario("run", args.scenario.as_deref(), []);
    inputs.check(&target, args.out.is_some())?;
    let folder = OutputFolder::create(&target)
        .map_err(|e| Failure::Internal(format!("cannot create {}: {e}", target.display())))?;
    inputs.mark(folder.path())?;
    let log = if args.log {
        let file = std::fs::File::create(folder.path().join("deliveries.jsonl"))
            .map_err(|e| Failure::Internal(format!("cannot create deliveries.jsonl: {e}")))?;
        Some(DeliveryLog::new(
            Box::new(BufWriter::new(file)),
            args.log_limit,
        ))
    } else {
        None
    };
    let mta_log = args
        .log_format
        .map(|format| {
            MtaLog::create(folder.path(), format).map_err(|e| {
                Failure::Internal(format!(
                    "cannot create {}: {e}",
                    output::mta_log::file_name(format)
                ))
            })
        })
        .transpose()?;
    let polled = stop.clone();
    let options = RunOptions {
        max_messages: args.max_messages,
        max_events: args.max_events,
        keep_going: Box::new(move || !polled.load(Ordering::Relaxed)),
    };
    let (result, (log, mta_log)) = sim::simulate_with(&compiled, options, (log, mta_log))?;
    if let Some(log) = log {
        log.finish()
            .map_err(|e| Failure::Internal(format!("writing deliveries.jsonl: {e}")))?;
    }
    if let (Some(log), Some(format)) = (mta_log, args.log_format) {
        log.finish().map_err(|e| {
            Failure::Internal(format!(
                "writing {}: {e}",
                output::mta_log::file_name(format)
            ))
        })?;
    }
    output::write_run(&result, folder.path())
        .map_err(|e| Failure::Internal(format!("writing outputs: {e}")))?;
    if !args.no_plots {
        let charts = plot::draw_all(&result, folder.path())
            .map_err(|e| Failure::Internal(format!("drawing charts: {e}")))?;
        report::write(&result, &charts, folder.path())
            .map_err(|e| Failure::Internal(format!("writing report.html: {e}")))?;
    }
    // The engine polls every 65,536 events: a short run may finish after a Ctrl-C.
    if stop.load(Ordering::SeqCst) {
        return Err(Failure::Interrupted(
            "interrupted; no outputs were written or replaced".into(),
        ));
    }
    let written = folder
        .commit()
        .map_err(|e| Failure::Internal(format!("moving outputs into {}: {e}", target.display())))?;
    if !args.quiet {
        print!("{}", summary_text(&result, &written));
    }
    if args.stats {
        print_stats(&result);
    }
    Ok(())
}

/// Destinations listed one by one under "what went wrong".
const LISTED: usize = 10;

/// The run's summary, leading with what went wrong: the verdict, then every destination
/// that lost messages, was blocked, in backoff or suspended, worst first.
pub(super) fn summary_text(result: &RunResult, folder: &std::path::Path) -> String {
    let summary = &result.summary;
    let t = &summary.totals;
    let share = |n: u64| {
        if t.injected == 0 {
            0.0
        } else {
            100.0 * n as f64 / t.injected as f64
        }
    };
    let mut out = format!(
        "{} (seed {}): {} simulated in {:.2} s\n  verdict: {}\n",
        result.scenario.name,
        result.scenario.seed,
        result.stats.simulated,
        result.stats.wall.as_secs_f64(),
        harm::verdict(summary)
    );
    let harmed = harm::ranked(summary);
    if !harmed.is_empty() {
        out += "  what went wrong, worst first (messages lost, still queued, blocks, time held, \
                unknown users):\n";
        for (name, d) in harmed.iter().take(LISTED) {
            out += &format!("    {name}: {}\n", harm::describe(d));
        }
        if harmed.len() > LISTED {
            out += &format!(
                "    and {} in summary.json and report.html\n",
                harm::plural(
                    (harmed.len() - LISTED) as u64,
                    "destination",
                    "destinations"
                )
                .replacen(' ', " more ", 1)
            );
        }
    }
    if let Some(other) = summary
        .other_destinations
        .as_ref()
        .filter(|o| harm::is_harmed(&o.summary))
    {
        out += &format!(
            "    {} other destinations together: {}\n",
            other.count,
            harm::describe(&other.summary)
        );
    }
    out += &format!(
        "  injected {}  delivered {} ({:.1}%)  bounced {}  expired {}  still queued {}\n",
        t.injected,
        t.delivered,
        share(t.delivered),
        t.bounced,
        t.expired,
        t.queued
    );
    out += &format!(
        "  attempts {}  deferrals {}  latency of the delivered p50 {}  p90 {}  p99 {}\n",
        t.attempts,
        t.deferrals,
        human_seconds(t.latency_s.p50),
        human_seconds(t.latency_s.p90),
        human_seconds(t.latency_s.p99)
    );
    let engaged = summary
        .destinations
        .values()
        .filter(|d| d.backoff_entries + d.suspensions > 0)
        .count();
    if engaged == 0 {
        out += "  dynamic flow control: no destination entered backoff\n";
    } else {
        out += &format!(
            "  dynamic flow control (\"Messages queued (dynamic flow control)\"): {} holds at {}\n",
            t.dfc_holds,
            harm::plural(engaged as u64, "destination", "destinations")
        );
    }
    out += &format!("  outputs: {}\n", folder.display());
    out
}

fn print_stats(result: &RunResult) {
    let stats = &result.stats;
    let wall = stats.wall.as_secs_f64().max(1e-9);
    println!(
        "  events {}  ({:.2} M events/s)",
        stats.events,
        stats.events as f64 / wall / 1e6
    );
    println!(
        "  simulated seconds per wall second: {:.0}",
        stats.simulated.as_secs_f64() / wall
    );
    println!(
        "  wall time {:.3} s  peak pending events {}",
        wall, stats.peak_pending_events
    );
    if let Some(kib) = peak_memory_kib() {
        println!("  peak resident memory {:.1} MiB", kib as f64 / 1024.0);
    }
}

/// Peak resident set size, from /proc on Linux.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
