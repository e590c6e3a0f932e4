//! Building blocks shared by the figures: a time panel with labelled axes, state bands
//! behind the lines, lines with legend entries (all drawn through [`stroke`], which keeps
//! them inside their plotting area), and the state strip.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::DrawResult;
use super::font::FAMILY;
use super::series::{Band, TimeUnit};
use super::stroke::{self, BackendCoord, PixelRect};
use super::style::{self, BAND_OPACITY, CAPTION_SIZE, LABEL_SIZE, state_color};
use crate::flow_control::State;
use crate::units::{Instant, Span};

/// A time-based chart on one panel.
pub type TimeChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The time axis every panel of a figure shares.
#[derive(Debug, Clone, Copy)]
pub struct TimeFrame {
    pub unit: TimeUnit,
    pub end: f64,
    /// The time of a real log (since its first record), not simulated time.
    pub observed: bool,
}

impl TimeFrame {
    pub fn new(duration: Span) -> Self {
        let unit = TimeUnit::for_duration(duration);
        TimeFrame {
            unit,
            end: unit.x(Instant::ZERO + duration.max(Span::MILLISECOND)),
            observed: false,
        }
    }

    /// The frame of a real log spanning `duration` from its first record.
    pub fn observed(duration: Span) -> Self {
        TimeFrame {
            observed: true,
            ..TimeFrame::new(duration)
        }
    }

    /// The time axis' label, with its unit.
    pub fn axis_label(self) -> &'static str {
        if self.observed {
            self.unit.log_axis_label()
        } else {
            self.unit.axis_label()
        }
    }
}

/// Left axis labels are this wide; figures line their panels up on it.
pub const Y_LABEL_AREA: u32 = 80;
/// Right axis labels (secondary axes); other panels leave the same room blank.
pub const RIGHT_LABEL_AREA: u32 = 80;

/// Whether a panel draws a second value axis on its right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RightAxis {
    /// Blank room of the same width, so time axes line up across panels.
    Blank,
    Secondary,
}

/// Starts a chart on `area` with room for axis labels on the left and on the right.
pub fn builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    right: RightAxis,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, (FAMILY, CAPTION_SIZE))
        .margin_top(6)
        .margin_left(8)
        .x_label_area_size(44)
        .y_label_area_size(Y_LABEL_AREA);
    match right {
        RightAxis::Blank => builder.margin_right(8 + RIGHT_LABEL_AREA),
        RightAxis::Secondary => builder
            .margin_right(8)
            .right_y_label_area_size(RIGHT_LABEL_AREA),
    };
    builder
}

/// What a value axis counts: whole things (connections, destinations) get whole-number
/// tick labels only, so a limit of 0 or 1 is not labelled 0.1, 0.2, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Continuous,
    Counts,
}

/// A panel titled `caption` with time across and `y_desc` from 0 to `y_max` up.
pub fn time_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    frame: TimeFrame,
    (y_max, y_desc, scale): (f64, &str, Scale),
) -> DrawResult<TimeChart<'a, DB>, DB> {
    let mut chart =
        builder(area, caption, RightAxis::Blank).build_cartesian_2d(0.0..frame.end, 0.0..y_max)?;
    mesh(&mut chart, frame, y_desc, scale)?;
    Ok(chart)
}

/// Grid, axes and their labels; with a secondary axis, call after setting it, so the
/// left labels stay on the left.
pub fn mesh<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    frame: TimeFrame,
    y_desc: &str,
    scale: Scale,
) -> DrawResult<(), DB> {
    let y_labels: &dyn Fn(&f64) -> String = match scale {
        Scale::Continuous => &axis_number,
        Scale::Counts => &count_number,
    };
    chart
        .configure_mesh()
        .x_desc(frame.axis_label())
        .y_desc(y_desc)
        .label_style((FAMILY, LABEL_SIZE))
        .axis_desc_style((FAMILY, LABEL_SIZE))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .x_label_formatter(&axis_number)
        .y_label_formatter(y_labels)
        .draw()
}

/// Tick labels of a count axis: whole numbers only, other ticks left blank.
pub fn count_number(value: &f64) -> String {
    let whole = value.round();
    if (value - whole).abs() < 1e-6 {
        axis_number(&whole)
    } else {
        String::new()
    }
}

/// Tick labels without float noise: `1200`, `2.5`, `0.25`.
pub fn axis_number(value: &f64) -> String {
    let v = *value;
    if v.abs() >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{}", (v * 100.0).round() / 100.0)
    }
}

/// Shades `bands` behind the lines in their state's colour, one legend entry per state
/// present.
pub fn shade<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    bands: &[Band],
    y_max: f64,
    label: impl Fn(State) -> String,
) -> DrawResult<(), DB> {
    for state in [State::Backoff, State::Suspended] {
        let of_state = bands.iter().filter(|b| b.state == state);
        shade_in(chart, of_state, y_max, state_color(state), &label(state))?;
    }
    Ok(())
}

/// Shades `bands` in `color` whatever their state, with one legend entry if any.
pub fn shade_in<'b, DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    bands: impl Iterator<Item = &'b Band>,
    y_max: f64,
    color: RGBColor,
    label: &str,
) -> DrawResult<(), DB> {
    let color = color.mix(BAND_OPACITY);
    let mut bands = bands.peekable();
    if bands.peek().is_none() {
        return Ok(());
    }
    chart
        .draw_series(bands.map(|b| Rectangle::new([(b.from, 0.0), (b.to, y_max)], color.filled())))?
        .label(label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled()));
    Ok(())
}

/// What a panel drew: its plotting area and each line's points where they fell, in
/// backend pixels, before clipping. A point outside the area means the panel's value range
/// does not cover its data; tests check that none is.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelTrace {
    pub caption: String,
    pub area: PixelRect,
    /// (legend label, points).
    pub lines: Vec<(String, Vec<BackendCoord>)>,
}

impl PanelTrace {
    pub fn new<DB: DrawingBackend, CT: CoordTranslate>(
        caption: &str,
        chart: &ChartContext<'_, DB, CT>,
    ) -> Self {
        PanelTrace {
            caption: caption.to_string(),
            area: PixelRect::from_ranges(chart.plotting_area().get_pixel_range()),
            lines: Vec::new(),
        }
    }
}

/// A line's colour, and its dash and gap lengths in pixels when dashed.
#[derive(Debug, Clone, Copy)]
pub struct Pen {
    pub color: RGBColor,
    pub dash: Option<(u32, u32)>,
}

impl Pen {
    pub const fn solid(color: RGBColor) -> Self {
        Pen { color, dash: None }
    }

    pub const fn dashed(color: RGBColor, dash: u32, gap: u32) -> Self {
        Pen {
            color,
            dash: Some((dash, gap)),
        }
    }
}

/// A chart with numbers on both axes (time or latency across).
type NumberChart<'a, DB, X, Y> = ChartContext<'a, DB, Cartesian2d<X, Y>>;

/// Draws `runs` (from [`defined_runs`], or one run) as one line with one legend entry,
/// and records it in `trace`.
pub fn line<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &mut NumberChart<'_, DB, X, Y>,
    trace: &mut PanelTrace,
    runs: Vec<Vec<(f64, f64)>>,
    pen: Pen,
    label: &str,
) -> DrawResult<(), DB> {
    let points = stroke(chart, runs, pen)?;
    legend_entry(chart, pen, label)?;
    trace.lines.push((label.to_string(), points));
    Ok(())
}

/// Maps `runs` to pixels, draws their clipped, safely split pieces on the plotting area,
/// and returns the mapped points. Every line of every panel is drawn here.
pub fn stroke<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &NumberChart<'_, DB, X, Y>,
    runs: Vec<Vec<(f64, f64)>>,
    pen: Pen,
) -> DrawResult<Vec<BackendCoord>, DB> {
    let area = chart.plotting_area();
    let bounds = PixelRect::from_ranges(area.get_pixel_range());
    let canvas = area.strip_coord_spec();
    let (base_x, base_y) = canvas.get_base_pixel();
    let mut mapped = Vec::new();
    for run in runs {
        let pixels: Vec<BackendCoord> = run.iter().map(|p| chart.backend_coord(p)).collect();
        for piece in stroke::pieces(&pixels, bounds, pen.dash) {
            let relative = piece.into_iter().map(|(x, y)| (x - base_x, y - base_y));
            canvas.draw(&PathElement::new(
                relative.collect::<Vec<_>>(),
                style::line(pen.color),
            ))?;
        }
        mapped.extend(pixels);
    }
    Ok(mapped)
}

/// A legend entry for a line drawn with [`stroke`].
pub fn legend_entry<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &mut NumberChart<'_, DB, X, Y>,
    pen: Pen,
    label: &str,
) -> DrawResult<(), DB> {
    let color = pen.color;
    chart
        .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style::line(color)));
    Ok(())
}

/// Runs of defined values, so an undefined stretch (no limit, no score) is a gap, not a
/// line to zero.
pub fn defined_runs(points: impl Iterator<Item = (f64, Option<f64>)>) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (x, y) in points {
        match y {
            Some(y) => current.push((x, y)),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The legend box at `position`, over a translucent background; on any chart, so the
/// latency chart's log axis gets the same legend as the time panels.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult<(), DB> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FAMILY, LABEL_SIZE))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
}

/// The state strip's caption.
pub const STATE_STRIP: &str = "flow-control state";

/// A thin strip coloured by state over time; its trace (no lines) says where its time
/// axis lies, which the panels below it must share. Its caption stands at the axis' left
/// end and its key at the right, so both fit a strip over a narrow panel.
pub fn state_strip<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    bands: &[Band],
    frame: TimeFrame,
) -> DrawResult<PanelTrace, DB> {
    let chart = ChartBuilder::on(area)
        .margin_top(28)
        .margin_left(8)
        .margin_right(8 + RIGHT_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0.0..frame.end, 0.0..1.0)?;
    let strip = chart.plotting_area();
    for b in bands {
        strip.draw(&Rectangle::new(
            [(b.from, 0.0), (b.to, 1.0)],
            state_color(b.state).filled(),
        ))?;
    }
    strip.draw(&Rectangle::new(
        [(0.0, 0.0), (frame.end, 1.0)],
        BLACK.mix(0.3).stroke_width(1),
    ))?;
    let base = area.get_base_pixel().0;
    let axis = strip.get_pixel_range().0;
    let caption = TextStyle::from((FAMILY, CAPTION_SIZE).into_font());
    area.draw(&Text::new(STATE_STRIP, (axis.start - base, 4), caption))?;
    state_key(area, axis.end - base)?;
    Ok(PanelTrace::new(STATE_STRIP, &chart))
}

/// "■ normal ■ backoff ■ suspended" on the caption's line, ending at `right`.
fn state_key<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, right: i32) -> DrawResult<(), DB> {
    let label = TextStyle::from((FAMILY, LABEL_SIZE).into_font());
    let mut x = right;
    for state in [State::Suspended, State::Backoff, State::Normal] {
        let text = state.to_string();
        x -= area.estimate_text_size(&text, &label)?.0 as i32;
        area.draw(&Text::new(text, (x, 6), label.clone()))?;
        x -= 20;
        area.draw(&Rectangle::new(
            [(x, 6), (x + 14, 20)],
            state_color(state).filled(),
        ))?;
        x -= 18;
    }
    Ok(())
}

/// A centred note in an empty panel ("no deliveries", "no reputation model").
pub fn note<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str) -> DrawResult<(), DB> {
    let (width, height) = area.dim_in_pixel();
    let gray = BLACK.mix(0.6);
    let style = TextStyle::from((FAMILY, CAPTION_SIZE).into_font())
        .color(&gray)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(
        text.to_string(),
        (width as i32 / 2, height as i32 / 2),
        style,
    ))
}
