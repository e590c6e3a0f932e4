//! `report.html`: one self-contained page that a browser opens offline (no network, no
//! external file): a summary table sortable by any column, an explorer of every
//! destination's time series, and further sections (chart files, transitions, scenario).
//!
//! # The explorer
//! A destination picker with search; for the chosen destination the panels of the PNG
//! charts — flow-control state strip, queue depth, flow-control limits, outcomes per minute,
//! the receiver's reputation (for the total: destinations in backoff and suspended) —
//! drawn by [uPlot](https://github.com/leeoniya/uPlot) (MIT, vendored in `assets/uplot/`)
//! from data embedded in the page. Drag to zoom, Shift+drag to pan, Ctrl+wheel to zoom
//! around the cursor, double-click for the whole run; all panels share one time axis and
//! one cursor, whose readout gives every series at that time. A click on a summary row
//! opens its destination. The address keeps the view (`#destination=yahoo&from=3600&to=
//! 7200`), so a link shows what you saw; `&selftest` makes the page check itself and write
//! the result into `data-selftest` on `<body>` (the headless-browser test reads it).
//!
//! # Filling a page (runs today; diagnose and replay)
//! A page is a [`Page`] given to [`render`]; [`run::page`] builds a run's. Another command
//! fills the same structure:
//! - `table`: one [`Row`] per destination; a row whose `destination` is the `name` of an
//!   explorer [`Entry`] opens it on click. Cells sort by their [`Cell::sort`] key, else text.
//! - `explorer`: an [`Explorer`] whose `sources` name the timelines each entry has — a run
//!   has `["simulated"]`; replay would have `["observed", "simulated"]`, drawn side by
//!   side on one shared time axis. Each [`Timeline`] has the sample times and any of the
//!   [`Series`] columns (counts per interval, depths and limits at the sample time); a
//!   panel is drawn when one of its columns is present, so a log that yields only queue
//!   and outcome counts shows just those panels. Diagnose's episodes can be given as a
//!   [`Series::State`] column (backoff where flow control held the destination).
//! - `sections`: any further HTML (episode lists, fit tables), each with its own heading.
//!
//! The data is embedded as columnar JSON (times as steps, each column as values or runs
//! of equal values, rounded as timeseries.csv rounds). The default run's page weighs
//! 193 KB (time series 54 KB, uPlot 51 KB), the large campaign's 219 KB (84 KB).

pub mod diagnosis;
pub mod error_table;
mod explorer;
mod html;
pub mod run;

use std::fmt::Write as _;
use std::io;
use std::path::Path;

pub use explorer::{Entry, Explorer, Series, Thresholds, Timeline, state_code};
pub use html::escape;
use html::sortable_table;
pub use html::{Cell, Row};
pub use run::MAX_TRANSITIONS;

use crate::plot::{Chart, style};
use crate::sim::RunResult;

/// The summary table's id; its script sorts it and opens rows in the explorer.
const SUMMARY_TABLE: &str = "summary-table";

/// uPlot 1.6.32 (MIT, see assets/uplot/LICENSE), inlined so the page needs no network.
const UPLOT_JS: &str = include_str!("../../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../assets/uplot/uPlot.min.css");
/// The explorer and the table sorting.
const EXPLORER_JS: &str = include_str!("../../assets/report/explorer.js");
const EXPLORER_CSS: &str = include_str!("../../assets/report/explorer.css");

/// Everything a report page shows.
#[derive(Default)]
pub struct Page {
    /// The heading and the window title.
    pub title: String,
    pub description: String,
    /// One line of facts under the heading (seed, durations, totals).
    pub facts: String,
    /// What went wrong, in one line, at the top of the page (none when empty).
    pub verdict: String,
    /// A sentence above the summary table.
    pub diagnosis: String,
    pub headers: Vec<&'static str>,
    pub table: Vec<Row>,
    /// HTML after the table: notes, run-wide tables.
    pub after_table: String,
    pub explorer: Explorer,
    pub sections: Vec<Section>,
}

/// A further section of the page, listed in the navigation.
pub struct Section {
    pub id: &'static str,
    pub title: String,
    /// Already escaped.
    pub html: String,
}

/// Writes a run's `report.html` into `dir`, where its charts are already drawn.
pub fn write(result: &RunResult, charts: &[Chart], dir: &Path) -> io::Result<()> {
    let latency = charts
        .iter()
        .find(|c| c.stem == "latency")
        .map(|c| std::fs::read_to_string(dir.join(c.svg())))
        .transpose()?;
    let page = run::page(result, charts, latency.as_deref());
    std::fs::write(dir.join("report.html"), render(&page))
}

/// The page as one HTML document.
pub fn render(page: &Page) -> String {
    let data = page.explorer.to_json();
    let mut out = String::with_capacity(data.len() + UPLOT_JS.len() + 64_000);
    head(&mut out, &page.title);
    header(&mut out, page);
    summary(&mut out, page);
    explorer_section(&mut out, page);
    for section in &page.sections {
        let _ = write!(
            out,
            "<section id=\"{}\">\n<h2>{}</h2>\n{}</section>\n",
            section.id,
            escape(&section.title),
            section.html
        );
    }
    let _ = write!(
        out,
        "<script type=\"application/json\" id=\"explorer-data\">{data}</script>\n\
         <script type=\"application/json\" id=\"explorer-palette\">{}</script>\n\
         <script>{UPLOT_JS}</script>\n<script>{EXPLORER_JS}</script>\n\
         </main>\n</body>\n</html>\n",
        palette()
    );
    out
}

fn head(out: &mut String, title: &str) {
    // The error log comes first, so the self-test also sees errors of the scripts below.
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>mtasim report: {}</title>\n\
         <script>window.scriptErrors = []; window.addEventListener(\"error\", function (e) \
         {{ window.scriptErrors.push(String(e.message)); }});</script>\n\
         <style>\n{UPLOT_CSS}\n{}{EXPLORER_CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(title),
        state_css()
    );
}

/// The state colours of the charts, for the page's tables.
fn state_css() -> String {
    format!(
        ":root {{ --normal: {}; --backoff: {}; --suspended: {}; }}\n",
        style::css(style::NORMAL),
        style::css(style::BACKOFF),
        style::css(style::SUSPENDED),
    )
}

/// The charts' colours by series key, so the explorer looks like the PNGs.
fn palette() -> String {
    let colours = [
        ("normal", style::NORMAL),
        ("backoff", style::BACKOFF),
        ("suspended", style::SUSPENDED),
        ("ready", style::READY),
        ("waiting", style::WAITING),
        ("in_flight", style::IN_FLIGHT),
        ("delivered", style::DELIVERED),
        ("deferred", style::DEFERRED),
        ("bounced", style::BOUNCED),
        ("blocking", style::BLOCKING),
        ("concurrency_limit", style::CONCURRENCY),
        ("rate_limit", style::RATE),
        ("reputation", style::REPUTATION),
    ];
    let fields: Vec<String> = colours
        .iter()
        .map(|(key, colour)| format!("\"{key}\":\"{}\"", style::css(*colour)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn header(out: &mut String, page: &Page) {
    let _ = writeln!(out, "<h1>{}</h1>", escape(&page.title));
    if !page.verdict.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"verdict\" id=\"verdict\">{}</p>",
            escape(&page.verdict)
        );
    }
    if !page.description.is_empty() {
        let _ = writeln!(out, "<p class=\"desc\">{}</p>", escape(&page.description));
    }
    let _ = write!(
        out,
        "<p class=\"facts\">{}</p>\n<nav>\
         <a href=\"#summary\">Summary</a><a href=\"#explorer\">Explorer</a>",
        escape(&page.facts),
    );
    for section in &page.sections {
        let _ = write!(
            out,
            "<a href=\"#{}\">{}</a>",
            section.id,
            escape(&section.title)
        );
    }
    out.push_str("</nav>\n");
}

fn summary(out: &mut String, page: &Page) {
    let _ = writeln!(
        out,
        "<section id=\"summary\">\n<h2>Summary</h2>\n<p>{}</p>\n<p class=\"note\">Click a \
         column to sort by it, a destination to explore it.</p>",
        escape(&page.diagnosis)
    );
    sortable_table(out, SUMMARY_TABLE, &page.headers, &page.table);
    out.push_str(&page.after_table);
    out.push_str("</section>\n");
}

fn explorer_section(out: &mut String, page: &Page) {
    let entries = page.explorer.entries.len();
    let _ = write!(
        out,
        "<section id=\"explorer\">\n<h2>Explorer</h2>\n\
         <div class=\"picker\"><input id=\"pick\" type=\"search\" autocomplete=\"off\" \
         placeholder=\"Search {entries} destinations\" aria-label=\"destination\">\
         <ul id=\"matches\"></ul></div>\n\
         <div class=\"toolbar\"><button id=\"zoom-out\" title=\"zoom out\">−</button>\
         <button id=\"pan-left\" title=\"earlier\">◀</button>\
         <button id=\"pan-right\" title=\"later\">▶</button>\
         <button id=\"zoom-all\">whole run</button> <span id=\"range\"></span>\
         <span class=\"hint\">drag to zoom · Shift+drag to pan · Ctrl+wheel to zoom · \
         double-click for the whole run</span></div>\n\
         <h3 id=\"chosen\"></h3>\n<div id=\"panels\"></div>\n<div id=\"replies\"></div>\n\
         <noscript><p class=\"note\">The explorer needs JavaScript; the PNG and SVG charts \
         beside this file show the same panels.</p></noscript>\n</section>\n"
    );
}
