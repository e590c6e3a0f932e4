//! SMTP replies: a catalogue of what large providers really send, and a book that interns
//! replies into small handles.
//!
//! Scenario files name replies either by catalogue name (`"yahoo-tss04"`) or literally
//! (`"421 4.7.0 [TSS09] too many connections"`). Both resolve once, when a run starts, to a
//! [`ReplyId`]; the hot path then passes two bytes around instead of strings, and the
//! flow-control rules match their regexes against the full text only when they need to.
//! The MTA interns its own replies (internal errors, timeouts) in the same book.
//!
//! What a reply means is decided here, once, for the simulator and for real logs alike: its
//! kind (2xx, 4xx, 5xx) and the outcome class flow control counts ([`ReplyKind`]), the
//! bounce reason of a permanent one ([`BounceReason::of`]), and what its words say the
//! receiver is doing ([`Signal`]: rate limit, greylisting, block, ...).

mod catalogue;
mod code;
mod meaning;

use std::collections::HashMap;

use serde::Serialize;

pub use catalogue::{CatalogueEntry, catalogue, find};
pub use code::{Enhanced, ReplyCode, reply_code};
pub use meaning::{KNOWN, KnownReply, Signal, known};

use crate::flow_control::OutcomeClass;

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
    pub fn of_code(code: u16) -> Option<ReplyKind> {
        match code / 100 {
            2 => Some(ReplyKind::Accepted),
            4 => Some(ReplyKind::Temporary),
            5 => Some(ReplyKind::Permanent),
            _ => None,
        }
    }

    /// What a client does with a reply of `code`: a code no final reply can have leaves the
    /// message queued, as a temporary failure does.
    pub fn acted_on(code: u16) -> ReplyKind {
        ReplyKind::of_code(code).unwrap_or(ReplyKind::Temporary)
    }

    /// The outcome of a transaction answered with a reply of this family, as flow control
    /// counts it.
    pub fn outcome_class(self) -> OutcomeClass {
        match self {
            ReplyKind::Accepted => OutcomeClass::Delivered,
            ReplyKind::Temporary => OutcomeClass::Tempfail,
            ReplyKind::Permanent => OutcomeClass::Permfail,
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

/// Why a message bounced (failed permanently before expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BounceReason {
    /// 550 5.1.1: the recipient does not exist.
    UserUnknown,
    /// A 5.7.x policy rejection: the receiver blocks us.
    Blocked,
    /// Any other permanent failure.
    Rejected,
    /// A flow-control rule with action `bounce` failed the message.
    FlowControlRule,
}

impl BounceReason {
    /// Why a message answered with a permanent reply of enhanced status `code` bounced
    /// (RFC 3463): 5.1.1 is a bad mailbox, 5.7.x a policy (block) rejection, anything else
    /// (or no enhanced code) a rejection.
    pub fn of(code: Option<Enhanced>) -> BounceReason {
        match code {
            Some(Enhanced {
                class: 5,
                subject: 1,
                detail: 1,
            }) => BounceReason::UserUnknown,
            Some(Enhanced {
                class: 5,
                subject: 7,
                ..
            }) => BounceReason::Blocked,
            _ => BounceReason::Rejected,
        }
    }

    pub const ALL: [BounceReason; 4] = [
        BounceReason::UserUnknown,
        BounceReason::Blocked,
        BounceReason::Rejected,
        BounceReason::FlowControlRule,
    ];

    /// The name in summary.json's `bounces_by_reason`.
    pub fn name(self) -> &'static str {
        match self {
            BounceReason::UserUnknown => "user_unknown",
            BounceReason::Blocked => "blocked",
            BounceReason::Rejected => "rejected",
            BounceReason::FlowControlRule => "flow_control_rule",
        }
    }
}

/// A small handle on a reply interned in a [`ReplyBook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyId(u16);

impl ReplyId {
    /// No reply (a message not yet attempted). The book never hands it out.
    pub const NONE: ReplyId = ReplyId(u16::MAX);

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
    pub fn kind(&self) -> ReplyKind {
        ReplyKind::acted_on(self.code)
    }

    /// The outcome of a transaction answered with this reply, as flow control counts it.
    pub fn outcome_class(&self) -> OutcomeClass {
        self.kind().outcome_class()
    }

    /// Why a message answered with this (permanent) reply bounced: [`BounceReason::of`] its
    /// enhanced status code.
    pub fn bounce_reason(&self) -> BounceReason {
        BounceReason::of(self.enhanced.as_deref().and_then(Enhanced::parse))
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
        self.insert(Reply::resolve(spec)?)
    }

    /// Interns `spec`, which must be a reply of kind `want` (`what` names its use in the
    /// message: "a rate limit reply").
    pub fn intern_as(
        &mut self,
        spec: &str,
        want: ReplyKind,
        what: &str,
    ) -> Result<ReplyId, String> {
        let reply = Reply::resolve(spec)?;
        if reply.kind() != want {
            return Err(format!(
                "{what} must be {} reply, but {spec:?} is {} reply",
                want.describe(),
                reply.kind().describe()
            ));
        }
        self.insert(reply)
    }

    fn insert(&mut self, reply: Reply) -> Result<ReplyId, String> {
        if let Some(&id) = self.by_text.get(&reply.text) {
            let known = &mut self.replies[id.index()];
            known.name = known.name.or(reply.name);
            return Ok(id);
        }
        let id = u16::try_from(self.replies.len())
            .map(ReplyId)
            .ok()
            .filter(|id| *id != ReplyId::NONE)
            .ok_or_else(|| "too many distinct replies (at most 65535)".to_string())?;
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
            assert_eq!(reply.kind() == ReplyKind::Temporary, entry.code / 100 == 4);
        }
        let kind = |name| find(name).unwrap().reply().kind();
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
        assert_eq!(r.kind(), ReplyKind::Permanent);
        let r = Reply::parse("421 RP-001 limits").unwrap();
        assert_eq!((r.code, r.enhanced), (421, None));
        assert_eq!(Reply::parse("250").unwrap().kind(), ReplyKind::Accepted);
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
    fn reply_kind_is_checked_when_interned() {
        let mut book = ReplyBook::new();
        let rate_limit = |book: &mut ReplyBook, spec| {
            book.intern_as(spec, ReplyKind::Temporary, "a rate limit reply")
        };
        assert_eq!(
            rate_limit(&mut book, "yahoo-ts02"),
            book.intern("yahoo-ts02")
        );
        let err = rate_limit(&mut book, "microsoft-s3150").unwrap_err();
        assert!(err.contains("must be a temporary (4xx) reply"), "{err}");
        assert_eq!(book.len(), 1, "a refused reply is not interned");
    }

    #[test]
    fn replies_say_what_they_mean() {
        let meaning = |spec| {
            let reply = Reply::resolve(spec).unwrap();
            (reply.outcome_class(), reply.bounce_reason())
        };
        assert_eq!(meaning("accepted").0, OutcomeClass::Delivered);
        assert_eq!(meaning("yahoo-tss04").0, OutcomeClass::Tempfail);
        assert_eq!(
            meaning("user-unknown"),
            (OutcomeClass::Permfail, BounceReason::UserUnknown)
        );
        assert_eq!(
            meaning("microsoft-s3150"),
            (OutcomeClass::Permfail, BounceReason::Blocked)
        );
        assert_eq!(
            meaning("550 5.2.2 mailbox full"),
            (OutcomeClass::Permfail, BounceReason::Rejected)
        );
    }
}
