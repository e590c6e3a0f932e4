//! Parameter values as the queue manager sees them: main.cf's, else Postfix's default,
//! with `$name` expansion.

use std::collections::BTreeMap;

use super::Param;
use super::params::{GLOBALS, PER_TRANSPORT};
use crate::mta_config::diag::Place;

/// Parameter lookup with `$name`, `${name}`, `$(name)`, `${name?text}` and `${name:text}`
/// expanded, as Postfix does for main.cf values.
pub(super) struct Params<'c> {
    pub(super) main: &'c BTreeMap<String, Param>,
}

impl Params<'_> {
    pub(super) fn raw(&self, name: &str) -> Option<&str> {
        if let Some(p) = self.main.get(name) {
            return Some(&p.value);
        }
        GLOBALS
            .iter()
            .copied()
            .chain(
                PER_TRANSPORT
                    .iter()
                    .map(|&(_, global, default)| (global, default)),
            )
            .find(|(n, _)| *n == name)
            .map(|(_, default)| default)
    }

    pub(super) fn get(&self, name: &str) -> String {
        self.expand(self.raw(name).unwrap_or(""), 0)
    }

    pub(super) fn expand(&self, value: &str, depth: usize) -> String {
        if depth > 20 || !value.contains('$') {
            return value.to_string();
        }
        let mut out = String::new();
        let mut chars = value.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '$' {
                out.push(c);
                continue;
            }
            let rest = &value[i + 1..];
            let (name, cond, len) = match rest.chars().next() {
                Some('$') => {
                    out.push('$');
                    chars.next();
                    continue;
                }
                Some(open @ ('{' | '(')) => {
                    let close = if open == '{' { '}' } else { ')' };
                    match rest.find(close) {
                        Some(end) => {
                            let inner = &rest[1..end];
                            match inner.find(['?', ':']) {
                                Some(k) => (
                                    &inner[..k],
                                    Some((&inner[k..k + 1], &inner[k + 1..])),
                                    end + 1,
                                ),
                                None => (inner, None, end + 1),
                            }
                        }
                        None => (rest, None, rest.len()),
                    }
                }
                _ => {
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    (&rest[..end], None, end)
                }
            };
            let found = self.expand(self.raw(name).unwrap_or(""), depth + 1);
            match cond {
                None => out += &found,
                Some(("?", text)) if !found.is_empty() => out += &self.expand(text, depth + 1),
                Some((":", text)) if found.is_empty() => out += &self.expand(text, depth + 1),
                Some(_) => {}
            }
            for _ in 0..rest[..len].chars().count() {
                chars.next();
            }
        }
        out
    }

    /// Transport `t`'s value of a per-transport parameter, and whether main.cf sets it for
    /// `t` itself.
    pub(super) fn transport(&self, t: &str, param: (&str, &str, &str)) -> (String, bool) {
        let own = format!("{t}{}", param.0);
        if self.main.contains_key(&own) {
            return (self.get(&own), true);
        }
        (self.get(param.1), false)
    }

    pub(super) fn place(&self, name: &str) -> Option<&Place> {
        self.main.get(name).map(|p| &p.place)
    }
}
