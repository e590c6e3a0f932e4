//! The KumoMTA log record lexer (one JSON object per line, `JsonLogRecord` fields), with
//! borrowed strings: a record without escapes copies nothing.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::classify::{self, Command};
use super::lexed::{Lex, LexExtra, Lexed, Malformed, Skip, Span, What, identity};
use super::time::parse_datetime;
use super::{Kind, UnixMillis};
use crate::flow_control::OutcomeClass;
use crate::replies::{Enhanced, ReplyKind};

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sender: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    recipient: Option<Recipients<'a>>,
    #[serde(borrow, default)]
    queue: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    site: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    response: Option<Response<'a>>,
    #[serde(borrow, default)]
    peer_address: Option<Peer<'a>>,
    #[serde(default)]
    timestamp: Option<serde_json::Number>,
    #[serde(borrow, default)]
    event_time: Option<Cow<'a, str>>,
    #[serde(default)]
    created: Option<serde_json::Number>,
    #[serde(borrow, default)]
    created_time: Option<Cow<'a, str>>,
    #[serde(default)]
    num_attempts: Option<u32>,
    #[serde(borrow, default)]
    egress_source: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    enhanced_code: Option<EnhancedCode>,
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    command: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EnhancedCode {
    class: u8,
    subject: u16,
    detail: u16,
}

#[derive(Deserialize)]
struct Peer<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    addr: Option<Cow<'a, str>>,
}

/// `recipient`: a string or an array of strings.
enum Recipients<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Recipients<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Recipients<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a recipient address or an array of them")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Recipients::One(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Recipients::One(Cow::Owned(v.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(CowStr(s)) = seq.next_element()? {
                    all.push(s);
                }
                Ok(Recipients::Many(all))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct W<'a>(#[serde(borrow)] Cow<'a, str>);
        W::deserialize(d).map(|w| CowStr(w.0))
    }
}

/// A borrowed text is spanned in the line, an unescaped copy in the scratch buffer.
#[allow(clippy::ptr_arg)] // whether the text was borrowed is the point
fn span(line: &str, scratch: &mut String, text: &Cow<str>) -> Span {
    match text {
        Cow::Borrowed(s) => Span::of(line, s),
        Cow::Owned(s) => Span::copy(scratch, s),
    }
}

fn opt_span(line: &str, scratch: &mut String, text: &Option<Cow<str>>) -> Span {
    text.as_ref()
        .map_or(Span::EMPTY, |t| span(line, scratch, t))
}

fn skip_of(kind: &str) -> Skip {
    match kind {
        "AdminBounce" => Skip::KumoAdminBounce,
        "OOB" => Skip::KumoOob,
        "Feedback" => Skip::KumoFeedback,
        "Rejection" => Skip::KumoRejection,
        "AdminRebind" | "DeferredInjectionRebind" => Skip::KumoRebind,
        "Delayed" => Skip::KumoDelayed,
        "XferOut" | "XferIn" => Skip::KumoTransfer,
        _ => Skip::KumoOther,
    }
}

/// The time of a record: `event_time` (full precision) else `timestamp` (seconds).
fn time_of(exact: &Option<Cow<str>>, seconds: &Option<serde_json::Number>) -> Option<UnixMillis> {
    if let Some(t) = exact
        && let Some((t, used)) = parse_datetime(t.as_bytes())
        && used == t_len(exact)
    {
        return Some(t);
    }
    let n = seconds.as_ref()?;
    let f = n.as_f64()?;
    (0.0..MAX_SECONDS).contains(&f).then(|| match n.as_i64() {
        Some(s) => UnixMillis(s * 1000),
        None => UnixMillis((f * 1000.0) as i64),
    })
}

/// 10000-01-01T00:00:00Z: later unix times are not log times.
const MAX_SECONDS: f64 = 253_402_300_800.0;

fn t_len(t: &Option<Cow<str>>) -> usize {
    t.as_ref().map_or(0, |t| t.len())
}

/// The MX rollup name of a ready-queue `site` (`source->(a|b)?.mx.example@smtp_client`
/// -> `(a|b)?.mx.example`) and one host it stands for (`mx.example`); `None` when the site is
/// not a ready-queue name (a scheduled queue's name, or empty).
pub fn site_parts(site: &str) -> Option<(&str, &str)> {
    let (_, rest) = site.split_once("->")?;
    let rest = match rest.rfind('@') {
        Some(at) if !rest[at + 1..].contains('.') => &rest[..at],
        _ => rest,
    };
    let rollup = rest.trim_end_matches('.');
    let mut host = rollup.strip_prefix("mx_list:").unwrap_or(rollup);
    host = host.split(',').next().unwrap_or(host);
    if host.starts_with('(')
        && let Some(close) = host.find(')')
    {
        host = &host[close + 1..];
    }
    let host = host.trim_start_matches('?').trim_start_matches('.');
    Some((rollup, host))
}

const INTERNAL: &str = "KumoMTA internal: ";

/// KumoMTA's own holds: scheduled-queue suspensions, throttles, requeues.
fn is_hold(content: &str) -> bool {
    !content.contains("spool unhealthy")
        && (content.contains("suspended")
            || content.contains("throttled")
            || content.contains("returning message to scheduled queue"))
}

/// Class of an internal response: connection failures keep their nature (refused, timed
/// out, greeting rejected); the rest is the MTA's own.
fn internal_class(content: &str) -> (OutcomeClass, bool, Option<u16>) {
    if content.contains("failed to connect to any candidate hosts") {
        if let Some(at) = content.find("Command rejected")
            && let Some(c) = content[at..].find("code: ")
            && let Some(code) = content
                .get(at + c + 6..at + c + 9)
                .and_then(|d| d.parse::<u16>().ok())
        {
            return (ReplyKind::acted_on(code).outcome_class(), true, Some(code));
        }
        if let Some(f) = classify::connection_failure(content) {
            return (f.class, f.handshake, None);
        }
        return (OutcomeClass::Connect, true, None);
    }
    (OutcomeClass::Internal, false, None)
}

/// Lexes one log record line; recipients go to `rcpts`, unescaped copies to `scratch`.
pub fn lex(line: &str, scratch: &mut String, rcpts: &mut Vec<Span>) -> Lex {
    if line.trim().is_empty() {
        return Lex::Skip(Skip::Empty);
    }
    if !line.trim_start().starts_with('{')
        && let Some(skip) = super::input::foreign(line)
    {
        return Lex::Skip(skip);
    }
    let record: Record = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(_) => return Lex::Malformed(Malformed::Json),
    };
    let what = match record.kind.as_ref() {
        "Reception" => What::Arrival { recipients: 0 },
        "Delivery" => What::Status(Kind::Delivered),
        "TransientFailure" => What::Status(Kind::Deferred),
        "Bounce" => What::Status(Kind::Bounced),
        "Expiration" => What::Status(Kind::Expired),
        other => return Lex::Skip(skip_of(other)),
    };
    let Some(id) = record.id.as_ref().filter(|id| !id.is_empty()) else {
        return Lex::Malformed(Malformed::MissingId);
    };
    let Some(time) = time_of(&record.event_time, &record.timestamp) else {
        return Lex::Malformed(Malformed::MissingTime);
    };
    rcpts.clear();
    match &record.recipient {
        Some(Recipients::One(r)) => rcpts.push(span(line, scratch, r)),
        Some(Recipients::Many(all)) => {
            for r in all {
                rcpts.push(span(line, scratch, r));
            }
        }
        None => {}
    }
    if rcpts.is_empty() {
        return Lex::Malformed(Malformed::MissingRecipient);
    }
    let message = u128::from_str_radix(id, 16)
        .ok()
        .filter(|_| id.len() == 32)
        .unwrap_or_else(|| identity(id.as_bytes()));
    let site = record.site.as_deref().unwrap_or("");
    let parts = site_parts(site);
    let site_span = match (parts, &record.site) {
        (Some((rollup, _)), Some(Cow::Borrowed(_))) => Span::of(line, rollup),
        (Some((rollup, _)), _) => Span::copy(scratch, rollup),
        (None, _) => Span::EMPTY,
    };
    let mut lexed = Lexed::new(
        time,
        what,
        message,
        LexExtra::Kumo {
            num_attempts: record.num_attempts.unwrap_or(0),
            queue: opt_span(line, scratch, &record.queue),
            site: site_span,
            source: opt_span(line, scratch, &record.egress_source),
        },
    );
    lexed.ends_with_recipients = true;
    lexed.sender = opt_span(line, scratch, &record.sender);
    if let Some(created) = time_of(&record.created_time, &record.created) {
        lexed.age = time
            .0
            .checked_sub(created.0)
            .and_then(|a| u64::try_from(a).ok());
    }
    set_relay(
        line,
        scratch,
        &record,
        parts.map(|(_, host)| host),
        &mut lexed,
    );
    if let What::Status(kind) = what {
        set_response(line, scratch, record.response.as_ref(), kind, &mut lexed);
    }
    Lex::Record(lexed)
}

fn set_relay(
    line: &str,
    scratch: &mut String,
    record: &Record,
    site_host: Option<&str>,
    lexed: &mut Lexed,
) {
    let peer = record.peer_address.as_ref();
    if let Some(host) = site_host.filter(|h| !h.is_empty()) {
        lexed.relay_host = match &record.site {
            Some(Cow::Borrowed(_)) => Span::of(line, host),
            _ => Span::copy(scratch, host),
        };
    } else if let Some(name) = peer.and_then(|p| p.name.as_ref()) {
        let trimmed = name.trim_end_matches('.');
        lexed.relay_host = match name {
            Cow::Borrowed(s) => Span::of(line, &s[..trimmed.len()]),
            Cow::Owned(_) => Span::copy(scratch, trimmed),
        };
    }
    lexed.relay_ip = peer.and_then(|p| p.addr.as_deref()).and_then(|a| {
        a.parse::<IpAddr>()
            .ok()
            .or_else(|| a.parse::<SocketAddr>().ok().map(|s| s.ip()))
    });
}

fn set_response(
    line: &str,
    scratch: &mut String,
    response: Option<&Response>,
    kind: Kind,
    lexed: &mut Lexed,
) {
    let content = response.and_then(|r| r.content.as_ref());
    let text = content.map_or("", |c| c.as_ref());
    lexed.reason = content.map_or(Span::EMPTY, |c| span(line, scratch, c));
    let code = response.and_then(|r| r.code);
    let enhanced = response
        .and_then(|r| r.enhanced_code.as_ref())
        .filter(|e| matches!(e.class, 2 | 4 | 5))
        .map(|e| Enhanced {
            class: e.class,
            subject: e.subject,
            detail: e.detail,
        });
    lexed.code = code;
    lexed.enhanced = enhanced;
    lexed.command = response
        .and_then(|r| r.command.as_deref())
        .map(Command::parse);
    let start = scratch.len();
    if let Some(code) = code {
        let _ = write!(scratch, "{code} ");
    }
    if let Some(e) = enhanced {
        let _ = write!(scratch, "{e} ");
    }
    scratch.push_str(text);
    lexed.reply = Span::in_scratch(start, scratch.len());
    let (class, handshake, inner_code) = match kind {
        Kind::Delivered => (OutcomeClass::Delivered, false, None),
        _ if text.starts_with(INTERNAL) => internal_class(text),
        // "451 4.4.4 failed to resolve queue gmail.com: ...": the MTA's own DNS, no receiver.
        _ if classify::is_dns_failure(text) => (OutcomeClass::Internal, false, None),
        _ => (
            code.map_or(OutcomeClass::Tempfail, |c| {
                ReplyKind::acted_on(c).outcome_class()
            }),
            false,
            None,
        ),
    };
    if kind == Kind::Deferred && text.starts_with(INTERNAL) && is_hold(text) {
        lexed.what = What::Status(Kind::Held);
    }
    if inner_code.is_some() {
        lexed.code = inner_code;
    }
    lexed.class = (kind != Kind::Expired).then_some(class);
    lexed.handshake = handshake;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites() {
        assert_eq!(
            site_parts("source2->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com.@smtp_client"),
            Some((
                "(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com",
                "gmail-smtp-in.l.google.com"
            ))
        );
        assert_eq!(
            site_parts("unspecified->mx.bigmail.example@smtp_client"),
            Some(("mx.bigmail.example", "mx.bigmail.example"))
        );
        assert_eq!(
            site_parts("s->(mta5|mta6|mta7).am0.yahoodns.net@smtp_client"),
            Some(("(mta5|mta6|mta7).am0.yahoodns.net", "am0.yahoodns.net"))
        );
        assert_eq!(site_parts("campaign:tenant@gmail.com"), None);
        assert_eq!(site_parts(""), None);
    }

    /// KumoMTA's own DNS failure (kumod's queue.rs words it so) is the MTA's, not a receiver's.
    #[test]
    fn a_failed_mx_lookup_is_internal() {
        let line = r#"{"type":"TransientFailure","id":"0000000808d12e650000000000004e20","recipient":"u@gmail.com","queue":"gmail.com","site":"","response":{"code":451,"enhanced_code":{"class":4,"subject":4,"detail":4},"content":"failed to resolve queue gmail.com: MX lookup for gmail.com failed: request timed out","command":null},"timestamp":1781398800,"event_time":"2026-06-14T01:00:00.005Z","created":1781398800,"num_attempts":0}"#;
        let (mut scratch, mut rcpts) = (String::new(), Vec::new());
        let Lex::Record(lexed) = lex(line, &mut scratch, &mut rcpts) else {
            panic!("not a record");
        };
        assert_eq!(lexed.class, Some(OutcomeClass::Internal));
        assert!(!lexed.handshake);
    }
}
