//! Charts drawn with plotters: pure-Rust text from an embedded font, PNG and SVG.
//!
//! [`draw_all`] draws a run's overview, one chart per troubled destination (the
//! [`MAX_DESTINATION_CHARTS`] most troubled) and the delivery-latency distribution, each
//! as `<stem>.png` and `<stem>.svg`. The report inlines the SVGs.

mod destination;
mod diagnosis;
pub mod font;
mod latency;
mod lines;
mod overview;
mod panel;
pub mod series;
mod stroke;
pub mod style;
#[cfg(test)]
mod tests;
pub mod typeset;

use std::io;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

pub use destination::reputation_config;
pub use diagnosis::{LogCharts, draw_log};

use crate::metrics::{DestinationSummary, Sample, harm};
use crate::sim::RunResult;
use panel::PanelTrace;
use typeset::Typeset;

/// At most this many destination charts per run, so large runs still draw in a second or
/// two; the report says when destinations were left out.
pub const MAX_DESTINATION_CHARTS: usize = 12;

/// One drawn chart: `<stem>.png` and `<stem>.svg` in the folder given to [`draw_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub title: String,
    pub stem: String,
    /// The destination it shows; `None` for the overview and the latency chart.
    pub destination: Option<String>,
}

impl Chart {
    pub fn png(&self) -> String {
        format!("{}.png", self.stem)
    }

    pub fn svg(&self) -> String {
        format!("{}.svg", self.stem)
    }
}

/// Draws every chart of `result` into `dir`: overview, troubled destinations, latency.
pub fn draw_all(result: &RunResult, dir: &Path) -> io::Result<Vec<Chart>> {
    font::register();
    let mut charts = Vec::new();
    let overview = overview::Overview::new(result);
    charts.push(save(
        &overview,
        dir,
        "overview",
        "Overview: queue, outcomes and flow control",
        None,
    )?);
    for (rank, name) in troubled_destinations(result)
        .into_iter()
        .take(MAX_DESTINATION_CHARTS)
        .enumerate()
    {
        let figure = destination::DestinationFigure::new(result, name);
        let stem = format!("destination-{:02}-{}", rank + 1, file_safe(name));
        let title = format!("Destination {name}");
        charts.push(save(&figure, dir, &stem, &title, Some(name))?);
    }
    let latency = latency::LatencyFigure::new(result);
    charts.push(save(&latency, dir, "latency", "Delivery latency", None)?);
    Ok(charts)
}

/// Detailed destinations that lost messages, were blocked, deferred, in backoff or
/// suspended, the most harmed first (messages lost, then queued, blocks, time held,
/// deferrals), as every summary ranks them.
pub fn troubled_destinations(result: &RunResult) -> Vec<&str> {
    let mut troubled: Vec<(&str, &DestinationSummary)> = result
        .destinations
        .iter()
        .filter_map(|name| {
            let summary = result.summary.destinations.get(name)?;
            (harm::is_harmed(summary) || summary.deferrals > 0).then_some((name.as_str(), summary))
        })
        .collect();
    troubled.sort_by_key(|(name, d)| (std::cmp::Reverse(harm::key(d)), *name));
    troubled.into_iter().map(|(name, _)| name).collect()
}

/// The samples of one destination (`Some(index)`) or of the total (`None`), in time order.
fn rows(result: &RunResult, destination: Option<u32>) -> Vec<&Sample> {
    result
        .samples
        .iter()
        .filter(|s| s.destination == destination)
        .collect()
}

/// A name usable in a file name on every system.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The error type of drawing on backend `DB`.
type DrawResult<T, DB> = Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart that can draw itself on any backend, so PNG and SVG come from one code path;
/// it says where each panel drew its lines.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> DrawResult<Vec<PanelTrace>, DB>;
}

/// Draws `figure` as `<stem>.png` and `<stem>.svg` in `dir`.
fn save(
    figure: &impl Figure,
    dir: &Path,
    stem: &str,
    title: &str,
    destination: Option<&str>,
) -> io::Result<Chart> {
    let png = dir.join(format!("{stem}.png"));
    {
        let root = Typeset::new(BitMapBackend::new(&png, figure.size())).into_drawing_area();
        figure.draw(&root).map_err(drawing_failed)?;
        root.present().map_err(drawing_failed)?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        figure.draw(&root).map_err(drawing_failed)?;
        root.present().map_err(drawing_failed)?;
    }
    std::fs::write(dir.join(format!("{stem}.svg")), svg)?;
    Ok(Chart {
        title: title.to_string(),
        stem: stem.to_string(),
        destination: destination.map(str::to_string),
    })
}

fn drawing_failed(e: impl std::error::Error) -> io::Error {
    io::Error::other(format!("drawing a chart: {e}"))
}
