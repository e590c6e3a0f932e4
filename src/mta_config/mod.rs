//! Real MTA configuration in and out: KumoMTA traffic shaping, Postfix `main.cf` /
//! `master.cf` / `transport`, and PowerMTA `<domain>` blocks.
//!
//! [`import`] reads an MTA's files into a scenario's `flow_control` (and the parts of `mta`
//! the MTA configures), with the MTA's own defaults for what the files leave out and the
//! destinations they name as overrides; every directive that cannot be expressed becomes a
//! [`Warning`] with its file:line. [`export`] is the inverse: it writes a scenario (or a
//! sweep's `best.json`) in the MTA's language, each setting commented with where it came
//! from, and lists what the MTA has no equivalent for at the top instead of guessing.
//!
//! The semantics of each mapping, and where mtasim's state machine differs from the MTA's,
//! are in docs/MTA-CONFIGS.md.

mod diag;
mod dialect;
mod emit;
mod kumomta;
mod mapping;
mod notes;
mod pmta;
mod postfix;
mod provenance;
mod settings;
mod units;

pub use diag::{ConfigError, Place, Warning, WarningKind};
pub use dialect::MissingDomains;
pub use notes::{AsWritten, ImportNotes};
pub use provenance::{Provenance, SweepOrigin};

use crate::MtaKind;
use crate::scenario::Scenario;

/// One configuration file: the name it is reported under and its text.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// A scenario built from an MTA's configuration, and what did not translate exactly.
#[derive(Debug, Clone)]
pub struct Imported {
    pub scenario: Scenario,
    pub warnings: Vec<Warning>,
    /// Directives that were translated (exactly or approximately).
    pub settings: usize,
}

/// Reads `sources` (in order: later files merge over earlier ones) into a copy of `into`:
/// its `flow_control` is rebuilt from the configuration with the MTA's defaults for what
/// the files leave out; in `mta`, the fields the MTA configures are set the same way.
///
/// `kind` must have a dialect ([`MtaKind::has_config`]); the command line refuses one that
/// has none before it gets here.
///
/// A domain the configuration names that no receiver of `into` has is reported and left
/// out, or given a generic receiver, as `missing` says.
pub fn import(
    kind: MtaKind,
    sources: &[Source],
    into: &Scenario,
    missing: MissingDomains,
) -> Result<Imported, ConfigError> {
    use dialect::import as with;
    match kind {
        MtaKind::KumoMta => with::<kumomta::KumoMta>(sources, into, missing),
        MtaKind::Postfix => with::<postfix::Postfix>(sources, into, missing),
        MtaKind::Pmta => with::<pmta::Pmta>(sources, into, missing),
        MtaKind::Exim => unreachable!("{kind} has no configuration dialect (has_config)"),
    }
}

/// An exported configuration: one or more files.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// Each file's conventional name and text (every file starts with the same header).
    pub files: Vec<(&'static str, String)>,
    /// The whole configuration as one text, each file as a section.
    pub combined: String,
    /// Settings the MTA has no equivalent for (listed in the header).
    pub unsupported: usize,
}

/// Writes `scenario` in `kind`'s language; `provenance` says where it came from. `kind` must
/// have a dialect, as for [`import`].
pub fn export(kind: MtaKind, scenario: &Scenario, provenance: &Provenance) -> Exported {
    match kind {
        MtaKind::KumoMta => kumomta::export(scenario, provenance),
        MtaKind::Postfix => postfix::export(scenario, provenance),
        MtaKind::Pmta => pmta::export(scenario, provenance),
        MtaKind::Exim => unreachable!("{kind} has no configuration dialect (has_config)"),
    }
}
