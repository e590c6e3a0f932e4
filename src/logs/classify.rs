//! How MTAs word what happened around a reply: the SMTP command it answered, the MTA's own
//! failure texts (connect refused or timed out, greeting timeouts, DNS failures) with the
//! [`OutcomeClass`] and whether they happened at connect or greeting, and a grouping key for
//! replies that carry per-message identifiers. What a receiver's reply itself means (code,
//! enhanced code, kind, bounce reason, its words) is the business of [`crate::replies`].

use std::sync::LazyLock;

use memchr::memmem;
use serde::Serialize;

use crate::flow_control::OutcomeClass;
use crate::replies::Enhanced;

/// The SMTP command a reply answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// The server's greeting (no command sent yet).
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    MailFrom,
    RcptTo,
    Data,
    /// The final `.` of the message.
    EndOfData,
    Other,
}

impl Command {
    /// The command of Postfix's `(in reply to X command)` or KumoMTA's `response.command`.
    pub fn parse(text: &str) -> Command {
        let t = text.trim_start();
        let starts = |p: &str| t.len() >= p.len() && t[..p.len()].eq_ignore_ascii_case(p);
        if starts("end of DATA") || t.starts_with('.') {
            Command::EndOfData
        } else if starts("MAIL FROM") {
            Command::MailFrom
        } else if starts("RCPT TO") {
            Command::RcptTo
        } else if starts("DATA") {
            Command::Data
        } else if starts("EHLO") || starts("LHLO") {
            Command::Ehlo
        } else if starts("HELO") {
            Command::Helo
        } else if starts("STARTTLS") {
            Command::StartTls
        } else {
            Command::Other
        }
    }

    /// How Postfix names it in `(in reply to X command)`.
    pub fn postfix_name(self) -> &'static str {
        match self {
            Command::Greeting => "initial greeting",
            Command::Ehlo => "EHLO",
            Command::Helo => "HELO",
            Command::StartTls => "STARTTLS",
            Command::MailFrom => "MAIL FROM",
            Command::RcptTo => "RCPT TO",
            Command::Data => "DATA",
            Command::EndOfData => "end of DATA",
            Command::Other => "QUIT",
        }
    }

    /// The command that usually draws a reply with this enhanced code: recipient
    /// problems (x.1.x, x.2.x) come after RCPT TO, the rest after the message's end.
    pub fn typical_for(enhanced: Option<Enhanced>) -> Command {
        match enhanced {
            Some(e) if e.subject == 1 || e.subject == 2 => Command::RcptTo,
            _ => Command::EndOfData,
        }
    }
}

/// How a failure text reads: the class and whether it failed at connect or greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub class: OutcomeClass,
    pub handshake: bool,
}

/// The phrases failure texts are recognised by, with their searchers built once.
const PHRASES: [&str; 17] = [
    "Host or domain name not found",
    "Name service error",
    "failed to resolve",
    "MX lookup",
    "no MX",
    "initial server greeting",
    "initial banner",
    "greeting",
    "timed out",
    "Timed Out",
    "timeout after",
    "no answer from host",
    "Connection refused",
    "No route to host",
    "Network is unreachable",
    "Connection timed out",
    "Operation timed out",
];

static FINDERS: LazyLock<Vec<memmem::Finder<'static>>> = LazyLock::new(|| {
    PHRASES
        .iter()
        .map(|p| memmem::Finder::new(p.as_bytes()))
        .collect()
});

fn contains(hay: &str, needle: &str) -> bool {
    match PHRASES.iter().position(|p| *p == needle) {
        Some(i) => FINDERS[i].find(hay.as_bytes()).is_some(),
        None => memmem::find(hay.as_bytes(), needle.as_bytes()).is_some(),
    }
}

/// DNS failures: the MTA could not find where to deliver. Classed `internal` (the MTA's own
/// side, as for every format here): no receiver was involved.
pub fn is_dns_failure(text: &str) -> bool {
    contains(text, "Host or domain name not found")
        || contains(text, "Name service error")
        || contains(text, "failed to resolve")
        || contains(text, "MX lookup")
        || contains(text, "no MX")
}

/// Connection-level failures as MTAs word them (connect refused/timed out, greeting
/// timeouts), or DNS failures; `None` when the text is a receiver's reply or unknown.
pub fn connection_failure(text: &str) -> Option<Failure> {
    if is_dns_failure(text) {
        return Some(Failure {
            class: OutcomeClass::Internal,
            handshake: false,
        });
    }
    let greeting = contains(text, "initial server greeting")
        || contains(text, "initial banner")
        || contains(text, "greeting");
    let timed_out = contains(text, "timed out")
        || contains(text, "Timed Out")
        || contains(text, "timeout after")
        || contains(text, "no answer from host");
    if contains(text, "Connection refused")
        || contains(text, "No route to host")
        || contains(text, "Network is unreachable")
    {
        return Some(Failure {
            class: OutcomeClass::Connect,
            handshake: true,
        });
    }
    if contains(text, "Connection timed out")
        || (contains(text, "Operation timed out") && text.starts_with("connect to"))
        || (timed_out && greeting)
    {
        return Some(Failure {
            class: OutcomeClass::Timeout,
            handshake: true,
        });
    }
    if greeting && text.contains("lost connection") {
        return Some(Failure {
            class: OutcomeClass::Connect,
            handshake: true,
        });
    }
    None
}

/// A grouping key for a reply: the text with per-message tokens masked, so that replies
/// that differ only by a queue ID, timestamp or server trace ("250 2.0.0 OK 1678069691
/// a1si123 - gsmtp", Microsoft's `[BN1NAM02FT012... 2024-01-12T10:11:12Z]`) share one
/// interned entry and a 10 GB log does not intern a reply per line.
///
/// A token (split on spaces, surrounding `[](){}<>,;"'` ignored) is masked as `*` when it
/// is at least 10 characters long, contains a digit and is not a dotted-quad IPv4 address;
/// the rest — codes, `[TSS04]`, `(S3150)`, URLs, words — is kept. Whitespace runs become
/// one space.
pub fn reply_key<'a>(text: &'a str, scratch: &'a mut String) -> &'a str {
    if !needs_masking(text) {
        return text;
    }
    scratch.clear();
    for token in text.split_ascii_whitespace() {
        if !scratch.is_empty() {
            scratch.push(' ');
        }
        let core = token.trim_matches(is_wrapping);
        if is_volatile(core) {
            let start = token.find(core).unwrap_or(0);
            scratch.push_str(&token[..start]);
            scratch.push('*');
            scratch.push_str(&token[start + core.len()..]);
        } else {
            scratch.push_str(token);
        }
    }
    scratch
}

fn needs_masking(text: &str) -> bool {
    text.contains("  ")
        || text
            .split_ascii_whitespace()
            .any(|token| is_volatile(token.trim_matches(is_wrapping)))
}

/// Brackets and punctuation around a token.
fn is_wrapping(c: char) -> bool {
    matches!(
        c,
        '[' | ']' | '(' | ')' | '{' | '}' | '<' | '>' | ',' | ';' | '"' | '\''
    )
}

fn is_volatile(token: &str) -> bool {
    token.len() >= 10
        && token.bytes().any(|b| b.is_ascii_digit())
        && !is_ipv4(token)
        && !is_continued_code(token)
}

/// `421-4.7.28`: a multi-line reply's code and enhanced code.
fn is_continued_code(token: &str) -> bool {
    token.len() > 4
        && token.as_bytes()[3] == b'-'
        && token[..3].bytes().all(|b| b.is_ascii_digit())
        && Enhanced::parse(&token[4..]).is_some()
}

fn is_ipv4(token: &str) -> bool {
    let mut parts = 0;
    for part in token.split('.') {
        parts += 1;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    parts == 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(Command::parse("end of DATA"), Command::EndOfData);
        assert_eq!(Command::parse("."), Command::EndOfData);
        assert_eq!(Command::parse("RCPT TO:<a@b.example>\r\n"), Command::RcptTo);
        assert_eq!(Command::parse("mail from"), Command::MailFrom);
        assert_eq!(Command::parse("DATA"), Command::Data);
        assert_eq!(Command::parse("XFOO"), Command::Other);
    }

    #[test]
    fn failures() {
        let f = |t| connection_failure(t);
        let c = |class, handshake| Some(Failure { class, handshake });
        assert_eq!(
            f("connect to mx.example[192.0.2.1]:25: Connection refused"),
            c(OutcomeClass::Connect, true)
        );
        assert_eq!(
            f("connect to mx.example[192.0.2.1]:25: Connection timed out"),
            c(OutcomeClass::Timeout, true)
        );
        assert_eq!(
            f(
                "conversation with mx.example[192.0.2.1] timed out while receiving the initial server greeting"
            ),
            c(OutcomeClass::Timeout, true)
        );
        assert_eq!(
            f(
                "lost connection with mx.example[192.0.2.1] while receiving the initial server greeting"
            ),
            c(OutcomeClass::Connect, true)
        );
        assert_eq!(
            f(
                "Host or domain name not found. Name service error for name=x.example type=MX: Host not found, try again"
            ),
            c(OutcomeClass::Internal, false)
        );
        assert_eq!(
            f("421 4.7.0 [TSS04] Messages from 203.0.113.7 deferred"),
            None
        );
    }

    #[test]
    fn reply_keys_mask_identifiers_only() {
        let mut s = String::new();
        assert_eq!(
            reply_key(
                "250 2.0.0 OK  1678069691 a1-20020a05620a0e81si1234567qkq.123 - gsmtp",
                &mut s
            ),
            "250 2.0.0 OK * * - gsmtp"
        );
        let tss = "421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes";
        assert_eq!(reply_key(tss, &mut s), tss);
        assert_eq!(
            reply_key(
                "451 4.7.650 rate limited (S775) [BN1NAM02FT012.eop-nam02.prod.protection.outlook.com 2024-01-12T10:11:12.345Z]",
                &mut s
            ),
            "451 4.7.650 rate limited (S775) [* *]"
        );
    }
}
