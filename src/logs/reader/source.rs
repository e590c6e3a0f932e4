//! One input file, as the merge sees it: the batches its reading thread sends
//! ([`batch`](super::batch)), walked line by line to the next pending record, with the
//! lines skipped and malformed on the way counted.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::super::input::{self, Detected};
use super::super::lexed::{Lexed, Span, Texts};
use super::super::lexer::Lexer;
use super::super::time::{TimeOrigin, YearClock};
use super::batch::{Batch, Item, Message, Producer, Truncation};
use super::{LineStats, LogError};
use crate::MtaKind;

/// Batches in flight per file: one being read, one waiting, one being lexed.
const IN_FLIGHT: usize = 2;

pub struct Source {
    pub name: String,
    pub format: MtaKind,
    pub origin: TimeOrigin,
    rx: Receiver<Message>,
    free: SyncSender<Batch>,
    batch: Batch,
    /// The next line of `batch` to look at.
    next: usize,
    /// The pending record's line in `batch`.
    pending_line: Option<usize>,
    /// The line of the record last taken (its texts stay valid until the next advance).
    current_line: Option<usize>,
    /// The next record and its line number.
    pub pending: Option<(u64, Lexed)>,
    done: bool,
}

impl Source {
    /// Starts the file's reading thread.
    pub fn spawn(
        name: String,
        format: MtaKind,
        reader: Box<dyn BufRead + Send>,
        clock: YearClock,
    ) -> Result<Source, LogError> {
        let origin = clock.origin();
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let (free, free_rx) = sync_channel(IN_FLIGHT + 1);
        let producer = Producer {
            name: name.clone(),
            reader,
            lexer: Lexer::new(format, clock),
        };
        std::thread::Builder::new()
            .name(format!("read {name}"))
            .spawn(move || producer.run(tx, free_rx))
            .map_err(|source| LogError::Open {
                file: name.clone(),
                source,
            })?;
        Ok(Source {
            name,
            format,
            origin,
            rx,
            free,
            batch: Batch::default(),
            next: 0,
            pending_line: None,
            current_line: None,
            pending: None,
            done: false,
        })
    }

    /// The texts of the record last taken with [`Source::take`].
    pub fn texts(&self) -> Texts<'_> {
        let line = self
            .current_line
            .map_or("", |i| self.batch.line_text(&self.batch.lines[i]));
        Texts {
            line,
            scratch: &self.batch.scratch,
        }
    }

    /// The recipients of the record last taken.
    pub fn rcpts(&self) -> &[Span] {
        match self.current_line.map(|i| self.batch.lines[i].item) {
            Some(Item::Record { first, end, .. }) => {
                &self.batch.rcpts[first as usize..end as usize]
            }
            _ => &[],
        }
    }

    /// Takes the pending record: its texts are [`Source::texts`] until the next advance.
    pub fn take(&mut self) -> Option<(u64, Lexed)> {
        self.current_line = self.pending_line.take();
        self.pending.take()
    }

    /// Walks to the next record (or the end), counting the lines skipped and malformed.
    pub fn advance(&mut self, stats: &mut LineStats) -> Result<(), LogError> {
        self.pending = None;
        self.pending_line = None;
        loop {
            while self.next < self.batch.lines.len() {
                let i = self.next;
                self.next += 1;
                let line = self.batch.lines[i];
                stats.read += 1;
                match line.item {
                    Item::Record { lexed, .. } => {
                        self.pending = Some((line.number, lexed));
                        self.pending_line = Some(i);
                        return Ok(());
                    }
                    Item::Skip(s) => stats.skip(s),
                    Item::Malformed(m) => {
                        let text = self.batch.line_text(&line);
                        stats.malformed(m, &self.name, line.number, text);
                    }
                }
            }
            if self.done {
                return Ok(());
            }
            if let Some(end) = self.batch.end.take() {
                self.done = true;
                if let Some(Truncation { line, message }) = end {
                    stats.truncated(&self.name, line, message);
                }
                return Ok(());
            }
            self.receive()?;
        }
    }

    /// The next batch from the reading thread (the one read is handed back for reuse).
    fn receive(&mut self) -> Result<(), LogError> {
        let batch = match self.rx.recv() {
            Ok(Ok(batch)) => batch,
            Ok(Err(e)) => {
                self.done = true;
                return Err(e);
            }
            Err(_) => {
                self.done = true;
                return Ok(());
            }
        };
        let used = std::mem::replace(&mut self.batch, batch);
        let _ = self.free.try_send(used);
        self.next = 0;
        self.current_line = None;
        if let Some(origin) = self.batch.origin {
            self.origin = origin;
        }
        Ok(())
    }
}

/// Reads the first 64 KiB for format detection, then hands back a reader that yields them
/// again: the format, and how many non-empty lines the head holds.
pub fn sniff(
    mut reader: Box<dyn BufRead + Send>,
) -> io::Result<(Option<Detected>, usize, Box<dyn BufRead + Send>)> {
    let mut head = Vec::new();
    // A file that breaks off early (a truncated `.gz`) keeps what was read; the error
    // comes again after it, where the reading thread ends the file with a warning.
    let rest: Box<dyn BufRead + Send> = match reader.by_ref().take(64 * 1024).read_to_end(&mut head)
    {
        Ok(_) => reader,
        Err(e) if !head.is_empty() => Box::new(Failing(Some(e))),
        Err(e) => return Err(e),
    };
    let lines = input::lines(&head).count();
    let format = input::detect(&head);
    Ok((format, lines, Box::new(io::Cursor::new(head).chain(rest))))
}

/// A reader that fails once with the error it holds, then ends.
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

impl BufRead for Failing {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.0.take().map_or(Ok(&[]), Err)
    }

    fn consume(&mut self, _: usize) {}
}
