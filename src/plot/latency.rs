//! How long delivered messages took from injection to delivery, as a cumulative
//! distribution on a logarithmic time axis (latencies span milliseconds to days), with
//! p50, p90 and p99 marked.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::panel::{self, PanelTrace, Pen, RightAxis, line};
use super::style::{self, LABEL_SIZE, TITLE_SIZE};
use super::{DrawResult, Figure, font::FAMILY};
use crate::metrics::Histogram;
use crate::sim::RunResult;
use crate::units::{Span, human_seconds};

/// Latency ticks people think in (seconds): 10ms, 100ms, 1s, 10s, 1m, 10m, 1h, 6h, 1d...
const NICE_TICKS: [f64; 14] = [
    0.01,
    0.1,
    1.0,
    10.0,
    60.0,
    600.0,
    3600.0,
    6.0 * 3600.0,
    86_400.0,
    2.0 * 86_400.0,
    5.0 * 86_400.0,
    10.0 * 86_400.0,
    30.0 * 86_400.0,
    100.0 * 86_400.0,
];

/// Points along the curve, evenly spaced on the log axis.
const CURVE_POINTS: usize = 300;

pub struct LatencyFigure {
    title: String,
    delivered: u64,
    /// (latency in seconds, share of delivered messages at most that late).
    curve: Vec<(f64, f64)>,
    /// (name, seconds).
    marks: Vec<(&'static str, f64)>,
}

impl LatencyFigure {
    pub fn new(result: &RunResult) -> Self {
        let latency = &result.latency;
        LatencyFigure {
            title: format!("{}: delivery latency", result.scenario.name),
            delivered: latency.count(),
            curve: curve(latency),
            marks: [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)]
                .into_iter()
                .map(|(name, q)| (name, latency.quantile(q).as_secs_f64()))
                .collect(),
        }
    }

    /// The axis from a little below the fastest delivery to the slowest, in seconds.
    fn range(&self) -> (f64, f64) {
        let low = self.curve.first().map_or(0.001, |p| p.0).max(0.001);
        let high = self.curve.last().map_or(1.0, |p| p.0);
        (low / 1.5, (high * 1.5).max(low * 10.0))
    }
}

/// The cumulative distribution sampled at log-spaced latencies.
fn curve(latency: &Histogram) -> Vec<(f64, f64)> {
    let total = latency.count();
    if total == 0 {
        return Vec::new();
    }
    let low = latency.quantile(0.0).as_millis().max(1) as f64;
    let high = latency.max().as_millis().max(2) as f64;
    let step = (high / low).ln() / (CURVE_POINTS - 1) as f64;
    (0..CURVE_POINTS)
        .map(|i| {
            let at = Span::from_millis((low * (step * i as f64).exp()).round() as u64);
            (
                at.as_secs_f64(),
                latency.count_at_most(at) as f64 / total as f64,
            )
        })
        .collect()
}

impl Figure for LatencyFigure {
    fn size(&self) -> (u32, u32) {
        (1200, 520)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> DrawResult<Vec<PanelTrace>, DB> {
        root.fill(&WHITE)?;
        let body = root.titled(&self.title, (FAMILY, TITLE_SIZE))?;
        if self.curve.is_empty() {
            panel::note(&body, "no message was delivered")?;
            return Ok(Vec::new());
        }
        let (low, high) = self.range();
        let caption = format!(
            "share of the {} delivered messages delivered within a given time",
            self.delivered
        );
        let ticks: Vec<f64> = NICE_TICKS
            .iter()
            .copied()
            .filter(|t| (low..=high).contains(t))
            .collect();
        let x_axis = (low..high).log_scale().with_key_points(ticks);
        let mut chart = panel::builder(&body, &caption, RightAxis::Blank)
            .build_cartesian_2d(x_axis, 0.0..1.02)?;
        chart
            .configure_mesh()
            .x_desc("latency from injection to delivery (log scale)")
            .y_desc("share of delivered messages")
            .label_style((FAMILY, LABEL_SIZE))
            .axis_desc_style((FAMILY, LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .x_label_formatter(&|s| human_seconds(*s))
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .draw()?;
        let mut trace = PanelTrace::new(&caption, &chart);
        let pen = Pen::solid(style::DELIVERED);
        line(
            &mut chart,
            &mut trace,
            vec![self.curve.clone()],
            pen,
            "delivered within",
        )?;
        for &(name, at) in &self.marks {
            let mark = vec![(at, 0.0), (at, 1.02)];
            let pen = Pen::dashed(style::BOUNCED, 5, 5);
            trace
                .lines
                .push((name.to_string(), panel::stroke(&chart, vec![mark], pen)?));
            chart.draw_series([Text::new(
                format!("{name} {}", human_seconds(at)),
                (at * 1.05, 0.08 + marker_height(name)),
                (FAMILY, LABEL_SIZE).into_font(),
            )])?;
        }
        panel::legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(vec![trace])
    }
}

/// Staggers the percentile labels so close percentiles do not overprint.
fn marker_height(name: &str) -> f64 {
    match name {
        "p50" => 0.0,
        "p90" => 0.1,
        _ => 0.2,
    }
}
