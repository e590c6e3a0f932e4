//! The generator's log lines, written from the formats' descriptions
//! (shared/reference/mta-logs-and-configs.md) and KumoMTA's source, not with mtasim's
//! writers: a Postfix maillog with classic syslog stamps, or KumoMTA JSON log records.

use std::fmt::Write;

use super::generator::{Format, Msg, Receiver};

/// A KumoMTA record's `response`: code, enhanced code, content, command.
type Response<'a> = (u16, Option<(u8, u8, u16)>, &'a str, Option<&'a str>);

/// 2026-06-14T00:00:00Z: the log's time 0.
pub const ORIGIN: i64 = 1_781_395_200;
const SENDER: &str = "news@sender.example";

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Sent,
    UnknownUser,
    /// A 4xx ("CODE X.Y.Z text") in reply to a command.
    Temp(&'static str, &'static str),
    Refused,
    TimedOut,
    /// A 4xx at the greeting.
    Greeting(&'static str),
    /// The sender's own DNS lookup failed.
    Dns,
}

pub struct Lines {
    format: Format,
    seed: u64,
    pub text: String,
}

/// (year, month 1-12, day) of days since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Classic syslog: `Jun 14 00:00:01` (no year, no zone, whole seconds).
fn syslog(ms: u64) -> String {
    let secs = ORIGIN + (ms / 1000) as i64;
    let (_, month, day) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{} {day:>2} {:02}:{:02}:{:02}",
        MONTHS[month as usize - 1],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// RFC 3339 with milliseconds: `2026-06-14T00:00:01.234Z`.
fn rfc3339(ms: u64) -> String {
    let secs = ORIGIN + (ms / 1000) as i64;
    let (year, month, day) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

/// Seconds as Postfix prints `delay=` and `delays=`: two decimals at most, trailing zeros
/// dropped, whole seconds from 100 on.
fn postfix_seconds(ms: u64) -> String {
    if ms >= 100_000 {
        return (ms / 1000).to_string();
    }
    let text = format!("{:.2}", ms as f64 / 1000.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() {
        "0".into()
    } else {
        text.into()
    }
}

/// A duration as KumoMTA's `format_duration` (humantime) writes it: `1h 30m 12s`.
fn humantime(ms: u64) -> String {
    let secs = ms / 1000;
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if text.is_empty() {
        "0s".into()
    } else {
        text.join(" ")
    }
}

/// "421 4.7.28 text" as (421, (4, 7, 28), "text").
fn split(reply: &str) -> (u16, (u8, u8, u16), &str) {
    let mut parts = reply.splitn(3, ' ');
    let code = parts.next().unwrap().parse().unwrap();
    let enhanced: Vec<u16> = parts
        .next()
        .unwrap()
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    (
        code,
        (enhanced[0] as u8, enhanced[1] as u8, enhanced[2]),
        parts.next().unwrap_or(""),
    )
}

fn json_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Lines {
    pub fn new(format: Format, seed: u64) -> Lines {
        Lines {
            format,
            seed,
            text: String::new(),
        }
    }

    fn queue_id(m: u32) -> String {
        format!("{:010X}", 0x30_0000_0000u64 + u64::from(m))
    }

    fn kumo_id(&self, m: u32) -> String {
        format!("{:016x}{:016x}", self.seed.wrapping_mul(0x9E37_79B9), m)
    }

    fn postfix(&mut self, now: u64, program: &str, pid: u32, rest: &str) {
        let _ = writeln!(
            self.text,
            "{} mail postfix/{program}[{pid}]: {rest}",
            syslog(now)
        );
    }

    /// The message arrives (Postfix cleanup and qmgr; KumoMTA `Reception`).
    pub fn arrival(&mut self, now: u64, m: u32, msg: &Msg) {
        match self.format {
            Format::Postfix => {
                let id = Self::queue_id(m);
                self.postfix(
                    now,
                    "cleanup",
                    3100 + m % 7,
                    &format!("{id}: message-id=<{m}.{}@sender.example>", self.seed),
                );
                self.postfix(
                    now,
                    "qmgr",
                    812,
                    &format!("{id}: from=<{SENDER}>, size=4213, nrcpt=1 (queue active)"),
                );
            }
            Format::Kumo => {
                let record = format!(
                    r#"{{"type":"Reception","id":"{}","sender":"{SENDER}","recipient":"u{}@{}","queue":"{}","site":"","size":4213,"response":{{"code":250,"enhanced_code":null,"content":"","command":null}},"peer_address":{{"name":"injector","addr":"10.0.0.5"}},"timestamp":{},"event_time":"{}","created":{},"num_attempts":0,"bounce_classification":"Uncategorized","egress_pool":null,"egress_source":null,"feedback_report":null,"meta":{{}},"headers":{{}},"delivery_protocol":null,"reception_protocol":"ESMTP","nodeid":"0c5b1a3e-6a54-4a65-8d7e-1f6a3b0f8c11","tls_cipher":null,"tls_protocol_version":null,"tls_peer_subject_name":null,"provider_name":null,"session_id":null}}"#,
                    self.kumo_id(m),
                    msg.local,
                    msg.domain,
                    msg.domain,
                    ORIGIN + (now / 1000) as i64,
                    rfc3339(now),
                    ORIGIN + (msg.arrived / 1000) as i64,
                );
                self.text.push_str(&record);
                self.text.push('\n');
            }
        }
    }

    /// A retry enters Postfix's active queue (qmgr logs the message again).
    pub fn requeued(&mut self, now: u64, m: u32) {
        if self.format == Format::Postfix {
            let id = Self::queue_id(m);
            self.postfix(
                now,
                "qmgr",
                812,
                &format!("{id}: from=<{SENDER}>, size=4213, nrcpt=1 (queue active)"),
            );
        }
    }

    /// Postfix's reason text for a failure (what "delivery temporarily suspended: " quotes).
    pub fn reason(&self, r: &Receiver, answer: &Answer) -> String {
        match answer {
            Answer::Refused => format!("connect to {}[{}]:25: Connection refused", r.mx, r.ip),
            Answer::TimedOut => format!("connect to {}[{}]:25: Connection timed out", r.mx, r.ip),
            Answer::Greeting(reply) => {
                format!("host {}[{}] refused to talk to me: {reply}", r.mx, r.ip)
            }
            Answer::Temp(reply, command) => format!(
                "host {}[{}] said: {reply} (in reply to {command} command)",
                r.mx, r.ip
            ),
            Answer::Dns => "Host or domain name not found. Name service error for name=example type=MX: Host not found, try again".into(),
            Answer::Sent | Answer::UnknownUser => String::new(),
        }
    }

    /// An attempt's result, written when it ended.
    pub fn attempt(
        &mut self,
        now: u64,
        (started, connect): (u64, u64),
        m: u32,
        msg: &Msg,
        r: &Receiver,
        answer: &Answer,
    ) {
        match self.format {
            Format::Postfix => self.postfix_attempt(now, (started, connect), m, msg, r, answer),
            Format::Kumo => self.kumo_attempt(now, m, msg, r, answer),
        }
    }

    fn postfix_attempt(
        &mut self,
        now: u64,
        (started, connect): (u64, u64),
        m: u32,
        msg: &Msg,
        r: &Receiver,
        answer: &Answer,
    ) {
        let rcpt = format!("u{}@{}", msg.local, msg.domain);
        let relay = match answer {
            Answer::Refused | Answer::TimedOut | Answer::Dns => "none".to_string(),
            _ => format!("{}[{}]:25", r.mx, r.ip),
        };
        let (dsn, status, reason) = match answer {
            Answer::Sent => (
                "2.0.0".to_string(),
                "sent",
                format!(
                    "250 2.0.0 Ok: queued as {:X}",
                    0x7000_0000u64 + u64::from(m)
                ),
            ),
            Answer::UnknownUser => (
                "5.1.1".to_string(),
                "bounced",
                format!(
                    "host {}[{}] said: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)",
                    r.mx, r.ip
                ),
            ),
            Answer::Temp(reply, _) => {
                let (_, (a, b, c), _) = split(reply);
                (format!("{a}.{b}.{c}"), "deferred", self.reason(r, answer))
            }
            Answer::Refused | Answer::TimedOut => {
                ("4.4.1".to_string(), "deferred", self.reason(r, answer))
            }
            Answer::Greeting(_) => ("4.7.0".to_string(), "deferred", self.reason(r, answer)),
            Answer::Dns => (
                "4.4.3".to_string(),
                "deferred",
                format!(
                    "Host or domain name not found. Name service error for name={} type=MX: Host not found, try again",
                    msg.domain
                ),
            ),
        };
        let connect = connect.min(now - started);
        let delays = format!(
            "{}/{}/{}/{}",
            postfix_seconds(msg.due_at - msg.arrived),
            postfix_seconds(started - msg.due_at),
            postfix_seconds(connect),
            postfix_seconds(now - started - connect)
        );
        let id = Self::queue_id(m);
        self.postfix(
            now,
            "smtp",
            2000 + m % 50,
            &format!(
                "{id}: to=<{rcpt}>, relay={relay}, delay={}, delays={delays}, dsn={dsn}, status={status} ({reason})",
                postfix_seconds(now - msg.arrived)
            ),
        );
        if *answer == Answer::UnknownUser {
            self.postfix(
                now,
                "bounce",
                4400,
                &format!(
                    "{id}: sender non-delivery notification: {:X}",
                    0x5000_0000u64 + u64::from(m)
                ),
            );
        }
    }

    fn kumo_attempt(&mut self, now: u64, m: u32, msg: &Msg, r: &Receiver, answer: &Answer) {
        let failed_connect = format!(
            "KumoMTA internal: failed to connect to any candidate hosts: connect to {}:25 and read initial banner: ",
            r.ip
        );
        let (kind, code, enhanced, content, command, peer) = match answer {
            Answer::Sent => (
                "Delivery",
                250,
                Some((2, 0, 0)),
                format!("OK id={:x}", 0x7000_0000u64 + u64::from(m)),
                Some(".\\r\\n"),
                true,
            ),
            Answer::UnknownUser => (
                "Bounce",
                550,
                Some((5, 1, 1)),
                format!(
                    "<u{}@{}>: Recipient address rejected: User unknown",
                    msg.local, msg.domain
                ),
                Some("RCPT TO"),
                true,
            ),
            Answer::Temp(reply, command) => {
                let (code, enhanced, text) = split(reply);
                (
                    "TransientFailure",
                    code,
                    Some(enhanced),
                    text.to_string(),
                    Some(*command),
                    true,
                )
            }
            Answer::Refused => (
                "TransientFailure",
                400,
                None,
                format!(
                    "{failed_connect}failed to connect to {}:25: Connection refused (os error 111)",
                    r.ip
                ),
                None,
                false,
            ),
            Answer::TimedOut => (
                "TransientFailure",
                400,
                None,
                format!(
                    "{failed_connect}timeout after 30s while connecting to {}:25",
                    r.ip
                ),
                None,
                false,
            ),
            Answer::Greeting(reply) => {
                let (code, (a, b, c), text) = split(reply);
                (
                    "TransientFailure",
                    400,
                    None,
                    format!(
                        "{failed_connect}Command rejected Response {{ code: {code}, enhanced_code: Some(EnhancedStatusCode {{ class: {a}, subject: {b}, detail: {c} }}), content: \"{text}\", command: None }}"
                    ),
                    None,
                    false,
                )
            }
            Answer::Dns => (
                "TransientFailure",
                451,
                Some((4, 4, 4)),
                format!(
                    "failed to resolve queue {}: MX lookup for {} failed: request timed out",
                    msg.domain, msg.domain
                ),
                None,
                false,
            ),
        };
        let site = if *answer == Answer::Dns {
            String::new()
        } else {
            format!("unspecified->{}@smtp_client", r.mx)
        };
        self.kumo_record(
            now,
            m,
            msg,
            kind,
            (code, enhanced, &content, command),
            &site,
            peer.then_some(r),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn kumo_record(
        &mut self,
        now: u64,
        m: u32,
        msg: &Msg,
        kind: &str,
        (code, enhanced, content, command): Response,
        site: &str,
        peer: Option<&Receiver>,
    ) {
        let enhanced = enhanced.map_or("null".to_string(), |(a, b, c)| {
            format!(r#"{{"class":{a},"subject":{b},"detail":{c}}}"#)
        });
        let command = command.map_or("null".to_string(), |c| format!("\"{c}\""));
        let peer = peer.map_or("null".to_string(), |r| {
            format!(r#"{{"name":"{}","addr":"{}"}}"#, r.mx, r.ip)
        });
        let session = if site.is_empty() {
            "null".to_string()
        } else {
            format!("\"{:08x}-5c1d-4f7e-9a3b-{:012x}\"", m, msg.attempts)
        };
        let _ = writeln!(
            self.text,
            r#"{{"type":"{kind}","id":"{}","sender":"{SENDER}","recipient":"u{}@{}","queue":"{}","site":"{site}","size":4213,"response":{{"code":{code},"enhanced_code":{enhanced},"content":"{}","command":{command}}},"peer_address":{peer},"timestamp":{},"event_time":"{}","created":{},"num_attempts":{},"bounce_classification":"Uncategorized","egress_pool":"unspecified","egress_source":"unspecified","feedback_report":null,"meta":{{}},"headers":{{}},"delivery_protocol":"ESMTP","reception_protocol":null,"nodeid":"0c5b1a3e-6a54-4a65-8d7e-1f6a3b0f8c11","tls_cipher":null,"tls_protocol_version":null,"tls_peer_subject_name":null,"provider_name":null,"session_id":{session}}}"#,
            self.kumo_id(m),
            msg.local,
            msg.domain,
            msg.domain,
            json_escape(content),
            ORIGIN + (now / 1000) as i64,
            rfc3339(now),
            ORIGIN + (msg.arrived / 1000) as i64,
            msg.attempts.saturating_sub(1),
        );
    }

    /// Postfix's deferral of a message at a dead site, without an attempt.
    pub fn held(&mut self, now: u64, m: u32, msg: &Msg, reason: &str) {
        if self.format != Format::Postfix {
            return;
        }
        let id = Self::queue_id(m);
        let age = now - msg.arrived;
        self.postfix(
            now,
            "qmgr",
            812,
            &format!(
                "{id}: to=<u{}@{}>, relay=none, delay={}, delays={}/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: {reason})",
                msg.local,
                msg.domain,
                postfix_seconds(age),
                postfix_seconds(age)
            ),
        );
    }

    /// The message expired: Postfix's qmgr returns it to the sender; KumoMTA logs an
    /// `Expiration` (its next delivery time would exceed the expiry time).
    pub fn expired(&mut self, now: u64, m: u32, msg: &Msg, (next_due, max_age): (u64, u64)) {
        match self.format {
            Format::Postfix => {
                let id = Self::queue_id(m);
                self.postfix(
                    now,
                    "qmgr",
                    812,
                    &format!("{id}: from=<{SENDER}>, status=expired, returned to sender"),
                );
                self.removed(now, m);
            }
            Format::Kumo => {
                let content = format!(
                    "Next delivery time would be {} after creation, which exceeds max_age={}",
                    humantime(next_due - msg.arrived),
                    humantime(max_age)
                );
                self.kumo_record(
                    now,
                    m,
                    msg,
                    "Expiration",
                    (551, Some((5, 4, 7)), &content, None),
                    "",
                    None,
                );
            }
        }
    }

    /// Postfix's `removed` once a message is done.
    pub fn removed(&mut self, now: u64, m: u32) {
        if self.format == Format::Postfix {
            let id = Self::queue_id(m);
            self.postfix(now, "qmgr", 812, &format!("{id}: removed"));
        }
    }
}
