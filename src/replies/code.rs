//! Reply codes as they appear on the wire and in logs: the three-digit SMTP code at the
//! start of a reply and its RFC 3463 enhanced status code (`4.7.28`).

use std::fmt;

use serde::Serialize;

/// An RFC 3463 enhanced status code, `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Enhanced {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl fmt::Display for Enhanced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl Serialize for Enhanced {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Enhanced {
    /// Parses `4.7.28` (the whole of `text`).
    pub fn parse(text: &str) -> Option<Enhanced> {
        let b = text.as_bytes();
        let (class, rest) = part(b)?;
        let (subject, rest) = part(rest.strip_prefix(b".")?)?;
        let (detail, rest) = part(rest.strip_prefix(b".")?)?;
        if !rest.is_empty() || !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some(Enhanced {
            class: class as u8,
            subject,
            detail,
        })
    }
}

/// One to three digits at the start of `b`, and the rest.
fn part(b: &[u8]) -> Option<(u16, &[u8])> {
    let n = b.iter().take(4).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 3 {
        return None;
    }
    let v = b[..n].iter().fold(0u16, |v, c| v * 10 + (c - b'0') as u16);
    Some((v, &b[n..]))
}

/// A reply's leading code: `421-4.7.28 text`, `550 5.1.1 text`, `421 text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyCode {
    pub code: u16,
    pub enhanced: Option<Enhanced>,
}

/// The code at the start of `text`, if it starts with a three-digit SMTP code.
pub fn reply_code(text: &str) -> Option<ReplyCode> {
    let b = text.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || !matches!(b[0], b'2'..=b'5') {
        return None;
    }
    if b.len() > 3 && !matches!(b[3], b' ' | b'-') {
        return None;
    }
    let code = (b[0] - b'0') as u16 * 100 + (b[1] - b'0') as u16 * 10 + (b[2] - b'0') as u16;
    let rest = text.get(4..).unwrap_or("");
    let word = &rest[..memchr::memchr(b' ', rest.as_bytes()).unwrap_or(rest.len())];
    let enhanced = Enhanced::parse(word).filter(|e| e.class as u16 == code / 100);
    Some(ReplyCode { code, enhanced })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let r = reply_code("421-4.7.28 [203.0.113.7] Our system").unwrap();
        assert_eq!(r.code, 421);
        assert_eq!(r.enhanced.unwrap().to_string(), "4.7.28");
        let r = reply_code("421 Max message per connection reached").unwrap();
        assert_eq!((r.code, r.enhanced), (421, None));
        assert_eq!(
            reply_code("250"),
            Some(ReplyCode {
                code: 250,
                enhanced: None
            })
        );
        // An enhanced code of another class than the reply's is not taken.
        assert_eq!(reply_code("550 4.7.1 odd").unwrap().enhanced, None);
        assert_eq!(reply_code("delivered to mailbox"), None);
        assert_eq!(reply_code("4210 x"), None);
        assert_eq!(reply_code("199 x"), None);
        assert_eq!(Enhanced::parse("5.7.1000"), None);
        assert_eq!(Enhanced::parse("3.1.1"), None);
    }
}
