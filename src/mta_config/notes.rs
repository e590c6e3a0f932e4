//! What an import could not carry into the scenario exactly, kept in the scenario itself
//! (`imported`), so that an export back to the same MTA lists what the original
//! configuration had that the scenario does not, and writes each approximated setting as
//! it was written while the scenario still holds the value the import gave it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::MtaKind;

/// The notes of one import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportNotes {
    /// The MTA whose configuration was imported.
    pub from: MtaKind,
    /// The settings left out, as the import reported them (`file:line: setting: why`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    /// Settings the scenario holds as an approximation, with the MTA's own text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub as_written: Vec<AsWritten>,
}

/// One setting as the MTA wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AsWritten {
    /// What it is about: a scenario path, or a rule's `rules[match=...].trigger`.
    pub about: String,
    /// The value the import gave it in the scenario (JSON).
    pub value: Value,
    /// The MTA's text for it.
    pub text: String,
}

impl ImportNotes {
    /// The MTA's text for `about`, if the scenario still holds `value` there (a value
    /// edited since the import is written as the scenario says).
    pub fn written(&self, kind: MtaKind, about: &str, value: &Value) -> Option<&str> {
        if self.from != kind {
            return None;
        }
        self.as_written
            .iter()
            .find(|w| w.about == about && w.value == *value)
            .map(|w| w.text.as_str())
    }
}

/// What a rule's trigger is called in the notes.
pub fn trigger_about(pattern: &str) -> String {
    format!("rules[match={pattern}].trigger")
}
