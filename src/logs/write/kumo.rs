//! The KumoMTA log writer: `Reception`, `Delivery`, `TransientFailure`, `Bounce` and
//! `Expiration` records with `JsonLogRecord`'s field names, one JSON object per line.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use super::{
    Arrival, Attempt, Expiry, Millis, Written, domain_of, is_greeting, mix, push_datetime,
    push_padded,
};
use crate::flow_control::OutcomeClass;
use crate::logs::UnixMillis;
use crate::logs::classify::Command;
use crate::replies::{Enhanced, reply_code};

#[derive(Serialize)]
struct Code {
    class: u8,
    subject: u16,
    detail: u16,
}

#[derive(Serialize)]
struct Response<'a> {
    code: u16,
    enhanced_code: Option<Code>,
    content: &'a str,
    command: Option<&'a str>,
}

#[derive(Serialize)]
struct Peer<'a> {
    name: &'a str,
    addr: &'a str,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Record<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    sender: &'a str,
    recipient: &'a str,
    queue: &'a str,
    site: &'a str,
    size: u32,
    response: Response<'a>,
    peer_address: Option<Peer<'a>>,
    timestamp: i64,
    event_time: &'a str,
    created: i64,
    created_time: &'a str,
    num_attempts: u32,
    bounce_classification: &'a str,
    egress_pool: Option<&'a str>,
    egress_source: Option<&'a str>,
    feedback_report: Option<()>,
    meta: Empty,
    headers: Empty,
    delivery_protocol: Option<&'a str>,
    reception_protocol: &'a str,
    nodeid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
}

const NODE: &str = "557f3ad4-2c8c-11ee-976e-782d7e12e173";

/// Reused text buffers for the fields that need formatting.
#[derive(Default)]
struct Texts {
    id: String,
    site: String,
    event_time: String,
    created_time: String,
    content: String,
    command: String,
    addr: String,
    session: String,
}

/// Writes a KumoMTA `kumo-log.jsonl`.
pub struct KumoWriter<W: Write> {
    out: W,
    start: UnixMillis,
    texts: Texts,
    time_buf: Vec<u8>,
}

impl<W: Write> KumoWriter<W> {
    /// A writer whose simulated time 0 is `start`.
    pub fn new(out: W, start: UnixMillis) -> Self {
        KumoWriter {
            out,
            start,
            texts: Texts::default(),
            time_buf: Vec::with_capacity(32),
        }
    }

    fn rfc3339(&mut self, t: Millis, into_created: bool) -> i64 {
        let instant = self.start.plus(t as i64);
        self.time_buf.clear();
        push_datetime(&mut self.time_buf, &instant.civil(), b'T');
        self.time_buf.push(b'.');
        push_padded(&mut self.time_buf, instant.civil().milli as u64, 3);
        self.time_buf.push(b'Z');
        let text = std::str::from_utf8(&self.time_buf).expect("ASCII");
        let target = if into_created {
            &mut self.texts.created_time
        } else {
            &mut self.texts.event_time
        };
        target.clear();
        target.push_str(text);
        instant.seconds()
    }

    fn id(&mut self, message: u32) {
        self.texts.id.clear();
        let _ = write!(
            self.texts.id,
            "{:016x}{:016x}",
            mix(message as u64),
            message as u64 | 0x1d98 << 48
        );
    }

    fn site(&mut self, host: &str) {
        self.texts.site.clear();
        let _ = write!(self.texts.site, "unspecified->{host}@smtp_client");
    }

    /// A `Reception` record.
    pub fn arrival(&mut self, a: &Arrival) -> io::Result<()> {
        self.id(a.message);
        let timestamp = self.rfc3339(a.time.as_millis(), false);
        self.rfc3339(a.time.as_millis(), true);
        let t = &self.texts;
        let record = Record {
            kind: "Reception",
            id: &t.id,
            sender: a.sender,
            recipient: a.recipient,
            queue: domain_of(a.recipient),
            site: "",
            size: a.size,
            response: Response {
                code: 250,
                enhanced_code: None,
                content: "",
                command: None,
            },
            peer_address: Some(Peer {
                name: "localhost",
                addr: "127.0.0.1",
            }),
            timestamp,
            event_time: &t.event_time,
            created: timestamp,
            created_time: &t.created_time,
            num_attempts: 0,
            bounce_classification: "Uncategorized",
            egress_pool: None,
            egress_source: None,
            feedback_report: None,
            meta: Empty {},
            headers: Empty {},
            delivery_protocol: None,
            reception_protocol: "ESMTP",
            nodeid: NODE,
            session_id: None,
        };
        write_record(&mut self.out, &record)
    }

    /// A `Delivery`, `TransientFailure` or `Bounce` record.
    pub fn attempt(&mut self, a: &Attempt) -> io::Result<()> {
        self.id(a.message);
        let timestamp = self.rfc3339(a.time.as_millis(), false);
        let created = self.rfc3339(a.arrived.as_millis(), true);
        self.site(a.relay.host);
        self.texts.addr.clear();
        let _ = write!(self.texts.addr, "{}", a.relay.ip);
        self.texts.session.clear();
        let _ = write!(
            self.texts.session,
            "{:08x}-0000-4000-8000-{:012x}",
            a.session,
            mix(a.session as u64) & 0xffff_ffff_ffff
        );
        let (code, enhanced, connected) = self.response(a);
        let t = &self.texts;
        let held = a.outcome == Written::Held;
        let record = Record {
            kind: match a.outcome {
                Written::Delivered => "Delivery",
                Written::Bounced => "Bounce",
                Written::Deferred | Written::Held => "TransientFailure",
            },
            id: &t.id,
            sender: a.sender,
            recipient: a.recipient,
            queue: domain_of(a.recipient),
            site: if held {
                domain_of(a.recipient)
            } else {
                &t.site
            },
            size: a.size,
            response: Response {
                code,
                enhanced_code: enhanced.map(|e| Code {
                    class: e.class,
                    subject: e.subject,
                    detail: e.detail,
                }),
                content: &t.content,
                command: (!t.command.is_empty()).then_some(t.command.as_str()),
            },
            peer_address: connected.then_some(Peer {
                name: a.relay.host,
                addr: &t.addr,
            }),
            timestamp,
            event_time: &t.event_time,
            created,
            created_time: &t.created_time,
            num_attempts: a.attempt,
            bounce_classification: "Uncategorized",
            egress_pool: (!held).then_some("unspecified"),
            egress_source: (!held).then_some("unspecified"),
            feedback_report: None,
            meta: Empty {},
            headers: Empty {},
            delivery_protocol: (!held).then_some("ESMTP"),
            reception_protocol: "ESMTP",
            nodeid: NODE,
            session_id: (!held).then_some(t.session.as_str()),
        };
        write_record(&mut self.out, &record)
    }

    /// The response fields: code, enhanced code, content (in `texts.content`), command (in
    /// `texts.command`), and whether a session was established.
    fn response(&mut self, a: &Attempt) -> (u16, Option<Enhanced>, bool) {
        let t = &mut self.texts;
        t.content.clear();
        t.command.clear();
        let parsed = reply_code(a.reply);
        let failed_connect =
            "KumoMTA internal: failed to connect to any candidate hosts: connect to ";
        match (a.outcome, a.class, a.handshake) {
            (Written::Held, _, _) => {
                let _ = write!(
                    t.content,
                    "KumoMTA internal: scheduled queue is suspended: {}",
                    a.reply
                );
                (
                    451,
                    Some(Enhanced {
                        class: 4,
                        subject: 4,
                        detail: 4,
                    }),
                    false,
                )
            }
            (_, OutcomeClass::Connect, _) => {
                let _ = write!(
                    t.content,
                    "{failed_connect}{}:25 and read initial banner: failed to connect to {}:25: Connection refused (os error 111)",
                    t.addr, t.addr
                );
                (400, None, false)
            }
            (_, OutcomeClass::Timeout, true) if is_greeting(a) => {
                let _ = write!(
                    t.content,
                    "{failed_connect}{}:25 and read initial banner: Timed Out waiting 60s for response to cmd=None",
                    t.addr
                );
                (400, None, false)
            }
            (_, OutcomeClass::Timeout, true) => {
                let _ = write!(
                    t.content,
                    "{failed_connect}{}:25 and read initial banner: timeout after 60s while connecting to {}:25",
                    t.addr, t.addr
                );
                (400, None, false)
            }
            (_, OutcomeClass::Timeout, false) => {
                let _ = write!(
                    t.content,
                    "KumoMTA internal: failed to send message to {} {}:25: Timed Out waiting 60s for response to cmd=.",
                    a.relay.host, t.addr
                );
                (400, None, true)
            }
            (_, OutcomeClass::Internal, _) => {
                let _ = write!(
                    t.content,
                    "KumoMTA internal: error in deliver_message: {}",
                    a.reply
                );
                (400, None, false)
            }
            (_, _, true) => {
                let code = parsed.map_or(421, |p| p.code);
                let _ = write!(
                    t.content,
                    "{failed_connect}{}:25 and read initial banner: Command rejected Response {{ code: {code}, enhanced_code: None, content: {:?}, command: None }}",
                    t.addr,
                    strip_code(a.reply)
                );
                (400, None, false)
            }
            _ => {
                t.content.push_str(strip_code(a.reply));
                let command = a
                    .command
                    .unwrap_or_else(|| Command::typical_for(parsed.and_then(|p| p.enhanced)));
                match command {
                    Command::EndOfData => t.command.push('.'),
                    Command::MailFrom => {
                        let _ = write!(t.command, "MAIL FROM:<{}>\r\n", a.sender);
                    }
                    Command::RcptTo => {
                        let _ = write!(t.command, "RCPT TO:<{}>\r\n", a.recipient);
                    }
                    Command::Data => t.command.push_str("DATA\r\n"),
                    Command::Ehlo => t.command.push_str("EHLO mtasim\r\n"),
                    _ => {}
                }
                let default = match a.outcome {
                    Written::Delivered => 250,
                    Written::Bounced => 550,
                    _ => 451,
                };
                (
                    parsed.map_or(default, |p| p.code),
                    parsed.and_then(|p| p.enhanced),
                    true,
                )
            }
        }
    }

    /// An `Expiration` record.
    pub fn expiry(&mut self, e: &Expiry) -> io::Result<()> {
        self.id(e.message);
        let timestamp = self.rfc3339(e.time.as_millis(), false);
        let created = self.rfc3339(e.arrived.as_millis(), true);
        let t = &self.texts;
        let record = Record {
            kind: "Expiration",
            id: &t.id,
            sender: e.sender,
            recipient: e.recipient,
            queue: domain_of(e.recipient),
            site: "",
            size: e.size,
            response: Response {
                code: 551,
                enhanced_code: Some(Code {
                    class: 5,
                    subject: 4,
                    detail: 7,
                }),
                content: "Next delivery time would be after the configured expiry time",
                command: None,
            },
            peer_address: None,
            timestamp,
            event_time: &t.event_time,
            created,
            created_time: &t.created_time,
            num_attempts: e.attempts,
            bounce_classification: "Uncategorized",
            egress_pool: None,
            egress_source: None,
            feedback_report: None,
            meta: Empty {},
            headers: Empty {},
            delivery_protocol: None,
            reception_protocol: "ESMTP",
            nodeid: NODE,
            session_id: None,
        };
        write_record(&mut self.out, &record)
    }

    /// Flushes the output.
    pub fn flush_output(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and hands back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_record<W: Write>(out: &mut W, record: &Record) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// The reply text after its code and enhanced code.
fn strip_code(reply: &str) -> &str {
    let Some(code) = reply_code(reply) else {
        return reply;
    };
    let rest = reply.get(4..).unwrap_or("");
    match code.enhanced {
        Some(_) => rest.split_once(' ').map_or("", |(_, r)| r),
        None => rest,
    }
}
