//! Time, durations and rates: the units every other module speaks.
//!
//! Simulated time is an integer count of milliseconds from the start of a run ([`Millis`]);
//! there is no floating-point clock anywhere. Scenario files write durations as strings with
//! units (`"250ms"`, `"1h 30m"`, `"5d"`) and rates as `"N/unit"` or `"N/period"` (`"300/min"`,
//! `"2/1h"`). This module parses both and provides the integer token bucket that the
//! flow-control state machine and the synthetic receivers share.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in simulated time, or a span of it, in milliseconds.
pub type Millis = u64;

/// Milliseconds per second, minute, hour and day.
pub const SECOND: Millis = 1_000;
pub const MINUTE: Millis = 60 * SECOND;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

/// Why a duration or rate string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error(
        "invalid duration {0:?}: expected a number and a unit, e.g. \"250ms\", \"30s\", \"5m\", \"2h\", \"5d\", \"1h 30m\""
    )]
    Duration(String),
    #[error("duration {0:?} is too long")]
    DurationTooLong(String),
    #[error("duration {0:?} is negative: durations count forward from the start of the run")]
    DurationNegative(String),
    #[error(
        "invalid rate {0:?}: expected \"N/unit\" or \"N/period\", e.g. \"300/min\", \"10/h\", \"2/s\", \"2/1h\""
    )]
    Rate(String),
    #[error("rate {0:?} must be positive")]
    RateNotPositive(String),
}

/// A duration as written in a scenario file, kept with its source text so it can be
/// written back unchanged (sweeps write complete scenario files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub Millis);

impl Duration {
    pub fn millis(self) -> Millis {
        self.0
    }
}

impl FromStr for Duration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Duration)
    }
}

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"2h"`, `"5d"`, `"1h 30m"` into milliseconds.
/// A bare `"0"` is accepted as zero; sub-millisecond parts are refused rather than rounded.
pub fn parse_duration(text: &str) -> Result<Millis, UnitError> {
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(0);
    }
    if trimmed.starts_with('-') {
        return Err(UnitError::DurationNegative(text.into()));
    }
    let parsed = humantime::parse_duration(trimmed).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => UnitError::DurationTooLong(text.into()),
        _ => UnitError::Duration(text.into()),
    })?;
    if parsed.subsec_nanos() % 1_000_000 != 0 {
        return Err(UnitError::Duration(text.into()));
    }
    u64::try_from(parsed.as_millis())
        .ok()
        .filter(|&ms| ms <= 1_000 * 365 * DAY)
        .ok_or_else(|| UnitError::DurationTooLong(text.into()))
}

/// Formats milliseconds the way scenario files write them, e.g. `"1h 30m"`, `"250ms"`.
pub fn format_duration(ms: Millis) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut parts = Vec::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", DAY),
        ("h", HOUR),
        ("m", MINUTE),
        ("s", SECOND),
        ("ms", 1),
    ] {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    parts.join(" ")
}

/// A duration for people to read, rounded to its two largest units: `3h 59m`, `1d 2h`,
/// `14m 5s`; under a minute `42s`, under ten seconds `4.2s`, under a second `250ms`.
/// [`format_duration`] is the exact form that scenario files read back.
pub fn human_duration(ms: Millis) -> String {
    let precision = match ms {
        0..SECOND => 1,
        SECOND..10_000 => 100,
        10_000..MINUTE => SECOND,
        MINUTE..HOUR => SECOND,
        HOUR..DAY => MINUTE,
        _ => HOUR,
    };
    let rounded = (ms + precision / 2) / precision * precision;
    if precision == 100 && rounded < 10_000 && !rounded.is_multiple_of(SECOND) {
        return format!("{:.1}s", rounded as f64 / 1000.0);
    }
    // Rounding up may reach the next unit (59.6s is 1m, 23h 59m 40s is 1d): exact parts
    // of what it became are still at most two.
    format_duration(rounded)
}

/// [`human_duration`] of seconds as metrics hold them: `–` when undefined, a minus sign
/// before a negative value (the low end of a confidence interval can be).
pub fn human_seconds(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "–".into();
    }
    let ms = (seconds.abs() * 1000.0).round() as Millis;
    let sign = if seconds < 0.0 && ms > 0 { "−" } else { "" };
    format!("{sign}{}", human_duration(ms))
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
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

/// `count` events per `period` milliseconds: `"300/min"` is 300 per 60,000 ms.
/// Kept as an exact ratio so token arithmetic stays in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: u64,
    pub period: Millis,
}

impl Rate {
    pub fn new(count: u64, period: Millis) -> Self {
        Rate { count, period }
    }

    /// Events per hour, for reports and plots.
    pub fn per_hour(self) -> f64 {
        self.count as f64 * HOUR as f64 / self.period as f64
    }
}

impl FromStr for Rate {
    type Err = UnitError;

    /// `"300/min"`, `"10/h"`, `"2/s"`, `"1000/d"`, or with an explicit period: `"2/1h"`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || UnitError::Rate(text.into());
        let (count, per) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        let per = per.trim();
        let period = if per.starts_with(|c: char| c.is_ascii_digit()) {
            parse_duration(per)
        } else {
            parse_duration(&format!("1{per}"))
        }
        .map_err(|_| bad())?;
        if count == 0 || period == 0 {
            return Err(UnitError::RateNotPositive(text.into()));
        }
        Ok(Rate { count, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period {
            SECOND => "s".to_string(),
            MINUTE => "min".to_string(),
            HOUR => "h".to_string(),
            DAY => "d".to_string(),
            other => format_duration(other),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A rate \"N/unit\" or \"N/period\": \"300/min\", \"10/h\", \"2/s\", \"1000/d\", \"2/1h\".",
            "pattern": "^\\s*[0-9]+\\s*/\\s*[0-9a-z ]+$",
            "examples": ["300/min", "60/h", "2/1h"]
        })
    }
}

/// An integer token bucket (the generic cell rate algorithm): `rate` tokens per period,
/// holding at most `burst` tokens, starting full.
///
/// Time is scaled by `rate.count` so that one token costs exactly `rate.period` scaled
/// units: no rounding, whatever the rate.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: Rate,
    burst: u64,
    /// Scaled time at which the bucket would be empty again (theoretical arrival time).
    empty_at: u128,
}

impl TokenBucket {
    pub fn new(rate: Rate, burst: u64) -> Self {
        TokenBucket {
            rate,
            burst: burst.max(1),
            empty_at: 0,
        }
    }

    fn scaled(&self, now: Millis) -> u128 {
        now as u128 * self.rate.count as u128
    }

    /// Tolerance that lets `burst` tokens be taken at once.
    fn tolerance(&self) -> u128 {
        (self.burst as u128 - 1) * self.rate.period as u128
    }

    /// The earliest time at or after `now` when a token is available.
    pub fn next_available(&self, now: Millis) -> Millis {
        let start = self.empty_at.saturating_sub(self.tolerance());
        let now_scaled = self.scaled(now);
        if start <= now_scaled {
            now
        } else {
            start.div_ceil(self.rate.count as u128) as Millis
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn try_take(&mut self, now: Millis) -> bool {
        if self.next_available(now) > now {
            return false;
        }
        self.take(now);
        true
    }

    /// Takes a token whether or not one is available (a strict limiter charging a refused
    /// attempt); the debt must be repaid before the next token.
    pub fn take(&mut self, now: Millis) {
        // A token that became free part-way through the previous millisecond is charged
        // from when it became free, so integer polling never loses fractions of a token.
        let earliest = self.scaled(now).saturating_sub(self.rate.count as u128 - 1);
        self.empty_at = self.empty_at.max(earliest) + self.rate.period as u128;
    }

    /// Tokens available at `now`, for sampling.
    pub fn available(&self, now: Millis) -> f64 {
        let now_scaled = self.scaled(now) as f64;
        let full_at = self.empty_at as f64;
        let missing = (full_at - now_scaled).max(0.0) / self.rate.period as f64;
        (self.burst as f64 - missing).max(0.0)
    }

    /// Changes the rate, keeping the tokens already granted.
    pub fn set_rate(&mut self, now: Millis, rate: Rate, burst: u64) {
        if rate == self.rate && burst == self.burst {
            return;
        }
        let owed = self.empty_at.saturating_sub(self.scaled(now));
        let owed_tokens = owed.div_ceil(self.rate.period as u128);
        self.rate = rate;
        self.burst = burst.max(1);
        self.empty_at = self.scaled(now) + owed_tokens * rate.period as u128;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("30s"), Ok(30 * SECOND));
        assert_eq!(parse_duration("5m"), Ok(5 * MINUTE));
        assert_eq!(parse_duration("2h"), Ok(2 * HOUR));
        assert_eq!(parse_duration("5d"), Ok(5 * DAY));
        assert_eq!(parse_duration("1h 30m"), Ok(90 * MINUTE));
        assert_eq!(parse_duration("1h30m"), Ok(90 * MINUTE));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration(" 10min "), Ok(10 * MINUTE));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in ["", "5", "-5m", "5 parsecs", "m5", "1us", "NaN", "99999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn durations_round_trip_through_their_format() {
        for ms in [
            0,
            1,
            250,
            SECOND,
            90 * MINUTE,
            5 * DAY + 3 * HOUR + 7,
            36 * HOUR,
        ] {
            assert_eq!(parse_duration(&format_duration(ms)), Ok(ms));
        }
        assert_eq!(format_duration(90 * MINUTE), "1h 30m");
    }

    #[test]
    fn human_durations_keep_two_units_rounded() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(250), "250ms");
        assert_eq!(human_duration(1_672), "1.7s");
        assert_eq!(human_duration(4_000), "4s");
        assert_eq!(human_duration(9_960), "10s");
        assert_eq!(human_duration(42_400), "42s");
        assert_eq!(human_duration(59_600), "1m");
        assert_eq!(human_duration(14 * MINUTE + 5_400), "14m 5s");
        assert_eq!(human_duration(14_352_384), "3h 59m");
        assert_eq!(human_duration(4 * HOUR + 29_999), "4h");
        assert_eq!(human_duration(DAY - 20_000), "1d");
        assert_eq!(human_duration(DAY + 2 * HOUR + 29 * MINUTE), "1d 2h");
        assert_eq!(human_seconds(14_237.322_7), "3h 57m");
        assert_eq!(human_seconds(-50.2), "−50s");
        assert_eq!(human_seconds(f64::NAN), "–");
    }

    #[test]
    fn rates_in_every_form() {
        assert_eq!("300/min".parse(), Ok(Rate::new(300, MINUTE)));
        assert_eq!("10/h".parse(), Ok(Rate::new(10, HOUR)));
        assert_eq!("10/hour".parse(), Ok(Rate::new(10, HOUR)));
        assert_eq!("2/s".parse(), Ok(Rate::new(2, SECOND)));
        assert_eq!("1000/d".parse(), Ok(Rate::new(1000, DAY)));
        assert_eq!("2/1h".parse(), Ok(Rate::new(2, HOUR)));
        assert_eq!("5/30m".parse(), Ok(Rate::new(5, 30 * MINUTE)));
        assert_eq!(" 7 / min ".parse(), Ok(Rate::new(7, MINUTE)));
    }

    #[test]
    fn bad_rates_are_refused() {
        assert_eq!(
            "0/min".parse::<Rate>(),
            Err(UnitError::RateNotPositive("0/min".into()))
        );
        assert_eq!(
            "5/0s".parse::<Rate>(),
            Err(UnitError::RateNotPositive("5/0s".into()))
        );
        for bad in [
            "",
            "300",
            "-1/min",
            "1.5/min",
            "300/parsec",
            "/min",
            "NaN/h",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rates_round_trip_through_display() {
        for text in ["300/min", "10/h", "2/s", "1000/d", "2/30m"] {
            let rate: Rate = text.parse().unwrap();
            assert_eq!(rate.to_string(), text);
        }
    }

    /// Takes every token offered, polling each millisecond, for `span` ms.
    fn drain(bucket: &mut TokenBucket, span: Millis) -> u64 {
        (0..span).filter(|&t| bucket.try_take(t)).count() as u64
    }

    #[test]
    fn bucket_gives_burst_then_the_rate() {
        let mut bucket = TokenBucket::new(Rate::new(60, MINUTE), 10);
        assert_eq!(drain(&mut bucket, HOUR), 3600 + 10 - 1);
        let mut bucket = TokenBucket::new(Rate::new(60, MINUTE), 10);
        assert_eq!(drain(&mut bucket, HOUR + 1), 3600 + 10);
    }

    #[test]
    fn bucket_with_uneven_interval_is_exact() {
        // 7 per minute: one token every 8571.43 ms; over 10 minutes exactly 70 + burst.
        let mut bucket = TokenBucket::new(Rate::new(7, MINUTE), 1);
        assert_eq!(drain(&mut bucket, 10 * MINUTE + 1), 71);
    }

    #[test]
    fn bucket_next_available_is_exact() {
        let mut bucket = TokenBucket::new(Rate::new(1, SECOND), 1);
        assert!(bucket.try_take(500));
        assert_eq!(bucket.next_available(600), 1500);
        assert!(!bucket.try_take(1499));
        assert!(bucket.try_take(1500));
    }

    #[test]
    fn strict_charging_pushes_the_next_token_out() {
        let mut bucket = TokenBucket::new(Rate::new(1, SECOND), 1);
        assert!(bucket.try_take(0));
        bucket.take(100);
        bucket.take(200);
        assert_eq!(bucket.next_available(300), 3000);
    }

    #[test]
    fn changing_rate_keeps_debt() {
        let mut bucket = TokenBucket::new(Rate::new(10, SECOND), 1);
        assert!(bucket.try_take(0));
        bucket.set_rate(0, Rate::new(1, MINUTE), 1);
        assert_eq!(bucket.next_available(0), MINUTE);
    }
}
