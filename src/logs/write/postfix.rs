//! The Postfix `maillog` writer: pickup/cleanup/qmgr arrival lines, smtp status lines with
//! `delay=`, `delays=a/b/c/d`, `dsn=`, `relay=host[ip]:25` and `conn_use=`, qmgr retries,
//! expiries, bounce notifications and `removed`.

use std::io::{self, Write};

use super::{
    Arrival, Attempt, Expiry, Millis, Removal, Written, domain_of, dsn_of, is_greeting, mix,
    push_datetime, push_enhanced, push_num, push_offset, push_padded,
};
use crate::flow_control::OutcomeClass;
use crate::logs::UnixMillis;
use crate::logs::classify::Command;
use crate::logs::time::MONTHS;
use crate::units::Instant;

/// How the syslog lines look.
#[derive(Debug, Clone)]
pub struct PostfixStyle {
    /// The host name in each line.
    pub hostname: String,
    /// RFC 3339 timestamps with microseconds and offset instead of classic `Mmm dd HH:MM:SS`.
    pub rfc3339: bool,
    /// Minutes east of UTC of the timestamps.
    pub utc_offset_minutes: i32,
}

impl Default for PostfixStyle {
    fn default() -> Self {
        PostfixStyle {
            hostname: "mtasim".to_string(),
            rfc3339: false,
            utc_offset_minutes: 0,
        }
    }
}

/// Writes a Postfix `maillog`.
pub struct PostfixWriter<W: Write> {
    out: W,
    start: UnixMillis,
    style: PostfixStyle,
    line: Vec<u8>,
}

const PICKUP: u32 = 2101;
const CLEANUP: u32 = 2102;
const QMGR: u32 = 2100;
const BOUNCE: u32 = 2103;
const ERROR: u32 = 2104;

/// Postfix's short queue ID: five hex digits of the arrival's microseconds, then an
/// "inode" (here derived from the message number, so IDs never collide).
fn push_queue_id(buf: &mut Vec<u8>, message: u32, arrived_ms: u64) {
    let usec = (arrived_ms % 1000) * 1000 + mix(message as u64) % 1000;
    push_hex(buf, usec, 5);
    push_hex(buf, message as u64 + 0x10_0000, 1);
}

fn push_hex(buf: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [0u8; 16];
    let mut len = 0;
    loop {
        digits[len] = b"0123456789ABCDEF"[(n & 15) as usize];
        len += 1;
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    for _ in len..width {
        buf.push(b'0');
    }
    buf.extend(digits[..len].iter().rev());
}

/// Seconds as Postfix logs delays (`format_tv` with two significant digits and a 10 ms
/// resolution): `59235`, `2.3`, `0.06`, `0`.
pub fn push_seconds(buf: &mut Vec<u8>, ms: u64) {
    const MILLION: u64 = 1_000_000;
    let mut sec = ms / 1000;
    let mut usec = (ms % 1000) * 1000;
    let mut ures = 10_000;
    if sec > 0 {
        let mut n = 1;
        while sec >= n && n <= 10 {
            n *= 10;
        }
        ures = 10_000 * n;
    }
    usec += ures / 2;
    if usec >= MILLION {
        sec += 1;
        usec -= MILLION;
    }
    push_num(buf, sec);
    if usec >= ures {
        buf.push(b'.');
        let (mut rem, mut n) = (usec, MILLION / 10);
        while rem >= ures && n > 0 {
            buf.push(b'0' + (rem / n) as u8);
            rem %= n;
            n /= 10;
        }
    }
}

impl<W: Write> PostfixWriter<W> {
    /// A writer whose simulated time 0 is `start`.
    pub fn new(out: W, start: UnixMillis, style: PostfixStyle) -> Self {
        PostfixWriter {
            out,
            start,
            style,
            line: Vec::with_capacity(512),
        }
    }

    /// `<time> <host> postfix/<program>[<pid>]: <queue ID>: `
    fn header(&mut self, time: Millis, program: &str, pid: u32, message: u32, arrived: Millis) {
        self.line.clear();
        let offset = self.style.utc_offset_minutes;
        let local = self
            .start
            .plus(time as i64 + offset as i64 * 60_000)
            .civil();
        if self.style.rfc3339 {
            push_datetime(&mut self.line, &local, b'T');
            self.line.push(b'.');
            push_padded(&mut self.line, local.milli as u64 * 1000, 6);
            push_offset(&mut self.line, offset, true);
        } else {
            self.line
                .extend_from_slice(MONTHS[local.month as usize - 1].as_bytes());
            self.line.push(b' ');
            if local.day < 10 {
                self.line.push(b' ');
            }
            push_num(&mut self.line, local.day as u64);
            self.line.push(b' ');
            push_padded(&mut self.line, local.hour as u64, 2);
            self.line.push(b':');
            push_padded(&mut self.line, local.minute as u64, 2);
            self.line.push(b':');
            push_padded(&mut self.line, local.second as u64, 2);
        }
        self.line.push(b' ');
        self.line.extend_from_slice(self.style.hostname.as_bytes());
        self.line.extend_from_slice(b" postfix/");
        self.line.extend_from_slice(program.as_bytes());
        self.line.push(b'[');
        push_num(&mut self.line, pid as u64);
        self.line.extend_from_slice(b"]: ");
        push_queue_id(&mut self.line, message, arrived);
        self.line.extend_from_slice(b": ");
    }

    fn push(&mut self, text: &str) {
        self.line.extend_from_slice(text.as_bytes());
    }

    fn emit(&mut self) -> io::Result<()> {
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    fn queue_active(
        &mut self,
        time: Millis,
        message: u32,
        arrived: Millis,
        sender: &str,
        size: u32,
    ) -> io::Result<()> {
        self.header(time, "qmgr", QMGR, message, arrived);
        self.push("from=<");
        self.push(sender);
        self.push(">, size=");
        push_num(&mut self.line, size as u64);
        self.push(", nrcpt=1 (queue active)");
        self.emit()
    }

    /// pickup, cleanup and qmgr lines of a new message.
    pub fn arrival(&mut self, a: &Arrival) -> io::Result<()> {
        self.header(
            a.time.as_millis(),
            "pickup",
            PICKUP,
            a.message,
            a.time.as_millis(),
        );
        self.push("uid=1000 from=<");
        self.push(a.sender);
        self.push(">");
        self.emit()?;
        self.header(
            a.time.as_millis(),
            "cleanup",
            CLEANUP,
            a.message,
            a.time.as_millis(),
        );
        self.push("message-id=<");
        push_num(&mut self.line, a.message as u64);
        self.push(".");
        push_hex(&mut self.line, mix(a.message as u64) & 0xffff_ffff, 8);
        self.push("@");
        let host = std::mem::take(&mut self.style.hostname);
        self.push(&host);
        self.style.hostname = host;
        self.push(">");
        self.emit()?;
        self.queue_active(
            a.time.as_millis(),
            a.message,
            a.time.as_millis(),
            a.sender,
            a.size,
        )
    }

    /// One attempt's status line (after qmgr's `queue active` for a retry), and the bounce
    /// notification of a bounce.
    pub fn attempt(&mut self, a: &Attempt) -> io::Result<()> {
        if a.attempt != 1 || a.outcome == Written::Held {
            self.queue_active(
                a.started.as_millis().min(a.time.as_millis()),
                a.message,
                a.arrived.as_millis(),
                a.sender,
                a.size,
            )?;
        }
        let (program, pid) = match a.outcome {
            Written::Held => ("error", ERROR),
            _ => ("smtp", 3000 + a.session % 4_000_000),
        };
        self.header(
            a.time.as_millis(),
            program,
            pid,
            a.message,
            a.arrived.as_millis(),
        );
        self.push("to=<");
        self.push(a.recipient);
        self.push(">, relay=");
        let relay_none = a.outcome == Written::Held
            || matches!(a.class, OutcomeClass::Connect | OutcomeClass::Internal)
            || (a.class == OutcomeClass::Timeout && a.handshake && !is_greeting(a));
        if relay_none {
            self.push("none");
        } else {
            self.push_host(a);
            self.push(":25");
        }
        if a.conn_use > 1 && !relay_none {
            self.push(", conn_use=");
            push_num(&mut self.line, a.conn_use as u64);
        }
        self.push(", delay=");
        push_seconds(
            &mut self.line,
            a.time.as_millis().saturating_sub(a.arrived.as_millis()),
        );
        self.push(", delays=");
        let [qa, qb, qc, qd] = delays(a);
        for (i, part) in [qa, qb, qc, qd].into_iter().enumerate() {
            if i > 0 {
                self.line.push(b'/');
            }
            push_seconds(&mut self.line, part);
        }
        self.push(", dsn=");
        push_enhanced(&mut self.line, dsn_of(a));
        self.push(match a.outcome {
            Written::Delivered => ", status=sent (",
            Written::Bounced => ", status=bounced (",
            Written::Deferred | Written::Held => ", status=deferred (",
        });
        self.reason(a);
        self.push(")");
        self.emit()?;
        if a.outcome == Written::Bounced {
            self.notification(a.time.as_millis(), a.message, a.arrived.as_millis())?;
        }
        Ok(())
    }

    fn push_host(&mut self, a: &Attempt) {
        self.push(a.relay.host);
        self.push("[");
        let _ = write!(self.line, "{}", a.relay.ip);
        self.push("]");
    }

    fn reason(&mut self, a: &Attempt) {
        match (a.outcome, a.class, a.handshake) {
            (Written::Delivered, _, _) => self.push(a.reply),
            (Written::Held, _, _) => {
                self.push("delivery temporarily suspended: ");
                self.push(a.reply);
            }
            (_, OutcomeClass::Connect, _) => {
                self.push("connect to ");
                self.push_host(a);
                self.push(":25: Connection refused");
            }
            (_, OutcomeClass::Timeout, true) if is_greeting(a) => {
                self.push("conversation with ");
                self.push_host(a);
                self.push(" timed out while receiving the initial server greeting");
            }
            (_, OutcomeClass::Timeout, true) => {
                self.push("connect to ");
                self.push_host(a);
                self.push(":25: Connection timed out");
            }
            (_, OutcomeClass::Timeout, false) => {
                self.push("conversation with ");
                self.push_host(a);
                self.push(
                    " timed out while sending end of data -- message may be sent more than once",
                );
            }
            (_, OutcomeClass::Internal, _) => {
                self.push("Host or domain name not found. Name service error for name=");
                self.push(domain_of(a.recipient));
                self.push(" type=MX: Host not found, try again");
            }
            (_, _, true) => {
                self.push("host ");
                self.push_host(a);
                self.push(" refused to talk to me: ");
                self.push(a.reply);
            }
            _ => {
                self.push("host ");
                self.push_host(a);
                self.push(" said: ");
                self.push(a.reply);
                self.push(" (in reply to ");
                let command = a.command.unwrap_or_else(|| {
                    Command::typical_for(
                        crate::replies::reply_code(a.reply).and_then(|r| r.enhanced),
                    )
                });
                self.push(command.postfix_name());
                self.push(" command)");
            }
        }
    }

    fn notification(&mut self, time: Millis, message: u32, arrived: Millis) -> io::Result<()> {
        self.header(time, "bounce", BOUNCE, message, arrived);
        self.push("sender non-delivery notification: ");
        push_queue_id(&mut self.line, message ^ 0x8000_0000, time);
        self.emit()
    }

    /// qmgr's `status=expired, returned to sender` and the bounce notification.
    pub fn expiry(&mut self, e: &Expiry) -> io::Result<()> {
        self.header(
            e.time.as_millis(),
            "qmgr",
            QMGR,
            e.message,
            e.arrived.as_millis(),
        );
        self.push("from=<");
        self.push(e.sender);
        self.push(">, status=expired, returned to sender");
        self.emit()?;
        self.notification(e.time.as_millis(), e.message, e.arrived.as_millis())
    }

    /// qmgr's `removed`.
    pub fn removal(&mut self, r: &Removal) -> io::Result<()> {
        self.header(
            r.time.as_millis(),
            "qmgr",
            QMGR,
            r.message,
            r.arrived.as_millis(),
        );
        self.push("removed");
        self.emit()
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

/// `delays=a/b/c/d`: before the active queue, in qmgr (none here), connection setup,
/// transmission.
fn delays(a: &Attempt) -> [u64; 4] {
    let before = a.started.as_millis().saturating_sub(a.arrived.as_millis());
    match a.connected.map(Instant::as_millis) {
        Some(c) => [
            before,
            0,
            c.saturating_sub(a.started.as_millis()),
            a.time.as_millis().saturating_sub(c),
        ],
        None if a.handshake || a.outcome == Written::Held => [
            before,
            0,
            a.time.as_millis().saturating_sub(a.started.as_millis()),
            0,
        ],
        None => [
            before,
            0,
            0,
            a.time.as_millis().saturating_sub(a.started.as_millis()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_like_format_tv() {
        for (ms, text) in [
            (0, "0"),
            (60, "0.06"),
            (130, "0.13"),
            (4, "0"),
            (5, "0.01"),
            (500, "0.5"),
            (1200, "1.2"),
            (2300, "2.3"),
            (9990, "10"),
            (59_235_000, "59235"),
            (12_345, "12"),
        ] {
            let mut b = Vec::new();
            push_seconds(&mut b, ms);
            assert_eq!(String::from_utf8(b).unwrap(), text, "{ms}");
        }
    }

    #[test]
    fn queue_ids_are_short_postfix_ids() {
        let mut b = Vec::new();
        push_queue_id(&mut b, 7, 1234);
        let id = String::from_utf8(b).unwrap();
        assert_eq!(id.len(), 11);
        assert!(
            id.bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c)),
            "{id}"
        );
        assert!(id.ends_with("100007"));
    }
}
