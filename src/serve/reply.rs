//! Replies as they go on the wire: the receivers' (from the scenario's reply book, each
//! wrapped into a multi-line reply where it is long, as providers send them) and the
//! server's own protocol replies.

use crate::replies::Reply;

/// Characters of text per line of a multi-line reply (RFC 5321 allows 512 per line).
const LINE_TEXT: usize = 72;

/// One reply's bytes, CRLF-terminated, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire(pub Vec<u8>);

impl Wire {
    /// `reply` as it is sent: `421-4.7.28 first words\r\n421-4.7.28 more\r\n421 4.7.28 end\r\n`.
    /// The code (and enhanced code) starts every line, as RFC 5321 and 3463 want.
    pub fn of(reply: &Reply) -> Wire {
        let code = reply.code;
        let mut text = reply.text.get(4..).unwrap_or("").trim();
        let prefix = match &reply.enhanced {
            Some(enhanced) => {
                text = text
                    .strip_prefix(enhanced.as_str())
                    .unwrap_or(text)
                    .trim_start();
                format!("{enhanced} ")
            }
            None => String::new(),
        };
        let lines = wrap(text, LINE_TEXT);
        let mut out = Vec::with_capacity(text.len() + lines.len() * 16);
        for (i, line) in lines.iter().enumerate() {
            let separator = if i + 1 == lines.len() { ' ' } else { '-' };
            out.extend_from_slice(format!("{code}{separator}{prefix}{line}\r\n").as_bytes());
        }
        Wire(out)
    }

    /// A one-line reply of the server's own.
    pub fn line(text: &str) -> Wire {
        Wire(format!("{text}\r\n").into_bytes())
    }

    /// The reply as one line of text, the lines joined by spaces (as MTAs log it).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0)
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `text` in lines of at most `width` characters, broken at spaces (a longer word gets a
/// line of its own); at least one line.
fn wrap(text: &str, width: usize) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while rest.len() > width {
        let head = (0..=width + 1)
            .rev()
            .find(|&i| rest.is_char_boundary(i))
            .unwrap_or(0);
        let cut = rest[..head]
            .rfind(' ')
            .or_else(|| rest.find(' '))
            .unwrap_or(rest.len());
        lines.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() || lines.is_empty() {
        lines.push(rest);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(spec: &str) -> String {
        String::from_utf8(Wire::of(&Reply::resolve(spec).unwrap()).0).unwrap()
    }

    #[test]
    fn short_replies_are_one_line() {
        assert_eq!(wire("accepted"), "250 2.0.0 OK: queued\r\n");
        assert_eq!(wire("421 try later"), "421 try later\r\n");
        assert_eq!(wire("250"), "250 \r\n");
    }

    #[test]
    fn long_replies_are_multi_line_with_the_codes_on_every_line() {
        let text = wire("gmail-4.7.28");
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert!(lines.len() > 3, "{text}");
        for line in &lines[..lines.len() - 1] {
            assert!(line.starts_with("421-4.7.28 "), "{line}");
            assert!(line.len() <= 4 + 7 + LINE_TEXT, "{line}");
        }
        assert!(lines.last().unwrap().starts_with("421 4.7.28 "));
        assert!(text.contains("[203.0.113.7] Our system"));
        assert!(text.ends_with("- gsmtp\r\n"));
        // Joined again, the words are the catalogue's.
        let words: Vec<&str> = lines.iter().flat_map(|l| l[11..].split(' ')).collect();
        let reply = Reply::resolve("gmail-4.7.28").unwrap();
        let original: Vec<&str> = reply.text[11..].split(' ').collect();
        assert_eq!(words, original);
        let microsoft = wire("microsoft-4.7.650");
        assert!(
            microsoft.starts_with("451-4.7.650 The mail server"),
            "{microsoft}"
        );
    }

    #[test]
    fn a_word_longer_than_a_line_gets_its_own() {
        let long = "x".repeat(100);
        assert_eq!(wrap(&format!("a {long} b"), 10), ["a", long.as_str(), "b"]);
        assert_eq!(wrap("", 10), [""]);
    }
}
