//! The reading side of a source, on a thread of its own: the file's bytes split into lines
//! (LF, CRLF or a lone CR; a line longer than [`MAX_LINE`] cut off and counted malformed),
//! each lexed by the file's [`Lexer`], handed over in [`Batch`]es through a bounded channel
//! so that reading, decompressing and lexing overlap with the merge and the caller's work.
//!
//! A read error after the first byte (a truncated `.gz`, a copy cut short) ends the file:
//! the complete lines before it are kept and the batch carries a [`Truncation`].

use std::io::{self, BufRead};
use std::sync::mpsc::{Receiver, SyncSender};

use memchr::memchr2;

use super::super::lexed::{Lex, Lexed, Malformed, Skip, Span};
use super::super::lexer::Lexer;
use super::super::time::TimeOrigin;
use super::LogError;

/// The longest line read whole; longer ones are counted malformed and skipped.
pub const MAX_LINE: usize = 64 * 1024;

/// Lines per batch, and the text a batch may hold before it is handed over.
const BATCH_LINES: usize = 4096;
const BATCH_TEXT: usize = 1 << 20;

/// What one line became.
#[derive(Debug, Clone, Copy)]
pub enum Item {
    /// A record; its recipients are `rcpts[first..end]` of the batch.
    Record {
        lexed: Lexed,
        first: u32,
        end: u32,
    },
    Skip(Skip),
    Malformed(Malformed),
}

/// One line of a batch: where its text is and what it became.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    /// 1-based line number in the file.
    pub number: u64,
    /// The line's text is `text[start..end]` of the batch.
    pub start: u32,
    pub end: u32,
    pub item: Item,
}

/// How a file ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The line being read when the error came (its complete predecessors were read).
    pub line: u64,
    pub message: String,
}

/// Consecutive lines of one file, lexed.
#[derive(Debug, Default)]
pub struct Batch {
    pub text: String,
    /// Unescaped copies the lexers made (KumoMTA JSON strings, PowerMTA CSV fields).
    pub scratch: String,
    pub rcpts: Vec<Span>,
    pub lines: Vec<Line>,
    /// The file's time origin after these lines.
    pub origin: Option<TimeOrigin>,
    /// The file ended after these lines; `Some(Some(_))`: it ended early.
    pub end: Option<Option<Truncation>>,
}

impl Batch {
    fn clear(&mut self) {
        self.text.clear();
        self.scratch.clear();
        self.rcpts.clear();
        self.lines.clear();
        self.origin = None;
        self.end = None;
    }

    fn full(&self) -> bool {
        self.lines.len() >= BATCH_LINES || self.text.len() >= BATCH_TEXT
    }

    /// The text of `line`.
    pub fn line_text(&self, line: &Line) -> &str {
        &self.text[line.start as usize..line.end as usize]
    }
}

/// What the reading thread sends: a batch, or the error that ends the read.
pub type Message = Result<Batch, LogError>;

/// Splits a byte stream into lines ending in LF, CRLF or a lone CR, and hands each (without
/// its terminator, cut at [`MAX_LINE`]) to a callback with whether it was cut.
struct Splitter {
    partial: Vec<u8>,
    cut: bool,
    /// The last chunk ended in CR: an LF first in the next one belongs to it.
    after_cr: bool,
}

impl Splitter {
    fn new() -> Splitter {
        Splitter {
            partial: Vec::new(),
            cut: false,
            after_cr: false,
        }
    }

    /// Reads one buffer's worth; `Ok(false)` at the end of the input.
    fn step(
        &mut self,
        reader: &mut dyn BufRead,
        mut line: impl FnMut(&[u8], bool),
    ) -> io::Result<bool> {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(true),
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            if !self.partial.is_empty() || self.cut {
                line(&self.partial, self.cut);
                self.partial.clear();
                self.cut = false;
            }
            return Ok(false);
        }
        let mut at = 0;
        if self.after_cr && chunk[0] == b'\n' {
            at = 1;
        }
        self.after_cr = false;
        while let Some(i) = memchr2(b'\n', b'\r', &chunk[at..]) {
            let end = at + i;
            if self.partial.is_empty() && !self.cut {
                let whole = &chunk[at..end];
                line(&whole[..whole.len().min(MAX_LINE)], whole.len() > MAX_LINE);
            } else {
                self.append(&chunk[at..end]);
                line(&self.partial, self.cut);
                self.partial.clear();
                self.cut = false;
            }
            at = end + 1;
            if chunk[end] == b'\r' {
                match chunk.get(at) {
                    Some(b'\n') => at += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        let n = chunk.len();
        self.append(&chunk[at..]);
        reader.consume(n);
        Ok(true)
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = MAX_LINE - self.partial.len();
        if bytes.len() > room {
            self.cut = true;
        }
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// The reading thread's state: its input, lexer and the batch being filled.
pub struct Producer {
    pub name: String,
    pub reader: Box<dyn BufRead + Send>,
    pub lexer: Lexer,
}

impl Producer {
    /// Reads the whole input, sending batches (and taking emptied ones back from `free`)
    /// until the end, a fatal error or a reader that hung up.
    pub fn run(mut self, tx: SyncSender<Message>, free: Receiver<Batch>) {
        let mut splitter = Splitter::new();
        let mut batch = Batch::default();
        let mut number = 0u64;
        let mut rcpts = Vec::new();
        let mut fatal = None;
        loop {
            let step = splitter.step(self.reader.as_mut(), |bytes, cut| {
                number += 1;
                if fatal.is_none() {
                    fatal = push_line(&mut batch, &mut self.lexer, &mut rcpts, number, bytes, cut)
                        .err()
                        .map(|e| e.into_log_error(&self.name, number));
                }
            });
            if let Some(e) = fatal.take() {
                let _ = tx.send(Err(e));
                return;
            }
            let more = match step {
                Ok(more) => more,
                Err(e) => {
                    batch.end = Some(Some(Truncation {
                        line: number + 1,
                        message: e.to_string(),
                    }));
                    false
                }
            };
            if !more && batch.end.is_none() {
                batch.end = Some(None);
            }
            if !more || batch.full() {
                batch.origin = self.lexer.origin();
                let next = free.try_recv().unwrap_or_default();
                if tx.send(Ok(std::mem::replace(&mut batch, next))).is_err() {
                    return;
                }
                batch.clear();
                if !more {
                    return;
                }
            }
        }
    }
}

/// Lexes one line into the batch.
fn push_line(
    batch: &mut Batch,
    lexer: &mut Lexer,
    rcpts: &mut Vec<Span>,
    number: u64,
    bytes: &[u8],
    cut: bool,
) -> Result<(), super::super::lexer::Fatal> {
    let start = batch.text.len();
    match std::str::from_utf8(bytes) {
        Ok(s) => batch.text.push_str(s),
        Err(_) => batch.text.push_str(&String::from_utf8_lossy(bytes)),
    }
    let end = batch.text.len();
    let item = if cut {
        Item::Malformed(Malformed::LineTooLong)
    } else {
        let line = &batch.text[start..end];
        rcpts.clear();
        match lexer.lex(line, &mut batch.scratch, rcpts)? {
            Lex::Record(lexed) => {
                let first = batch.rcpts.len() as u32;
                batch.rcpts.extend_from_slice(rcpts);
                Item::Record {
                    lexed,
                    first,
                    end: batch.rcpts.len() as u32,
                }
            }
            Lex::Skip(s) => Item::Skip(s),
            Lex::Malformed(m) => Item::Malformed(m),
        }
    };
    // A skipped line's text is not needed: drop it to keep batches small.
    let keep = !matches!(item, Item::Skip(_));
    if !keep {
        batch.text.truncate(start);
    }
    batch.lines.push(Line {
        number,
        start: start as u32,
        end: if keep { end as u32 } else { start as u32 },
        item,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], buffer: usize) -> Vec<(String, bool)> {
        let mut reader = io::BufReader::with_capacity(buffer, input);
        let mut splitter = Splitter::new();
        let mut out = Vec::new();
        while splitter
            .step(&mut reader, |b, cut| {
                out.push((String::from_utf8_lossy(b).into_owned(), cut))
            })
            .unwrap()
        {}
        out
    }

    #[test]
    fn lines_end_in_lf_crlf_or_a_lone_cr() {
        for buffer in [1, 2, 3, 7, 4096] {
            let lines = split(b"a\nb\r\nc\rd\r\re", buffer);
            let texts: Vec<&str> = lines.iter().map(|(t, _)| t.as_str()).collect();
            assert_eq!(texts, ["a", "b", "c", "d", "", "e"], "buffer {buffer}");
        }
        assert_eq!(split(b"", 8), []);
        assert_eq!(split(b"x\n", 8), [("x".to_string(), false)]);
    }

    #[test]
    fn a_line_without_end_is_cut() {
        let mut long = vec![b'x'; MAX_LINE * 3];
        long.extend_from_slice(b"\nnext\n");
        for buffer in [1000, MAX_LINE * 4] {
            let lines = split(&long, buffer);
            assert_eq!(lines.len(), 2);
            assert_eq!((lines[0].0.len(), lines[0].1), (MAX_LINE, true));
            assert_eq!(lines[1], ("next".to_string(), false));
        }
    }
}
