//! Reading Postfix's files: logical lines, main.cf `name = value`, master.cf services with
//! their `-o` options, transport table entries.

use std::collections::BTreeMap;

use super::{Config, Param, Service};
use crate::mta_config::diag::{ConfigError, Place, Report, Text};

/// Postfix's logical lines: a line starting with whitespace continues the previous one;
/// blank lines and lines whose first non-blank character is `#` are skipped. Yields the
/// text, the byte offset of its start, and the offsets of each joined piece.
fn logical_lines(text: &Text, report: &mut Report) -> Vec<(String, usize)> {
    let mut lines: Vec<(String, usize)> = Vec::new();
    let mut offset = 0;
    for raw in text.text.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match lines.last_mut() {
                Some((logical, _)) => {
                    logical.push(' ');
                    logical.push_str(trimmed);
                }
                None => report.skip(
                    text.place(start),
                    "continuation line",
                    "it continues no preceding text (Postfix ignores it too)",
                ),
            }
            continue;
        }
        lines.push((line.to_string(), start));
    }
    lines
}

pub(super) fn read_main(
    text: &Text,
    config: &mut Config,
    report: &mut Report,
) -> Result<(), ConfigError> {
    for (line, start) in logical_lines(text, report) {
        let name_len = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .unwrap_or(line.len());
        let rest = line[name_len..].trim_start();
        if name_len == 0 || !rest.starts_with('=') {
            return Err(text.error(
                start + name_len,
                "syntax error: expected `name = value` (a parameter name, then =)",
            ));
        }
        let name = line[..name_len].to_string();
        let value = rest[1..].trim().to_string();
        config.main.insert(
            name,
            Param {
                value,
                place: text.place(start),
            },
        );
    }
    Ok(())
}

pub(super) fn read_master(
    text: &Text,
    config: &mut Config,
    report: &mut Report,
) -> Result<(), ConfigError> {
    let services = config.services.get_or_insert_with(BTreeMap::new);
    let mut others = Vec::new();
    for (line, start) in logical_lines(text, report) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return Err(text.error(
                start,
                format!(
                    "syntax error: a master.cf entry has 8 fields (service type private unpriv chroot wakeup maxproc command), this one has {}",
                    fields.len()
                ),
            ));
        }
        let place = text.place(start);
        let command = fields[7].rsplit('/').next().unwrap_or(fields[7]);
        let delivers = fields[1] == "unix" && matches!(command, "smtp" | "lmtp");
        if !delivers && command != "qmgr" {
            others.push(format!("{} ({})", fields[0], fields[1]));
            continue;
        }
        let options = read_options(&fields[8..], &place)?;
        if command == "qmgr" {
            for (name, param) in options {
                config.main.insert(name, param);
            }
            continue;
        }
        let maxproc = (fields[6] != "-").then(|| (fields[6].to_string(), place.clone()));
        services.insert(
            fields[0].to_string(),
            Service {
                place,
                maxproc,
                options,
            },
        );
    }
    if !others.is_empty() {
        report.skip(
            text.place(0),
            "master.cf",
            format!(
                "services that deliver no outbound mail ({}) are not flow control",
                others.join(", ")
            ),
        );
    }
    Ok(())
}

/// `-o name=value` and `-o { name = value }` arguments of a master.cf command.
fn read_options(args: &[&str], place: &Place) -> Result<Vec<(String, Param)>, ConfigError> {
    let joined = args.join(" ");
    let mut options = Vec::new();
    let mut rest = joined.as_str();
    while let Some(i) = rest.find("-o") {
        rest = rest[i + 2..].trim_start();
        let (pair, tail) = if let Some(body) = rest.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| ConfigError::Value {
                place: place.clone(),
                message: "syntax error: `-o {` without its closing `}`".into(),
            })?;
            (body[..end].trim(), &body[end + 1..])
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        let (name, value) = pair.split_once('=').ok_or_else(|| ConfigError::Value {
            place: place.clone(),
            message: format!("syntax error: `-o {pair}` is not name=value"),
        })?;
        options.push((
            name.trim().to_string(),
            Param {
                value: value.trim().to_string(),
                place: place.clone(),
            },
        ));
        rest = tail;
    }
    Ok(options)
}

pub(super) fn read_table(text: &Text, config: &mut Config) -> Result<(), ConfigError> {
    let mut quiet = Report::default();
    for (line, start) in logical_lines(text, &mut quiet) {
        let mut parts = line.splitn(2, char::is_whitespace);
        let key = parts.next().unwrap_or_default();
        let value = parts.next().unwrap_or_default().trim();
        if value.is_empty() {
            return Err(text.error(
                start + key.len(),
                "syntax error: a transport table entry is `pattern transport:nexthop`",
            ));
        }
        let (transport, nexthop) = value.split_once(':').unwrap_or((value, ""));
        config.table.push((
            key.to_ascii_lowercase(),
            transport.to_string(),
            nexthop.to_string(),
            text.place(start),
        ));
    }
    Ok(())
}
