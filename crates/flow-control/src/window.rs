//! "N events within a period" detection without allocating per event.

use crate::time::{Instant, Span};

/// The last `n` event times in a ring buffer, allocated on the first event (most
/// destinations never see one) and never again.
///
/// Edge rule: an event exactly `span` old no longer counts, so `n` events are "within"
/// the span when the newest minus the oldest is less than `span`.
#[derive(Debug, Clone)]
pub(super) struct EventWindow {
    times: Box<[Instant]>,
    /// Index of the oldest kept event.
    head: u32,
    len: u32,
    n: u32,
    span: Span,
}

impl EventWindow {
    pub fn new(n: u32, span: Span) -> Self {
        EventWindow {
            times: Box::default(),
            head: 0,
            len: 0,
            n,
            span,
        }
    }

    /// Records an event at `now` (times never go backwards) and says whether `n` events now
    /// fall within the span.
    pub fn record(&mut self, now: Instant) -> bool {
        if self.n == 0 {
            return false;
        }
        if self.times.is_empty() {
            self.times = vec![Instant::ZERO; self.n as usize].into_boxed_slice();
        }
        let slot = ((u64::from(self.head) + u64::from(self.len)) % u64::from(self.n)) as u32;
        self.times[slot as usize] = now;
        if self.len == self.n {
            self.head = (self.head + 1) % self.n;
        } else {
            self.len += 1;
        }
        self.len == self.n && now.saturating_since(self.times[self.head as usize]) < self.span
    }

    /// Forgets every event (the trigger has been acted on).
    pub fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
    }
}
