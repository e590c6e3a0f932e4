//! PowerMTA: `<domain>` blocks (`*` for every domain, a name, or a `$macro` of
//! `domain-macro`), their normal and `backoff-*` limits, `<smtp-pattern-list>`s whose
//! `reply /regex/ mode=backoff` entries switch a queue to backoff mode, and `queue-to`
//! rollups of several domains into one queue.
//!
//! PowerMTA keeps a queue per domain unless `queue-to` rolls domains together: an import
//! keys flow control by domain, or by receiver when the configuration rolls domains up.
mod destination;
mod export;
mod import;
mod params;
mod read;

pub use export::export;
pub(super) use import::Pmta;

use std::collections::BTreeMap;

use crate::mta_config::diag::Place;

/// A directive: name, value, where.
#[derive(Debug, Clone)]
struct Directive {
    name: String,
    value: String,
    place: Place,
}

#[derive(Debug, Clone)]
struct DomainBlock {
    /// `*`, a domain, or `$macro`.
    name: String,
    place: Place,
    directives: Vec<Directive>,
}

#[derive(Debug, Clone)]
struct Pattern {
    regex: String,
    actions: Vec<(String, Option<String>)>,
    place: Place,
}

#[derive(Debug, Default)]
pub(in crate::mta_config) struct Config {
    macros: BTreeMap<String, (Vec<String>, Place)>,
    domains: Vec<DomainBlock>,
    lists: BTreeMap<String, Vec<Pattern>>,
}

#[cfg(test)]
mod tests;
