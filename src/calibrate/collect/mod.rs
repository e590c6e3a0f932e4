//! The one pass over a log's outcomes: what every estimator needs, collected as the
//! outcomes stream by, in memory bounded by the recipients in flight, the destinations and
//! the (destination, time bin) pairs that saw traffic.

use rustc_hash::{FxHashMap, FxHashSet};

use super::stats::{CoarseHistogram, LogMoments};

mod connects;
pub mod pace;
pub mod retries;
use crate::flow_control::OutcomeClass;
use crate::logs::{Extra, Kind, LogError, LogReader, Outcome, QueueKey, RecipientKey, Sym};
use crate::replies::{BounceReason, Signal};
use crate::units::Span;
pub use connects::{Connects, FailRun, FoundOutage};
pub use pace::Pace;
pub use retries::{Retries, RetrySample};

const MINUTE: u64 = 60_000;

/// What a reply says, for the estimators (from its text, once per distinct reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyClass {
    Greylist,
    RateLimit,
    Other,
}

/// Asks [`Signal`] (src/replies/, the one home of what a reply means) once per reply.
fn classify(text: &str) -> ReplyClass {
    match Signal::of(text) {
        Signal::Greylisting => ReplyClass::Greylist,
        Signal::RateLimit => ReplyClass::RateLimit,
        _ => ReplyClass::Other,
    }
}

/// Counts of one destination in one minute.
#[derive(Debug, Clone, Copy, Default)]
pub struct Minute {
    pub delivered: u32,
    pub rate_limited: u32,
    pub greeting_rejects: u32,
    /// Connection setup and transaction time of its attempts (Postfix `delays` c + d).
    pub busy_ms: u64,
}

/// Counts of one destination in one `--bin`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bin {
    /// Attempts that reached a mail transaction (a reply to it).
    pub transactions: u32,
    pub delivered: u32,
    pub deferred: u32,
    pub bounced: u32,
    pub expired: u32,
    /// Deferrals no other behaviour explains (not greylisting, not a rate limit).
    pub unexplained: u32,
    /// Deferrals with a rate-limit reply.
    pub rate_limited: u32,
    /// Flow-control holds (the MTA held a due message back).
    pub held: u32,
    /// Recipients that arrived in this bin and later went to this destination.
    pub arrived: u32,
    /// Recipients whose fate became final (delivered, bounced, expired).
    pub finished: u32,
}

/// Greylisting bounds: a later attempt deferred by greylisting came `lower` after the
/// message's first transaction; one accepted after a greylisted first came `upper` after.
#[derive(Debug, Clone, Copy, Default)]
pub struct GreylistBounds {
    pub lower: Option<u64>,
    pub upper: Option<u64>,
    pub greylisted: u64,
}

/// Everything about one destination.
#[derive(Debug, Clone, Default)]
pub struct Dest {
    pub name: Sym,
    /// Distinct recipients attempted.
    pub recipients: u64,
    pub domains: FxHashMap<Sym, u64>,
    pub attempts: u64,
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub unknown_users: u64,
    /// Permanent failures other than 5.1.1 (blocks, policy rejections).
    pub other_bounces: u64,
    pub expired: u64,
    pub held: u64,
    pub greeting_rejects: u64,
    /// The first delivery, the first rate-limit reply, and the deliveries before it (the
    /// rate limit's burst shows there).
    pub first_delivery: Option<u64>,
    pub first_limited: Option<u64>,
    pub delivered_before_limit: u64,
    /// Deferrals by reply key.
    pub deferrals_by_reply: FxHashMap<Sym, u64>,
    /// Unexplained deferrals per reply: (bin, count) in time order.
    pub unexplained: FxHashMap<Sym, Vec<(u32, u32)>>,
    /// Greeting rejects by reply.
    pub reject_replies: FxHashMap<Sym, u64>,
    /// Rate-limit deferrals per reply: (bin, count) in time order.
    pub rate_limited: FxHashMap<Sym, Vec<(u32, u32)>>,
    pub latency: LogMoments,
    pub connect_latency: LogMoments,
    /// Delivery latency (arrival to delivery).
    pub delivery: CoarseHistogram,
    pub connects: Connects,
    pub greylist: GreylistBounds,
    /// How long its latest first attempts waited after arrival, smoothed (ms): the queue a
    /// retry waits in too.
    pub queue_wait: u64,
}

/// One recipient in flight.
#[derive(Debug, Clone, Copy)]
struct Recipient {
    dest: u32,
    arrived: u64,
    /// End of its last attempt (or hold), and whether it was deferred (or held).
    last: u64,
    last_deferred: bool,
    attempts: u32,
    /// Deferrals and holds so far.
    deferrals: u32,
    /// Start of its first mail transaction.
    first_transaction: Option<u64>,
    greylisted_first: bool,
}

/// Where the traffic's arrival times came from.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArrivalSources {
    /// Arrival records (Postfix qmgr `nrcpt=`, KumoMTA `Reception`).
    pub records: u64,
    /// The first outcome's time minus its age.
    pub ages: u64,
    /// The first attempt's time (no age, no arrival record).
    pub first_attempts: u64,
    /// Arrived before the log's first record (counted at time 0).
    pub before_start: u64,
}

/// A message's arrival record, until each of its recipients has been seen.
#[derive(Debug, Clone, Copy)]
struct Arrived {
    at: u64,
    recipients: u32,
    seen: u32,
}

/// The evidence of a whole log.
#[derive(Debug, Default)]
pub struct Evidence {
    /// The time of the first record: time 0 of the scenario.
    pub origin: Option<crate::logs::UnixMillis>,
    /// ms since the origin of the last record.
    pub end: u64,
    pub bin: u64,
    pub dests: Vec<Dest>,
    by_name: FxHashMap<Sym, u32>,
    pub minutes: FxHashMap<(u32, u32), Minute>,
    pub bins: FxHashMap<(u32, u32), Bin>,
    /// All destinations per minute: busy time (Postfix c + d).
    pub busy_minutes: FxHashMap<u32, u64>,
    /// Per destination and [`pace::STEP`]: the sender's pace.
    pub pace: FxHashMap<(u32, u32), Pace>,
    /// Per destination, step and reply: the counted failures of [`Pace::errors`].
    pub pace_replies: FxHashMap<(u32, u32, Sym), u32>,
    /// New connections (attempts that were not on a reused one) and the MTA's own
    /// failures per bin: the MTA's errors strike when it connects.
    pub mta_bins: Vec<(u32, u32)>,
    /// Recipients arriving per bin (the traffic).
    pub traffic: Vec<u64>,
    pub sources: ArrivalSources,
    /// Retries and expiries: the MTA's retry schedule and expiry rule show there.
    pub retries: Retries,
    /// The oldest age seen at any outcome.
    pub oldest: u64,
    pub exact_replies: FxHashMap<Sym, String>,
    /// The texts of destination and domain symbols.
    pub names: FxHashMap<Sym, String>,
    classes: Vec<Option<ReplyClass>>,
    recipients: FxHashMap<RecipientKey, Recipient>,
    arrivals: FxHashMap<QueueKey, Arrived>,
    /// Queue keys of messages with an arrival record still being followed.
    with_record: FxHashSet<QueueKey>,
    /// Outcomes without a recipient key (not followed).
    pub unkeyed: u64,
    /// Whether any outcome carried Postfix `delays=`.
    pub has_delays: bool,
    /// Whether any record's time had milliseconds (else the log's clock ticks in seconds).
    pub subsecond: bool,
    pub outcomes: u64,
}

impl Evidence {
    /// Reads every outcome of `reader`, with traffic and curves in bins of `bin`.
    pub fn read(reader: &mut LogReader, bin: Span) -> Result<Evidence, LogError> {
        let mut evidence = Evidence {
            bin: bin.as_millis().max(1),
            ..Evidence::default()
        };
        while let Some(o) = reader.next_outcome()? {
            evidence.observe(&o, reader);
        }
        evidence.finish();
        Ok(evidence)
    }

    /// Recipients still queued at the log's end: followed but not final, and arrived
    /// without an attempt.
    pub fn queued_at_end(&self) -> u64 {
        let unattempted: u64 = self
            .arrivals
            .values()
            .map(|a| u64::from(a.recipients.saturating_sub(a.seen)))
            .sum();
        self.recipients.len() as u64 + unattempted
    }

    /// Queued at the end per destination index.
    pub fn queued_at_end_by_dest(&self) -> Vec<u64> {
        let mut queued = vec![0; self.dests.len()];
        for r in self.recipients.values() {
            queued[r.dest as usize] += 1;
        }
        queued
    }

    pub fn class(&self, reply: Sym) -> ReplyClass {
        self.classes
            .get(reply.index())
            .copied()
            .flatten()
            .unwrap_or(ReplyClass::Other)
    }

    /// The resolution of the log's timestamps, in seconds.
    pub fn resolution(&self) -> f64 {
        if self.subsecond { 0.001 } else { 1.0 }
    }

    /// The exact text of a reply key, as first seen.
    pub fn text(&self, reply: Sym) -> &str {
        self.exact_replies.get(&reply).map_or("", String::as_str)
    }

    fn bin_of(&self, t: u64) -> u32 {
        (t / self.bin) as u32
    }

    fn observe(&mut self, o: &Outcome, reader: &LogReader) {
        let origin = *self.origin.get_or_insert(o.time);
        let t = (o.time.0 - origin.0).max(0) as u64;
        self.end = self.end.max(t);
        self.outcomes += 1;
        self.subsecond |= o.time.0 % 1000 != 0;
        if let Some(age) = o.age {
            self.oldest = self.oldest.max(age);
        }
        match o.kind {
            Kind::Arrival => self.arrival(o, t),
            Kind::Removed => {
                self.arrivals.remove(&o.queue);
                self.with_record.remove(&o.queue);
            }
            Kind::Held => self.held(o, t, reader),
            Kind::Expired => self.expired(o, t, reader),
            Kind::Delivered | Kind::Deferred | Kind::Bounced => self.attempt(o, t, reader),
        }
    }

    fn arrival(&mut self, o: &Outcome, t: u64) {
        let b = self.bin_of(t) as usize;
        self.grow_traffic(b);
        self.traffic[b] += u64::from(o.recipients);
        self.sources.records += u64::from(o.recipients);
        self.arrivals.insert(
            o.queue,
            Arrived {
                at: t,
                recipients: o.recipients,
                seen: 0,
            },
        );
        self.with_record.insert(o.queue);
    }

    fn grow_traffic(&mut self, b: usize) {
        if b >= self.traffic.len() {
            self.traffic.resize(b + 1, 0);
        }
    }

    fn dest(&mut self, name: Sym, reader: &LogReader) -> u32 {
        let next = self.dests.len() as u32;
        let d = *self.by_name.entry(name).or_insert(next);
        if d == next {
            let text = reader.text(name);
            let text = if text.is_empty() { "unknown" } else { text };
            self.names.insert(name, text.to_string());
            self.dests.push(Dest {
                name,
                ..Dest::default()
            });
        }
        d
    }

    /// Learns a reply's class and exact text the first time it is seen.
    fn learn(&mut self, reply: Sym, reader: &LogReader) -> ReplyClass {
        if reply.is_none() {
            return ReplyClass::Other;
        }
        let i = reply.index();
        if i >= self.classes.len() {
            self.classes.resize(i + 1, None);
        }
        if let Some(class) = self.classes[i] {
            return class;
        }
        let class = classify(reader.text(reply));
        self.classes[i] = Some(class);
        let exact = reader.record().map_or("", |r| r.reply);
        let text = if exact.is_empty() {
            reader.text(reply)
        } else {
            exact
        };
        self.exact_replies.insert(reply, text.to_string());
        class
    }

    /// The recipient of an attempt, followed from its first outcome.
    fn recipient(
        &mut self,
        o: &Outcome,
        t: u64,
        d: u32,
        reader: &LogReader,
    ) -> Option<RecipientKey> {
        let key = o.recipient?;
        if let Some(r) = self.recipients.get_mut(&key) {
            // First seen without a relay (an MTA error before DNS): it belongs where its
            // mail goes.
            if r.dest != d && o.class != Some(OutcomeClass::Internal) {
                let (from, arrived) = (r.dest, r.arrived);
                r.dest = d;
                self.move_recipient(o, (from, d), arrived);
            }
            return Some(key);
        }
        let arrived = self.arrived_at(o, t);
        let dest = &mut self.dests[d as usize];
        dest.recipients += 1;
        *dest.domains.entry(o.domain).or_insert(0) += 1;
        self.names
            .entry(o.domain)
            .or_insert_with(|| reader.text(o.domain).to_string());
        self.bins
            .entry((d, self.bin_of(arrived)))
            .or_default()
            .arrived += 1;
        self.recipients.insert(
            key,
            Recipient {
                dest: d,
                arrived,
                last: t,
                last_deferred: false,
                attempts: 0,
                deferrals: 0,
                first_transaction: None,
                greylisted_first: false,
            },
        );
        Some(key)
    }

    fn move_recipient(&mut self, o: &Outcome, (from, to): (u32, u32), arrived: u64) {
        let b = self.bin_of(arrived);
        let old = &mut self.dests[from as usize];
        old.recipients -= 1;
        if let Some(n) = old.domains.get_mut(&o.domain) {
            *n = n.saturating_sub(1);
        }
        let new = &mut self.dests[to as usize];
        new.recipients += 1;
        *new.domains.entry(o.domain).or_insert(0) += 1;
        if let Some(bin) = self.bins.get_mut(&(from, b)) {
            bin.arrived = bin.arrived.saturating_sub(1);
        }
        self.bins.entry((to, b)).or_default().arrived += 1;
    }

    /// When a newly seen recipient arrived: its message's arrival record, else its age,
    /// else now. Recipients without a record are added to the traffic here.
    fn arrived_at(&mut self, o: &Outcome, t: u64) -> u64 {
        if self.with_record.contains(&o.queue) {
            let mut at = t;
            if let Some(a) = self.arrivals.get_mut(&o.queue) {
                at = a.at;
                a.seen += 1;
                if a.seen >= a.recipients {
                    self.arrivals.remove(&o.queue);
                }
            }
            return at;
        }
        let at = match o.age {
            Some(age) => {
                self.sources.ages += 1;
                let at = t as i64 - age as i64;
                if at < 0 {
                    self.sources.before_start += 1;
                }
                at.max(0) as u64
            }
            None => {
                self.sources.first_attempts += 1;
                t
            }
        };
        let b = self.bin_of(at) as usize;
        self.grow_traffic(b);
        self.traffic[b] += 1;
        at
    }

    fn held(&mut self, o: &Outcome, t: u64, reader: &LogReader) {
        let d = self.dest(o.destination, reader);
        self.dests[d as usize].held += 1;
        self.pace.entry((d, pace::step_of(t))).or_default().held += 1;
        let b = self.bin_of(t);
        self.bins.entry((d, b)).or_default().held += 1;
        if let Some(r) = o.recipient.and_then(|k| self.recipients.get_mut(&k)) {
            r.last = t;
            r.last_deferred = true;
            r.deferrals += 1;
        }
    }

    fn expired(&mut self, o: &Outcome, t: u64, reader: &LogReader) {
        let key = o.recipient;
        let state = key.and_then(|k| self.recipients.remove(&k));
        let age = o
            .age
            .or_else(|| state.map(|s| t.saturating_sub(s.arrived)))
            .unwrap_or(0);
        let text = reader.record().map_or("", |r| r.reply);
        self.retries.expired(age, text);
        let name = match state {
            Some(s) => self.dests[s.dest as usize].name,
            None => o.destination,
        };
        let d = self.dest(name, reader);
        self.dests[d as usize].expired += 1;
        let bin = self.bins.entry((d, self.bin_of(t))).or_default();
        bin.expired += 1;
        bin.finished += 1;
        if key.is_none() {
            self.unkeyed += 1;
        }
    }

    fn attempt(&mut self, o: &Outcome, t: u64, reader: &LogReader) {
        let b = self.bin_of(t) as usize;
        if b >= self.mta_bins.len() {
            self.mta_bins.resize(b + 1, (0, 0));
        }
        let reused = matches!(o.extra, Extra::Postfix(p) if p.conn_use > 1);
        self.mta_bins[b].0 += u32::from(!reused);
        let d = self.dest(o.destination, reader);
        self.dests[d as usize].attempts += 1;
        let Some(key) = self.recipient(o, t, d, reader) else {
            self.unkeyed += 1;
            return;
        };
        let (delays, conn_use) = match o.extra {
            Extra::Postfix(p) => {
                self.has_delays |= p.delays.is_some();
                (p.delays.map(|d| d.map(u64::from)), p.conn_use)
            }
            _ => (None, 1),
        };
        let [_, _, c, d_ms] = delays.unwrap_or([0; 4]);
        let start = t.saturating_sub(c + d_ms);
        self.retried(key, d, start, delays);
        self.pace(o, key, d, (start, t), delays, reader);
        let class = o.class.unwrap_or(OutcomeClass::Tempfail);
        if class == OutcomeClass::Internal {
            self.mta_bins[b].1 += 1;
            let dest = &mut self.dests[d as usize];
            dest.deferred += 1;
            *dest.deferrals_by_reply.entry(o.reply).or_insert(0) += 1;
            self.learn(o.reply, reader);
            self.bins.entry((d, self.bin_of(t))).or_default().deferred += 1;
            self.after_attempt(key, t, true);
            return;
        }
        let minute = (t / MINUTE) as u32;
        *self.busy_minutes.entry(minute).or_insert(0) += c + d_ms;
        self.minutes.entry((d, minute)).or_default().busy_ms += c + d_ms;
        if o.handshake {
            self.handshake(o, d, (start, t), class, reader);
            self.after_attempt(key, t, o.kind == Kind::Deferred);
            return;
        }
        if conn_use <= 1 {
            self.dests[d as usize].connects.greeted(start);
            if c > 0 {
                self.dests[d as usize].connect_latency.add(c);
            }
        }
        self.transaction(o, key, t, d, d_ms, minute, reader);
        self.after_attempt(key, t, o.kind == Kind::Deferred);
    }

    /// A failed connect or a greeting reject.
    fn handshake(
        &mut self,
        o: &Outcome,
        d: u32,
        (start, t): (u64, u64),
        class: OutcomeClass,
        reader: &LogReader,
    ) {
        let minute = (t / MINUTE) as u32;
        match class {
            OutcomeClass::Connect | OutcomeClass::Timeout => {
                let refused = class == OutcomeClass::Connect;
                self.dests[d as usize].connects.failed(start, refused);
            }
            _ => {
                self.learn(o.reply, reader);
                let dest = &mut self.dests[d as usize];
                dest.greeting_rejects += 1;
                *dest.reject_replies.entry(o.reply).or_insert(0) += 1;
                // A reject is an answer: the receiver is up.
                dest.connects.greeted(start);
                self.minutes
                    .entry((d, minute))
                    .or_default()
                    .greeting_rejects += 1;
            }
        }
        if o.kind == Kind::Deferred {
            self.dests[d as usize].deferred += 1;
            *self.dests[d as usize]
                .deferrals_by_reply
                .entry(o.reply)
                .or_insert(0) += 1;
            self.bins.entry((d, self.bin_of(t))).or_default().deferred += 1;
        }
    }

    /// A mail transaction answered by the receiver.
    #[allow(clippy::too_many_arguments)]
    fn transaction(
        &mut self,
        o: &Outcome,
        key: RecipientKey,
        t: u64,
        d: u32,
        d_ms: u64,
        minute: u32,
        reader: &LogReader,
    ) {
        let b = self.bin_of(t);
        let reply_class = self.learn(o.reply, reader);
        let recipient = self.recipients.get_mut(&key).expect("followed");
        let started = t.saturating_sub(d_ms);
        let is_first = recipient.first_transaction.is_none();
        let first = *recipient.first_transaction.get_or_insert(started);
        let since_first = started.saturating_sub(first);
        let greylisted_first = recipient.greylisted_first;
        let arrived = recipient.arrived;
        let dest = &mut self.dests[d as usize];
        let bin = self.bins.entry((d, b)).or_default();
        bin.transactions += 1;
        match o.kind {
            Kind::Delivered => {
                dest.delivered += 1;
                if dest.first_limited.is_none() {
                    dest.delivered_before_limit += 1;
                    dest.first_delivery.get_or_insert(t);
                }
                dest.latency.add(d_ms);
                dest.delivery.record(t.saturating_sub(arrived));
                bin.delivered += 1;
                bin.finished += 1;
                self.minutes.entry((d, minute)).or_default().delivered += 1;
                if greylisted_first {
                    let upper = &mut dest.greylist.upper;
                    *upper = Some(upper.map_or(since_first, |u| u.min(since_first)));
                }
                self.recipients.remove(&key);
            }
            Kind::Bounced => {
                dest.bounced += 1;
                bin.bounced += 1;
                bin.finished += 1;
                let unknown = BounceReason::of(o.enhanced) == BounceReason::UserUnknown;
                if unknown {
                    dest.unknown_users += 1;
                } else {
                    dest.other_bounces += 1;
                }
                self.recipients.remove(&key);
            }
            _ => {
                dest.deferred += 1;
                bin.deferred += 1;
                *dest.deferrals_by_reply.entry(o.reply).or_insert(0) += 1;
                match reply_class {
                    ReplyClass::Greylist => {
                        dest.greylist.greylisted += 1;
                        if is_first {
                            self.recipients
                                .get_mut(&key)
                                .expect("followed")
                                .greylisted_first = true;
                        } else {
                            let lower = &mut dest.greylist.lower;
                            *lower = Some(lower.map_or(since_first, |l| l.max(since_first)));
                        }
                    }
                    ReplyClass::RateLimit => {
                        bin.rate_limited += 1;
                        dest.first_limited.get_or_insert(t);
                        count_run(dest.rate_limited.entry(o.reply).or_default(), b);
                        self.minutes.entry((d, minute)).or_default().rate_limited += 1;
                    }
                    ReplyClass::Other => {
                        bin.unexplained += 1;
                        count_run(dest.unexplained.entry(o.reply).or_default(), b);
                    }
                }
            }
        }
    }

    fn after_attempt(&mut self, key: RecipientKey, t: u64, deferred: bool) {
        if let Some(r) = self.recipients.get_mut(&key) {
            r.attempts += 1;
            r.last = t;
            r.last_deferred = deferred;
            r.deferrals += u32::from(deferred);
        }
    }

    /// Closes what is still open at the log's end.
    fn finish(&mut self) {
        for dest in &mut self.dests {
            if let Some(run) = dest.connects.run.take() {
                dest.connects.close(run, None);
            }
        }
        let bins = self.bin_of(self.end) as usize + 1;
        self.grow_traffic(bins - 1);
        if self.mta_bins.len() < bins {
            self.mta_bins.resize(bins, (0, 0));
        }
    }
}

/// Counts one more in bin `b` of a time-ordered list of (bin, count).
fn count_run(runs: &mut Vec<(u32, u32)>, b: u32) {
    match runs.last_mut() {
        Some((last, n)) if *last == b => *n += 1,
        _ => runs.push((b, 1)),
    }
}

/// The total of a list of (bin, count).
pub fn run_total(runs: &[(u32, u32)]) -> u64 {
    runs.iter().map(|(_, n)| u64::from(*n)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_classified_by_their_words() {
        assert_eq!(
            classify("451 4.7.1 Greylisted, please try again later"),
            ReplyClass::Greylist
        );
        assert_eq!(
            classify("421-4.7.28 [*] Our system has detected an unusual rate of unsolicited mail"),
            ReplyClass::RateLimit
        );
        assert_eq!(
            classify("450 4.7.1 Rate limit exceeded, try again later"),
            ReplyClass::RateLimit
        );
        assert_eq!(
            classify("421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred"),
            ReplyClass::Other
        );
    }
}
