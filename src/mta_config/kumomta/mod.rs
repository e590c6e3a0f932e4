//! KumoMTA: traffic shaping TOML (`default`, domain and `provider` tables with their
//! `automation` rules) and the queue helper's `queue.toml` (`[queue.default]` retry).
//!
//! Files merge in order as `kumo.shaping.load` merges them (KumoCorp/kumomta
//! crates/kumo-api-types/src/shaping.rs): a later table's values replace earlier ones key
//! by key and its rules are appended, unless it says `replace_base = true`, which discards
//! what earlier files said for that table.
mod export;
mod import;
mod params;
mod read;
mod rules;
mod toml_tree;

pub use export::export;
pub(super) use import::KumoMta;

use self::toml_tree::{Field, Node};
use crate::mta_config::diag::Place;
use crate::mta_config::units::Millis;
use crate::units::Rate;

/// A shaping table after merging: its parameters (last value per name) and rules.
#[derive(Debug, Clone, Default)]
struct Entry {
    place: Place,
    params: Vec<Field>,
    automation: Vec<Node>,
    mx_rollup: bool,
}

impl Entry {
    fn merge(&mut self, other: Entry, replace: bool) {
        if replace {
            self.params = other.params;
            self.automation = other.automation;
        } else {
            for field in other.params {
                self.params.retain(|f| f.name != field.name);
                self.params.push(field);
            }
            self.automation.extend(other.automation);
        }
        self.mx_rollup = other.mx_rollup;
        if self.place.line == 0 {
            self.place = other.place;
        }
    }
}

/// A `provider` table after merging.
#[derive(Debug, Clone, Default)]
struct Provider {
    entry: Entry,
    matches: Vec<(String, String, Place)>,
    connection_limit: Option<(u32, Place)>,
    message_rate: Option<(Rate, Place)>,
}

#[derive(Debug, Default)]
pub(in crate::mta_config) struct Shaping {
    default: Entry,
    domains: Vec<(String, Entry)>,
    providers: Vec<(String, Provider)>,
    retry_interval: Option<Millis>,
    max_retry_interval: Option<Millis>,
    max_age: Option<Millis>,
}

#[cfg(test)]
mod tests;
