//! A sweep's charts, PNG and SVG: the objective as a heatmap when two parameters vary,
//! metrics against the parameter with 95% bands when one varies, and the Pareto scatter.
//!
//! Parameter values are drawn as evenly spaced categories (their text on the axis), since
//! they may be durations, rates or log-spaced numbers.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Sweep;
use super::metrics::{Metric, metric_text};
use super::plan::{Axis, value_text};
use super::rank::Ranking;
use crate::plot::font::{self, FAMILY};
use crate::plot::typeset::Typeset;

const SIZE: (u32, u32) = (960, 640);

/// Draws `$chart(&root)` into `<dir>/<stem>.png` and `.svg`: a macro because the drawing
/// functions are generic over the backend and a closure cannot be.
macro_rules! render {
    ($dir:expr, $stem:expr, $size:expr, $chart:ident ( $($arg:expr),* )) => {{
        let png = $dir.join(format!("{}.png", $stem));
        let root = Typeset::new(BitMapBackend::new(&png, $size)).into_drawing_area();
        $chart(&root, $($arg),*)?;
        root.present().map_err(text)?;
        let svg = $dir.join(format!("{}.svg", $stem));
        let root = SVGBackend::new(&svg, $size).into_drawing_area();
        $chart(&root, $($arg),*)?;
        root.present().map_err(text)?;
    }};
}

/// Draws every chart that fits the sweep into `dir`; returns the file stems written.
pub fn draw(sweep: &Sweep, ranking: &Ranking, dir: &Path) -> Result<Vec<&'static str>, String> {
    font::register();
    let mut drawn = Vec::new();
    match sweep.plan.parameters.len() {
        1 => {
            let metrics = line_metrics(sweep);
            let size = (SIZE.0, 240 * metrics.len() as u32 + 60);
            render!(dir, "lines", size, lines(sweep, ranking, &metrics));
            drawn.push("lines");
        }
        2 => {
            render!(dir, "heatmap", SIZE, heatmap(sweep, ranking));
            drawn.push("heatmap");
        }
        _ => {}
    }
    render!(dir, "pareto", SIZE, pareto(sweep, ranking));
    drawn.push("pareto");
    Ok(drawn)
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A number for a chart label: three significant figures or so (times go through
/// [`metric_text`] instead).
fn short(value: f64) -> String {
    match value.abs() {
        v if v.is_nan() => "–".into(),
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        v if v >= 1.0 || v == 0.0 => format!("{value:.2}"),
        _ => format!("{value:.3}"),
    }
}

/// Categories labelled one by one on an axis.
const MAX_LABELLED: usize = 40;

/// A category axis: `n` equal slots over 0..n, labelled at their centres `i + 0.5`.
struct Categories(usize);

impl Ranged for Categories {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = value / self.0.max(1) as f64;
        limit.0 + ((limit.1 - limit.0) as f64 * share).round() as i32
    }

    /// Every category up to [`MAX_LABELLED`] (a row or column without its value cannot be
    /// read), every k-th beyond.
    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        let every = self.0.div_ceil(MAX_LABELLED).max(1);
        (0..self.0).step_by(every).map(|i| i as f64 + 0.5).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        0.0..self.0 as f64
    }
}

/// A metric's value axis: linear, ticked at round durations for times (`1h`, `1h 30m`)
/// and at round numbers otherwise.
struct MetricAxis {
    range: std::ops::Range<f64>,
    duration: bool,
}

/// Tick steps for time axes, in seconds.
const DURATION_STEPS: [f64; 21] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    10_800.0, 21_600.0, 43_200.0, 86_400.0, 172_800.0, 432_000.0, 864_000.0,
];

impl Ranged for MetricAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.range.clone()).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let linear = RangedCoordf64::from(self.range.clone());
        if !self.duration {
            return linear.key_points(hint);
        }
        let (lo, hi) = (self.range.start, self.range.end);
        let most = hint.max_num_points().max(1) as f64;
        let Some(step) = DURATION_STEPS.iter().find(|&&s| (hi - lo) / s <= most) else {
            return linear.key_points(hint);
        };
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        (first..=last).map(|i| i as f64 * step).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// A tick label: a duration for times, else a number with the decimals its ticks need.
fn axis_text(metric: Metric, value: f64, range: (f64, f64)) -> String {
    if metric.is_duration() {
        metric_text(metric, value, short)
    } else {
        tick_text(value, range)
    }
}

fn metric_axis(metric: Metric, (lo, hi): (f64, f64)) -> MetricAxis {
    MetricAxis {
        range: lo..hi,
        duration: metric.is_duration(),
    }
}

fn categories(n: usize) -> Categories {
    Categories(n)
}

fn category_label(labels: &[String], x: f64) -> String {
    let i = (x - 0.5).round();
    if i >= 0.0 && (i as usize) < labels.len() && (x - 0.5 - i).abs() < 1e-6 {
        labels[i as usize].clone()
    } else {
        String::new()
    }
}

fn value_labels(sweep: &Sweep, parameter: usize) -> Vec<String> {
    sweep.plan.parameters[parameter]
        .values
        .iter()
        .map(value_text)
        .collect()
}

fn caption_style() -> TextStyle<'static> {
    (FAMILY, 20).into_font().into()
}

/// The objective over a two-parameter grid: green best, red worst, grey infeasible,
/// the winner outlined.
fn heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sweep: &Sweep,
    ranking: &Ranking,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(text)?;
    let objective = &sweep.plan.objective;
    let m = sweep.plan.column(objective.metric);
    let (xs, ys) = (value_labels(sweep, 0), value_labels(sweep, 1));
    let oriented = |v: f64| if objective.maximize { -v } else { v };
    let feasible: Vec<f64> = ranking
        .verdicts
        .iter()
        .filter(|v| v.feasible && v.estimates[m].mean.is_finite())
        .map(|v| oriented(v.estimates[m].mean))
        .collect();
    let lo = feasible.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = feasible.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let title = format!("{objective} (mean of {} seeds)", sweep.plan.replications);
    let (root, legend) = root.split_vertically(SIZE.1 - 34);
    heatmap_legend(&legend)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, caption_style())
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(categories(xs.len()), categories(ys.len()))
        .map_err(text)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&sweep.plan.parameters[0].path)
        .y_desc(&sweep.plan.parameters[1].path)
        .x_label_formatter(&|x| category_label(&xs, *x))
        .y_label_formatter(&|y| category_label(&ys, *y))
        .label_style((FAMILY, 14))
        .draw()
        .map_err(text)?;
    let show_values = xs.len() * ys.len() <= 150;
    for (config, verdict) in ranking.verdicts.iter().enumerate() {
        let point = &sweep.configurations[config];
        let (x, y) = (point[0] as f64, point[1] as f64);
        let mean = verdict.estimates[m].mean;
        let colour = if verdict.feasible && mean.is_finite() {
            let t = if hi > lo {
                (oriented(mean) - lo) / (hi - lo)
            } else {
                0.0
            };
            HSLColor(0.33 * (1.0 - t), 0.6, 0.6).to_rgba()
        } else {
            RGBColor(215, 215, 215).to_rgba()
        };
        chart
            .draw_series([Rectangle::new(
                [(x, y), (x + 1.0, y + 1.0)],
                colour.filled(),
            )])
            .map_err(text)?;
        if show_values {
            let value = metric_text(objective.metric, mean, short);
            let label = if verdict.feasible {
                value
            } else {
                format!("✗ {value}")
            };
            let style =
                TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
            chart
                .draw_series([Text::new(label, (x + 0.5, y + 0.5), style)])
                .map_err(text)?;
        }
        if ranking.best == Some(config) {
            chart
                .draw_series([Rectangle::new(
                    [(x + 0.02, y + 0.02), (x + 0.98, y + 0.98)],
                    BLACK.stroke_width(3),
                )])
                .map_err(text)?;
        }
    }
    Ok(())
}

/// What the heatmap's colours and marks mean, in a line under it.
fn heatmap_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Result<(), String> {
    let style = TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let y = 14;
    let swatch =
        |x: i32, colour: RGBAColor| Rectangle::new([(x, y - 7), (x + 18, y + 7)], colour.filled());
    area.draw(&swatch(110, HSLColor(0.33, 0.6, 0.6).to_rgba()))
        .map_err(text)?;
    area.draw(&Text::new("best", (134, y), style.clone()))
        .map_err(text)?;
    area.draw(&swatch(190, HSLColor(0.0, 0.6, 0.6).to_rgba()))
        .map_err(text)?;
    area.draw(&Text::new("worst (feasible)", (214, y), style.clone()))
        .map_err(text)?;
    area.draw(&swatch(350, RGBColor(215, 215, 215).to_rgba()))
        .map_err(text)?;
    area.draw(&Text::new(
        "✗ infeasible: fails a --require (its value shown)",
        (374, y),
        style.clone(),
    ))
    .map_err(text)?;
    area.draw(&Rectangle::new(
        [(780, y - 8), (800, y + 8)],
        BLACK.stroke_width(3),
    ))
    .map_err(text)?;
    area.draw(&Text::new("winner", (808, y), style))
        .map_err(text)?;
    Ok(())
}

/// The metrics a one-parameter chart shows: the objective, the constrained metrics and
/// the Pareto axes, at most four.
fn line_metrics(sweep: &Sweep) -> Vec<Metric> {
    let plan = &sweep.plan;
    let mut metrics = vec![plan.objective.metric];
    let others = plan
        .constraints
        .iter()
        .map(|c| c.metric)
        .chain(plan.pareto.iter().map(|a| a.metric));
    for metric in others {
        if !metrics.contains(&metric) && metrics.len() < 4 {
            metrics.push(metric);
        }
    }
    metrics
}

/// One panel per metric: mean against the parameter with the 95% band, constraint
/// thresholds in red, the winner in green.
fn lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sweep: &Sweep,
    ranking: &Ranking,
    metrics: &[Metric],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(text)?;
    let root = root
        .titled(
            &format!(
                "mean and 95% interval over {} seeds",
                sweep.plan.replications
            ),
            caption_style(),
        )
        .map_err(text)?;
    let labels = value_labels(sweep, 0);
    let panels = root.split_evenly((metrics.len(), 1));
    for (panel, metric) in panels.iter().zip(metrics) {
        let m = sweep.plan.column(*metric);
        // x position of each configuration, with its estimate, in parameter order.
        let mut points: Vec<(f64, f64, f64, f64)> = ranking
            .verdicts
            .iter()
            .enumerate()
            .map(|(config, v)| {
                let e = v.estimates[m];
                (
                    sweep.configurations[config][0] as f64 + 0.5,
                    e.mean,
                    e.low,
                    e.high,
                )
            })
            .filter(|p| p.1.is_finite())
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let thresholds: Vec<f64> = sweep
            .plan
            .constraints
            .iter()
            .filter(|c| c.metric == *metric)
            .map(|c| c.value)
            .collect();
        let (lo, hi) = span(
            points
                .iter()
                .flat_map(|p| [p.2, p.3])
                .chain(thresholds.iter().copied()),
        );
        let mut chart = ChartBuilder::on(panel)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(categories(labels.len()), metric_axis(*metric, (lo, hi)))
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc(&sweep.plan.parameters[0].path)
            .y_desc(metric.name())
            .x_label_formatter(&|x| category_label(&labels, *x))
            .y_label_formatter(&|y| {
                if metric.is_duration() {
                    metric_text(*metric, *y, short)
                } else {
                    tick_text(*y, (lo, hi))
                }
            })
            .label_style((FAMILY, 13))
            .draw()
            .map_err(text)?;
        let band: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (p.0, p.2))
            .chain(points.iter().rev().map(|p| (p.0, p.3)))
            .collect();
        chart
            .draw_series([Polygon::new(band, BLUE.mix(0.18).filled())])
            .map_err(text)?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                BLUE.stroke_width(2),
            ))
            .map_err(text)?;
        for t in thresholds {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, t), (labels.len() as f64, t)],
                    RED.mix(0.7),
                ))
                .map_err(text)?;
        }
        let best = ranking
            .best
            .map(|b| sweep.configurations[b][0] as f64 + 0.5);
        chart
            .draw_series(points.iter().map(|p| {
                let colour = if Some(p.0) == best {
                    GREEN.filled()
                } else {
                    BLUE.filled()
                };
                Circle::new((p.0, p.1), 4, colour)
            }))
            .map_err(text)?;
    }
    Ok(())
}

/// A padded range covering the finite values (a unit range around a single value).
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        lo.abs().max(1.0) * 0.1
    };
    // Counts, shares, times and scores are never negative: nor is their axis.
    let floor = if lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY };
    ((lo - pad).max(floor), hi + pad)
}

/// A tick label of a number axis over `lo..hi`: as many decimals as its ticks need to
/// differ (ticks 1.266, 1.268 would all read "1.27" at three figures).
fn tick_text(value: f64, (lo, hi): (f64, f64)) -> String {
    let step = (hi - lo) / 10.0;
    if !(step.is_finite() && step > 0.0) {
        return short(value);
    }
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    if decimals == 0 {
        short(value)
    } else {
        format!("{value:.decimals$}")
    }
}

/// Every configuration on the two Pareto axes: grey infeasible, blue feasible, the front
/// joined in red, the winner in green.
fn pareto<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sweep: &Sweep,
    ranking: &Ranking,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(text)?;
    let [ax, ay] = &sweep.plan.pareto;
    let (mx, my) = (sweep.plan.column(ax.metric), sweep.plan.column(ay.metric));
    let at = |config: usize| {
        let e = &ranking.verdicts[config].estimates;
        (e[mx].mean, e[my].mean)
    };
    let all: Vec<(f64, f64)> = (0..ranking.verdicts.len())
        .map(at)
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let (x0, x1) = span(all.iter().map(|p| p.0));
    let (y0, y1) = span(all.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Pareto front: {} against {}", goal(ax), goal(ay)),
            caption_style(),
        )
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(
            metric_axis(ax.metric, (x0, x1)),
            metric_axis(ay.metric, (y0, y1)),
        )
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc(ax.metric.name())
        .y_desc(ay.metric.name())
        .x_label_formatter(&|x| axis_text(ax.metric, *x, (x0, x1)))
        .y_label_formatter(&|y| axis_text(ay.metric, *y, (y0, y1)))
        .label_style((FAMILY, 14))
        .draw()
        .map_err(text)?;
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let (feasible, infeasible): (Vec<usize>, Vec<usize>) =
        (0..ranking.verdicts.len()).partition(|&c| ranking.verdicts[c].feasible);
    let gray = RGBColor(160, 160, 160);
    chart
        .draw_series(
            infeasible
                .iter()
                .map(|&c| at(c))
                .filter(finite)
                .map(|p| Cross::new(p, 5, gray)),
        )
        .map_err(text)?
        .label("infeasible: fails a --require")
        .legend(move |(x, y)| Cross::new((x + 8, y), 5, gray));
    chart
        .draw_series(
            feasible
                .iter()
                .map(|&c| at(c))
                .filter(finite)
                .map(|p| Circle::new(p, 4, BLUE.mix(0.7).filled())),
        )
        .map_err(text)?
        .label("feasible configuration (mean of its seeds)")
        .legend(|(x, y)| Circle::new((x + 8, y), 4, BLUE.mix(0.7).filled()));
    chart
        .draw_series(LineSeries::new(
            ranking.pareto.iter().map(|&c| at(c)),
            RED.stroke_width(2),
        ))
        .map_err(text)?
        .label("Pareto front: no other feasible one is better in both")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED.stroke_width(2)));
    if let Some(best) = ranking.best.map(at).filter(finite) {
        chart
            .draw_series([Circle::new(best, 8, GREEN.stroke_width(3))])
            .map_err(text)?
            .label("best by the objective")
            .legend(|(x, y)| Circle::new((x + 8, y), 7, GREEN.stroke_width(3)));
        // Beside the marker (radius 8, stroke 3), not on it.
        let style =
            TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Bottom));
        chart
            .draw_series([EmptyElement::at(best) + Text::new("best", (12, -10), style)])
            .map_err(text)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(text)?;
    Ok(())
}

/// "p95_latency (lower is better)": an axis with the way it is better.
fn goal(axis: &Axis) -> String {
    let way = if axis.maximize { "higher" } else { "lower" };
    format!("{} ({way} is better)", axis.metric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Span;

    #[test]
    fn times_read_in_human_units_and_other_metrics_as_numbers() {
        let four_hours = Metric::DeliveredWithin(Span::from_hours(4));
        assert_eq!(metric_text(Metric::P95Latency, 14_352.384, short), "3h 59m");
        assert_eq!(metric_text(Metric::BackoffTime, 42.0, short), "42s");
        assert_eq!(
            metric_text(Metric::AttemptsPerDelivered, 1.0412, short),
            "1.04"
        );
        assert_eq!(metric_text(four_hours, 0.957, short), "0.957");
    }

    #[test]
    fn time_axes_tick_at_round_durations() {
        let axis = metric_axis(Metric::P95Latency, (200.0, 21_700.0));
        assert_eq!(
            axis.key_points(8),
            [3600.0, 7200.0, 10_800.0, 14_400.0, 18_000.0, 21_600.0]
        );
        let counts = metric_axis(Metric::Attempts, (0.0, 10.0));
        assert_eq!(counts.key_points(3), [0.0, 5.0, 10.0]);
    }

    #[test]
    fn every_row_and_column_of_a_grid_is_labelled() {
        // Twelve values of to_normal_after on a 640-pixel axis: all twelve, not every other.
        assert_eq!(Categories(12).key_points(6).len(), 12);
        assert_eq!(Categories(100).key_points(6).len(), 34);
    }

    #[test]
    fn count_axes_never_go_negative() {
        assert_eq!(span([0.0, 5.0].into_iter()).0, 0.0);
        assert_eq!(span([0.0, 0.0].into_iter()), (0.0, 0.1));
        assert!(span([-1.0, 5.0].into_iter()).0 < -1.0);
    }

    #[test]
    fn close_ticks_get_the_decimals_that_tell_them_apart() {
        let range = (1.262, 1.278);
        let labels: Vec<String> = [1.264, 1.266, 1.268, 1.27, 1.272]
            .iter()
            .map(|&v| tick_text(v, range))
            .collect();
        assert_eq!(labels, ["1.264", "1.266", "1.268", "1.270", "1.272"]);
        assert_eq!(tick_text(250.0, (0.0, 1000.0)), "250");
    }
}

#[cfg(test)]
mod drawn {
    use super::*;
    use crate::sweep::plan::{PlanParts, SweepPlan};
    use crate::sweep::rank::rank;

    /// A pareto.svg and heatmap.svg of a tiny two-parameter sweep.
    fn drawn() -> (String, String) {
        let base = crate::scenario::load(
            "t.json",
            r#"{"name": "t", "seed": 1, "duration": "1h",
                "receivers": [{"name": "r", "domains": ["r.example"], "share": 1,
                               "transient_errors": {"probability": 0.3}}],
                "traffic": [{"messages": 200, "over": "10m"}]}"#,
            &[],
        )
        .unwrap()
        .scenario;
        let parts = PlanParts {
            parameters: vec![
                "flow_control.errors.threshold=2,5,10".parse().unwrap(),
                "flow_control.backoff.to_normal_after=1m,2m,3m,4m,5m,6m,7m,8m,9m,10m,11m,12m"
                    .parse()
                    .unwrap(),
            ],
            ..PlanParts::default()
        };
        let plan = SweepPlan::resolve(parts, base.seed).unwrap();
        let sweep = Sweep::new(plan, base);
        let rows: Vec<_> = (0..sweep.run_count())
            .map(|i| sweep.run(i).unwrap())
            .collect();
        let ranking = rank(&sweep.plan, sweep.configurations.len(), &rows);
        let dir = tempfile::tempdir().unwrap();
        draw(&sweep, &ranking, dir.path()).unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        (read("pareto.svg"), read("heatmap.svg"))
    }

    /// The (x, y) of every `<text>` whose content is `content`.
    fn texts(svg: &str, content: &str) -> Vec<(f64, f64)> {
        svg.split("<text")
            .skip(1)
            .filter(|t| {
                t.split_once('>')
                    .and_then(|(_, rest)| rest.split_once("</text>"))
                    .is_some_and(|(inner, _)| inner.trim() == content)
            })
            .map(|t| {
                let attr = |name: &str| -> f64 {
                    let key = format!(" {name}=\"");
                    let at = t.find(&key).unwrap() + key.len();
                    t[at..at + t[at..].find('"').unwrap()].parse().unwrap()
                };
                (attr("x"), attr("y"))
            })
            .collect()
    }

    #[test]
    fn the_heatmap_labels_every_row_and_explains_its_marks_and_the_best_label_clears_its_marker() {
        let (pareto, heatmap) = drawn();
        for row in ["1m", "2m", "6m", "11m", "12m"] {
            assert_eq!(texts(&heatmap, row).len(), 1, "row {row} unlabelled");
        }
        for legend in ["best", "winner"] {
            assert_eq!(texts(&heatmap, legend).len(), 1, "no legend entry {legend}");
        }
        assert!(heatmap.contains("infeasible: fails a --require"));
        // The green ring of radius 8 around the winner, and its label outside it.
        let ring = pareto
            .split("<circle")
            .skip(1)
            .find(|c| c.contains("r=\"8\""))
            .expect("the winner's ring");
        let attr = |name: &str| -> f64 {
            let key = format!(" {name}=\"");
            let at = ring.find(&key).unwrap() + key.len();
            ring[at..at + ring[at..].find('"').unwrap()]
                .parse()
                .unwrap()
        };
        let (cx, cy) = (attr("cx"), attr("cy"));
        let [(x, y)] = texts(&pareto, "best")[..] else {
            panic!("one best label")
        };
        assert!(
            x >= cx + 10.0 && y <= cy - 8.0,
            "label at ({x}, {y}), ring at ({cx}, {cy})"
        );
    }
}
