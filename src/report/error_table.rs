//! A diagnosed error table's page: the verdict, a row per domain, what to look at next, and
//! each domain's most frequent errors with the provider's meaning where the reply is known.

use std::fmt::Write as _;

use super::html::{Cell, escape, table};
use super::{Explorer, Page, Section};
use crate::diagnose::table::{DomainReport, TableDiagnosis};

const HEADERS: [&str; 8] = [
    "domain",
    "errors",
    "share",
    "queued (flow control)",
    "deferred",
    "bounced",
    "cause",
    "top error",
];

/// The page of `d`, read from the table `name`.
pub fn page(d: &TableDiagnosis, name: &str) -> Page {
    let timing = d.time.as_ref().map_or_else(
        || "no time column".to_string(),
        |t| format!("{} to {}", t.first, t.last),
    );
    Page {
        title: format!("{name}: diagnosis"),
        description: format!(
            "What a collated error table says: where the errors and the \"Messages queued \
             (dynamic flow control)\" volume are, and whether they concentrate on a few domains \
             or spread across all. Verdict: {}.",
            d.verdict.as_str()
        ),
        facts: format!(
            "{} rows · {} domains · {} errors: {} queued by flow control, {} deferred, {} \
             bounced · {timing}",
            d.rows,
            d.domains.len(),
            d.errors,
            d.held,
            d.deferred,
            d.bounced
        ),
        verdict: d.summary.clone(),
        diagnosis: "Domains by their errors, most first.".into(),
        headers: HEADERS.to_vec(),
        table: d.domains.iter().map(|r| cells(r).into()).collect(),
        after_table: after_table(d),
        explorer: Explorer::default(),
        sections: vec![errors_section(d)],
    }
}

fn cells(r: &DomainReport) -> Vec<Cell> {
    vec![
        Cell::text(&r.domain),
        Cell::count(r.errors),
        Cell::number(format!("{:.1}%", 100.0 * r.share)).sorted_by(r.share),
        Cell::count(r.held),
        Cell::count(r.deferred),
        Cell::count(r.bounced),
        Cell::text(r.cause.describe()),
        Cell::text(r.top_errors.first().map_or("", |e| e.error.as_str())),
    ]
}

fn after_table(d: &TableDiagnosis) -> String {
    let mut html = String::from("<h3>What to look at next</h3>\n<ul>\n");
    for n in &d.next {
        let _ = writeln!(html, "<li>{}</li>", escape(n));
    }
    html.push_str("</ul>\n");
    let _ = writeln!(
        html,
        "<p class=\"note\">Queued (flow control): the MTA's own holds (\"Messages queued \
         (dynamic flow control)\", <code>delivery temporarily suspended</code>, <code>retry \
         time not reached</code>), not receivers' replies. Deferred: 4xx replies, connection \
         failures and the MTA's own errors. Bounced: 5xx replies. Columns read: {}.</p>",
        escape(&columns(d))
    );
    html
}

fn columns(d: &TableDiagnosis) -> String {
    let c = &d.columns;
    let mut s = format!(
        "domain {:?}, error {:?}, count {:?}",
        c.domain, c.error, c.count
    );
    if let Some(t) = &c.time {
        let _ = write!(s, ", time {t:?}");
    }
    s
}

fn errors_section(d: &TableDiagnosis) -> Section {
    let mut html = String::new();
    for r in &d.domains {
        let _ = writeln!(html, "<h3>{}</h3>", escape(&r.domain));
        if let Some(meaning) = r.meaning {
            let _ = writeln!(
                html,
                "<p>{} ({})</p>",
                escape(meaning),
                escape(r.known_reply.unwrap_or(""))
            );
        }
        let _ = writeln!(html, "<p>{}</p>", escape(r.advice));
        table(
            &mut html,
            &["error", "count", "kind"],
            r.top_errors.iter().map(|e| {
                vec![
                    Cell::text(&e.error),
                    Cell::count(e.count),
                    Cell::text(e.kind.name()),
                ]
            }),
        );
    }
    Section {
        id: "errors",
        title: "Errors by domain".into(),
        html,
    }
}
