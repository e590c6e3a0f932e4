//! Messages in the queue: a compact slab whose slots are reused, so memory follows the
//! number of messages queued, not the number injected.

use super::world::DomainId;
use crate::units::Instant;

/// Where a queued message lives in the [`MessageStore`]; reused once its fate is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageSlot(pub u32);

/// One queued message (one recipient). 32 bytes.
#[derive(Debug, Clone, Copy)]
pub struct Message {
    /// Injection serial number, as shown in logs.
    pub id: u32,
    /// The domain it is addressed to.
    pub domain: DomainId,
    pub injected_at: Instant,
    /// Time of its first mail transaction (greylisting keys on it), or [`Instant::NEVER`].
    pub first_attempt: Instant,
    /// Its previous retry delay in ms (decorrelated jitter), saturating.
    pub previous_delay: u32,
    pub attempts: u16,
    /// Held at least once by dynamic flow control.
    pub held: bool,
}

/// A slab of messages with a free list.
#[derive(Debug, Default)]
pub struct MessageStore {
    slots: Vec<Message>,
    free: Vec<MessageSlot>,
}

impl MessageStore {
    pub fn insert(&mut self, message: Message) -> MessageSlot {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot.0 as usize] = message;
                slot
            }
            None => {
                self.slots.push(message);
                MessageSlot(self.slots.len() as u32 - 1)
            }
        }
    }

    /// Releases a slot whose message is final (delivered, bounced or expired).
    pub fn remove(&mut self, slot: MessageSlot) {
        self.free.push(slot);
    }

    /// Messages currently stored.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::ops::Index<MessageSlot> for MessageStore {
    type Output = Message;

    fn index(&self, slot: MessageSlot) -> &Message {
        &self.slots[slot.0 as usize]
    }
}

impl std::ops::IndexMut<MessageSlot> for MessageStore {
    fn index_mut(&mut self, slot: MessageSlot) -> &mut Message {
        &mut self.slots[slot.0 as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u32) -> Message {
        Message {
            id,
            domain: DomainId(0),
            injected_at: Instant::ZERO,
            first_attempt: Instant::NEVER,
            previous_delay: 0,
            attempts: 0,
            held: false,
        }
    }

    #[test]
    fn slots_are_reused() {
        let mut store = MessageStore::default();
        let a = store.insert(message(1));
        let b = store.insert(message(2));
        store.remove(a);
        let c = store.insert(message(3));
        assert_eq!(c, a);
        assert_eq!(store[c].id, 3);
        assert_eq!(store[b].id, 2);
        assert_eq!(store.len(), 2);
        assert_eq!(std::mem::size_of::<Message>(), 32);
    }
}
