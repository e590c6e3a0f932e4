//! Integer time: an [`Instant`] on a clock and a [`Span`] between two, both in whole
//! milliseconds, so that no floating-point rounding ever decides an event's order.
//!
//! The clock's epoch is the embedder's: a simulation counts from its start, a real MTA can
//! count from the Unix epoch. Configuration files write spans with units (`"250ms"`,
//! `"30s"`, `"1h 30m"`, `"5d"`); [`Span`] parses and writes that form.

use std::fmt;
use std::ops::{Add, AddAssign, Div, Mul, Rem, Sub, SubAssign};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, in milliseconds since the clock's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

/// A length of time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);
    /// Later than any real time: "not scheduled", "never happened".
    pub const NEVER: Instant = Instant(u64::MAX);

    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Seconds since the epoch, for reports.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// The span from `earlier` to this instant, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Span {
        Span(self.0.saturating_sub(earlier.0))
    }

    /// This instant plus `span`, or [`Instant::NEVER`] past the end of time.
    pub fn saturating_add(self, span: Span) -> Instant {
        Instant(self.0.saturating_add(span.0))
    }

    /// The instant `span` before this one, or the epoch.
    pub fn saturating_sub(self, span: Span) -> Instant {
        Instant(self.0.saturating_sub(span.0))
    }
}

impl Span {
    pub const ZERO: Span = Span(0);
    pub const MILLISECOND: Span = Span(1);
    pub const SECOND: Span = Span(1_000);
    pub const MINUTE: Span = Span(60 * 1_000);
    pub const HOUR: Span = Span(60 * 60 * 1_000);
    pub const DAY: Span = Span(24 * 60 * 60 * 1_000);
    /// Longer than any span of interest.
    pub const MAX: Span = Span(u64::MAX);

    pub const fn from_millis(ms: u64) -> Span {
        Span(ms)
    }

    pub const fn from_secs(s: u64) -> Span {
        Span(s * 1_000)
    }

    pub const fn from_mins(m: u64) -> Span {
        Span(m * 60 * 1_000)
    }

    pub const fn from_hours(h: u64) -> Span {
        Span(h * 60 * 60 * 1_000)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Seconds, for reports.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn saturating_mul(self, factor: u64) -> Span {
        Span(self.0.saturating_mul(factor))
    }

    pub fn saturating_add(self, other: Span) -> Span {
        Span(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: Span) -> Span {
        Span(self.0.saturating_sub(other.0))
    }
}

impl Add<Span> for Instant {
    type Output = Instant;

    fn add(self, span: Span) -> Instant {
        Instant(self.0 + span.0)
    }
}

impl AddAssign<Span> for Instant {
    fn add_assign(&mut self, span: Span) {
        self.0 += span.0;
    }
}

impl Sub<Instant> for Instant {
    type Output = Span;

    /// The span between two instants; the left one must not be the earlier.
    fn sub(self, earlier: Instant) -> Span {
        Span(self.0 - earlier.0)
    }
}

impl Add for Span {
    type Output = Span;

    fn add(self, other: Span) -> Span {
        Span(self.0 + other.0)
    }
}

impl AddAssign for Span {
    fn add_assign(&mut self, other: Span) {
        self.0 += other.0;
    }
}

impl Sub for Span {
    type Output = Span;

    fn sub(self, other: Span) -> Span {
        Span(self.0 - other.0)
    }
}

impl SubAssign for Span {
    fn sub_assign(&mut self, other: Span) {
        self.0 -= other.0;
    }
}

impl Mul<u64> for Span {
    type Output = Span;

    fn mul(self, factor: u64) -> Span {
        Span(self.0 * factor)
    }
}

impl Mul<Span> for u64 {
    type Output = Span;

    fn mul(self, span: Span) -> Span {
        Span(self * span.0)
    }
}

impl Div<u64> for Span {
    type Output = Span;

    fn div(self, divisor: u64) -> Span {
        Span(self.0 / divisor)
    }
}

/// How many whole `other` fit in this span.
impl Div for Span {
    type Output = u64;

    fn div(self, other: Span) -> u64 {
        self.0 / other.0
    }
}

impl Rem for Span {
    type Output = Span;

    fn rem(self, other: Span) -> Span {
        Span(self.0 % other.0)
    }
}

impl std::iter::Sum for Span {
    fn sum<I: Iterator<Item = Span>>(iter: I) -> Span {
        iter.fold(Span::ZERO, Add::add)
    }
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "invalid duration {0:?}: expected a number and a unit, e.g. \"250ms\", \"30s\", \"5m\", \"2h\", \"5d\", \"1h 30m\""
    )]
    Syntax(String),
    #[error("duration {0:?} is too long")]
    TooLong(String),
    #[error("duration {0:?} is negative: durations count forward from the start of the run")]
    Negative(String),
}

/// Longest span a configuration may write: a thousand years.
const LONGEST: u64 = 1_000 * 365 * 24 * 60 * 60 * 1_000;

impl FromStr for Span {
    type Err = DurationError;

    /// `"250ms"`, `"30s"`, `"5m"`, `"2h"`, `"5d"`, `"1h 30m"`. A bare `"0"` is zero;
    /// sub-millisecond parts are refused rather than rounded.
    fn from_str(text: &str) -> Result<Span, DurationError> {
        let trimmed = text.trim();
        if trimmed == "0" {
            return Ok(Span::ZERO);
        }
        if trimmed.starts_with('-') {
            return Err(DurationError::Negative(text.into()));
        }
        let words = long_units(trimmed);
        let parsed = humantime::parse_duration(&words).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => DurationError::TooLong(text.into()),
            _ => DurationError::Syntax(text.into()),
        })?;
        if parsed.subsec_nanos() % 1_000_000 != 0 {
            return Err(DurationError::Syntax(text.into()));
        }
        u64::try_from(parsed.as_millis())
            .ok()
            .filter(|&ms| ms <= LONGEST)
            .map(Span)
            .ok_or_else(|| DurationError::TooLong(text.into()))
    }
}

/// humantime reads "12 hours" and "2 minutes" but not "400 milliseconds": the units it
/// lacks, as it spells them.
fn long_units(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic()) {
        let end = rest[start..]
            .find(|c: char| !c.is_ascii_alphabetic())
            .map_or(rest.len(), |e| start + e);
        out.push_str(&rest[..start]);
        out.push_str(match &rest[start..end] {
            "millisecond" | "milliseconds" | "millis" | "milli" => "ms",
            "microsecond" | "microseconds" | "micros" => "us",
            "nanosecond" | "nanoseconds" | "nanos" => "ns",
            word => word,
        });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The way configuration files write spans: `"1h 30m"`, `"250ms"`, `"0s"`.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        let mut first = true;
        for (unit, size) in [
            ("d", Span::DAY.0),
            ("h", Span::HOUR.0),
            ("m", Span::MINUTE.0),
            ("s", Span::SECOND.0),
            ("ms", 1),
        ] {
            if rest >= size {
                let sep = if first { "" } else { " " };
                write!(f, "{sep}{}{unit}", rest / size)?;
                rest %= size;
                first = false;
            }
        }
        Ok(())
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration with units: \"250ms\", \"30s\", \"5m\", \"2h\", \"5d\", \"1h 30m\".",
            "examples": ["30s", "5m", "1h 30m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_long_unit_words_as_humantime_reads_hours() {
        let span = |t: &str| t.parse::<Span>().unwrap().as_millis();
        assert_eq!(span("400 milliseconds"), 400);
        assert_eq!(span("1 millisecond"), 1);
        assert_eq!(span("12 hours"), 12 * 3_600_000);
        assert_eq!(span("2 minutes 30 seconds"), 150_000);
        assert_eq!(span("1h 250ms"), 3_600_250);
        assert!("400 millifortnights".parse::<Span>().is_err());
    }

    fn parse(text: &str) -> Result<u64, DurationError> {
        text.parse::<Span>().map(Span::as_millis)
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse("250ms"), Ok(250));
        assert_eq!(parse("30s"), Ok(30_000));
        assert_eq!(parse("5m"), Ok(300_000));
        assert_eq!(parse("2h"), Ok(7_200_000));
        assert_eq!(parse("5d"), Ok(432_000_000));
        assert_eq!(parse("1h 30m"), Ok(5_400_000));
        assert_eq!(parse("1h30m"), Ok(5_400_000));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("0s"), Ok(0));
        assert_eq!(parse(" 10min "), Ok(600_000));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in ["", "5", "-5m", "5 parsecs", "m5", "1us", "NaN", "99999999d"] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse("-5m"), Err(DurationError::Negative("-5m".into())));
        assert_eq!(parse("1001y"), Err(DurationError::TooLong("1001y".into())));
    }

    #[test]
    fn durations_round_trip_through_their_format() {
        for ms in [
            0,
            1,
            250,
            1_000,
            5_400_000,
            5 * 86_400_000 + 3 * 3_600_000 + 7,
        ] {
            let span = Span::from_millis(ms);
            assert_eq!(span.to_string().parse(), Ok(span));
        }
        assert_eq!(Span::from_mins(90).to_string(), "1h 30m");
        assert_eq!(Span::from_millis(86_400_250).to_string(), "1d 250ms");
    }

    #[test]
    fn instants_and_spans_combine() {
        let t = Instant::from_millis(10_000);
        assert_eq!(t + Span::SECOND, Instant::from_millis(11_000));
        assert_eq!(Instant::from_millis(11_000) - t, Span::SECOND);
        assert_eq!(t.saturating_since(Instant::from_millis(20_000)), Span::ZERO);
        assert_eq!(Instant::NEVER.saturating_add(Span::SECOND), Instant::NEVER);
        assert_eq!(3 * Span::MINUTE, Span::from_secs(180));
        assert_eq!(Span::HOUR / Span::MINUTE, 60);
    }
}
