//! The sending MTA: its configuration, retry schedule, message queue and the
//! discrete-event model that runs it against the receivers.

pub mod config;
mod invariants;
pub mod log;
pub mod message;
pub mod model;
pub mod pick;
pub mod retry;
pub mod world;
