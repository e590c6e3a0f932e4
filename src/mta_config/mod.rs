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
mod emit;
mod kumomta;
mod mapping;
mod pmta;
mod postfix;
mod provenance;
mod toml_tree;
mod units;

use std::fmt;
use std::str::FromStr;

pub use diag::{ConfigError, Place, Warning, WarningKind};
pub use provenance::{Provenance, SweepOrigin};

use crate::scenario::Scenario;

/// A real MTA whose configuration mtasim reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// KumoMTA traffic shaping TOML (and the queue helper's `queue.toml`).
    Kumomta,
    /// Postfix `main.cf`, `master.cf` and a `transport_maps` table.
    Postfix,
    /// PowerMTA's `config` (`<domain>` blocks and `<smtp-pattern-list>`s).
    Pmta,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "kumomta" => Ok(Format::Kumomta),
            "postfix" => Ok(Format::Postfix),
            "pmta" => Ok(Format::Pmta),
            other => Err(format!(
                "unknown format {other:?}: expected kumomta, postfix or pmta"
            )),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Kumomta => "kumomta",
            Format::Postfix => "postfix",
            Format::Pmta => "pmta",
        })
    }
}

impl Format {
    /// The MTA's name for people.
    pub fn title(self) -> &'static str {
        match self {
            Format::Kumomta => "KumoMTA",
            Format::Postfix => "Postfix",
            Format::Pmta => "PowerMTA",
        }
    }
}

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
pub fn import(
    format: Format,
    sources: &[Source],
    into: &Scenario,
) -> Result<Imported, ConfigError> {
    match format {
        Format::Kumomta => kumomta::import(sources, into),
        Format::Postfix => postfix::import(sources, into),
        Format::Pmta => pmta::import(sources, into),
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

/// Writes `scenario` in `format`'s language; `provenance` says where it came from.
pub fn export(format: Format, scenario: &Scenario, provenance: &Provenance) -> Exported {
    match format {
        Format::Kumomta => kumomta::export(scenario, provenance),
        Format::Postfix => postfix::export(scenario, provenance),
        Format::Pmta => pmta::export(scenario, provenance),
    }
}
