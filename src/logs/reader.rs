//! The reader: sources (one per file), the time-ordered merge, the messages in flight and
//! the line statistics.

use std::collections::VecDeque;
use std::hash::Hasher;
use std::io::{self, BufRead, Read};
use std::path::Path;
use std::time::SystemTime;

use rustc_hash::{FxHashMap, FxHasher};
use serde::Serialize;

use super::classify::reply_key;
use super::destinations::{Providers, Resolver};
use super::input::{self};
use super::lexed::{Lex, LexExtra, Lexed, Malformed, Skip, Span, Texts, What};
use super::pmta::PmtaColumns;
use super::symbols::{Sym, Symbols};
use super::time::{TimeOrigin, UnixMillis, YearClock, YearSource};
use super::{
    Extra, Kind, KumoExtra, Outcome, PmtaExtra, QueueKey, RecipientKey, Relay, kumo, pmta, postfix,
};
use crate::MtaKind;
use crate::flow_control::config::KeyKind;

/// How to read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Every file's format (`None`: detect each from its content).
    pub format: Option<MtaKind>,
    /// The year of the first classic syslog timestamp (`None`: from the file's
    /// modification time, see [`YearClock`]).
    pub year: Option<i64>,
    /// Minutes east of UTC of classic syslog timestamps.
    pub utc_offset_minutes: i32,
    /// Destinations by receiver (MX rollup) or by recipient domain.
    pub key: KeyKind,
    pub providers: Providers,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            year: None,
            utc_offset_minutes: 0,
            key: KeyKind::Receiver,
            providers: Providers::builtin(),
        }
    }
}

/// Why a read failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read {file}: {source}")]
    Open { file: String, source: io::Error },
    #[error("{file}:{line}: cannot read: {source}")]
    Read {
        file: String,
        line: u64,
        source: io::Error,
    },
    #[error(
        "{file}: cannot tell the log format from its first lines (give the format: postfix, kumomta or pmta)"
    )]
    UnknownFormat { file: String },
    #[error(
        "no line of {files} is a delivery record ({read} lines read, {skipped} skipped, {malformed} malformed{first})"
    )]
    NoRecords {
        files: String,
        read: u64,
        skipped: u64,
        malformed: u64,
        first: String,
    },
    #[error("too many log files ({0}): at most 65535")]
    TooManyFiles(usize),
}

/// One input file as read.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    pub name: String,
    pub format: MtaKind,
    pub origin: TimeOrigin,
}

/// A malformed line kept for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MalformedLine {
    pub file: String,
    pub line: u64,
    pub reason: &'static str,
    /// The line, cut at 200 characters.
    pub text: String,
}

/// How many malformed lines are kept with their place.
pub const FIRST_MALFORMED: usize = 10;

/// Line counts: every line read is parsed, skipped or malformed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineStats {
    pub read: u64,
    /// Lines that became outcomes.
    pub parsed: u64,
    pub skipped: u64,
    pub malformed: u64,
    skipped_by: [u64; Skip::ALL.len()],
    malformed_by: [u64; Malformed::ALL.len()],
    pub first_malformed: Vec<MalformedLine>,
    /// The first and last outcome time.
    pub first_time: Option<UnixMillis>,
    pub last_time: Option<UnixMillis>,
}

impl LineStats {
    /// Skipped lines by kind, kinds with none left out.
    pub fn skipped_by_kind(&self) -> Vec<(&'static str, u64)> {
        Skip::ALL
            .iter()
            .zip(self.skipped_by)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (s.label(), n))
            .collect()
    }

    /// Malformed lines by reason, reasons with none left out.
    pub fn malformed_by_reason(&self) -> Vec<(&'static str, u64)> {
        Malformed::ALL
            .iter()
            .zip(self.malformed_by)
            .filter(|(_, n)| *n > 0)
            .map(|(m, n)| (m.label(), n))
            .collect()
    }

    fn skip(&mut self, kind: Skip) {
        self.skipped += 1;
        self.skipped_by[kind as usize] += 1;
    }

    fn malformed(&mut self, reason: Malformed, file: &str, line: u64, text: &str) {
        self.malformed += 1;
        self.malformed_by[reason as usize] += 1;
        if self.first_malformed.len() < FIRST_MALFORMED {
            let cut = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
            self.first_malformed.push(MalformedLine {
                file: file.to_string(),
                line,
                reason: reason.label(),
                text: text[..cut].to_string(),
            });
        }
    }

    fn saw(&mut self, t: UnixMillis) {
        self.first_time = Some(self.first_time.map_or(t, |f| f.min(t)));
        self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
    }
}

/// The texts of the record behind the outcome last returned, valid until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordText<'a> {
    /// The line as read (PowerMTA: the record's fields joined by commas).
    pub line: &'a str,
    /// The reason or response as logged (Postfix: inside `status=... (...)`).
    pub reason: &'a str,
    /// The receiver's reply (or the failure text) without the MTA's wrapping.
    pub reply: &'a str,
    pub sender: &'a str,
    pub recipient: &'a str,
    pub orig_to: &'a str,
}

enum Input {
    Lines(Box<dyn BufRead>),
    Csv(Box<CsvInput>),
}

struct CsvInput {
    reader: csv::Reader<Box<dyn BufRead>>,
    record: csv::ByteRecord,
    columns: PmtaColumns,
}

struct Source {
    name: String,
    format: MtaKind,
    input: Input,
    clock: YearClock,
    line: String,
    line_no: u64,
    scratch: String,
    rcpts: Vec<Span>,
    pending: Option<(u64, Lexed)>,
    done: bool,
}

impl Source {
    fn texts(&self) -> Texts<'_> {
        Texts {
            line: &self.line,
            scratch: &self.scratch,
        }
    }

    /// Reads to the next record (or the end), counting the lines skipped and malformed.
    fn advance(&mut self, stats: &mut LineStats) -> Result<(), LogError> {
        self.pending = None;
        while !self.done {
            if !self.read_line()? {
                self.done = true;
                break;
            }
            stats.read += 1;
            self.scratch.clear();
            let lexed = match &mut self.input {
                Input::Lines(_) => match self.format {
                    MtaKind::Postfix => postfix::lex(&self.line, &mut self.clock, &mut self.rcpts),
                    _ => kumo::lex(&self.line, &mut self.scratch, &mut self.rcpts),
                },
                Input::Csv(csv) => pmta::lex(
                    &csv.record,
                    &mut csv.columns,
                    &mut self.line,
                    &mut self.rcpts,
                ),
            };
            match lexed {
                Lex::Record(r) => {
                    self.pending = Some((self.line_no, r));
                    break;
                }
                Lex::Skip(s) => stats.skip(s),
                Lex::Malformed(m) => stats.malformed(m, &self.name, self.line_no, &self.line),
            }
        }
        Ok(())
    }

    /// The next line into `self.line` (lossily decoded if it is not UTF-8).
    fn read_line(&mut self) -> Result<bool, LogError> {
        let error = |source, name: &str, line| LogError::Read {
            file: name.to_string(),
            line,
            source,
        };
        match &mut self.input {
            Input::Lines(reader) => {
                let mut bytes = std::mem::take(&mut self.line).into_bytes();
                bytes.clear();
                let n = reader
                    .read_until(b'\n', &mut bytes)
                    .map_err(|e| error(e, &self.name, self.line_no + 1))?;
                if n == 0 {
                    return Ok(false);
                }
                self.line_no += 1;
                while matches!(bytes.last(), Some(b'\n' | b'\r')) {
                    bytes.pop();
                }
                self.line = match String::from_utf8(bytes) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                };
                Ok(true)
            }
            Input::Csv(csv) => {
                let CsvInput { reader, record, .. } = &mut **csv;
                let more = reader.read_byte_record(record).map_err(|e| {
                    let line = e.position().map_or(self.line_no + 1, |p| p.line());
                    error(
                        io::Error::new(io::ErrorKind::InvalidData, e),
                        &self.name,
                        line,
                    )
                })?;
                if more {
                    self.line_no = record.position().map_or(self.line_no + 1, |p| p.line());
                }
                Ok(more)
            }
        }
    }
}

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
struct Message {
    key: QueueKey,
    first: u32,
    open: u32,
}

/// What the reader remembers between lines: symbols, destinations learned, messages in
/// flight.
struct Tracker {
    symbols: Symbols,
    resolver: Resolver,
    messages: FxHashMap<u128, Message>,
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
struct At {
    file: u16,
    line: u64,
}

impl Tracker {
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

    /// Turns one record into outcomes; `false` when it was a retry's arrival line.
    fn apply(
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
                    let destination =
                        self.resolver
                            .destination(&mut self.symbols, domain, base.relay.host);
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
            What::Expired => {
                let message = self.message(r.message);
                base.queue = message.key;
                base.kind = Kind::Expired;
                let before = out.len();
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
                        self.close(r.message, at);
                    }
                    at = s.next;
                }
                if out.len() == before {
                    out.push_back(base);
                }
            }
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

/// Reads log files as one time-ordered stream of outcomes.
pub struct LogReader {
    sources: Vec<Source>,
    tracker: Tracker,
    stats: LineStats,
    out: VecDeque<Outcome>,
    /// The source whose line the queued outcomes came from, and how many were returned.
    current: Option<usize>,
    current_record: Option<Lexed>,
    returned: usize,
    files: Vec<FileInfo>,
    finished: bool,
}

/// Reads up to 50 non-empty lines (or 64 KiB) for format detection, then hands back a
/// reader that yields them again.
fn sniff(mut reader: Box<dyn BufRead>) -> io::Result<(Option<MtaKind>, usize, Box<dyn BufRead>)> {
    let mut head = Vec::new();
    let mut lines = 0;
    while lines < 50 && head.len() < 64 * 1024 {
        let start = head.len();
        if reader.read_until(b'\n', &mut head)? == 0 {
            break;
        }
        if !head[start..].iter().all(u8::is_ascii_whitespace) {
            lines += 1;
        }
    }
    let format = input::detect(&head);
    Ok((format, lines, Box::new(io::Cursor::new(head).chain(reader))))
}

impl LogReader {
    /// Opens `paths` (`-`: standard input).
    pub fn open<P: AsRef<Path>>(paths: &[P], options: ReadOptions) -> Result<LogReader, LogError> {
        let mut inputs = Vec::with_capacity(paths.len());
        for path in paths {
            let path = path.as_ref();
            let name = path.display().to_string();
            let opened = input::open(path).map_err(|source| LogError::Open {
                file: name.clone(),
                source,
            })?;
            inputs.push((name, opened.reader, opened.modified));
        }
        LogReader::from_readers(inputs, options)
    }

    /// Reads already opened (decompressed) inputs: (name, reader, modification time).
    pub fn from_readers(
        inputs: Vec<(String, Box<dyn BufRead>, Option<SystemTime>)>,
        options: ReadOptions,
    ) -> Result<LogReader, LogError> {
        if inputs.len() > u16::MAX as usize {
            return Err(LogError::TooManyFiles(inputs.len()));
        }
        let mut sources = Vec::with_capacity(inputs.len());
        for (name, reader, modified) in inputs {
            let (format, reader) = match options.format {
                Some(f) => (f, reader),
                None => {
                    let (f, lines, reader) = sniff(reader).map_err(|source| LogError::Read {
                        file: name.clone(),
                        line: 1,
                        source,
                    })?;
                    // An empty file (a fresh rotation) has no format and no records.
                    let f = match f {
                        Some(f) => f,
                        None if lines == 0 => MtaKind::Postfix,
                        None => return Err(LogError::UnknownFormat { file: name.clone() }),
                    };
                    (f, reader)
                }
            };
            let (reference, source) = match modified {
                Some(t) => (UnixMillis::from_system(t), YearSource::FileModified),
                None => (UnixMillis::from_system(SystemTime::now()), YearSource::Now),
            };
            let input = match format {
                MtaKind::Pmta => Input::Csv(Box::new(CsvInput {
                    reader: csv::ReaderBuilder::new()
                        .has_headers(false)
                        .flexible(true)
                        .from_reader(reader),
                    record: csv::ByteRecord::new(),
                    columns: PmtaColumns::default(),
                })),
                _ => Input::Lines(reader),
            };
            sources.push(Source {
                name,
                format,
                input,
                clock: YearClock::new(options.year, reference, source, options.utc_offset_minutes),
                line: String::new(),
                line_no: 0,
                scratch: String::new(),
                rcpts: Vec::new(),
                pending: None,
                done: false,
            });
        }
        let mut stats = LineStats::default();
        for source in &mut sources {
            source.advance(&mut stats)?;
        }
        let files = sources
            .iter()
            .map(|s| FileInfo {
                name: s.name.clone(),
                format: s.format,
                origin: s.clock.origin(),
            })
            .collect();
        Ok(LogReader {
            sources,
            tracker: Tracker {
                symbols: Symbols::default(),
                resolver: Resolver::new(options.providers, options.key),
                messages: FxHashMap::default(),
                recipients: FxHashMap::default(),
                slots: Vec::new(),
                free: Vec::new(),
                next_queue: 0,
                next_recipient: 0,
                scratch: String::new(),
            },
            stats,
            out: VecDeque::new(),
            current: None,
            current_record: None,
            returned: 0,
            files,
            finished: false,
        })
    }

    /// The next outcome in time order; `Ok(None)` at the end. A read in which no line
    /// parsed ends with [`LogError::NoRecords`] instead.
    pub fn next_outcome(&mut self) -> Result<Option<Outcome>, LogError> {
        loop {
            if let Some(o) = self.out.pop_front() {
                self.returned += 1;
                self.stats.saw(o.time);
                return Ok(Some(o));
            }
            if let Some(i) = self.current.take() {
                self.sources[i].advance(&mut self.stats)?;
                self.files[i].origin = self.sources[i].clock.origin();
            }
            let next = self
                .sources
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.pending.as_ref().map(|(_, r)| (r.time, i)))
                .min();
            let Some((_, i)) = next else {
                return self.end();
            };
            let (line, record) = self.sources[i]
                .pending
                .take()
                .expect("picked a pending record");
            self.current = Some(i);
            self.current_record = Some(record);
            self.returned = 0;
            let source = &self.sources[i];
            let at = At {
                file: i as u16,
                line,
            };
            if self
                .tracker
                .apply(&record, source.texts(), &source.rcpts, at, &mut self.out)
            {
                self.stats.parsed += 1;
            } else {
                self.stats.skip(Skip::QmgrRetry);
            }
        }
    }

    fn end(&mut self) -> Result<Option<Outcome>, LogError> {
        self.current_record = None;
        if self.stats.parsed > 0 || self.finished {
            self.finished = true;
            return Ok(None);
        }
        self.finished = true;
        let first = self
            .stats
            .first_malformed
            .first()
            .map_or_else(String::new, |m| {
                format!("; first malformed: {}:{}: {}", m.file, m.line, m.reason)
            });
        Err(LogError::NoRecords {
            files: self
                .files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            read: self.stats.read,
            skipped: self.stats.skipped,
            malformed: self.stats.malformed,
            first,
        })
    }

    /// The texts of the record behind the outcome last returned.
    pub fn record(&self) -> Option<RecordText<'_>> {
        let i = self.current?;
        let r = self.current_record.as_ref()?;
        let source = &self.sources[i];
        let t = source.texts();
        let recipient = match r.what {
            What::Status(_) | What::Arrival { .. } => source
                .rcpts
                .get(self.returned.saturating_sub(1))
                .map_or("", |s| t.get(*s)),
            _ => "",
        };
        Some(RecordText {
            line: &source.line,
            reason: t.get(r.reason),
            reply: t.get(r.reply),
            sender: t.get(r.sender),
            recipient,
            orig_to: t.get(r.orig_to),
        })
    }

    /// The text of a symbol.
    pub fn text(&self, sym: Sym) -> &str {
        self.tracker.symbols.text(sym)
    }

    pub fn symbols(&self) -> &Symbols {
        &self.tracker.symbols
    }

    pub fn stats(&self) -> &LineStats {
        &self.stats
    }

    /// The files read, with their format and time origin.
    pub fn files(&self) -> &[FileInfo] {
        &self.files
    }

    /// Messages in flight now (queued, not yet finished or removed).
    pub fn in_flight(&self) -> usize {
        self.tracker.messages.len()
    }
}
