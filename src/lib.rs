//! mtasim: a discrete-event simulator of an outbound MTA and the mail systems it delivers
//! to, for watching — and tuning — "Messages queued (dynamic flow control)".
//!
//! Data flows one way: [`scenario`] (the JSON file) -> [`mta::world`] and [`mta::model`]
//! (the MTA, its [`flow_control`] and the [`receiver`]s) -> [`engine`] (time and events)
//! -> [`metrics`] -> [`output`]. [`sim::simulate`] runs the whole chain.
//!
//! ```
//! let scenario = mtasim::scenario::load("<doc>", mtasim::scenario::DEFAULT_SCENARIO, &[
//!     "duration=10m".parse().unwrap(),
//!     "traffic.0.messages=500".parse().unwrap(),
//! ]).unwrap();
//! let result = mtasim::sim::simulate(&scenario, Default::default()).unwrap();
//! let totals = &result.summary.totals;
//! assert_eq!(totals.injected, totals.delivered + totals.bounced + totals.expired + totals.queued);
//! ```

pub mod calibrate;
pub mod diagnose;
pub mod engine;
pub mod logs;
pub mod metrics;
pub mod mta;
pub mod mta_config;
pub mod mta_kind;
pub mod output;
pub mod providers;
pub mod receiver;
pub mod replies;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod sweep;
pub mod tune;
pub mod units;
pub mod validate;

/// The per-destination flow-control state machine, a crate of its own so that a real MTA
/// can embed it.
pub use mta_flow_control as flow_control;

pub use mta_kind::MtaKind;

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod plot;
#[cfg(feature = "cli")]
pub mod report;
#[cfg(feature = "serve")]
pub mod serve;
