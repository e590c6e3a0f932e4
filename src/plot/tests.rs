//! Chart tests: every line stays inside its panel's plotting area, both as the panels
//! traced it and as the bitmap backend rasterised it.

use plotters::prelude::*;

use super::panel::{PanelTrace, TimeFrame};
use super::series::{MAX_POINTS, Point};
use super::stroke::PixelRect;
use super::style::{self, LINE_WIDTH};
use super::typeset::Typeset;
use super::{Figure, destination, font, lines};
use crate::scenario::{self, DEFAULT_SCENARIO};
use crate::sim::simulate;
use crate::units::Span;

/// Draws `figure` on an RGB buffer: its pixels, width and traces.
pub(super) fn rasterise(figure: &impl Figure) -> (Vec<u8>, u32, Vec<PanelTrace>) {
    font::register();
    let (width, height) = figure.size();
    let mut pixels = vec![0; (width * height * 3) as usize];
    let traces = {
        let root = Typeset::new(BitMapBackend::with_buffer(&mut pixels, (width, height)))
            .into_drawing_area();
        let traces = figure.draw(&root).expect("drawing on a buffer");
        root.present().expect("presenting");
        traces
    };
    (pixels, width, traces)
}

/// Every point of every traced line lies inside its panel's plotting area: each panel's
/// value range covers what it draws.
fn assert_points_inside(traces: &[PanelTrace]) {
    for trace in traces {
        for (label, points) in &trace.lines {
            let outside: Vec<_> = points
                .iter()
                .filter(|p| !trace.area.contains(**p))
                .collect();
            assert!(
                outside.is_empty(),
                "{}: {label}: {} of {} points outside {:?}, e.g. {:?}",
                trace.caption,
                outside.len(),
                points.len(),
                trace.area,
                &outside[..outside.len().min(3)]
            );
        }
    }
}

/// No pixel of `color` lies further than a line's width outside the plotting areas of the
/// panels that draw lines of that colour.
fn assert_color_inside(pixels: &[u8], width: u32, color: RGBColor, areas: &[PixelRect]) {
    let margin = LINE_WIDTH as i32;
    let near = |x: i32, y: i32| {
        areas.iter().any(|a| {
            (a.left - margin..=a.right + margin).contains(&x)
                && (a.top - margin..=a.bottom + margin).contains(&y)
        })
    };
    let stray: Vec<(i32, i32)> = pixels
        .chunks(3)
        .enumerate()
        .filter(|(_, rgb)| *rgb == [color.0, color.1, color.2])
        .map(|(i, _)| ((i as u32 % width) as i32, (i as u32 / width) as i32))
        .filter(|&(x, y)| !near(x, y))
        .collect();
    assert!(
        stray.is_empty(),
        "{} pixels of {color:?} outside {areas:?}, e.g. {:?}",
        stray.len(),
        &stray[..stray.len().min(5)]
    );
}

/// The plotting areas of the panels with a line labelled `label`.
fn areas_with(traces: &[PanelTrace], label: &str) -> Vec<PixelRect> {
    traces
        .iter()
        .filter(|t| t.lines.iter().any(|(l, _)| l == label))
        .map(|t| t.area)
        .collect()
}

/// One panel of outcomes that leap from nothing to 1,000 a minute and back at every
/// point: the worst case for wide strokes.
struct Zigzag(Vec<Point>);

impl Figure for Zigzag {
    fn size(&self) -> (u32, u32) {
        (1200, 400)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> super::DrawResult<Vec<PanelTrace>, DB> {
        root.fill(&WHITE)?;
        let frame = TimeFrame::new(Span::from_hours(24));
        let (top, panel) = root.split_vertically(100);
        top.fill(&WHITE)?;
        let shading = lines::Shading {
            bands: &[],
            label: |s| s.to_string(),
        };
        Ok(vec![lines::outcomes(&panel, frame, &self.0, shading)?])
    }
}

#[test]
fn a_zigzag_line_is_stroked_inside_its_panel() {
    let points = (0..MAX_POINTS)
        .map(|i| Point {
            x: 24.0 * i as f64 / MAX_POINTS as f64,
            ready: 0.0,
            waiting: 0.0,
            in_flight: 0.0,
            delivered_per_min: if i % 2 == 0 { 0.0 } else { 1000.0 },
            deferred_per_min: 0.0,
            bounced_per_min: 0.0,
            concurrency_limit: None,
            rate_limit_per_hour: None,
            reputation: None,
            in_backoff: 0.0,
            suspended: 0.0,
        })
        .collect();
    let (pixels, width, traces) = rasterise(&Zigzag(points));
    assert_points_inside(&traces);
    let areas = areas_with(&traces, "delivered");
    assert_eq!(areas.len(), 1);
    assert_color_inside(&pixels, width, style::DELIVERED, &areas);
}

#[test]
fn every_line_of_yahoo_in_the_default_run_stays_in_its_panel() {
    let scenario = scenario::load("<default>", DEFAULT_SCENARIO, &[]).expect("default scenario");
    let result = simulate(&scenario, Default::default()).expect("default run");
    let figure = destination::DestinationFigure::new(&result, "yahoo");
    let (pixels, width, traces) = rasterise(&figure);
    let captions: Vec<&str> = traces.iter().map(|t| t.caption.as_str()).collect();
    assert_eq!(
        captions,
        [
            "flow-control state",
            "queue depth",
            "flow-control limits",
            "outcomes",
            "receiver's reputation score for this sender"
        ]
    );
    assert_points_inside(&traces);
    // Colours drawn only by lines (and their legend samples, inside the area).
    for (color, label) in [
        (style::DELIVERED, "delivered"),
        (style::DEFERRED, "deferred"),
        (style::WAITING, "waiting retry"),
        (style::IN_FLIGHT, "in flight"),
    ] {
        assert_color_inside(&pixels, width, color, &areas_with(&traces, label));
    }
    let mut blue = areas_with(&traces, "ready");
    blue.extend(areas_with(&traces, "concurrency limit"));
    assert_color_inside(&pixels, width, style::READY, &blue);
}

/// The state strip's time axis is the panel's below it, pixel for pixel, so a state change
/// in the strip sits over the same change in the lines.
#[test]
fn the_state_strip_lines_up_with_the_queue_panel() {
    let scenario = scenario::load("<default>", DEFAULT_SCENARIO, &[]).expect("default scenario");
    let result = simulate(&scenario, Default::default()).expect("default run");
    let (_, _, traces) = rasterise(&destination::DestinationFigure::new(&result, "yahoo"));
    let (strip, queue) = (traces[0].area, traces[1].area);
    assert_eq!((strip.left, strip.right), (queue.left, queue.right));
}
