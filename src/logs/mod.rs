//! Real MTA delivery logs: read Postfix `maillog`, KumoMTA JSON log records and PowerMTA
//! accounting CSV into one normalised stream of [`Outcome`]s, and write those formats from
//! simulated events ([`write`](mod@write)).
//!
//! # Reading
//! [`LogReader::open`] takes several files (rotated logs, `.gz` and `.zst` decompressed
//! transparently, `-` for standard input) and yields their records as one stream in time
//! order: a k-way merge on record time, stable by file order for ties. It streams: memory is
//! bounded by the messages in flight (queue IDs not yet `removed`, KumoMTA/PowerMTA
//! recipients without a final record) and the number of distinct domains, hosts and reply
//! keys, not by the log's size. Each file's format is detected from its first non-empty
//! lines unless [`ReadOptions::format`] forces one.
//!
//! Lines that are not delivery records are *skipped* and counted by kind ([`Skip`]); lines
//! that look like delivery records but do not parse are *malformed* and counted by reason
//! ([`Malformed`]), the first ones kept with file and line. Neither stops the read. A file
//! that cannot be read, or a read in which no line parses, is a [`LogError`].
//!
//! # The normalised outcome
//! Every record becomes one [`Outcome`] (a KumoMTA record for several recipients, or a
//! Postfix `status=expired` message line, becomes one per recipient):
//! - `time`: absolute, [`UnixMillis`] (classic syslog stamps get a year and zone from
//!   [`ReadOptions`], reported per file in [`FileInfo::origin`]);
//! - `file`/`line`: where it came from;
//! - `queue` and `recipient`: the message as queued and one recipient of it. `recipient`
//!   alone is unique over the whole read; it is the key to follow one recipient's attempts.
//!   Postfix: queue ID (a new key after `removed`, since short IDs repeat) + recipient;
//!   KumoMTA: `id` + recipient; PowerMTA (which logs no message ID): `timeQueued`, `orig`,
//!   `jobId`, `envId` + `rcpt`. Arrivals and removals are about the message: no recipient;
//! - `kind` ([`Kind`]): arrival (Postfix qmgr's first `from=..., nrcpt=N (queue active)` of
//!   a queue ID, KumoMTA `Reception`), delivered, deferred, bounced, expired, held (the MTA
//!   deferred without an attempt: Postfix `delivery temporarily suspended`, KumoMTA's
//!   internal suspension and throttle responses), removed (Postfix `removed`);
//! - `code`, `enhanced`, `command`: the SMTP reply's code, RFC 3463 code (from the reply,
//!   else Postfix `dsn=` / PowerMTA `dsnStatus`) and the command it answered;
//! - `reply`: an interned grouping key of the receiver's reply text (Postfix's `host X
//!   said:` and `(in reply to ... command)` removed; identifiers masked, see
//!   [`classify::reply_key`]); the exact text is in [`LogReader::record`]. Delivered
//!   outcomes carry no key (their replies are unique per message);
//! - `class` and `handshake`: how flow control sees it (below);
//! - `domain`, `destination`: the recipient domain and its destination (below);
//! - `age`: time since the message arrived (Postfix `delay=`, KumoMTA `created`,
//!   PowerMTA `timeQueued`); `relay`: the MX host and address; `extra`: per format
//!   (Postfix `delays=` a/b/c/d and `conn_use=`, KumoMTA `num_attempts`/queue/site/egress
//!   source, PowerMTA vmta and bounce category).
//!
//! # Classes
//! | situation (as logged) | class | handshake |
//! |---|---|---|
//! | `status=sent`, KumoMTA `Delivery`, PowerMTA `d` | delivered | no |
//! | a 4xx reply (`host X said: 421 ...`, KumoMTA response, PowerMTA `dsnDiag`) | tempfail | no |
//! | a 5xx reply | permfail | no |
//! | greeting reject: `host X refused to talk to me: 421 ...`; KumoMTA `... read initial banner: Command rejected ...`; PowerMTA 4xx/5xx with an empty `dlvEsmtpAvailable` | by code | yes |
//! | `connect to X: Connection refused` / `No route to host`, KumoMTA `failed to connect ... Connection refused` | connect | yes |
//! | `connect to X: Connection timed out`, greeting timeouts (`conversation with X timed out while receiving the initial server greeting`, KumoMTA `timeout ... initial banner`) | timeout | yes |
//! | `lost connection with X while receiving the initial server greeting` | connect | yes |
//! | `lost connection` later in the session | tempfail | no |
//! | `conversation with X timed out while ...` later in the session | timeout | no |
//! | DNS failures (`Host or domain name not found`, `Name service error`), Postfix `unknown mail transport error` and local configuration errors, any other `KumoMTA internal:` response | internal | no |
//! | local delivery agents (`local`, `virtual`, `pipe`, ...) without a reply code | by status | no |
//! | held: Postfix `delivery temporarily suspended: X` | the class of X | no |
//! | held: KumoMTA `KumoMTA internal: ... suspended` / `throttled` | internal | no |
//!
//! Held outcomes are not attempts: count attempts by kind (delivered, deferred, bounced).
//! Arrivals, removals and expiries have no class.
//!
//! # Destinations
//! With `key: receiver` (the default) the destination is, in order: the provider whose MX
//! suffix matches the relay host ([`destinations::Providers`]: `*.yahoodns.net` -> yahoo,
//! `*.google.com` -> gmail, `*.protection.outlook.com` -> microsoft, `*.icloud.com` ->
//! apple, comcast, att, gmx, web.de, orange, mail.ru, yandex, zoho, proofpoint, mimecast,
//! barracuda, kpn; extensible by a JSON file `{"name": ["suffix", ...]}`); else the relay
//! host's registrable label (`mx1.bigmail.example` -> bigmail, `mx.orange.fr` -> orange,
//! two-part suffixes such as `co.uk` handled); else, without a relay host (DNS failures,
//! `relay=none` without a host in the reason, KumoMTA suspensions), the destination last
//! seen for the recipient domain; else the domain itself. The relay host is Postfix's
//! `relay=` (or the host in a `connect to`/`host X` reason), KumoMTA's `site` (its MX rollup
//! name with `<source>->` and `@smtp_client` stripped) or `peer_address.name`, PowerMTA's
//! `dsnMta`. With `key: domain` the destination is the recipient domain.
//!
//! ```
//! use mtasim::logs::{Kind, LogReader, ReadOptions};
//!
//! let maillog = "Jun 14 18:08:39 mx postfix/smtp[1283]: F024DAA029B: to=<bob@aol.com>, \
//!     relay=mx-aol.mail.gm0.yahoodns.net[98.136.96.92]:25, delay=59235, \
//!     delays=59232/0.06/2.3/0.13, dsn=4.7.0, status=deferred (host \
//!     mx-aol.mail.gm0.yahoodns.net[98.136.96.92] said: 421 4.7.0 [TSS04] Messages from \
//!     203.0.113.7 temporarily deferred (in reply to MAIL FROM command))\n";
//! let input: Box<dyn std::io::BufRead + Send> = Box::new(maillog.as_bytes());
//! let options = ReadOptions { year: Some(2026), ..ReadOptions::default() };
//! let mut reader = LogReader::from_readers(vec![("maillog".into(), input, None)], options).unwrap();
//! let o = reader.next_outcome().unwrap().unwrap();
//! assert_eq!(o.kind, Kind::Deferred);
//! assert_eq!(reader.text(o.destination), "yahoo");
//! assert_eq!(o.time.to_string(), "2026-06-14T18:08:39.000Z");
//! assert_eq!(reader.record().unwrap().reply, "421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred");
//! assert!(reader.next_outcome().unwrap().is_none());
//! ```

pub mod classify;
pub mod destinations;
mod exim;
mod input;
mod kumo;
mod lexed;
mod lexer;
pub(crate) mod pmta;
mod postfix;
mod reader;
pub mod symbols;
pub mod time;
pub mod write;

use std::net::IpAddr;

use serde::Serialize;

pub use classify::Command;
pub use input::detect;
pub use lexed::{Malformed, Skip};
pub use reader::{
    FileInfo, LineStats, LogError, LogReader, MalformedLine, ReadOptions, RecordText, TruncatedFile,
};
pub use symbols::{Sym, Symbols};
pub use time::{TimeOrigin, UnixMillis, YearSource};

use crate::flow_control::OutcomeClass;
pub use crate::replies::Enhanced;

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The message entered the queue.
    Arrival,
    Delivered,
    Deferred,
    Bounced,
    Expired,
    /// The MTA itself deferred it without an attempt (a flow-control hold).
    Held,
    /// The message left the queue (Postfix `removed`).
    Removed,
}

/// The message as queued, unique over one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct QueueKey(pub u32);

/// One recipient of one message, unique over one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RecipientKey(pub u32);

/// The receiving host of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relay {
    /// The MX host name (`NONE`: unknown).
    pub host: Sym,
    pub ip: Option<IpAddr>,
}

/// Postfix fields of a delivery-status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PostfixExtra {
    /// `delays=a/b/c/d` in milliseconds: before the active queue, in the queue manager,
    /// connection setup, transmission.
    pub delays: Option<[u32; 4]>,
    /// `conn_use=N`: the Nth delivery over this connection (1 when absent).
    pub conn_use: u32,
}

/// KumoMTA fields of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KumoExtra {
    pub num_attempts: u32,
    pub queue: Sym,
    /// The site (MX rollup) name, `<source>->` and `@smtp_client` stripped.
    pub site: Sym,
    pub egress_source: Sym,
}

/// PowerMTA fields of an accounting record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PmtaExtra {
    pub vmta: Sym,
    pub bounce_category: Sym,
}

/// Fields only one format has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    Postfix(PostfixExtra),
    KumoMta(KumoExtra),
    Pmta(PmtaExtra),
}

/// One normalised record: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub time: UnixMillis,
    /// Index into [`LogReader::files`].
    pub file: u16,
    /// 1-based line (CSV: record) number in that file.
    pub line: u64,
    pub kind: Kind,
    pub queue: QueueKey,
    pub recipient: Option<RecipientKey>,
    /// Arrivals: the message's recipient count (Postfix `nrcpt=`); otherwise 1.
    pub recipients: u32,
    pub domain: Sym,
    pub destination: Sym,
    pub code: Option<u16>,
    pub enhanced: Option<Enhanced>,
    pub command: Option<Command>,
    pub reply: Sym,
    pub class: Option<OutcomeClass>,
    pub handshake: bool,
    /// Milliseconds since the message arrived.
    pub age: Option<u64>,
    pub relay: Relay,
    pub extra: Extra,
}
