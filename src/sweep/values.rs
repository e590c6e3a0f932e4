//! The VALUES of `--vary PATH=VALUES`: lists, additive ranges and multiplicative (log)
//! ranges, expanded into the JSON values that `--set` would apply.
//!
//! Values stay JSON so that a swept value goes through exactly the same path and typing
//! as `--set path=value`: a number stays a number, `"15m"` a duration string.

use serde_json::Value;

use crate::units::{Rate, Span};

/// More values than this in one parameter is almost certainly a typo in a range.
pub const MAX_VALUES: usize = 10_000;

/// Why a VALUES text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValuesError {
    #[error("no values")]
    Empty,
    #[error("{0:?} gives no values")]
    NoValues(String),
    #[error("{0:?} gives {1} values, more than {MAX_VALUES}")]
    TooMany(String, usize),
    #[error("{0:?} has an empty item")]
    EmptyItem(String),
    #[error(
        "{0:?}: expected START..END:STEP (5..50:5, 15m..2h:15m) or START..END:xFACTOR (1m..4h:x2, 60/h..600/h:x2)"
    )]
    Range(String),
    #[error("{0:?}: the factor must be greater than 1")]
    Factor(String),
    #[error("the step must be positive (and a log range must start above 0)")]
    Step,
    #[error("the range starts after its end")]
    Backwards,
}

/// Expands a VALUES text:
/// - a list `5,10,20` or `15m,1h,true` (each item JSON when it parses as JSON, else a
///   string), or a JSON array `[[1,2],[3]]` for values that contain commas;
/// - an additive range `START..END:STEP` over numbers (`5..50:5`) or durations
///   (`15m..2h:15m`), including END when a step lands on it;
/// - a multiplicative range `START..END:xFACTOR` over numbers, durations or rates
///   (`1m..4h:x2`, `60/h..600/h:x2`): START times FACTOR^n up to END.
pub fn parse_values(text: &str) -> Result<Vec<Value>, ValuesError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ValuesError::Empty);
    }
    let values = if let Ok(Value::Array(items)) = serde_json::from_str(text) {
        items
    } else if text.contains("..") && !text.contains(',') {
        parse_range(text)?
    } else {
        parse_list(text)?
    };
    if values.is_empty() {
        return Err(ValuesError::NoValues(text.into()));
    }
    if values.len() > MAX_VALUES {
        return Err(ValuesError::TooMany(text.into(), values.len()));
    }
    Ok(values)
}

/// One list item: JSON when it parses as JSON, else a string (the `--set` rule).
pub fn parse_item(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn parse_list(text: &str) -> Result<Vec<Value>, ValuesError> {
    text.split(',')
        .map(str::trim)
        .map(|item| {
            if item.is_empty() {
                Err(ValuesError::EmptyItem(text.into()))
            } else {
                Ok(parse_item(item))
            }
        })
        .collect()
}

fn parse_range(text: &str) -> Result<Vec<Value>, ValuesError> {
    let bad = || ValuesError::Range(text.into());
    let (start, rest) = text.split_once("..").ok_or_else(bad)?;
    let (end, step) = rest.rsplit_once(':').ok_or_else(bad)?;
    let (start, end, step) = (start.trim(), end.trim(), step.trim());
    match step.strip_prefix('x') {
        Some(factor) => {
            let factor: f64 = factor.trim().parse().map_err(|_| bad())?;
            if !(factor > 1.0 && factor.is_finite()) {
                return Err(ValuesError::Factor(text.into()));
            }
            log_range(start, end, factor).ok_or_else(bad)?
        }
        None => linear_range(start, end, step).ok_or_else(bad)?,
    }
}

/// `START..END:STEP` over integers, decimals or durations.
fn linear_range(start: &str, end: &str, step: &str) -> Option<Result<Vec<Value>, ValuesError>> {
    if let (Ok(a), Ok(b), Ok(s)) = (
        start.parse::<i64>(),
        end.parse::<i64>(),
        step.parse::<i64>(),
    ) {
        return Some(check_order(a as f64, b as f64, s > 0).map(|()| {
            (0..)
                .map(|i| a + i * s)
                .take_while(|v| *v <= b)
                .take(MAX_VALUES + 1)
                .map(Value::from)
                .collect()
        }));
    }
    if let (Ok(a), Ok(b), Ok(s)) = (
        start.parse::<f64>(),
        end.parse::<f64>(),
        step.parse::<f64>(),
    ) {
        return Some(check_order(a, b, s > 0.0).map(|()| {
            steps(a, b, |i| a + i as f64 * s)
                .map(|v| Value::from(round9(v)))
                .collect()
        }));
    }
    let (a, b, s) = (millis(start).ok()?, millis(end).ok()?, millis(step).ok()?);
    Some(check_order(a as f64, b as f64, s > 0).map(|()| {
        (0..)
            .map(|i| a + i * s)
            .take_while(|v| *v <= b)
            .take(MAX_VALUES + 1)
            .map(|ms| Value::String(Span::from_millis(ms).to_string()))
            .collect()
    }))
}

/// A duration's milliseconds: ranges of durations step in whole milliseconds.
fn millis(text: &str) -> Result<u64, crate::units::DurationError> {
    text.parse::<Span>().map(Span::as_millis)
}

/// `START..END:xFACTOR` over numbers, durations or rates.
fn log_range(start: &str, end: &str, factor: f64) -> Option<Result<Vec<Value>, ValuesError>> {
    if let (Ok(a), Ok(b)) = (start.parse::<f64>(), end.parse::<f64>()) {
        let integral = start.parse::<i64>().is_ok() && factor.fract() == 0.0;
        return Some(check_order(a, b, a > 0.0).map(|()| {
            steps(a, b, |i| a * factor.powi(i))
                .map(|v| {
                    if integral {
                        Value::from(v.round() as i64)
                    } else {
                        Value::from(round9(v))
                    }
                })
                .collect()
        }));
    }
    if let (Ok(a), Ok(b)) = (millis(start), millis(end)) {
        let (a, b) = (a as f64, b as f64);
        return Some(check_order(a, b, a > 0.0).map(|()| {
            steps(a, b, |i| (a * factor.powi(i)).round())
                .map(|ms| Value::String(Span::from_millis(ms as u64).to_string()))
                .collect()
        }));
    }
    let (a, b) = (start.parse::<Rate>().ok()?, end.parse::<Rate>().ok()?);
    let per_period = |per_hour: f64| per_hour / a.per_hour() * a.count as f64;
    Some(check_order(a.per_hour(), b.per_hour(), true).map(|()| {
        steps(a.per_hour(), b.per_hour(), |i| {
            a.per_hour() * factor.powi(i)
        })
        .map(|r| Value::String(Rate::new(per_period(r).round() as u64, a.period).to_string()))
        .collect()
    }))
}

/// The values `at(0), at(1), ...` up to `end` (with a relative tolerance so that
/// `0.1..0.5:0.1` ends on 0.5), at most one more than [`MAX_VALUES`].
fn steps(start: f64, end: f64, at: impl Fn(i32) -> f64) -> impl Iterator<Item = f64> {
    let tolerance = 1e-9 * start.abs().max(end.abs()).max(1e-300);
    (0..=MAX_VALUES as i32)
        .map(at)
        .take_while(move |v| *v <= end + tolerance)
}

fn check_order(start: f64, end: f64, step_ok: bool) -> Result<(), ValuesError> {
    if !step_ok {
        return Err(ValuesError::Step);
    }
    if start > end {
        return Err(ValuesError::Backwards);
    }
    Ok(())
}

/// Nine significant digits: `0.1 + 0.2` is written `0.3`.
pub fn round9(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    format!("{value:.8e}").parse().unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(text: &str) -> Value {
        Value::Array(parse_values(text).unwrap())
    }

    #[test]
    fn rounding_keeps_nine_digits() {
        assert_eq!(round9(0.1 + 0.2), 0.3);
        assert_eq!(round9(1_234.567_890_123), 1_234.567_89);
        assert_eq!(round9(0.0), 0.0);
    }

    #[test]
    fn decimal_ranges_land_on_the_end() {
        assert_eq!(values("0.1..0.5:0.1"), json!([0.1, 0.2, 0.3, 0.4, 0.5]));
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "", "5..1:1", "1..5:0", "1..5:x1", "1..5", "a..b:c", "1,,2", "0..5:x2",
        ] {
            assert!(parse_values(bad).is_err(), "{bad}");
        }
        assert!(parse_values("0..100000:1").is_err());
    }
}
