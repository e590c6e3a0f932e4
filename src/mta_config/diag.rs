//! Where a directive is, what did not translate and why, and the one error that stops an
//! import.

use std::fmt;

/// A place in a configuration file: 1-based line and column (column 0: the whole line).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if self.column > 0 {
            write!(f, ":{}", self.column)?;
        }
        Ok(())
    }
}

/// How far a directive is from mtasim's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// Nothing in mtasim says it: left out.
    NotTranslated,
    /// Translated to the nearest mtasim setting, which behaves differently in the way said.
    Approximated,
}

/// A directive that did not translate exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub place: Place,
    pub directive: String,
    pub why: String,
    pub kind: WarningKind,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            WarningKind::NotTranslated => "not imported",
            WarningKind::Approximated => "approximated",
        };
        write!(
            f,
            "{}: {}: {what}: {}",
            self.place, self.directive, self.why
        )
    }
}

/// Bad input: a syntax error or a value the MTA itself would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub place: Place,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A file's text with its line starts, to turn byte offsets into places.
pub(super) struct Text<'a> {
    pub name: &'a str,
    pub text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Text<'a> {
    pub fn new(name: &'a str, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Text {
            name,
            text,
            line_starts,
        }
    }

    /// The place of byte `offset` (1-based line and column, the column in characters).
    pub fn place(&self, offset: usize) -> Place {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        Place {
            file: self.name.to_string(),
            line,
            column,
        }
    }

    pub fn error(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            place: self.place(offset),
            message: message.into(),
        }
    }
}

/// Collects the warnings of one import, and counts what did translate.
#[derive(Debug, Default)]
pub(super) struct Report {
    pub warnings: Vec<Warning>,
    pub settings: usize,
}

impl Report {
    pub fn skip(&mut self, place: Place, directive: &str, why: impl Into<String>) {
        self.push(place, directive, why, WarningKind::NotTranslated);
    }

    pub fn approximate(&mut self, place: Place, directive: &str, why: impl Into<String>) {
        self.push(place, directive, why, WarningKind::Approximated);
    }

    fn push(&mut self, place: Place, directive: &str, why: impl Into<String>, kind: WarningKind) {
        self.warnings.push(Warning {
            place,
            directive: directive.to_string(),
            why: why.into(),
            kind,
        });
    }

    /// One directive translated.
    pub fn took(&mut self) {
        self.settings += 1;
    }

    /// The import's result, warnings in file and line order (each once).
    pub fn finish(mut self, scenario: crate::scenario::Scenario) -> super::Imported {
        self.warnings.sort_by(|a, b| a.place.cmp(&b.place));
        self.warnings.dedup();
        super::Imported {
            scenario,
            warnings: self.warnings,
            settings: self.settings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = Text::new("f", "ab\ncdé\n\nx");
        assert_eq!((text.place(0).line, text.place(0).column), (1, 1));
        assert_eq!((text.place(2).line, text.place(2).column), (1, 3));
        assert_eq!((text.place(3).line, text.place(3).column), (2, 1));
        assert_eq!((text.place(8).line, text.place(8).column), (3, 1));
        assert_eq!(text.place(9).to_string(), "f:4:1");
    }
}
