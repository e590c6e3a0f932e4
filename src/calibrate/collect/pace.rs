//! The sender's pace at one destination, step by step: what it started, what failed, what
//! it held, and what mail was waiting for it. [`crate::calibrate::sender`] reads from it
//! when the sender sent at its normal pace, slowed down, or stopped with mail waiting.

use crate::calibrate::stats::LogMoments;

/// The pace's resolution: fine enough to place a backoff's start within an error window.
pub const STEP: u64 = 10_000;

/// How long mail may wait before it counts as waiting: a session's length and a log's
/// clock resolution (KumoMTA and PowerMTA log an attempt's end, not its start).
pub const PATIENCE: u64 = 5_000;

/// One destination in one step.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Attempts that started in this step.
    pub started: u32,
    /// Failures that ended in this step and that MTAs count toward backoff: 4xx replies
    /// other than greylisting, refused and timed-out connections, the MTA's own errors.
    pub errors: u32,
    /// Of those, failures at connect or greeting.
    pub handshake_errors: u32,
    /// Attempts that started here and timed out (their slot was busy, not idle).
    pub timeouts: u32,
    /// Flow-control holds logged here (Postfix "delivery temporarily suspended", KumoMTA's
    /// suspended queue).
    pub held: u32,
    /// Messages that fell due here (arrivals; Postfix retries at their due time), counted
    /// once they are attempted, and those of them taken for their attempt here: the mail
    /// waiting at a step's end is the sum of the difference so far.
    pub due: u32,
    pub taken: u32,
    /// Session time of the attempts started here (Postfix `delays` c + d).
    pub busy_ms: u64,
    /// The shortest wait, in seconds, from a deferral ending here to the message's next
    /// attempt (`u32::MAX`: none): a backoff's least retry delay shows in it.
    pub retry_wait: u32,
    /// Arrival to end of first-attempt deliveries of mail that arrived here (the whole
    /// session, for logs without timings).
    pub first_delivery: LogMoments,
    /// First attempts that started here, and their total wait since arrival (ms): the
    /// queue a retry starting here waited in too.
    pub first_attempts: u32,
    pub first_waits_ms: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            started: 0,
            errors: 0,
            handshake_errors: 0,
            timeouts: 0,
            held: 0,
            due: 0,
            taken: 0,
            busy_ms: 0,
            retry_wait: u32::MAX,
            first_delivery: LogMoments::default(),
            first_attempts: 0,
            first_waits_ms: 0,
        }
    }
}

/// The step of a time in ms.
pub fn step_of(t: u64) -> u32 {
    (t / STEP) as u32
}
