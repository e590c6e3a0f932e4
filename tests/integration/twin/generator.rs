//! An independent sending MTA and its receivers, writing real-format logs: the oracle for
//! `mtasim calibrate`'s estimates of the sender. It shares no code with mtasim's model or
//! the flow-control crate: its own clock and event queue, queues, retry schedules, backoff
//! mode, dead-site suspension, reply rules, receivers and log lines (written from the
//! formats' descriptions in shared/reference/mta-logs-and-configs.md and KumoMTA's source,
//! not by mtasim's writers). It knows what a log only shows: when each destination was in
//! backoff or suspended.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::lines::{Answer, Lines};

pub const SECOND: u64 = 1_000;
pub const MINUTE: u64 = 60 * SECOND;
pub const HOUR: u64 = 60 * MINUTE;

/// SplitMix64: a tiny portable generator, one stream per entity.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, name: &str) -> Rng {
        let mut h = seed ^ 0xCBF2_9CE4_8422_2325;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
        Rng(h)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// Log-normal around `median` ms with sigma 0.4 (Box-Muller).
    pub fn around(&mut self, median: u64) -> u64 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (median as f64 * (0.4 * z).exp()).round().max(1.0) as u64
    }
}

/// A receiving system.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// The destination name mtasim's MX roll-up gives its MX host.
    pub name: &'static str,
    pub domains: &'static [&'static str],
    pub mx: &'static str,
    pub ip: &'static str,
    /// Relative weight of the traffic.
    pub share: f64,
    /// Median transaction time, ms.
    pub latency: u64,
    pub rate_limit: Option<RateLimit>,
    pub episodes: Vec<Episode>,
    pub outages: Vec<Outage>,
    /// Greylisting: a message's first transaction is deferred, retries pass after this long.
    pub greylist: Option<u64>,
    pub unknown_users: f64,
    pub transient: f64,
    /// Sessions at once before the greeting is a 421.
    pub max_sessions: Option<u32>,
}

impl Receiver {
    pub fn healthy(
        name: &'static str,
        domains: &'static [&'static str],
        mx: &'static str,
        ip: &'static str,
        share: f64,
    ) -> Receiver {
        Receiver {
            name,
            domains,
            mx,
            ip,
            share,
            latency: 400,
            rate_limit: None,
            episodes: Vec::new(),
            outages: Vec::new(),
            greylist: None,
            unknown_users: 0.0,
            transient: 0.0,
            max_sessions: None,
        }
    }
}

/// A token bucket on accepted transactions.
#[derive(Debug, Clone)]
pub struct RateLimit {
    pub per_hour: u64,
    pub burst: u64,
    pub reply: &'static str,
}

/// A window of time with a probability of a 4xx (a receiver's throttling, or the
/// sender's own DNS failing).
#[derive(Debug, Clone)]
pub struct Episode {
    pub from: u64,
    pub to: u64,
    pub probability: f64,
    pub reply: &'static str,
}

#[derive(Debug, Clone)]
pub struct Outage {
    pub from: u64,
    pub to: u64,
    /// Connections refused (else they time out).
    pub refuse: bool,
}

/// The sending MTA.
#[derive(Debug, Clone)]
pub struct Sender {
    /// Connections per destination in normal mode.
    pub concurrency: u32,
    pub backoff: Option<Backoff>,
    pub dead_site: Option<DeadSite>,
    pub suspend_on: Vec<SuspendRule>,
    pub retry: Retry,
    pub max_age: u64,
    /// KumoMTA's expiry (the next retry would pass `max_age`), else Postfix's (a failed
    /// attempt older than `max_age`).
    pub expire_before_next_retry: bool,
    /// Windows where the sender's own DNS lookups fail with this probability.
    pub dns_failures: Vec<Episode>,
}

/// A PowerMTA-like backoff mode: `threshold` errors within `window` slow the destination
/// to `concurrency` connections and `per_hour` messages, failed messages wait at least
/// `retry_after`, and it is back to normal after `quiet` without an error.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub threshold: usize,
    pub window: u64,
    pub concurrency: u32,
    pub per_hour: u64,
    pub retry_after: u64,
    pub quiet: u64,
}

/// Postfix's dead site: `failures` handshake failures in a row suspend the destination for
/// `pause`; what falls due meanwhile is deferred as "delivery temporarily suspended".
#[derive(Debug, Clone)]
pub struct DeadSite {
    pub failures: u32,
    pub pause: u64,
}

/// KumoMTA's automation: a reply containing `contains` suspends the destination for
/// `pause` from the last match; what falls due meanwhile waits, unlogged.
#[derive(Debug, Clone)]
pub struct SuspendRule {
    pub contains: &'static str,
    pub pause: u64,
}

#[derive(Debug, Clone)]
pub enum Retry {
    /// KumoMTA's: `initial` doubling per attempt up to `max`, jittered by ± `jitter` / 2.
    Exponential { initial: u64, max: u64, jitter: u64 },
    /// Postfix's: the message's age clamped to [`min`, `max`], at the next queue run.
    Postfix { min: u64, max: u64, queue_run: u64 },
}

/// Messages injected evenly over `over` from `start`.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub start: u64,
    pub messages: u32,
    pub over: u64,
}

#[derive(Debug, Clone)]
pub struct Setup {
    pub seed: u64,
    pub duration: u64,
    pub receivers: Vec<Receiver>,
    pub sender: Sender,
    pub traffic: Vec<Traffic>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Postfix,
    Kumo,
}

/// What happened at one destination, as the generator knows it.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub name: String,
    pub injected: u64,
    pub attempts: u64,
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub expired: u64,
    pub held: u64,
    pub backoff_ms: u64,
    pub suspended_ms: u64,
    pub backoff_entries: u64,
    pub suspensions: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrive(u32),
    Due(u32),
    End(u32),
    Wake(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Backoff,
    Paused,
}

/// One message (one recipient).
pub struct Msg {
    pub dest: u16,
    pub domain: &'static str,
    pub local: u32,
    pub arrived: u64,
    pub attempts: u32,
    pub unknown: bool,
    /// Its first transaction at a greylisting receiver.
    greylisted_at: Option<u64>,
    /// When its attempt started, how long the connection took, and the answer.
    answer: Option<(u64, u64, Answer)>,
    /// When it last became due (its wait before an attempt is Postfix's `delays` b).
    pub due_at: u64,
}

struct Dest {
    ready: VecDeque<u32>,
    in_flight: u32,
    mode: Mode,
    mode_since: u64,
    errors: VecDeque<u64>,
    last_error: u64,
    next_start: u64,
    wake: Option<u64>,
    handshake_failures: u32,
    paused_until: u64,
    /// Why it was suspended, for Postfix's "delivery temporarily suspended: ..." lines.
    pause_reason: String,
    tokens: f64,
    refilled: u64,
    rng: Rng,
    truth: Truth,
}

struct Sim<'a> {
    setup: &'a Setup,
    now: u64,
    seq: u64,
    heap: BinaryHeap<Reverse<(u64, u64, Event)>>,
    msgs: Vec<Msg>,
    dests: Vec<Dest>,
    sender_rng: Rng,
    lines: Lines,
}

/// Runs `setup` and returns its log in `format` and the truth per destination.
pub fn generate(setup: &Setup, format: Format) -> (String, Vec<Truth>) {
    let dests = setup
        .receivers
        .iter()
        .map(|r| Dest {
            ready: VecDeque::new(),
            in_flight: 0,
            mode: Mode::Normal,
            mode_since: 0,
            errors: VecDeque::new(),
            last_error: 0,
            next_start: 0,
            wake: None,
            handshake_failures: 0,
            paused_until: 0,
            pause_reason: String::new(),
            tokens: r.rate_limit.as_ref().map_or(0.0, |l| l.burst as f64),
            refilled: 0,
            rng: Rng::new(setup.seed, r.name),
            truth: Truth {
                name: r.name.to_string(),
                ..Truth::default()
            },
        })
        .collect();
    let mut sim = Sim {
        setup,
        now: 0,
        seq: 0,
        heap: BinaryHeap::new(),
        msgs: Vec::new(),
        dests,
        sender_rng: Rng::new(setup.seed, "sender"),
        lines: Lines::new(format, setup.seed),
    };
    sim.inject();
    while let Some(Reverse((t, _, event))) = sim.heap.pop() {
        if t >= setup.duration {
            break;
        }
        sim.now = t;
        match event {
            Event::Arrive(m) => sim.arrive(m),
            Event::Due(m) => sim.due(m),
            Event::End(m) => sim.end(m),
            Event::Wake(d) => sim.wake(d),
        }
    }
    let end = setup.duration;
    let truths = sim
        .dests
        .into_iter()
        .map(|mut d| {
            close_mode(&mut d, end);
            d.truth
        })
        .collect();
    (sim.lines.text, truths)
}

fn close_mode(d: &mut Dest, now: u64) {
    let span = now.saturating_sub(d.mode_since);
    match d.mode {
        Mode::Backoff => d.truth.backoff_ms += span,
        Mode::Paused => d.truth.suspended_ms += span,
        Mode::Normal => {}
    }
    d.mode_since = now;
}

fn set_mode(d: &mut Dest, mode: Mode, now: u64) {
    if d.mode == mode {
        return;
    }
    close_mode(d, now);
    match mode {
        Mode::Backoff => d.truth.backoff_entries += 1,
        Mode::Paused => d.truth.suspensions += 1,
        Mode::Normal => {}
    }
    d.mode = mode;
}

impl Sim<'_> {
    fn at(&mut self, t: u64, event: Event) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, event)));
    }

    /// Every message of the traffic, its destination drawn by share.
    fn inject(&mut self) {
        let setup = self.setup;
        let total: f64 = setup.receivers.iter().map(|r| r.share).sum();
        let mut rng = Rng::new(setup.seed, "traffic");
        for wave in &setup.traffic {
            for i in 0..wave.messages {
                let at = wave.start + wave.over * u64::from(i) / u64::from(wave.messages);
                let mut pick = rng.unit() * total;
                let mut dest = 0;
                for (k, r) in setup.receivers.iter().enumerate() {
                    dest = k;
                    if pick < r.share {
                        break;
                    }
                    pick -= r.share;
                }
                let receiver = &setup.receivers[dest];
                let domain = receiver.domains[rng.below(receiver.domains.len() as u64) as usize];
                let unknown = rng.chance(receiver.unknown_users);
                let id = self.msgs.len() as u32;
                self.msgs.push(Msg {
                    dest: dest as u16,
                    domain,
                    local: id,
                    arrived: at,
                    attempts: 0,
                    unknown,
                    greylisted_at: None,
                    answer: None,
                    due_at: at,
                });
                self.at(at, Event::Arrive(id));
            }
        }
    }

    fn arrive(&mut self, m: u32) {
        let d = self.msgs[m as usize].dest as usize;
        self.dests[d].truth.injected += 1;
        self.lines.arrival(self.now, m, &self.msgs[m as usize]);
        self.due(m);
    }

    /// A message falls due: into the ready queue, unless its destination is suspended.
    fn due(&mut self, m: u32) {
        let d = self.msgs[m as usize].dest as usize;
        self.msgs[m as usize].due_at = self.now;
        if self.msgs[m as usize].attempts > 0 {
            self.lines.requeued(self.now, m);
        }
        if self.dests[d].mode == Mode::Paused {
            return self.while_paused(m);
        }
        self.dests[d].ready.push_back(m);
        self.dispatch(d);
    }

    /// Postfix defers what falls due at a dead site ("delivery temporarily suspended");
    /// KumoMTA holds it, unlogged, until the suspension ends.
    fn while_paused(&mut self, m: u32) {
        let d = self.msgs[m as usize].dest as usize;
        if self.setup.sender.dead_site.is_some() {
            self.dests[d].truth.held += 1;
            let reason = self.dests[d].pause_reason.clone();
            self.lines
                .held(self.now, m, &self.msgs[m as usize], &reason);
            return self.retry_later(m);
        }
        let until = self.dests[d].paused_until;
        let spread = self.dests[d].rng.below(MINUTE);
        self.at(until + spread, Event::Due(m));
    }

    fn limit(&self, d: usize) -> u32 {
        match (self.dests[d].mode, &self.setup.sender.backoff) {
            (Mode::Backoff, Some(b)) => b.concurrency,
            (Mode::Paused, _) => 0,
            _ => self.setup.sender.concurrency,
        }
    }

    /// Starts what the destination's limits allow now.
    fn dispatch(&mut self, d: usize) {
        let setup = self.setup;
        while self.dests[d].in_flight < self.limit(d) && !self.dests[d].ready.is_empty() {
            if self.dests[d].mode == Mode::Backoff {
                let spacing = HOUR / setup.sender.backoff.as_ref().unwrap().per_hour.max(1);
                if self.now < self.dests[d].next_start {
                    let at = self.dests[d].next_start;
                    return self.wake_at(d, at);
                }
                self.dests[d].next_start = self.now + spacing;
            }
            let m = self.dests[d].ready.pop_front().unwrap();
            self.dests[d].in_flight += 1;
            self.start(m);
        }
    }

    fn wake_at(&mut self, d: usize, at: u64) {
        if self.dests[d].wake.is_some_and(|w| w <= at && w > self.now) {
            return;
        }
        self.dests[d].wake = Some(at);
        self.at(at, Event::Wake(d as u16));
    }

    /// A timer of the destination: backoff's quiet period, a suspension's end, or the
    /// backoff rate's next start.
    fn wake(&mut self, d16: u16) {
        let d = d16 as usize;
        if self.dests[d].wake == Some(self.now) {
            self.dests[d].wake = None;
        }
        let now = self.now;
        match self.dests[d].mode {
            Mode::Paused if now >= self.dests[d].paused_until => {
                set_mode(&mut self.dests[d], Mode::Normal, now);
                self.dests[d].handshake_failures = 0;
            }
            Mode::Backoff => {
                let quiet = self.setup.sender.backoff.as_ref().unwrap().quiet;
                if now >= self.dests[d].last_error + quiet {
                    set_mode(&mut self.dests[d], Mode::Normal, now);
                    self.dests[d].errors.clear();
                } else {
                    let at = self.dests[d].last_error + quiet;
                    self.at(at, Event::Wake(d16));
                }
            }
            _ => {}
        }
        self.dispatch(d);
    }

    /// Decides the attempt's answer now and ends it when the receiver has answered.
    fn start(&mut self, m: u32) {
        let d = self.msgs[m as usize].dest as usize;
        let now = self.now;
        self.msgs[m as usize].attempts += 1;
        self.dests[d].truth.attempts += 1;
        let dns = self
            .setup
            .sender
            .dns_failures
            .iter()
            .find(|w| (w.from..w.to).contains(&now))
            .map(|w| w.probability)
            .unwrap_or(0.0);
        let (connect, took, answer) = if self.sender_rng.chance(dns) {
            (5, 5, Answer::Dns)
        } else {
            self.receive(m, d)
        };
        self.msgs[m as usize].answer = Some((now, connect, answer));
        self.at(now + took, Event::End(m));
    }

    /// The receiver's answer, how long connecting took, and how long it all took.
    fn receive(&mut self, m: u32, d: usize) -> (u64, u64, Answer) {
        let now = self.now;
        let setup = self.setup;
        let r = &setup.receivers[d];
        let dest = &mut self.dests[d];
        let connect = dest.rng.around(80);
        if let Some(o) = r.outages.iter().find(|o| (o.from..o.to).contains(&now)) {
            return if o.refuse {
                (connect, connect, Answer::Refused)
            } else {
                (30 * SECOND, 30 * SECOND, Answer::TimedOut)
            };
        }
        if r.max_sessions.is_some_and(|max| dest.in_flight > max) {
            return (
                connect,
                connect + 20,
                Answer::Greeting(
                    "421 4.7.0 Too many concurrent SMTP connections; please try again later",
                ),
            );
        }
        let took = connect + dest.rng.around(r.latency);
        let msg = &mut self.msgs[m as usize];
        if let Some(delay) = r.greylist {
            let first = *msg.greylisted_at.get_or_insert(now);
            if now < first + delay {
                return (
                    connect,
                    took,
                    Answer::Temp("451 4.7.1 Greylisted, please try again later", "RCPT TO"),
                );
            }
        }
        if msg.unknown {
            return (connect, took, Answer::UnknownUser);
        }
        if let Some(limit) = &r.rate_limit {
            let refill = (now - dest.refilled) as f64 * limit.per_hour as f64 / HOUR as f64;
            dest.tokens = (dest.tokens + refill).min(limit.burst as f64);
            dest.refilled = now;
            if dest.tokens < 1.0 {
                return (connect, took, Answer::Temp(limit.reply, "end of DATA"));
            }
            dest.tokens -= 1.0;
        }
        if let Some(e) = r.episodes.iter().find(|e| (e.from..e.to).contains(&now))
            && dest.rng.chance(e.probability)
        {
            return (connect, took, Answer::Temp(e.reply, "MAIL FROM"));
        }
        if dest.rng.chance(r.transient) {
            return (
                connect,
                took,
                Answer::Temp(
                    "451 4.3.0 Temporary local problem, please try again",
                    "RCPT TO",
                ),
            );
        }
        (connect, took, Answer::Sent)
    }

    /// An attempt's end: logged, then the message's fate and the destination's state.
    fn end(&mut self, m: u32) {
        let d = self.msgs[m as usize].dest as usize;
        let now = self.now;
        self.dests[d].in_flight -= 1;
        let (started, connect, answer) = self.msgs[m as usize].answer.take().unwrap();
        self.lines.attempt(
            now,
            (started, connect),
            m,
            &self.msgs[m as usize],
            &self.setup.receivers[d],
            &answer,
        );
        match answer {
            Answer::Sent => {
                self.dests[d].truth.delivered += 1;
                self.dests[d].handshake_failures = 0;
                self.lines.removed(now, m);
            }
            Answer::UnknownUser => {
                self.dests[d].truth.bounced += 1;
                self.dests[d].handshake_failures = 0;
                self.lines.removed(now, m);
            }
            _ => {
                self.dests[d].truth.deferred += 1;
                self.failed(d, &answer);
                self.retry_later(m);
            }
        }
        self.dispatch(d);
    }

    /// What a failure does to the destination's state.
    fn failed(&mut self, d: usize, answer: &Answer) {
        let now = self.now;
        let setup = self.setup;
        let sender = &setup.sender;
        let handshake = matches!(
            answer,
            Answer::Refused | Answer::TimedOut | Answer::Greeting(_)
        );
        let dest = &mut self.dests[d];
        if handshake {
            dest.handshake_failures += 1;
        } else if !matches!(answer, Answer::Dns) {
            dest.handshake_failures = 0;
        }
        if let Some(dead) = &sender.dead_site
            && dest.handshake_failures >= dead.failures
            && dest.mode != Mode::Paused
        {
            dest.pause_reason = self.lines.reason(&setup.receivers[d], answer);
            return self.pause(d, dead.pause);
        }
        if let Answer::Temp(reply, _) = answer
            && let Some(rule) = sender
                .suspend_on
                .iter()
                .find(|r| reply.contains(r.contains))
        {
            return self.pause(d, rule.pause);
        }
        let counted = !matches!(answer, Answer::Temp(reply, _) if reply.contains("Greylisted"));
        let Some(b) = &sender.backoff else { return };
        if !counted || dest.mode == Mode::Paused {
            return;
        }
        dest.last_error = now;
        dest.errors.push_back(now);
        while dest.errors.front().is_some_and(|&t| t + b.window <= now) {
            dest.errors.pop_front();
        }
        if dest.mode == Mode::Normal && dest.errors.len() >= b.threshold {
            set_mode(dest, Mode::Backoff, now);
            dest.next_start = now;
            let at = now + b.quiet;
            self.at(at, Event::Wake(d as u16));
        }
    }

    fn pause(&mut self, d: usize, pause: u64) {
        let now = self.now;
        let dest = &mut self.dests[d];
        dest.paused_until = dest.paused_until.max(now + pause);
        set_mode(dest, Mode::Paused, now);
        let until = dest.paused_until;
        let waiting: Vec<u32> = dest.ready.drain(..).collect();
        self.at(until, Event::Wake(d as u16));
        for m in waiting {
            self.while_paused(m);
        }
    }

    /// A deferred (or held) message: its next retry, or its expiry.
    fn retry_later(&mut self, m: u32) {
        let now = self.now;
        let setup = self.setup;
        let sender = &setup.sender;
        let msg = &self.msgs[m as usize];
        let d = msg.dest as usize;
        let age = now - msg.arrived;
        let mut delay = match sender.retry {
            Retry::Exponential {
                initial,
                max,
                jitter,
            } => {
                let n = msg.attempts.saturating_sub(1).min(30);
                let base = (initial << n).min(max);
                (base + self.sender_rng.below(jitter + 1)).saturating_sub(jitter / 2)
            }
            Retry::Postfix {
                min,
                max,
                queue_run,
            } => {
                let eligible = now + age.clamp(min, max);
                eligible.next_multiple_of(queue_run) - now
            }
        };
        if let (Mode::Backoff, Some(b)) = (self.dests[d].mode, &sender.backoff) {
            delay = delay.max(b.retry_after);
        }
        let expire = if sender.expire_before_next_retry {
            age + delay >= sender.max_age
        } else {
            age >= sender.max_age
        };
        if expire {
            self.dests[d].truth.expired += 1;
            self.lines.expired(
                now,
                m,
                &self.msgs[m as usize],
                (now + delay, sender.max_age),
            );
            return;
        }
        self.at(now + delay, Event::Due(m));
    }
}
