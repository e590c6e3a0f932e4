//! "N events within a period" detection without allocating per event.

use crate::time::{Instant, Span};

/// The last `n` event times in a ring buffer, allocated on the first event (most
/// destinations never see one) and never again.
///
/// Edge rule: an event exactly `span` old no longer counts, so `n` events are "within"
/// the span when the newest minus the oldest is less than `span`.
#[derive(Debug, Clone)]
pub(super) struct EventWindow {
    times: Vec<Instant>,
    /// Index of the oldest kept event.
    head: usize,
    len: usize,
    n: usize,
    span: Span,
}

impl EventWindow {
    pub fn new(n: u32, span: Span) -> Self {
        EventWindow {
            times: Vec::new(),
            head: 0,
            len: 0,
            n: n as usize,
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
            self.times = vec![Instant::ZERO; self.n];
        }
        let slot = (self.head + self.len) % self.n;
        self.times[slot] = now;
        if self.len == self.n {
            self.head = (self.head + 1) % self.n;
        } else {
            self.len += 1;
        }
        self.len == self.n && now.saturating_since(self.times[self.head]) < self.span
    }

    /// Forgets every event (the trigger has been acted on).
    pub fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
    }
}
