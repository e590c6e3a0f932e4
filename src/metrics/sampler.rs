//! The time series: at every sample tick, one row per reported destination and one for
//! the total, with queue depths at the tick and outcome counts since the previous one.

use std::sync::Arc;

use super::{Detail, Interval, PerState, Sample};
use crate::flow_control::{FlowControl, State, Transition};
use crate::mta::observe::{AttemptEnd, MessageEvent, Observer, View};
use crate::mta::world::{DestinationId, World};
use crate::replies::{BounceReason, ReplyId};

/// The rate flow control lets through now, per hour (None: unlimited): nothing while
/// suspended, whatever rate the following backoff will have.
fn allowed_rate(flow: &FlowControl) -> Option<f64> {
    match flow.state() {
        State::Suspended => Some(0.0),
        State::Normal | State::Backoff => flow.rate_limit().map(|r| r.per_hour()),
    }
}

/// Collects [`Sample`]s.
pub struct Sampler {
    detail: Arc<Detail>,
    /// Counts since the last tick: per reported destination, then the total.
    intervals: Vec<Interval>,
    /// Destinations in each state now.
    in_state: PerState<u64>,
    samples: Vec<Sample>,
}

impl Sampler {
    /// A sampler for a world of `destinations`, all normal at the start.
    pub fn new(detail: Arc<Detail>, destinations: usize) -> Sampler {
        Sampler {
            intervals: vec![Interval::default(); detail.reported().len() + 1],
            in_state: PerState {
                normal: destinations as u64,
                ..PerState::default()
            },
            samples: Vec::new(),
            detail,
        }
    }

    /// The rows, in time order; at each time the reported destinations, then the total.
    pub fn into_samples(self) -> Vec<Sample> {
        self.samples
    }

    /// Counts one outcome for `d` (if it is reported) and for the total.
    #[inline]
    fn count(&mut self, d: DestinationId, field: fn(&mut Interval) -> &mut u64) {
        let total = self.intervals.len() - 1;
        let group = self.detail.group(d);
        if group < total {
            *field(&mut self.intervals[group]) += 1;
        }
        *field(&mut self.intervals[total]) += 1;
    }
}

impl Observer for Sampler {
    fn attempted(&mut self, _: &World, attempt: &AttemptEnd) {
        self.count(attempt.destination, |i| &mut i.attempts);
    }

    fn delivered(&mut self, _: &World, event: MessageEvent) {
        self.count(event.destination, |i| &mut i.delivered);
    }

    fn bounced(&mut self, _: &World, event: MessageEvent, _: BounceReason) {
        self.count(event.destination, |i| &mut i.bounced);
    }

    fn deferred(&mut self, _: &World, event: MessageEvent, _: ReplyId) {
        self.count(event.destination, |i| &mut i.deferred);
    }

    fn transition(&mut self, _: &World, _: DestinationId, transition: &Transition) {
        self.in_state[transition.from] -= 1;
        self.in_state[transition.to] += 1;
    }

    fn sample(&mut self, view: &View) {
        let now = view.at;
        for (row, &d) in self.detail.reported().iter().enumerate() {
            let destination = view.world.destination(d);
            let receiver = view.world.receiver(destination.receiver);
            let state = destination.flow.state();
            self.samples.push(Sample {
                time: now,
                destination: Some(row as u32),
                ready: destination.ready.len() as u64,
                waiting: destination.waiting,
                in_flight: destination.in_flight,
                counts: std::mem::take(&mut self.intervals[row]),
                state: Some(state),
                concurrency_limit: Some(destination.flow.concurrency_limit()),
                rate_limit_per_hour: allowed_rate(&destination.flow),
                reputation: receiver.reputation(now),
                receiver_blocking: Some(receiver.blocked()),
                receiver_tokens: receiver.tokens(now),
                in_backoff: u64::from(state == State::Backoff),
                suspended: u64::from(state == State::Suspended),
            });
        }
        let total = self.intervals.len() - 1;
        self.samples.push(Sample {
            time: now,
            destination: None,
            ready: view.queues.ready,
            waiting: view.queues.waiting,
            in_flight: view.queues.in_flight,
            counts: std::mem::take(&mut self.intervals[total]),
            state: None,
            concurrency_limit: None,
            rate_limit_per_hour: None,
            reputation: None,
            receiver_blocking: None,
            receiver_tokens: None,
            in_backoff: self.in_state.backoff,
            suspended: self.in_state.suspended,
        });
    }
}
