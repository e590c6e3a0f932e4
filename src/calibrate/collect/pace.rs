//! The sender's pace at one destination, step by step: what it started, what failed, what
//! it held, and what mail was waiting for it. [`crate::calibrate::sender`] reads from it
//! when the sender sent at its normal pace, slowed down, or stopped with mail waiting.

use super::{Evidence, ReplyClass};
use crate::calibrate::stats::LogMoments;
use crate::flow_control::OutcomeClass;
use crate::logs::{LogReader, Outcome, RecipientKey};

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

/// Collecting the pace, as the outcomes stream by.
impl Evidence {
    /// The attempt in the sender's pace at `d`: started, failed (as MTAs count errors),
    /// and the mail that had waited for it.
    pub(super) fn pace(
        &mut self,
        o: &Outcome,
        key: RecipientKey,
        d: u32,
        (start, t): (u64, u64),
        delays: Option<[u64; 4]>,
        reader: &LogReader,
    ) {
        let reply = self.learn(o.reply, reader);
        let r = self.recipients[&key];
        let first = r.attempts == 0;
        // When it fell due: Postfix says (the time before the active queue, counted from
        // arrival: a retry's queue run, or the run after holds); else a first attempt fell
        // due on arrival.
        let due = match delays {
            Some([a, ..]) => Some(r.arrived + a),
            None => first.then_some(r.arrived),
        };
        let class = o.class.unwrap_or(OutcomeClass::Tempfail);
        let counted = match class {
            OutcomeClass::Delivered | OutcomeClass::Permfail => false,
            OutcomeClass::Tempfail => reply != ReplyClass::Greylist,
            _ => true,
        };
        if first && delays.is_none() {
            let wait = start.saturating_sub(r.arrived);
            let dest = &mut self.dests[d as usize];
            dest.queue_wait = (3 * dest.queue_wait + wait) / 4;
            let p = self.pace.entry((d, step_of(start))).or_default();
            p.first_attempts += 1;
            p.first_waits_ms += wait;
        }
        let (s, e) = (step_of(start), step_of(t));
        if let Some(due) = due {
            let due_step = step_of(due + PATIENCE).min(s);
            self.pace.entry((d, due_step)).or_default().due += 1;
            self.pace.entry((d, s)).or_default().taken += 1;
        }
        let p = self.pace.entry((d, s)).or_default();
        p.started += 1;
        p.busy_ms += delays.map_or(0, |[_, _, c, d]| c + d);
        p.timeouts += u32::from(class == OutcomeClass::Timeout);
        if counted {
            let p = self.pace.entry((d, e)).or_default();
            p.errors += 1;
            p.handshake_errors += u32::from(o.handshake);
            *self.pace_replies.entry((d, e, o.reply)).or_insert(0) += 1;
        }
        if first && class == OutcomeClass::Delivered && delays.is_none() {
            self.pace
                .entry((d, step_of(r.arrived)))
                .or_default()
                .first_delivery
                .add(t.saturating_sub(r.arrived));
        }
    }
}
