//! Time and rates, the units every module speaks: integer [`Instant`]s and [`Span`]s in
//! milliseconds (no floating-point clock anywhere) and exact [`Rate`]s with their token
//! bucket. They come from the flow-control crate, whose state machine is defined in them.

pub use mta_flow_control::rate::{Rate, RateError, TokenBucket};
pub use mta_flow_control::time::{DurationError, Instant, Span};
