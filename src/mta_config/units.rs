//! Durations and rates as each MTA writes them, read into and written from mtasim's
//! milliseconds and [`Rate`].

use crate::units::{Rate, Span};

/// Milliseconds, the unit these conversions compute in.
pub type Millis = u64;
pub const SECOND: Millis = 1_000;
pub const MINUTE: Millis = 60 * SECOND;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

/// `count` per `period` milliseconds.
pub fn per(count: u64, period: Millis) -> Rate {
    Rate::new(count, Span::from_millis(period))
}

const WEEK: Millis = 7 * DAY;

/// A rate written as KumoMTA's throttle spec: `[local:]N/[M]unit[,max_burst=B]`, with
/// `h|hr|hour`, `m|min|minute`, `s|sec|second`, `d|day` and `_` or `,` in N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub rate: Rate,
    pub max_burst: Option<u64>,
    pub local: bool,
}

pub fn kumo_throttle(text: &str) -> Result<Throttle, String> {
    let (local, rest) = match text.strip_prefix("local:") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (rest, max_burst) = match rest.split_once(",max_burst=") {
        Some((rest, burst)) => (rest, Some(separated_number(burst)?)),
        None => (rest, None),
    };
    let (limit, period) = rest
        .split_once('/')
        .ok_or_else(|| format!("expected \"limit/period\", got {text:?}"))?;
    let rate = rate(separated_number(limit)?, period, KUMO_UNITS).map_err(|e| match e {
        RateProblem::ZeroCount => format!("{text:?}: the limit must be greater than 0"),
        RateProblem::ZeroPeriod => format!("{text:?}: the period must be greater than 0"),
        RateProblem::Unit(unit) => format!("{text:?}: unknown period unit {unit:?}"),
        RateProblem::Syntax => format!("{text:?}: bad period"),
    })?;
    Ok(Throttle {
        rate,
        max_burst,
        local,
    })
}

/// KumoMTA's period units (its `ThrottleSpec`), each with mtasim's name for it.
const KUMO_UNITS: &[(&str, &str)] = &[
    ("h", "h"),
    ("hr", "h"),
    ("hour", "h"),
    ("m", "m"),
    ("min", "m"),
    ("minute", "m"),
    ("s", "s"),
    ("sec", "s"),
    ("second", "s"),
    ("d", "d"),
    ("day", "d"),
];

/// PowerMTA's period units.
const PMTA_UNITS: &[(&str, &str)] = &[
    ("d", "d"),
    ("day", "d"),
    ("h", "h"),
    ("hr", "h"),
    ("m", "m"),
    ("min", "m"),
    ("s", "s"),
    ("sec", "s"),
];

/// Why a dialect's rate was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RateProblem {
    ZeroCount,
    ZeroPeriod,
    Unit(String),
    Syntax,
}

/// `count` per `[M]unit`, with `unit` one the dialect accepts (`units` maps it to mtasim's
/// name), read by `Rate::from_str`: every MTA's rate goes through the one rate parser.
fn rate(count: u64, period: &str, units: &[(&str, &str)]) -> Result<Rate, RateProblem> {
    let digits = period.len()
        - period
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    let scale = &period[..digits];
    let unit = &period[digits..];
    let unit = units
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, ours)| *ours)
        .ok_or_else(|| RateProblem::Unit(unit.to_string()))?;
    if count == 0 {
        return Err(RateProblem::ZeroCount);
    }
    let scale = if scale.is_empty() { "1" } else { scale };
    if scale.parse::<u64>().map_err(|_| RateProblem::Syntax)? == 0 {
        return Err(RateProblem::ZeroPeriod);
    }
    format!("{count}/{scale}{unit}")
        .parse()
        .map_err(|_| RateProblem::Syntax)
}

/// "1_000" and "1,000" as 1000.
fn separated_number(text: &str) -> Result<u64, String> {
    let digits: String = text.chars().filter(|c| !matches!(c, '_' | ',')).collect();
    digits
        .parse()
        .map_err(|_| format!("invalid number {text:?}"))
}

/// `count/[k]unit` with the largest whole unit of the period, in the unit names of
/// `units` (day, hour, minute, second); None when the period is not whole seconds.
fn rate_text(rate: Rate, units: [&str; 4]) -> Option<String> {
    let [d, h, m, s] = units;
    let (size, unit) = [(DAY, d), (HOUR, h), (MINUTE, m), (SECOND, s)]
        .into_iter()
        .find(|(size, _)| rate.period.as_millis().is_multiple_of(*size))?;
    Some(match rate.period.as_millis() / size {
        1 => format!("{}/{unit}", rate.count),
        k => format!("{}/{k}{unit}", rate.count),
    })
}

/// A rate as KumoMTA writes it ("600/min", "2/2h").
pub fn kumo_rate(rate: Rate) -> Option<String> {
    rate_text(rate, ["d", "h", "min", "s"])
}

/// A rate as PowerMTA writes it ("600/m", "2/2h").
pub fn pmta_rate_text(rate: Rate) -> Option<String> {
    rate_text(rate, ["d", "h", "m", "s"])
}

/// A PowerMTA rate: `unlimited` (None) or `N/[M]{d|day|h|hr|m|min|s|sec}`.
pub fn pmta_rate(text: &str) -> Result<Option<Rate>, String> {
    if text == "unlimited" {
        return Ok(None);
    }
    let bad =
        || format!("invalid rate {text:?}: expected unlimited or N/[M]unit, e.g. 600/h, 2/10m");
    let (count, period) = text.split_once('/').ok_or_else(bad)?;
    let count: u64 = count.parse().map_err(|_| bad())?;
    match rate(count, period, PMTA_UNITS) {
        Ok(rate) => Ok(Some(rate)),
        Err(RateProblem::ZeroCount | RateProblem::ZeroPeriod) => Err(format!(
            "rate {text:?}: a zero rate is not supported; write unlimited or a positive rate"
        )),
        Err(_) => Err(bad()),
    }
}

/// A PowerMTA time interval: number-unit pairs with `d`, `h`, `m`, `s` and no spaces
/// ("4d12h", "90s"); a bare number is seconds.
pub fn pmta_duration(text: &str) -> Result<Millis, String> {
    let bad = || format!("invalid time interval {text:?}: expected e.g. 10m, 1h, 4d12h");
    if text.is_empty() {
        return Err(bad());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds * SECOND);
    }
    let mut total: Millis = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = match rest[digits..].chars().next() {
            Some('d') => DAY,
            Some('h') => HOUR,
            Some('m') => MINUTE,
            Some('s') => SECOND,
            _ => return Err(bad()),
        };
        total = total.saturating_add(n.saturating_mul(unit));
        rest = &rest[digits + 1..];
    }
    Ok(total)
}

/// A duration as PowerMTA writes it ("4d12h", "10m"); None below a second.
pub fn pmta_duration_text(ms: Millis) -> Option<String> {
    if !ms.is_multiple_of(SECOND) || ms == 0 {
        return (ms == 0).then(|| "0s".to_string());
    }
    let mut text = String::new();
    let mut rest = ms;
    for (size, unit) in [(DAY, 'd'), (HOUR, 'h'), (MINUTE, 'm'), (SECOND, 's')] {
        if rest >= size {
            text += &format!("{}{unit}", rest / size);
            rest %= size;
        }
    }
    Some(text)
}

/// A Postfix time value: an integral number with an optional unit `s`, `m`, `h`, `d`, `w`
/// (default `default_unit`).
pub fn postfix_time(text: &str, default_unit: char) -> Result<Millis, String> {
    let bad = || {
        format!(
            "invalid time value {text:?}: expected a whole number with an optional unit s, m, h, d or w, e.g. 300s"
        )
    };
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return Err(bad());
    }
    let n: u64 = text[..digits].parse().map_err(|_| bad())?;
    let unit = match &text[digits..] {
        "" => default_unit,
        u if u.chars().count() == 1 => u.chars().next().expect("one char"),
        _ => return Err(bad()),
    };
    let size = match unit {
        's' => SECOND,
        'm' => MINUTE,
        'h' => HOUR,
        'd' => DAY,
        'w' => WEEK,
        _ => return Err(bad()),
    };
    Ok(n.saturating_mul(size))
}

/// A duration as Postfix writes it, in its largest exact unit ("300s" is "5m"); None when
/// it is not a whole number of seconds.
pub fn postfix_time_text(ms: Millis) -> Option<String> {
    if !ms.is_multiple_of(SECOND) {
        return None;
    }
    if ms == 0 {
        return Some("0s".into());
    }
    [
        (WEEK, 'w'),
        (DAY, 'd'),
        (HOUR, 'h'),
        (MINUTE, 'm'),
        (SECOND, 's'),
    ]
    .into_iter()
    .find(|(size, _)| ms.is_multiple_of(*size))
    .map(|(size, unit)| format!("{}{unit}", ms / size))
}

/// A KumoMTA duration: a humantime string ("2 hours", "90m") or a number of seconds.
pub fn kumo_duration_str(text: &str) -> Result<Millis, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("invalid duration {text:?}: {e}"))
        .and_then(whole_millis)
}

pub fn kumo_duration_seconds(seconds: f64) -> Result<Millis, String> {
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(format!("invalid duration {seconds} seconds"));
    }
    whole_millis(std::time::Duration::from_secs_f64(seconds))
}

fn whole_millis(d: std::time::Duration) -> Result<Millis, String> {
    u64::try_from(d.as_millis())
        .ok()
        .filter(|&ms| ms <= 1_000 * 365 * DAY)
        .ok_or_else(|| "duration too long".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kumo_throttles_read_like_kumomta() {
        let t = kumo_throttle("local:1_000/2hr,max_burst=5").unwrap();
        assert_eq!(t.rate, per(1000, 2 * HOUR));
        assert_eq!((t.max_burst, t.local), (Some(5), true));
        assert_eq!(kumo_throttle("100/s").unwrap().rate, per(100, SECOND));
        assert_eq!(kumo_throttle("1/minute").unwrap().rate, per(1, MINUTE));
        assert!(kumo_throttle("0/h").is_err());
        assert!(kumo_throttle("5/fortnight").is_err());
        assert!(kumo_throttle("5").is_err());
    }

    #[test]
    fn rates_are_written_in_the_largest_whole_unit() {
        assert_eq!(kumo_rate(per(600, MINUTE)).unwrap(), "600/min");
        assert_eq!(kumo_rate(per(2, 2 * HOUR)).unwrap(), "2/2h");
        assert_eq!(kumo_rate(per(3, 90 * SECOND)).unwrap(), "3/90s");
        assert_eq!(kumo_rate(per(1, 100)), None);
        assert_eq!(pmta_rate_text(per(50, HOUR)).unwrap(), "50/h");
        assert_eq!(pmta_rate_text(per(5, 10 * MINUTE)).unwrap(), "5/10m");
    }

    #[test]
    fn pmta_units() {
        assert_eq!(pmta_rate("unlimited").unwrap(), None);
        assert_eq!(pmta_rate("10000/h").unwrap(), Some(per(10000, HOUR)));
        assert_eq!(pmta_rate("5/10min").unwrap(), Some(per(5, 10 * MINUTE)));
        assert!(pmta_rate("0/h").is_err());
        assert!(pmta_rate("10/week").is_err());
        assert_eq!(pmta_duration("4d12h").unwrap(), 4 * DAY + 12 * HOUR);
        assert_eq!(pmta_duration("90").unwrap(), 90 * SECOND);
        assert!(pmta_duration("1h 30m").is_err());
        assert!(pmta_duration("h").is_err());
        assert_eq!(pmta_duration_text(4 * DAY + 12 * HOUR).unwrap(), "4d12h");
        assert_eq!(pmta_duration_text(1500), None);
    }

    #[test]
    fn postfix_times() {
        assert_eq!(postfix_time("300s", 's').unwrap(), 300 * SECOND);
        assert_eq!(postfix_time("4000", 's').unwrap(), 4000 * SECOND);
        assert_eq!(postfix_time("5d", 's').unwrap(), 5 * DAY);
        assert_eq!(postfix_time("2w", 's').unwrap(), 14 * DAY);
        assert!(postfix_time("5 d", 's').is_err());
        assert!(postfix_time("1h30m", 's').is_err());
        assert_eq!(postfix_time_text(300 * SECOND).unwrap(), "5m");
        assert_eq!(postfix_time_text(4000 * SECOND).unwrap(), "4000s");
        assert_eq!(postfix_time_text(14 * DAY).unwrap(), "2w");
        assert_eq!(postfix_time_text(1500), None);
    }

    #[test]
    fn kumo_durations() {
        assert_eq!(kumo_duration_str("2 hours").unwrap(), 2 * HOUR);
        assert_eq!(kumo_duration_str("1h 30m").unwrap(), 90 * MINUTE);
        assert_eq!(kumo_duration_seconds(1.5).unwrap(), 1500);
        assert!(kumo_duration_str("soon").is_err());
    }
}
