//! The settings a real MTA has, from its documentation: the table that tells a typo (an
//! error naming the nearest real setting) from a real setting mtasim does not model (a
//! warning saying why). Each dialect keeps its MTA's table in its `params.rs`.

use super::diag::{ConfigError, Place};

/// One documented setting of an MTA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    /// The MTA's default, as its documentation writes it ("" where there is none).
    pub default: &'static str,
    /// What it does in the MTA, in a few words.
    pub meaning: &'static str,
}

/// `Setting` in one line per entry.
pub const fn setting(name: &'static str, default: &'static str, meaning: &'static str) -> Setting {
    Setting {
        name,
        default,
        meaning,
    }
}

/// The entry of `table` named `name`.
pub fn find<'t>(table: &'t [Setting], name: &str) -> Option<&'t Setting> {
    table.iter().find(|s| s.name == name)
}

/// The error for `name`, which is none of `names`, with the nearest of them when one is
/// close enough to be the intended one.
pub fn unknown<'a>(
    place: Place,
    name: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> ConfigError {
    ConfigError::UnknownSetting {
        place,
        name: name.to_string(),
        suggestion: nearest(name, names).map(str::to_string),
    }
}

/// The name of `names` nearest to `name` by edit distance, if it is within a third of
/// the name's length (at least 1, at most 4 edits): a typo, not another word.
pub fn nearest<'a>(name: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).clamp(1, 4);
    names
        .into_iter()
        .map(|candidate| (distance(name, candidate), candidate))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_name_is_a_typo_not_another_word() {
        let names = ["connection_limit", "max_connection_rate", "idle_timeout"];
        assert_eq!(nearest("conection_limit", names), Some("connection_limit"));
        assert_eq!(nearest("connection_limt", names), Some("connection_limit"));
        assert_eq!(nearest("idle_timeuot", names), Some("idle_timeout"));
        assert_eq!(nearest("banana", names), None);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        let e = unknown(Place::default(), "conection_limit", names);
        assert_eq!(
            e.to_string(),
            ":0: unknown setting `conection_limit`; did you mean `connection_limit`?"
        );
        let e = unknown(Place::default(), "banana", names);
        assert_eq!(e.to_string(), ":0: unknown setting `banana`");
    }
}
