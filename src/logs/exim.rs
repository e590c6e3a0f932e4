//! The Exim main log lexer (`mainlog`, `exim_mainlog`, or the same lines through syslog as
//! `exim[pid]: ...`). A line is a time (`2015-09-01 17:45:42`, with `+millisec` a fraction,
//! with `log_timezone` a zone; without one the `--utc-offset` applies), an optional
//! `[pid]`, a message ID (`1ZWnkk-000NXb-1K`, or Exim 4.97's `1tixMn-00000000C5j-1wRa`) and
//! a flag:
//!
//! | flag | what | outcome |
//! |---|---|---|
//! | `<=` | arrival (recipients when `received_recipients` logs them: `for a b`) | arrival |
//! | `=>`, `->` | delivery (`->`: one more address of the same delivery), `C="250 ..."` | delivered |
//! | `**` | delivery failed, the address bounced; `retry timeout exceeded`: expired | bounced |
//! | `==` | delivery deferred: `defer (errno): reason`; `retry time not reached`: held | deferred |
//! | `*>` | delivery suppressed by `-N` | skipped |
//! | `Completed` | the message left the queue | removed |
//! | `*** Frozen`, `Message is frozen` | the message is held until an administrator acts | held |
//!
//! `R=` names the router, `T=` the transport, `H=host [ip]` the remote host; a remote
//! reply comes as `SMTP error from remote mail server after <command>: <reply>`.

use std::net::IpAddr;

use memchr::memmem;

use super::classify::{self, Command};
use super::lexed::{Lex, LexExtra, Lexed, Malformed, Skip, Span, What, identity};
use super::time::{UnixMillis, parse_datetime};
use super::{Kind, PostfixExtra};
use crate::flow_control::OutcomeClass;
use crate::replies::{ReplyKind, reply_code};

/// An Exim log's lexer: the UTC offset of its zone-less times.
#[derive(Debug, Clone, Copy)]
pub struct EximLexer {
    pub offset_minutes: i32,
}

enum Flag {
    Arrival,
    Delivered,
    Bounced,
    Deferred,
    Suppressed,
}

/// `YYYY-MM-DD HH:MM:SS[.fff][ +ZZZZ]` at the start of `b`: the instant (the lexer's offset
/// when there is no zone) and the bytes used.
fn exim_time(b: &[u8], offset_minutes: i32) -> Option<(UnixMillis, usize)> {
    if b.len() < 19 || b[10] != b' ' {
        return None;
    }
    let (t, used) = parse_datetime(b)?;
    let fraction = match b.get(19) {
        Some(b'.') => 1 + b[20..].iter().take_while(|c| c.is_ascii_digit()).count(),
        _ => 0,
    };
    if used > 19 + fraction {
        // A zone right after the seconds, already applied.
        return Some((t, used));
    }
    // `log_timezone`: the zone after a space.
    if let Some(zone) = b.get(used + 1..used + 6)
        && b[used] == b' '
        && matches!(zone[0], b'+' | b'-')
        && zone[1..].iter().all(u8::is_ascii_digit)
        && b.get(used + 6).is_none_or(|&c| c == b' ')
    {
        let digit = |i: usize| (zone[i] - b'0') as i64;
        let minutes = (digit(1) * 10 + digit(2)) * 60 + digit(3) * 10 + digit(4);
        let minutes = if zone[0] == b'-' { -minutes } else { minutes };
        return Some((t.plus(-minutes * 60_000), used + 6));
    }
    Some((t.plus(-(offset_minutes as i64) * 60_000), used))
}

/// An Exim message ID: `1ZWnkk-000NXb-1K` (6-6-2) or `1tixMn-00000000C5j-1wRa` (6-11-4).
pub fn is_message_id(id: &str) -> bool {
    let mut parts = id.split('-');
    let lens = [
        parts.next().map(str::len),
        parts.next().map(str::len),
        parts.next().map(str::len),
    ];
    parts.next().is_none()
        && matches!(
            lens,
            [Some(6), Some(6), Some(2)] | [Some(6), Some(11), Some(4)]
        )
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The Exim part of a line: after a syslog prefix `... exim[pid]: ` when there is one.
pub fn exim_part(line: &str) -> Option<&str> {
    if line.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return Some(line);
    }
    let at = memmem::find(line.as_bytes(), b" exim[")?;
    let rest = &line[at + 6..];
    let close = rest.find("]: ")?;
    Some(&rest[close + 3..])
}

/// Whether `line` is an Exim main log line with a message ID (for format detection).
pub fn looks_like_exim(line: &str) -> bool {
    let Some(part) = exim_part(line) else {
        return false;
    };
    let Some((_, used)) = exim_time(part.as_bytes(), 0) else {
        return false;
    };
    let rest = skip_pid(part[used..].trim_start());
    rest.split(' ').next().is_some_and(is_message_id)
}

fn skip_pid(s: &str) -> &str {
    if s.starts_with('[')
        && let Some(close) = s.find("] ")
        && s[1..close].bytes().all(|b| b.is_ascii_digit())
    {
        return &s[close + 2..];
    }
    s
}

fn no_extra() -> LexExtra {
    LexExtra::Postfix(PostfixExtra {
        delays: None,
        conn_use: 1,
    })
}

impl EximLexer {
    /// Lexes one line; recipients go to `rcpts`.
    pub fn lex(&self, line: &str, rcpts: &mut Vec<Span>) -> Lex {
        if line.trim().is_empty() {
            return Lex::Skip(Skip::Empty);
        }
        let Some(part) = exim_part(line) else {
            return Lex::Skip(super::input::foreign(line).unwrap_or(Skip::NotExim));
        };
        let Some((time, used)) = exim_time(part.as_bytes(), self.offset_minutes) else {
            return if memmem::find(line.as_bytes(), b" => ").is_some() {
                Lex::Malformed(Malformed::Timestamp)
            } else {
                Lex::Skip(super::input::foreign(line).unwrap_or(Skip::NotExim))
            };
        };
        let rest = skip_pid(part[used..].trim_start());
        let (id, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if !is_message_id(id) {
            return Lex::Skip(Skip::EximOther);
        }
        let message = identity(id.as_bytes());
        if rest == "Completed" || rest.starts_with("Completed ") {
            return Lex::Record(Lexed::new(time, What::Removed, message, no_extra()));
        }
        if rest.starts_with("*** Frozen") || rest == "Message is frozen" {
            let mut lexed = Lexed::new(time, What::Held, message, no_extra());
            lexed.reason = Span::of(line, rest);
            return Lex::Record(lexed);
        }
        let flag = match rest.get(..3) {
            Some("<= ") => Flag::Arrival,
            Some("=> ") | Some("-> ") => Flag::Delivered,
            Some("** ") => Flag::Bounced,
            Some("== ") => Flag::Deferred,
            Some("*> ") => Flag::Suppressed,
            _ => return Lex::Skip(Skip::EximOther),
        };
        let body = &rest[3..];
        rcpts.clear();
        match flag {
            Flag::Suppressed => Lex::Skip(Skip::EximSuppressed),
            Flag::Arrival => arrival(line, body, time, message, rcpts),
            _ => status(line, body, flag, time, message, rcpts),
        }
    }
}

/// `<= sender ... [for a b c]`.
fn arrival(line: &str, body: &str, time: UnixMillis, message: u128, rcpts: &mut Vec<Span>) -> Lex {
    let sender = body.split(' ').next().unwrap_or("");
    if let Some(at) = body.rfind(" for ") {
        for r in body[at + 5..].split(' ').filter(|r| r.contains('@')) {
            rcpts.push(Span::of(line, r));
        }
    }
    let mut lexed = Lexed::new(
        time,
        What::Arrival {
            recipients: rcpts.len() as u32,
        },
        message,
        no_extra(),
    );
    if sender != "<>" {
        lexed.sender = Span::of(line, sender);
    }
    Lex::Record(lexed)
}

/// The value of `key=` (a token; `H=` keeps its host only).
fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let at = memmem::find(body.as_bytes(), key.as_bytes())?;
    let value = &body[at + key.len()..];
    let end = value.find([' ', ':']).unwrap_or(value.len());
    Some(&value[..end])
}

/// `H=host [ip]` or `H=host (helo) [ip]`: the host and its address.
fn host(body: &str) -> Option<(&str, Option<IpAddr>)> {
    let at = memmem::find(body.as_bytes(), b" H=")?;
    let value = &body[at + 3..];
    let end = value.find(' ').unwrap_or(value.len());
    let name = value[..end].trim_end_matches(':');
    let ip = value[end..].find('[').and_then(|open| {
        let rest = &value[end + open + 1..];
        rest.find(']').and_then(|close| rest[..close].parse().ok())
    });
    Some((name, ip))
}

/// Exim's own failures: its configuration or the local system, not the receiver.
const INTERNAL: &[&str] = &[
    "failed to expand",
    "Permission denied",
    "Tainted",
    "temporarily rejected by local",
];

const SMTP_ERROR: &str = "SMTP error from remote mail server after ";

/// `=>`, `->`, `**` and `==` lines.
fn status(
    line: &str,
    body: &str,
    flag: Flag,
    time: UnixMillis,
    message: u128,
    rcpts: &mut Vec<Span>,
) -> Lex {
    let rcpt = body.split([' ', ':']).next().unwrap_or("");
    if rcpt.is_empty() || !rcpt.contains('@') && !rcpt.starts_with('/') && !rcpt.starts_with('|') {
        return Lex::Malformed(Malformed::Recipient);
    }
    rcpts.push(Span::of(line, rcpt));
    let kind = match flag {
        Flag::Delivered => Kind::Delivered,
        Flag::Bounced => Kind::Bounced,
        _ => Kind::Deferred,
    };
    let mut lexed = Lexed::new(time, What::Status(kind), message, no_extra());
    if let Some(sender) = field(body, " F=<") {
        lexed.sender = Span::of(line, sender.trim_end_matches('>'));
    }
    if let Some((name, ip)) = host(body) {
        lexed.relay_host = Span::of(line, name);
        lexed.relay_ip = ip;
    } else if field(body, " T=").is_some()
        && field(body, " R=").is_some()
        && kind == Kind::Delivered
    {
        // Delivered by a local transport (appendfile, pipe, LMTP to dovecot): the
        // transport is the destination's name when the address has no domain.
        lexed.local = true;
        lexed.relay_host = Span::of(line, field(body, " T=").unwrap_or(""));
    }
    if kind == Kind::Delivered {
        if let Some(at) = memmem::find(body.as_bytes(), b" C=\"") {
            let c = &body[at + 4..];
            let reply = &c[..c.find('"').unwrap_or(c.len())];
            lexed.reply = Span::of(line, reply);
            let code = reply_code(reply);
            lexed.code = code.map(|c| c.code);
            lexed.enhanced = code.and_then(|c| c.enhanced);
        }
        lexed.class = Some(OutcomeClass::Delivered);
        lexed.age = field(body, " QT=").and_then(duration_ms);
        return Lex::Record(lexed);
    }
    let reason = reason(body);
    lexed.reason = Span::of(line, reason);
    read_reason(line, reason, kind, &mut lexed);
    Lex::Record(lexed)
}

/// An Exim duration (`QT=1d2h3m4s`, `1.250s`) in milliseconds.
fn duration_ms(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut number = 0u64;
    let mut fraction: Option<(u64, u64)> = None;
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => match &mut fraction {
                Some((value, scale)) if *scale < 1000 => {
                    *value = *value * 10 + (b - b'0') as u64;
                    *scale *= 10;
                }
                Some(_) => {}
                None => number = number * 10 + (b - b'0') as u64,
            },
            b'.' => fraction = Some((0, 1)),
            unit => {
                let ms = match unit {
                    b'w' => 604_800_000,
                    b'd' => 86_400_000,
                    b'h' => 3_600_000,
                    b'm' => 60_000,
                    b's' => 1000,
                    _ => return None,
                };
                let part = fraction.take().map_or(0, |(v, scale)| v * 1000 / scale);
                total += number * ms + part;
                number = 0;
            }
        }
    }
    Some(total)
}

/// The text after the fields: after `defer (errno)` on `==` lines, else after the first
/// `: ` that follows the address.
fn reason(body: &str) -> &str {
    if let Some(at) = memmem::find(body.as_bytes(), b" defer (")
        && let Some(close) = body[at..].find(')')
    {
        let after = &body[at + close + 1..];
        return after
            .find(": ")
            .map_or(after.trim(), |c| after[c + 2..].trim());
    }
    body.find(": ").map_or("", |c| body[c + 2..].trim())
}

fn read_reason(line: &str, reason: &str, kind: Kind, lexed: &mut Lexed) {
    if kind == Kind::Deferred && reason.starts_with("retry time not reached") {
        lexed.what = What::Status(Kind::Held);
        lexed.reply = Span::of(line, reason);
        lexed.class = Some(OutcomeClass::Tempfail);
        return;
    }
    if kind == Kind::Bounced && reason.contains("retry timeout exceeded") {
        lexed.what = What::Status(Kind::Expired);
        lexed.reply = Span::of(line, reason);
        return;
    }
    let mut reply = reason;
    let mut handshake = false;
    if let Some(at) = memmem::find(reason.as_bytes(), SMTP_ERROR.as_bytes()) {
        let after = &reason[at + SMTP_ERROR.len()..];
        // `<command>: <reply>`; the command may hold a colon (`RCPT TO:<a@b>`).
        let split = after
            .find(">: ")
            .map(|i| (i + 1, i + 3))
            .or_else(|| after.find(": ").map(|i| (i, i + 2)));
        if let Some((cmd_end, reply_start)) = split {
            let command = &after[..cmd_end];
            lexed.command = Some(if command.starts_with("initial connection") {
                handshake = true;
                Command::Greeting
            } else if command.starts_with("end of data") {
                Command::EndOfData
            } else {
                Command::parse(command)
            });
            reply = &after[reply_start..];
            // Older Exims: `host mx.example [192.0.2.1]: 451 ...`.
            if let Some(h) = reply.strip_prefix("host ")
                && let Some(close) = h.find("]: ")
            {
                if lexed.relay_host.is_empty()
                    && let Some(open) = h.find(" [")
                {
                    lexed.relay_host = Span::of(line, &h[..open]);
                    lexed.relay_ip = h[open + 2..close].parse().ok();
                }
                reply = &h[close + 3..];
            }
        }
    }
    lexed.reply = Span::of(line, reply);
    let code = reply_code(reply);
    lexed.code = code.map(|c| c.code);
    lexed.enhanced = code.and_then(|c| c.enhanced);
    let class = match (code, classify::connection_failure(reply)) {
        (Some(c), _) => ReplyKind::acted_on(c.code).outcome_class(),
        (None, Some(f)) => {
            handshake |= f.handshake;
            f.class
        }
        (None, None) if INTERNAL.iter().any(|p| reply.contains(p)) => OutcomeClass::Internal,
        (None, None) if kind == Kind::Bounced => OutcomeClass::Permfail,
        (None, None) => OutcomeClass::Tempfail,
    };
    lexed.class = Some(class);
    lexed.handshake = handshake;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("1s"), Some(1000));
        assert_eq!(duration_ms("1d2h3m4.250s"), Some(93_784_250));
        assert_eq!(duration_ms("0s"), Some(0));
        assert_eq!(duration_ms("3x"), None);
    }

    #[test]
    fn message_ids_and_times() {
        assert!(is_message_id("1ZWnkk-000NXb-1K"));
        assert!(is_message_id("1tixMn-00000000C5j-1wRa"));
        assert!(!is_message_id("39D9336AFA81"));
        assert!(!is_message_id("1ZWnkk-000NXb"));
        let (t, used) = exim_time(b"2015-09-01 17:45:42 [90495] x", 0).unwrap();
        assert_eq!(
            (t.to_string().as_str(), used),
            ("2015-09-01T17:45:42.000Z", 19)
        );
        let (t, used) = exim_time(b"2015-09-01 17:45:42 +0100 1ZWnkk", 0).unwrap();
        assert_eq!(
            (t.to_string().as_str(), used),
            ("2015-09-01T16:45:42.000Z", 25)
        );
        let (t, _) = exim_time(b"2025-02-14 18:12:33.470 [46483]", 120).unwrap();
        assert_eq!(t.to_string(), "2025-02-14T16:12:33.470Z");
    }
}
