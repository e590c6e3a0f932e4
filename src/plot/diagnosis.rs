//! A diagnosed log's charts, in a run's visual language: the overview (outcomes per minute,
//! destinations in dynamic flow control — the diagnosis at a glance) and one chart per
//! affected destination (its flow-control state, outcomes and deferrals by reply).

use std::io;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::destination::reply_bars;
use super::lines::{self, Series, Shading};
use super::panel::{self, PanelTrace, TimeFrame};
use super::series::{self, Band, Point};
use super::style::{self, TITLE_SIZE};
use super::{Chart, DrawResult, Figure, MAX_DESTINATION_CHARTS, file_safe, font, save};
use crate::flow_control::State;
use crate::metrics::Sample;
use crate::units::Span;

/// What the charts of one diagnosis show: series as samples at each interval's start.
pub struct LogCharts {
    /// The log's name, in the titles.
    pub name: String,
    pub span: Span,
    pub interval: Span,
    /// The total over all destinations, with destinations in backoff and suspended.
    pub total: Vec<Sample>,
    /// Busy destinations (the verdict's denominator).
    pub destinations: u64,
    /// Affected destinations, most troubled first: name, samples with their state, and
    /// (reply, deferrals) most frequent first.
    pub affected: Vec<AffectedChart>,
}

/// One affected destination's chart data: name, samples with their state, and (reply,
/// deferrals) most frequent first.
pub type AffectedChart = (String, Vec<Sample>, Vec<(String, u64)>);

/// Draws the overview and a chart per affected destination (at most
/// [`MAX_DESTINATION_CHARTS`]) into `dir`.
pub fn draw_log(charts: &LogCharts, dir: &Path) -> io::Result<Vec<Chart>> {
    font::register();
    let frame = TimeFrame::observed(charts.span);
    let total: Vec<&Sample> = charts.total.iter().collect();
    let overview = LogOverview {
        title: format!("{}: diagnosis", charts.name),
        frame,
        points: series::points(&total, charts.interval, frame.unit),
        bands: series::bands(&total, charts.interval, frame.unit, |s| {
            if s.suspended > 0 {
                Some(State::Suspended)
            } else {
                (s.in_backoff > 0).then_some(State::Backoff)
            }
        }),
        destinations: charts.destinations,
    };
    let mut out = vec![save(
        &overview,
        dir,
        "overview",
        "Overview: outcomes and destinations in dynamic flow control",
        None,
    )?];
    for (rank, (name, samples, replies)) in charts
        .affected
        .iter()
        .take(MAX_DESTINATION_CHARTS)
        .enumerate()
    {
        let rows: Vec<&Sample> = samples.iter().collect();
        let figure = LogDestination {
            title: format!("{}: destination {name}", charts.name),
            frame,
            points: series::points(&rows, charts.interval, frame.unit),
            states: series::bands(&rows, charts.interval, frame.unit, |s| s.state),
            replies,
        };
        let stem = format!("destination-{:02}-{}", rank + 1, file_safe(name));
        let title = format!("Destination {name}");
        out.push(save(&figure, dir, &stem, &title, Some(name))?);
    }
    Ok(out)
}

struct LogOverview {
    title: String,
    frame: TimeFrame,
    points: Vec<Point>,
    bands: Vec<Band>,
    destinations: u64,
}

impl Figure for LogOverview {
    fn size(&self) -> (u32, u32) {
        (1200, 680)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> DrawResult<Vec<PanelTrace>, DB> {
        root.fill(&WHITE)?;
        let body = root.titled(&self.title, (font::FAMILY, TITLE_SIZE))?;
        let (top, bottom) = body.split_vertically(320);
        let shading = Shading {
            bands: &self.bands,
            label: |state| match state {
                State::Suspended => "a destination suspended".into(),
                _ => "a destination in backoff".into(),
            },
        };
        let caption = format!(
            "destinations in dynamic flow control (of {} busy)",
            self.destinations
        );
        let series: [Series; 2] = [
            (|p| p.in_backoff, style::BACKOFF, "in backoff"),
            (|p| p.suspended, style::SUSPENDED, "suspended"),
        ];
        Ok(vec![
            lines::outcomes(&top, self.frame, &self.points, shading)?,
            lines::lines_panel(
                &bottom,
                (caption.as_str(), "destinations"),
                self.frame,
                &self.points,
                &series,
                None,
            )?,
        ])
    }
}

struct LogDestination<'a> {
    title: String,
    frame: TimeFrame,
    points: Vec<Point>,
    states: Vec<Band>,
    replies: &'a [(String, u64)],
}

impl Figure for LogDestination<'_> {
    fn size(&self) -> (u32, u32) {
        (1200, 420)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> DrawResult<Vec<PanelTrace>, DB> {
        root.fill(&WHITE)?;
        let body = root.titled(&self.title, (font::FAMILY, TITLE_SIZE))?;
        // The strip sits over the outcomes panel alone, so both share one time axis.
        let (timeline, replies) = body.split_horizontally(760);
        let (strip, rates) = timeline.split_vertically(64);
        let strip = panel::state_strip(&strip, &self.states, self.frame)?;
        let trouble: Vec<Band> = self
            .states
            .iter()
            .filter(|b| b.state != State::Normal)
            .copied()
            .collect();
        let shading = Shading {
            bands: &trouble,
            label: |s| s.to_string(),
        };
        let trace = lines::outcomes(&rates, self.frame, &self.points, shading)?;
        reply_bars(&replies, self.replies, "whole log")?;
        Ok(vec![strip, trace])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::tests::rasterise;

    /// The strip stands over the outcomes panel alone (the reply bars beside them), so its
    /// time axis is the panel's; it spanned the reply bars too, 1.6 times too wide.
    #[test]
    fn the_state_strip_lines_up_with_the_outcomes_panel() {
        let frame = TimeFrame::observed(Span::from_hours(6));
        let states = [Band {
            from: 1.0,
            to: 2.0,
            state: State::Backoff,
        }];
        let figure = LogDestination {
            title: "maillog: destination yahoo".into(),
            frame,
            points: Vec::new(),
            states: states.to_vec(),
            replies: &[("421 4.7.0 [TS01]".into(), 3)],
        };
        let (_, _, traces) = rasterise(&figure);
        let captions: Vec<&str> = traces.iter().map(|t| t.caption.as_str()).collect();
        assert_eq!(captions, ["flow-control state", "outcomes"]);
        let (strip, outcomes) = (traces[0].area, traces[1].area);
        assert_eq!((strip.left, strip.right), (outcomes.left, outcomes.right));
    }
}
