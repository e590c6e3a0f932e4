//! The whole run at a glance: total queue, outcomes per minute, and how many destinations
//! were in dynamic flow control — a few means reputation at those receivers, all at once
//! means the MTA itself.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::lines::{self, Series, Shading};
use super::panel::{PanelTrace, TimeFrame};
use super::series::{self, Band, Point};
use super::style::{self, TITLE_SIZE};
use super::{DrawResult, Figure, font::FAMILY, rows};
use crate::flow_control::State;
use crate::sim::RunResult;

pub struct Overview {
    title: String,
    frame: TimeFrame,
    points: Vec<Point>,
    /// Suspended where some destination was suspended, else backoff where some destination
    /// was in backoff: the worst state of any destination.
    bands: Vec<Band>,
    destinations: u64,
}

impl Overview {
    pub fn new(result: &RunResult) -> Self {
        let frame = TimeFrame::new(result.scenario.duration);
        let interval = result.scenario.sample_every;
        let total = rows(result, None);
        let bands = series::bands(&total, interval, frame.unit, |s| {
            if s.suspended > 0 {
                Some(State::Suspended)
            } else {
                (s.in_backoff > 0).then_some(State::Backoff)
            }
        });
        let summary = &result.summary;
        let destinations = summary.destinations.len() as u64
            + summary.other_destinations.as_ref().map_or(0, |o| o.count);
        Overview {
            title: format!("{}: overview", result.scenario.name),
            frame,
            points: series::points(&total, interval, frame.unit),
            bands,
            destinations,
        }
    }

    fn flow_control<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> DrawResult<PanelTrace, DB> {
        let caption = format!(
            "destinations in dynamic flow control (of {})",
            self.destinations
        );
        let series: [Series; 2] = [
            (|p| p.in_backoff, style::BACKOFF, "in backoff"),
            (|p| p.suspended, style::SUSPENDED, "suspended"),
        ];
        let y = (caption.as_str(), "destinations");
        lines::lines_panel(area, y, self.frame, &self.points, &series, None)
    }
}

fn any_destination(state: State) -> String {
    match state {
        State::Suspended => "a destination suspended".into(),
        _ => "a destination in backoff".into(),
    }
}

impl Figure for Overview {
    fn size(&self) -> (u32, u32) {
        (1200, 960)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> DrawResult<Vec<PanelTrace>, DB> {
        root.fill(&WHITE)?;
        let body = root.titled(&self.title, (FAMILY, TITLE_SIZE))?;
        let (top, rest) = body.split_vertically(360);
        let (middle, bottom) = rest.split_vertically(300);
        let shading = Shading {
            bands: &self.bands,
            label: any_destination,
        };
        let caption = "queue depth (all destinations)";
        Ok(vec![
            lines::queue_depth(&top, caption, self.frame, &self.points, shading)?,
            lines::outcomes(&middle, self.frame, &self.points, shading)?,
            self.flow_control(&bottom)?,
        ])
    }
}
