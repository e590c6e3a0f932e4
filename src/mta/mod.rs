//! The sending MTA: its configuration, retry schedule, message queue, the world it
//! delivers into and the discrete-event model that runs it against the receivers,
//! reporting what happens to [`observe::Observer`]s.

pub mod config;
mod invariants;
pub mod message;
pub mod model;
pub mod names;
pub mod observe;
pub mod pick;
pub mod ready;
pub mod retry;
pub mod world;
