//! Time and rates, the units every module speaks: integer [`Instant`]s and [`Span`]s in
//! milliseconds (no floating-point clock anywhere) and exact [`Rate`]s with their token
//! bucket. They come from the flow-control crate, whose state machine is defined in them.
//! Here too: durations the way people read them, for every report and summary.

pub use mta_flow_control::rate::{Rate, RateError, TokenBucket};
pub use mta_flow_control::time::{DurationError, Instant, Span};

/// A duration for people to read, rounded to its two largest units: `3h 59m`, `1d 2h`,
/// `14m 5s`; under a minute `42s`, under ten seconds `4.2s`, under a second `250ms`.
/// [`Span`]'s `Display` is the exact form that scenario files read back.
pub fn human_duration(span: Span) -> String {
    let ms = span.as_millis();
    let precision = match ms {
        0..1_000 => 1,
        1_000..10_000 => 100,
        10_000..3_600_000 => 1_000,
        3_600_000..86_400_000 => 60_000,
        _ => 3_600_000,
    };
    let rounded = (ms + precision / 2) / precision * precision;
    if precision == 100 && rounded < 10_000 && !rounded.is_multiple_of(1_000) {
        return format!("{:.1}s", rounded as f64 / 1000.0);
    }
    // Rounding up may reach the next unit (59.6s is 1m, 23h 59m 40s is 1d): the exact
    // parts of what it became are still at most two.
    Span::from_millis(rounded).to_string()
}

/// [`human_duration`] of seconds as metrics hold them: `–` when undefined, a minus sign
/// before a negative value (the low end of a confidence interval can be).
pub fn human_seconds(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "–".into();
    }
    let ms = (seconds.abs() * 1000.0).round() as u64;
    let sign = if seconds < 0.0 && ms > 0 { "−" } else { "" };
    format!("{sign}{}", human_duration(Span::from_millis(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(ms: u64) -> String {
        human_duration(Span::from_millis(ms))
    }

    #[test]
    fn human_durations_keep_two_units_rounded() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(250), "250ms");
        assert_eq!(human(1_672), "1.7s");
        assert_eq!(human(4_000), "4s");
        assert_eq!(human(9_960), "10s");
        assert_eq!(human(42_400), "42s");
        assert_eq!(human(59_600), "1m");
        assert_eq!(human(14 * 60_000 + 5_400), "14m 5s");
        assert_eq!(human(14_352_384), "3h 59m");
        assert_eq!(human(4 * 3_600_000 + 29_999), "4h");
        assert_eq!(human(86_400_000 - 20_000), "1d");
        assert_eq!(human(86_400_000 + 2 * 3_600_000 + 29 * 60_000), "1d 2h");
        assert_eq!(human_seconds(14_237.322_7), "3h 57m");
        assert_eq!(human_seconds(-50.2), "−50s");
        assert_eq!(human_seconds(f64::NAN), "–");
    }
}
