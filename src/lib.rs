//! mtasim: a discrete-event simulator of an outbound MTA's dynamic flow control.

pub mod receiver;
pub mod rng;
pub mod units;
pub mod validate;
