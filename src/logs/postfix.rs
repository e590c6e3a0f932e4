//! The Postfix `maillog` lexer: syslog header, program, queue ID, then the delivery-status
//! line (`to=<...>, relay=..., delay=..., delays=..., dsn=..., status=... (reason)`), qmgr's
//! arrival (`from=<...>, size=..., nrcpt=N (queue active)`), expiry and `removed` lines.

use std::net::IpAddr;

use memchr::{memchr, memmem};

use super::classify::{self, Command};
use super::lexed::{Lex, LexExtra, Lexed, Malformed, Skip, Span, What, identity};
use super::time::{YearClock, parse_classic, parse_datetime};
use super::{Kind, PostfixExtra, UnixMillis};
use crate::flow_control::OutcomeClass;
use crate::replies::{Enhanced, ReplyKind, reply_code};

/// Lexes one maillog line; recipients go to `rcpts`.
pub fn lex(line: &str, clock: &mut YearClock, rcpts: &mut Vec<Span>) -> Lex {
    match lex_line(line, clock, rcpts) {
        Ok(lexed) => Lex::Record(lexed),
        Err(Outcome::Skip(s)) => Lex::Skip(s),
        Err(Outcome::Malformed(m)) => Lex::Malformed(m),
    }
}

enum Outcome {
    Skip(Skip),
    Malformed(Malformed),
}

type Lexing<T> = Result<T, Outcome>;

fn skip<T>(s: Skip) -> Lexing<T> {
    Err(Outcome::Skip(s))
}

fn bad<T>(m: Malformed) -> Lexing<T> {
    Err(Outcome::Malformed(m))
}

/// The time at the start of a line and the bytes it used. A container runtime's RFC 3339
/// stamp before the syslog one (`docker logs -t`) is the time; the syslog stamp is skipped.
fn timestamp(line: &str, clock: &mut YearClock) -> Option<Option<(UnixMillis, usize)>> {
    let b = line.as_bytes();
    if b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) {
        return Some(parse_datetime(b).map(|(t, used)| {
            match b.get(used + 1..).and_then(parse_classic) {
                Some((_, classic)) if b[used] == b' ' => (t, used + 1 + classic),
                _ => (t, used),
            }
        }));
    }
    let (stamp, used) = parse_classic(b)?;
    Some(clock.resolve(stamp).map(|t| (t, used)))
}

/// ` host postfix/agent[pid]: message` after the stamp: the agent and the message.
fn program_and_message(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.strip_prefix(' ')?;
    let host_end = memchr(b' ', rest.as_bytes())?;
    let rest = &rest[host_end + 1..];
    let colon = memchr(b':', rest.as_bytes())?;
    let program = &rest[..colon];
    let name = &program[..memchr(b'[', program.as_bytes()).unwrap_or(program.len())];
    let slash = memchr::memrchr(b'/', name.as_bytes())?;
    let message = rest[colon + 1..]
        .strip_prefix(' ')
        .unwrap_or(&rest[colon + 1..]);
    Some((&name[slash + 1..], message))
}

/// A line that is no Postfix line: of another format, or another program's.
fn not_postfix(line: &str) -> Skip {
    super::input::foreign(line).unwrap_or(Skip::NotPostfix)
}

fn looks_like_delivery(line: &str) -> bool {
    memmem::find(line.as_bytes(), b"status=").is_some()
}

fn lex_line(line: &str, clock: &mut YearClock, rcpts: &mut Vec<Span>) -> Lexing<Lexed> {
    if line.trim().is_empty() {
        return skip(Skip::Empty);
    }
    let (time, used) = match timestamp(line, clock) {
        Some(Some(t)) => t,
        Some(None) => return bad(Malformed::Timestamp),
        None if looks_like_delivery(line) => return bad(Malformed::Timestamp),
        None => return skip(not_postfix(line)),
    };
    let Some((agent, message)) = program_and_message(&line[used..]) else {
        return skip(not_postfix(line));
    };
    if message.starts_with("message repeated ") {
        return skip(Skip::SyslogRepeat);
    }
    let Some(qid_end) = memchr(b':', message.as_bytes()) else {
        return skip(Skip::PostfixOther);
    };
    let qid = &message[..qid_end];
    let body = message[qid_end + 1..].strip_prefix(' ').unwrap_or("");
    if !is_queue_id(qid) {
        return if body.starts_with("to=<") {
            bad(Malformed::QueueId)
        } else {
            skip(Skip::PostfixOther)
        };
    }
    let message = identity(qid.as_bytes());
    rcpts.clear();
    if let Some(status) = body.strip_prefix("to=<") {
        return status_line(line, status, time, message, rcpts);
    }
    // A recipient logged empty without brackets (`to=, relay=...`): as `to=<>`.
    if body.starts_with("to=, ") {
        return status_line(line, &body[2..], time, message, rcpts);
    }
    if body.starts_with("from=<") && agent == "qmgr" {
        return qmgr_from(line, body, time, message);
    }
    if body == "removed" {
        return Ok(Lexed::new(time, What::Removed, message, no_extra()));
    }
    if is_delivery_agent(agent) {
        skip(Skip::DeliveryAgentOther)
    } else {
        skip(Skip::PostfixOther)
    }
}

/// Where a `key=value` field ends: at the next `, `.
fn field_end(s: &str) -> usize {
    let b = s.as_bytes();
    memchr::memchr_iter(b',', b)
        .find(|&i| b.get(i + 1) == Some(&b' '))
        .unwrap_or(b.len())
}

fn no_extra() -> LexExtra {
    LexExtra::Postfix(PostfixExtra {
        delays: None,
        conn_use: 1,
    })
}

fn is_delivery_agent(agent: &str) -> bool {
    matches!(
        agent,
        "smtp" | "lmtp" | "local" | "virtual" | "pipe" | "error" | "retry" | "discard" | "relay"
    )
}

/// Short IDs are upper-case hex (5 digits of microseconds + the inode); long IDs use a
/// vowel-free base-52 alphabet with a `z` between time and inode.
fn is_queue_id(id: &str) -> bool {
    let b = id.as_bytes();
    if (6..=16).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
    {
        return true;
    }
    (12..=24).contains(&b.len())
        && memchr(b'z', b).is_some()
        && b.iter().all(|c| {
            c.is_ascii_alphanumeric()
                && !matches!(
                    c,
                    b'A' | b'E' | b'I' | b'O' | b'U' | b'a' | b'e' | b'i' | b'o' | b'u'
                )
        })
}

/// qmgr's `from=<sender>, size=N, nrcpt=N (queue active)` or
/// `from=<sender>, status=expired, returned to sender`.
fn qmgr_from(line: &str, body: &str, time: UnixMillis, message: u128) -> Lexing<Lexed> {
    let after = &body[6..];
    let end = memchr(b'>', after.as_bytes()).ok_or(Outcome::Malformed(Malformed::Recipient))?;
    let sender = Span::of(line, &after[..end]);
    let fields = &after[end + 1..];
    if fields.contains("status=expired") || fields.contains("status=force-expired") {
        let mut lexed = Lexed::new(time, What::Expired, message, no_extra());
        lexed.sender = sender;
        return Ok(lexed);
    }
    let Some(n) = memmem::find(fields.as_bytes(), b"nrcpt=") else {
        return skip(Skip::PostfixOther);
    };
    let nrcpt: u32 = leading_number(&fields[n + 6..]).ok_or(Outcome::Malformed(Malformed::Size))?;
    let mut lexed = Lexed::new(
        time,
        What::Arrival { recipients: nrcpt },
        message,
        no_extra(),
    );
    lexed.sender = sender;
    Ok(lexed)
}

fn leading_number<T: std::str::FromStr>(s: &str) -> Option<T> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    s[..n].parse().ok()
}

/// Seconds with an optional fraction (`59235`, `2.3`, `0.06`) in milliseconds.
fn seconds_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if int_len == 0 || int_len > 12 {
        return None;
    }
    let mut ms = 0u64;
    for &c in &b[..int_len] {
        ms = ms * 10 + (c - b'0') as u64;
    }
    ms *= 1000;
    match b.get(int_len) {
        None => return Some(ms),
        Some(b'.') => {}
        Some(_) => return None,
    }
    let frac = &b[int_len + 1..];
    if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut scale = 100;
    for &c in frac.iter().take(3) {
        ms += (c - b'0') as u64 * scale;
        scale /= 10;
    }
    Some(ms)
}

fn delays(s: &str) -> Option<[u32; 4]> {
    let mut out = [0u32; 4];
    let mut rest = s;
    for (i, slot) in out.iter_mut().enumerate() {
        let end = if i == 3 {
            rest.len()
        } else {
            memchr(b'/', rest.as_bytes())?
        };
        *slot = seconds_ms(&rest[..end])?.min(u32::MAX as u64) as u32;
        rest = rest.get(end + 1..).unwrap_or("");
    }
    Some(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Sent,
    Deferred,
    Bounced,
    Expired,
}

/// The part after `to=<` (for an empty `to=,`: the `=` before the comma, standing in for
/// the closing `>`).
fn status_line(
    line: &str,
    after: &str,
    time: UnixMillis,
    message: u128,
    rcpts: &mut Vec<Span>,
) -> Lexing<Lexed> {
    let end = memchr(b'>', after.as_bytes())
        .filter(|_| !after.starts_with("=,"))
        .unwrap_or(0);
    if end == 0 && !after.starts_with(['>', '=']) {
        return bad(Malformed::Recipient);
    }
    let rcpt = &after[..end];
    if memchr(b' ', rcpt.as_bytes()).is_some() {
        return bad(Malformed::Recipient);
    }
    rcpts.push(Span::of(line, rcpt));
    let mut rest = &after[end + 1..];
    let mut lexed = Lexed::new(time, What::Status(Kind::Delivered), message, no_extra());
    let mut extra = PostfixExtra {
        delays: None,
        conn_use: 1,
    };
    let mut relay = None;
    let mut dsn = None;
    let status = loop {
        rest = rest
            .strip_prefix(", ")
            .ok_or(Outcome::Malformed(Malformed::Status))?;
        let eq = memchr(b'=', rest.as_bytes()).ok_or(Outcome::Malformed(Malformed::Status))?;
        let key = &rest[..eq];
        let value_all = &rest[eq + 1..];
        if key == "status" {
            break value_all;
        }
        if key == "orig_to" {
            let v = value_all
                .strip_prefix('<')
                .ok_or(Outcome::Malformed(Malformed::Recipient))?;
            let e = memchr(b'>', v.as_bytes()).ok_or(Outcome::Malformed(Malformed::Recipient))?;
            lexed.orig_to = Span::of(line, &v[..e]);
            rest = &v[e + 1..];
            continue;
        }
        let vend = field_end(value_all);
        let value = &value_all[..vend];
        match key {
            "relay" => relay = Some(value),
            "conn_use" => {
                extra.conn_use = value
                    .parse()
                    .map_err(|_| Outcome::Malformed(Malformed::Status))?
            }
            "delay" => {
                lexed.age = Some(seconds_ms(value).ok_or(Outcome::Malformed(Malformed::Delay))?)
            }
            "delays" => {
                extra.delays = Some(delays(value).ok_or(Outcome::Malformed(Malformed::Delays))?)
            }
            "dsn" => dsn = Some(Enhanced::parse(value).ok_or(Outcome::Malformed(Malformed::Dsn))?),
            _ => {}
        }
        rest = &value_all[vend..];
    };
    let relay = relay.ok_or(Outcome::Malformed(Malformed::Relay))?;
    let word_end = memchr(b' ', status.as_bytes()).unwrap_or(status.len());
    let status_kind = match &status[..word_end] {
        "sent" => Status::Sent,
        "deferred" => Status::Deferred,
        "bounced" => Status::Bounced,
        "expired" => Status::Expired,
        "deliverable" | "undeliverable" => return skip(Skip::AddressVerification),
        _ => return bad(Malformed::UnknownStatus),
    };
    let tail = &status[word_end..];
    let reason = match (
        memchr(b'(', tail.as_bytes()),
        memchr::memrchr(b')', tail.as_bytes()),
    ) {
        (Some(open), Some(close)) if close > open => &tail[open + 1..close],
        _ => tail.trim(),
    };
    lexed.reason = Span::of(line, reason);
    lexed.extra = LexExtra::Postfix(extra);
    set_relay(line, relay, &mut lexed)?;
    read_reason(line, reason, status_kind, dsn, &mut lexed);
    Ok(lexed)
}

/// `relay=host[addr]:port`, `relay=none`, or a local delivery agent's name (`relay=local`,
/// `virtual`, `dovecot`).
fn set_relay(line: &str, relay: &str, lexed: &mut Lexed) -> Lexing<()> {
    if relay.is_empty() {
        return bad(Malformed::Relay);
    }
    if let Some(open) = memchr(b'[', relay.as_bytes()) {
        let close = memchr::memrchr(b']', relay.as_bytes())
            .filter(|&c| c > open)
            .ok_or(Outcome::Malformed(Malformed::Relay))?;
        lexed.relay_host = Span::of(line, &relay[..open]);
        lexed.relay_ip = relay[open + 1..close].parse::<IpAddr>().ok();
    } else if relay != "none" {
        lexed.relay_host = Span::of(line, relay);
        lexed.local = true;
    }
    Ok(())
}

/// `H[ip]` at the start of `s`: host and address, and the text after `]`.
fn host_ip(s: &str) -> Option<(&str, Option<IpAddr>, &str)> {
    let open = s.find('[')?;
    let close = open + s[open..].find(']')?;
    let host = &s[..open];
    if host.is_empty() || host.contains(' ') {
        return None;
    }
    Some((host, s[open + 1..close].parse().ok(), &s[close + 1..]))
}

const SUSPENDED: &str = "delivery temporarily suspended: ";

fn read_reason(line: &str, reason: &str, status: Status, dsn: Option<Enhanced>, lexed: &mut Lexed) {
    let (held, text) = match reason.strip_prefix(SUSPENDED) {
        Some(inner) => (true, inner),
        None => (false, reason),
    };
    let mut reply = text;
    let mut handshake = false;
    let mut host = None;
    let mut by_reply = false;
    if let Some(h) = text.strip_prefix("host ")
        && let Some((name, ip, after)) = host_ip(h)
    {
        host = Some((name, ip));
        if let Some(r) = after.strip_prefix(" said: ") {
            by_reply = true;
            reply = r;
            if let Some(open) = r.rfind(" (in reply to ")
                && let Some(cmd) = r[open + 14..].strip_suffix(" command)")
            {
                lexed.command = Some(Command::parse(cmd));
                reply = &r[..open];
            }
        } else if let Some(r) = after.strip_prefix(" refused to talk to me: ") {
            by_reply = true;
            handshake = true;
            reply = r;
            lexed.command = Some(Command::Greeting);
        }
    } else if let Some(h) = text
        .strip_prefix("connect to ")
        .or_else(|| text.strip_prefix("lost connection with "))
        .or_else(|| text.strip_prefix("conversation with "))
    {
        host = host_ip(h).map(|(name, ip, _)| (name, ip));
    }
    lexed.reply = Span::of(line, reply);
    let code = reply_code(reply);
    lexed.code = code.map(|c| c.code);
    lexed.enhanced = code.and_then(|c| c.enhanced).or(dsn);
    if lexed.relay_host.is_empty()
        && let Some((name, ip)) = host
    {
        lexed.relay_host = Span::of(line, name);
        lexed.relay_ip = ip;
    }
    let (class, hs) = classify_reason(text, status, code.map(|c| c.code), by_reply);
    lexed.class = Some(class);
    lexed.handshake = handshake || hs;
    lexed.what = What::Status(match status {
        Status::Sent => Kind::Delivered,
        Status::Deferred if held => Kind::Held,
        Status::Deferred => Kind::Deferred,
        Status::Bounced => Kind::Bounced,
        Status::Expired => Kind::Expired,
    });
}

/// Postfix's own failures: the delivery agent or its configuration, not the receiver.
const INTERNAL: &[&str] = &[
    "unknown mail transport error",
    "mail transport unavailable",
    "mail system configuration error",
    "local configuration error",
    "loops back to myself",
    "Server configuration error",
];

fn classify_reason(
    text: &str,
    status: Status,
    code: Option<u16>,
    by_reply: bool,
) -> (OutcomeClass, bool) {
    if status == Status::Sent {
        return (OutcomeClass::Delivered, false);
    }
    if let Some(code) = code {
        return (ReplyKind::acted_on(code).outcome_class(), false);
    }
    if !by_reply {
        if let Some(f) = classify::connection_failure(text) {
            return (f.class, f.handshake);
        }
        if INTERNAL.iter().any(|p| text.contains(p)) {
            return (OutcomeClass::Internal, false);
        }
        if text.starts_with("lost connection") {
            return (OutcomeClass::Tempfail, false);
        }
        if text.starts_with("conversation with") && text.contains("timed out") {
            return (OutcomeClass::Timeout, false);
        }
    }
    match status {
        Status::Bounced => (OutcomeClass::Permfail, false),
        _ => (OutcomeClass::Tempfail, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::time::YearSource;

    #[test]
    fn queue_ids() {
        assert!(is_queue_id("39D9336AFA81"));
        assert!(is_queue_id("F024DAA029B"));
        assert!(is_queue_id("4gdgQw15ZZz1Bc"));
        assert!(!is_queue_id("warning"));
        assert!(!is_queue_id("NOQUEUE"));
        assert!(!is_queue_id("statistics"));
    }

    #[test]
    fn seconds() {
        assert_eq!(seconds_ms("59235"), Some(59_235_000));
        assert_eq!(seconds_ms("2.3"), Some(2300));
        assert_eq!(seconds_ms("0.06"), Some(60));
        assert_eq!(seconds_ms("0.0456"), Some(45));
        assert_eq!(seconds_ms("x"), None);
        assert_eq!(seconds_ms(".5"), None);
        assert_eq!(
            delays("59232/0.06/2.3/0.13"),
            Some([59_232_000, 60, 2300, 130])
        );
        assert_eq!(delays("1/2/3"), None);
    }

    #[test]
    fn a_line_that_is_not_a_record() {
        let mut clock = YearClock::new(Some(2026), UnixMillis(0), YearSource::Given, 0);
        let mut r = Vec::new();
        assert_eq!(
            lex("Jun 14 18:08:39 mx kernel: eth0 up", &mut clock, &mut r),
            Lex::Skip(Skip::NotPostfix)
        );
        assert_eq!(
            lex(
                "Jun 14 18:08:39 mx postfix/smtpd[12]: connect from x[1.2.3.4]",
                &mut clock,
                &mut r
            ),
            Lex::Skip(Skip::PostfixOther)
        );
        assert_eq!(lex("   ", &mut clock, &mut r), Lex::Skip(Skip::Empty));
    }
}
