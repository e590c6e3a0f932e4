//! Reading a collated error table: CSV or TSV (or `;`-separated, as spreadsheets in many
//! locales export it) with a header row whose columns are found by loose names.
//!
//! | column | names matched (case, spaces and punctuation ignored) |
//! |---|---|
//! | domain | `domain`, `recipient domain`, `to domain`, `destination`, `isp`, `provider`, `mailbox provider`, `receiver` |
//! | error | `error`, `error message`, `reply`, `response`, `reason`, `bounce reason`, `diagnostic`, `status`, `message`, `smtp response` |
//! | count | `count`, `total`, `number`, `messages`, `emails`, `occurrences`, `hits`, `volume`, `#` |
//! | time (optional) | `time`, `date`, `day`, `hour`, `timestamp`, `when`, `period` |
//!
//! Counts are whole numbers (thousands separators `,` `.` `'` `_` and spaces ignored). Times are
//! `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` or RFC 3339. Rows whose domain is `total` or `all`
//! (a spreadsheet's sum row) are left out and counted; empty rows are ignored.

use crate::logs::UnixMillis;
use crate::logs::time::{days_from_civil, parse_datetime};

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1-based line of the row in the file.
    pub line: u64,
    /// Lower case.
    pub domain: String,
    pub error: String,
    pub count: u64,
    pub time: Option<UnixMillis>,
}

/// The columns as the header names them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Columns {
    pub domain: String,
    pub error: String,
    pub count: String,
    pub time: Option<String>,
}

/// A table as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: Columns,
    pub rows: Vec<Row>,
    /// Sum rows left out (`Total`, `All`).
    pub total_rows: u64,
}

/// Why a table cannot be read: the place and what is wrong there.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct TableError {
    pub file: String,
    pub line: u64,
    pub message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Domain,
    Error,
    Count,
    Time,
}

const ROLES: [(Role, &str, &[&str]); 4] = [
    (
        Role::Domain,
        "domain",
        &[
            "domain",
            "domains",
            "recipientdomain",
            "todomain",
            "domainname",
            "destination",
            "isp",
            "provider",
            "mailboxprovider",
            "receiver",
        ],
    ),
    (
        Role::Count,
        "count",
        &[
            "count",
            "counts",
            "total",
            "number",
            "messages",
            "emails",
            "mails",
            "occurrences",
            "hits",
            "volume",
            "",
            "errors",
            "errorcount",
            "messagecount",
        ],
    ),
    (
        Role::Error,
        "error",
        &[
            "error",
            "errormessage",
            "errortext",
            "reply",
            "response",
            "smtpresponse",
            "reason",
            "bouncereason",
            "diagnostic",
            "status",
            "message",
            "dsndiag",
        ],
    ),
    (
        Role::Time,
        "time",
        &[
            "time",
            "date",
            "day",
            "hour",
            "timestamp",
            "when",
            "period",
            "datetime",
        ],
    ),
];

/// A header name reduced to its letters and digits, lower case (`#` stays `""`).
fn squash(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The delimiter of a header line: tab, then `;`, then `,` (the most frequent wins).
fn delimiter(header: &str) -> u8 {
    let count = |c| header.matches(c).count();
    [('\t', b'\t'), (';', b';'), (',', b',')]
        .into_iter()
        .max_by_key(|(c, _)| count(*c))
        .filter(|(c, _)| count(*c) > 0)
        .map_or(b',', |(_, b)| b)
}

/// Which column plays which role ([domain, error, count], time); an error naming the
/// header's columns if one is missing.
fn columns(file: &str, names: &[String]) -> Result<([usize; 3], Option<usize>), TableError> {
    let squashed: Vec<String> = names.iter().map(|n| squash(n)).collect();
    let mut found: Vec<Option<usize>> = Vec::with_capacity(ROLES.len());
    for (_, _, accepted) in ROLES {
        let pick = (0..squashed.len())
            .find(|i| accepted.contains(&squashed[*i].as_str()) && !found.contains(&Some(*i)));
        found.push(pick);
    }
    let missing: Vec<&str> = ROLES
        .iter()
        .zip(&found)
        .filter(|((role, _, _), f)| *role != Role::Time && f.is_none())
        .map(|((_, name, _), _)| *name)
        .collect();
    if !missing.is_empty() {
        let header: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        return Err(TableError {
            file: file.to_string(),
            line: 1,
            message: format!(
                "no {} column in the header ({}): name them Domain, Error and Count (a Time or \
                 Day column is optional)",
                missing.join(" or "),
                header.join(", ")
            ),
        });
    }
    let at = |role: Role| {
        ROLES
            .iter()
            .position(|(r, _, _)| *r == role)
            .and_then(|i| found[i])
    };
    let (domain, error, count) = (at(Role::Domain), at(Role::Error), at(Role::Count));
    Ok((
        [
            domain.expect("checked"),
            error.expect("checked"),
            count.expect("checked"),
        ],
        at(Role::Time),
    ))
}

/// A count: a whole number, thousands separators ignored.
fn count(text: &str) -> Option<u64> {
    let digits: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, ',' | '.' | '\'' | '_' | ' ' | '\u{a0}'))
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A time: RFC 3339 or `YYYY-MM-DD HH:MM[:SS]` (UTC), or a day `YYYY-MM-DD`.
fn time(text: &str) -> Option<UnixMillis> {
    let text = text.trim();
    if let Some((t, used)) = parse_datetime(text.as_bytes())
        && used == text.len()
    {
        return Some(t);
    }
    if text.len() == 16 {
        return time(&format!("{text}:00"));
    }
    let mut parts = text.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(UnixMillis(days_from_civil(y, m, d) * 86_400_000))
}

/// Reads the table in `text` (from `file`, named in errors).
pub fn read(file: &str, text: &str) -> Result<Table, TableError> {
    let text = text.trim_start_matches('\u{feff}');
    let header = text.lines().next().unwrap_or("");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(header))
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let error = |line: u64, message: String| TableError {
        file: file.to_string(),
        line,
        message,
    };
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| error(1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    if names.iter().all(|n| n.trim().is_empty()) {
        return Err(error(1, "the table is empty: it needs a header row".into()));
    }
    let ([domain, reply, counted], when) = columns(file, &names)?;
    let mut rows = Vec::new();
    let mut total_rows = 0;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            error(line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let name = field(domain).to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "total" | "totals" | "all" | "grand total" | "sum"
        ) {
            total_rows += 1;
            continue;
        }
        if name.is_empty() {
            return Err(error(
                line,
                format!("no domain in column {:?}", names[domain]),
            ));
        }
        let n = count(field(counted)).ok_or_else(|| {
            error(
                line,
                format!(
                    "{:?} in column {:?} is not a whole number",
                    field(counted),
                    names[counted]
                ),
            )
        })?;
        let time = match when {
            Some(i) => Some(time(field(i)).ok_or_else(|| {
                error(
                    line,
                    format!(
                        "{:?} in column {:?} is not a date or time (write 2026-12-07 or \
                         2026-12-07 14:00)",
                        field(i),
                        names[i]
                    ),
                )
            })?),
            None => None,
        };
        rows.push(Row {
            line,
            domain: name,
            error: field(reply).to_string(),
            count: n,
            time,
        });
    }
    Ok(Table {
        columns: Columns {
            domain: names[domain].clone(),
            error: names[reply].clone(),
            count: names[counted].clone(),
            time: when.map(|i| names[i].clone()),
        },
        rows,
        total_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_by_loose_names_in_any_order_and_delimiter() {
        let t = read(
            "t.csv",
            "Error message,Domain,Count\n\"421 4.7.0 [TSS04] Messages from 1.2.3.4 temporarily \
             deferred\",Yahoo.com,\"1,204\"\nx,Total,9999\n\n",
        )
        .unwrap();
        assert_eq!(t.columns.domain, "Domain");
        assert_eq!(t.columns.time, None);
        assert_eq!(t.rows.len(), 1);
        assert_eq!(
            (t.rows[0].domain.as_str(), t.rows[0].count),
            ("yahoo.com", 1204)
        );
        assert_eq!(t.rows[0].line, 2);
        assert_eq!(t.total_rows, 1);
        let t = read(
            "t.tsv",
            "Day\tRecipient domain\tSMTP response\t#\n2026-12-07\tgmail.com\t421 4.7.28 slow\t3\n",
        )
        .unwrap();
        assert_eq!(t.rows[0].count, 3);
        assert_eq!(
            t.rows[0].time.unwrap().to_string(),
            "2026-12-07T00:00:00.000Z"
        );
        let t = read(
            "t.csv",
            "domain;error;count;hour\na.example;x;1;2026-12-07 14:00\n",
        )
        .unwrap();
        assert_eq!(
            t.rows[0].time.unwrap().to_string(),
            "2026-12-07T14:00:00.000Z"
        );
    }

    #[test]
    fn errors_name_the_place() {
        let e = read("t.csv", "Domain,Reason,Volume\na.example,x,12a\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv:2: \"12a\" in column \"Volume\" is not a whole number"
        );
        let e = read("t.csv", "Domain,Messages\na.example,1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv:1: no error column in the header (\"Domain\", \"Messages\"): name them \
             Domain, Error and Count (a Time or Day column is optional)"
        );
        let e = read(
            "t.csv",
            "Domain,Error,Count,Date\na.example,x,1,yesterday\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.csv:2: \"yesterday\" in column \"Date\"")
        );
        let e = read("t.csv", "Domain,Error,Count\n,x,1\n").unwrap_err();
        assert_eq!(e.to_string(), "t.csv:2: no domain in column \"Domain\"");
    }
}
