//! The `mtasim` command line: argument definitions and the commands they run.
//! `main.rs` only calls [`main`].

/// The command line prints through `console`, which a closed pipe does not make panic:
/// these shadow std's `println!`, `print!` and `eprintln!` in `cli` and every module
/// declared below.
macro_rules! println {
    () => {
        $crate::cli::console::out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::console::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::console::out(format_args!($($arg)*))
    };
}

macro_rules! eprintln {
    ($($arg:tt)*) => {
        $crate::cli::console::err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod calibrate;
mod config;
mod console;
mod diagnose;
mod outputs;
mod run;
#[cfg(feature = "serve")]
mod serve;
mod sweep;
mod tune;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::mta_kind::{MtaKind, UnknownMta};
use crate::scenario::{self, CompiledScenario, Override, ScenarioError};
use crate::sim::{Limit, SimError};

/// Simulate an outbound MTA's dynamic flow control against synthetic receivers.
#[derive(Debug, Parser)]
#[command(
    name = "mtasim",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Examples:\n  \
    mtasim run                  the built-in default scenario -> output/default/\n  \
    mtasim run scenarios/yahoo-deferrals.json --set duration=12h --log\n  \
    mtasim sweep scenarios/tuning-backoff.json \\\n      \
    --vary flow_control.errors.threshold=5,10,20 \\\n      \
    --replications 3 --minimize p95_latency --require blocks=0\n\
    \n\
    Exit codes: 0 ok, 2 bad input (nothing written), 1 internal failure,\n\
    130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario and write its outputs (no scenario: the built-in default).
    #[command(after_help = "Examples:\n  \
    mtasim run                  the built-in default scenario -> output/default/\n  \
    mtasim run scenarios/hammering.json --out hammering\n  \
    mtasim run scenarios/yahoo-deferrals.json --set duration=12h --seed 9 --log\n  \
    mtasim run scenarios/reputation-few-domains.json --log-format postfix \\\n      \
    --out few\n\
    \n\
    The summary leads with what went wrong (messages lost, blocks, backoff),\n\
    worst first. A default folder holding another scenario's outputs is not\n\
    replaced: give --out.\n\
    Exit codes: 0 ok, 2 bad input (nothing written), 1 internal failure,\n\
    130 interrupted.")]
    Run(run::RunArgs),
    /// Check scenario files without running them.
    #[command(after_help = "Examples:\n  \
    mtasim validate scenarios/*.json   each file: ok, or its error (line:column)\n  \
    mtasim validate mine.json --set duration=12h\n  \
    cat mine.json | mtasim validate -\n\
    \n\
    Exit codes: 0 every file is valid, 2 at least one is not.")]
    Validate {
        /// Scenario files to check (`-` reads standard input).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        overrides: OverrideArgs,
    },
    /// Print the JSON Schema of the scenario format.
    #[command(after_help = "Examples:\n  \
    mtasim schema > scenario.schema.json   for editors' completion and checks")]
    Schema,
    /// List the built-in catalogue of provider replies that scenarios can name.
    #[command(after_help = "Examples:\n  \
    mtasim replies | grep yahoo   the names a receiver's replies can use")]
    Replies,
    /// Run a scenario over a grid of configurations and seeds, and rank them.
    #[command(after_help = "Examples:\n  \
    mtasim sweep scenarios/tuning-backoff.json \\\n      \
    --plan scenarios/sweeps/tuning-backoff.json\n  \
    mtasim sweep scenarios/tuning-backoff.json \\\n      \
    --vary flow_control.errors.threshold=5..80:x2 \\\n      \
    --vary flow_control.backoff.to_normal_after=5m..1h:5m \\\n      \
    --replications 5 --require blocks=0\n  \
    mtasim sweep kumo.json \\\n      \
    --vary 'flow_control.overrides.microsoft.max_rate=2000/h..32000/h:x2' \\\n      \
    --minimize p95_latency --export kumomta --out kumo-sweep\n  \
    mtasim sweep mine.json --plan plan.json --shard 3/8 --out shards/shard-3 -q\n\
    \n\
    Exit codes: 0 ok, 2 bad input (nothing runs), 1 internal failure.")]
    Sweep(Box<sweep::SweepArgs>),
    /// Combine the shard folders of `mtasim sweep --shard` into the whole sweep's outputs.
    #[command(after_help = "Examples:\n  \
    mtasim sweep-merge shards/shard-* --out sweep\n  \
    mtasim sweep-merge shards/shard-0 shards/shard-1 shards/shard-2 \\\n      \
    --export postfix --out sweep\n\
    \n\
    A missing shard is named (shard 3/8 is missing); nothing is written then.\n\
    Exit codes: 0 ok, 2 bad input.")]
    SweepMerge(sweep::MergeArgs),
    /// Turn a real MTA's configuration (KumoMTA, Postfix, PowerMTA) into a scenario.
    #[command(after_help = "Examples:\n  \
    mtasim import-config shaping.toml --format kumomta --out scenarios/mine.json\n  \
    mtasim import-config main.cf master.cf transport --format postfix \\\n      \
    --into scenarios/yahoo-deferrals.json --out postfix.json\n  \
    mtasim import-config /etc/pmta/config --format pmta --out pmta.json\n\
    \n\
    What cannot be expressed is printed as a warning with file:line and why.\n\
    Exit codes: 0 ok, 2 bad input (syntax error with file:line:column; nothing\n\
    written).")]
    ImportConfig(config::ImportArgs),
    /// Write a scenario (or a sweep's best.json) as a real MTA's configuration.
    #[command(after_help = "Examples:\n  \
    mtasim export-config output/tuning-backoff-sweep/best.json \\\n      \
    --format kumomta --out shaping.toml\n  \
    mtasim export-config scenarios/default.json --format postfix --out postfix/\n  \
    mtasim export-config scenarios/default.json --format pmta\n\
    \n\
    Settings the MTA has no equivalent for are listed in a comment at the top.")]
    ExportConfig(config::ExportArgs),
    /// Diagnose a real Postfix, KumoMTA or PowerMTA log: which destinations a
    /// dynamic-flow-control MTA would have put into backoff, when and why.
    #[command(after_help = "Examples:\n  \
    mtasim diagnose /var/log/maillog /var/log/maillog.1.gz --year 2026 \\\n      \
    --utc-offset +02:00\n  \
    mtasim diagnose kumo-logs/*.zst --scenario scenarios/yahoo-deferrals.json \\\n      \
    --out diag/\n  \
    zcat acct-*.csv.gz | mtasim diagnose - --log-format pmta\n\
    \n\
    Exit codes: 0 ok, 2 bad input (unreadable file, no delivery record; nothing\n\
    written).")]
    Diagnose(Box<diagnose::DiagnoseArgs>),
    /// Estimate a scenario whose receivers and MTA behave like those of a real log.
    #[command(after_help = "Examples:\n  \
    mtasim calibrate /var/log/maillog* --out mine.json\n  \
    mtasim calibrate kumo-logs/*.jsonl.zst --bin 10m --receivers 30 \\\n      \
    --mta shaping.toml --mta-format kumomta --out mine.json\n\
    \n\
    Estimates that fall back to a default say why on stderr and in the\n\
    scenario's description.\n\
    Exit codes: 0 ok, 2 bad input (nothing written).")]
    Calibrate(Box<calibrate::CalibrateArgs>),
    /// Run a scenario beside a real log and compare them per destination (fit.json, report).
    #[command(after_help = "Examples:\n  \
    mtasim replay gmail-run/kumo-log.jsonl --scenario gmail.json\n  \
    mtasim replay /var/log/maillog* --scenario mine.json --year 2026 \\\n      \
    --utc-offset +02:00 --out replay/\n\
    \n\
    Exit codes: 0 ok, 2 bad input (nothing written).")]
    Replay(Box<calibrate::ReplayArgs>),
    /// From a log to a configuration: calibrate a twin of the sender and its receivers,
    /// check it replays the log, sweep its flow control, and write the best policy in the
    /// MTA's own language.
    #[command(after_help = "Examples:\n  \
    mtasim tune /var/log/maillog* --year 2026 --out tuned/\n  \
    mtasim tune kumo-logs/*.jsonl.zst --vary flow_control.errors.threshold=5,10,20,40 \\\n      \
    --require blocks=0 --require expired=0 --export kumomta --out tuned/\n\n\
Steps: calibrate (twin.json), replay (fit.json; a fit below 0.9 stops here, naming the worst\n\
destinations, unless --accept-fit), sweep (sweep/), the best (best.json and the MTA's\n\
configuration), report.html with the log, the twin and the recommendation side by side.\n\
Exit codes: 0 ok, 2 bad input or a twin too unlike its log (nothing written), 1 internal failure.")]
    Tune(Box<tune::TuneArgs>),
    /// Serve the scenario's receivers as SMTP servers on loopback, to test a real MTA
    /// against them; with --submit, also play its traffic into that MTA.
    #[cfg(feature = "serve")]
    #[command(after_help = "Examples:\n  \
    mtasim serve scenarios/greylisting.json --routes postfix --for 1h\n  \
    mtasim serve lab.json --submit 127.0.0.1:25 --submit-from '' --out lab-out/\n  \
    mtasim serve lab.json --listen 127.0.0.1 --port 2600 --time-scale 60 --for 2m\n\n\
Receivers listen on 127.0.0.2, 127.0.0.3, ... (or consecutive ports with --listen), loopback only.\n\
Outputs are written when it stops (--for or Ctrl-C): summary.json, timeseries.csv,\n\
deliveries.jsonl (each accepted message, recorded before its 250), report.html.\n\
Exit codes: 0 ok (also when stopped by Ctrl-C), 2 bad input or an address in use (nothing written).")]
    Serve(Box<serve::ServeArgs>),
}

/// `--set path=value`, accepted by every command that reads a scenario.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OverrideArgs {
    /// Override a scenario value: dotted path, list items by index, value read as JSON
    /// when it parses as JSON, else as a string (`--set duration=12h`,
    /// `--set receivers.0.share=0.5`). Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = parse_override)]
    pub set: Vec<Override>,
}

fn parse_override(text: &str) -> Result<Override, String> {
    text.parse()
}

/// The value of every flag that names an MTA (`--format`, `--log-format`, `--mta-format`,
/// `--export`): one parser, one error text.
fn parse_mta(text: &str) -> Result<MtaKind, UnknownMta> {
    text.parse()
}

/// A failed command: what to print and the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: exit code 2.
    Input(String),
    /// A failure of mtasim itself or of the system: exit code 1.
    Internal(String),
    /// Stopped by Ctrl-C (SIGINT): exit code 130, as shells report 128 + SIGINT.
    Interrupted(String),
    /// Bad input whose errors are already printed: exit code 2.
    Reported,
}

/// Overrides come from `--set` on the command line.
impl From<ScenarioError> for Failure {
    fn from(e: ScenarioError) -> Self {
        Failure::Input(e.describe("--set"))
    }
}

/// A run too large is the user's to fix (with the flag that raises the limit); an
/// interrupted or failed run is not.
impl From<SimError> for Failure {
    fn from(e: SimError) -> Self {
        match e {
            SimError::TooLarge { limit, .. } => {
                let flag = match limit {
                    Limit::Messages => "--max-messages",
                    Limit::Events => "--max-events",
                };
                Failure::Input(format!("{e}; raise it with {flag}"))
            }
            SimError::Interrupted(_) => Failure::Interrupted(e.to_string()),
            SimError::Internal(_) => Failure::Internal(e.to_string()),
        }
    }
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run::run(&run::RunArgs::default()),
        Some(Command::Run(args)) => run::run(&args),
        Some(Command::Validate { files, overrides }) => validate(&files, &overrides.set),
        Some(Command::Schema) => print_schema(),
        Some(Command::Replies) => print_replies(),
        Some(Command::Sweep(args)) => sweep::sweep(&args),
        Some(Command::SweepMerge(args)) => sweep::merge(&args),
        Some(Command::ImportConfig(args)) => config::import(&args),
        Some(Command::ExportConfig(args)) => config::export(&args),
        Some(Command::Diagnose(args)) => diagnose::diagnose(&args),
        Some(Command::Calibrate(args)) => calibrate::calibrate(&args),
        Some(Command::Replay(args)) => calibrate::replay(&args),
        Some(Command::Tune(args)) => tune::tune(&args),
        #[cfg(feature = "serve")]
        Some(Command::Serve(args)) => serve::serve(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Internal(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Interrupted(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(130)
        }
        Err(Failure::Reported) => ExitCode::from(2),
    }
}

/// An `--out` that names an existing file (not a folder) is bad input, refused before
/// anything runs.
pub fn check_out(out: &std::path::Path) -> Result<(), Failure> {
    if out.exists() && !out.is_dir() {
        return Err(Failure::Input(format!(
            "--out {}: is a file, not a folder",
            out.display()
        )));
    }
    Ok(())
}

/// Loads and compiles the scenario at `path`, or the built-in default.
pub fn load_scenario(
    path: Option<&PathBuf>,
    overrides: &[Override],
) -> Result<CompiledScenario, Failure> {
    Ok(match path {
        Some(path) => scenario::load_file(path, overrides)?,
        None => scenario::load("<default scenario>", scenario::DEFAULT_SCENARIO, overrides)?,
    })
}

/// Checks every file, printing `ok` or its error for each; bad input (exit code 2) when
/// any is not a valid scenario.
fn validate(files: &[PathBuf], overrides: &[Override]) -> Result<(), Failure> {
    let mut failed = 0;
    for file in files {
        let name = if file.as_os_str() == "-" {
            "<stdin>".into()
        } else {
            file.display().to_string()
        };
        match scenario::load_file(file, overrides) {
            Ok(compiled) => println!(
                "{name}: ok ({} messages, {} simulated)",
                compiled.scenario.total_messages(),
                compiled.scenario.duration
            ),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}", e.describe("--set"));
            }
        }
    }
    match failed {
        0 => Ok(()),
        _ if files.len() == 1 => Err(Failure::Reported),
        _ => Err(Failure::Input(format!(
            "{failed} of {} files are not valid scenarios",
            files.len()
        ))),
    }
}

fn print_schema() -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(&scenario::schema())
        .map_err(|e| Failure::Internal(e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn print_replies() -> Result<(), Failure> {
    for entry in crate::replies::catalogue() {
        println!("{:<26} {}", entry.name, entry.text);
    }
    Ok(())
}
