//! The panels of lines over time that several figures draw: queue depth and outcomes per
//! minute appear in the overview and in every destination chart, so they are drawn here
//! once and a state looks the same in both.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::DrawResult;
use super::panel::{self, PanelTrace, Pen, Scale, TimeFrame, line, shade, time_chart};
use super::series::{Band, Point, axis_max};
use super::style;
use crate::flow_control::State;

/// One line of a panel: its value at a point, its colour and its legend label.
pub type Series = (fn(&Point) -> f64, RGBColor, &'static str);

/// Queue depths: ready, waiting retry, in flight.
const QUEUE_DEPTH: [Series; 3] = [
    (|p| p.ready, style::READY, "ready"),
    (|p| p.waiting, style::WAITING, "waiting retry"),
    (|p| p.in_flight, style::IN_FLIGHT, "in flight"),
];

/// Outcomes per minute: delivered, deferred, bounced.
const OUTCOMES: [Series; 3] = [
    (|p| p.delivered_per_min, style::DELIVERED, "delivered"),
    (|p| p.deferred_per_min, style::DEFERRED, "deferred"),
    (|p| p.bounced_per_min, style::BOUNCED, "bounced"),
];

/// State bands to shade behind a panel's lines, and the legend text of each state (a
/// destination's own state, or "a destination ..." in the overview).
#[derive(Clone, Copy)]
pub struct Shading<'a> {
    pub bands: &'a [Band],
    pub label: fn(State) -> String,
}

/// The queue-depth panel: ready, waiting retry and in flight.
pub fn queue_depth<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    frame: TimeFrame,
    points: &[Point],
    shading: Shading<'_>,
) -> DrawResult<PanelTrace, DB> {
    let y = (caption, "messages");
    lines_panel(area, y, frame, points, &QUEUE_DEPTH, Some(shading))
}

/// The outcomes panel: delivered, deferred and bounced per minute.
pub fn outcomes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    frame: TimeFrame,
    points: &[Point],
    shading: Shading<'_>,
) -> DrawResult<PanelTrace, DB> {
    let y = ("outcomes", "messages per minute");
    lines_panel(area, y, frame, points, &OUTCOMES, Some(shading))
}

/// A panel titled `caption` with `series` drawn over `points`, its value axis (`y_desc`)
/// fitted to the highest of them, any `shading` behind the lines and the legend top right.
pub fn lines_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (caption, y_desc): (&str, &str),
    frame: TimeFrame,
    points: &[Point],
    series: &[Series],
    shading: Option<Shading<'_>>,
) -> DrawResult<PanelTrace, DB> {
    let highest = |p: &Point| series.iter().map(|(value, ..)| value(p)).reduce(f64::max);
    let y_max = axis_max(points.iter().filter_map(highest), 1.0);
    let whole = |p: &Point| series.iter().all(|(value, ..)| value(p).fract() == 0.0);
    let scale = if points.iter().all(whole) {
        Scale::Counts
    } else {
        Scale::Continuous
    };
    let mut chart = time_chart(area, caption, frame, (y_max, y_desc, scale))?;
    let mut trace = PanelTrace::new(caption, &chart);
    if let Some(Shading { bands, label }) = shading {
        shade(&mut chart, bands, y_max, label)?;
    }
    for &(value, color, label) in series {
        let run = points.iter().map(|p| (p.x, value(p))).collect();
        line(&mut chart, &mut trace, vec![run], Pen::solid(color), label)?;
    }
    panel::legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(trace)
}
