//! One input file: its lines (or PowerMTA's CSV records), lexed by its format's lexer
//! into the next pending record, with the lines skipped and malformed on the way counted.

use std::io::{self, BufRead, Read};

use super::super::input;
use super::super::lexed::{Lex, Lexed, Span, Texts};
use super::super::pmta::PmtaColumns;
use super::super::time::YearClock;
use super::super::{kumo, pmta, postfix};
use super::{LineStats, LogError};
use crate::MtaKind;

enum Input {
    Lines(Box<dyn BufRead>),
    Csv(Box<CsvInput>),
}

struct CsvInput {
    reader: csv::Reader<Box<dyn BufRead>>,
    record: csv::ByteRecord,
    columns: PmtaColumns,
}

pub struct Source {
    pub name: String,
    pub format: MtaKind,
    input: Input,
    pub clock: YearClock,
    /// The current line (PowerMTA: the record's fields joined by commas).
    pub line: String,
    line_no: u64,
    scratch: String,
    /// The pending record's recipients.
    pub rcpts: Vec<Span>,
    /// The next record and its line number.
    pub pending: Option<(u64, Lexed)>,
    done: bool,
}

impl Source {
    pub fn new(
        name: String,
        format: MtaKind,
        reader: Box<dyn BufRead>,
        clock: YearClock,
    ) -> Source {
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
        Source {
            name,
            format,
            input,
            clock,
            line: String::new(),
            line_no: 0,
            scratch: String::new(),
            rcpts: Vec::new(),
            pending: None,
            done: false,
        }
    }

    pub fn texts(&self) -> Texts<'_> {
        Texts {
            line: &self.line,
            scratch: &self.scratch,
        }
    }

    /// Reads to the next record (or the end), counting the lines skipped and malformed.
    pub fn advance(&mut self, stats: &mut LineStats) -> Result<(), LogError> {
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

/// Reads up to 50 non-empty lines (or 64 KiB) for format detection, then hands back a
/// reader that yields them again.
pub fn sniff(
    mut reader: Box<dyn BufRead>,
) -> io::Result<(Option<MtaKind>, usize, Box<dyn BufRead>)> {
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
