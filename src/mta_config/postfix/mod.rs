//! Postfix: the queue manager's flow-control parameters in `main.cf` (and their
//! per-transport forms), the delivery services of `master.cf`, and a `transport_maps`
//! table that sends domains to dedicated transports: mtasim's per-destination overrides.
//!
//! Postfix keeps one queue per (transport, destination domain), so an import keys flow
//! control by domain. The queue manager reads `<transport>_destination_*` from main.cf
//! only: a `-o` override of one in a delivery service's master.cf entry has no effect
//! there (TUNING_README: "in main.cf since this is a queue manager parameter"), and the
//! import says so instead of applying it.
mod checks;
mod export;
mod import;
mod params;
mod read;
mod values;

pub use export::export;
pub(super) use import::Postfix;

use std::collections::BTreeMap;

use crate::mta_config::diag::Place;

/// A parameter as written: its raw value and where.
#[derive(Debug, Clone)]
struct Param {
    value: String,
    place: Place,
}

/// A master.cf service that delivers mail.
#[derive(Debug, Clone)]
struct Service {
    place: Place,
    maxproc: Option<(String, Place)>,
    options: Vec<(String, Param)>,
}

#[derive(Debug, Default)]
pub(in crate::mta_config) struct Config {
    main: BTreeMap<String, Param>,
    /// Delivery services by name (smtp and lmtp commands); None without a master.cf.
    services: Option<BTreeMap<String, Service>>,
    /// Transport table: domain -> (transport, nexthop, place, file).
    table: Vec<(String, String, String, Place)>,
    tables: Vec<(String, Place)>,
}

#[cfg(test)]
mod tests;
