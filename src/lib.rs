//! mtasim: a discrete-event simulator of an outbound MTA's dynamic flow control.

pub mod flow_control;
pub mod rng;
pub mod units;
pub mod validate;
