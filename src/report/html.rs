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

/// One table cell: its HTML (already escaped), an optional class, and the number it sorts
/// by when that is not its text (`3h 59m` sorts by seconds).
pub struct Cell {
    pub html: String,
    pub class: Option<&'static str>,
    pub sort: Option<f64>,
}

impl Cell {
    /// A cell of plain text, escaped.
    pub fn text(text: &str) -> Self {
        Cell {
            html: escape(text),
            class: None,
            sort: None,
        }
    }

    /// A right-aligned number.
    pub fn number(value: impl std::fmt::Display) -> Self {
        Cell {
            html: value.to_string(),
            class: Some("num"),
            sort: None,
        }
    }

    /// A count, sorted as a number.
    pub fn count(n: u64) -> Self {
        Cell::number(n).sorted_by(n as f64)
    }

    /// Sorted by `key` instead of its text; NaN sorts as missing.
    pub fn sorted_by(mut self, key: f64) -> Self {
        self.sort = Some(key);
        self
    }

    /// A cell with a class, e.g. to colour a state.
    pub fn with_class(mut self, class: &'static str) -> Self {
        self.class = Some(class);
        self
    }
}

/// A table row: its cells, an optional class, the explorer entry it opens on click, and
/// the moment (seconds) it is about, which the explorer then centres on.
#[derive(Default)]
pub struct Row {
    pub cells: Vec<Cell>,
    pub class: Option<&'static str>,
    pub destination: Option<String>,
    pub at: Option<f64>,
}

impl From<Vec<Cell>> for Row {
    fn from(cells: Vec<Cell>) -> Self {
        Row {
            cells,
            ..Row::default()
        }
    }
}

/// A table with a header row; `headers` are plain text.
pub fn table(out: &mut String, headers: &[&str], rows: impl IntoIterator<Item = Vec<Cell>>) {
    let rows: Vec<Row> = rows.into_iter().map(Row::from).collect();
    table_with(out, headers, None, &rows);
}

/// A table whose script sorts it by any column and opens a row's destination on click.
pub fn sortable_table(out: &mut String, id: &str, headers: &[&str], rows: &[Row]) {
    table_with(out, headers, Some(id), rows);
}

fn table_with(out: &mut String, headers: &[&str], sortable: Option<&str>, rows: &[Row]) {
    match sortable {
        Some(id) => {
            let _ = write!(
                out,
                "<div class=\"scroll\"><table id=\"{}\" class=\"sortable\">\n<thead><tr>",
                escape(id)
            );
        }
        None => out.push_str("<div class=\"scroll\"><table>\n<thead><tr>"),
    }
    for header in headers {
        let _ = write!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr");
        if let Some(class) = row.class {
            let _ = write!(out, " class=\"{class}\"");
        }
        if let Some(destination) = &row.destination {
            let _ = write!(out, " data-destination=\"{}\"", escape(destination));
        }
        if let Some(at) = row.at {
            let _ = write!(out, " data-at=\"{at}\"");
        }
        out.push('>');
        for cell in &row.cells {
            out.push_str("<td");
            if let Some(class) = cell.class {
                let _ = write!(out, " class=\"{class}\"");
            }
            if let Some(key) = cell.sort {
                let key = if key.is_finite() {
                    key.to_string()
                } else {
                    String::new()
                };
                let _ = write!(out, " data-v=\"{key}\"");
            }
            let _ = write!(out, ">{}</td>", cell.html);
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

    #[test]
    fn sortable_rows_carry_their_destination_and_sort_keys() {
        let mut out = String::new();
        let row = Row {
            cells: vec![
                Cell::text("yahoo"),
                Cell::number("3h 59m").sorted_by(14_352.5),
                Cell::number("–").sorted_by(f64::NAN),
            ],
            class: Some("total"),
            destination: Some("ya\"hoo".into()),
            at: None,
        };
        sortable_table(
            &mut out,
            "summary-table",
            &["destination", "p95", "min"],
            &[row],
        );
        assert!(out.contains("<table id=\"summary-table\" class=\"sortable\">"));
        assert!(out.contains(
            "<tr class=\"total\" data-destination=\"ya&quot;hoo\"><td>yahoo</td>\
             <td class=\"num\" data-v=\"14352.5\">3h 59m</td><td class=\"num\" data-v=\"\">–</td></tr>"
        ));
    }
}
