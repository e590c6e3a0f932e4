//! The diagnosis's files: diagnosis.json and timeseries.csv (and, with the command line,
//! its charts and report.html).

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::{Diagnosis, Row};
use crate::output::{csv_field, format_seconds};

/// timeseries.csv's columns.
pub const TIMESERIES_HEADER: &str = "time_s,time,destination,attempts,delivered,deferred,bounced,\
expired,held,state,destinations_backoff,destinations_suspended";

/// Writes diagnosis.json and timeseries.csv into `dir`.
pub fn write_data(diagnosis: &Diagnosis, dir: &Path) -> io::Result<()> {
    let json = serde_json::to_string_pretty(diagnosis).map_err(io::Error::from)?;
    std::fs::write(dir.join("diagnosis.json"), json + "\n")?;
    let mut csv = BufWriter::new(std::fs::File::create(dir.join("timeseries.csv"))?);
    write_timeseries(diagnosis, &mut csv)?;
    csv.flush()
}

/// One row per interval and reported destination, then the total (`*`); the time is the
/// interval's start since the origin, and absolute.
pub fn write_timeseries(diagnosis: &Diagnosis, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{TIMESERIES_HEADER}")?;
    let intervals = diagnosis.series.first().map_or(0, |(_, rows)| rows.len());
    let origin = crate::logs::UnixMillis(diagnosis.time.origin_ms);
    let mut line = String::with_capacity(160);
    for i in 0..intervals {
        for (name, rows) in &diagnosis.series {
            line.clear();
            row(&mut line, origin, name, &rows[i]);
            out.write_all(line.as_bytes())?;
        }
    }
    Ok(())
}

fn row(line: &mut String, origin: crate::logs::UnixMillis, name: &str, r: &Row) {
    let c = r.counts;
    let at = origin.plus((r.start - crate::units::Instant::ZERO).as_millis() as i64);
    let _ = write!(
        line,
        "{},{at},{},{},{},{},{},{},{},",
        format_seconds(r.start),
        csv_field(name),
        c.attempts,
        c.delivered,
        c.deferred,
        c.bounced,
        c.expired,
        c.held
    );
    if let Some(state) = r.state {
        line.push_str(state.as_str());
    }
    if name == "*" {
        let _ = writeln!(line, ",{},{}", r.in_backoff, r.suspended);
    } else {
        line.push_str(",,\n");
    }
}

/// Draws the charts and writes report.html into `dir`.
#[cfg(feature = "cli")]
pub fn write_visuals(diagnosis: &Diagnosis, dir: &Path) -> io::Result<()> {
    let name = log_name(diagnosis);
    let charts = crate::plot::draw_log(&log_charts(diagnosis, &name), dir)?;
    let page = crate::report::diagnosis::page(diagnosis, &name, &charts);
    std::fs::write(dir.join("report.html"), crate::report::render(&page))
}

/// The first log file's name (and how many more), for titles.
#[cfg(feature = "cli")]
fn log_name(d: &Diagnosis) -> String {
    let first = d
        .time
        .files
        .first()
        .map_or("log", |f| f.name.rsplit('/').next().unwrap_or(&f.name));
    match d.time.files.len() {
        0 | 1 => first.to_string(),
        n => format!("{first} (+{} files)", n - 1),
    }
}

/// The rows of one series as the charts' samples.
#[cfg(feature = "cli")]
fn samples(rows: &[Row]) -> Vec<crate::metrics::Sample> {
    rows.iter()
        .map(|r| crate::metrics::Sample {
            time: r.start,
            destination: None,
            ready: 0,
            waiting: 0,
            in_flight: 0,
            counts: crate::metrics::Interval {
                delivered: r.counts.delivered,
                deferred: r.counts.deferred,
                bounced: r.counts.bounced,
                attempts: r.counts.attempts,
            },
            state: r.state,
            concurrency_limit: None,
            rate_limit_per_hour: None,
            reputation: None,
            receiver_blocking: None,
            receiver_tokens: None,
            in_backoff: r.in_backoff,
            suspended: r.suspended,
        })
        .collect()
}

#[cfg(feature = "cli")]
fn log_charts(d: &Diagnosis, name: &str) -> crate::plot::LogCharts {
    let mut affected: Vec<&str> = d.verdict.affected.iter().map(String::as_str).collect();
    let trouble = |n: &str| {
        d.destinations
            .get(n)
            .map_or(0.0, |r| r.backoff_s + r.suspended_s)
    };
    affected.sort_by(|a, b| trouble(b).total_cmp(&trouble(a)).then(a.cmp(b)));
    let series = |n: &str| d.series.iter().find(|(s, _)| s == n).map(|(_, rows)| rows);
    crate::plot::LogCharts {
        name: name.to_string(),
        span: crate::units::Span::from_millis((d.time.span_s * 1000.0).round() as u64)
            .max(d.interval),
        interval: d.interval,
        total: series("*").map(|rows| samples(rows)).unwrap_or_default(),
        destinations: d.verdict.busy,
        affected: affected
            .iter()
            .filter_map(|n| {
                let rows = series(n)?;
                let mut replies: Vec<(String, u64)> = d.destinations[*n]
                    .deferrals_by_reply
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                replies.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                Some((n.to_string(), samples(rows), replies))
            })
            .collect(),
    }
}
