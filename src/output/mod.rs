//! Writing a run's results: summary.json, timeseries.csv and transitions.csv, into an
//! output folder that appears whole or not at all.

mod deliveries;
mod folder;
pub mod mta_log;

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::path::Path;

pub use deliveries::DeliveryLog;
pub use folder::OutputFolder;
pub use mta_log::MtaLog;

use crate::metrics::Sample;
use crate::sim::RunResult;
use crate::units::Instant;

/// Writes the run's data files into `dir`.
pub fn write_run(result: &RunResult, dir: &Path) -> io::Result<()> {
    let summary = serde_json::to_string_pretty(&result.summary).map_err(io::Error::from)?;
    std::fs::write(dir.join("summary.json"), summary + "\n")?;
    let mut timeseries = BufWriter::new(std::fs::File::create(dir.join("timeseries.csv"))?);
    write_timeseries(result, &mut timeseries)?;
    timeseries.flush()?;
    let mut transitions = BufWriter::new(std::fs::File::create(dir.join("transitions.csv"))?);
    write_transitions(result, &mut transitions)?;
    transitions.flush()
}

/// Seconds with millisecond precision and no trailing zeros: `60`, `0.25`.
pub fn format_seconds(at: Instant) -> String {
    let ms = at.as_millis();
    let (whole, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:03}")
            .trim_end_matches('0')
            .to_string()
    }
}

pub const TIMESERIES_HEADER: &str = "time_s,destination,ready,waiting,in_flight,delivered,deferred,bounced,attempts,\
state,concurrency_limit,rate_limit,reputation,receiver_blocking,receiver_tokens,destinations_backoff,destinations_suspended";

/// timeseries.csv: one row per sample and detailed destination, then the total (`*`).
pub fn write_timeseries(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{TIMESERIES_HEADER}")?;
    let mut line = String::with_capacity(160);
    for sample in &result.samples {
        line.clear();
        timeseries_row(result, sample, &mut line);
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn timeseries_row(result: &RunResult, s: &Sample, line: &mut String) {
    let destination = s
        .destination
        .map_or("*", |d| result.destinations[d as usize].as_str());
    let c = s.counts;
    let _ = write!(
        line,
        "{},{},{},{},{},{},{},{},{},",
        format_seconds(s.time),
        csv_field(destination),
        s.ready,
        s.waiting,
        s.in_flight,
        c.delivered,
        c.deferred,
        c.bounced,
        c.attempts
    );
    if let Some(state) = s.state {
        let _ = write!(line, "{state}");
    }
    line.push(',');
    if let Some(limit) = s.concurrency_limit {
        let _ = write!(line, "{limit}");
    }
    line.push(',');
    if let Some(rate) = s.rate_limit_per_hour {
        let _ = write!(line, "{}", round(rate, 3));
    }
    line.push(',');
    if let Some(score) = s.reputation {
        let _ = write!(line, "{}", round(score, 4));
    }
    line.push(',');
    if let Some(blocking) = s.receiver_blocking {
        let _ = write!(line, "{}", u8::from(blocking));
    }
    line.push(',');
    if let Some(tokens) = s.receiver_tokens {
        let _ = write!(line, "{}", round(tokens, 2));
    }
    let _ = writeln!(line, ",{},{}", s.in_backoff, s.suspended);
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// Quotes a CSV field when it needs it.
pub fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// transitions.csv: every flow-control state change.
pub fn write_transitions(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "time_s,destination,from,to,reason")?;
    for t in &result.transitions {
        writeln!(
            out,
            "{},{},{},{},{}",
            format_seconds(t.time),
            csv_field(&t.destination),
            t.from,
            t.to,
            csv_field(&t.reason)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_compact() {
        assert_eq!(format_seconds(Instant::from_millis(60_000)), "60");
        assert_eq!(format_seconds(Instant::from_millis(250)), "0.25");
        assert_eq!(format_seconds(Instant::from_millis(1_001)), "1.001");
        assert_eq!(format_seconds(Instant::from_millis(0)), "0");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("yahoo"), "yahoo");
        assert_eq!(csv_field("rule 1 (a, b)"), "\"rule 1 (a, b)\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
