//! `mtasim import-config` and `mtasim export-config`: a real MTA's configuration into a
//! scenario, and a scenario (or a sweep's `best.json`) back into the MTA's configuration.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{Failure, OverrideArgs, load_scenario};
use crate::MtaKind;
use crate::metrics::harm::plural;
use crate::mta_config::{self, MissingDomains, Provenance, Source, SweepOrigin, WarningKind};
use crate::scenario;
use crate::sweep::Sweep;
use crate::sweep::rank::Ranking;

#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// Configuration files, in the order the MTA reads them (later files merge over
    /// earlier ones). KumoMTA: shaping TOML files and the queue helper's queue.toml.
    /// Postfix: main.cf (any *.cf), master.cf, and transport_maps table files (any other
    /// name). PowerMTA: its config file(s).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The MTA: kumomta, postfix or pmta.
    #[arg(long, value_name = "MTA", value_parser = super::parse_mta)]
    pub format: MtaKind,
    /// Scenario whose receivers, traffic and simulation settings the configuration goes
    /// into [default: the built-in default scenario].
    #[arg(long, value_name = "SCENARIO")]
    pub into: Option<PathBuf>,
    /// Where to write the scenario; its name becomes the file's stem.
    #[arg(long, value_name = "SCENARIO.json")]
    pub out: PathBuf,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Print no summary (warnings are still printed, on stderr).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Scenario file, or a sweep's best.json (its sweep.json and sweep.csv beside it add
    /// the sweep's objective, constraints and confidence to the comments).
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// The MTA: kumomta, postfix or pmta.
    #[arg(long, value_name = "MTA", value_parser = super::parse_mta)]
    pub format: MtaKind,
    /// A file gets the whole configuration (Postfix: main.cf, master.cf and transport as
    /// sections; KumoMTA: shaping TOML with queue.toml as comments). An existing folder, or
    /// a path ending in '/', gets one file each (shaping.toml + queue.toml; main.cf +
    /// master.cf + transport; config) [default: standard output].
    #[arg(long, value_name = "FILE|DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

/// `kind` when mtasim has its configuration dialect; else the one error, naming `flag`, for
/// an MTA whose logs mtasim reads but whose configuration it does not model.
pub(super) fn with_dialect(kind: MtaKind, flag: &str) -> Result<MtaKind, Failure> {
    if kind.has_config() {
        return Ok(kind);
    }
    Err(Failure::Input(format!(
        "{flag} {kind}: mtasim reads {} logs but not its configuration: expected {}",
        kind.title(),
        MtaKind::config_names()
    )))
}

/// `mtasim import-config`.
pub fn import(args: &ImportArgs) -> Result<(), Failure> {
    with_dialect(args.format, "--format")?;
    let sources = args
        .files
        .iter()
        .map(|path| read_source(path))
        .collect::<Result<Vec<_>, _>>()?;
    let into = load_scenario(args.into.as_ref(), &args.overrides.set)?.scenario;
    let missing = match args.into {
        Some(_) => MissingDomains::Report,
        None => MissingDomains::AddReceiver,
    };
    let mut imported = mta_config::import(args.format, &sources, &into, missing)
        .map_err(|e| Failure::Input(e.to_string()))?;
    if let Some(name) = scenario_name(&args.out) {
        imported.scenario.name = name;
    }
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    let text = serde_json::to_string_pretty(&imported.scenario)
        .map_err(|e| Failure::Internal(e.to_string()))?;
    write_atomically(&args.out, &(text + "\n"))?;
    if !args.quiet {
        let skipped = imported
            .warnings
            .iter()
            .filter(|w| w.kind == WarningKind::NotTranslated)
            .count();
        let approximated = imported.warnings.len() - skipped;
        println!(
            "{} imported from {} configuration into {}; {} ({skipped} not imported, {approximated} approximated)",
            plural(imported.settings as u64, "setting", "settings"),
            args.format.title(),
            args.out.display(),
            plural(imported.warnings.len() as u64, "warning", "warnings")
        );
    }
    Ok(())
}

/// `mtasim export-config`.
pub fn export(args: &ExportArgs) -> Result<(), Failure> {
    with_dialect(args.format, "--format")?;
    let scenario = scenario::load_file(&args.scenario, &args.overrides.set)?.scenario;
    let mut provenance = Provenance::scenario(args.scenario.display().to_string());
    match SweepOrigin::beside(&args.scenario) {
        Ok(sweep) => provenance.sweep = sweep,
        Err(e) => eprintln!(
            "warning: the sweep beside the scenario is unreadable, so its notes are left out: {e}"
        ),
    }
    let exported = mta_config::export(args.format, &scenario, &provenance);
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            let written = out
                .write_all(exported.combined.as_bytes())
                .and_then(|()| out.flush());
            // A reader that stops early (`| head`) wanted no more.
            if let Err(e) = written
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(Failure::Internal(format!(
                    "writing to standard output: {e}"
                )));
            }
        }
        Some(dir) if dir.is_dir() || dir.to_string_lossy().ends_with('/') => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::Internal(format!("cannot create {}: {e}", dir.display())))?;
            for (name, text) in &exported.files {
                write_atomically(&dir.join(name), text)?;
            }
            eprintln!(
                "{} written to {}; {} without a {} equivalent listed at the top",
                exported
                    .files
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
                dir.display(),
                plural(exported.unsupported as u64, "setting", "settings"),
                args.format.title()
            );
        }
        Some(file) => {
            write_atomically(file, &exported.combined)?;
            eprintln!(
                "{} written; {} without a {} equivalent listed at the top",
                file.display(),
                plural(exported.unsupported as u64, "setting", "settings"),
                args.format.title()
            );
        }
    }
    Ok(())
}

/// `sweep --export FORMAT`: the winner's configuration beside best.json, named
/// `best.<format>.<ext>`; returns the file name.
pub fn export_best(
    sweep: &Sweep,
    ranking: &Ranking,
    format: MtaKind,
    dir: &Path,
) -> Result<String, Failure> {
    let Some(best) = ranking.best else {
        return Ok(String::new());
    };
    let scenario = sweep
        .best_scenario(best, ranking)
        .map_err(|e| Failure::Internal(format!("best.json: {e}")))?;
    write_chosen(sweep, ranking, &scenario, format, dir, "best")
}

/// Writes `scenario`, the configuration `sweep` chose, in `format`'s language as
/// `<stem>.<kind>.<ext>` in `dir`, its comments naming the sweep; returns the file's name.
pub(super) fn write_chosen(
    sweep: &Sweep,
    ranking: &Ranking,
    scenario: &crate::scenario::Scenario,
    format: MtaKind,
    dir: &Path,
    stem: &str,
) -> Result<String, Failure> {
    let provenance = Provenance {
        source: "best.json".into(),
        sweep: SweepOrigin::new(sweep, ranking),
    };
    let exported = mta_config::export(format, scenario, &provenance);
    let name = match format {
        MtaKind::KumoMta => format!("{stem}.kumomta.toml"),
        MtaKind::Postfix => format!("{stem}.postfix.cf"),
        MtaKind::Pmta => format!("{stem}.pmta.config"),
        MtaKind::Exim => unreachable!("--export is checked by with_dialect"),
    };
    std::fs::write(dir.join(&name), exported.combined)
        .map_err(|e| Failure::Internal(format!("writing {name}: {e}")))?;
    Ok(name)
}

pub(super) fn read_source(path: &Path) -> Result<Source, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::Input(format!("{}: cannot read: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Failure::Input(format!(
            "{}:{line}: the file is not valid UTF-8",
            path.display()
        ))
    })?;
    Ok(Source {
        name: path.display().to_string(),
        text,
    })
}

/// The scenario name for output file `out`: its stem, when that is a valid name.
pub(super) fn scenario_name(out: &Path) -> Option<String> {
    let stem = out.file_stem()?.to_str()?;
    (!stem.is_empty() && !stem.starts_with('.')).then(|| stem.to_string())
}

/// Writes `text` to `path` through a temporary file in the same folder, so a failure
/// leaves nothing half-written.
pub(super) fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let fail =
        |e: std::io::Error| Failure::Internal(format!("cannot write {}: {e}", path.display()));
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.mtasim-tmp"));
    std::fs::write(&temp, text).map_err(fail)?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        fail(e)
    })
}
