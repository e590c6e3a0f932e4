//! A run's page: its summary per destination, every destination's time series for the
//! explorer, its chart files, transitions and scenario.

use std::fmt::Write as _;

use super::html::{Cell, Row, escape, sortable_table, table};
use super::{Entry, Explorer, Page, Section, Thresholds, Timeline};
use crate::flow_control::State;
use std::collections::BTreeMap;

use crate::metrics::{DestinationSummary, Sample, Summary, harm};
use crate::plot::{self, Chart};
use crate::sim::RunResult;
use crate::units::{Instant, human_seconds};

/// The transitions list shows at most this many rows; transitions.csv has them all.
pub const MAX_TRANSITIONS: usize = 300;
/// Replies listed in the run-wide deferrals table.
const TOP_REPLIES: usize = 20;
/// Replies listed under a destination in the explorer.
const ENTRY_REPLIES: usize = 10;
/// The explorer's key for the total over all destinations.
pub const TOTAL: &str = "*";

/// What went wrong first (lost, blocked, held), so it shows without scrolling sideways.
const SUMMARY_HEADERS: [&str; 20] = [
    "destination",
    "lost",
    "bounced",
    "expired",
    "queued",
    "blocks",
    "min reputation",
    "suspended",
    "in backoff",
    "injected",
    "delivered",
    "deferrals",
    "attempts",
    "latency p50 (delivered)",
    "p90",
    "p99",
    "backoff entries",
    "suspensions",
    "DFC holds",
    "held messages",
];
/// The page of `result`; `latency_svg` is the latency chart's SVG, inlined when given.
pub fn page(result: &RunResult, charts: &[Chart], latency_svg: Option<&str>) -> Page {
    let scenario = &result.scenario;
    let mut after_table = String::from(
        "<p class=\"note\">Rows: the worst first (messages lost to blocks, rejections and \
         expiry, then still queued, blocks, time suspended and in backoff, then bounces for \
         unknown users, which are the list's, not the sending's). Lost: bounced and expired. Latency: of the delivered \
         messages only. Times in backoff and suspended are summed over destinations. DFC \
         holds: times a due message was held back by flow control (\"Messages queued (dynamic \
         flow control)\"); held messages: messages held at least once. Blocks: times the \
         receiver started blocking this sender.</p>\n",
    );
    losses_table(&mut after_table, &result.summary);
    after_table.push_str("<h3>Deferrals by reply (all destinations)</h3>\n");
    reply_table(&mut after_table, &result.summary.totals, TOP_REPLIES);
    Page {
        title: scenario.name.clone(),
        description: scenario.description.clone(),
        facts: format!(
            "seed {} · {} simulated · sampled every {} · {} messages injected · run took \
             {:.2} s of wall time",
            scenario.seed,
            scenario.duration,
            scenario.sample_every,
            result.summary.totals.injected,
            result.stats.wall.as_secs_f64()
        ),
        verdict: harm::verdict(&result.summary),
        diagnosis: diagnosis(result),
        headers: SUMMARY_HEADERS.to_vec(),
        table: summary_rows(result),
        after_table,
        explorer: explorer(result),
        sections: vec![
            charts_section(charts, latency_svg),
            transitions(result),
            scenario_section(result),
        ],
    }
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

/// The total, each destination worst first (those with a time series open in the
/// explorer), and the destinations summed as one.
fn summary_rows(result: &RunResult) -> Vec<Row> {
    let summary = &result.summary;
    let mut rows = vec![Row {
        cells: summary_cells("total", &summary.totals),
        class: Some("total"),
        destination: Some(TOTAL.into()),
        at: None,
    }];
    rows.extend(harm::ordered(summary).into_iter().map(|name| {
        Row {
            cells: summary_cells(name, &summary.destinations[name]),
            class: None,
            destination: result
                .destinations
                .iter()
                .any(|d| d == name)
                .then(|| name.to_owned()),
            at: None,
        }
    }));
    if let Some(other) = &summary.other_destinations {
        let label = format!("{} other destinations", other.count);
        rows.push(Row {
            cells: summary_cells(&label, &other.summary),
            class: Some("other"),
            ..Row::default()
        });
    }
    rows
}

fn summary_cells(name: &str, d: &DestinationSummary) -> Vec<Cell> {
    let time = |s: f64, state: &'static str| {
        let cell = Cell::number(if s > 0.0 {
            human_seconds(s)
        } else {
            "0".into()
        })
        .sorted_by(s);
        if s > 0.0 {
            cell.with_class(state)
        } else {
            cell
        }
    };
    let latency = |s: f64| {
        if d.delivered > 0 {
            Cell::number(human_seconds(s)).sorted_by(s)
        } else {
            Cell::number("–").sorted_by(f64::NAN)
        }
    };
    let reputation = match d.reputation {
        Some(r) => Cell::number(format!("{:.3}", r.min)).sorted_by(r.min),
        None => Cell::number("–").sorted_by(f64::NAN),
    };
    let harm = |n: u64| {
        let cell = Cell::count(n);
        if n > 0 {
            cell.with_class("num harm")
        } else {
            cell
        }
    };
    vec![
        Cell::text(name),
        harm(d.bounced + d.expired),
        harm(d.bounced),
        harm(d.expired),
        harm(d.queued),
        harm(d.blocks),
        reputation,
        time(d.time_in_state_s.suspended, "num suspended"),
        time(d.time_in_state_s.backoff, "num backoff"),
        Cell::count(d.injected),
        Cell::count(d.delivered),
        Cell::count(d.deferrals),
        Cell::count(d.attempts),
        latency(d.latency_s.p50),
        latency(d.latency_s.p90),
        latency(d.latency_s.p99),
        Cell::count(d.backoff_entries),
        Cell::count(d.suspensions),
        Cell::count(d.dfc_holds),
        Cell::count(d.dfc_held_messages),
    ]
}

/// A destination's messages lost by one cause: bounces by reason or expiries by reply.
type Losses = fn(&DestinationSummary) -> &BTreeMap<String, u64>;

/// Bounces by reason and expiries by last reply, each with the destinations they hit.
fn losses_table(out: &mut String, summary: &Summary) {
    out.push_str("<h3 id=\"losses\">Bounces by reason, expiries by last reply</h3>\n");
    let mut rows: Vec<(u64, Vec<Cell>)> = Vec::new();
    let kinds: [(&str, Losses); 2] = [
        ("bounced", |d| &d.bounces_by_reason),
        ("expired", |d| &d.expired_by_reply),
    ];
    for (kind, by) in kinds {
        for (reason, n) in by(&summary.totals) {
            let mut hit: Vec<(&str, u64)> = summary
                .destinations
                .iter()
                .filter_map(|(name, d)| Some((name.as_str(), *by(d).get(reason)?)))
                .collect();
            hit.sort_by_key(|(name, n)| (std::cmp::Reverse(*n), *name));
            let listed: Vec<String> = hit
                .iter()
                .take(8)
                .map(|(name, n)| format!("{name} {n}"))
                .collect();
            let more = hit.len().saturating_sub(8);
            let mut text = listed.join(", ");
            if more > 0 {
                text += &format!(", {more} more");
            }
            rows.push((
                *n,
                vec![
                    Cell::count(*n),
                    Cell::text(kind),
                    Cell::text(reason),
                    Cell::text(&text),
                ],
            ));
        }
    }
    if rows.is_empty() {
        out.push_str("<p class=\"note\">No message bounced or expired.</p>\n");
        return;
    }
    rows.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    table(
        out,
        &["messages", "fate", "reason or last reply", "destinations"],
        rows.into_iter().map(|(_, cells)| cells),
    );
}

/// (reply, deferrals) of `d`, most frequent first.
fn replies(d: &DestinationSummary) -> Vec<(&String, u64)> {
    let mut replies: Vec<(&String, u64)> =
        d.deferrals_by_reply.iter().map(|(r, n)| (r, *n)).collect();
    replies.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    replies
}

/// The `limit` most frequent deferral replies of `d`, full text.
fn reply_table(out: &mut String, d: &DestinationSummary, limit: usize) {
    let replies = replies(d);
    if replies.is_empty() {
        out.push_str("<p class=\"note\">No deferrals.</p>\n");
        return;
    }
    let omitted = replies.len().saturating_sub(limit);
    table(
        out,
        &["deferrals", "reply"],
        replies
            .into_iter()
            .take(limit)
            .map(|(reply, n)| vec![Cell::count(n), Cell::text(reply)]),
    );
    if omitted > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">{omitted} less frequent replies not shown (see summary.json).</p>"
        );
    }
}

/// The total first, then the destinations with their own time series, the most harmed
/// first (as the charts rank them), the others by name.
fn explorer(result: &RunResult) -> Explorer {
    let mut by_destination: Vec<Vec<&Sample>> = vec![Vec::new(); result.destinations.len() + 1];
    for sample in &result.samples {
        let slot = sample.destination.map_or(0, |d| d as usize + 1);
        by_destination[slot].push(sample);
    }
    let mut order: Vec<&str> = plot::troubled_destinations(result);
    let mut calm: Vec<&str> = result
        .destinations
        .iter()
        .map(String::as_str)
        .filter(|name| !order.contains(name))
        .collect();
    calm.sort_unstable();
    order.extend(calm);
    let mut entries = vec![Entry {
        name: TOTAL.into(),
        label: "all destinations".into(),
        timelines: vec![Some(Timeline::from_samples(&by_destination[0], true))],
        thresholds: None,
        replies: entry_replies(&result.summary.totals),
    }];
    for name in order {
        let Some(index) = result.destinations.iter().position(|d| d == name) else {
            continue;
        };
        let summary = result.summary.destinations.get(name);
        entries.push(Entry {
            name: name.into(),
            label: name.into(),
            timelines: vec![Some(Timeline::from_samples(
                &by_destination[index + 1],
                false,
            ))],
            thresholds: plot::reputation_config(result, name).map(|r| Thresholds {
                throttle_below: r.throttle_below,
                block_below: r.block_below,
            }),
            replies: summary.map(entry_replies).unwrap_or_default(),
        });
    }
    Explorer {
        sources: vec!["simulated".into()],
        overlay: false,
        entries,
    }
}

fn entry_replies(d: &DestinationSummary) -> Vec<(String, u64)> {
    replies(d)
        .into_iter()
        .take(ENTRY_REPLIES)
        .map(|(r, n)| (r.clone(), n))
        .collect()
}

/// Links to every chart file (for documents and tickets), and the latency distribution
/// inlined: the explorer draws everything else.
pub(super) fn charts_section(charts: &[Chart], latency_svg: Option<&str>) -> Section {
    let mut html = String::from(
        "<p class=\"note\">The same panels as PNG and SVG files beside this page, for documents \
         and tickets (the most troubled destinations):</p>\n<ul class=\"files\">\n",
    );
    for chart in charts {
        let _ = writeln!(
            html,
            "<li>{} · <a href=\"{png}\">{png}</a> · <a href=\"{svg}\">{svg}</a></li>",
            escape(&chart.title),
            png = escape(&chart.png()),
            svg = escape(&chart.svg()),
        );
    }
    html.push_str("</ul>\n");
    if let Some(svg) = latency_svg {
        let body = svg.find("<svg").map_or(svg, |start| &svg[start..]);
        let _ = writeln!(
            html,
            "<figure id=\"chart-latency\">\n{}\n<figcaption>Delivery latency from injection to \
             delivery, all destinations</figcaption>\n</figure>",
            body.trim_end()
        );
    }
    Section {
        id: "charts",
        title: "Charts".into(),
        html,
    }
}

/// Every transition (up to [`MAX_TRANSITIONS`]); a click opens its destination there.
fn transitions(result: &RunResult) -> Section {
    let all = &result.transitions;
    let mut html = format!(
        "<p>{} transitions. Click one to see its destination around that time.</p>\n",
        all.len()
    );
    let state = |s: State| Cell {
        html: format!("<span class=\"state {s}\">{s}</span>"),
        class: None,
        sort: None,
    };
    let rows: Vec<Row> = all
        .iter()
        .take(MAX_TRANSITIONS)
        .map(|t| Row {
            cells: vec![
                Cell::number((t.time - Instant::ZERO).to_string()).sorted_by(t.time.as_secs_f64()),
                Cell::text(&t.destination),
                state(t.from),
                state(t.to),
                Cell::text(&t.reason),
            ],
            class: None,
            destination: result
                .destinations
                .contains(&t.destination)
                .then(|| t.destination.clone()),
            at: Some(t.time.as_secs_f64()),
        })
        .collect();
    let headers = ["time", "destination", "from", "to", "reason"];
    sortable_table(&mut html, "transitions-table", &headers, &rows);
    if all.len() > MAX_TRANSITIONS {
        let _ = writeln!(
            html,
            "<p class=\"note\">{} more transitions not shown; transitions.csv has all {}.</p>",
            all.len() - MAX_TRANSITIONS,
            all.len()
        );
    }
    Section {
        id: "transitions",
        title: "Flow-control transitions".into(),
        html,
    }
}

fn scenario_section(result: &RunResult) -> Section {
    let json = serde_json::to_string_pretty(&result.scenario)
        .unwrap_or_else(|e| format!("(cannot show the scenario: {e})"));
    Section {
        id: "scenario",
        title: "Scenario".into(),
        html: format!(
            "<p>The scenario as run, with every override applied.</p>\n<pre>{}</pre>\n",
            escape(&json)
        ),
    }
}
