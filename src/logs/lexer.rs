//! One file's lexer: the format's line lexer with the state it keeps from line to line
//! (Postfix's year clock, PowerMTA's columns from the header row).

use super::exim::EximLexer;
use super::lexed::{Lex, Span};
use super::pmta::PmtaLexer;
use super::time::{TimeOrigin, YearClock};
use super::{kumo, postfix};
use crate::MtaKind;

/// A lexer for one file.
pub enum Lexer {
    Postfix(YearClock),
    KumoMta,
    Pmta(Box<PmtaLexer>),
    Exim(EximLexer),
}

/// A line that makes the rest of the file unreadable (the reader stops with an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fatal {
    /// A PowerMTA accounting file without a header row whose records do not have the
    /// default record's field count.
    HeaderlessFields { fields: usize },
}

impl Fatal {
    pub fn into_log_error(self, file: &str, line: u64) -> super::LogError {
        match self {
            Fatal::HeaderlessFields { fields } => super::LogError::HeaderlessFields {
                file: file.to_string(),
                line,
                fields,
            },
        }
    }
}

impl Lexer {
    pub fn new(format: MtaKind, clock: YearClock) -> Lexer {
        match format {
            MtaKind::Exim => Lexer::Exim(EximLexer {
                offset_minutes: clock.origin().utc_offset_minutes,
            }),
            MtaKind::Postfix => Lexer::Postfix(clock),
            MtaKind::KumoMta => Lexer::KumoMta,
            MtaKind::Pmta => Lexer::Pmta(Box::default()),
        }
    }

    /// Lexes one line (without its end); recipients go to `rcpts`, copies of unescaped text
    /// to `scratch`.
    pub fn lex(
        &mut self,
        line: &str,
        scratch: &mut String,
        rcpts: &mut Vec<Span>,
    ) -> Result<Lex, Fatal> {
        Ok(match self {
            Lexer::Postfix(clock) => postfix::lex(line, clock, rcpts),
            Lexer::KumoMta => kumo::lex(line, scratch, rcpts),
            Lexer::Pmta(p) => return p.lex(line, scratch, rcpts),
            Lexer::Exim(e) => e.lex(line, rcpts),
        })
    }

    /// How the file's times were made absolute so far (`None`: no classic syslog stamps).
    pub fn origin(&self) -> Option<TimeOrigin> {
        match self {
            Lexer::Postfix(clock) => Some(clock.origin()),
            _ => None,
        }
    }
}
