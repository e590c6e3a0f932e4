//! Small HTML helpers: escaping, and tables built from rows of already-escaped cells.

use std::fmt::Write as _;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One table cell: its HTML (already escaped) and an optional class.
pub struct Cell {
    pub html: String,
    pub class: Option<&'static str>,
}

impl Cell {
    /// A cell of plain text, escaped.
    pub fn text(text: &str) -> Self {
        Cell {
            html: escape(text),
            class: None,
        }
    }

    /// A right-aligned number.
    pub fn number(value: impl std::fmt::Display) -> Self {
        Cell {
            html: value.to_string(),
            class: Some("num"),
        }
    }

    /// A cell with a class, e.g. to colour a state.
    pub fn with_class(mut self, class: &'static str) -> Self {
        self.class = Some(class);
        self
    }
}

/// A table with a header row; `headers` are plain text.
pub fn table(out: &mut String, headers: &[&str], rows: impl IntoIterator<Item = Vec<Cell>>) {
    out.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
    for header in headers {
        let _ = write!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            match cell.class {
                Some(class) => {
                    let _ = write!(out, "<td class=\"{class}\">{}</td>", cell.html);
                }
                None => {
                    let _ = write!(out, "<td>{}</td>", cell.html);
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
    }

    #[test]
    fn tables_escape_text_cells() {
        let mut out = String::new();
        table(
            &mut out,
            &["reply"],
            [vec![Cell::text("421 <busy>"), Cell::number(3)]],
        );
        assert!(out.contains("<td>421 &lt;busy&gt;</td><td class=\"num\">3</td>"));
    }
}
