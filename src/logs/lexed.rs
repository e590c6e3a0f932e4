//! What the format lexers hand to the reader: one line's record, stateless and with its
//! strings as spans into the line (or the source's scratch buffer), so a record can wait in
//! the merge without copying and without borrowing.

use std::hash::Hasher;
use std::net::IpAddr;

use rustc_hash::FxHasher;
use serde::Serialize;

use super::classify::Command;
use super::{Kind, PostfixExtra, UnixMillis};
use crate::flow_control::OutcomeClass;
use crate::replies::Enhanced;

/// A piece of the current line (or, with the top bit set, of the scratch buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: u32,
    end: u32,
}

const SCRATCH: u32 = 1 << 31;

impl Span {
    pub const EMPTY: Span = Span { start: 0, end: 0 };

    /// The span of `sub`, a slice of `line`.
    pub fn of(line: &str, sub: &str) -> Span {
        let start = sub.as_ptr() as usize - line.as_ptr() as usize;
        Span {
            start: start as u32,
            end: (start + sub.len()) as u32,
        }
    }

    /// Appends `text` to `scratch` and spans it there.
    pub fn copy(scratch: &mut String, text: &str) -> Span {
        let start = scratch.len() as u32;
        scratch.push_str(text);
        Span {
            start: start | SCRATCH,
            end: scratch.len() as u32,
        }
    }

    /// The span of `scratch[start..end]`.
    pub fn in_scratch(start: usize, end: usize) -> Span {
        Span {
            start: start as u32 | SCRATCH,
            end: end as u32,
        }
    }

    pub fn is_empty(self) -> bool {
        self.start & !SCRATCH == self.end
    }

    /// The `len` bytes from `offset` within this span.
    pub fn sub(self, offset: usize, len: usize) -> Span {
        let start = self.start + offset as u32;
        Span {
            start,
            end: (start & !SCRATCH) + len as u32,
        }
    }
}

/// The buffers spans point into.
#[derive(Debug, Clone, Copy)]
pub struct Texts<'a> {
    pub line: &'a str,
    pub scratch: &'a str,
}

impl<'a> Texts<'a> {
    pub fn get(&self, span: Span) -> &'a str {
        if span.start & SCRATCH != 0 {
            &self.scratch[(span.start & !SCRATCH) as usize..span.end as usize]
        } else {
            &self.line[span.start as usize..span.end as usize]
        }
    }
}

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// A message entered the queue (recipients, if the format names them, in the
    /// source's recipient list).
    Arrival { recipients: u32 },
    /// An outcome for each recipient in the source's recipient list.
    Status(Kind),
    /// The whole message expired (Postfix): every recipient still open.
    Expired,
    /// The whole message is held (Exim `*** Frozen`): every recipient still open.
    Held,
    /// The message left the queue.
    Removed,
}

/// Format fields, with spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexExtra {
    Postfix(PostfixExtra),
    Kumo {
        num_attempts: u32,
        queue: Span,
        site: Span,
        source: Span,
    },
    Pmta {
        vmta: Span,
        bounce_category: Span,
    },
}

/// One line's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexed {
    pub time: UnixMillis,
    pub what: What,
    /// The message's identity in its format (queue ID, spool ID, ...), as a number.
    pub message: u128,
    /// The format has no removal record: a message ends with its last recipient.
    pub ends_with_recipients: bool,
    pub sender: Span,
    pub orig_to: Span,
    /// The whole reason/response text as logged.
    pub reason: Span,
    /// The receiver's reply (or the failure text) without the MTA's wrapping.
    pub reply: Span,
    pub code: Option<u16>,
    pub enhanced: Option<Enhanced>,
    pub command: Option<Command>,
    pub class: Option<OutcomeClass>,
    pub handshake: bool,
    pub relay_host: Span,
    pub relay_ip: Option<IpAddr>,
    /// A local delivery agent's relay (`relay=local`, `virtual`, `dovecot`): `relay_host`
    /// names the agent, not a receiving host.
    pub local: bool,
    pub age: Option<u64>,
    pub extra: LexExtra,
}

impl Lexed {
    /// A record with no reply, relay or extras yet.
    pub fn new(time: UnixMillis, what: What, message: u128, extra: LexExtra) -> Lexed {
        Lexed {
            time,
            what,
            message,
            ends_with_recipients: false,
            sender: Span::EMPTY,
            orig_to: Span::EMPTY,
            reason: Span::EMPTY,
            reply: Span::EMPTY,
            code: None,
            enhanced: None,
            command: None,
            class: None,
            handshake: false,
            relay_host: Span::EMPTY,
            relay_ip: None,
            local: false,
            age: None,
            extra,
        }
    }
}

/// A 128-bit identity for an ID string: its bytes when they fit, else two hashes.
pub fn identity(id: &[u8]) -> u128 {
    if id.len() <= 15 {
        let mut b = [0u8; 16];
        b[..id.len()].copy_from_slice(id);
        b[15] = id.len() as u8;
        return u128::from_le_bytes(b);
    }
    let (mut h1, mut h2) = (FxHasher::default(), FxHasher::with_seed(0x9e37_79b9));
    h1.write(id);
    h2.write(id);
    h2.write_u8(0xff);
    (1u128 << 127) | ((h1.finish() as u128) << 64) | h2.finish() as u128
}

/// Why a line was skipped (not a delivery record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    /// An empty line.
    Empty,
    /// Not a Postfix line (another program, no syslog header).
    NotPostfix,
    /// A Postfix line about something else (smtpd, cleanup, pickup, anvil, warnings...).
    PostfixOther,
    /// A delivery agent's line without a recipient status (`lost connection ...`).
    DeliveryAgentOther,
    /// An arrival line for a message already in flight: Postfix qmgr's `(queue active)`
    /// of a retry, or a repeated KumoMTA `Reception`.
    QmgrRetry,
    /// Address verification probes (`status=deliverable|undeliverable`).
    AddressVerification,
    /// KumoMTA records of the other types.
    KumoAdminBounce,
    KumoOob,
    KumoFeedback,
    KumoRejection,
    KumoRebind,
    KumoDelayed,
    KumoTransfer,
    KumoOther,
    /// PowerMTA header rows.
    PmtaHeader,
    /// PowerMTA records of the other types (r, tq, f, rb, rs, ...).
    PmtaReceipt,
    PmtaQueueTransient,
    PmtaFeedback,
    PmtaRemoteBounce,
    PmtaOther,
    /// Not an Exim main log line, or one without a message (queue runs, daemon starts,
    /// SMTP connections and rejections).
    NotExim,
    /// An Exim line about a message that is no delivery (`Tainted filename`, ...).
    EximOther,
    /// Exim `*>`: delivery suppressed by `-N`.
    EximSuppressed,
    /// rsyslog's `message repeated N times: [ ... ]`: the repeated line counts once.
    SyslogRepeat,
    /// A line of another format than the file's (a log with several formats mixed).
    ForeignPostfix,
    ForeignExim,
    ForeignKumo,
    ForeignPmta,
    /// A line of an MTA mtasim does not read (Sendmail, OpenSMTPD, qmail, Exchange).
    ForeignOther,
}

impl Skip {
    pub const ALL: [Skip; 29] = [
        Skip::Empty,
        Skip::NotPostfix,
        Skip::PostfixOther,
        Skip::DeliveryAgentOther,
        Skip::QmgrRetry,
        Skip::AddressVerification,
        Skip::KumoAdminBounce,
        Skip::KumoOob,
        Skip::KumoFeedback,
        Skip::KumoRejection,
        Skip::KumoRebind,
        Skip::KumoDelayed,
        Skip::KumoTransfer,
        Skip::KumoOther,
        Skip::PmtaHeader,
        Skip::PmtaReceipt,
        Skip::PmtaQueueTransient,
        Skip::PmtaFeedback,
        Skip::PmtaRemoteBounce,
        Skip::PmtaOther,
        Skip::NotExim,
        Skip::EximOther,
        Skip::EximSuppressed,
        Skip::SyslogRepeat,
        Skip::ForeignPostfix,
        Skip::ForeignExim,
        Skip::ForeignKumo,
        Skip::ForeignPmta,
        Skip::ForeignOther,
    ];

    /// Whether the line is of another format than the file's.
    pub fn is_foreign(self) -> bool {
        matches!(
            self,
            Skip::ForeignPostfix
                | Skip::ForeignExim
                | Skip::ForeignKumo
                | Skip::ForeignPmta
                | Skip::ForeignOther
        )
    }

    /// How reports name it.
    pub fn label(self) -> &'static str {
        match self {
            Skip::Empty => "empty line",
            Skip::NotPostfix => "not a Postfix line",
            Skip::PostfixOther => "other Postfix line",
            Skip::DeliveryAgentOther => "delivery agent line without a recipient status",
            Skip::QmgrRetry => "arrival of a message already queued (qmgr retry)",
            Skip::AddressVerification => "address verification",
            Skip::KumoAdminBounce => "KumoMTA AdminBounce",
            Skip::KumoOob => "KumoMTA OOB",
            Skip::KumoFeedback => "KumoMTA Feedback",
            Skip::KumoRejection => "KumoMTA Rejection",
            Skip::KumoRebind => "KumoMTA rebind",
            Skip::KumoDelayed => "KumoMTA Delayed",
            Skip::KumoTransfer => "KumoMTA transfer",
            Skip::KumoOther => "KumoMTA record of another type",
            Skip::PmtaHeader => "PowerMTA header row",
            Skip::PmtaReceipt => "PowerMTA r record",
            Skip::PmtaQueueTransient => "PowerMTA tq record",
            Skip::PmtaFeedback => "PowerMTA f record",
            Skip::PmtaRemoteBounce => "PowerMTA rb/rs record",
            Skip::PmtaOther => "PowerMTA record of another type",
            Skip::NotExim => "Exim line without a message",
            Skip::EximOther => "other Exim line about a message",
            Skip::EximSuppressed => "Exim delivery suppressed (*>)",
            Skip::SyslogRepeat => "syslog 'message repeated N times'",
            Skip::ForeignPostfix => "Postfix line (another format)",
            Skip::ForeignExim => "Exim line (another format)",
            Skip::ForeignKumo => "KumoMTA record (another format)",
            Skip::ForeignPmta => "PowerMTA record (another format)",
            Skip::ForeignOther => "line of an MTA mtasim does not read",
        }
    }
}

/// Why a delivery-looking line did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Malformed {
    Timestamp,
    QueueId,
    Recipient,
    Relay,
    Delay,
    Delays,
    Dsn,
    Status,
    UnknownStatus,
    Size,
    Json,
    MissingId,
    MissingRecipient,
    MissingTime,
    Csv,
    CsvRecordType,
    NoTimeColumn,
    LineTooLong,
}

impl Malformed {
    pub const ALL: [Malformed; 18] = [
        Malformed::Timestamp,
        Malformed::QueueId,
        Malformed::Recipient,
        Malformed::Relay,
        Malformed::Delay,
        Malformed::Delays,
        Malformed::Dsn,
        Malformed::Status,
        Malformed::UnknownStatus,
        Malformed::Size,
        Malformed::Json,
        Malformed::MissingId,
        Malformed::MissingRecipient,
        Malformed::MissingTime,
        Malformed::Csv,
        Malformed::CsvRecordType,
        Malformed::NoTimeColumn,
        Malformed::LineTooLong,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Malformed::Timestamp => "bad timestamp",
            Malformed::QueueId => "bad queue ID",
            Malformed::Recipient => "bad recipient (to=<...>)",
            Malformed::Relay => "missing or bad relay=",
            Malformed::Delay => "bad delay=",
            Malformed::Delays => "bad delays=",
            Malformed::Dsn => "bad dsn=",
            Malformed::Status => "missing status=",
            Malformed::UnknownStatus => "unknown status=",
            Malformed::Size => "bad size= or nrcpt=",
            Malformed::Json => "not a JSON log record",
            Malformed::MissingId => "missing message id",
            Malformed::MissingRecipient => "missing recipient",
            Malformed::MissingTime => "missing or bad time",
            Malformed::Csv => "bad CSV record",
            Malformed::CsvRecordType => "record without a type column",
            Malformed::NoTimeColumn => "record without a time column (timeLogged, timeQueued)",
            Malformed::LineTooLong => "line longer than 64 KiB",
        }
    }
}

/// A lexer's verdict on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lex {
    Record(Lexed),
    Skip(Skip),
    Malformed(Malformed),
}
