//! The PowerMTA accounting CSV lexer. An `acct-file` may record any subset of fields
//! (`record-fields`), so the columns are found by name from the header row (any order,
//! extra columns ignored, a header again mid-file re-reads them); a file without a header
//! must have the default record's fields ([`DEFAULT_FIELDS`], or those and `queue`,
//! `vmtaPool`), or the read stops with an error rather than misread its columns.
//!
//! Records `d`, `b` and `t` are outcomes; the other types (`r`, `tq`, `f`, `rb`, `rs`) are
//! counted as skipped. Times are `timeLogged`, else `timeQueued`, in any of the forms
//! PowerMTA writes (`2024-01-02 03:04:05+0000`, ISO 8601, Unix seconds). Without a reply
//! code in `dsnDiag`, a record is classed by its type and `bounceCat`.

use std::hash::Hasher;
use std::net::IpAddr;

use rustc_hash::FxHasher;

use super::Kind;
use super::classify;
use super::lexed::{Lex, LexExtra, Lexed, Malformed, Skip, Span, Texts, What};
use super::lexer::Fatal;
use super::time::{UnixMillis, parse_datetime};
use crate::flow_control::OutcomeClass;
use crate::replies::{Enhanced, ReplyKind, reply_code};

/// The default `acct-file` field order, used until a header row is seen.
pub const DEFAULT_FIELDS: [&str; 21] = [
    "type",
    "timeLogged",
    "timeQueued",
    "orig",
    "rcpt",
    "orcpt",
    "dsnAction",
    "dsnStatus",
    "dsnDiag",
    "dsnMta",
    "bounceCat",
    "srcType",
    "srcMta",
    "dlvType",
    "dlvSourceIp",
    "dlvDestinationIp",
    "dlvEsmtpAvailable",
    "dlvSize",
    "vmta",
    "jobId",
    "envId",
];

/// The fields PowerMTA 4 and later append to the default record.
const DEFAULT_TAIL: [&str; 2] = ["queue", "vmtaPool"];

/// Where each column this reader uses is.
#[derive(Debug, Clone, Default)]
struct Columns {
    kind: Option<usize>,
    time_logged: Option<usize>,
    time_queued: Option<usize>,
    orig: Option<usize>,
    rcpt: Option<usize>,
    dsn_status: Option<usize>,
    dsn_diag: Option<usize>,
    dsn_mta: Option<usize>,
    bounce_cat: Option<usize>,
    destination_ip: Option<usize>,
    esmtp: Option<usize>,
    vmta: Option<usize>,
    job_id: Option<usize>,
    env_id: Option<usize>,
}

impl Columns {
    fn from_names<'a>(names: impl Iterator<Item = &'a str>) -> Columns {
        let mut c = Columns::default();
        for (i, name) in names.enumerate() {
            let slot = match name.trim().to_ascii_lowercase().as_str() {
                "type" => &mut c.kind,
                "timelogged" => &mut c.time_logged,
                "timequeued" => &mut c.time_queued,
                "orig" => &mut c.orig,
                "rcpt" => &mut c.rcpt,
                "dsnstatus" => &mut c.dsn_status,
                "dsndiag" => &mut c.dsn_diag,
                "dsnmta" => &mut c.dsn_mta,
                "bouncecat" => &mut c.bounce_cat,
                "dlvdestinationip" => &mut c.destination_ip,
                "dlvesmtpavailable" => &mut c.esmtp,
                "vmta" => &mut c.vmta,
                "jobid" => &mut c.job_id,
                "envid" => &mut c.env_id,
                _ => continue,
            };
            slot.get_or_insert(i);
        }
        c
    }

    fn default_record() -> Columns {
        Columns::from_names(DEFAULT_FIELDS.iter().copied())
    }
}

/// A PowerMTA accounting file's lexer: the columns its header named, and the fields of
/// the line being lexed.
#[derive(Default)]
pub struct PmtaLexer {
    columns: Option<Columns>,
    fields: Vec<Span>,
}

/// A line of another format (not a CSV record): its skip kind. Only lines that cannot be
/// an accounting record are looked at, so records cost nothing here.
fn foreign(line: &str) -> Option<Skip> {
    let first = line.split(',').next().unwrap_or("");
    if first.len() <= 8 && !first.contains(' ') {
        return None;
    }
    super::input::foreign(line).filter(|s| *s != Skip::ForeignPmta)
}

fn skip_of(kind: &str) -> Skip {
    match kind {
        "r" => Skip::PmtaReceipt,
        "tq" => Skip::PmtaQueueTransient,
        "f" => Skip::PmtaFeedback,
        "rb" | "rs" => Skip::PmtaRemoteBounce,
        _ => Skip::PmtaOther,
    }
}

impl PmtaLexer {
    /// Splits `line` into fields (RFC 4180): spans into the line, the text inside quotes
    /// for a quoted field; only a field with doubled quotes is unescaped into `scratch`.
    fn split(&mut self, line: &str, scratch: &mut String) {
        self.fields.clear();
        let bytes = line.as_bytes();
        let mut at = 0;
        loop {
            if bytes.get(at) != Some(&b'"') {
                match memchr::memchr(b',', &bytes[at..]) {
                    Some(c) => {
                        self.fields.push(Span::of(line, &line[at..at + c]));
                        at += c + 1;
                        continue;
                    }
                    None => {
                        self.fields.push(Span::of(line, &line[at..]));
                        return;
                    }
                }
            }
            let (mut i, mut escaped) = (at + 1, false);
            let close = loop {
                match memchr::memchr(b'"', &bytes[i..]) {
                    Some(q) if bytes.get(i + q + 1) == Some(&b'"') => {
                        escaped = true;
                        i += q + 2;
                    }
                    Some(q) => break i + q,
                    None => break bytes.len(),
                }
            };
            let inner = &line[at + 1..close];
            self.fields.push(if escaped {
                Span::copy(scratch, &inner.replace("\"\"", "\""))
            } else {
                Span::of(line, inner)
            });
            match memchr::memchr(b',', &bytes[close.min(bytes.len())..]) {
                Some(c) => at = close + c + 1,
                None => return,
            }
        }
    }

    /// Lexes one line of the file.
    pub fn lex(
        &mut self,
        line: &str,
        scratch: &mut String,
        rcpts: &mut Vec<Span>,
    ) -> Result<Lex, Fatal> {
        let line = line.strip_prefix('\u{feff}').unwrap_or(line);
        if line.trim().is_empty() {
            return Ok(Lex::Skip(Skip::Empty));
        }
        if let Some(skip) = foreign(line) {
            return Ok(Lex::Skip(skip));
        }
        self.split(line, scratch);
        let texts = Texts {
            line,
            scratch: scratch.as_str(),
        };
        let first = texts.get(self.fields[0]).trim();
        if first == "type" {
            let names = self.fields.iter().map(|s| texts.get(*s));
            self.columns = Some(Columns::from_names(names));
            return Ok(Lex::Skip(Skip::PmtaHeader));
        }
        if self.columns.is_none() {
            let n = self.fields.len();
            if n != DEFAULT_FIELDS.len() && n != DEFAULT_FIELDS.len() + DEFAULT_TAIL.len() {
                return Err(Fatal::HeaderlessFields { fields: n });
            }
            self.columns = Some(Columns::default_record());
        }
        let columns = self.columns.as_ref().expect("set above");
        Ok(record(texts, &self.fields, columns, rcpts))
    }
}

/// A time as PowerMTA writes it: `2024-01-02 03:04:05+0000`, ISO 8601, or Unix seconds
/// (with an optional fraction).
fn parse_time(s: &str) -> Option<UnixMillis> {
    if let Some((t, used)) = parse_datetime(s.as_bytes())
        && used == s.len()
    {
        return Some(t);
    }
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let plausible = (9..=11).contains(&whole.len())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !plausible {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let milli = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0i64, |m, b| m * 10 + (b - b'0') as i64);
    Some(UnixMillis(seconds * 1000 + milli))
}

/// `dsnMta`: `mx.example.com (192.0.2.1)`.
fn mta(s: &str) -> (&str, Option<IpAddr>) {
    match s.split_once(" (") {
        Some((host, rest)) => (host.trim(), rest.trim_end_matches(')').parse().ok()),
        None => (s, None),
    }
}

/// The enhanced code a bounce category stands for, when a record carries none.
fn category_code(category: &str) -> Option<Enhanced> {
    let (subject, detail) = match category {
        "bad-mailbox" => (1, 1),
        "bad-domain" => (1, 2),
        "inactive-mailbox" => (2, 1),
        "quota-issues" => (2, 2),
        "policy-related" | "spam-related" | "virus-related" | "content-related" => (7, 1),
        _ => return None,
    };
    Some(Enhanced {
        class: 5,
        subject,
        detail,
    })
}

/// How a transient failure without a reply code failed, by its bounce category.
fn category_class(category: &str) -> (OutcomeClass, bool) {
    match category {
        "no-answer-from-host" => (OutcomeClass::Timeout, true),
        "bad-connection" => (OutcomeClass::Connect, true),
        "bad-domain" | "routing-errors" => (OutcomeClass::Internal, false),
        _ => (OutcomeClass::Tempfail, false),
    }
}

/// One record's fields into a lexed outcome.
fn record(texts: Texts, fields: &[Span], columns: &Columns, rcpts: &mut Vec<Span>) -> Lex {
    let span_of = |i: Option<usize>| i.and_then(|i| fields.get(i)).copied();
    let field = |i: Option<usize>| span_of(i).map_or("", |s| texts.get(s)).trim();
    let span = |i: Option<usize>| {
        span_of(i)
            .filter(|s| !texts.get(*s).trim().is_empty())
            .map_or(Span::EMPTY, |s| trimmed(texts, s))
    };
    if columns.kind.is_none() {
        return Lex::Malformed(Malformed::CsvRecordType);
    }
    let kind = match field(columns.kind) {
        "d" => Kind::Delivered,
        "b" => Kind::Bounced,
        "t" => Kind::Deferred,
        "" => return Lex::Malformed(Malformed::CsvRecordType),
        other => return Lex::Skip(skip_of(other)),
    };
    if columns.time_logged.is_none() && columns.time_queued.is_none() {
        return Lex::Malformed(Malformed::NoTimeColumn);
    }
    let queued_text = field(columns.time_queued);
    let logged = match field(columns.time_logged) {
        "" => parse_time(queued_text),
        t => parse_time(t),
    };
    let Some(time) = logged else {
        return Lex::Malformed(Malformed::MissingTime);
    };
    let rcpt = span(columns.rcpt);
    if rcpt.is_empty() {
        return Lex::Malformed(Malformed::MissingRecipient);
    }
    let category = field(columns.bounce_cat);
    let message = identity([
        queued_text,
        field(columns.orig),
        field(columns.job_id),
        field(columns.env_id),
    ]);
    let mut lexed = Lexed::new(
        time,
        What::Status(kind),
        message,
        LexExtra::Pmta {
            vmta: span(columns.vmta),
            bounce_category: span(columns.bounce_cat),
        },
    );
    lexed.ends_with_recipients = true;
    rcpts.push(rcpt);
    lexed.sender = span(columns.orig);
    if let Some(q) = parse_time(queued_text) {
        lexed.age = time.0.checked_sub(q.0).and_then(|a| u64::try_from(a).ok());
    }
    let (host, ip) = mta(field(columns.dsn_mta));
    lexed.relay_host = if host.is_empty() {
        Span::EMPTY
    } else {
        within(texts, span(columns.dsn_mta), host)
    };
    lexed.relay_ip = ip.or_else(|| field(columns.destination_ip).parse().ok());
    let diag_span = span(columns.dsn_diag);
    let diag = texts.get(diag_span);
    lexed.reason = diag_span;
    let reply = match diag.split_once(';') {
        Some((kind, rest)) if !kind.contains(' ') => rest.trim(),
        _ => diag,
    };
    lexed.reply = if reply.is_empty() {
        Span::EMPTY
    } else {
        within(texts, diag_span, reply)
    };
    let status = field(columns.dsn_status);
    let status_code = Enhanced::parse(status.split(' ').next().unwrap_or(""));
    let code = reply_code(reply);
    lexed.code = code.map(|c| c.code);
    lexed.enhanced = code.and_then(|c| c.enhanced).or(status_code).or_else(|| {
        (kind == Kind::Bounced)
            .then(|| category_code(category))
            .flatten()
    });
    let esmtp_empty = columns.esmtp.is_some() && field(columns.esmtp).is_empty();
    let expired = kind == Kind::Bounced
        && (category == "message-expired" || status_code.is_some_and(|e| e.class == 4));
    if expired {
        lexed.what = What::Status(Kind::Expired);
        return Lex::Record(lexed);
    }
    let failure = if kind == Kind::Delivered {
        None
    } else {
        classify::connection_failure(reply)
    };
    let (class, handshake) = match (kind, failure, code) {
        (Kind::Delivered, _, _) => (OutcomeClass::Delivered, false),
        (_, Some(f), _) => (f.class, f.handshake),
        (_, None, Some(c)) => (ReplyKind::acted_on(c.code).outcome_class(), esmtp_empty),
        (Kind::Bounced, None, None) => (OutcomeClass::Permfail, false),
        _ => category_class(category),
    };
    lexed.class = Some(class);
    lexed.handshake = handshake;
    Lex::Record(lexed)
}

/// The span of `field` trimmed of surrounding whitespace.
fn trimmed(texts: Texts, field: Span) -> Span {
    let text = texts.get(field);
    within(texts, field, text.trim())
}

/// The span of `sub`, a slice of the text of `outer`.
fn within(texts: Texts, outer: Span, sub: &str) -> Span {
    let text = texts.get(outer);
    let offset = sub.as_ptr() as usize - text.as_ptr() as usize;
    outer.sub(offset, sub.len())
}

/// A message's identity: PowerMTA logs no message ID, so its queue time, sender, job and
/// envelope ID stand for it.
fn identity(parts: [&str; 4]) -> u128 {
    let mut h1 = FxHasher::default();
    let mut h2 = FxHasher::with_seed(0x51_7cc1_b727);
    for part in parts {
        h1.write(part.as_bytes());
        h1.write_u8(0);
        h2.write(part.as_bytes());
        h2.write_u8(0xff);
    }
    ((h1.finish() as u128) << 64) | h2.finish() as u128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form() {
        let iso = parse_time("2024-01-02 03:04:05+0000").unwrap();
        assert_eq!(iso.to_string(), "2024-01-02T03:04:05.000Z");
        assert_eq!(parse_time("1704164645"), Some(iso));
        assert_eq!(parse_time("1704164645.25").unwrap().0, iso.0 + 250);
        assert_eq!(parse_time("2024-01-02T03:04:05Z"), Some(iso));
        assert_eq!(parse_time("12"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn quoted_fields_are_unescaped() {
        let mut lexer = PmtaLexer::default();
        let mut scratch = String::new();
        let line = r#"b,"smtp;550 5.1.1 ""no"", such user","4.4.1",,x"#;
        lexer.split(line, &mut scratch);
        let texts = Texts {
            line,
            scratch: &scratch,
        };
        let fields: Vec<&str> = lexer.fields.iter().map(|s| texts.get(*s)).collect();
        assert_eq!(
            fields,
            ["b", r#"smtp;550 5.1.1 "no", such user"#, "4.4.1", "", "x"]
        );
        // Only the field with doubled quotes was copied.
        assert_eq!(scratch, r#"smtp;550 5.1.1 "no", such user"#);
    }
}
