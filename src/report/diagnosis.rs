//! A diagnosed log's page: the verdict, a row per destination, the explorer with the log's
//! observed series (outcomes, and the flow-control state the diagnosis replayed), the
//! episodes with their causes and advice, the charts and the time base.

use std::fmt::Write as _;

use super::html::{Cell, Row, escape, table};
use super::run::{TOTAL, charts_section};
use super::{Entry, Explorer, Page, Section, Series, Timeline, state_code};
use crate::diagnose::{DestinationReport, Diagnosis, Row as LogRow};
use crate::plot::Chart;
use crate::units::human_seconds;

const HEADERS: [&str; 13] = [
    "destination",
    "attempts",
    "delivered",
    "deferred",
    "bounced",
    "expired",
    "held",
    "busy",
    "episodes",
    "in backoff",
    "suspended",
    "latency p50",
    "p99",
];

/// What a `*` in a grouped reply stands for.
const MASKED_NOTE: &str = "<p class=\"note\">* in a reply stands for a per-message token (a \
     queue ID, an address, a number) masked so that equal replies group together.</p>\n";

/// Replies listed under a destination in the explorer.
const ENTRY_REPLIES: usize = 10;

/// The page of `d`, whose charts are drawn.
pub fn page(d: &Diagnosis, name: &str, charts: &[Chart]) -> Page {
    let l = &d.lines;
    Page {
        title: format!("{name}: diagnosis"),
        description: format!(
            "What a dynamic-flow-control MTA would have made of this log: its attempts replayed \
             through the flow-control state machine, destination by destination. Verdict: {}.",
            d.verdict.verdict.as_str()
        ),
        facts: format!(
            "{} to {} ({}) · {} lines read, {} parsed, {} skipped, {} malformed · {} \
             destinations, {} busy · interval {}",
            d.time.first,
            d.time.end,
            human_seconds(d.time.span_s),
            l.read,
            l.parsed,
            l.skipped,
            l.malformed,
            d.destinations.len(),
            d.verdict.busy,
            human_seconds(d.interval_s)
        ),
        verdict: d.verdict.summary.clone(),
        diagnosis: "Destinations that would have entered backoff first, then by messages lost \
                    (bounced and expired), then by time in backoff and suspended."
            .into(),
        headers: HEADERS.to_vec(),
        table: rows(d),
        after_table: format!(
            "<p class=\"note\">Busy: had enough attempts within one error window to reach the \
             error threshold, or entered backoff. Held: deferrals the MTA made without an \
             attempt, because the destination was suspended or throttled on its side (Postfix \
             <code>delivery temporarily suspended</code>, KumoMTA's suspensions and throttles, \
             Exim's <code>retry time not reached</code> and frozen messages): {} in all, not \
             attempts. Times in backoff and suspended are the replayed state machine's.{}</p>\n",
            d.totals.held,
            if d.unattributed == Default::default() {
                String::new()
            } else {
                format!(
                    " Unattributed (no destination known: the log starts after the message's \
                     recipients were last tried): {} expired, {} held.",
                    d.unattributed.expired, d.unattributed.held
                )
            }
        ),
        explorer: explorer(d),
        sections: vec![episodes(d), charts_section(charts, None), time_section(d)],
    }
}

fn rows(d: &Diagnosis) -> Vec<Row> {
    let mut ranked: Vec<(&String, &DestinationReport)> = d.destinations.iter().collect();
    ranked.sort_by(|(a_name, a), (b_name, b)| {
        let harm = |r: &DestinationReport| (r.episodes > 0, r.bounced + r.expired);
        harm(b)
            .cmp(&harm(a))
            .then((b.backoff_s + b.suspended_s).total_cmp(&(a.backoff_s + a.suspended_s)))
            .then(a_name.cmp(b_name))
    });
    ranked
        .into_iter()
        .map(|(name, r)| Row {
            cells: cells(name, r),
            class: (r.episodes > 0).then_some("troubled"),
            destination: d.reported.contains(name).then(|| name.clone()),
            at: None,
        })
        .collect()
}

fn cells(name: &str, r: &DestinationReport) -> Vec<Cell> {
    let time = |s: f64| Cell::number(human_seconds(s)).sorted_by(s);
    vec![
        Cell::text(name),
        Cell::count(r.attempts),
        Cell::count(r.delivered),
        Cell::count(r.deferred),
        Cell::count(r.bounced),
        Cell::count(r.expired),
        Cell::count(r.held),
        Cell::text(if r.busy { "yes" } else { "no" }),
        Cell::count(r.episodes),
        time(r.backoff_s),
        time(r.suspended_s),
        time(r.latency_s.p50),
        time(r.latency_s.p99),
    ]
}

fn timeline(rows: &[LogRow], total: bool) -> Timeline {
    let column = |series: Series, value: fn(&LogRow) -> Option<f64>| {
        (series, rows.iter().map(value).collect::<Vec<_>>())
    };
    let mut columns = vec![
        column(Series::Delivered, |r| Some(r.counts.delivered as f64)),
        column(Series::Deferred, |r| Some(r.counts.deferred as f64)),
        column(Series::Bounced, |r| Some(r.counts.bounced as f64)),
    ];
    if total {
        columns.push(column(Series::InBackoff, |r| Some(r.in_backoff as f64)));
        columns.push(column(Series::Suspended, |r| Some(r.suspended as f64)));
    } else {
        columns.push(column(Series::State, |r| r.state.map(state_code)));
    }
    Timeline {
        times: rows.iter().map(|r| r.start).collect(),
        columns,
    }
}

fn entry_replies(r: &DestinationReport) -> Vec<(String, u64)> {
    let mut replies: Vec<(String, u64)> = r
        .deferrals_by_reply
        .iter()
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    replies.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    replies.truncate(ENTRY_REPLIES);
    replies
}

fn explorer(d: &Diagnosis) -> Explorer {
    let mut entries = Vec::with_capacity(d.series.len());
    let affected = |name: &str| d.verdict.affected.iter().any(|a| a == name);
    for (name, rows) in &d.series {
        let total = name == TOTAL;
        entries.push(Entry {
            name: name.clone(),
            label: if total {
                "all destinations".into()
            } else {
                name.clone()
            },
            timelines: vec![Some(timeline(rows, total))],
            thresholds: None,
            replies: if total {
                entry_replies(&d.totals)
            } else {
                d.destinations
                    .get(name)
                    .map(entry_replies)
                    .unwrap_or_default()
            },
        });
    }
    // The total first, then the affected destinations, then the others (name order).
    entries.sort_by_key(|e| (e.name != TOTAL, !affected(&e.name)));
    Explorer {
        sources: vec!["observed".into()],
        overlay: false,
        entries,
    }
}

fn episodes(d: &Diagnosis) -> Section {
    let mut html = String::new();
    if d.episodes.is_empty() {
        html.push_str("<p>No destination would have entered backoff.</p>\n");
    } else {
        let headers = [
            "destination",
            "start",
            "end",
            "worst",
            "reason",
            "errors",
            "cause",
            "top reply",
            "advice",
        ];
        let rows = d.episodes.iter().map(|e| {
            vec![
                Cell::text(&e.destination),
                Cell::text(&e.start).with_class("time"),
                Cell::text(e.end.as_deref().unwrap_or("end of log")).with_class("time"),
                Cell::text(e.worst).with_class(e.worst),
                Cell::text(&e.reason),
                Cell::count(e.errors),
                Cell::text(e.cause.describe()),
                Cell::text(&format!("{} ({}×)", e.top_reply, e.top_reply_count)),
                Cell::text(e.advice.unwrap_or_else(|| e.cause.advice())),
            ]
        });
        table(&mut html, &headers, rows);
        if d.episodes.iter().any(|e| e.top_reply.contains('*')) {
            html.push_str(MASKED_NOTE);
        }
    }
    Section {
        id: "episodes",
        title: format!("Backoff episodes ({})", d.episodes.len()),
        html,
    }
}

fn time_section(d: &Diagnosis) -> Section {
    let mut html = format!(
        "<p>Times count from the first outcome, {} ({} ms since the epoch); {} outcomes came \
         before the one above them in the log and were counted at its time.</p>\n",
        escape(&d.time.origin),
        d.time.origin_ms,
        d.time.reordered
    );
    let rows = d.time.files.iter().map(|f| {
        let year = f
            .origin
            .year
            .map_or_else(|| "own year and zone".to_string(), |y| y.to_string());
        vec![
            Cell::text(&f.name),
            Cell::text(f.format.name()),
            Cell::text(&year),
            Cell::text(&format!("{:?}", f.origin.year_source).to_lowercase()),
            Cell::number(f.origin.utc_offset_minutes),
        ]
    });
    table(
        &mut html,
        &[
            "file",
            "format",
            "year",
            "year from",
            "UTC offset (minutes)",
        ],
        rows,
    );
    let _ = writeln!(
        html,
        "<p class=\"note\">Lines skipped by kind: {}.</p>",
        escape(
            &d.lines
                .skipped_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    );
    Section {
        id: "log",
        title: "The log".into(),
        html,
    }
}
