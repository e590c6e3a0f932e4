//! Messages in the queue: a compact slab whose slots are reused, so memory follows the
//! number of messages queued, not the number injected.

use super::world::DomainId;
use crate::replies::ReplyId;
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
    /// The reply of its last attempt ([`ReplyId::NONE`] before the first): why it
    /// expires, if it does.
    pub last_reply: ReplyId,
    /// Attempts so far (15 bits, saturating) and, in the top bit, whether dynamic flow
    /// control ever held it: packed so that a message stays 32 bytes.
    attempts_and_held: u16,
}

const HELD: u16 = 1 << 15;

impl Message {
    /// A message that arrives at `injected_at`, never attempted.
    pub fn new(id: u32, domain: DomainId, injected_at: Instant) -> Message {
        Message {
            id,
            domain,
            injected_at,
            first_attempt: Instant::NEVER,
            previous_delay: 0,
            last_reply: ReplyId::NONE,
            attempts_and_held: 0,
        }
    }

    pub fn attempts(&self) -> u16 {
        self.attempts_and_held & !HELD
    }

    /// Counts an attempt answered with `reply`.
    pub fn attempted(&mut self, reply: ReplyId) {
        if self.attempts() < !HELD {
            self.attempts_and_held += 1;
        }
        self.last_reply = reply;
    }

    /// Whether dynamic flow control has held it back at least once.
    pub fn held(&self) -> bool {
        self.attempts_and_held & HELD != 0
    }

    /// The message an arrived [`Ready`] entry stands for, held back or not.
    pub fn arrival(id: u32, domain: DomainId, injected_at: Instant, held: bool) -> Message {
        let mut message = Message::new(id, domain, injected_at);
        if held {
            message.hold();
        }
        message
    }

    /// Marks it held; returns whether this is its first hold.
    pub fn hold(&mut self) -> bool {
        let first = !self.held();
        self.attempts_and_held |= HELD;
        first
    }
}

/// An entry of a destination's ready queue, 8 bytes: a stored message, or one that has
/// only arrived (never attempted, so nothing about it but its id and arrival time is
/// known yet). A destination in a long suspension queues millions of the latter; keeping
/// them out of the [`MessageStore`] until a session takes one is what keeps a day of 10^8
/// messages in memory. Whether an arrived message was held is its position in the queue
/// (see `Destination::unheld`), so it needs no flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// The slot, or the arrived message's id.
    word: u32,
    /// The arrival time in ms, or [`Ready::STORED`].
    arrived: u32,
}

/// What a ready entry stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyMessage {
    Stored(MessageSlot),
    /// Arrived at `arrived` as message `id`, to the destination's only domain.
    Arrived {
        id: u32,
        arrived: Instant,
    },
}

impl Ready {
    const STORED: u32 = u32::MAX;

    pub fn stored(slot: MessageSlot) -> Ready {
        Ready {
            word: slot.0,
            arrived: Ready::STORED,
        }
    }

    /// An arrived message, if its arrival time fits the entry (under 49.7 days into the
    /// run; later arrivals are stored).
    pub fn arrived(id: u32, arrived: Instant) -> Option<Ready> {
        let ms = u32::try_from(arrived.as_millis()).ok()?;
        (ms != Ready::STORED).then_some(Ready {
            word: id,
            arrived: ms,
        })
    }

    pub fn message(self) -> ReadyMessage {
        if self.arrived == Ready::STORED {
            ReadyMessage::Stored(MessageSlot(self.word))
        } else {
            ReadyMessage::Arrived {
                id: self.word,
                arrived: Instant::from_millis(u64::from(self.arrived)),
            }
        }
    }
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
        Message::new(id, DomainId(0), Instant::ZERO)
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

    #[test]
    fn ready_entries_keep_a_slot_or_an_arrival_in_8_bytes() {
        assert_eq!(std::mem::size_of::<Ready>(), 8);
        let stored = Ready::stored(MessageSlot(7));
        assert_eq!(stored.message(), ReadyMessage::Stored(MessageSlot(7)));
        let at = Instant::from_millis(u64::from(u32::MAX) - 1);
        let arrived = Ready::arrived(u32::MAX, at).expect("fits");
        assert_eq!(
            arrived.message(),
            ReadyMessage::Arrived {
                id: u32::MAX,
                arrived: at
            }
        );
        assert_eq!(
            Ready::arrived(1, Instant::from_millis(u64::from(u32::MAX))),
            None
        );
        assert!(Message::arrival(1, DomainId(0), at, true).held());
        assert!(!Message::arrival(1, DomainId(0), at, false).held());
    }

    #[test]
    fn attempts_and_the_hold_share_a_field_without_mixing() {
        let mut m = message(1);
        assert_eq!(
            (m.attempts(), m.held(), m.last_reply),
            (0, false, ReplyId::NONE)
        );
        assert!(m.hold());
        assert!(!m.hold());
        for _ in 0..40_000 {
            m.attempted(ReplyId::NONE);
        }
        assert_eq!((m.attempts(), m.held()), (32_767, true));
    }
}
