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

/// Bad input: one error names the place and stops the import (exit code 2, nothing
/// written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The text is not the MTA's syntax.
    #[error("{place}: {message}")]
    Syntax { place: Place, message: String },
    /// A value the MTA itself would refuse (or mtasim cannot take, said why).
    #[error("{place}: {message}")]
    Value { place: Place, message: String },
    /// A name that is none of the MTA's settings: a typo, most likely.
    #[error("{place}: unknown setting `{name}`{}", did_you_mean(.suggestion))]
    UnknownSetting {
        place: Place,
        name: String,
        suggestion: Option<String>,
    },
    /// The configuration translated into a scenario that does not validate.
    #[error("{place}: the imported configuration is not a valid scenario: {path}: {message}")]
    Invalid {
        place: Place,
        path: String,
        message: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map_or_else(String::new, |s| format!("; did you mean `{s}`?"))
}

impl ConfigError {
    /// Where the error is.
    pub fn place(&self) -> &Place {
        match self {
            ConfigError::Syntax { place, .. }
            | ConfigError::Value { place, .. }
            | ConfigError::UnknownSetting { place, .. }
            | ConfigError::Invalid { place, .. } => place,
        }
    }

    /// A refused value at `place`.
    pub fn value(place: Place, message: impl Into<String>) -> ConfigError {
        ConfigError::Value {
            place,
            message: message.into(),
        }
    }
}

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

    /// A syntax error at byte `offset`.
    pub fn error(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        ConfigError::Syntax {
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
    /// Settings the scenario holds as an approximation, with the MTA's text.
    pub as_written: Vec<super::AsWritten>,
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

    /// Settings for `domain`, which no receiver of the scenario has: left out.
    pub fn no_receiver(&mut self, place: Place, directive: &str) {
        self.skip(
            place,
            directive,
            "no receiver of the scenario has this domain; add one (or import --into a scenario that has it)",
        );
    }

    /// `about` is held as `value` in the scenario; the MTA wrote it `text`.
    pub fn written(&mut self, about: String, value: serde_json::Value, text: String) {
        self.as_written
            .push(super::AsWritten { about, value, text });
    }

    /// One directive translated.
    pub fn took(&mut self) {
        self.settings += 1;
    }

    /// The import's result, warnings in file and line order (each once); what it left out
    /// or approximated is noted in the scenario for an export back to `kind`.
    pub fn finish(
        mut self,
        kind: crate::MtaKind,
        mut scenario: crate::scenario::Scenario,
    ) -> super::Imported {
        self.warnings.sort_by(|a, b| a.place.cmp(&b.place));
        self.warnings.dedup();
        let left_out: Vec<String> = self
            .warnings
            .iter()
            .filter(|w| w.kind == WarningKind::NotTranslated)
            .map(|w| w.to_string())
            .collect();
        scenario.imported =
            (!left_out.is_empty() || !self.as_written.is_empty()).then_some(super::ImportNotes {
                from: kind,
                left_out,
                as_written: self.as_written,
            });
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
