//! The discrete-event engine: a clock, an event queue and a run loop.
//!
//! It knows nothing about mail. A model is anything that handles its own event type; the
//! engine pops events in (time, sequence) order — equal times run first-in first-out, as
//! in SimPy — and hands each to the model with a [`Scheduler`] to schedule more.

use crate::units::{Instant, Span};

/// One pending event.
#[derive(Clone, Copy)]
struct Entry<E> {
    time: Instant,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    /// Whether this one runs before `other`: the earlier, then the older. Compared as one
    /// 128-bit number (time above sequence), the same order as the pair's: one comparison
    /// and one branch where the pair's takes two of each, mispredicted often in a sift.
    #[inline(always)]
    fn before(&self, other: &Self) -> bool {
        self.key() < other.key()
    }

    #[inline(always)]
    fn key(&self) -> u128 {
        (u128::from(self.time.as_millis()) << 64) | u128::from(self.seq)
    }
}

/// The pending events as a binary min-heap on (time, sequence). Written out rather than
/// `std::collections::BinaryHeap` so that an entry being placed stays in registers while
/// it sifts: the standard heap writes it into its slot and reads it back at once, and a
/// read of an entry just written in several pieces cannot be forwarded from the store
/// buffer, so it waits for every older store, the model's cache-missing ones included.
struct Heap<E> {
    entries: Vec<Entry<E>>,
}

impl<E: Copy> Heap<E> {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn peek(&self) -> Option<&Entry<E>> {
        self.entries.first()
    }

    fn push(&mut self, entry: Entry<E>) {
        let mut hole = self.entries.len();
        // A slot at the bottom; the hole ends where `entry` belongs and it is written there.
        self.entries.push(entry);
        while hole > 0 {
            let parent = (hole - 1) / 2;
            if !entry.before(&self.entries[parent]) {
                break;
            }
            self.entries[hole] = self.entries[parent];
            hole = parent;
        }
        self.entries[hole] = entry;
    }

    /// Up to this many entries (2 MiB of 32-byte entries) the heap stays in the cache and
    /// a sift chooses each level's earlier child without a branch; which one it is, is a
    /// coin toss a predictor misses half the time. Beyond it, the branch's speculation
    /// starts the next level's cache misses early, which is worth more than the misses.
    const CHOOSE_WITHOUT_BRANCH_UP_TO: usize = 1 << 16;

    /// Puts `entry` in the root's place and sifts it down.
    fn replace_root(&mut self, entry: Entry<E>) {
        if self.entries.len() <= Self::CHOOSE_WITHOUT_BRANCH_UP_TO {
            self.sift_down::<false>(entry);
        } else {
            self.sift_down::<true>(entry);
        }
    }

    /// Sifts `entry` down from the root, choosing each level's earlier child by a branch
    /// (`SPECULATE`) or by arithmetic.
    #[inline(always)]
    fn sift_down<const SPECULATE: bool>(&mut self, entry: Entry<E>) {
        let len = self.entries.len();
        let mut hole = 0;
        loop {
            let mut child = 2 * hole + 1;
            if child >= len {
                break;
            }
            if child + 1 < len {
                let right_first = self.entries[child + 1].before(&self.entries[child]);
                if SPECULATE {
                    if right_first {
                        child += 1;
                    }
                } else {
                    child += usize::from(right_first);
                }
            }
            if !self.entries[child].before(&entry) {
                break;
            }
            self.entries[hole] = self.entries[child];
            hole = child;
        }
        self.entries[hole] = entry;
    }

    fn pop(&mut self) {
        if let Some(last) = self.entries.pop()
            && !self.entries.is_empty()
        {
            self.replace_root(last);
        }
    }
}

/// The clock and the pending events. Models schedule through it.
pub struct Scheduler<E> {
    now: Instant,
    next_seq: u64,
    queue: Heap<E>,
    /// The root was handed out by `pop_until` and is still in the heap: the next event
    /// scheduled takes its place (one sift instead of a pop and a push, and most handlers
    /// schedule one), else the next pop removes it.
    taken: bool,
}

impl<E: Copy> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> Scheduler<E> {
    pub fn new() -> Self {
        Scheduler {
            now: Instant::ZERO,
            next_seq: 0,
            queue: Heap {
                entries: Vec::new(),
            },
            taken: false,
        }
    }

    /// The current simulated time.
    #[inline]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Schedules `event` at absolute time `at`; a time in the past runs now.
    #[inline]
    pub fn at(&mut self, at: Instant, event: E) {
        let entry = Entry {
            time: at.max(self.now),
            seq: self.next_seq,
            event,
        };
        self.next_seq += 1;
        // Later than the root it replaces (time at least now, a newer sequence), so sifting
        // it down keeps the heap, and the order of every pop, as a push would.
        if std::mem::take(&mut self.taken) {
            self.queue.replace_root(entry);
        } else {
            self.queue.push(entry);
        }
    }

    /// Schedules `event` after `delay`.
    #[inline]
    pub fn after(&mut self, delay: Span, event: E) {
        self.at(self.now.saturating_add(delay), event);
    }

    /// Number of events waiting.
    pub fn pending(&self) -> usize {
        self.queue.len() - usize::from(self.taken)
    }

    /// Time of the next event, if any.
    pub fn peek_time(&mut self) -> Option<Instant> {
        self.settle();
        self.queue.peek().map(|entry| entry.time)
    }

    /// Removes the root handed out last, if no event has taken its place.
    fn settle(&mut self) {
        if std::mem::take(&mut self.taken) {
            self.queue.pop();
        }
    }

    /// Removes the next event if it is due at or before `until`, advancing the clock to it.
    #[inline]
    pub fn pop_until(&mut self, until: Instant) -> Option<E> {
        self.settle();
        let root = self.queue.peek()?;
        if root.time > until {
            return None;
        }
        self.now = root.time;
        let event = root.event;
        self.taken = true;
        Some(event)
    }
}

/// A simulation model: reacts to its events, scheduling others.
pub trait Model {
    type Event;

    fn handle(&mut self, event: Self::Event, scheduler: &mut Scheduler<Self::Event>);
}

/// What a run of the engine did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Events processed.
    pub events: u64,
    /// Most events pending at once, as seen at each poll and at the end.
    pub peak_pending: usize,
}

/// Runs `model` until no event is due at or before `until`, then sets the clock to
/// `until`. `keep_going` is polled every 65,536 events so an interrupted run can stop
/// early (the clock then stays where it stopped); it returns false to stop.
pub fn run<M: Model<Event: Copy>>(
    model: &mut M,
    scheduler: &mut Scheduler<M::Event>,
    until: Instant,
    mut keep_going: impl FnMut() -> bool,
) -> Progress {
    const POLL_EVERY: u64 = 1 << 16;
    let mut progress = Progress::default();
    while let Some(event) = scheduler.pop_until(until) {
        model.handle(event, scheduler);
        progress.events += 1;
        if progress.events % POLL_EVERY == 0 {
            progress.peak_pending = progress.peak_pending.max(scheduler.pending());
            if !keep_going() {
                scheduler.settle();
                return progress;
            }
        }
    }
    progress.peak_pending = progress.peak_pending.max(scheduler.pending());
    scheduler.now = scheduler.now.max(until);
    progress
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Records (time, label) of every event; label 0 schedules two more.
    struct Recorder(Vec<(u64, u32)>);

    impl Model for Recorder {
        type Event = u32;

        fn handle(&mut self, event: u32, scheduler: &mut Scheduler<u32>) {
            self.0.push((scheduler.now().as_millis(), event));
            if event == 0 {
                scheduler.after(Span::from_millis(5), 10);
                scheduler.after(Span::ZERO, 11);
            }
        }
    }

    #[test]
    fn events_run_in_time_order_with_fifo_ties() {
        let mut scheduler = Scheduler::new();
        for (time, label) in [(30, 1), (10, 2), (30, 3), (10, 4), (20, 5), (10, 6)] {
            scheduler.at(at(time), label);
        }
        let mut model = Recorder(Vec::new());
        let progress = run(&mut model, &mut scheduler, at(100), || true);
        assert_eq!(
            progress,
            Progress {
                events: 6,
                peak_pending: 0
            }
        );
        assert_eq!(
            model.0,
            vec![(10, 2), (10, 4), (10, 6), (20, 5), (30, 1), (30, 3)]
        );
        assert_eq!(scheduler.now(), at(100));
    }

    #[test]
    fn events_scheduled_now_run_after_those_already_due_now() {
        let mut scheduler = Scheduler::new();
        scheduler.at(at(7), 0);
        scheduler.at(at(7), 1);
        let mut model = Recorder(Vec::new());
        run(&mut model, &mut scheduler, at(100), || true);
        assert_eq!(model.0, vec![(7, 0), (7, 1), (7, 11), (12, 10)]);
    }

    #[test]
    fn run_stops_at_until_and_keeps_later_events() {
        let mut scheduler = Scheduler::new();
        scheduler.at(at(50), 1);
        scheduler.at(at(51), 2);
        let mut model = Recorder(Vec::new());
        run(&mut model, &mut scheduler, at(50), || true);
        assert_eq!(model.0, vec![(50, 1)]);
        assert_eq!(scheduler.pending(), 1);
        assert_eq!(scheduler.peek_time(), Some(at(51)));
    }

    /// Schedules 0, 1 or 2 events per event handled, at pseudo-random delays (ties
    /// included), for as long as labels last.
    struct Branching {
        seen: Vec<(u64, u32)>,
        state: u64,
        next_label: u32,
    }

    impl Branching {
        fn draw(&mut self) -> u64 {
            self.state = self
                .state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.state >> 33
        }

        /// The events `label` schedules when handled: (delay, new label) pairs.
        fn children(&mut self) -> Vec<(u64, u32)> {
            let count = if self.next_label < 5_000 {
                self.draw() % 3
            } else {
                0
            };
            (0..count)
                .map(|_| {
                    self.next_label += 1;
                    (self.draw() % 4, self.next_label)
                })
                .collect()
        }
    }

    impl Model for Branching {
        type Event = u32;

        fn handle(&mut self, event: u32, scheduler: &mut Scheduler<u32>) {
            self.seen.push((scheduler.now().as_millis(), event));
            for (delay, label) in self.children() {
                scheduler.after(Span::from_millis(delay), label);
            }
        }
    }

    #[test]
    fn the_handed_out_root_changes_no_order() {
        let mut model = Branching {
            seen: Vec::new(),
            state: 7,
            next_label: 100,
        };
        let mut scheduler = Scheduler::new();
        for label in 0..100 {
            scheduler.at(at(u64::from(label % 5)), label);
        }
        run(&mut model, &mut scheduler, Instant::NEVER, || true);
        // The same model against a plain list searched for the least (time, sequence).
        let mut reference = Branching {
            seen: Vec::new(),
            state: 7,
            next_label: 100,
        };
        let mut pending: Vec<(u64, u64, u32)> = (0..100)
            .map(|label| (u64::from(label % 5), u64::from(label), label))
            .collect();
        let mut seq = 100;
        while let Some(i) = (0..pending.len()).min_by_key(|&i| (pending[i].0, pending[i].1)) {
            let (now, _, label) = pending.swap_remove(i);
            reference.seen.push((now, label));
            for (delay, child) in reference.children() {
                pending.push((now + delay, seq, child));
                seq += 1;
            }
        }
        assert!(model.seen.len() > 1_000, "{}", model.seen.len());
        assert_eq!(model.seen, reference.seen);
        assert_eq!(scheduler.pending(), 0);
    }

    #[test]
    fn an_interrupted_run_leaves_only_the_events_not_handled() {
        let mut scheduler = Scheduler::new();
        for label in 0..(1 << 16) + 3 {
            scheduler.at(at(1), label + 100);
        }
        let mut model = Recorder(Vec::new());
        let progress = run(&mut model, &mut scheduler, at(10), || false);
        assert_eq!(progress.events, 1 << 16);
        assert_eq!(scheduler.pending(), 3);
        assert_eq!(scheduler.peek_time(), Some(at(1)));
    }

    /// Pushes, root replacements and pops against a sorted list, with many equal times.
    #[test]
    fn the_heap_gives_the_earliest_then_the_oldest() {
        let mut heap = Heap {
            entries: Vec::new(),
        };
        let mut reference: Vec<(u64, u64)> = Vec::new();
        let mut state = 11u64;
        for seq in 0..20_000u64 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let time = (state >> 40) % 64;
            let entry = Entry {
                time: at(time),
                seq,
                event: seq as u32,
            };
            match (state >> 20) % 3 {
                0 if !reference.is_empty() => {
                    reference.remove(0);
                    heap.pop();
                }
                // Replacing takes an entry not before the root, as `Scheduler::at` does.
                1 if !reference.is_empty() && at(time) >= heap.peek().unwrap().time => {
                    reference.remove(0);
                    heap.replace_root(entry);
                    reference.push((time, seq));
                }
                _ => {
                    heap.push(entry);
                    reference.push((time, seq));
                }
            }
            reference.sort_unstable();
            let root = heap.peek().map(|e| (e.time.as_millis(), e.seq, e.event));
            let want = reference.first().map(|&(t, s)| (t, s, s as u32));
            assert_eq!(root, want, "after {seq}");
        }
        assert!(heap.len() > 100, "{}", heap.len());
        while let Some(&(time, seq)) = reference.first() {
            let root = heap.peek().expect("as many as the reference");
            assert_eq!((root.time.as_millis(), root.seq), (time, seq));
            heap.pop();
            reference.remove(0);
        }
        assert_eq!(heap.len(), 0);
    }

    /// Grows the heap past the size up to which a sift chooses children without a branch
    /// and shrinks it again, root replacements among the pops, against an ordered set.
    #[test]
    fn both_ways_of_choosing_a_child_keep_the_order() {
        const LIMIT: usize = Heap::<u32>::CHOOSE_WITHOUT_BRANCH_UP_TO;
        let mut heap = Heap {
            entries: Vec::new(),
        };
        let mut reference = std::collections::BTreeSet::new();
        let mut state = 5u64;
        let mut draw = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) % 1_000
        };
        let mut seq = 0u64;
        let mut entry = |time: u64| {
            seq += 1;
            Entry {
                time: at(time),
                seq,
                event: seq as u32,
            }
        };
        for _ in 0..LIMIT + 5_000 {
            let e = entry(draw());
            heap.push(e);
            reference.insert((e.time.as_millis(), e.seq));
        }
        assert!(heap.len() > LIMIT);
        while let Some(&(time, seq)) = reference.first() {
            let root = heap.peek().expect("as many as the reference");
            assert_eq!((root.time.as_millis(), root.seq), (time, seq));
            reference.pop_first();
            if seq % 4 == 0 {
                let later = entry(time + draw());
                heap.replace_root(later);
                reference.insert((later.time.as_millis(), later.seq));
            } else {
                heap.pop();
            }
        }
        assert_eq!(heap.len(), 0);
    }

    #[test]
    fn past_times_run_now() {
        let mut scheduler = Scheduler::new();
        scheduler.at(at(10), 1);
        let mut model = Recorder(Vec::new());
        run(&mut model, &mut scheduler, at(10), || true);
        scheduler.at(at(3), 2);
        assert_eq!(scheduler.peek_time(), Some(at(10)));
    }
}
