//! The PowerMTA accounting CSV lexer: columns found by name from the header row (any
//! order, extra columns ignored, a header again mid-file re-reads them), records `d`, `b`,
//! `t`.

use std::hash::Hasher;
use std::net::IpAddr;

use rustc_hash::FxHasher;

use super::Kind;
use super::classify;
use super::lexed::{Lex, LexExtra, Lexed, Malformed, Skip, Span, What};
use super::time::parse_datetime;
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

/// Where each column this reader uses is.
#[derive(Debug, Clone)]
pub struct PmtaColumns {
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
    /// Field spans of the current record, in the rejoined line.
    fields: Vec<Span>,
}

impl Default for PmtaColumns {
    fn default() -> Self {
        PmtaColumns::from_names(DEFAULT_FIELDS.iter().copied())
    }
}

impl PmtaColumns {
    fn from_names<'a>(names: impl Iterator<Item = &'a str>) -> PmtaColumns {
        let mut c = PmtaColumns {
            kind: None,
            time_logged: None,
            time_queued: None,
            orig: None,
            rcpt: None,
            dsn_status: None,
            dsn_diag: None,
            dsn_mta: None,
            bounce_cat: None,
            destination_ip: None,
            esmtp: None,
            vmta: None,
            job_id: None,
            env_id: None,
            fields: Vec::new(),
        };
        for (i, name) in names.enumerate() {
            let slot = match name.trim() {
                "type" => &mut c.kind,
                "timeLogged" => &mut c.time_logged,
                "timeQueued" => &mut c.time_queued,
                "orig" => &mut c.orig,
                "rcpt" => &mut c.rcpt,
                "dsnStatus" => &mut c.dsn_status,
                "dsnDiag" => &mut c.dsn_diag,
                "dsnMta" => &mut c.dsn_mta,
                "bounceCat" => &mut c.bounce_cat,
                "dlvDestinationIp" => &mut c.destination_ip,
                "dlvEsmtpAvailable" => &mut c.esmtp,
                "vmta" => &mut c.vmta,
                "jobId" => &mut c.job_id,
                "envId" => &mut c.env_id,
                _ => continue,
            };
            slot.get_or_insert(i);
        }
        c
    }
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

/// Lexes one CSV record; `line` gets the record's fields joined by commas.
pub fn lex(
    record: &csv::ByteRecord,
    columns: &mut PmtaColumns,
    line: &mut String,
    rcpts: &mut Vec<Span>,
) -> Lex {
    line.clear();
    columns.fields.clear();
    for (i, field) in record.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let start = line.len();
        match std::str::from_utf8(field) {
            Ok(s) => line.push_str(s),
            Err(_) => line.push_str(&String::from_utf8_lossy(field)),
        }
        columns.fields.push(Span::of(line, &line[start..]));
    }
    let text = line.as_str();
    if text.trim().is_empty() {
        return Lex::Skip(Skip::Empty);
    }
    let first = record
        .get(0)
        .map(|f| f.strip_prefix(b"\xef\xbb\xbf").unwrap_or(f).trim_ascii());
    if first == Some(b"type") {
        let names: Vec<&str> = columns.fields.iter().map(|s| span_text(text, *s)).collect();
        let fields = std::mem::take(&mut columns.fields);
        *columns = PmtaColumns::from_names(names.into_iter());
        columns.fields = fields;
        return Lex::Skip(Skip::PmtaHeader);
    }
    let columns = &*columns;
    let field = |i: Option<usize>| -> &str {
        i.and_then(|i| columns.fields.get(i))
            .map_or("", |s| span_text(text, *s))
            .trim()
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
    let Some(time) = parse_time(field(columns.time_logged)) else {
        return Lex::Malformed(Malformed::MissingTime);
    };
    let rcpt = field(columns.rcpt);
    if rcpt.is_empty() {
        return Lex::Malformed(Malformed::MissingRecipient);
    }
    let queued = field(columns.time_queued);
    let mut h1 = FxHasher::default();
    let mut h2 = FxHasher::with_seed(0x51_7cc1_b727);
    for part in [
        queued,
        field(columns.orig),
        field(columns.job_id),
        field(columns.env_id),
    ] {
        h1.write(part.as_bytes());
        h1.write_u8(0);
        h2.write(part.as_bytes());
        h2.write_u8(0xff);
    }
    let message = ((h1.finish() as u128) << 64) | h2.finish() as u128;
    let span = |s: &str| {
        if s.is_empty() {
            Span::EMPTY
        } else {
            Span::of(text, s)
        }
    };
    let mut lexed = Lexed::new(
        time,
        What::Status(kind),
        message,
        LexExtra::Pmta {
            vmta: span(field(columns.vmta)),
            bounce_category: span(field(columns.bounce_cat)),
        },
    );
    lexed.ends_with_recipients = true;
    rcpts.clear();
    rcpts.push(Span::of(text, rcpt));
    lexed.sender = span(field(columns.orig));
    if let Some(q) = parse_time(queued) {
        lexed.age = time.0.checked_sub(q.0).and_then(|a| u64::try_from(a).ok());
    }
    let (host, ip) = mta(field(columns.dsn_mta));
    lexed.relay_host = span(host);
    lexed.relay_ip = ip.or_else(|| field(columns.destination_ip).parse().ok());
    let diag = field(columns.dsn_diag);
    lexed.reason = span(diag);
    let reply = match diag.split_once(';') {
        Some((kind, rest)) if !kind.contains(' ') => rest.trim(),
        _ => diag,
    };
    lexed.reply = span(reply);
    let status = field(columns.dsn_status);
    let status_code = Enhanced::parse(status.split(' ').next().unwrap_or(""));
    let code = reply_code(reply);
    lexed.code = code.map(|c| c.code);
    lexed.enhanced = code.and_then(|c| c.enhanced).or(status_code);
    let esmtp_empty = columns.esmtp.is_some() && field(columns.esmtp).is_empty();
    let expired = kind == Kind::Bounced
        && (field(columns.bounce_cat) == "message-expired"
            || status_code.is_some_and(|e| e.class == 4));
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
        _ => (OutcomeClass::Tempfail, false),
    };
    lexed.class = Some(class);
    lexed.handshake = handshake;
    Lex::Record(lexed)
}

fn span_text(text: &str, s: Span) -> &str {
    super::lexed::Texts {
        line: text,
        scratch: "",
    }
    .get(s)
}

fn parse_time(s: &str) -> Option<super::UnixMillis> {
    match parse_datetime(s.as_bytes()) {
        Some((t, used)) if used == s.len() => Some(t),
        _ => None,
    }
}

/// `dsnMta`: `mx.example.com (192.0.2.1)`.
fn mta(s: &str) -> (&str, Option<IpAddr>) {
    match s.split_once(" (") {
        Some((host, rest)) => (host.trim(), rest.trim_end_matches(')').parse().ok()),
        None => (s, None),
    }
}
