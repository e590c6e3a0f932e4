//! One destination's story: its state over time, its queue, the limits flow control set,
//! what the receiver answered, and the receiver's opinion of us (reputation).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::lines::{self, Shading};
use super::panel::{
    self, PanelTrace, Pen, RightAxis, Scale, TimeFrame, defined_runs, line, shade, shade_in,
    time_chart,
};
use super::series::{self, Band, Point, axis_max};
use super::style::{self, CAPTION_SIZE, LABEL_SIZE, TITLE_SIZE};
use super::{DrawResult, Figure, font::FAMILY, rows};
use crate::flow_control::State;
use crate::receiver::config::ReputationConfig;
use crate::sim::RunResult;

/// Replies shown in the deferrals-by-reply bars; the report lists them all.
const TOP_REPLIES: usize = 5;
/// Longer replies are cut to this many characters in the chart.
const REPLY_CHARS: usize = 52;

pub struct DestinationFigure {
    title: String,
    frame: TimeFrame,
    points: Vec<Point>,
    states: Vec<Band>,
    blocking: Vec<Band>,
    /// (reply, deferrals), most frequent first.
    replies: Vec<(String, u64)>,
    reputation: Option<ReputationConfig>,
}

impl DestinationFigure {
    pub fn new(result: &RunResult, name: &str) -> Self {
        let frame = TimeFrame::new(result.scenario.duration);
        let interval = result.scenario.sample_every;
        let index = result.destinations.iter().position(|d| d == name);
        let rows = index.map_or_else(Vec::new, |i| rows(result, Some(i as u32)));
        let mut replies: Vec<(String, u64)> = result
            .summary
            .destinations
            .get(name)
            .map(|d| {
                d.deferrals_by_reply
                    .iter()
                    .map(|(r, n)| (r.clone(), *n))
                    .collect()
            })
            .unwrap_or_default();
        replies.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        replies.truncate(TOP_REPLIES);
        DestinationFigure {
            title: format!("{}: destination {name}", result.scenario.name),
            frame,
            points: series::points(&rows, interval, frame.unit),
            states: series::bands(&rows, interval, frame.unit, |s| s.state),
            // Classified as suspended only to reuse the band runs; drawn in BLOCKING.
            blocking: series::bands(&rows, interval, frame.unit, |s| {
                (s.receiver_blocking == Some(true)).then_some(State::Suspended)
            }),
            replies,
            reputation: reputation_config(result, name),
        }
    }

    /// Backoff and suspended bands for the panels (normal stays unshaded).
    fn trouble(&self) -> Vec<Band> {
        self.states
            .iter()
            .filter(|b| b.state != State::Normal)
            .copied()
            .collect()
    }

    /// Concurrency limit on the left axis, rate limit (per hour) on the right.
    fn limits<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> DrawResult<PanelTrace, DB> {
        let p = &self.points;
        let c_max = axis_max(p.iter().filter_map(|p| p.concurrency_limit), 1.0);
        let r_max = axis_max(p.iter().filter_map(|p| p.rate_limit_per_hour), 1.0);
        let caption = "flow-control limits";
        let mut chart = panel::builder(area, caption, RightAxis::Secondary)
            .build_cartesian_2d(0.0..self.frame.end, 0.0..c_max)?
            .set_secondary_coord(0.0..self.frame.end, 0.0..r_max);
        panel::mesh(
            &mut chart,
            self.frame,
            "concurrency (connections)",
            Scale::Counts,
        )?;
        chart
            .configure_secondary_axes()
            .y_desc("rate limit (messages/hour)")
            .label_style((FAMILY, LABEL_SIZE))
            .axis_desc_style((FAMILY, LABEL_SIZE))
            .y_label_formatter(&panel::axis_number)
            .draw()?;
        let mut trace = PanelTrace::new(caption, &chart);
        shade(&mut chart, &self.trouble(), c_max, |s| s.to_string())?;
        let concurrency = defined_runs(p.iter().map(|p| (p.x, p.concurrency_limit)));
        let pen = Pen::solid(style::CONCURRENCY);
        line(
            &mut chart,
            &mut trace,
            concurrency,
            pen,
            "concurrency limit",
        )?;
        let rate = defined_runs(p.iter().map(|p| (p.x, p.rate_limit_per_hour)));
        let rate_label = if rate.is_empty() {
            "rate limit: none"
        } else {
            "rate limit (right axis)"
        };
        let pen = Pen::dashed(style::RATE, 8, 5);
        let points = panel::stroke(chart.borrow_secondary(), rate, pen)?;
        panel::legend_entry(&mut chart, pen, rate_label)?;
        trace.lines.push((rate_label.to_string(), points));
        panel::legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(trace)
    }

    fn replies<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        reply_bars(area, &self.replies, "whole run")
    }

    /// The receiver's score with its thresholds; `None` when it keeps no score.
    fn reputation<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> DrawResult<Option<PanelTrace>, DB> {
        let runs = defined_runs(self.points.iter().map(|p| (p.x, p.reputation)));
        let Some(config) = self.reputation.as_ref().filter(|_| !runs.is_empty()) else {
            panel::note(
                area,
                "the receiver keeps no reputation score for this sender",
            )?;
            return Ok(None);
        };
        let caption = "receiver's reputation score for this sender";
        let mut chart = time_chart(
            area,
            caption,
            self.frame,
            (1.05, "score (0..1)", Scale::Continuous),
        )?;
        let mut trace = PanelTrace::new(caption, &chart);
        shade_in(
            &mut chart,
            self.blocking.iter(),
            1.05,
            style::BLOCKING,
            "receiver blocking",
        )?;
        for (threshold, label, color) in [
            (config.throttle_below, "throttles below", style::BACKOFF),
            (config.block_below, "blocks below", style::SUSPENDED),
        ] {
            let points = vec![(0.0, threshold), (self.frame.end, threshold)];
            let label = format!("{label} {threshold}");
            line(
                &mut chart,
                &mut trace,
                vec![points],
                Pen::dashed(color, 6, 6),
                &label,
            )?;
        }
        let pen = Pen::solid(style::REPUTATION);
        line(&mut chart, &mut trace, runs, pen, "reputation")?;
        panel::legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(Some(trace))
    }
}

impl Figure for DestinationFigure {
    fn size(&self) -> (u32, u32) {
        (1200, 1180)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> DrawResult<Vec<PanelTrace>, DB> {
        root.fill(&WHITE)?;
        let body = root.titled(&self.title, (FAMILY, TITLE_SIZE))?;
        let (strip, rest) = body.split_vertically(64);
        let (queue, rest) = rest.split_vertically(270);
        let (limits, rest) = rest.split_vertically(250);
        let (outcomes, reputation) = rest.split_vertically(290);
        let strip = panel::state_strip(&strip, &self.states, self.frame)?;
        let trouble = self.trouble();
        let shading = Shading {
            bands: &trouble,
            label: |s| s.to_string(),
        };
        let mut traces = vec![
            strip,
            lines::queue_depth(&queue, "queue depth", self.frame, &self.points, shading)?,
            self.limits(&limits)?,
        ];
        let (rates, replies) = outcomes.split_horizontally(760);
        traces.push(lines::outcomes(&rates, self.frame, &self.points, shading)?);
        self.replies(&replies)?;
        traces.extend(self.reputation(&reputation)?);
        Ok(traces)
    }
}

/// The receiver's reputation settings: a named receiver by destination name or domain,
/// else the generated receivers' template.
pub fn reputation_config(result: &RunResult, name: &str) -> Option<ReputationConfig> {
    let scenario = &result.scenario;
    let named = scenario
        .receivers
        .iter()
        .find(|r| r.name.as_deref() == Some(name) || r.domains.iter().any(|d| d == name));
    match named {
        Some(receiver) => receiver.reputation.clone(),
        None => scenario
            .generated_receivers
            .as_ref()
            .and_then(|g| g.template.reputation.clone()),
    }
}

/// A reply cut to fit the bar chart.
fn shorten(reply: &str) -> String {
    if reply.chars().count() <= REPLY_CHARS {
        reply.to_string()
    } else {
        let cut: String = reply.chars().take(REPLY_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// Horizontal bars of the most frequent deferral replies (the first [`TOP_REPLIES`] of
/// `replies`, most frequent first) over `period`.
pub(super) fn reply_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    replies: &[(String, u64)],
    period: &str,
) -> DrawResult<(), DB> {
    let (width, _) = area.dim_in_pixel();
    let heading = format!("deferrals by reply (top {TOP_REPLIES}, {period})");
    area.draw(&Text::new(
        heading,
        (10, 8),
        (FAMILY, CAPTION_SIZE).into_font(),
    ))?;
    if replies.is_empty() {
        return panel::note(area, "no deferrals");
    }
    let most = replies[0].1.max(1) as f64;
    let bar_room = width as f64 - 90.0;
    let font = (FAMILY, LABEL_SIZE - 1).into_font();
    for (i, (reply, count)) in replies.iter().take(TOP_REPLIES).enumerate() {
        let y = 40 + i as i32 * 48;
        area.draw(&Text::new(shorten(reply), (10, y), font.clone()))?;
        let bar = (bar_room * *count as f64 / most).max(1.0) as i32;
        area.draw(&Rectangle::new(
            [(10, y + 18), (10 + bar, y + 34)],
            style::DEFERRED.mix(0.8).filled(),
        ))?;
        area.draw(&Text::new(
            count.to_string(),
            (16 + bar, y + 18),
            font.clone(),
        ))?;
    }
    Ok(())
}
