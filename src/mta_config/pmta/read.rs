//! Reading PowerMTA config files: balanced blocks, `domain-macro`s, `<smtp-pattern-list>`
//! entries; every `<domain>` directive checked against the directive table.

use super::params::DOMAIN;
use super::{Config, Directive, DomainBlock, Pattern};
use crate::mta_config::diag::{ConfigError, Place, Report, Text};
use crate::mta_config::mapping::{self};
use crate::mta_config::settings::find;
use crate::mta_config::settings::unknown;

/// A line without its `#` comment (a `#` at the start or after whitespace).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let cut = (0..bytes.len())
        .find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()))
        .unwrap_or(line.len());
    line[..cut].trim()
}

pub(super) fn read_file(
    text: &Text,
    config: &mut Config,
    report: &mut Report,
) -> Result<(), ConfigError> {
    let mut stack: Vec<(String, String, Place)> = Vec::new();
    let mut unrelated: Vec<String> = Vec::new();
    let mut offset = 0;
    for raw in text.text.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let indent = raw.len() - raw.trim_start().len();
        let line = strip_comment(raw.trim_end_matches(['\n', '\r']));
        if line.is_empty() {
            continue;
        }
        let place = text.place(start + indent);
        if let Some(tag) = line.strip_prefix("</") {
            let name = tag
                .strip_suffix('>')
                .ok_or_else(|| {
                    text.error(start + indent, "syntax error: a closing tag ends with `>`")
                })?
                .trim();
            match stack.pop() {
                Some((open, _, _)) if open == name => {}
                Some((open, _, at)) => {
                    return Err(text.error(
                        start + indent,
                        format!("</{name}> closes <{open}> opened at line {}", at.line),
                    ));
                }
                None => {
                    return Err(
                        text.error(start + indent, format!("</{name}> closes no open block"))
                    );
                }
            }
            continue;
        }
        if let Some(tag) = line.strip_prefix('<') {
            let body = tag.strip_suffix('>').ok_or_else(|| {
                text.error(
                    start + indent + line.len(),
                    "syntax error: a block tag ends with `>`",
                )
            })?;
            let (kind, arg) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
            let (kind, arg) = (kind.trim().to_string(), arg.trim().to_string());
            match kind.as_str() {
                "domain" => config.domains.push(DomainBlock { name: arg.clone(), place: place.clone(), directives: Vec::new() }),
                "smtp-pattern-list" => {
                    config.lists.insert(arg.clone(), Vec::new());
                }
                "virtual-mta" => report.approximate(place.clone(), &format!("<virtual-mta {arg}>"), "mtasim has one sending source: <domain> blocks inside it are read as global ones, its other directives are not imported"),
                other => report.skip(place.clone(), &format!("<{other} {arg}>"), "not a delivery flow-control block"),
            }
            stack.push((kind, arg, place));
            continue;
        }
        let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let directive = Directive {
            name: name.to_string(),
            value: value.trim().to_string(),
            place: place.clone(),
        };
        match stack.last().map(|(k, a, _)| (k.as_str(), a.clone())) {
            None if name == "domain-macro" => read_macro(&directive, config, text, start + indent)?,
            None => unrelated.push(format!("{name} (line {})", place.line)),
            Some(("domain", _)) if find(DOMAIN, name).is_none() => {
                return Err(unknown(place, name, DOMAIN.iter().map(|s| s.name)));
            }
            Some(("domain", _)) => config
                .domains
                .last_mut()
                .expect("a domain block is open")
                .directives
                .push(directive),
            Some(("smtp-pattern-list", list)) => {
                let pattern = read_pattern(&directive, text, start + indent, report)?;
                if let Some(p) = pattern {
                    config.lists.get_mut(&list).expect("opened").push(p);
                }
            }
            Some(_) => {}
        }
    }
    if let Some((kind, _, place)) = stack.pop() {
        return Err(ConfigError::Value {
            place,
            message: format!("<{kind}> is never closed (</{kind}> missing)"),
        });
    }
    if !unrelated.is_empty() {
        report.skip(
            text.place(0),
            "top level",
            format!(
                "{} directives are not delivery flow control: {}",
                unrelated.len(),
                unrelated.join(", ")
            ),
        );
    }
    Ok(())
}

fn read_macro(
    d: &Directive,
    config: &mut Config,
    text: &Text,
    offset: usize,
) -> Result<(), ConfigError> {
    let (name, list) = d
        .value
        .split_once(char::is_whitespace)
        .ok_or_else(|| text.error(offset, "syntax error: domain-macro NAME domain,domain,..."))?;
    let domains = list
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    config
        .macros
        .insert(name.to_string(), (domains, d.place.clone()));
    Ok(())
}

/// `reply /regex/ action...` of a pattern list; None for entries mtasim does not read.
fn read_pattern(
    d: &Directive,
    text: &Text,
    offset: usize,
    report: &mut Report,
) -> Result<Option<Pattern>, ConfigError> {
    if d.name != "reply" {
        report.skip(
            d.place.clone(),
            &d.name,
            "mtasim's rules match the reply text only",
        );
        return Ok(None);
    }
    let value = d.value.as_str();
    let body = value
        .strip_prefix('/')
        .ok_or_else(|| text.error(offset + 6, "syntax error: expected /regex/ after reply"))?;
    let mut end = None;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '/' if !escaped => {
                end = Some(i);
                break;
            }
            _ => escaped = false,
        }
    }
    let end = end.ok_or_else(|| {
        text.error(
            offset + 6 + value.len(),
            "syntax error: the regex has no closing /",
        )
    })?;
    let regex = body[..end].replace("\\/", "/");
    if let Err(e) = regex::Regex::new(&regex) {
        return Err(text.error(
            offset + 7,
            format!("reply /{}/: {}", &body[..end], mapping::regex_message(&e)),
        ));
    }
    let actions = body[end + 1..]
        .split_whitespace()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.to_string(), None),
        })
        .collect();
    Ok(Some(Pattern {
        regex,
        actions,
        place: d.place.clone(),
    }))
}
