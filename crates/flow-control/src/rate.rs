//! Rates as exact ratios (`"300/min"` is 300 per 60,000 ms) and the integer token bucket
//! that enforces them, so a limit of 60/min admits exactly 60 a minute, never 59 or 61 by
//! rounding.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{Instant, Span};

/// `count` events per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: u64,
    pub period: Span,
}

/// Why a rate string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error(
        "invalid rate {0:?}: expected \"N/unit\" or \"N/period\", e.g. \"300/min\", \"10/h\", \"2/s\", \"2/1h\""
    )]
    Syntax(String),
    #[error("rate {0:?} must be positive")]
    NotPositive(String),
}

impl Rate {
    pub const fn new(count: u64, period: Span) -> Rate {
        Rate { count, period }
    }

    /// Events per hour, for reports and plots.
    pub fn per_hour(self) -> f64 {
        self.count as f64 * Span::HOUR.as_millis() as f64 / self.period.as_millis() as f64
    }

    /// The slower of two limits, `None` being unlimited.
    pub fn slower(a: Option<Rate>, b: Option<Rate>) -> Option<Rate> {
        match (a, b) {
            (Some(x), Some(y)) => {
                let x_per_y = u128::from(x.count) * u128::from(y.period.as_millis());
                let y_per_x = u128::from(y.count) * u128::from(x.period.as_millis());
                Some(if y_per_x < x_per_y { y } else { x })
            }
            (x, None) => x,
            (None, y) => y,
        }
    }
}

impl FromStr for Rate {
    type Err = RateError;

    /// `"300/min"`, `"10/h"`, `"2/s"`, `"1000/d"`, or with an explicit period: `"2/1h"`.
    fn from_str(text: &str) -> Result<Rate, RateError> {
        let bad = || RateError::Syntax(text.into());
        let (count, per) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        let per = per.trim();
        let period: Span = if per.starts_with(|c: char| c.is_ascii_digit()) {
            per.parse()
        } else {
            format!("1{per}").parse()
        }
        .map_err(|_| bad())?;
        if count == 0 || period.is_zero() {
            return Err(RateError::NotPositive(text.into()));
        }
        Ok(Rate { count, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.count)?;
        match self.period {
            Span::SECOND => f.write_str("s"),
            Span::MINUTE => f.write_str("min"),
            Span::HOUR => f.write_str("h"),
            Span::DAY => f.write_str("d"),
            other => write!(f, "{other}"),
        }
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

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Rate {
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
    /// Scaled time at which the bucket would be empty again (theoretical arrival time),
    /// as low and high words: 8-aligned, a bucket is 40 bytes instead of 48, which counts
    /// in a million destinations.
    empty_at: [u64; 2],
}

impl TokenBucket {
    pub fn new(rate: Rate, burst: u64) -> TokenBucket {
        TokenBucket {
            rate,
            burst: burst.max(1),
            empty_at: [0; 2],
        }
    }

    fn empty_at(&self) -> u128 {
        u128::from(self.empty_at[0]) | u128::from(self.empty_at[1]) << 64
    }

    fn set_empty_at(&mut self, at: u128) {
        self.empty_at = [at as u64, (at >> 64) as u64];
    }

    fn scaled(&self, now: Instant) -> u128 {
        u128::from(now.as_millis()) * u128::from(self.rate.count)
    }

    fn period(&self) -> u128 {
        u128::from(self.rate.period.as_millis())
    }

    /// Tolerance that lets `burst` tokens be taken at once.
    fn tolerance(&self) -> u128 {
        u128::from(self.burst - 1) * self.period()
    }

    /// The earliest time at or after `now` when a token is available.
    pub fn next_available(&self, now: Instant) -> Instant {
        let start = self.empty_at().saturating_sub(self.tolerance());
        if start <= self.scaled(now) {
            now
        } else {
            Instant::from_millis(div_ceil(start, self.rate.count))
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if self.next_available(now) > now {
            return false;
        }
        self.take(now);
        true
    }

    /// Takes a token whether or not one is available (a strict limiter charging a refused
    /// attempt); the debt must be repaid before the next token.
    pub fn take(&mut self, now: Instant) {
        // A token that became free part-way through the previous millisecond is charged
        // from when it became free, so integer polling never loses fractions of a token.
        let earliest = self
            .scaled(now)
            .saturating_sub(u128::from(self.rate.count) - 1);
        self.set_empty_at(self.empty_at().max(earliest) + self.period());
    }

    /// Tokens available at `now`, for sampling.
    pub fn available(&self, now: Instant) -> f64 {
        let now_scaled = self.scaled(now) as f64;
        let full_at = self.empty_at() as f64;
        let missing = (full_at - now_scaled).max(0.0) / self.period() as f64;
        (self.burst as f64 - missing).max(0.0)
    }

    /// Changes the rate, keeping the tokens already granted.
    pub fn set_rate(&mut self, now: Instant, rate: Rate, burst: u64) {
        if rate == self.rate && burst == self.burst {
            return;
        }
        let owed = self.empty_at().saturating_sub(self.scaled(now));
        let owed_tokens = owed.div_ceil(self.period());
        self.rate = rate;
        self.burst = burst.max(1);
        self.set_empty_at(self.scaled(now) + owed_tokens * self.period());
    }
}

/// `n / d` rounded up, as milliseconds. Scaled times fit 64 bits in any run shorter than
/// 584 million years divided by the rate's count, so the 128-bit division (a library call
/// several times slower, on every refused token) is the rare path.
#[inline]
fn div_ceil(n: u128, d: u64) -> u64 {
    match u64::try_from(n) {
        Ok(n) => n.div_ceil(d),
        Err(_) => n.div_ceil(u128::from(d)) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Span = Span::MINUTE;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn div_ceil_agrees_on_both_sides_of_64_bits() {
        assert_eq!(div_ceil(0, 7), 0);
        assert_eq!(div_ceil(14, 7), 2);
        assert_eq!(div_ceil(15, 7), 3);
        // 2^65 - 2, past 64 bits: a quarter of it is 2^63 - 1/2, rounded up.
        assert_eq!(div_ceil(u128::from(u64::MAX) * 2, 4), 1 << 63);
        assert_eq!(div_ceil(u128::from(u64::MAX), 1), u64::MAX);
    }

    #[test]
    fn rates_in_every_form() {
        assert_eq!("300/min".parse(), Ok(Rate::new(300, MINUTE)));
        assert_eq!("10/h".parse(), Ok(Rate::new(10, Span::HOUR)));
        assert_eq!("10/hour".parse(), Ok(Rate::new(10, Span::HOUR)));
        assert_eq!("2/s".parse(), Ok(Rate::new(2, Span::SECOND)));
        assert_eq!("1000/d".parse(), Ok(Rate::new(1000, Span::DAY)));
        assert_eq!("2/1h".parse(), Ok(Rate::new(2, Span::HOUR)));
        assert_eq!("5/30m".parse(), Ok(Rate::new(5, 30 * MINUTE)));
        assert_eq!(" 7 / min ".parse(), Ok(Rate::new(7, MINUTE)));
    }

    #[test]
    fn bad_rates_are_refused() {
        assert_eq!(
            "0/min".parse::<Rate>(),
            Err(RateError::NotPositive("0/min".into()))
        );
        assert_eq!(
            "5/0s".parse::<Rate>(),
            Err(RateError::NotPositive("5/0s".into()))
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

    #[test]
    fn the_slower_rate_wins() {
        let fast = Some(Rate::new(600, MINUTE));
        let slow = Some(Rate::new(60, Span::HOUR));
        assert_eq!(Rate::slower(fast, slow), slow);
        assert_eq!(Rate::slower(slow, fast), slow);
        assert_eq!(Rate::slower(None, slow), slow);
        assert_eq!(Rate::slower(fast, None), fast);
        assert_eq!(Rate::slower(None, None), None);
    }

    /// Takes every token offered, polling each millisecond, for `span` ms.
    fn drain(bucket: &mut TokenBucket, span: u64) -> u64 {
        (0..span).filter(|&t| bucket.try_take(at(t))).count() as u64
    }

    #[test]
    fn bucket_gives_burst_then_the_rate() {
        let hour = Span::HOUR.as_millis();
        let mut bucket = TokenBucket::new(Rate::new(60, MINUTE), 10);
        assert_eq!(drain(&mut bucket, hour), 3600 + 10 - 1);
        let mut bucket = TokenBucket::new(Rate::new(60, MINUTE), 10);
        assert_eq!(drain(&mut bucket, hour + 1), 3600 + 10);
    }

    #[test]
    fn bucket_with_uneven_interval_is_exact() {
        // 7 per minute: one token every 8571.43 ms; over 10 minutes exactly 70 + burst.
        let mut bucket = TokenBucket::new(Rate::new(7, MINUTE), 1);
        assert_eq!(drain(&mut bucket, 10 * MINUTE.as_millis() + 1), 71);
    }

    #[test]
    fn bucket_next_available_is_exact() {
        let mut bucket = TokenBucket::new(Rate::new(1, Span::SECOND), 1);
        assert!(bucket.try_take(at(500)));
        assert_eq!(bucket.next_available(at(600)), at(1500));
        assert!(!bucket.try_take(at(1499)));
        assert!(bucket.try_take(at(1500)));
    }

    #[test]
    fn strict_charging_pushes_the_next_token_out() {
        let mut bucket = TokenBucket::new(Rate::new(1, Span::SECOND), 1);
        assert!(bucket.try_take(at(0)));
        bucket.take(at(100));
        bucket.take(at(200));
        assert_eq!(bucket.next_available(at(300)), at(3000));
    }

    #[test]
    fn changing_rate_keeps_debt() {
        let mut bucket = TokenBucket::new(Rate::new(10, Span::SECOND), 1);
        assert!(bucket.try_take(at(0)));
        bucket.set_rate(at(0), Rate::new(1, MINUTE), 1);
        assert_eq!(bucket.next_available(at(0)), at(60_000));
    }
}
