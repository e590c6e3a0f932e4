//! Opening log files: standard input for `-`, gzip and zstd by their magic bytes (whatever
//! the file is called; decompressed on a thread of their own, so that decompressing and
//! lexing overlap), and the format from the first non-empty lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::SystemTime;

use crate::MtaKind;
use flate2::bufread::MultiGzDecoder;
use ruzstd::decoding::{FrameDecoder, StreamingDecoder};

use super::lexed::Skip;

const BUFFER: usize = 256 * 1024;

/// A file opened for reading, decompressed, with its modification time.
pub struct Opened {
    pub reader: Box<dyn BufRead + Send>,
    pub modified: Option<SystemTime>,
}

/// Opens `path` (`-`: standard input).
pub fn open(path: &Path) -> io::Result<Opened> {
    if path.as_os_str() == "-" {
        return Ok(Opened {
            reader: decompress(Box::new(BufReader::with_capacity(BUFFER, io::stdin())))?,
            modified: None,
        });
    }
    let file = File::open(path)?;
    let modified = file.metadata().and_then(|m| m.modified()).ok();
    Ok(Opened {
        reader: decompress(Box::new(BufReader::with_capacity(BUFFER, file)))?,
        modified,
    })
}

/// Wraps a reader in the decompressor its first bytes call for.
pub fn decompress(mut raw: Box<dyn BufRead + Send>) -> io::Result<Box<dyn BufRead + Send>> {
    let head = raw.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(Prefetch::spawn(MultiGzDecoder::new(raw))?));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(Box::new(Prefetch::spawn(ZstdFrames::new(raw)?)?));
    }
    Ok(raw)
}

/// Chunks decompressed ahead, at most this many waiting.
const AHEAD: usize = 4;

/// A reader whose bytes another thread reads ahead (from a decompressor) in chunks.
struct Prefetch {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
    done: bool,
}

impl Prefetch {
    fn spawn<R: Read + Send + 'static>(mut inner: R) -> io::Result<Prefetch> {
        let (tx, rx) = sync_channel(AHEAD);
        std::thread::Builder::new()
            .name("decompress".into())
            .spawn(move || {
                loop {
                    let mut chunk = vec![0; BUFFER];
                    let mut filled = 0;
                    let result = loop {
                        match inner.read(&mut chunk[filled..]) {
                            Ok(0) => break Ok(()),
                            Ok(n) => {
                                filled += n;
                                if filled == chunk.len() {
                                    break Ok(());
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => break Err(e),
                        }
                    };
                    chunk.truncate(filled);
                    let last = filled == 0 || result.is_err();
                    if filled > 0 && tx.send(Ok(chunk)).is_err() {
                        return;
                    }
                    if let Err(e) = result {
                        let _ = tx.send(Err(e));
                    }
                    if last {
                        return;
                    }
                }
            })?;
        Ok(Prefetch {
            rx,
            chunk: Vec::new(),
            at: 0,
            done: false,
        })
    }
}

impl Read for Prefetch {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Prefetch {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.at == self.chunk.len() && !self.done {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => self.done = true,
            }
        }
        Ok(&self.chunk[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.chunk.len());
    }
}

/// A zstd stream of one or more frames (`zstd -T0` and log rotators write several).
struct ZstdFrames {
    decoder: StreamingDecoder<Box<dyn BufRead + Send>, FrameDecoder>,
}

fn zstd_error(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl ZstdFrames {
    fn new(raw: Box<dyn BufRead + Send>) -> io::Result<ZstdFrames> {
        Ok(ZstdFrames {
            decoder: StreamingDecoder::new(raw).map_err(zstd_error)?,
        })
    }
}

impl Read for ZstdFrames {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.decoder.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            if self.decoder.get_mut().fill_buf()?.is_empty() {
                return Ok(0);
            }
            let source = std::mem::replace(self.decoder.get_mut(), Box::new(io::empty()));
            self.decoder = StreamingDecoder::new(source).map_err(zstd_error)?;
        }
    }
}

/// The non-empty lines of `head` (ending in LF, CRLF or a lone CR).
pub fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&b| b == b'\n' || b == b'\r')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

/// What one line shows its log to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// A format mtasim reads.
    Mta(MtaKind),
    /// A syslog line of another program (a maillog holds many): no format of its own.
    Syslog,
    /// The log of an MTA mtasim does not read, by name.
    Unsupported(&'static str),
}

/// What a log's first lines show it to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Mta(MtaKind),
    Unsupported(&'static str),
}

/// The format of one line, if it shows one.
pub fn line_format(line: &str) -> Option<LineFormat> {
    let line = line.trim_start_matches('\u{feff}');
    if line.starts_with('{') && line.contains("\"type\"") {
        return Some(LineFormat::Mta(MtaKind::KumoMta));
    }
    if is_pmta_header(line) || is_pmta_record(line) {
        return Some(LineFormat::Mta(MtaKind::Pmta));
    }
    if super::exim::looks_like_exim(line) {
        return Some(LineFormat::Mta(MtaKind::Exim));
    }
    if line.starts_with("#Software: Microsoft Exchange") || line.starts_with("#Fields: date-time,")
    {
        return Some(LineFormat::Unsupported(
            "Microsoft Exchange message tracking",
        ));
    }
    if line.starts_with("@4000") {
        return Some(LineFormat::Unsupported("qmail"));
    }
    let program = syslog_program(line)?;
    Some(match program {
        p if p.starts_with("postfix") => LineFormat::Mta(MtaKind::Postfix),
        "sendmail" | "sm-mta" | "sm-msp-queue" => LineFormat::Unsupported("Sendmail"),
        "smtpd" if line.contains(" mta ") || line.contains(" smtp ") => {
            LineFormat::Unsupported("OpenSMTPD")
        }
        p if p.starts_with("qmail") => LineFormat::Unsupported("qmail"),
        _ => LineFormat::Syslog,
    })
}

/// The program of a syslog line (`postfix/smtp` of `Jun 14 18:08:39 mx postfix/smtp[1]:`).
fn syslog_program(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    let used = match super::time::parse_classic(b) {
        Some((_, used)) => used,
        None => super::time::parse_datetime(b)?.1,
    };
    let rest = line.get(used..)?.strip_prefix(' ')?;
    let (_, rest) = rest.split_once(' ')?;
    let end = rest.find([':', '['])?;
    Some(&rest[..end])
}

/// The skip kind of a line of another format than the file's (`None`: not recognisably of
/// another format, such as another program's syslog line).
pub fn foreign(line: &str) -> Option<Skip> {
    Some(match line_format(line)? {
        LineFormat::Mta(MtaKind::Postfix) => Skip::ForeignPostfix,
        LineFormat::Mta(MtaKind::Exim) => Skip::ForeignExim,
        LineFormat::Mta(MtaKind::KumoMta) => Skip::ForeignKumo,
        LineFormat::Mta(MtaKind::Pmta) => Skip::ForeignPmta,
        LineFormat::Unsupported(_) => Skip::ForeignOther,
        LineFormat::Syslog => return None,
    })
}

/// The format of a log from its first bytes (up to 50 non-empty lines): the first line of a
/// known MTA decides; syslog lines of other programs alone are a Postfix maillog's.
pub fn detect(head: &[u8]) -> Option<Detected> {
    let mut syslog = false;
    for line in lines(head).take(50) {
        match line_format(&String::from_utf8_lossy(line)) {
            Some(LineFormat::Mta(kind)) => return Some(Detected::Mta(kind)),
            Some(LineFormat::Unsupported(name)) => return Some(Detected::Unsupported(name)),
            Some(LineFormat::Syslog) => syslog = true,
            None => {}
        }
    }
    syslog.then_some(Detected::Mta(MtaKind::Postfix))
}

fn is_pmta_header(line: &str) -> bool {
    let mut fields = line.split(',').map(|f| f.trim_matches('"'));
    fields.next() == Some("type") && fields.any(|f| f == "timeLogged" || f == "rcpt")
}

fn is_pmta_record(line: &str) -> bool {
    let mut fields = line.split(',');
    matches!(fields.next(), Some("d" | "b" | "t"))
        && fields.next().is_some_and(|t| {
            let t = t.trim_matches('"');
            super::time::parse_datetime(t.as_bytes()).is_some()
                || (9..=11).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        let mta = |k| Some(Detected::Mta(k));
        assert_eq!(
            detect(b"\n\nJun 14 18:08:39 mx postfix/smtp[1]: ABCDEF: to=<a@b>"),
            mta(MtaKind::Postfix)
        );
        assert_eq!(
            detect(b"2026-06-14T18:08:39.620674-03:00 mx postfix/qmgr[1]: x"),
            mta(MtaKind::Postfix)
        );
        assert_eq!(
            detect(br#"{"type":"Delivery","id":"x"}"#),
            mta(MtaKind::KumoMta)
        );
        assert_eq!(
            detect(b"type,timeLogged,timeQueued,orig,rcpt\n"),
            mta(MtaKind::Pmta)
        );
        assert_eq!(
            detect(b"d,2024-01-02 03:04:05+0000,2024-01-02 03:04:00+0000,a@b,c@d\n"),
            mta(MtaKind::Pmta)
        );
        assert_eq!(detect(b"hello\nworld\n"), None);
    }

    #[test]
    fn decompresses_by_magic() {
        let text = b"line one\nline two\n".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &text).unwrap();
        let gz = gz.finish().unwrap();
        let mut out = Vec::new();
        decompress(Box::new(std::io::Cursor::new(gz)))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, text);
        // Two zstd frames back to back.
        let mut zst = ruzstd::encoding::compress_to_vec(
            &text[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        zst.extend(ruzstd::encoding::compress_to_vec(
            &b"tail\n"[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        ));
        let mut out = Vec::new();
        decompress(Box::new(std::io::Cursor::new(zst)))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(&out[..text.len()], &text[..]);
        assert_eq!(&out[text.len()..], b"tail\n");
    }
}
