//! Line statistics: every line read is parsed, skipped (by kind) or malformed (by reason,
//! the first ones kept with their place).

use serde::Serialize;

use super::super::lexed::{Malformed, Skip};
use super::super::time::UnixMillis;

/// A malformed line kept for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MalformedLine {
    pub file: String,
    pub line: u64,
    pub reason: &'static str,
    /// The line, cut at 200 characters.
    pub text: String,
}

/// A file that ended early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TruncatedFile {
    pub file: String,
    /// The line being read when the file ended (its predecessors were read).
    pub line: u64,
    /// What the reader or decompressor said.
    pub message: String,
}

impl std::fmt::Display for TruncatedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: the file ends early ({}); the {} complete lines before it were read",
            self.file,
            self.line,
            self.message,
            self.line - 1
        )
    }
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
    /// Files that ended early (a truncated `.gz`, a copy cut short): the lines before the
    /// cut were read.
    pub truncated: Vec<TruncatedFile>,
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

    /// Skipped lines of another format than their file's.
    pub fn other_format(&self) -> u64 {
        Skip::ALL
            .iter()
            .zip(self.skipped_by)
            .filter(|(s, _)| s.is_foreign())
            .map(|(_, n)| n)
            .sum()
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

    pub(super) fn truncated(&mut self, file: &str, line: u64, message: String) {
        self.truncated.push(TruncatedFile {
            file: file.to_string(),
            line,
            message,
        });
    }

    pub(super) fn skip(&mut self, kind: Skip) {
        self.skipped += 1;
        self.skipped_by[kind as usize] += 1;
    }

    pub(super) fn malformed(&mut self, reason: Malformed, file: &str, line: u64, text: &str) {
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

    pub(super) fn saw(&mut self, t: UnixMillis) {
        self.first_time = Some(self.first_time.map_or(t, |f| f.min(t)));
        self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
    }
}
