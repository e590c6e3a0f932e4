//! A destination's ready queue: its front entry, then a ring of 8-byte [`Ready`] entries
//! whose memory follows its length. A suspended destination of a large sender queues
//! tens of millions of entries; a plain `VecDeque` doubles its ring to get there (up to
//! twice the entries, all resident once the ring wraps) and keeps it after the backlog
//! drains. This one grows by an eighth once it is large and gives memory back when it is
//! mostly empty.

use std::collections::VecDeque;

use super::message::Ready;

/// Below this many entries the ring doubles, as `VecDeque` does; above, it grows by an
/// eighth (at most 12.5 % unused, for a few extra copies of the wrapped part per growth).
const DOUBLING_BELOW: usize = 1 << 16;

/// A ring at least this large is shrunk when it is less than a quarter full.
const SHRINK_ABOVE: usize = 1 << 12;

/// A FIFO of ready entries whose front is kept apart, in the destination itself: most of
/// a large population has at most one message waiting at a time, and then the ring is
/// never touched (nor, for one that never has two, allocated), so taking that message
/// reads only the destination, which was fetched ahead.
#[derive(Debug, Default)]
pub struct ReadyQueue {
    front: Option<Ready>,
    /// The entries after the front (empty while there is no front).
    rest: VecDeque<Ready>,
}

impl ReadyQueue {
    pub fn len(&self) -> usize {
        usize::from(self.front.is_some()) + self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.front.is_none()
    }

    pub fn front(&self) -> Option<Ready> {
        self.front
    }

    /// The entry at `position` from the front.
    pub fn get(&self, position: usize) -> Option<Ready> {
        match position {
            0 => self.front,
            _ => self.rest.get(position - 1).copied(),
        }
    }

    pub fn push_back(&mut self, entry: Ready) {
        if self.front.is_none() {
            self.front = Some(entry);
        } else {
            self.make_room();
            self.rest.push_back(entry);
        }
    }

    pub fn push_front(&mut self, entry: Ready) {
        if let Some(second) = self.front.replace(entry) {
            self.make_room();
            self.rest.push_front(second);
        }
    }

    pub fn pop_front(&mut self) -> Option<Ready> {
        let entry = self.front.take()?;
        self.front = self.rest.pop_front();
        let capacity = self.rest.capacity();
        if capacity >= SHRINK_ABOVE && self.rest.len() < capacity / 4 {
            self.rest.shrink_to(self.rest.len() * 2);
        }
        Some(entry)
    }

    /// How many entries the queue holds without growing.
    pub fn capacity(&self) -> usize {
        1 + self.rest.capacity()
    }

    fn make_room(&mut self) {
        let len = self.rest.len();
        if len == self.rest.capacity() && len >= DOUBLING_BELOW {
            self.rest.reserve_exact(len / 8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta::message::MessageSlot;

    fn entry(n: u32) -> Ready {
        Ready::stored(MessageSlot(n))
    }

    #[test]
    fn first_in_first_out_with_requeue_at_the_front() {
        let mut queue = ReadyQueue::default();
        for n in 0..5 {
            queue.push_back(entry(n));
        }
        queue.push_front(entry(99));
        assert_eq!(queue.len(), 6);
        assert_eq!(queue.get(5), Some(entry(4)));
        let order: Vec<Ready> = std::iter::from_fn(|| queue.pop_front()).collect();
        let expected: Vec<Ready> = [99, 0, 1, 2, 3, 4].into_iter().map(entry).collect();
        assert_eq!(order, expected);
        assert!(queue.is_empty());
    }

    #[test]
    fn one_message_at_a_time_needs_no_ring() {
        let mut queue = ReadyQueue::default();
        for n in 0..10 {
            queue.push_back(entry(n));
            assert_eq!((queue.len(), queue.front()), (1, Some(entry(n))));
            assert_eq!(queue.pop_front(), Some(entry(n)));
        }
        queue.push_front(entry(7));
        assert_eq!(queue.get(0), Some(entry(7)));
        assert_eq!(queue.get(1), None);
        assert_eq!(queue.pop_front(), Some(entry(7)));
        assert_eq!((queue.pop_front(), queue.len()), (None, 0));
        assert_eq!(queue.capacity(), 1, "no ring was allocated");
    }

    #[test]
    fn a_large_ring_grows_by_an_eighth() {
        let mut queue = ReadyQueue::default();
        let n = 1_000_000;
        for i in 0..n {
            queue.push_back(entry(i));
        }
        // Doubling would have left 1,048,576 (or more) slots; an eighth at a time
        // stays within 12.5 % of the length.
        assert!(queue.capacity() >= n as usize);
        assert!(queue.capacity() <= n as usize + n as usize / 8);
        assert_eq!(queue.front(), Some(entry(0)));
        assert_eq!(queue.get(n as usize - 1), Some(entry(n - 1)));
    }

    #[test]
    fn a_drained_ring_gives_its_memory_back() {
        let mut queue = ReadyQueue::default();
        for i in 0..100_000 {
            queue.push_back(entry(i));
        }
        let full = queue.capacity();
        for i in 0..99_000 {
            assert_eq!(queue.pop_front(), Some(entry(i)));
        }
        assert_eq!(queue.len(), 1_000);
        assert!(
            queue.capacity() < full / 4,
            "{} of {full}",
            queue.capacity()
        );
        assert!(queue.capacity() >= 1_000);
        assert_eq!(queue.front(), Some(entry(99_000)));
    }

    #[test]
    fn a_small_ring_is_never_shrunk_below_its_floor() {
        let mut queue = ReadyQueue::default();
        for i in 0..1_000 {
            queue.push_back(entry(i));
        }
        let capacity = queue.capacity();
        while queue.pop_front().is_some() {}
        assert_eq!(queue.capacity(), capacity);
    }
}
