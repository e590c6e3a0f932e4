//! The real MTAs mtasim speaks to: one name for each, used by every command-line flag that
//! takes one (`--format`, `--log-format`, `--mta-format`, `--export`) and by both bridges
//! to real systems, the log readers and writers (`logs`) and the configuration dialects
//! (`mta_config`).
//!
//! Not every MTA needs both: a kind whose logs mtasim reads but whose configuration it does
//! not model answers `false` to [`MtaKind::has_config`]; the configuration commands refuse
//! it with one clear error naming the kinds they take.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A real MTA.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MtaKind {
    /// Postfix: `maillog`; `main.cf`, `master.cf` and a `transport_maps` table.
    Postfix,
    /// KumoMTA: JSON log records; traffic shaping TOML and the queue helper's `queue.toml`.
    #[serde(rename = "kumomta")]
    KumoMta,
    /// PowerMTA: accounting CSV; `config` (`<domain>` blocks, `<smtp-pattern-list>`s).
    Pmta,
    /// Exim: the main log (`mainlog`); its configuration is not modelled.
    Exim,
}

impl MtaKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [MtaKind; 4] = [
        MtaKind::Postfix,
        MtaKind::KumoMta,
        MtaKind::Pmta,
        MtaKind::Exim,
    ];

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            MtaKind::Postfix => "postfix",
            MtaKind::KumoMta => "kumomta",
            MtaKind::Pmta => "pmta",
            MtaKind::Exim => "exim",
        }
    }

    /// The MTA's name for people.
    pub fn title(self) -> &'static str {
        match self {
            MtaKind::Postfix => "Postfix",
            MtaKind::KumoMta => "KumoMTA",
            MtaKind::Pmta => "PowerMTA",
            MtaKind::Exim => "Exim",
        }
    }

    /// Whether mtasim imports and exports this MTA's configuration (a log-only kind
    /// answers false).
    pub fn has_config(self) -> bool {
        match self {
            MtaKind::Postfix | MtaKind::KumoMta | MtaKind::Pmta => true,
            MtaKind::Exim => false,
        }
    }

    /// The kinds with a configuration dialect, as a list for messages ("kumomta, postfix
    /// or pmta").
    pub fn config_names() -> String {
        names(MtaKind::ALL.iter().copied().filter(|k| k.has_config()))
    }
}

/// "a, b or c".
fn names(kinds: impl Iterator<Item = MtaKind>) -> String {
    let names: Vec<&str> = kinds.map(MtaKind::name).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// The one error text for a name that is no MTA kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown MTA {given:?}: expected {}", names(MtaKind::ALL.into_iter()))]
pub struct UnknownMta {
    pub given: String,
}

impl FromStr for MtaKind {
    type Err = UnknownMta;

    fn from_str(text: &str) -> Result<Self, UnknownMta> {
        MtaKind::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| UnknownMta {
                given: text.to_string(),
            })
    }
}

impl fmt::Display for MtaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_anything_else_gets_the_one_error() {
        for kind in MtaKind::ALL {
            assert_eq!(kind.name().parse::<MtaKind>().unwrap(), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert_eq!(
            "exchange".parse::<MtaKind>().unwrap_err().to_string(),
            "unknown MTA \"exchange\": expected postfix, kumomta, pmta or exim"
        );
        assert!("Postfix".parse::<MtaKind>().is_err());
        assert_eq!(MtaKind::config_names(), "postfix, kumomta or pmta");
    }
}
