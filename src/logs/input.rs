//! Opening log files: standard input for `-`, gzip and zstd by their magic bytes (whatever
//! the file is called), and the format from the first non-empty lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::time::SystemTime;

use crate::MtaKind;
use flate2::bufread::MultiGzDecoder;
use ruzstd::decoding::{FrameDecoder, StreamingDecoder};

const BUFFER: usize = 256 * 1024;

/// A file opened for reading, decompressed, with its modification time.
pub struct Opened {
    pub reader: Box<dyn BufRead>,
    pub modified: Option<SystemTime>,
}

/// Opens `path` (`-`: standard input).
pub fn open(path: &Path) -> io::Result<Opened> {
    if path.as_os_str() == "-" {
        return Ok(Opened {
            reader: decompress(Box::new(BufReader::with_capacity(
                BUFFER,
                io::stdin().lock(),
            )))?,
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
pub fn decompress(mut raw: Box<dyn BufRead>) -> io::Result<Box<dyn BufRead>> {
    let head = raw.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz = MultiGzDecoder::new(raw);
        return Ok(Box::new(BufReader::with_capacity(BUFFER, gz)));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let zst = ZstdFrames::new(raw)?;
        return Ok(Box::new(BufReader::with_capacity(BUFFER, zst)));
    }
    Ok(raw)
}

/// A zstd stream of one or more frames (`zstd -T0` and log rotators write several).
struct ZstdFrames {
    decoder: StreamingDecoder<Box<dyn BufRead>, FrameDecoder>,
}

fn zstd_error(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl ZstdFrames {
    fn new(raw: Box<dyn BufRead>) -> io::Result<ZstdFrames> {
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

/// The format of a log from its first bytes: the first non-empty line that one of the
/// formats recognises decides (up to 50 lines).
pub fn detect(head: &[u8]) -> Option<MtaKind> {
    let text = String::from_utf8_lossy(head);
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(50) {
        let line = line.trim_start_matches('\u{feff}');
        if line.starts_with('{') && line.contains("\"type\"") {
            return Some(MtaKind::KumoMta);
        }
        if is_pmta_header(line) || is_pmta_record(line) {
            return Some(MtaKind::Pmta);
        }
        let b = line.as_bytes();
        if super::time::parse_classic(b).is_some() || super::time::parse_datetime(b).is_some() {
            return Some(MtaKind::Postfix);
        }
    }
    None
}

fn is_pmta_header(line: &str) -> bool {
    let mut fields = line.split(',').map(|f| f.trim_matches('"'));
    fields.next() == Some("type") && fields.any(|f| f == "timeLogged" || f == "rcpt")
}

fn is_pmta_record(line: &str) -> bool {
    let mut fields = line.split(',');
    matches!(fields.next(), Some("d" | "b" | "t"))
        && fields
            .next()
            .is_some_and(|t| super::time::parse_datetime(t.trim_matches('"').as_bytes()).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(
            detect(b"\n\nJun 14 18:08:39 mx postfix/smtp[1]: ABCDEF: to=<a@b>"),
            Some(MtaKind::Postfix)
        );
        assert_eq!(
            detect(b"2026-06-14T18:08:39.620674-03:00 mx postfix/qmgr[1]: x"),
            Some(MtaKind::Postfix)
        );
        assert_eq!(
            detect(br#"{"type":"Delivery","id":"x"}"#),
            Some(MtaKind::KumoMta)
        );
        assert_eq!(
            detect(b"type,timeLogged,timeQueued,orig,rcpt\n"),
            Some(MtaKind::Pmta)
        );
        assert_eq!(
            detect(b"d,2024-01-02 03:04:05+0000,2024-01-02 03:04:00+0000,a@b,c@d\n"),
            Some(MtaKind::Pmta)
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
