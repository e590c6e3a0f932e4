//! The Exim main log writer: `<=` arrivals (with `received_recipients`' `for` list), `=>`
//! deliveries with `C="..."`, `==` deferrals with the remote reply or the connection
//! failure (`retry time not reached` for holds), `**` bounces and `retry timeout exceeded`
//! expiries, and `Completed`.

use std::io::{self, Write};

use super::{
    Arrival, Attempt, Expiry, Millis, Removal, Written, domain_of, is_greeting, mix, push_datetime,
    push_num,
};
use crate::flow_control::OutcomeClass;
use crate::logs::UnixMillis;
use crate::logs::classify::Command;
use crate::replies::reply_code;

/// Writes an Exim main log.
pub struct EximWriter<W: Write> {
    out: W,
    start: UnixMillis,
    line: Vec<u8>,
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn push_base62(buf: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 11];
    for d in digits.iter_mut().take(width).rev() {
        *d = BASE62[(n % 62) as usize];
        n /= 62;
    }
    buf.extend_from_slice(&digits[..width]);
}

/// An Exim message ID (`1tixMn-000NXb-1K`): the arrival second, the message number (so
/// IDs never collide) and a check part, in base 62.
fn push_message_id(buf: &mut Vec<u8>, start: UnixMillis, message: u32, arrived: Millis) {
    let at = start.plus(arrived as i64);
    push_base62(buf, at.seconds().max(0) as u64, 6);
    buf.push(b'-');
    push_base62(buf, message as u64, 6);
    buf.push(b'-');
    push_base62(buf, mix(message as u64) % (62 * 62), 2);
}

/// A duration as Exim logs it (`QT=1d2h3m4.250s` with `+millisec`): days, hours, minutes
/// and seconds, leading zero parts left out.
fn push_duration(buf: &mut Vec<u8>, ms: Millis) {
    let s = ms / 1000;
    let mut any = false;
    for (unit, n) in [
        (b'd', s / 86_400),
        (b'h', s / 3600 % 24),
        (b'm', s / 60 % 60),
    ] {
        if n > 0 || any {
            push_num(buf, n);
            buf.push(unit);
            any = true;
        }
    }
    push_num(buf, s % 60);
    buf.push(b'.');
    let milli = ms % 1000;
    buf.extend_from_slice(&[
        b'0' + (milli / 100) as u8,
        b'0' + (milli / 10 % 10) as u8,
        b'0' + (milli % 10) as u8,
    ]);
    buf.push(b's');
}

impl<W: Write> EximWriter<W> {
    /// A writer whose simulated time 0 is `start`.
    pub fn new(out: W, start: UnixMillis) -> Self {
        EximWriter {
            out,
            start,
            line: Vec::with_capacity(512),
        }
    }

    /// `<date> <time> <message ID> `
    fn header(&mut self, time: Millis, message: u32, arrived: Millis) {
        self.line.clear();
        let civil = self.start.plus(time as i64).civil();
        push_datetime(&mut self.line, &civil, b' ');
        self.line.push(b' ');
        push_message_id(&mut self.line, self.start, message, arrived);
        self.line.push(b' ');
    }

    fn push(&mut self, text: &str) {
        self.line.extend_from_slice(text.as_bytes());
    }

    fn emit(&mut self) -> io::Result<()> {
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    fn push_host(&mut self, a: &Attempt) {
        self.push(" H=");
        self.push(a.relay.host);
        self.push(" [");
        let _ = write!(self.line, "{}", a.relay.ip);
        self.push("]");
    }

    /// `<= sender H=localhost [127.0.0.1] P=esmtp S=size for rcpt`
    pub fn arrival(&mut self, a: &Arrival) -> io::Result<()> {
        self.header(a.time.as_millis(), a.message, a.time.as_millis());
        self.push("<= ");
        self.push(a.sender);
        self.push(" H=localhost [127.0.0.1] P=esmtp S=");
        push_num(&mut self.line, a.size as u64);
        self.push(" for ");
        self.push(a.recipient);
        self.emit()
    }

    /// `=>`, `==` or `**` for one attempt (or hold).
    pub fn attempt(&mut self, a: &Attempt) -> io::Result<()> {
        self.header(a.time.as_millis(), a.message, a.arrived.as_millis());
        self.push(match a.outcome {
            Written::Delivered => "=> ",
            Written::Bounced => "** ",
            Written::Deferred | Written::Held => "== ",
        });
        self.push(a.recipient);
        self.push(" R=dnslookup T=remote_smtp");
        match a.outcome {
            Written::Delivered => {
                self.push_host(a);
                self.push(" C=\"");
                self.push(a.reply);
                self.push("\" QT=");
                push_duration(
                    &mut self.line,
                    a.time.as_millis().saturating_sub(a.arrived.as_millis()),
                );
            }
            Written::Held => {
                self.push(" defer (-53): retry time not reached for any host for '");
                self.push(domain_of(a.recipient));
                self.push("'");
            }
            _ => self.failure(a),
        }
        self.emit()
    }

    /// A failed attempt's reason, as Exim 4.9x words it.
    fn failure(&mut self, a: &Attempt) {
        let deferred = a.outcome == Written::Deferred;
        let defer = |errno: &str| format!(" defer ({errno})");
        match (a.class, a.handshake) {
            (OutcomeClass::Internal, _) => {
                if deferred {
                    self.push(&defer("-1"));
                }
                self.push(": host lookup did not complete");
                return;
            }
            (OutcomeClass::Connect, _) => {
                self.push(&defer("111"));
                self.push_host(a);
                self.push(": Connection refused");
                return;
            }
            (OutcomeClass::Timeout, true) if !is_greeting(a) => {
                self.push(&defer("110"));
                self.push_host(a);
                self.push(": Connection timed out");
                return;
            }
            (OutcomeClass::Timeout, _) => {
                self.push(&defer("-18"));
                self.push_host(a);
                self.push(if a.handshake {
                    ": SMTP timeout after initial connection"
                } else {
                    ": SMTP timeout after end of data"
                });
                return;
            }
            _ => {}
        }
        if deferred {
            self.push(&defer("-44"));
        }
        self.push_host(a);
        self.push(": SMTP error from remote mail server after ");
        let command = if a.handshake {
            Command::Greeting
        } else {
            a.command.unwrap_or_else(|| {
                Command::typical_for(reply_code(a.reply).and_then(|r| r.enhanced))
            })
        };
        match command {
            Command::Greeting => self.push("initial connection"),
            Command::RcptTo | Command::Other => {
                self.push("RCPT TO:<");
                self.push(a.recipient);
                self.push(">");
            }
            Command::MailFrom => {
                self.push("MAIL FROM:<");
                self.push(a.sender);
                self.push(">");
            }
            Command::Data => self.push("DATA"),
            Command::EndOfData => self.push("end of data"),
            Command::Ehlo | Command::Helo | Command::StartTls => {
                self.push(command.postfix_name());
            }
        }
        self.push(": ");
        self.push(a.reply);
    }

    /// `** rcpt R=... T=...: retry timeout exceeded`
    pub fn expiry(&mut self, e: &Expiry) -> io::Result<()> {
        self.header(e.time.as_millis(), e.message, e.arrived.as_millis());
        self.push("** ");
        self.push(e.recipient);
        self.push(" R=dnslookup T=remote_smtp: retry timeout exceeded");
        self.emit()
    }

    /// `Completed`
    pub fn removal(&mut self, r: &Removal) -> io::Result<()> {
        self.header(r.time.as_millis(), r.message, r.arrived.as_millis());
        self.push("Completed");
        self.emit()
    }

    /// Flushes the output.
    pub fn flush_output(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_read_back_as_exim_ids() {
        let mut b = Vec::new();
        push_message_id(&mut b, UnixMillis(1_781_395_200_000), 7, 1234);
        let id = String::from_utf8(b).unwrap();
        assert!(crate::logs::exim::is_message_id(&id), "{id}");
        let mut other = Vec::new();
        push_message_id(&mut other, UnixMillis(1_781_395_200_000), 8, 1234);
        assert_ne!(id.as_bytes(), &other[..]);
    }
}
