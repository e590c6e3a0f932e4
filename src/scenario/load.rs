//! Reading a scenario: bytes, JSON, overrides, types ([`parse`]), then meaning
//! ([`super::compile`]; [`load`] does both) — each failure reported once, with the JSON
//! path and line:column it concerns.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use super::locate::{locate, steps};
use super::{CompiledScenario, Override, Scenario, compile};

/// Scenario files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The origin of an error in applying an override (rather than in a file).
pub const OVERRIDE_ORIGIN: &str = "override";

/// Why a scenario was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file name, `<default>` for the built-in scenario, or [`OVERRIDE_ORIGIN`].
    pub origin: String,
    /// 1-based line and column, when the problem is inside the text.
    pub position: Option<(usize, usize)>,
    /// JSON path of the offending value (empty for syntax errors).
    pub path: String,
    pub message: String,
    /// The override that supplied the offending value, if one did.
    pub set_by: Option<String>,
}

impl ScenarioError {
    /// The error, naming overrides as `overrides` (the command line says `--set`).
    pub fn describe(&self, overrides: &str) -> String {
        // A value (or key) an override supplied is that override's error, not the file's.
        if let Some(set) = &self.set_by {
            let path = if self.path.is_empty() {
                String::new()
            } else {
                format!("{}: ", self.path)
            };
            return format!("{overrides} {set}: {path}{}", self.message);
        }
        let mut text = if self.origin == OVERRIDE_ORIGIN {
            overrides.to_string()
        } else {
            self.origin.clone()
        };
        if let Some((line, column)) = self.position {
            text += &format!(":{line}:{column}");
        }
        if !self.path.is_empty() {
            text += &format!(": {}", self.path);
        }
        text += &format!(": {}", self.message);
        text
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(OVERRIDE_ORIGIN))
    }
}

impl std::error::Error for ScenarioError {}

/// Reads, parses and compiles a scenario file.
pub fn load_file(path: &Path, overrides: &[Override]) -> Result<CompiledScenario, ScenarioError> {
    let (origin, text) = read(path)?;
    load(&origin, &text, overrides)
}

/// Reads and parses a scenario file, without compiling it.
pub fn parse_file(path: &Path, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
    let (origin, text) = read(path)?;
    parse(&origin, &text, overrides)
}

/// The file's name for messages, and its text; `-` reads standard input (`<stdin>`).
fn read(path: &Path) -> Result<(String, String), ScenarioError> {
    let stdin = path.as_os_str() == "-";
    let origin = if stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let fail = |message: String| ScenarioError {
        origin: origin.clone(),
        position: None,
        path: String::new(),
        message,
        set_by: None,
    };
    let too_large = |size: u64| {
        fail(format!(
            "file is {size} bytes; scenario files are limited to {MAX_FILE_BYTES} bytes"
        ))
    };
    let bytes = if stdin {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::io::stdin().lock(), MAX_FILE_BYTES + 1),
            &mut bytes,
        )
        .map_err(|e| fail(format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(bytes.len() as u64));
        }
        bytes
    } else {
        let size = std::fs::metadata(path)
            .map_err(|e| fail(format!("cannot read: {e}")))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(too_large(size));
        }
        std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
        ScenarioError {
            position: Some(super::locate::position(&text, valid)),
            ..fail("the file is not valid UTF-8".into())
        }
    })?;
    Ok((origin, text))
}

/// Parses and compiles a scenario from JSON text, applying `overrides` in order; an
/// error of meaning is located in `text` like a syntax error.
pub fn load(
    origin: &str,
    text: &str,
    overrides: &[Override],
) -> Result<CompiledScenario, ScenarioError> {
    let scenario = parse(origin, text, overrides)?;
    compile(&scenario).map_err(|e| located(origin, text, overrides, e.path, e.message, None))
}

/// An error at `path` of the scenario read from `text`: where it is in the text, and which
/// override supplied the value, if one did.
fn located(
    origin: &str,
    text: &str,
    overrides: &[Override],
    path: String,
    message: String,
    position: Option<(usize, usize)>,
) -> ScenarioError {
    // An unknown key's path ends at that key: an override below it added it.
    let unknown_key = message.starts_with("unknown field");
    let set_by = overrides
        .iter()
        .rev()
        .find(|o| !path.is_empty() && (o.covers(&path) || (unknown_key && o.is_below(&path))));
    ScenarioError {
        origin: origin.to_string(),
        position: position.or_else(|| Some(locate(text, &steps(&path)))),
        set_by: set_by.map(ToString::to_string),
        path,
        message,
    }
}

/// Parses a scenario from JSON text into its types, applying `overrides` in order; what
/// the values mean is checked by [`compile`].
pub fn parse(origin: &str, text: &str, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
    let error = |path: String, message: String, position: Option<(usize, usize)>| {
        located(origin, text, overrides, path, message, position)
    };
    if let Some((message, offset)) = not_an_object(text) {
        let position = super::locate::position(text, offset);
        return Err(error(String::new(), message, Some(position)));
    }
    Ok(if overrides.is_empty() {
        let mut json = serde_json::Deserializer::from_str(text);
        let parsed = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let inner = e.inner();
            let position = (inner.line() > 0).then(|| (inner.line(), inner.column()));
            // A syntax error's position says it all; its path would end in `?`.
            let path = if inner.is_data() {
                serde_path(&e)
            } else {
                String::new()
            };
            let message = with_hint(clean(inner), text, position);
            error(path, message, position)
        })?;
        json.end()
            .map_err(|e| error(String::new(), clean(&e), Some((e.line(), e.column()))))?;
        parsed
    } else {
        let mut value: Value = serde_json::from_str(text)
            .map_err(|e| error(String::new(), clean(&e), Some((e.line(), e.column()))))?;
        for o in overrides {
            o.apply(&mut value).map_err(|message| ScenarioError {
                origin: OVERRIDE_ORIGIN.into(),
                position: None,
                path: o.path.clone(),
                message,
                set_by: None,
            })?;
        }
        serde_path_to_error::deserialize(value)
            .map_err(|e| error(serde_path(&e), clean(e.inner()), None))?
    })
}

/// Refuses, before parsing, text that cannot be a scenario object and would otherwise
/// get a cryptic parser message: a byte-order mark, no value at all, or a value that is
/// not an object. Returns the message and the byte offset it concerns.
fn not_an_object(text: &str) -> Option<(String, usize)> {
    if text.starts_with('\u{feff}') {
        return Some((
            "the file starts with a byte-order mark (BOM); save it as UTF-8 without a BOM".into(),
            0,
        ));
    }
    let offset = text.len() - text.trim_start().len();
    match text[offset..].chars().next() {
        None => Some((
            "the file is empty or blank: a scenario is a JSON object `{ ... }`".into(),
            0,
        )),
        Some('{') => None,
        Some(_) => Some((
            "a scenario is a JSON object `{ ... }`, this is not one".into(),
            offset,
        )),
    }
}

/// Adds what the parser cannot say: JSON has no NaN or infinities.
fn with_hint(message: String, text: &str, position: Option<(usize, usize)>) -> String {
    let Some((line, column)) = position else {
        return message;
    };
    let Some(rest) = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.get(l.char_indices().nth(column.saturating_sub(1))?.0..))
    else {
        return message;
    };
    let rest = rest.trim_start_matches(['-', '+']);
    if ["NaN", "Infinity", "inf"]
        .iter()
        .any(|t| rest.starts_with(t))
    {
        format!("{message}: JSON has no NaN or Infinity, write a finite number")
    } else {
        message
    }
}

fn serde_path<E>(e: &serde_path_to_error::Error<E>) -> String {
    let path = e.path().to_string();
    if path == "." { String::new() } else { path }
}

/// serde_json's message without the " at line L column C" it appends: the position is
/// reported separately.
fn clean(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(cut) if e.line() > 0 => text[..cut].to_string(),
        _ => text,
    };
    in_words(&text)
}

/// serde's Rust type names in the words of the scenario format.
fn in_words(text: &str) -> String {
    const TYPES: [(&str, &str); 6] = [
        (
            "expected u64",
            "expected a whole number from 0 to 18446744073709551615",
        ),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected usize", "expected a whole number of 0 or more"),
        ("expected f64", "expected a number"),
        ("expected i64", "expected a whole number"),
    ];
    TYPES
        .iter()
        .fold(text.to_string(), |t, (rust, words)| t.replace(rust, words))
}

/// The JSON Schema of the scenario format.
pub fn schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).expect("a schema is plain JSON")
}
