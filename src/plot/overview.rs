//! The whole run at a glance: total queue, outcomes per minute, and how many destinations
//! were in dynamic flow control — a few means reputation at those receivers, all at once
//! means the MTA itself.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::panel::{self, TimeFrame, line, shade, time_chart};
use super::series::{self, Band, Point, axis_max};
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
        let frame = TimeFrame::new(result.scenario.duration.0);
        let interval = result.scenario.sample_every.0;
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

    fn queue<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        let p = &self.points;
        let y_max = axis_max(
            p.iter().map(|p| p.ready.max(p.waiting).max(p.in_flight)),
            1.0,
        );
        let mut chart = time_chart(
            area,
            "queue depth (all destinations)",
            self.frame,
            (y_max, "messages"),
        )?;
        shade(&mut chart, &self.bands, y_max, any_destination)?;
        line(
            &mut chart,
            p.iter().map(|p| (p.x, p.ready)),
            style::READY,
            "ready",
        )?;
        line(
            &mut chart,
            p.iter().map(|p| (p.x, p.waiting)),
            style::WAITING,
            "waiting retry",
        )?;
        line(
            &mut chart,
            p.iter().map(|p| (p.x, p.in_flight)),
            style::IN_FLIGHT,
            "in flight",
        )?;
        panel::legend(&mut chart, SeriesLabelPosition::UpperRight)
    }

    fn outcomes<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        let p = &self.points;
        let y_max = axis_max(
            p.iter().map(|p| {
                p.delivered_per_min
                    .max(p.deferred_per_min)
                    .max(p.bounced_per_min)
            }),
            1.0,
        );
        let mut chart = time_chart(area, "outcomes", self.frame, (y_max, "messages per minute"))?;
        shade(&mut chart, &self.bands, y_max, any_destination)?;
        line(
            &mut chart,
            p.iter().map(|p| (p.x, p.delivered_per_min)),
            style::DELIVERED,
            "delivered",
        )?;
        line(
            &mut chart,
            p.iter().map(|p| (p.x, p.deferred_per_min)),
            style::DEFERRED,
            "deferred",
        )?;
        line(
            &mut chart,
            p.iter().map(|p| (p.x, p.bounced_per_min)),
            style::BOUNCED,
            "bounced",
        )?;
        panel::legend(&mut chart, SeriesLabelPosition::UpperRight)
    }

    fn flow_control<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> DrawResult<(), DB> {
        let p = &self.points;
        let y_max = axis_max(p.iter().map(|p| p.in_backoff.max(p.suspended)), 1.0);
        let caption = format!(
            "destinations in dynamic flow control (of {})",
            self.destinations
        );
        let mut chart = time_chart(area, &caption, self.frame, (y_max, "destinations"))?;
        line(
            &mut chart,
            p.iter().map(|p| (p.x, p.in_backoff)),
            style::BACKOFF,
            "in backoff",
        )?;
        line(
            &mut chart,
            p.iter().map(|p| (p.x, p.suspended)),
            style::SUSPENDED,
            "suspended",
        )?;
        panel::legend(&mut chart, SeriesLabelPosition::UpperRight)
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

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        root.fill(&WHITE)?;
        let body = root.titled(&self.title, (FAMILY, TITLE_SIZE))?;
        let (top, rest) = body.split_vertically(360);
        let (middle, bottom) = rest.split_vertically(300);
        self.queue(&top)?;
        self.outcomes(&middle)?;
        self.flow_control(&bottom)
    }
}
