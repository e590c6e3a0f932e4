//! Colours and text sizes shared by every chart, defined once so a state looks the same
//! in the overview, in each destination's chart and in the HTML report.

use plotters::style::{RGBColor, ShapeStyle};

use crate::flow_control::State;

/// Flow-control states: normal green, backoff amber, suspended red.
pub const NORMAL: RGBColor = RGBColor(46, 160, 67);
pub const BACKOFF: RGBColor = RGBColor(230, 159, 0);
pub const SUSPENDED: RGBColor = RGBColor(213, 62, 79);

/// How strongly a state shades the panels behind the lines (the state strip uses the full
/// colour).
pub const BAND_OPACITY: f64 = 0.22;

/// Queue depths.
pub const READY: RGBColor = RGBColor(0, 90, 160);
pub const WAITING: RGBColor = RGBColor(117, 112, 179);
pub const IN_FLIGHT: RGBColor = RGBColor(86, 180, 233);

/// Outcomes per minute.
pub const DELIVERED: RGBColor = RGBColor(0, 114, 178);
pub const DEFERRED: RGBColor = RGBColor(204, 85, 150);
pub const BOUNCED: RGBColor = RGBColor(40, 40, 40);

/// The receiver blocking this sender: dark, so it is not mistaken for a state of ours.
pub const BLOCKING: RGBColor = RGBColor(60, 60, 60);

/// Limits and the receiver's score.
pub const CONCURRENCY: RGBColor = RGBColor(0, 90, 160);
pub const RATE: RGBColor = RGBColor(120, 120, 120);
pub const REPUTATION: RGBColor = RGBColor(40, 40, 40);

/// Text sizes in pixels.
pub const TITLE_SIZE: u32 = 24;
pub const CAPTION_SIZE: u32 = 17;
pub const LABEL_SIZE: u32 = 14;

/// Lines are two pixels wide so they survive scaling in the report.
pub const LINE_WIDTH: u32 = 2;

/// The colour of a flow-control state.
pub fn state_color(state: State) -> RGBColor {
    match state {
        State::Normal => NORMAL,
        State::Backoff => BACKOFF,
        State::Suspended => SUSPENDED,
    }
}

/// A solid line of `color`.
pub fn line(color: RGBColor) -> ShapeStyle {
    ShapeStyle {
        color: color.into(),
        filled: false,
        stroke_width: LINE_WIDTH,
    }
}

/// `#rrggbb`, for the HTML report's legend.
pub fn css(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}
