//! The reader: sources (one per file), the time-ordered merge of their records, the
//! messages in flight and the line statistics.

mod batch;
mod source;
mod stats;
mod tracker;

use std::collections::VecDeque;
use std::io::{self, BufRead};
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::Outcome;
use super::destinations::{Providers, Resolver};
use super::input;
use super::input::Detected;
use super::lexed::{Lexed, Skip, What};
use super::symbols::{Sym, Symbols};
use super::time::{TimeOrigin, UnixMillis, YearClock, YearSource};
use crate::MtaKind;
use crate::flow_control::config::KeyKind;
use source::{Source, sniff};
pub use stats::{LineStats, MalformedLine, TruncatedFile};
use tracker::{At, Tracker};

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
        "{file}: unknown format: none of its first lines is a Postfix, Exim, KumoMTA or PowerMTA \
         record (give the format to read it as one: postfix, exim, kumomta or pmta)"
    )]
    UnknownFormat { file: String },
    #[error(
        "{file}: this is {} log: mtasim reads Postfix, Exim, KumoMTA and PowerMTA logs",
        a_or_an(mta)
    )]
    Unsupported { file: String, mta: &'static str },
    #[error(
        "no line of {files} is a delivery record ({read} lines read, {skipped} skipped, {malformed} malformed{first}){hint}"
    )]
    NoRecords {
        files: String,
        read: u64,
        skipped: u64,
        malformed: u64,
        first: String,
        /// What the files look like when read with another format than theirs.
        hint: String,
    },
    #[error("too many log files ({0}): at most 65535")]
    TooManyFiles(usize),
    #[error(
        "{file}:{line}: a PowerMTA accounting record of {fields} fields and no header row: \
         the default record has 21 (or 23 with queue and vmtaPool); put the acct-file's \
         header row (its record-fields) first"
    )]
    HeaderlessFields {
        file: String,
        line: u64,
        fields: usize,
    },
}

/// `an Exim`, `a Postfix`: the name with its article.
fn a_or_an(name: &str) -> String {
    let article = if name.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

/// One input file as read.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    pub name: String,
    pub format: MtaKind,
    pub origin: TimeOrigin,
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

/// Reads log files as one time-ordered stream of outcomes.
pub struct LogReader {
    /// Per file, the format its first lines show (for the error of a read that finds none).
    detected: Vec<Option<Detected>>,
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
        inputs: Vec<(String, Box<dyn BufRead + Send>, Option<SystemTime>)>,
        options: ReadOptions,
    ) -> Result<LogReader, LogError> {
        if inputs.len() > u16::MAX as usize {
            return Err(LogError::TooManyFiles(inputs.len()));
        }
        let mut sources = Vec::with_capacity(inputs.len());
        let mut detected = Vec::with_capacity(inputs.len());
        for (name, reader, modified) in inputs {
            let (found, lines, reader) = sniff(reader).map_err(|source| LogError::Read {
                file: name.clone(),
                line: 1,
                source,
            })?;
            let format = match (options.format, found) {
                (Some(f), _) => f,
                (None, Some(Detected::Mta(f))) => f,
                (None, Some(Detected::Unsupported(mta))) => {
                    return Err(LogError::Unsupported { file: name, mta });
                }
                // An empty file (a fresh rotation) has no format and no records.
                (None, None) if lines == 0 => MtaKind::Postfix,
                (None, None) => return Err(LogError::UnknownFormat { file: name }),
            };
            detected.push(found);
            let (reference, source) = match modified {
                Some(t) => (UnixMillis::from_system(t), YearSource::FileModified),
                None => (UnixMillis::from_system(SystemTime::now()), YearSource::Now),
            };
            let clock = YearClock::new(options.year, reference, source, options.utc_offset_minutes);
            sources.push(Source::spawn(name, format, reader, clock)?);
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
                origin: s.origin,
            })
            .collect();
        Ok(LogReader {
            detected,
            sources,
            tracker: Tracker::new(Resolver::new(options.providers, options.key)),
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
                self.files[i].origin = self.sources[i].origin;
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
            let (line, record) = self.sources[i].take().expect("picked a pending record");
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
                .apply(&record, source.texts(), source.rcpts(), at, &mut self.out)
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
            hint: self.hint(),
        })
    }

    /// Why a read found nothing: a file ended early, or is of another format than the one
    /// it was read with.
    fn hint(&self) -> String {
        if let Some(t) = self.stats.truncated.first() {
            return format!("; {t}");
        }
        self.sources
            .iter()
            .zip(&self.detected)
            .find_map(|(s, d)| match d {
                Some(Detected::Mta(kind)) if *kind != s.format => Some(format!(
                    "; {} is {} log, not {} log (give the format {kind}, or let it be detected)",
                    s.name,
                    a_or_an(kind.title()),
                    a_or_an(s.format.title())
                )),
                Some(Detected::Unsupported(mta)) => Some(format!(
                    "; {} is {} log: mtasim reads Postfix, Exim, KumoMTA and PowerMTA logs",
                    s.name,
                    a_or_an(mta)
                )),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The texts of the record behind the outcome last returned.
    pub fn record(&self) -> Option<RecordText<'_>> {
        let i = self.current?;
        let r = self.current_record.as_ref()?;
        let source = &self.sources[i];
        let t = source.texts();
        let recipient = match r.what {
            What::Status(_) | What::Arrival { .. } => source
                .rcpts()
                .get(self.returned.saturating_sub(1))
                .map_or("", |s| t.get(*s)),
            _ => "",
        };
        Some(RecordText {
            line: t.line,
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
