//! `report.html`: one self-contained page per run — scenario, summary per destination,
//! every chart inlined as SVG markup, and the flow-control transitions — that a browser
//! opens offline with no network, no external CSS or script.

mod html;

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use html::{Cell, escape, table};

use crate::metrics::DestinationSummary;
use crate::plot::{self, Chart, MAX_DESTINATION_CHARTS, style};
use crate::sim::RunResult;
use crate::units::{Instant, human_seconds};

/// The transitions list shows at most this many rows; transitions.csv has them all.
pub const MAX_TRANSITIONS: usize = 300;
/// Replies listed in the run-wide deferrals table.
const TOP_REPLIES: usize = 20;

/// Writes `report.html` into `dir`, inlining the SVG of each chart (already drawn there).
pub fn write(result: &RunResult, charts: &[Chart], dir: &Path) -> io::Result<()> {
    let svgs = charts
        .iter()
        .map(|c| std::fs::read_to_string(dir.join(c.svg())))
        .collect::<io::Result<Vec<_>>>()?;
    std::fs::write(dir.join("report.html"), render(result, charts, &svgs))
}

/// The page, given each chart's SVG markup (same order as `charts`).
pub fn render(result: &RunResult, charts: &[Chart], svgs: &[String]) -> String {
    let mut out = String::with_capacity(svgs.iter().map(String::len).sum::<usize>() + 64_000);
    head(&mut out, &result.scenario.name);
    header(&mut out, result);
    summary(&mut out, result);
    chart_section(&mut out, result, charts, svgs);
    transitions(&mut out, result);
    scenario(&mut out, result);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn head(out: &mut String, name: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>mtasim report: {}</title>\n<style>\n{}</style>\n</head>\n<body>\n<main>\n",
        escape(name),
        css()
    );
}

/// The page's style; state colours come from the charts' palette.
fn css() -> String {
    format!(
        "body {{ font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; color: #222; margin: 0; background: #f6f6f4; }}\n\
         main {{ max-width: 1280px; margin: 0 auto; padding: 1.5em 2em 4em; background: #fff; }}\n\
         h1 {{ margin-bottom: 0.2em; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }}\n\
         p.desc {{ max-width: 60em; line-height: 1.45; }} p.facts, p.note {{ color: #555; }}\n\
         nav a {{ margin-right: 1.2em; }}\n\
         .scroll {{ overflow-x: auto; }}\n\
         table {{ border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1em; }}\n\
         th, td {{ border-bottom: 1px solid #e4e4e4; padding: 4px 8px; text-align: left; vertical-align: top; }}\n\
         th {{ background: #f0f0ee; position: sticky; top: 0; }}\n\
         td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}\n\
         tr.total td {{ font-weight: bold; }}\n\
         td.normal {{ color: {normal}; }} td.backoff {{ background: {backoff}33; }} td.suspended {{ background: {suspended}33; }}\n\
         span.state {{ display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff; }}\n\
         span.normal {{ background: {normal}; }} span.backoff {{ background: {backoff}; }} span.suspended {{ background: {suspended}; }}\n\
         figure {{ margin: 1.5em 0 2.5em; }} figure svg {{ width: 100%; height: auto; display: block; border: 1px solid #eee; }}\n\
         figcaption {{ font-size: 14px; color: #444; margin-top: 0.4em; }}\n\
         pre {{ background: #f6f6f4; padding: 1em; overflow-x: auto; font-size: 12px; }}\n",
        normal = style::css(style::NORMAL),
        backoff = style::css(style::BACKOFF),
        suspended = style::css(style::SUSPENDED),
    )
}

fn header(out: &mut String, result: &RunResult) {
    let scenario = &result.scenario;
    let _ = write!(
        out,
        "<h1>{}</h1>\n<p class=\"desc\">{}</p>\n<p class=\"facts\">seed {} · {} simulated · \
         sampled every {} · {} messages injected · run took {:.2} s of wall time</p>\n",
        escape(&scenario.name),
        escape(&scenario.description),
        scenario.seed,
        scenario.duration,
        scenario.sample_every,
        result.summary.totals.injected,
        result.stats.wall.as_secs_f64()
    );
    out.push_str(
        "<nav><a href=\"#summary\">Summary</a><a href=\"#charts\">Charts</a>\
         <a href=\"#transitions\">Transitions</a><a href=\"#scenario\">Scenario</a></nav>\n",
    );
}

const SUMMARY_HEADERS: [&str; 19] = [
    "destination",
    "injected",
    "delivered",
    "bounced",
    "expired",
    "queued",
    "attempts",
    "deferrals",
    "latency p50",
    "p90",
    "p99",
    "in backoff",
    "suspended",
    "backoff entries",
    "suspensions",
    "DFC holds",
    "held messages",
    "blocks",
    "min reputation",
];

fn summary(out: &mut String, result: &RunResult) {
    let summary = &result.summary;
    out.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n");
    let _ = writeln!(out, "<p>{}</p>", escape(&diagnosis(result)));
    let mut rows = vec![summary_row("total", &summary.totals)];
    rows.extend(
        summary
            .destinations
            .iter()
            .map(|(name, d)| summary_row(name, d)),
    );
    if let Some(other) = &summary.other_destinations {
        let label = format!("{} other destinations", other.count);
        rows.push(summary_row(&label, &other.summary));
    }
    let mut table_html = String::new();
    table(&mut table_html, &SUMMARY_HEADERS, rows);
    // The first row is the total: make it stand out.
    out.push_str(&table_html.replacen("<tbody>\n<tr>", "<tbody>\n<tr class=\"total\">", 1));
    out.push_str(
        "<p class=\"note\">Times in backoff and suspended are summed over destinations. DFC holds: \
         times a due message was held back by flow control (\"Messages queued (dynamic flow \
         control)\"); held messages: messages held at least once. Blocks: times the receiver \
         started blocking this sender.</p>\n",
    );
    out.push_str("<h3>Deferrals by reply (all destinations)</h3>\n");
    reply_table(out, &summary.totals, TOP_REPLIES);
    out.push_str("</section>\n");
}

/// The support article's reading: backoff at a few destinations points at reputation
/// there; at all of them at once, at the MTA itself.
fn diagnosis(result: &RunResult) -> String {
    let summary = &result.summary;
    let engaged = summary
        .destinations
        .values()
        .filter(|d| d.backoff_entries + d.suspensions > 0)
        .count();
    let listed = summary.destinations.len();
    let mut text = format!(
        "Dynamic flow control engaged for {engaged} of the {listed} destinations listed one by one"
    );
    if let Some(other) = &summary.other_destinations {
        let _ = write!(
            text,
            " (the other {} destinations together: {} backoff entries)",
            other.count, other.summary.backoff_entries
        );
    }
    text.push_str(
        ". Backoff at a few destinations points at the sender's reputation there; at every \
         destination at once, at the sending MTA itself.",
    );
    text
}

fn summary_row(name: &str, d: &DestinationSummary) -> Vec<Cell> {
    let time = |s: f64| {
        Cell::number(if s > 0.0 {
            human_seconds(s)
        } else {
            "0".into()
        })
    };
    let mut in_backoff = time(d.time_in_state_s.backoff);
    if d.time_in_state_s.backoff > 0.0 {
        in_backoff = in_backoff.with_class("num backoff");
    }
    let mut suspended = time(d.time_in_state_s.suspended);
    if d.time_in_state_s.suspended > 0.0 {
        suspended = suspended.with_class("num suspended");
    }
    let latency = |s: f64| {
        Cell::number(if d.delivered > 0 {
            human_seconds(s)
        } else {
            "–".into()
        })
    };
    vec![
        Cell::text(name),
        Cell::number(d.injected),
        Cell::number(d.delivered),
        Cell::number(d.bounced),
        Cell::number(d.expired),
        Cell::number(d.queued),
        Cell::number(d.attempts),
        Cell::number(d.deferrals),
        latency(d.latency_s.p50),
        latency(d.latency_s.p90),
        latency(d.latency_s.p99),
        in_backoff,
        suspended,
        Cell::number(d.backoff_entries),
        Cell::number(d.suspensions),
        Cell::number(d.dfc_holds),
        Cell::number(d.dfc_held_messages),
        Cell::number(d.blocks),
        Cell::number(d.reputation.map_or("–".into(), |r| format!("{:.3}", r.min))),
    ]
}

/// The `limit` most frequent deferral replies of `d`, full text.
fn reply_table(out: &mut String, d: &DestinationSummary, limit: usize) {
    if d.deferrals_by_reply.is_empty() {
        out.push_str("<p class=\"note\">No deferrals.</p>\n");
        return;
    }
    let mut replies: Vec<(&String, &u64)> = d.deferrals_by_reply.iter().collect();
    replies.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let omitted = replies.len().saturating_sub(limit);
    table(
        out,
        &["deferrals", "reply"],
        replies
            .into_iter()
            .take(limit)
            .map(|(reply, n)| vec![Cell::number(n), Cell::text(reply)]),
    );
    if omitted > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">{omitted} less frequent replies not shown (see summary.json).</p>"
        );
    }
}

fn chart_section(out: &mut String, result: &RunResult, charts: &[Chart], svgs: &[String]) {
    out.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
    out.push_str(
        "<p class=\"note\">Shaded bands: amber where flow control held a destination in backoff \
         (\"dynamic flow control\"), red where it was suspended; the strip on each destination \
         chart shows its state (green normal). Rates are per minute of simulated time.</p>\n",
    );
    let troubled = plot::troubled_destinations(result).len();
    let drawn = charts.iter().filter(|c| c.destination.is_some()).count();
    if troubled > drawn {
        let _ = writeln!(
            out,
            "<p class=\"note\">{troubled} destinations were deferred, throttled or held by flow \
             control; charts show the {drawn} most troubled (by time in backoff and suspended, \
             then deferrals; at most {MAX_DESTINATION_CHARTS}). The summary table lists them all.</p>"
        );
    }
    for (chart, svg) in charts.iter().zip(svgs) {
        figure(out, chart, svg);
        let destination = chart.destination.as_ref();
        if let Some((name, d)) =
            destination.and_then(|name| Some((name, result.summary.destinations.get(name)?)))
        {
            let _ = writeln!(out, "<h4>{}: deferrals by reply</h4>", escape(name));
            reply_table(out, d, TOP_REPLIES);
        }
    }
    out.push_str("</section>\n");
}

/// One chart, inlined, with links to its files.
fn figure(out: &mut String, chart: &Chart, svg: &str) {
    let _ = write!(
        out,
        "<figure id=\"chart-{stem}\">\n{svg}\n<figcaption>{title} · \
         <a href=\"{png}\">{png}</a> · <a href=\"{svg_file}\">{svg_file}</a></figcaption>\n</figure>\n",
        stem = escape(&chart.stem),
        svg = svg_body(svg),
        title = escape(&chart.title),
        png = escape(&chart.png()),
        svg_file = escape(&chart.svg()),
    );
}

/// The `<svg>` element without any XML prologue, ready to inline.
fn svg_body(svg: &str) -> &str {
    svg.find("<svg")
        .map_or(svg, |start| &svg[start..])
        .trim_end()
}

fn transitions(out: &mut String, result: &RunResult) {
    let all = &result.transitions;
    let _ = writeln!(
        out,
        "<section id=\"transitions\">\n<h2>Flow-control transitions</h2>\n<p>{} transitions.</p>",
        all.len()
    );
    let state = |s: crate::flow_control::State| Cell {
        html: format!("<span class=\"state {s}\">{s}</span>"),
        class: None,
    };
    table(
        out,
        &["time", "destination", "from", "to", "reason"],
        all.iter().take(MAX_TRANSITIONS).map(|t| {
            vec![
                Cell::number((t.time - Instant::ZERO).to_string()),
                Cell::text(&t.destination),
                state(t.from),
                state(t.to),
                Cell::text(&t.reason),
            ]
        }),
    );
    if all.len() > MAX_TRANSITIONS {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more transitions not shown; transitions.csv has all {}.</p>",
            all.len() - MAX_TRANSITIONS,
            all.len()
        );
    }
    out.push_str("</section>\n");
}

fn scenario(out: &mut String, result: &RunResult) {
    let json = serde_json::to_string_pretty(&result.scenario)
        .unwrap_or_else(|e| format!("(cannot show the scenario: {e})"));
    let _ = write!(
        out,
        "<section id=\"scenario\">\n<h2>Scenario</h2>\n<p>The scenario as run, with every \
         override applied.</p>\n<pre>{}</pre>\n</section>\n",
        escape(&json)
    );
}
