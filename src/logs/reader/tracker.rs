//! What the reader remembers between records: the symbols, the destinations learned and
//! the messages in flight with their recipients, and how one lexed record becomes outcomes.

use std::collections::VecDeque;
use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHasher};

use super::super::classify::reply_key;
use super::super::destinations::Resolver;
use super::super::lexed::{LexExtra, Lexed, Span, Texts, What};
use super::super::symbols::{Sym, Symbols};
use super::super::{Extra, Kind, KumoExtra, Outcome, PmtaExtra, QueueKey, RecipientKey, Relay};

/// One recipient of a message in flight.
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: RecipientKey,
    hash: u64,
    domain: Sym,
    destination: Sym,
    next: u32,
    open: bool,
}

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
pub struct Message {
    key: QueueKey,
    first: u32,
    open: u32,
}

/// What the reader remembers between lines: symbols, destinations learned, messages in
/// flight.
pub struct Tracker {
    pub symbols: Symbols,
    resolver: Resolver,
    pub messages: FxHashMap<u128, Message>,
    recipients: FxHashMap<(u128, u64), u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    next_queue: u32,
    next_recipient: u32,
    scratch: String,
}

fn hash(text: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(text.as_bytes());
    h.finish()
}

/// Where one outcome batch came from.
#[derive(Clone, Copy)]
pub struct At {
    pub file: u16,
    pub line: u64,
}

impl Tracker {
    pub fn new(resolver: Resolver) -> Tracker {
        Tracker {
            symbols: Symbols::default(),
            resolver,
            messages: FxHashMap::default(),
            recipients: FxHashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            next_queue: 0,
            next_recipient: 0,
            scratch: String::new(),
        }
    }

    fn message(&mut self, id: u128) -> Message {
        *self.messages.entry(id).or_insert_with(|| {
            let key = QueueKey(self.next_queue);
            self.next_queue = self.next_queue.wrapping_add(1);
            Message {
                key,
                first: NIL,
                open: 0,
            }
        })
    }

    fn domain_of(&mut self, recipient: &str) -> Sym {
        let domain =
            memchr::memrchr(b'@', recipient.as_bytes()).map_or("", |at| &recipient[at + 1..]);
        let domain = domain.trim_end_matches('.');
        if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            self.scratch.clear();
            self.scratch.push_str(domain);
            self.scratch.make_ascii_lowercase();
            let s = std::mem::take(&mut self.scratch);
            let sym = self.symbols.intern(&s);
            self.scratch = s;
            sym
        } else {
            self.symbols.intern(domain)
        }
    }

    /// The slot of `recipient` of message `id`, opened if new.
    fn slot(&mut self, id: u128, recipient: &str) -> u32 {
        let h = hash(recipient);
        if let Some(&s) = self.recipients.get(&(id, h)) {
            return s;
        }
        let domain = self.domain_of(recipient);
        let key = RecipientKey(self.next_recipient);
        self.next_recipient = self.next_recipient.wrapping_add(1);
        let message = self.messages.get_mut(&id).expect("message opened first");
        let slot = Slot {
            key,
            hash: h,
            domain,
            destination: Sym::NONE,
            next: message.first,
            open: true,
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        message.first = index;
        message.open += 1;
        self.recipients.insert((id, h), index);
        index
    }

    fn close(&mut self, id: u128, slot: u32) {
        let s = &mut self.slots[slot as usize];
        if !s.open {
            return;
        }
        s.open = false;
        let h = s.hash;
        self.recipients.remove(&(id, h));
        if let Some(m) = self.messages.get_mut(&id) {
            m.open -= 1;
        }
    }

    fn forget(&mut self, id: u128) {
        let Some(m) = self.messages.remove(&id) else {
            return;
        };
        let mut at = m.first;
        while at != NIL {
            let s = self.slots[at as usize];
            if s.open {
                self.recipients.remove(&(id, s.hash));
            }
            self.free.push(at);
            at = s.next;
        }
    }

    fn extra(&mut self, extra: LexExtra, texts: Texts) -> Extra {
        match extra {
            LexExtra::Postfix(p) => Extra::Postfix(p),
            LexExtra::Kumo {
                num_attempts,
                queue,
                site,
                source,
            } => Extra::KumoMta(KumoExtra {
                num_attempts,
                queue: self.symbols.intern(texts.get(queue)),
                site: self.symbols.intern(texts.get(site)),
                egress_source: self.symbols.intern(texts.get(source)),
            }),
            LexExtra::Pmta {
                vmta,
                bounce_category,
            } => Extra::Pmta(PmtaExtra {
                vmta: self.symbols.intern(texts.get(vmta)),
                bounce_category: self.symbols.intern(texts.get(bounce_category)),
            }),
        }
    }

    /// An outcome for every recipient still open of message `id` (expired ones are closed);
    /// with none open (the log starts after they were last tried), one for the message,
    /// where its recipients went if the log saw them, else nowhere known (unattributed).
    fn whole_message(
        &mut self,
        id: u128,
        kind: Kind,
        mut base: Outcome,
        out: &mut VecDeque<Outcome>,
    ) {
        let message = self.message(id);
        base.queue = message.key;
        base.kind = kind;
        let before = out.len();
        let mut known = Sym::NONE;
        let mut at = message.first;
        while at != NIL {
            let s = self.slots[at as usize];
            if s.open {
                out.push_back(Outcome {
                    recipient: Some(s.key),
                    domain: s.domain,
                    destination: s.destination,
                    ..base
                });
                if kind == Kind::Expired {
                    self.close(id, at);
                }
            } else if known.is_none() {
                known = s.destination;
            }
            at = s.next;
        }
        if out.len() == before {
            base.destination = known;
            out.push_back(base);
        }
    }

    /// Turns one record into outcomes; `false` when it was a retry's arrival line.
    pub fn apply(
        &mut self,
        r: &Lexed,
        texts: Texts,
        rcpts: &[Span],
        at: At,
        out: &mut VecDeque<Outcome>,
    ) -> bool {
        let extra = self.extra(r.extra, texts);
        let mut base = Outcome {
            time: r.time,
            file: at.file,
            line: at.line,
            kind: Kind::Arrival,
            queue: QueueKey(0),
            recipient: None,
            recipients: 1,
            domain: Sym::NONE,
            destination: Sym::NONE,
            code: r.code,
            enhanced: r.enhanced,
            command: r.command,
            reply: Sym::NONE,
            class: r.class,
            handshake: r.handshake,
            age: r.age,
            relay: Relay {
                host: Sym::NONE,
                ip: r.relay_ip,
            },
            extra,
        };
        match r.what {
            What::Arrival { recipients } => {
                if self.messages.contains_key(&r.message) {
                    return false;
                }
                base.queue = self.message(r.message).key;
                base.kind = Kind::Arrival;
                base.recipients = recipients.max(rcpts.len() as u32);
                for (i, span) in rcpts.iter().enumerate() {
                    let slot = self.slot(r.message, texts.get(*span));
                    if i == 0 {
                        base.domain = self.slots[slot as usize].domain;
                    }
                }
                base.destination =
                    self.resolver
                        .destination(&mut self.symbols, base.domain, Sym::NONE);
                out.push_back(base);
            }
            What::Status(kind) => {
                base.queue = self.message(r.message).key;
                base.kind = kind;
                base.relay.host = self.symbols.intern(texts.get(r.relay_host));
                if kind != Kind::Delivered && !r.reply.is_empty() {
                    base.reply = self
                        .symbols
                        .intern(reply_key(texts.get(r.reply), &mut self.scratch));
                }
                for span in rcpts {
                    let slot = self.slot(r.message, texts.get(*span));
                    let domain = self.slots[slot as usize].domain;
                    // A local delivery agent's recipient is its own destination: its domain,
                    // or the agent (`local`) for an address without one.
                    let destination = match (r.local, domain.is_none()) {
                        (true, false) => domain,
                        (true, true) => base.relay.host,
                        (false, _) => {
                            self.resolver
                                .destination(&mut self.symbols, domain, base.relay.host)
                        }
                    };
                    self.slots[slot as usize].destination = destination;
                    out.push_back(Outcome {
                        recipient: Some(self.slots[slot as usize].key),
                        domain,
                        destination,
                        ..base
                    });
                    if matches!(kind, Kind::Delivered | Kind::Bounced | Kind::Expired) {
                        self.close(r.message, slot);
                    }
                }
                if r.ends_with_recipients
                    && self.messages.get(&r.message).is_some_and(|m| m.open == 0)
                {
                    self.forget(r.message);
                }
            }
            What::Expired => self.whole_message(r.message, Kind::Expired, base, out),
            What::Held => self.whole_message(r.message, Kind::Held, base, out),
            What::Removed => {
                base.queue = self.message(r.message).key;
                base.kind = Kind::Removed;
                out.push_back(base);
                self.forget(r.message);
            }
        }
        true
    }
}
