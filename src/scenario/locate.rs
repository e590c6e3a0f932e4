//! Finds where a JSON path's value starts in the source text, so an error about a value
//! that parsed but makes no sense can still name its line and column.

/// One step of a path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Splits `receivers[0].rate_limit.rate` (serde_path_to_error's notation) or
/// `receivers.0.rate_limit.rate` (the `--set` notation) into steps.
pub fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, indices) = part
            .split_once('[')
            .map_or((part, ""), |(k, rest)| (k, rest));
        if !key.is_empty() {
            out.push(
                key.parse()
                    .map_or_else(|_| Step::Key(key.to_string()), Step::Index),
            );
        }
        for index in indices.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

/// A 1-based line and column.
pub type Position = (usize, usize);

/// The position of the value at `path` in `text`, or of its deepest ancestor that exists.
/// Keys that themselves contain dots (a domain in `overrides`) are matched by joining steps.
pub fn locate(text: &str, path: &[Step]) -> Position {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    cursor.skip_ws();
    let mut best = cursor.at;
    let mut remaining = path;
    while !remaining.is_empty() {
        match cursor.enter(remaining) {
            Some(used) => {
                remaining = &remaining[used..];
                best = cursor.at;
            }
            None => break,
        }
    }
    position(text, best)
}

pub(super) fn position(text: &str, offset: usize) -> Position {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Moves into the child named by the first step(s) of `path`; returns how many steps
    /// it used, or None (cursor unchanged in meaning) when there is no such child.
    fn enter(&mut self, path: &[Step]) -> Option<usize> {
        let start = self.at;
        let found = match self.peek()? {
            b'{' => self.enter_object(path),
            b'[' => self.enter_array(path),
            _ => None,
        };
        if found.is_none() {
            self.at = start;
        }
        found
    }

    fn enter_object(&mut self, path: &[Step]) -> Option<usize> {
        self.at += 1;
        loop {
            self.skip_ws();
            if self.peek()? == b'}' {
                return None;
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            self.skip_ws();
            if let Some(used) = matches_key(&key, path) {
                return Some(used);
            }
            self.skip_value()?;
            self.skip_ws();
            if self.peek()? == b',' {
                self.at += 1;
            }
        }
    }

    fn enter_array(&mut self, path: &[Step]) -> Option<usize> {
        let Step::Index(wanted) = path[0] else {
            return None;
        };
        self.at += 1;
        for _ in 0..wanted {
            self.skip_ws();
            if self.peek()? == b']' {
                return None;
            }
            self.skip_value()?;
            self.skip_ws();
            if self.peek()? != b',' {
                return None;
            }
            self.at += 1;
        }
        self.skip_ws();
        (self.peek()? != b']').then_some(1)
    }

    /// Reads a string token, unescaping only what keys need.
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at;
        self.skip_string()?;
        serde_json::from_slice(&self.bytes[start..self.at]).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                _ => self.at += 1,
            }
        }
    }

    /// Skips one value of any kind.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => self.skip_container(),
            _ => {
                while !matches!(self.peek(), None | Some(b',' | b'}' | b']')) {
                    self.at += 1;
                }
                Some(())
            }
        }
    }

    /// Skips an object or array, tracking nesting without recursion.
    fn skip_container(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.skip_string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
    }
}

/// How many path steps `key` stands for: one normally, more when the key has dots.
fn matches_key(key: &str, path: &[Step]) -> Option<usize> {
    let mut joined = String::new();
    for (i, step) in path.iter().enumerate() {
        let piece = match step {
            Step::Key(k) => k.clone(),
            Step::Index(n) => n.to_string(),
        };
        if i > 0 {
            joined.push('.');
        }
        joined.push_str(&piece);
        if joined == key {
            return Some(i + 1);
        }
        if !key.starts_with(&joined) {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"{
  "name": "x",
  "receivers": [
    { "name": "a", "rate_limit": { "rate": "0/min" } },
    {
      "name": "b",
      "outages": [ { "from": "1h" }, { "from": "2h", "to": "1h" } ]
    }
  ],
  "flow_control": { "overrides": { "yahoo.com": { "max_rate": "x" } } }
}"#;

    fn at(path: &str) -> Position {
        locate(TEXT, &steps(path))
    }

    #[test]
    fn paths_parse_in_both_notations() {
        let expected = vec![
            Step::Key("receivers".into()),
            Step::Index(0),
            Step::Key("share".into()),
        ];
        assert_eq!(steps("receivers[0].share"), expected);
        assert_eq!(steps("receivers.0.share"), expected);
        assert_eq!(
            steps("a[1][2]"),
            vec![Step::Key("a".into()), Step::Index(1), Step::Index(2)]
        );
    }

    #[test]
    fn finds_nested_values() {
        assert_eq!(at("name"), (2, 11));
        assert_eq!(at("receivers[0].rate_limit.rate"), (4, 44));
        assert_eq!(at("receivers[1].name"), (6, 15));
        assert_eq!(at("receivers[1].outages[1].to"), (7, 60));
        assert_eq!(at("flow_control.overrides.yahoo.com.max_rate"), (10, 63));
    }

    #[test]
    fn missing_paths_fall_back_to_the_deepest_ancestor() {
        assert_eq!(at("receivers[1].latency"), (5, 5));
        assert_eq!(at("receivers[7].name"), (3, 16));
        assert_eq!(at(""), (1, 1));
    }
}
