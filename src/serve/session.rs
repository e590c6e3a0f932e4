//! One SMTP session of a served receiver (RFC 5321): the greeting the receiver decides,
//! EHLO/HELO with PIPELINING, SIZE and 8BITMIME, MAIL, RCPT, DATA, RSET, NOOP and QUIT,
//! 500/501/503 for bad commands and sequences, a longest line, a largest message (552),
//! an idle timeout, and a hard error limit. Commands are parsed by smtp-proto; what the
//! receiver answers comes from its [`Desk`].
//!
//! Memory per connection is bounded: at most two lines of input are buffered, a message's
//! body is counted and discarded as it arrives (only its header is scanned, up to
//! [`HEADER_SCAN`] bytes, for the Message-ID), and a line longer than [`MAX_LINE`] is
//! skipped and answered 500. Replies to pipelined commands are sent in order, together,
//! when the input runs dry or before a receiver's answer is delayed by its latency.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::request::receiver::DataReceiver;
use smtp_proto::{
    EXT_8BIT_MIME, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING, EXT_SIZE, EhloResponse, Error,
    Request,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::lab::{Accepted, Arrival, Desk, Lab};
use super::reply::Wire;
use crate::receiver::{Stage, TransactionAnswer};
use crate::replies::ReplyKind;

/// Longest command line, CRLF included (smtp-proto's own limit; RFC 5321 asks for 512 at
/// least).
pub const MAX_LINE: usize = smtp_proto::request::receiver::MAX_LINE_LENGTH;
/// Input buffered at most: a partial line and one read.
const BUFFER: usize = 2 * MAX_LINE;
/// Bytes of a message's header scanned for its Message-ID.
pub const HEADER_SCAN: usize = 8192;
/// Bad commands before the server hangs up (Postfix's `smtpd_hard_error_limit`).
const HARD_ERROR_LIMIT: u32 = 20;
/// Recipients per message (Postfix's `smtpd_recipient_limit` is 1000 too).
const MAX_RECIPIENTS: usize = 1000;

/// The server's settings every session follows.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A client silent this long (wall clock) is answered 421 and disconnected.
    pub idle_timeout: Duration,
    /// Largest message accepted, in bytes (advertised with SIZE).
    pub max_message_size: u64,
}

/// Serves one accepted connection to receiver `d` until it ends.
pub async fn handle(
    lab: Arc<Lab>,
    d: usize,
    limits: Arc<Limits>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let desk = &lab.desks[d];
    match desk.connect(&lab.clock) {
        Arrival::Greet(delay) => {
            let slot = Slot { lab: &lab, desk };
            tokio::time::sleep(delay).await;
            Session::new(&lab, desk, &limits, peer.ip())
                .run(stream)
                .await;
            drop(slot);
        }
        Arrival::Reject(delay, reply) => {
            let mut stream = stream;
            tokio::time::sleep(delay).await;
            let _ = stream.write_all(&lab.wire[reply.index()].0).await;
            let _ = stream.shutdown().await;
        }
        Arrival::Refuse => {
            let _ = stream.set_zero_linger();
        }
        Arrival::Silent => {
            let mut stream = stream;
            let _ = drain(&mut stream, limits.idle_timeout).await;
        }
        Arrival::Queued(ticket, told) => {
            let mut stream = stream;
            let greeting = tokio::select! {
                at = told => at.ok(),
                _ = drain(&mut stream, limits.idle_timeout) => None,
            };
            let Some(at) = greeting else {
                return desk.abandon(ticket);
            };
            let slot = Slot { lab: &lab, desk };
            tokio::time::sleep_until(lab.clock.moment(at).into()).await;
            Session::new(&lab, desk, &limits, peer.ip())
                .run(stream)
                .await;
            drop(slot);
        }
    }
}

/// Reads and discards until the client closes or stays silent for `idle`.
async fn drain(stream: &mut TcpStream, idle: Duration) -> io::Result<()> {
    let mut sink = [0u8; 512];
    loop {
        match tokio::time::timeout(idle, stream.read(&mut sink)).await {
            Ok(Ok(0)) | Err(_) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// A session's slot at its receiver, given back however the session ends.
struct Slot<'a> {
    lab: &'a Lab,
    desk: &'a Desk,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.desk.disconnect(&self.lab.clock);
    }
}

/// What to do after a command or a piece of a message.
enum Step {
    /// Go on with what is buffered.
    Next,
    /// Send what is pending and read more.
    Read,
    /// Send what is pending and hang up.
    Close,
}

/// The message of the transaction in progress.
struct Envelope {
    sender: String,
    /// Recipients the receiver accepted, or refused at the end of DATA, with its answer.
    recipients: Vec<(String, TransactionAnswer)>,
    /// Recipients refused at RCPT TO.
    refused: usize,
}

/// DATA in progress.
struct Body {
    receiver: DataReceiver,
    /// Unstuffed bytes of the last piece (counted, scanned, then cleared).
    piece: Vec<u8>,
    size: u64,
    header: Vec<u8>,
    header_done: bool,
}

struct Session<'a> {
    lab: &'a Lab,
    desk: &'a Desk,
    limits: &'a Limits,
    client: IpAddr,
    input: Vec<u8>,
    /// Inside a line longer than [`MAX_LINE`], skipped up to its end.
    skipping: bool,
    out: Vec<u8>,
    helo: bool,
    envelope: Option<Envelope>,
    body: Option<Body>,
    /// Transactions judged in this session (one per recipient).
    judged: u32,
    errors: u32,
}

impl<'a> Session<'a> {
    fn new(lab: &'a Lab, desk: &'a Desk, limits: &'a Limits, client: IpAddr) -> Self {
        Session {
            lab,
            desk,
            limits,
            client,
            input: Vec::with_capacity(BUFFER),
            skipping: false,
            out: Vec::with_capacity(512),
            helo: false,
            envelope: None,
            body: None,
            judged: 0,
            errors: 0,
        }
    }

    fn hostname(&self) -> String {
        format!("mtasim-{}", self.desk.name)
    }

    /// The conversation, from the greeting to the end; I/O errors end it quietly.
    async fn run(mut self, mut stream: TcpStream) {
        let greeting = format!("220 {} ESMTP mtasim serve", self.hostname());
        self.reply_line(&greeting);
        let _ = self.converse(&mut stream).await;
        let _ = stream.shutdown().await;
    }

    async fn converse(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        loop {
            let step = if self.body.is_some() {
                self.message(stream).await?
            } else {
                self.command(stream).await?
            };
            match step {
                Step::Next => {}
                Step::Close => return self.flush(stream).await,
                Step::Read => {
                    self.flush(stream).await?;
                    if !self.fill(stream).await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn flush(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        if !self.out.is_empty() {
            stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Reads more input; false when the client has gone (or was timed out).
    async fn fill(&mut self, stream: &mut TcpStream) -> io::Result<bool> {
        let len = self.input.len();
        self.input.resize(BUFFER, 0);
        let read = tokio::time::timeout(
            self.limits.idle_timeout,
            stream.read(&mut self.input[len..]),
        )
        .await;
        let n = match read {
            Ok(result) => result?,
            Err(_) => {
                self.input.truncate(len);
                self.desk.protocol_error();
                let timeout = format!("421 4.4.2 {} Error: timeout exceeded", self.hostname());
                self.reply_line(&timeout);
                self.flush(stream).await?;
                return Ok(false);
            }
        };
        self.input.truncate(len + n);
        Ok(n > 0)
    }

    fn reply_line(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Takes the next complete command line from the input and answers it.
    async fn command(&mut self, stream: &mut TcpStream) -> io::Result<Step> {
        let newline = memchr::memchr(b'\n', &self.input);
        if self.skipping || newline.is_none_or(|lf| lf >= MAX_LINE) {
            return Ok(self.skip_long_line(newline));
        }
        let end = newline.expect("checked") + 1;
        let request = Request::parse(&mut self.input[..end].iter()).map(Request::into_owned);
        self.input.drain(..end);
        match request {
            Ok(request) => self.execute(request, stream).await,
            Err(error) => Ok(self.bad_syntax(&error)),
        }
    }

    /// Over-long input: skipped up to its line's end, then answered once.
    fn skip_long_line(&mut self, newline: Option<usize>) -> Step {
        match newline {
            Some(lf) => {
                self.input.drain(..=lf);
                self.skipping = false;
                self.protocol_error("500 5.5.2 Error: line too long")
            }
            None if self.skipping || self.input.len() >= MAX_LINE => {
                self.input.clear();
                self.skipping = true;
                Step::Read
            }
            None => Step::Read,
        }
    }

    /// A command that could not be parsed.
    fn bad_syntax(&mut self, error: &Error) -> Step {
        let reply = match error {
            Error::UnknownCommand => "500 5.5.2 Error: command not recognized".to_string(),
            Error::InvalidSenderAddress => "501 5.1.7 Bad sender address syntax".to_string(),
            Error::InvalidRecipientAddress => "501 5.1.3 Bad recipient address syntax".to_string(),
            Error::SyntaxError { syntax } => format!("501 5.5.4 Syntax: {syntax}"),
            Error::InvalidParameter { param } => format!("501 5.5.4 Invalid parameter: {param}"),
            Error::UnsupportedParameter { param } => {
                format!("555 5.5.4 Unsupported option: {param}")
            }
            _ => "500 5.5.2 Error: bad syntax".to_string(),
        };
        self.protocol_error(&reply)
    }

    /// Answers a protocol error; past the hard error limit, hangs up.
    fn protocol_error(&mut self, reply: &str) -> Step {
        self.desk.protocol_error();
        self.reply_line(reply);
        self.errors += 1;
        if self.errors >= HARD_ERROR_LIMIT {
            let bye = format!("421 4.7.0 {} Error: too many errors", self.hostname());
            self.reply_line(&bye);
            return Step::Close;
        }
        Step::Next
    }

    async fn execute(
        &mut self,
        request: Request<String>,
        stream: &mut TcpStream,
    ) -> io::Result<Step> {
        Ok(match request {
            Request::Ehlo { .. } => {
                self.helo = true;
                self.envelope = None;
                let mut ehlo = EhloResponse::new(self.hostname());
                ehlo.capabilities =
                    EXT_PIPELINING | EXT_SIZE | EXT_8BIT_MIME | EXT_ENHANCED_STATUS_CODES;
                ehlo.size = self.limits.max_message_size as usize;
                ehlo.write(&mut self.out)?;
                Step::Next
            }
            Request::Helo { .. } => {
                self.helo = true;
                self.envelope = None;
                let hello = format!("250 {}", self.hostname());
                self.reply_line(&hello);
                Step::Next
            }
            Request::Mail { from } => self.mail(from.address, from.size as u64),
            Request::Rcpt { to } => self.rcpt(to.address, stream).await?,
            Request::Data => self.data(),
            Request::Rset => {
                self.envelope = None;
                self.reply_line("250 2.0.0 Ok");
                Step::Next
            }
            Request::Noop { .. } => {
                self.reply_line("250 2.0.0 Ok");
                Step::Next
            }
            Request::Quit => {
                self.reply_line("221 2.0.0 Bye");
                Step::Close
            }
            _ => self.protocol_error("502 5.5.1 Error: command not implemented"),
        })
    }

    fn mail(&mut self, sender: String, declared_size: u64) -> Step {
        if !self.helo {
            return self.protocol_error("503 5.5.1 Error: send HELO/EHLO first");
        }
        if self.envelope.is_some() {
            return self.protocol_error("503 5.5.1 Error: nested MAIL command");
        }
        if declared_size > self.limits.max_message_size {
            self.reply_line("552 5.3.4 Message size exceeds fixed limit");
            return Step::Next;
        }
        if let Some(spent) = self.desk.mail(self.judged) {
            self.desk.refused(spent.reply, spent.kind);
            self.out
                .extend_from_slice(&self.lab.wire[spent.reply.index()].0);
            return Step::Close;
        }
        self.envelope = Some(Envelope {
            sender,
            recipients: Vec::new(),
            refused: 0,
        });
        self.reply_line("250 2.1.0 Ok");
        Step::Next
    }

    async fn rcpt(&mut self, recipient: String, stream: &mut TcpStream) -> io::Result<Step> {
        let Some(envelope) = &self.envelope else {
            return Ok(self.protocol_error("503 5.5.1 Error: need MAIL command"));
        };
        if envelope.recipients.len() + envelope.refused >= MAX_RECIPIENTS {
            self.reply_line("452 4.5.3 Error: too many recipients");
            return Ok(Step::Next);
        }
        let domain = recipient.rsplit_once('@').map_or("", |(_, d)| d);
        if !self.desk.hosts(domain) {
            self.desk.misrouted();
            let denied = format!(
                "550 5.7.1 <{recipient}>: Relay access denied ({} does not host {domain:?})",
                self.desk.name
            );
            self.reply_line(&denied);
            return Ok(Step::Next);
        }
        let answer = self.desk.transaction(
            &self.lab.clock,
            self.client,
            &envelope.sender,
            &recipient,
            self.judged,
        );
        self.judged += 1;
        let envelope = self.envelope.as_mut().expect("checked above");
        if answer.kind == ReplyKind::Accepted || answer.stage == Stage::Data {
            envelope.recipients.push((recipient, answer));
            self.reply_line("250 2.1.5 Ok");
            return Ok(Step::Next);
        }
        envelope.refused += 1;
        self.answer(&answer, stream).await
    }

    /// Gives the receiver's refusal after its latency; a 421 closes the session.
    async fn answer(
        &mut self,
        answer: &TransactionAnswer,
        stream: &mut TcpStream,
    ) -> io::Result<Step> {
        self.flush(stream).await?;
        tokio::time::sleep(self.lab.clock.wall(answer.after)).await;
        self.desk.refused(answer.reply, answer.kind);
        let wire = &self.lab.wire[answer.reply.index()];
        self.out.extend_from_slice(&wire.0);
        Ok(if closes(wire) || answer.close {
            Step::Close
        } else {
            Step::Next
        })
    }

    fn data(&mut self) -> Step {
        match &self.envelope {
            Some(e) if !e.recipients.is_empty() => {}
            Some(e) if e.refused > 0 => {
                self.reply_line("554 5.5.1 Error: no valid recipients");
                return Step::Next;
            }
            _ => return self.protocol_error("503 5.5.1 Error: need RCPT command"),
        }
        let mut receiver = DataReceiver::new();
        // The data starts a line: a "." right away ends an empty message.
        let mut piece = Vec::new();
        receiver.ingest(&mut b"\r\n".iter(), &mut piece);
        piece.clear();
        self.body = Some(Body {
            receiver,
            piece,
            size: 0,
            header: Vec::new(),
            header_done: false,
        });
        self.reply_line("354 End data with <CR><LF>.<CR><LF>");
        Step::Next
    }

    /// Takes the buffered part of the message being sent; at its end, the answer.
    async fn message(&mut self, stream: &mut TcpStream) -> io::Result<Step> {
        let body = self.body.as_mut().expect("in DATA");
        let mut bytes = self.input.iter();
        let ended = body.receiver.ingest(&mut bytes, &mut body.piece);
        let used = self.input.len() - bytes.len();
        self.input.drain(..used);
        body.size += body.piece.len() as u64;
        if !body.header_done {
            let room = HEADER_SCAN - body.header.len();
            body.header
                .extend_from_slice(&body.piece[..body.piece.len().min(room)]);
            body.header_done = body.header.len() >= HEADER_SCAN
                || memchr::memmem::find(&body.header, b"\r\n\r\n").is_some()
                || body.header.starts_with(b"\r\n");
        }
        body.piece.clear();
        if !ended {
            return Ok(Step::Read);
        }
        let body = self.body.take().expect("in DATA");
        let envelope = self.envelope.take().expect("DATA needs a transaction");
        self.end_of_data(envelope, body, stream).await
    }

    /// The end of DATA: too large (552), refused for a recipient's verdict given at this
    /// stage (every recipient gets that answer), or journaled and accepted.
    async fn end_of_data(
        &mut self,
        envelope: Envelope,
        body: Body,
        stream: &mut TcpStream,
    ) -> io::Result<Step> {
        if body.size > self.limits.max_message_size {
            self.reply_line("552 5.3.4 Error: message file too big");
            return Ok(Step::Next);
        }
        let slowest = envelope
            .recipients
            .iter()
            .map(|(_, a)| a.after)
            .max()
            .unwrap_or_default();
        let refusal = envelope
            .recipients
            .iter()
            .map(|(_, a)| *a)
            .find(|a| a.kind != ReplyKind::Accepted);
        if let Some(refusal) = refusal {
            for _ in 1..envelope.recipients.len() {
                self.desk.refused(refusal.reply, refusal.kind);
            }
            return self
                .answer(
                    &TransactionAnswer {
                        after: slowest,
                        ..refusal
                    },
                    stream,
                )
                .await;
        }
        self.flush(stream).await?;
        tokio::time::sleep(self.lab.clock.wall(slowest)).await;
        let recipients: Vec<String> = envelope.recipients.iter().map(|(r, _)| r.clone()).collect();
        let message_id = message_id(&body.header);
        let accepted = Accepted {
            client: self.client,
            sender: &envelope.sender,
            recipients: &recipients,
            message_id: message_id.as_deref(),
            size: body.size,
        };
        if self.desk.accepted(self.lab, &accepted).is_err() {
            self.reply_line("451 4.3.0 Error: cannot record the message, try again later");
            return Ok(Step::Next);
        }
        let accepted = envelope.recipients[0].1.reply;
        self.out
            .extend_from_slice(&self.lab.wire[accepted.index()].0);
        Ok(Step::Next)
    }
}

/// Whether a reply closes the channel (421, RFC 5321 section 3.8).
fn closes(wire: &Wire) -> bool {
    wire.0.starts_with(b"421")
}

/// The Message-ID header's value in `header` (folded lines joined), if any.
pub fn message_id(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut lines = text.split("\r\n").take_while(|l| !l.is_empty());
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut value = value.trim().to_string();
        if value.is_empty() {
            value = lines.next().unwrap_or("").trim().to_string();
        }
        return (!value.is_empty()).then_some(value);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the DATA receiver makes of `data`, started as a session starts it.
    fn unstuffed(data: &[u8]) -> (bool, Vec<u8>) {
        let mut receiver = DataReceiver::new();
        let mut piece = Vec::new();
        receiver.ingest(&mut b"\r\n".iter(), &mut piece);
        piece.clear();
        let ended = receiver.ingest(&mut data.iter(), &mut piece);
        (ended, piece)
    }

    #[test]
    fn data_ends_at_the_lone_dot_and_is_unstuffed() {
        assert_eq!(unstuffed(b".\r\n"), (true, Vec::new()));
        let (ended, body) = unstuffed(b"a\r\n..b\r\n.\r\n");
        assert!(ended);
        assert_eq!(body, b"a\r\n.b\r\n");
        assert!(!unstuffed(b"a\r\n.b\r\n").0);
    }

    #[test]
    fn the_message_id_is_read_from_the_header_only() {
        let header = b"From: a@b\r\nMessage-ID: <1@x>\r\n\r\nMessage-ID: <2@x>\r\n";
        assert_eq!(message_id(header).as_deref(), Some("<1@x>"));
        assert_eq!(
            message_id(b"message-id:\r\n <3@x>\r\n\r\n").as_deref(),
            Some("<3@x>")
        );
        assert_eq!(message_id(b"Subject: x\r\n\r\nMessage-ID: <2@x>\r\n"), None);
    }
}
