//! SMTP replies: a catalogue of what large providers really send, and a book that interns
//! replies into small handles.
//!
//! Scenario files name replies either by catalogue name (`"yahoo-tss04"`) or literally
//! (`"421 4.7.0 [TSS09] too many connections"`). Both resolve once, when a run starts, to a
//! [`ReplyId`]; the hot path then passes two bytes around instead of strings, and the
//! flow-control rules match their regexes against the full text only when they need to.
//! The MTA interns its own replies (internal errors, timeouts) in the same book.

use std::collections::HashMap;

use serde::Serialize;

use crate::validate::{Check, Invalid};

/// The family of an SMTP reply code: what the sender must do with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyKind {
    /// 2xx: the receiver took the message.
    Accepted,
    /// 4xx: try again later.
    Temporary,
    /// 5xx: do not retry; the message bounces.
    Permanent,
}

impl ReplyKind {
    /// The family of `code`, or `None` for codes a final reply cannot have (1xx, 3xx, ...).
    fn of_code(code: u16) -> Option<ReplyKind> {
        match code / 100 {
            2 => Some(ReplyKind::Accepted),
            4 => Some(ReplyKind::Temporary),
            5 => Some(ReplyKind::Permanent),
            _ => None,
        }
    }

    /// How error messages name the family.
    pub fn describe(self) -> &'static str {
        match self {
            ReplyKind::Accepted => "an accepting (2xx)",
            ReplyKind::Temporary => "a temporary (4xx)",
            ReplyKind::Permanent => "a permanent (5xx)",
        }
    }
}

/// A small handle on a reply interned in a [`ReplyBook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyId(u16);

impl ReplyId {
    /// Position in the book, for tables indexed by reply.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One reply as an SMTP client logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit SMTP code (connection failures, which have none on the wire, carry
    /// the 421 an SMTP client reports for a lost channel).
    pub code: u16,
    /// The RFC 3463 enhanced status code (`"4.7.28"`), if the reply has one.
    pub enhanced: Option<String>,
    /// The full reply line as logged: what flow-control rules match against.
    pub text: String,
    /// The catalogue name, when the reply came from (or equals) a catalogue entry.
    pub name: Option<&'static str>,
}

impl Reply {
    /// Whether the reply accepts, defers or refuses.
    pub fn class(&self) -> ReplyKind {
        ReplyKind::of_code(self.code).unwrap_or(ReplyKind::Temporary)
    }

    /// Parses a literal reply line: a 2xx, 4xx or 5xx code, then a space or `-`, then
    /// optionally an enhanced status code of the same class, then free text.
    pub fn parse(line: &str) -> Result<Reply, String> {
        let line = line.trim();
        let digits = line
            .get(..3)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
        let code: u16 = digits
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("{line:?} does not start with a three-digit SMTP code"))?;
        if ReplyKind::of_code(code).is_none() {
            return Err(format!(
                "{line:?}: reply code {code} is not a final reply (2xx, 4xx or 5xx)"
            ));
        }
        let rest = &line[3..];
        if !(rest.is_empty() || rest.starts_with([' ', '-'])) {
            return Err(format!(
                "{line:?}: expected a space or '-' after the code {code}"
            ));
        }
        let enhanced = enhanced_code(line, code, rest.get(1..).unwrap_or(""))?;
        Ok(Reply {
            code,
            enhanced,
            text: line.to_string(),
            name: None,
        })
    }

    /// A catalogue name or a literal reply line.
    pub fn resolve(spec: &str) -> Result<Reply, String> {
        let spec = spec.trim();
        if spec.starts_with(|c: char| c.is_ascii_digit()) {
            return Reply::parse(spec);
        }
        find(spec).map(CatalogueEntry::reply).ok_or_else(|| {
            format!(
                "unknown reply {spec:?}: expected a catalogue name (see `mtasim replies`) \
                 or a literal SMTP reply such as \"421 4.7.0 try again later\""
            )
        })
    }
}

/// The enhanced status code at the start of `after_code`, if it has the form `c.s.d`.
/// One whose class differs from the reply code's is refused: a client would distrust it.
fn enhanced_code(line: &str, code: u16, after_code: &str) -> Result<Option<String>, String> {
    let token = after_code.split_whitespace().next().unwrap_or("");
    let parts: Vec<&str> = token.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 3 || !parts.iter().all(numeric) || parts[0].len() != 1 {
        return Ok(None);
    }
    if parts[0] != (code / 100).to_string() {
        return Err(format!(
            "{line:?}: enhanced status {token} does not match reply code {code}"
        ));
    }
    Ok(Some(token.to_string()))
}

/// One built-in reply: its name, code and the text the provider really sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CatalogueEntry {
    pub name: &'static str,
    pub code: u16,
    pub enhanced: Option<&'static str>,
    pub text: &'static str,
    /// What the provider means by it.
    pub meaning: &'static str,
}

impl CatalogueEntry {
    fn reply(&self) -> Reply {
        Reply {
            code: self.code,
            enhanced: self.enhanced.map(str::to_string),
            text: self.text.to_string(),
            name: Some(self.name),
        }
    }
}

/// The built-in catalogue, for `mtasim replies`.
pub fn catalogue() -> &'static [CatalogueEntry] {
    CATALOGUE
}

/// The catalogue entry called `name`.
pub fn find(name: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|entry| entry.name == name)
}

/// Texts follow the providers' published or widely logged replies (see the reference notes,
/// section 5); the sending IP is the documentation address 203.0.113.7.
const CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        name: "accepted",
        code: 250,
        enhanced: Some("2.0.0"),
        text: "250 2.0.0 OK: queued",
        meaning: "the message was accepted",
    },
    CatalogueEntry {
        name: "gmail-4.7.28",
        code: 421,
        enhanced: Some("4.7.28"),
        text: "421-4.7.28 [203.0.113.7] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. Please visit https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email Senders Guidelines. - gsmtp",
        meaning: "Gmail: reputation-driven rate limit on the sending IP",
    },
    CatalogueEntry {
        name: "gmail-4.7.0",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421-4.7.0 [203.0.113.7] Our system has detected that this message is suspicious due to the very low reputation of the sending domain. To best protect our users from spam, the message has been blocked. Please visit https://support.google.com/mail/answer/188131 for more information. - gsmtp",
        meaning: "Gmail: low reputation of the sending domain",
    },
    CatalogueEntry {
        name: "gmail-4.2.1",
        code: 450,
        enhanced: Some("4.2.1"),
        text: "450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later point. If the user is able to receive mail at that time, your message will be delivered. For more information, please visit https://support.google.com/mail/?p=ReceivingRate - gsmtp",
        meaning: "Gmail: the recipient receives mail too quickly",
    },
    CatalogueEntry {
        name: "gmail-4.3.0",
        code: 451,
        enhanced: Some("4.3.0"),
        text: "451 4.3.0 Mail server temporarily rejected message. - gsmtp",
        meaning: "Gmail: generic transient failure",
    },
    CatalogueEntry {
        name: "yahoo-ts01",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421 4.7.0 [TS01] Messages from 203.0.113.7 temporarily deferred due to user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        meaning: "Yahoo: deferred for user complaints (reputation)",
    },
    CatalogueEntry {
        name: "yahoo-ts02",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421 4.7.0 [TS02] Messages from 203.0.113.7 temporarily deferred due to unusual traffic patterns from your server. Submit your sending IPs for review - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        meaning: "Yahoo: unusual traffic pattern (rate)",
    },
    CatalogueEntry {
        name: "yahoo-ts03",
        code: 421,
        enhanced: Some("4.7.1"),
        text: "421 4.7.1 [TS03] All messages from 203.0.113.7 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
        meaning: "Yahoo: volume characteristic of bulk; do not retry until practices change",
    },
    CatalogueEntry {
        name: "yahoo-tss04",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        meaning: "Yahoo: unexpected volume or complaints per IP; pause the IP for about 2 h",
    },
    CatalogueEntry {
        name: "yahoo-max-per-connection",
        code: 421,
        enhanced: None,
        text: "421 Max message per connection reached, closing transmission channel",
        meaning: "Yahoo: per-connection message limit; reconnect to continue",
    },
    CatalogueEntry {
        name: "microsoft-4.7.650",
        code: 451,
        enhanced: Some("4.7.650"),
        text: "451 4.7.650 The mail server [203.0.113.7] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://aka.ms/postmaster (S775)",
        meaning: "Microsoft: reputation-driven rate limit",
    },
    CatalogueEntry {
        name: "microsoft-rp-001",
        code: 421,
        enhanced: None,
        text: "421 RP-001 Unfortunately, some messages from 203.0.113.7 weren't sent. Please try again. We have limits for how many messages can be sent per hour and per day. You can also refer to https://aka.ms/postmaster",
        meaning: "Microsoft: hourly or daily volume limit (IP/domain reputation)",
    },
    CatalogueEntry {
        name: "microsoft-s3150",
        code: 550,
        enhanced: Some("5.7.1"),
        text: "550 5.7.1 Unfortunately, messages from [203.0.113.7] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to https://aka.ms/postmaster",
        meaning: "Microsoft: blocked; what a sender gets for not slowing down after 4xx",
    },
    CatalogueEntry {
        name: "greylist",
        code: 451,
        enhanced: Some("4.7.1"),
        text: "451 4.7.1 Greylisted, please try again later",
        meaning: "greylisting: the first attempt of a message is deferred",
    },
    CatalogueEntry {
        name: "user-unknown",
        code: 550,
        enhanced: Some("5.1.1"),
        text: "550 5.1.1 Recipient address rejected: User unknown",
        meaning: "the recipient does not exist (hard bounce)",
    },
    CatalogueEntry {
        name: "generic-421",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421 4.7.0 Too many connections, try again later",
        meaning: "connection limit reached",
    },
    CatalogueEntry {
        name: "generic-451",
        code: 451,
        enhanced: Some("4.3.0"),
        text: "451 4.3.0 Temporary failure, server busy, try again later",
        meaning: "generic transient failure",
    },
    CatalogueEntry {
        name: "generic-rate-limit",
        code: 450,
        enhanced: Some("4.7.1"),
        text: "450 4.7.1 Rate limit exceeded, try again later",
        meaning: "generic rate limit",
    },
    CatalogueEntry {
        name: "generic-throttle",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421 4.7.0 Temporarily deferred due to sender reputation, try again later",
        meaning: "generic reputation throttling",
    },
    CatalogueEntry {
        name: "generic-block",
        code: 554,
        enhanced: Some("5.7.1"),
        text: "554 5.7.1 Service unavailable; client host [203.0.113.7] blocked due to poor reputation",
        meaning: "generic reputation block",
    },
    CatalogueEntry {
        name: "connection-refused",
        code: 421,
        enhanced: Some("4.4.1"),
        text: "connect to mx.example[203.0.113.9]:25: Connection refused",
        meaning: "TCP connection refused (what the MTA logs)",
    },
    CatalogueEntry {
        name: "connection-timeout",
        code: 421,
        enhanced: Some("4.4.1"),
        text: "connect to mx.example[203.0.113.9]:25: Connection timed out",
        meaning: "TCP connection not answered within the connect timeout (what the MTA logs)",
    },
    CatalogueEntry {
        name: "greeting-timeout",
        code: 421,
        enhanced: Some("4.4.2"),
        text: "conversation with mx.example[203.0.113.9] timed out while receiving the initial server greeting",
        meaning: "connected, but no greeting within the greeting timeout (what the MTA logs)",
    },
];

/// Every distinct reply of a run, interned: the same text always gets the same id.
#[derive(Debug, Clone, Default)]
pub struct ReplyBook {
    replies: Vec<Reply>,
    by_text: HashMap<String, ReplyId>,
}

impl ReplyBook {
    pub fn new() -> Self {
        ReplyBook::default()
    }

    /// Interns a catalogue name or a literal reply line.
    pub fn intern(&mut self, spec: &str) -> Result<ReplyId, String> {
        let reply = Reply::resolve(spec)?;
        if let Some(&id) = self.by_text.get(&reply.text) {
            let known = &mut self.replies[id.index()];
            known.name = known.name.or(reply.name);
            return Ok(id);
        }
        let id = u16::try_from(self.replies.len())
            .map(ReplyId)
            .map_err(|_| "too many distinct replies (at most 65536)".to_string())?;
        self.by_text.insert(reply.text.clone(), id);
        self.replies.push(reply);
        Ok(id)
    }

    /// The reply behind `id`. Panics on an id from another book.
    pub fn get(&self, id: ReplyId) -> &Reply {
        &self.replies[id.index()]
    }

    pub fn len(&self) -> usize {
        self.replies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// Every interned reply with its id, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (ReplyId, &Reply)> {
        self.replies
            .iter()
            .enumerate()
            .map(|(i, reply)| (ReplyId(i as u16), reply))
    }
}

/// Refuses a reply `spec` at `path` that does not resolve, or whose class is not `want`
/// (`what` names its use: "a rate limit reply").
pub fn check_reply(path: &str, spec: &str, want: ReplyKind, what: &str) -> Check {
    let reply = Reply::resolve(spec).map_err(|message| Invalid::new(path, message))?;
    if reply.class() == want {
        return Ok(());
    }
    Err(Invalid::new(
        path,
        format!(
            "{what} must be {} reply, but {spec:?} is {} reply",
            want.describe(),
            reply.class().describe()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn catalogue_entries_are_consistent() {
        for entry in catalogue() {
            let reply = entry.reply();
            if entry.text.starts_with(|c: char| c.is_ascii_digit()) {
                let parsed = Reply::parse(entry.text).unwrap();
                assert_eq!(parsed.code, entry.code, "{}", entry.name);
                assert_eq!(parsed.enhanced.as_deref(), entry.enhanced, "{}", entry.name);
            } else {
                assert!(entry.name.starts_with("connection-") || entry.name == "greeting-timeout");
            }
            // A name carrying a status code ("gmail-4.7.28") carries its class too.
            if let Some(digit) = entry.name.split('-').nth(1).and_then(|s| s.get(..2))
                && digit.ends_with('.')
            {
                assert_eq!(digit[..1], (entry.code / 100).to_string(), "{}", entry.name);
            }
            assert_eq!(find(entry.name), Some(entry));
            assert_eq!(reply.class() == ReplyKind::Temporary, entry.code / 100 == 4);
        }
        let kind = |name| find(name).unwrap().reply().class();
        assert_eq!(kind("accepted"), ReplyKind::Accepted);
        assert_eq!(kind("microsoft-s3150"), ReplyKind::Permanent);
        assert_eq!(kind("user-unknown"), ReplyKind::Permanent);
        assert_eq!(kind("generic-block"), ReplyKind::Permanent);
        for temporary in [
            "gmail-4.7.28",
            "gmail-4.7.0",
            "gmail-4.2.1",
            "yahoo-ts01",
            "yahoo-ts02",
            "yahoo-ts03",
            "yahoo-tss04",
            "yahoo-max-per-connection",
            "microsoft-4.7.650",
            "microsoft-rp-001",
            "greylist",
            "generic-421",
            "generic-451",
        ] {
            assert_eq!(kind(temporary), ReplyKind::Temporary, "{temporary}");
        }
        let names: std::collections::HashSet<_> = catalogue().iter().map(|e| e.name).collect();
        assert_eq!(names.len(), catalogue().len());
    }

    #[test]
    fn rule_regexes_match_catalogue_texts() {
        let text = find("yahoo-tss04").unwrap().text;
        assert!(Regex::new(r"\[TSS04\]").unwrap().is_match(text));
        assert!(
            Regex::new(r"4\.7\.28")
                .unwrap()
                .is_match(find("gmail-4.7.28").unwrap().text)
        );
        assert!(
            Regex::new(r"\(S3150\)")
                .unwrap()
                .is_match(find("microsoft-s3150").unwrap().text)
        );
    }

    #[test]
    fn interning_deduplicates_names_and_literals() {
        let mut book = ReplyBook::new();
        let named = book.intern("generic-421").unwrap();
        let literal = book
            .intern("421 4.7.0 Too many connections, try again later")
            .unwrap();
        assert_eq!(named, literal);
        let other = book
            .intern("421 4.7.0 [TSS09] too many connections")
            .unwrap();
        assert_ne!(named, other);
        assert_eq!(
            book.intern(" 421 4.7.0 [TSS09] too many connections ")
                .unwrap(),
            other
        );
        assert_eq!(book.len(), 2);
        assert_eq!(book.get(named).name, Some("generic-421"));
        assert_eq!(book.get(other).name, None);
        assert_eq!(book.get(other).enhanced.as_deref(), Some("4.7.0"));
        // A literal first, then its name: the name is remembered.
        let mut book = ReplyBook::new();
        let id = book
            .intern("451 4.7.1 Greylisted, please try again later")
            .unwrap();
        assert_eq!(book.intern("greylist").unwrap(), id);
        assert_eq!(book.get(id).name, Some("greylist"));
        assert_eq!(book.iter().count(), 1);
    }

    #[test]
    fn literals_parse_or_are_refused() {
        let r = Reply::parse("550-5.7.1 blocked").unwrap();
        assert_eq!((r.code, r.enhanced.as_deref()), (550, Some("5.7.1")));
        assert_eq!(r.class(), ReplyKind::Permanent);
        let r = Reply::parse("421 RP-001 limits").unwrap();
        assert_eq!((r.code, r.enhanced), (421, None));
        assert_eq!(Reply::parse("250").unwrap().class(), ReplyKind::Accepted);
        for bad in [
            "",
            "42",
            "354 go ahead",
            "421x",
            "421 5.7.1 mismatch",
            "abc",
        ] {
            assert!(Reply::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(
            Reply::resolve("no-such-reply")
                .unwrap_err()
                .contains("unknown reply")
        );
    }

    #[test]
    fn reply_class_is_checked() {
        assert!(
            check_reply(
                "r",
                "yahoo-ts02",
                ReplyKind::Temporary,
                "a rate limit reply"
            )
            .is_ok()
        );
        let err = check_reply(
            "r",
            "microsoft-s3150",
            ReplyKind::Temporary,
            "a rate limit reply",
        )
        .unwrap_err();
        assert_eq!(err.path, "r");
        assert!(
            err.message.contains("must be a temporary (4xx) reply"),
            "{}",
            err.message
        );
    }
}
