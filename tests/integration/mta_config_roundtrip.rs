//! `import(export(x)) == x` for every setting each format can say: generated flow-control
//! configurations in the form an import of that MTA's configuration produces, written out
//! with `export` and read back with `import` into the same scenario.

use proptest::prelude::*;
use serde_json::{Value, json};

use mtasim::MtaKind;
use mtasim::flow_control::config::{
    Action, BackoffConfig, ConcurrencyConfig, FlowControlConfig, KeyKind, Recovery, RuleConfig,
    SetLimits, Trigger,
};
use mtasim::flow_control::{Feedback, Rounding};
use mtasim::mta::config::{Jitter, OnSuspension, RetryConfig, Schedule};
use mtasim::mta_config::{self, Provenance, Source};
use mtasim::scenario::{self, Scenario};
use mtasim::units::{Rate, Span};

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

fn per(count: u64, ms: u64) -> Rate {
    Rate::new(count, Span::from_millis(ms))
}

fn default_scenario() -> Scenario {
    scenario::load("<default>", scenario::DEFAULT_SCENARIO, &[])
        .unwrap()
        .scenario
}

/// Exports `scenario`, imports the files back into it, and returns the result.
fn round_trip(format: MtaKind, scenario: &Scenario) -> Scenario {
    let exported = mta_config::export(format, scenario, &Provenance::scenario("x.json"));
    let sources: Vec<Source> = exported
        .files
        .iter()
        .map(|(name, text)| Source {
            name: name.to_string(),
            text: text.clone(),
        })
        .collect();
    let files: String = exported.files.iter().map(|(_, t)| t.as_str()).collect();
    match mta_config::import(
        format,
        &sources,
        scenario,
        mta_config::MissingDomains::Report,
    ) {
        Ok(imported) => imported.scenario,
        Err(e) => panic!("{e}\n{files}"),
    }
}

fn seconds(range: std::ops::RangeInclusive<u64>) -> impl Strategy<Value = Span> {
    range.prop_map(|s| Span::from_millis(s * SECOND))
}

fn rate() -> impl Strategy<Value = Rate> {
    (
        1u64..5000,
        prop::sample::select(vec![
            SECOND,
            MINUTE,
            HOUR,
            DAY,
            30 * MINUTE,
            2 * HOUR,
            90 * SECOND,
        ]),
    )
        .prop_map(|(count, period)| per(count, period))
}

fn pattern() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "\\[TS?S04\\]".to_string(),
        "4\\.7\\.28".to_string(),
        "rate limited due to IP reputation".to_string(),
        "RP-00[123]".to_string(),
        "421 .*try again later".to_string(),
        "see https://postmaster\\.example/errors".to_string(),
        "it's busy".to_string(),
    ])
}

fn demand(limit: u32) -> ConcurrencyConfig {
    ConcurrencyConfig {
        initial: limit,
        max: limit,
        positive_feedback: Feedback::Constant(1.0),
        negative_feedback: Feedback::InverseConcurrency,
        failed_cohort_limit: 0,
        ..ConcurrencyConfig::default()
    }
}

/// Flow control with only what the MTA has: what every import starts from.
fn bare(key: KeyKind, concurrency: ConcurrencyConfig) -> FlowControlConfig {
    let mut fc = FlowControlConfig {
        key,
        concurrency,
        ..FlowControlConfig::default()
    };
    fc.errors.threshold = 0;
    fc.suspend.after_backoffs = 0;
    fc
}

/// The backoff an import from an MTA without a backoff mode sets (docs/MTA-CONFIGS.md).
fn neutral_backoff(fc: &mut FlowControlConfig) {
    let largest = fc
        .overrides
        .keys()
        .map(|k| fc.effective(k).unwrap().concurrency.max)
        .fold(fc.concurrency.max, u32::max);
    fc.backoff = BackoffConfig {
        concurrency: largest,
        max_rate: None,
        retry_after: Span::from_millis(0),
        to_normal_after: Span::from_millis(SECOND),
        to_normal_after_delivery: true,
        recovery: Recovery::Snap,
        ..BackoffConfig::default()
    };
}

fn kumo_rule() -> impl Strategy<Value = RuleConfig> {
    (
        pattern(),
        0..3u8,
        prop::option::of(1u32..50),
        prop::option::of(rate()),
        prop::option::of(1u64..10),
        prop::sample::select(vec![30 * SECOND, 5 * MINUTE, 90 * MINUTE, 2 * HOUR, DAY]),
    )
        .prop_map(
            |(pattern, action, concurrency, max_rate, threshold, duration)| {
                let (action, set) = match action {
                    0 => (Action::Suspend, None),
                    1 => (Action::Bounce, None),
                    _ => (
                        Action::Set,
                        Some(SetLimits {
                            concurrency: concurrency.or(Some(1)),
                            max_rate,
                        }),
                    ),
                };
                RuleConfig {
                    pattern,
                    action,
                    trigger: threshold
                        .map_or(Trigger::Immediate, |n| Trigger::Threshold(per(n, duration))),
                    duration: Span::from_millis(duration),
                    set,
                }
            },
        )
}

type KumoOverride = (Option<u32>, Option<Rate>, Vec<RuleConfig>);

fn kumo_scenario() -> impl Strategy<Value = Scenario> {
    let overrides = prop::collection::vec(
        (
            prop::option::of(1u32..100),
            prop::option::of(rate()),
            prop::collection::vec(kumo_rule(), 0..3),
        ),
        3,
    );
    (
        1u32..200,
        prop::option::of(rate()),
        prop::collection::vec(kumo_rule(), 0..4),
        overrides,
        (
            1u32..2000,
            seconds(0..=600),
            seconds(1..=600),
            seconds(1..=600),
        ),
        (seconds(1..=7200), seconds(1..=10 * 86400), 0u64..100),
    )
        .prop_map(|(limit, max_rate, rules, overrides, mta, retry)| {
            let mut s = default_scenario();
            let mut fc = bare(KeyKind::Receiver, demand(limit));
            fc.max_rate = max_rate;
            fc.rules = rules;
            for (receiver, (limit, rate, extra)) in
                ["gmail", "yahoo", "microsoft"].iter().zip(overrides)
            {
                let patch = kumo_patch(&fc, (limit, rate, extra));
                if !patch.is_null() {
                    fc.overrides.insert(receiver.to_string(), patch);
                }
            }
            neutral_backoff(&mut fc);
            s.flow_control = fc;
            let (per_connection, idle, connect, banner) = mta;
            s.mta.max_deliveries_per_connection = per_connection;
            s.mta.session_idle_timeout = idle;
            s.mta.connect_timeout = connect;
            s.mta.greeting_timeout = banner;
            let (initial, max_age, share) = retry;
            let max_age = Span::from_millis(max_age.as_millis().max(initial.as_millis()));
            let max =
                initial.as_millis() + (max_age.as_millis() - initial.as_millis()) * share / 100;
            s.mta.retry = RetryConfig {
                schedule: Schedule::Exponential,
                initial,
                factor: 2.0,
                max: Span::from_millis(max - max % SECOND),
                intervals: Vec::new(),
                jitter: Jitter::None,
                max_age,
                ..RetryConfig::default()
            };
            s.mta.retry.max =
                Span::from_millis(s.mta.retry.max.as_millis().max(initial.as_millis()));
            s
        })
}

fn kumo_patch(base: &FlowControlConfig, (limit, rate, extra): KumoOverride) -> Value {
    let mut patch = serde_json::Map::new();
    if let Some(limit) = limit {
        patch.insert(
            "concurrency".into(),
            json!({"initial": limit, "max": limit}),
        );
    }
    if let Some(rate) = rate {
        patch.insert("max_rate".into(), json!(rate));
    }
    if !extra.is_empty() {
        let all: Vec<RuleConfig> = base.rules.iter().cloned().chain(extra).collect();
        patch.insert("rules".into(), json!(all));
    }
    if patch.is_empty() {
        Value::Null
    } else {
        Value::Object(patch)
    }
}

fn feedback() -> impl Strategy<Value = Feedback> {
    prop::sample::select(vec![
        Feedback::Constant(1.0),
        Feedback::Constant(0.5),
        Feedback::Constant(0.25),
        Feedback::Constant(1.0 / 3.0),
        Feedback::Constant(0.3),
        Feedback::InverseConcurrency,
    ])
}

fn postfix_concurrency() -> impl Strategy<Value = (u32, u32, Feedback, Feedback, u32)> {
    (1u32..50, 0u32..50, feedback(), feedback(), 0u32..10)
        .prop_map(|(initial, extra, p, n, c)| (initial, initial + extra, p, n, c))
}

/// One generated Postfix transport override: which fields it sets.
type PostfixOverride = (
    Option<(u32, u32)>,
    Option<Feedback>,
    Option<Feedback>,
    Option<u32>,
    Option<u64>,
);

fn postfix_scenario() -> impl Strategy<Value = Scenario> {
    let overrides = prop::collection::vec(
        (
            prop::option::of((1u32..40, 0u32..40).prop_map(|(i, e)| (i, i + e))),
            prop::option::of(feedback()),
            prop::option::of(feedback()),
            prop::option::of(0u32..20),
            prop::option::of(1u64..60),
        ),
        4,
    );
    (
        postfix_concurrency(),
        prop::option::of(1u64..60),
        overrides,
        (
            1u32..1000,
            seconds(1..=600),
            seconds(1..=600),
            seconds(0..=60),
            prop::option::of(1u32..1000),
        ),
        (
            seconds(1..=3600),
            0u64..20_000,
            seconds(1..=10 * 86400),
            seconds(1..=600),
        ),
    )
        .prop_map(|(concurrency, base_delay, overrides, mta, retry)| {
            let mut s = default_scenario();
            let (initial, max, positive, negative, cohorts) = concurrency;
            let (dead, extra, max_age, queue_run) = retry;
            let mut c = ConcurrencyConfig {
                initial,
                max,
                positive_feedback: positive,
                negative_feedback: negative,
                failed_cohort_limit: cohorts,
                dead_backoff: dead,
                rounding: Rounding::Half,
            };
            let mut fc_rate = None;
            if let Some(delay) = base_delay {
                c.initial = 1;
                c.max = 1;
                fc_rate = Some(per(1, delay * SECOND));
            }
            let mut fc = bare(KeyKind::Domain, c);
            fc.max_rate = fc_rate;
            for (domain, o) in ["gmail.com", "yahoo.com", "outlook.com", "aol.com"]
                .iter()
                .zip(overrides)
            {
                let patch = postfix_patch(&fc, o);
                if !patch.is_null() {
                    fc.overrides.insert(domain.to_string(), patch);
                }
            }
            neutral_backoff(&mut fc);
            s.flow_control = fc;
            let (processes, connect, helo, idle, reuse) = mta;
            s.mta.max_connections = processes;
            s.mta.connect_timeout = connect;
            s.mta.greeting_timeout = helo;
            s.mta.session_idle_timeout = idle;
            s.mta.max_deliveries_per_connection = reuse.unwrap_or(u32::MAX);
            s.mta.on_suspension = OnSuspension::Defer;
            s.mta.retry = RetryConfig {
                schedule: Schedule::Postfix,
                initial: dead,
                factor: 2.0,
                max: Span::from_millis(dead.as_millis() + extra * SECOND),
                intervals: Vec::new(),
                jitter: Jitter::None,
                max_age,
                queue_run_delay: Some(queue_run),
                ..RetryConfig::default()
            };
            s
        })
}

fn postfix_patch(
    base: &FlowControlConfig,
    (limits, positive, negative, cohorts, delay): PostfixOverride,
) -> Value {
    let mut concurrency = serde_json::Map::new();
    let mut patch = serde_json::Map::new();
    match (delay, limits) {
        (Some(delay), _) => {
            concurrency.insert("initial".into(), json!(1));
            concurrency.insert("max".into(), json!(1));
            patch.insert("max_rate".into(), json!(per(1, delay * SECOND)));
        }
        (None, Some((initial, max))) => {
            concurrency.insert("initial".into(), json!(initial));
            concurrency.insert("max".into(), json!(max));
        }
        (None, None) if base.max_rate.is_some() => return Value::Null,
        (None, None) => {}
    }
    if base.max_rate.is_some() && delay.is_none() && limits.is_some() {
        patch.insert("max_rate".into(), Value::Null);
    }
    if let Some(f) = positive {
        concurrency.insert("positive_feedback".into(), json!(f));
    }
    if let Some(f) = negative {
        concurrency.insert("negative_feedback".into(), json!(f));
    }
    if let Some(c) = cohorts {
        concurrency.insert("failed_cohort_limit".into(), json!(c));
    }
    if !concurrency.is_empty() {
        patch.insert("concurrency".into(), Value::Object(concurrency));
    }
    if patch.is_empty() {
        Value::Null
    } else {
        Value::Object(patch)
    }
}

fn pmta_rule() -> impl Strategy<Value = RuleConfig> {
    (
        pattern(),
        any::<bool>(),
        prop::sample::select(vec![
            30 * SECOND,
            5 * MINUTE,
            90 * MINUTE,
            2 * HOUR,
            3650 * DAY,
        ]),
    )
        .prop_map(|(pattern, suspend, duration)| RuleConfig {
            pattern: if suspend {
                pattern
            } else {
                format!("{pattern}/x")
            },
            action: if suspend {
                Action::Suspend
            } else {
                Action::Backoff
            },
            trigger: Trigger::Immediate,
            duration: Span::from_millis(duration),
            set: None,
        })
}

fn pmta_backoff() -> impl Strategy<Value = BackoffConfig> {
    (
        1u32..50,
        prop::option::of(rate()),
        seconds(0..=7200),
        prop::option::of(seconds(1..=86400)),
        any::<bool>(),
    )
        .prop_map(
            |(concurrency, max_rate, retry_after, to_normal, delivery)| BackoffConfig {
                concurrency,
                max_rate,
                retry_after,
                to_normal_after: to_normal.unwrap_or(Span::from_millis(3650 * DAY)),
                to_normal_after_delivery: delivery,
                recovery: Recovery::Snap,
                ..BackoffConfig::default()
            },
        )
}

fn pmta_scenario() -> impl Strategy<Value = Scenario> {
    let overrides = prop::collection::vec(
        (
            prop::option::of(1u32..100),
            prop::option::of(prop::option::of(rate())),
            prop::option::of(pmta_backoff()),
            prop::collection::vec(pmta_rule(), 0..3),
        ),
        3,
    );
    (
        1u32..200,
        prop::option::of(rate()),
        pmta_backoff(),
        prop::collection::vec(pmta_rule(), 0..4),
        overrides,
        (
            prop::option::of(1u32..1000),
            seconds(1..=600),
            seconds(1..=600),
        ),
        (
            prop::collection::vec(seconds(1..=86400), 1..5),
            seconds(1..=10 * 86400),
        ),
    )
        .prop_map(|(limit, max_rate, backoff, rules, overrides, mta, retry)| {
            let mut s = default_scenario();
            let mut fc = bare(KeyKind::Receiver, demand(limit));
            fc.max_rate = max_rate;
            fc.backoff = backoff;
            fc.rules = rules;
            for (receiver, (limit, rate, backoff, rules)) in
                ["gmail", "yahoo", "microsoft"].iter().zip(overrides)
            {
                let mut patch = serde_json::Map::new();
                if let Some(limit) = limit {
                    patch.insert(
                        "concurrency".into(),
                        json!({"initial": limit, "max": limit}),
                    );
                }
                if let Some(rate) = rate {
                    patch.insert("max_rate".into(), json!(rate));
                }
                if let Some(b) = backoff {
                    let mut o = json!({"concurrency": b.concurrency, "retry_after": b.retry_after,
                        "to_normal_after": b.to_normal_after,
                        "to_normal_after_delivery": b.to_normal_after_delivery});
                    if let Some(r) = b.max_rate {
                        o["max_rate"] = json!(r);
                    }
                    patch.insert("backoff".into(), o);
                }
                if !rules.is_empty() {
                    patch.insert("rules".into(), json!(rules));
                }
                if !patch.is_empty() {
                    fc.overrides
                        .insert(receiver.to_string(), Value::Object(patch));
                }
            }
            s.flow_control = fc;
            let (per_connection, connect, greeting) = mta;
            s.mta.max_deliveries_per_connection = per_connection.unwrap_or(u32::MAX);
            s.mta.connect_timeout = connect;
            s.mta.greeting_timeout = greeting;
            let (intervals, max_age) = retry;
            s.mta.retry = RetryConfig {
                schedule: Schedule::Intervals,
                initial: intervals[0],
                factor: 2.0,
                max: intervals.iter().copied().max().unwrap(),
                intervals,
                jitter: Jitter::None,
                max_age,
                ..RetryConfig::default()
            };
            s
        })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn kumomta_round_trips(x in kumo_scenario()) {
        let back = round_trip(MtaKind::KumoMta, &x);
        prop_assert_eq!(&back.flow_control, &x.flow_control);
        prop_assert_eq!(&back.mta, &x.mta);
    }

    #[test]
    fn postfix_round_trips(x in postfix_scenario()) {
        let back = round_trip(MtaKind::Postfix, &x);
        prop_assert_eq!(&back.flow_control, &x.flow_control);
        prop_assert_eq!(&back.mta, &x.mta);
    }

    #[test]
    fn pmta_round_trips(x in pmta_scenario()) {
        let back = round_trip(MtaKind::Pmta, &x);
        prop_assert_eq!(&back.flow_control, &x.flow_control);
        prop_assert_eq!(&back.mta, &x.mta);
    }
}
