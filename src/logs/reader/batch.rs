//! The reading side of a source, on a thread of its own: the file read in blocks of about
//! [`BLOCK`] bytes, each block's complete lines (ending in LF, CRLF or a lone CR; a line
//! longer than [`MAX_LINE`] cut off and counted malformed) lexed by the file's [`Lexer`]
//! where they lie, and handed over as a [`Batch`] through a bounded channel, so that
//! reading, decompressing and lexing overlap with the merge and the caller's work. A line's
//! text is never copied: the batch's text is the block as read.
//!
//! A read error after the first byte (a truncated `.gz`, a copy cut short) ends the file:
//! the complete lines before it are kept and the batch carries a [`Truncation`].

use std::io::{self, BufRead};
use std::sync::mpsc::{Receiver, SyncSender};

use memchr::{memchr2, memrchr2};

use super::super::lexed::{Lex, Lexed, Malformed, Skip, Span};
use super::super::lexer::{Fatal, Lexer};
use super::super::time::TimeOrigin;
use super::LogError;

/// The longest line read whole; longer ones are counted malformed and skipped.
pub const MAX_LINE: usize = 64 * 1024;

/// The bytes read for one batch (its last, incomplete line goes on to the next).
const BLOCK: usize = 1 << 20;

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
    /// The block of the file the lines are in.
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

    /// The text of `line`.
    pub fn line_text(&self, line: &Line) -> &str {
        &self.text[line.start as usize..line.end as usize]
    }
}

/// What the reading thread sends: a batch, or the error that ends the read.
pub type Message = Result<Batch, LogError>;

/// Reads the input in blocks of whole lines, carrying each block's incomplete last line
/// over to the next and skipping the rest of a line cut at [`MAX_LINE`].
struct Blocks {
    /// The start of a line the last block ended in.
    carry: Vec<u8>,
    /// The last block ended in CR: an LF first in the next one belongs to it.
    after_cr: bool,
    /// A line was cut and its rest is being skipped up to its end.
    skipping: bool,
    eof: bool,
}

/// One block of whole lines.
struct Block {
    /// The lines' bytes (the last one without its end only at the end of the input).
    bytes: Vec<u8>,
    /// The first line of the block is the cut-off start of a longer line.
    cut_first: bool,
    /// The read error that ended the input.
    error: Option<io::Error>,
}

impl Blocks {
    fn new() -> Blocks {
        Blocks {
            carry: Vec::new(),
            after_cr: false,
            skipping: false,
            eof: false,
        }
    }

    /// The next block, read into `bytes` (a reused buffer); `None` at the end.
    fn next(&mut self, reader: &mut dyn BufRead, mut bytes: Vec<u8>) -> Option<Block> {
        if self.eof && self.carry.is_empty() {
            return None;
        }
        bytes.clear();
        bytes.append(&mut self.carry);
        if bytes.len() > MAX_LINE {
            // The line the last block ended in is already too long: cut it here.
            bytes.truncate(MAX_LINE);
            self.skipping = true;
            return Some(Block {
                bytes,
                cut_first: true,
                error: None,
            });
        }
        let mut error = None;
        while !self.eof && bytes.len() < BLOCK {
            let chunk = match reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    error = Some(e);
                    self.eof = true;
                    break;
                }
            };
            if chunk.is_empty() {
                self.eof = true;
                break;
            }
            let mut from = usize::from(self.after_cr && chunk[0] == b'\n');
            self.after_cr = false;
            if self.skipping {
                match memchr2(b'\n', b'\r', &chunk[from..]) {
                    Some(i) => {
                        let at = from + i;
                        self.skipping = false;
                        from = at + 1;
                        if chunk[at] == b'\r' {
                            match chunk.get(from) {
                                Some(b'\n') => from += 1,
                                Some(_) => {}
                                None => self.after_cr = true,
                            }
                        }
                    }
                    None => from = chunk.len(),
                }
            }
            // No more than the block needs: an in-memory input hands over all it has.
            let to = chunk.len().min(from + BLOCK - bytes.len());
            bytes.extend_from_slice(&chunk[from..to]);
            reader.consume(to);
            // A line longer than MAX_LINE with no end in sight: keep its start as a cut
            // line and skip the rest.
            if !self.skipping && bytes.len() > MAX_LINE && memchr2(b'\n', b'\r', &bytes).is_none() {
                bytes.truncate(MAX_LINE);
                self.skipping = true;
                return Some(Block {
                    bytes,
                    cut_first: true,
                    error,
                });
            }
        }
        if let Some(e) = error {
            // The incomplete last line is lost with the rest of the file.
            let end = memrchr2(b'\n', b'\r', &bytes).map_or(0, |i| i + 1);
            bytes.truncate(end);
            return Some(Block {
                bytes,
                cut_first: false,
                error: Some(e),
            });
        }
        if !self.eof {
            let end = memrchr2(b'\n', b'\r', &bytes).map_or(0, |i| i + 1);
            self.carry.extend_from_slice(&bytes[end..]);
            bytes.truncate(end);
            self.after_cr = self.carry.is_empty() && bytes.last() == Some(&b'\r');
        }
        Some(Block {
            bytes,
            cut_first: false,
            error: None,
        })
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
        let mut blocks = Blocks::new();
        let mut number = 0u64;
        let mut rcpts = Vec::new();
        loop {
            let mut batch = free.try_recv().unwrap_or_default();
            let buffer = std::mem::take(&mut batch.text).into_bytes();
            batch.clear();
            let Some(block) = blocks.next(self.reader.as_mut(), buffer) else {
                batch.end = Some(None);
                batch.origin = self.lexer.origin();
                let _ = tx.send(Ok(batch));
                return;
            };
            batch.text = match String::from_utf8(block.bytes) {
                Ok(text) => text,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            let lexed = lex_lines(
                &mut batch,
                &mut self.lexer,
                &mut rcpts,
                &mut number,
                block.cut_first,
            );
            if let Err(e) = lexed {
                let _ = tx.send(Err(e.into_log_error(&self.name, number)));
                return;
            }
            if let Some(e) = block.error {
                batch.end = Some(Some(Truncation {
                    line: number + 1,
                    message: e.to_string(),
                }));
            }
            batch.origin = self.lexer.origin();
            let ended = batch.end.is_some();
            if tx.send(Ok(batch)).is_err() || ended {
                return;
            }
        }
    }
}

/// Lexes every line of the batch's text into its lines.
fn lex_lines(
    batch: &mut Batch,
    lexer: &mut Lexer,
    rcpts: &mut Vec<Span>,
    number: &mut u64,
    cut_first: bool,
) -> Result<(), Fatal> {
    let text = &batch.text;
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let end = memchr2(b'\n', b'\r', &bytes[at..]).map_or(bytes.len(), |i| at + i);
        *number += 1;
        let cut = end - at > MAX_LINE || (cut_first && at == 0);
        let mut stop = end.min(at + MAX_LINE);
        while !text.is_char_boundary(stop) {
            stop -= 1;
        }
        let item = if cut {
            Item::Malformed(Malformed::LineTooLong)
        } else {
            rcpts.clear();
            match lexer.lex(&text[at..stop], &mut batch.scratch, rcpts)? {
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
        batch.lines.push(Line {
            number: *number,
            start: at as u32,
            end: stop as u32,
            item,
        });
        at = end + 1;
        if bytes.get(end) == Some(&b'\r') && bytes.get(at) == Some(&b'\n') {
            at += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of `input` read through a buffer of `buffer` bytes: (text, cut).
    fn split(input: &[u8], buffer: usize) -> Vec<(String, bool)> {
        let mut reader = io::BufReader::with_capacity(buffer, input);
        let mut blocks = Blocks::new();
        let mut out = Vec::new();
        while let Some(block) = blocks.next(&mut reader, Vec::new()) {
            let text = String::from_utf8(block.bytes).unwrap();
            let b = text.as_bytes();
            let mut at = 0;
            while at < b.len() {
                let end = memchr2(b'\n', b'\r', &b[at..]).map_or(b.len(), |i| at + i);
                let cut = end - at > MAX_LINE || (block.cut_first && at == 0);
                out.push((text[at..end.min(at + MAX_LINE)].to_string(), cut));
                at = end + 1;
                if b.get(end) == Some(&b'\r') && b.get(at) == Some(&b'\n') {
                    at += 1;
                }
            }
        }
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
            assert_eq!(lines.len(), 2, "buffer {buffer}");
            assert_eq!((lines[0].0.len(), lines[0].1), (MAX_LINE, true));
            assert_eq!(lines[1], ("next".to_string(), false));
        }
        // Longer than a block, ended by CRLF split across reads.
        let mut endless = vec![b'y'; BLOCK * 2 + 5];
        endless.extend_from_slice(b"\r\nafter\n");
        for buffer in [4096, BLOCK * 3] {
            let lines = split(&endless, buffer);
            let texts: Vec<(usize, bool)> = lines.iter().map(|(t, c)| (t.len(), *c)).collect();
            assert_eq!(texts, [(MAX_LINE, true), (5, false)], "buffer {buffer}");
        }
    }

    #[test]
    fn lines_across_blocks_are_whole() {
        let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n";
        let input = line.repeat(3 * BLOCK / line.len());
        let lines = split(&input, 5000);
        assert_eq!(lines.len(), 3 * BLOCK / line.len());
        assert!(lines.iter().all(|(t, c)| t.len() == line.len() - 2 && !c));
    }
}
