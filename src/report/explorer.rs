//! The explorer's data: per destination, one time series per source, embedded in the page
//! as compact columnar JSON that the page's script draws (see the module docs of
//! [`crate::report`] for the contract).

use std::fmt::Write as _;

use crate::flow_control::State;
use crate::metrics::Sample;
use crate::units::Instant;

/// One column of a time series. The page knows each by its key and draws the panel it
/// belongs to when any of its columns is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Queue depths at the sample time (messages): the queue-depth panel.
    Ready,
    Waiting,
    InFlight,
    /// Counts in the interval that ends at the sample: the outcomes panel, per minute.
    Delivered,
    Deferred,
    Bounced,
    /// Flow-control state (0 normal, 1 backoff, 2 suspended): the strip, and the shading
    /// of every panel.
    State,
    /// Limits in force: connections, and messages per hour.
    ConcurrencyLimit,
    RateLimit,
    /// The receiver's score for the sender (0..1), and whether it was blocking (0 or 1).
    Reputation,
    Blocking,
    /// Destinations in backoff and suspended: the total's flow-control panel.
    InBackoff,
    Suspended,
    /// SMTP sessions open at a served receiver (`mtasim serve`).
    Sessions,
}

impl Series {
    /// The key in the page's data.
    pub fn key(self) -> &'static str {
        match self {
            Series::Ready => "ready",
            Series::Waiting => "waiting",
            Series::InFlight => "in_flight",
            Series::Delivered => "delivered",
            Series::Deferred => "deferred",
            Series::Bounced => "bounced",
            Series::State => "state",
            Series::ConcurrencyLimit => "concurrency_limit",
            Series::RateLimit => "rate_limit",
            Series::Reputation => "reputation",
            Series::Blocking => "blocking",
            Series::InBackoff => "in_backoff",
            Series::Suspended => "suspended",
            Series::Sessions => "sessions",
        }
    }

    /// Decimals kept, as timeseries.csv writes them.
    fn decimals(self) -> i32 {
        match self {
            Series::RateLimit => 3,
            Series::Reputation => 4,
            _ => 0,
        }
    }
}

/// The code of a state in the [`Series::State`] column.
pub fn state_code(state: State) -> f64 {
    match state {
        State::Normal => 0.0,
        State::Backoff => 1.0,
        State::Suspended => 2.0,
    }
}

/// One source's time series of one destination: sample times and columns of values
/// (`None` where undefined: no limit, no score, no state).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub times: Vec<Instant>,
    /// Each the same length as `times`.
    pub columns: Vec<(Series, Vec<Option<f64>>)>,
}

impl Timeline {
    /// A run's samples of one destination (or of the total), in time order. The total has
    /// no state, limits or reputation of its own, but counts destinations in backoff and
    /// suspended.
    pub fn from_samples(samples: &[&Sample], total: bool) -> Self {
        let column = |series: Series, value: fn(&Sample) -> Option<f64>| {
            let values: Vec<Option<f64>> = samples.iter().map(|s| value(s)).collect();
            (series, values)
        };
        let mut columns = vec![
            column(Series::Ready, |s| Some(s.ready as f64)),
            column(Series::Waiting, |s| Some(s.waiting as f64)),
            column(Series::InFlight, |s| Some(s.in_flight as f64)),
            column(Series::Delivered, |s| Some(s.counts.delivered as f64)),
            column(Series::Deferred, |s| Some(s.counts.deferred as f64)),
            column(Series::Bounced, |s| Some(s.counts.bounced as f64)),
        ];
        if total {
            columns.extend([
                column(Series::InBackoff, |s| Some(s.in_backoff as f64)),
                column(Series::Suspended, |s| Some(s.suspended as f64)),
            ]);
        } else {
            columns.extend([
                column(Series::State, |s| s.state.map(state_code)),
                column(Series::ConcurrencyLimit, |s| {
                    s.concurrency_limit.map(f64::from)
                }),
                column(Series::RateLimit, |s| s.rate_limit_per_hour),
                column(Series::Reputation, |s| s.reputation),
                column(Series::Blocking, |s| s.receiver_blocking.map(f64::from)),
            ]);
        }
        // A column with no value at all (no reputation model) is left out.
        columns.retain(|(_, values)| values.iter().any(Option::is_some));
        Timeline {
            times: samples.iter().map(|s| s.time).collect(),
            columns,
        }
    }
}

/// The receiver's thresholds, drawn as dashed lines on the reputation panel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub throttle_below: f64,
    pub block_below: f64,
}

/// One destination in the picker (or the total).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Entry {
    /// Its key: in the page's address (`#destination=yahoo`) and in summary rows.
    pub name: String,
    /// What the picker and the heading show.
    pub label: String,
    /// One per [`Explorer::sources`], `None` where that source has nothing for it.
    pub timelines: Vec<Option<Timeline>>,
    pub thresholds: Option<Thresholds>,
    /// (reply, deferrals), most frequent first.
    pub replies: Vec<(String, u64)>,
}

/// Everything the explorer shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Explorer {
    /// What each timeline is: `["simulated"]` for a run; several are drawn side by side on
    /// one shared time axis.
    pub sources: Vec<String>,
    /// Whether the sources share each chart, a line each (replay's log and twin, which
    /// must be compared on the same axes), instead of standing side by side.
    pub overlay: bool,
    /// In picker order; the first is shown when the address names none.
    pub entries: Vec<Entry>,
}

impl Explorer {
    /// The page's data as JSON, safe to embed in a `<script>` element.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        out.push_str("{\"sources\":");
        out.push_str(&json_string_list(self.sources.iter()));
        if self.overlay {
            out.push_str(",\"overlay\":true");
        }
        out.push_str(",\"entries\":[");
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_entry(&mut out, entry);
        }
        out.push_str("]}");
        // "</script>" or "<!--" in a destination name or reply must not end or change the
        // element: '<' only occurs inside strings, where \u003c is the same character.
        out.replace('<', "\\u003c")
    }
}

fn write_entry(out: &mut String, entry: &Entry) {
    let _ = write!(
        out,
        "{{\"name\":{},\"label\":{},\"timelines\":[",
        json_string(&entry.name),
        json_string(&entry.label)
    );
    for (i, timeline) in entry.timelines.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match timeline {
            Some(t) => write_timeline(out, t),
            None => out.push_str("null"),
        }
    }
    out.push(']');
    if let Some(t) = entry.thresholds {
        let _ = write!(
            out,
            ",\"thresholds\":{{\"throttle_below\":{},\"block_below\":{}}}",
            number(t.throttle_below, 4),
            number(t.block_below, 4)
        );
    }
    out.push_str(",\"replies\":[");
    for (i, (reply, count)) in entry.replies.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "[{},{count}]", json_string(reply));
    }
    out.push_str("]}");
}

/// Times as seconds between samples (the first from time 0), in runs; each column as
/// plain values or runs, whichever is shorter.
fn write_timeline(out: &mut String, timeline: &Timeline) {
    let mut previous = Instant::ZERO;
    let steps: Vec<Option<f64>> = timeline
        .times
        .iter()
        .map(|&t| {
            let step = t.saturating_since(previous).as_secs_f64();
            previous = t;
            Some(step)
        })
        .collect();
    out.push_str("{\"dt\":");
    out.push_str(&runs(&steps, 3));
    for (series, values) in &timeline.columns {
        let _ = write!(
            out,
            ",\"{}\":{}",
            series.key(),
            column(values, series.decimals())
        );
    }
    out.push('}');
}

/// A column as `[v, v, ...]` or as runs `{"r":[v, n, v, n, ...]}`, whichever is shorter.
pub fn column(values: &[Option<f64>], decimals: i32) -> String {
    let mut plain = String::with_capacity(values.len() * 3);
    plain.push('[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            plain.push(',');
        }
        plain.push_str(&value(*v, decimals));
    }
    plain.push(']');
    let encoded = runs(values, decimals);
    if encoded.len() < plain.len() {
        encoded
    } else {
        plain
    }
}

/// `{"r":[value, count, value, count, ...]}`.
fn runs(values: &[Option<f64>], decimals: i32) -> String {
    let mut out = String::from("{\"r\":[");
    let mut i = 0;
    while i < values.len() {
        let text = value(values[i], decimals);
        let mut n = 1;
        while i + n < values.len() && value(values[i + n], decimals) == text {
            n += 1;
        }
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{text},{n}");
        i += n;
    }
    out.push_str("]}");
    out
}

fn value(v: Option<f64>, decimals: i32) -> String {
    v.map_or_else(|| "null".to_string(), |v| number(v, decimals))
}

/// A finite number rounded to `decimals`, without a trailing `.0`; JSON has no NaN.
fn number(v: f64, decimals: i32) -> String {
    if !v.is_finite() {
        return "null".into();
    }
    let scale = 10f64.powi(decimals);
    let rounded = (v * scale).round() / scale;
    // -0 reads as 0.
    format!("{}", rounded + 0.0)
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn json_string_list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.map(|s| json_string(s)).collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_take_the_shorter_encoding() {
        let flat = vec![Some(0.0); 10];
        assert_eq!(column(&flat, 0), "{\"r\":[0,10]}");
        let busy = [Some(1.0), Some(2.0), None, Some(3.25)];
        assert_eq!(column(&busy, 0), "[1,2,null,3]");
        assert_eq!(column(&busy, 4), "[1,2,null,3.25]");
        let steps = [
            Some(1500.0),
            Some(1500.0),
            Some(1500.0),
            None,
            None,
            None,
            None,
        ];
        assert_eq!(column(&steps, 3), "{\"r\":[1500,3,null,4]}");
    }

    #[test]
    fn numbers_are_rounded_like_timeseries_csv() {
        assert_eq!(number(0.731_249, 4), "0.7312");
        assert_eq!(number(1500.0, 3), "1500");
        assert_eq!(number(-0.000_01, 4), "0");
        assert_eq!(number(f64::NAN, 0), "null");
    }

    #[test]
    fn the_json_cannot_close_its_script_element() {
        let explorer = Explorer {
            sources: vec!["simulated".into()],
            overlay: false,
            entries: vec![Entry {
                name: "x</script><b>".into(),
                label: "x".into(),
                timelines: vec![None],
                thresholds: None,
                replies: vec![("421 </SCRIPT>".into(), 3)],
            }],
        };
        let json = explorer.to_json();
        assert!(!json.contains('<'));
        let back: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(back["entries"][0]["name"], "x</script><b>");
        assert_eq!(back["entries"][0]["replies"][0][1], 3);
    }

    #[test]
    fn times_are_steps_in_runs() {
        let timeline = Timeline {
            times: [0, 60_000, 120_000, 150_000]
                .into_iter()
                .map(Instant::from_millis)
                .collect(),
            columns: vec![(
                Series::Ready,
                vec![Some(1.0), Some(2.0), Some(2.0), Some(0.0)],
            )],
        };
        let mut out = String::new();
        write_timeline(&mut out, &timeline);
        assert_eq!(out, "{\"dt\":{\"r\":[0,1,60,2,30,1]},\"ready\":[1,2,2,0]}");
    }
}
