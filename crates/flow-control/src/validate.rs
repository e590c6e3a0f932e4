//! The one shape a refused configuration value takes, wherever it was found.
//!
//! Each configuration section checks itself and answers with the path of the offending
//! value relative to the section; callers prefix their own place with [`Invalid::within`],
//! so the error that reaches the user names the full path (`overrides.yahoo.backoff.
//! retry_after` here; `flow_control.overrides.yahoo.backoff.retry_after` in a scenario
//! file, which a loader can turn into line:column).

use std::fmt;

/// A value that parsed but makes no sense, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// JSON path in serde_path_to_error's notation: `a.b[2].c`.
    pub path: String,
    pub message: String,
}

/// The result of checking one section.
pub type Check = Result<(), Invalid>;

impl Invalid {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same problem seen from the enclosing section at `prefix`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.path = join_path(prefix, &self.path);
        self
    }
}

/// Joins two path pieces: `join_path("a", "b")` is `a.b`, `join_path("a", "[0]")` is `a[0]`.
pub fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => prefix.to_string(),
        _ if rest.starts_with('[') => format!("{prefix}{rest}"),
        _ => format!("{prefix}.{rest}"),
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for Invalid {}

/// Refuses a zero duration or count where only a positive one makes sense.
pub fn positive(path: &str, value: u64, what: &str) -> Check {
    if value > 0 {
        Ok(())
    } else {
        Err(Invalid::new(
            path,
            format!("{what} must be greater than zero"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_like_serde_path_to_error() {
        assert_eq!(
            join_path("receivers[0]", "rate_limit.rate"),
            "receivers[0].rate_limit.rate"
        );
        assert_eq!(join_path("outages", "[1].from"), "outages[1].from");
        assert_eq!(join_path("", "seed"), "seed");
        let e = Invalid::new("rate", "bad")
            .within("rate_limit")
            .within("receivers[2]");
        assert_eq!(e.to_string(), "receivers[2].rate_limit.rate: bad");
    }

    #[test]
    fn positives() {
        assert!(positive("n", 0, "count").is_err());
        assert!(positive("n", 1, "count").is_ok());
    }
}
