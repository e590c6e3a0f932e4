//! Chart layout as the SVGs draw it: a destination chart's flow-control state strip shares
//! the time axis of the panel under it, so each backoff in the strip stands exactly over
//! the backoff shading below (diagnose's strip spanned the reply bars too, so its backoff
//! bands sat 1.6 times too far right).

use std::path::Path;

use crate::common::{mtasim_ok, repo};

/// The backoff colour (plot::style::BACKOFF), solid in the strip, faint as shading.
const BACKOFF: &str = "fill=\"#E69F00\"";

/// (x, width) of rectangles, in pixels.
type Spans = Vec<(f64, f64)>;

/// An attribute's number in an SVG element.
fn number(element: &str, name: &str) -> f64 {
    let start = element
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {element}"))
        + name.len()
        + 3;
    let end = start + element[start..].find('"').unwrap();
    element[start..end].parse().unwrap()
}

/// (x, width) of the backoff rectangles taller than `min_height` at `opacity`, left to
/// right: the strip's bands (solid) or a panel's shading (faint), not the keys' swatches.
fn backoff_spans(svg: &str, opacity: &str, min_height: f64) -> Spans {
    let mut spans: Spans = svg
        .split('<')
        .filter(|e| e.starts_with("rect ") && e.contains(BACKOFF))
        .filter(|e| e.contains(&format!("opacity=\"{opacity}\"")))
        .filter(|e| number(e, "height") > min_height)
        .map(|e| (number(e, "x"), number(e, "width")))
        .collect();
    spans.sort_by(|a, b| a.partial_cmp(b).unwrap());
    spans.dedup();
    spans
}

/// The strip's backoff bands, and the shading of the panel right under the strip.
fn strip_and_shading(svg: &Path) -> (Spans, Spans) {
    let svg = std::fs::read_to_string(svg).unwrap();
    let strip = backoff_spans(&svg, "1", 20.0);
    let shading = backoff_spans(&svg, "0.22", 100.0);
    (strip, shading)
}

/// Runs scenarios/yahoo-deferrals.json into `dir/run` with `extra` arguments.
fn yahoo_run(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let scenario = repo("scenarios/yahoo-deferrals.json");
    let mut args = vec!["run", scenario.to_str().unwrap(), "-q", "--out", "run"];
    args.extend(extra);
    mtasim_ok(&args, dir);
    dir.join("run")
}

#[test]
fn diagnose_draws_the_state_strip_over_the_outcomes_it_describes() {
    let dir = tempfile::tempdir().unwrap();
    let run = yahoo_run(dir.path(), &["--log-format", "postfix", "--no-plots"]);
    let log = run.join("maillog");
    let args = ["diagnose", log.to_str().unwrap(), "--year", "2026", "-q"];
    mtasim_ok(&[&args[..], &["--out", "diagnosis"]].concat(), dir.path());
    let svg = dir.path().join("diagnosis/destination-01-yahoo.svg");
    let (strip, shading) = strip_and_shading(&svg);
    assert_eq!(strip.len(), 3, "yahoo's three backoff periods: {strip:?}");
    assert_eq!(strip, shading);
}

#[test]
fn a_run_draws_the_state_strip_over_the_queue_it_describes() {
    let dir = tempfile::tempdir().unwrap();
    let run = yahoo_run(dir.path(), &[]);
    let (strip, shading) = strip_and_shading(&run.join("destination-01-yahoo.svg"));
    assert_eq!(strip.len(), 5, "yahoo's five backoff periods: {strip:?}");
    // Every full-width panel (queue, limits) shades the same spans; the outcomes panel
    // beside the reply bars is narrower and shades its own.
    for span in &strip {
        assert!(shading.contains(span), "{span:?} not shaded in {shading:?}");
    }
}
