//! Driven by a hand-written clock: millisecond values turned into instants by `at`. Expected numbers are worked out
//! from the algorithms (Postfix qmgr_queue.c for the window), not read off the code.

use std::sync::Arc;

use serde_json::{Value, json};

use super::config::{FlowControlConfig, OutcomeClass};
use super::*;
use crate::rate::Rate;
use crate::time::{Instant, Span};

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

fn time(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// Validates a configuration and every override, as compiling it does.
trait Check {
    fn check(&self) -> Result<(), crate::Invalid>;
}

impl Check for FlowControlConfig {
    fn check(&self) -> Result<(), crate::Invalid> {
        Policies::compile(self).map(drop)
    }
}

fn config(value: Value) -> FlowControlConfig {
    serde_json::from_value(value).expect("config parses")
}

fn policy(value: Value) -> Arc<Policy> {
    Arc::new(Policy::new(&config(value)).expect("config is valid"))
}

/// Only the parts a test names are active: no dead detection, no escalation, no errors.
fn quiet(extra: Value) -> Value {
    let mut base = json!({
        "concurrency": { "failed_cohort_limit": 0 },
        "errors": { "threshold": 0 },
        "suspend": { "after_backoffs": 0 }
    });
    merge(&mut base, extra);
    base
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

fn machine(value: Value) -> (Arc<Policy>, FlowControl) {
    let p = policy(value);
    let fc = FlowControl::new(Arc::clone(&p), time(0));
    (p, fc)
}

fn attempt(class: OutcomeClass) -> Attempt {
    Attempt {
        class,
        matched: ReplyMatch::NONE,
        handshake: matches!(class, OutcomeClass::Connect | OutcomeClass::Timeout),
    }
}

fn reply(p: &Policy, class: OutcomeClass, text: &str) -> Attempt {
    Attempt {
        matched: p.classify(text),
        ..attempt(class)
    }
}

const DELIVERED: OutcomeClass = OutcomeClass::Delivered;
const TEMPFAIL: OutcomeClass = OutcomeClass::Tempfail;

/// The transitions since the last call as (time, "from -> to", reason text).
fn transitions(fc: &mut FlowControl) -> Vec<(u64, String, String)> {
    fc.drain_transitions()
        .map(|t| {
            (
                t.at.as_millis(),
                format!("{} -> {}", t.from, t.to),
                t.reason.to_string(),
            )
        })
        .collect()
}

fn tr(ms: u64, change: &str, reason: &str) -> (u64, String, String) {
    (ms, change.to_string(), reason.to_string())
}

// ---------------------------------------------------------------- feedback parsing

#[test]
fn feedback_values_parse() {
    let parse = |s: &str| s.parse::<Feedback>();
    assert_eq!(parse("1"), Ok(Feedback::Constant(1.0)));
    assert_eq!(parse("0.25"), Ok(Feedback::Constant(0.25)));
    assert_eq!(parse("1/4"), Ok(Feedback::Constant(0.25)));
    assert_eq!(parse(" 1 / 4 "), Ok(Feedback::Constant(0.25)));
    assert_eq!(parse("1/concurrency"), Ok(Feedback::InverseConcurrency));
    assert_eq!(
        parse("1/sqrt(concurrency)"),
        Ok(Feedback::InverseSqrtConcurrency)
    );
    assert_eq!(parse("0"), Ok(Feedback::Constant(0.0)));
    assert_eq!(parse("0/4"), Ok(Feedback::Constant(0.0)));
    for bad in [
        "2",
        "1.5",
        "-1",
        "3/2",
        "1/0",
        "x",
        "",
        "inf",
        "NaN",
        "2/concurrency",
    ] {
        let err = parse(bad).expect_err(bad);
        assert!(err.to_string().contains("constant in [0, 1]"), "{err}");
    }
}

#[test]
fn feedback_round_trips_through_json() {
    for text in ["1", "0.25", "1/concurrency", "1/sqrt(concurrency)"] {
        let f: Feedback = serde_json::from_value(json!(text)).unwrap();
        assert_eq!(serde_json::to_value(f).unwrap(), json!(text));
    }
    let err = serde_json::from_value::<FlowControlConfig>(
        json!({ "concurrency": { "positive_feedback": "2" } }),
    )
    .unwrap_err();
    assert!(err.to_string().contains("invalid feedback \"2\""), "{err}");
}

// ---------------------------------------------------------------- concurrency window

/// Starts a delivery at `t` with a full window already in flight, as a busy destination
/// does: the ends recorded next may then grow the window (it grows only while it is below
/// the deliveries in flight plus `initial`).
fn busy(fc: &mut FlowControl, t: u64) {
    let running = fc.concurrency_limit().saturating_sub(1);
    fc.permit(time(t), running);
}

/// Feeds `ops` ('+' success, '-' handshake failure) and returns the window after each.
fn window_walk(positive: &str, negative: &str, ops: &str) -> Vec<u32> {
    let (_, mut fc) = machine(quiet(json!({ "concurrency": {
        "initial": 5, "max": 20, "positive_feedback": positive, "negative_feedback": negative
    }})));
    ops.chars()
        .map(|op| {
            let class = if op == '+' {
                DELIVERED
            } else {
                OutcomeClass::Connect
            };
            busy(&mut fc, 0);
            fc.record(time(0), attempt(class));
            fc.window()
        })
        .collect()
}

#[test]
fn positive_feedback_one_over_concurrency_adds_one_per_cohort() {
    assert_eq!(
        window_walk("1/concurrency", "1", "++++++++++++"),
        [5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 7, 7]
    );
}

#[test]
fn positive_feedback_one_doubles_per_cohort_up_to_max() {
    assert_eq!(
        window_walk("1", "1", "++++++++++++++++"),
        [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 20]
    );
}

#[test]
fn positive_feedback_quarter_adds_one_per_four() {
    assert_eq!(
        window_walk("1/4", "1", "+++++++++"),
        [5, 5, 5, 6, 6, 6, 6, 7, 7]
    );
}

#[test]
fn positive_feedback_inverse_sqrt() {
    // w=5: g=0.447, the 2nd success reaches 0.894+0.224 >= 1; w=6: g=0.408, 3 more;
    // w=7: g=0.378, 2 more.
    assert_eq!(
        window_walk("1/sqrt(concurrency)", "1", "++++++++"),
        [5, 6, 6, 6, 7, 7, 8, 8]
    );
}

#[test]
fn negative_feedback_decrements_at_the_start_of_each_cycle() {
    // "1": the first failure overshoots (failure -1 -> two decrements), then -1 each, floor 1.
    assert_eq!(window_walk("1", "1", "-----"), [3, 2, 1, 1, 1]);
    assert_eq!(
        window_walk("1", "1/concurrency", "--------"),
        [4, 4, 4, 3, 3, 3, 2, 2]
    );
    assert_eq!(
        window_walk("1", "1/4", "---------"),
        [4, 4, 4, 3, 3, 3, 3, 2, 2]
    );
    assert_eq!(
        window_walk("1", "1/sqrt(concurrency)", "------"),
        [4, 3, 3, 2, 1, 1]
    );
}

#[test]
fn zero_feedback_never_moves_the_window() {
    // Postfix's feedback range is 0..1 inclusive: a sender that holds its concurrency.
    assert_eq!(window_walk("0", "0", "+++---+-"), [5; 8]);
    assert_eq!(window_walk("1", "0", "++---"), [6, 7, 7, 7, 7]);
    assert_eq!(window_walk("0", "1", "++-"), [5, 5, 3]);
}

/// The window after `ops` with 2007's arithmetic (no ±feedback/2 slack).
fn window_walk_2007(positive: &str, negative: &str, ops: &str) -> Vec<u32> {
    let (_, mut fc) = machine(quiet(json!({ "concurrency": {
        "initial": 5, "max": 20, "positive_feedback": positive, "negative_feedback": negative,
        "rounding": "none"
    }})));
    ops.chars()
        .map(|op| {
            let class = if op == '+' {
                DELIVERED
            } else {
                OutcomeClass::Connect
            };
            busy(&mut fc, 0);
            fc.record(time(0), attempt(class));
            fc.window()
        })
        .collect()
}

#[test]
fn without_the_half_step_slack_each_failure_takes_one_step() {
    // Released Postfix: a -1 failure drops the window by 2 (it overshoots by the slack);
    // 2007: by 1. Behind a 5-session limiter +-1 feedback then climbs 4, 5, 6 and fails
    // (a third of the attempts) instead of 5, 6 and fails (half of them).
    assert_eq!(window_walk("1", "1", "+-+-"), [6, 4, 5, 3]);
    assert_eq!(window_walk_2007("1", "1", "+-+-"), [6, 5, 6, 5]);
    // 1/N positive feedback needs all N successes of a cohort, not N - 1/2.
    assert_eq!(
        window_walk_2007("1/concurrency", "1", "+++++"),
        [5, 5, 5, 5, 6]
    );
    assert_eq!(
        window_walk_2007("1/concurrency", "1/concurrency", "++++-"),
        [5, 5, 5, 5, 4]
    );
}

#[test]
fn a_released_permit_is_no_outcome() {
    let (_, mut fc) = machine(json!({ "errors": { "threshold": 1 } }));
    assert_eq!(fc.permit(time(0), 4), Permit::Granted);
    fc.release(time(10));
    assert_eq!((fc.state(), fc.window()), (State::Normal, 5));
    // The slot it held is free again: a full window may start once more.
    assert_eq!(fc.permit(time(10), 4), Permit::Granted);
}

#[test]
fn the_window_grows_only_below_in_flight_plus_initial() {
    // One delivery at a time: the window reaches 1 + 5 and stops, however long it lasts.
    let (_, mut fc) = machine(quiet(
        json!({ "concurrency": { "positive_feedback": "1" } }),
    ));
    for t in 0..50 {
        assert_eq!(fc.permit(time(t), 0), Permit::Granted);
        fc.record(time(t), attempt(DELIVERED));
    }
    assert_eq!(fc.window(), 6);
    // Busy again: it grows on.
    busy(&mut fc, 60);
    fc.record(time(60), attempt(DELIVERED));
    assert_eq!(fc.window(), 7);
}

#[test]
fn mixed_feedback_resets_the_other_cycle_on_an_adjustment() {
    assert_eq!(
        window_walk("1/concurrency", "1/concurrency", "+++++-+-"),
        [5, 5, 5, 5, 6, 5, 5, 5]
    );
}

#[test]
fn internal_errors_and_transaction_failures_give_no_negative_feedback() {
    let (_, mut fc) = machine(quiet(
        json!({ "concurrency": { "positive_feedback": "1" } }),
    ));
    busy(&mut fc, 0);
    fc.record(time(0), attempt(OutcomeClass::Internal));
    assert_eq!(fc.window(), 5);
    busy(&mut fc, 0);
    fc.record(time(0), attempt(TEMPFAIL)); // past the handshake: positive
    busy(&mut fc, 0);
    fc.record(time(0), attempt(OutcomeClass::Permfail));
    assert_eq!(fc.window(), 7);
    let greeting_421 = Attempt {
        handshake: true,
        ..attempt(TEMPFAIL)
    };
    fc.record(time(0), greeting_421);
    assert_eq!(fc.window(), 5);
}

#[test]
fn dead_destination_suspends_then_restarts_at_initial() {
    // Defaults: feedback 1/1, failed_cohort_limit 1, dead_backoff 5m.
    let (_, mut fc) = machine(json!({ "errors": { "threshold": 0 } }));
    for n in 0..3 {
        assert_eq!(fc.permit(time(0), n), Permit::Granted);
    }
    // fail_cohorts: 1/5, +1/3 (window 3), +1/2 (window 2) = 1.03 >= 1 at the third failure.
    fc.record(time(10), attempt(OutcomeClass::Connect));
    fc.record(time(20), attempt(OutcomeClass::Timeout));
    assert_eq!((fc.state(), fc.window()), (State::Normal, 2));
    fc.record(time(30), attempt(OutcomeClass::Connect));
    assert_eq!(fc.state(), State::Suspended);
    assert_eq!(fc.concurrency_limit(), 0);
    assert_eq!(
        fc.permit(time(40), 0),
        Permit::Suspended {
            until: time(30 + 5 * MINUTE)
        }
    );
    assert_eq!(fc.next_wakeup(), Some(time(30 + 5 * MINUTE)));
    fc.advance(time(30 + 5 * MINUTE));
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(fc.window(), 5);
    assert_eq!(
        transitions(&mut fc),
        [
            tr(
                30,
                "normal -> suspended",
                "dead destination: 1 failed cohort"
            ),
            tr(30 + 5 * MINUTE, "suspended -> backoff", "suspension over"),
        ]
    );
}

#[test]
fn dead_destination_restarts_at_the_in_flight_count() {
    let (_, mut fc) = machine(json!({
        "concurrency": { "failed_cohort_limit": 2 }, "errors": { "threshold": 0 }
    }));
    for n in 0..5 {
        assert_eq!(fc.permit(time(0), n), Permit::Granted);
    }
    // 1/5 + 1/3 + 1/2 + 1/1 = 2.03 >= 2 at the fourth failure; one delivery still running.
    for t in 1..=4 {
        fc.record(time(t), attempt(OutcomeClass::Connect));
    }
    assert_eq!(fc.state(), State::Suspended);
    fc.advance(time(4 + 5 * MINUTE));
    assert_eq!(fc.window(), 1);
    assert_eq!(
        transitions(&mut fc)[0].2,
        "dead destination: 2 failed cohorts"
    );
}

#[test]
fn a_success_resets_the_failed_cohorts() {
    let (_, mut fc) = machine(json!({ "errors": { "threshold": 0 } }));
    fc.record(time(0), attempt(OutcomeClass::Connect)); // 0.2, window 3
    fc.record(time(0), attempt(OutcomeClass::Connect)); // 0.53, window 2
    fc.record(time(0), attempt(DELIVERED)); // 0, window 3
    fc.record(time(0), attempt(OutcomeClass::Connect)); // 1/3, window 1
    assert_eq!((fc.state(), fc.window()), (State::Normal, 1));
}

// ---------------------------------------------------------------- rate

#[test]
fn max_rate_spaces_permits_exactly() {
    let (_, mut fc) = machine(quiet(json!({ "max_rate": "600/min" })));
    assert_eq!(
        fc.rate_limit(),
        Some(Rate::new(600, Span::from_millis(MINUTE)))
    );
    let mut granted = Vec::new();
    for t in 0..=1000 {
        if fc.permit(time(t), 0) == Permit::Granted {
            granted.push(t);
        }
    }
    assert_eq!(granted, (0..=1000).step_by(100).collect::<Vec<_>>());
    assert_eq!(fc.permit(time(1001), 0), Permit::NotBefore(time(1100)));
}

#[test]
fn backoff_rate_applies_after_entering_backoff() {
    let (_, mut fc) = machine(quiet(json!({
        "max_rate": "600/min",
        "errors": { "threshold": 1 },
        "backoff": { "max_rate": "60/min" }
    })));
    assert_eq!(fc.permit(time(0), 0), Permit::Granted);
    fc.record(time(50), attempt(TEMPFAIL));
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(
        fc.rate_limit(),
        Some(Rate::new(60, Span::from_millis(MINUTE)))
    );
    // The token taken at 0 under 600/min is owed at the new rate: next at 50 + 1000.
    assert_eq!(fc.permit(time(100), 0), Permit::NotBefore(time(1050)));
    assert_eq!(fc.permit(time(1050), 0), Permit::Granted);
    assert_eq!(fc.permit(time(1051), 0), Permit::NotBefore(time(2050)));
}

#[test]
fn backoff_without_its_own_rate_keeps_the_normal_one() {
    let (_, mut fc) = machine(quiet(
        json!({ "max_rate": "600/min", "errors": { "threshold": 1 } }),
    ));
    fc.record(time(0), attempt(TEMPFAIL));
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(
        fc.rate_limit(),
        Some(Rate::new(600, Span::from_millis(MINUTE)))
    );
    let (_, unlimited) = machine(quiet(json!({})));
    assert_eq!(unlimited.rate_limit(), None);
}

// ---------------------------------------------------------------- normal <-> backoff

fn threshold_3() -> Value {
    quiet(json!({ "errors": { "threshold": 3, "window": "1m" } }))
}

#[test]
fn error_threshold_switches_to_backoff_limits() {
    let (_, mut fc) = machine(threshold_3());
    assert_eq!(fc.concurrency_limit(), 5);
    assert_eq!(fc.retry_floor(), Span::ZERO);
    assert_eq!(
        fc.record(time(0), attempt(TEMPFAIL)),
        Verdict::Retry {
            min_delay: Span::from_millis(0)
        }
    );
    fc.record(time(10), attempt(OutcomeClass::Timeout));
    let verdict = fc.record(time(20), attempt(OutcomeClass::Internal));
    assert_eq!(
        verdict,
        Verdict::Retry {
            min_delay: Span::from_millis(HOUR)
        }
    );
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(fc.concurrency_limit(), 1);
    assert_eq!(fc.retry_floor(), Span::HOUR);
    assert_eq!(fc.backoff_entries(), 1);
    assert_eq!(
        transitions(&mut fc),
        [tr(20, "normal -> backoff", "3 errors within 1m")]
    );
}

#[test]
fn error_window_edge_one_ms_inside_counts() {
    let (_, mut fc) = machine(threshold_3());
    fc.record(time(0), attempt(TEMPFAIL));
    fc.record(time(30 * SECOND), attempt(TEMPFAIL));
    fc.record(time(MINUTE - 1), attempt(TEMPFAIL));
    assert_eq!(fc.state(), State::Backoff);
}

#[test]
fn error_window_edge_exactly_at_the_window_does_not_count() {
    let (_, mut fc) = machine(threshold_3());
    fc.record(time(0), attempt(TEMPFAIL));
    fc.record(time(30 * SECOND), attempt(TEMPFAIL));
    fc.record(time(MINUTE), attempt(TEMPFAIL));
    assert_eq!(fc.state(), State::Normal);
    // ...but the next one is within a minute of the 30 s one.
    fc.record(time(MINUTE + 1), attempt(TEMPFAIL));
    assert_eq!(fc.state(), State::Backoff);
}

#[test]
fn only_listed_classes_count() {
    let (_, mut fc) = machine(quiet(json!({
        "errors": { "threshold": 2, "count": ["connect"] }
    })));
    for t in 0..10 {
        fc.record(time(t), attempt(TEMPFAIL));
        fc.record(time(t), attempt(OutcomeClass::Permfail));
        fc.record(time(t), attempt(DELIVERED));
    }
    assert_eq!(fc.state(), State::Normal);
    fc.record(time(20), attempt(OutcomeClass::Connect));
    fc.record(time(21), attempt(OutcomeClass::Connect));
    assert_eq!(fc.state(), State::Backoff);
}

#[test]
fn backoff_ends_after_to_normal_after() {
    let (_, mut fc) = machine(threshold_3());
    for t in [0, 1, 2] {
        busy(&mut fc, t);
        fc.record(time(t), attempt(TEMPFAIL));
    }
    assert_eq!(fc.next_wakeup(), Some(time(2 + HOUR)));
    fc.advance(time(1 + HOUR));
    assert_eq!(fc.state(), State::Backoff);
    fc.advance(time(2 + HOUR));
    assert_eq!(fc.state(), State::Normal);
    // Each 4xx got past the handshake: +1 each with the default feedback "1".
    assert_eq!(fc.concurrency_limit(), 8);
    assert_eq!(fc.next_wakeup(), None);
    assert_eq!(
        transitions(&mut fc),
        [
            tr(2, "normal -> backoff", "3 errors within 1m"),
            tr(2 + HOUR, "backoff -> normal", "to_normal_after 1h elapsed"),
        ]
    );
}

#[test]
fn a_trigger_during_backoff_restarts_the_timer() {
    let (_, mut fc) = machine(threshold_3());
    for t in [0, 1, 2] {
        fc.record(time(t), attempt(TEMPFAIL));
    }
    // The window was cleared on entry: two more errors are not enough.
    fc.record(time(30 * MINUTE), attempt(TEMPFAIL));
    fc.record(time(30 * MINUTE + 1), attempt(TEMPFAIL));
    assert_eq!(fc.next_wakeup(), Some(time(2 + HOUR)));
    fc.record(time(30 * MINUTE + 2), attempt(TEMPFAIL));
    assert_eq!(fc.next_wakeup(), Some(time(30 * MINUTE + 2 + HOUR)));
    fc.advance(time(2 + HOUR));
    assert_eq!(fc.state(), State::Backoff);
    fc.advance(time(30 * MINUTE + 2 + HOUR));
    assert_eq!(fc.state(), State::Normal);
    assert_eq!(fc.backoff_entries(), 1);
    assert_eq!(transitions(&mut fc).len(), 2);
}

#[test]
fn counted_from_the_last_error_any_error_in_backoff_restarts_the_timer() {
    let (_, mut fc) = machine(quiet(json!({
        "errors": { "threshold": 3 },
        "backoff": { "to_normal_after": "20m", "to_normal_after_from": "error" }
    })));
    for t in [0, 1, 2] {
        fc.record(time(t), attempt(TEMPFAIL));
    }
    assert_eq!(fc.next_wakeup(), Some(time(2 + 20 * MINUTE)));
    // One error, far below the threshold, pushes the end out; a delivery does not, and
    // neither does an error that the window does not count.
    fc.record(time(10 * MINUTE), attempt(TEMPFAIL));
    fc.record(time(15 * MINUTE), attempt(DELIVERED));
    fc.record(time(16 * MINUTE), attempt(OutcomeClass::Permfail));
    assert_eq!(fc.next_wakeup(), Some(time(30 * MINUTE)));
    fc.advance(time(30 * MINUTE - 1));
    assert_eq!(fc.state(), State::Backoff);
    fc.advance(time(30 * MINUTE));
    assert_eq!(fc.state(), State::Normal);
    // Not a backoff event: nothing toward escalation, one entry.
    assert_eq!(fc.backoff_entries(), 1);
    // In normal, a single error does nothing.
    fc.record(time(31 * MINUTE), attempt(TEMPFAIL));
    assert_eq!(fc.state(), State::Normal);
}

#[test]
fn counted_from_the_last_trigger_a_lone_error_changes_nothing() {
    let (_, mut fc) = machine(quiet(json!({
        "errors": { "threshold": 3 }, "backoff": { "to_normal_after": "20m" }
    })));
    for t in [0, 1, 2] {
        fc.record(time(t), attempt(TEMPFAIL));
    }
    fc.record(time(10 * MINUTE), attempt(TEMPFAIL));
    assert_eq!(fc.next_wakeup(), Some(time(2 + 20 * MINUTE)));
}

#[test]
fn to_normal_after_delivery_ends_backoff_at_the_first_delivery() {
    let (_, mut fc) = machine(quiet(json!({
        "errors": { "threshold": 1 }, "backoff": { "to_normal_after_delivery": true }
    })));
    fc.record(time(0), attempt(TEMPFAIL));
    fc.record(time(5), attempt(OutcomeClass::Permfail));
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(fc.record(time(9), attempt(DELIVERED)), Verdict::Delivered);
    assert_eq!(fc.state(), State::Normal);
    assert_eq!(
        transitions(&mut fc),
        [
            tr(0, "normal -> backoff", "1 error within 1m"),
            tr(9, "backoff -> normal", "first delivery"),
        ]
    );
}

#[test]
fn without_to_normal_after_delivery_a_delivery_changes_nothing() {
    let (_, mut fc) = machine(quiet(json!({ "errors": { "threshold": 1 } })));
    fc.record(time(0), attempt(TEMPFAIL));
    fc.record(time(9), attempt(DELIVERED));
    assert_eq!(fc.state(), State::Backoff);
}

// ---------------------------------------------------------------- ramp recovery

fn ramp() -> Value {
    quiet(json!({
        "concurrency": { "initial": 20, "max": 20 },
        "max_rate": "600/h",
        "backoff": { "max_rate": "60/h", "recovery": "ramp", "ramp_steps": 4, "ramp_interval": "15m" },
        "rules": [ { "match": "4\\.7\\.28", "action": "backoff", "duration": "10m" } ]
    }))
}

#[test]
fn ramp_recovery_climbs_in_equal_steps() {
    let (p, mut fc) = machine(ramp());
    fc.record(time(0), reply(&p, TEMPFAIL, "421-4.7.28 unusual rate"));
    assert_eq!(
        (fc.concurrency_limit(), fc.rate_limit()),
        (1, Some(Rate::new(60, Span::from_millis(HOUR))))
    );
    let mut seen = Vec::new();
    while let Some(at) = fc.next_wakeup() {
        fc.advance(at);
        seen.push((
            at.as_millis() / MINUTE,
            fc.state(),
            fc.concurrency_limit(),
            fc.rate_limit().unwrap().to_string(),
        ));
    }
    // Concurrency 1 + 19·k/4 (floored), rate 60 + 540·k/4 per hour.
    let expect = |m, c, r: &str| (m, State::Normal, c, r.to_string());
    assert_eq!(
        seen,
        [
            expect(10, 5, "195/h"),
            expect(25, 10, "330/h"),
            expect(40, 15, "465/h"),
            expect(55, 20, "600/h"),
        ]
    );
    assert_eq!(
        transitions(&mut fc)[1],
        tr(
            10 * MINUTE,
            "backoff -> normal",
            "rule 0 (4\\.7\\.28) expired 10m after its last match"
        )
    );
}

#[test]
fn a_trigger_during_the_ramp_goes_straight_back_to_backoff() {
    let (p, mut fc) = machine(ramp());
    fc.record(time(0), reply(&p, TEMPFAIL, "4.7.28"));
    fc.advance(time(25 * MINUTE));
    assert_eq!(fc.concurrency_limit(), 10);
    fc.record(time(30 * MINUTE), reply(&p, TEMPFAIL, "4.7.28"));
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(
        (fc.concurrency_limit(), fc.rate_limit()),
        (1, Some(Rate::new(60, Span::from_millis(HOUR))))
    );
    assert_eq!(fc.next_wakeup(), Some(time(40 * MINUTE)));
    fc.advance(time(40 * MINUTE));
    assert_eq!((fc.state(), fc.concurrency_limit()), (State::Normal, 5));
    assert_eq!(fc.backoff_entries(), 2);
}

// ---------------------------------------------------------------- rules

#[test]
fn backoff_rule_immediate_lasts_duration_after_the_last_match() {
    let (p, mut fc) = machine(quiet(json!({
        "rules": [ { "match": "4\\.7\\.28", "action": "backoff", "duration": "30m" } ]
    })));
    fc.record(time(0), reply(&p, TEMPFAIL, "421 4.7.28 rate limited"));
    assert_eq!(fc.state(), State::Backoff);
    fc.record(
        time(20 * MINUTE),
        reply(&p, TEMPFAIL, "421 4.7.28 rate limited"),
    );
    assert_eq!(fc.next_wakeup(), Some(time(50 * MINUTE)));
    fc.advance(time(50 * MINUTE));
    assert_eq!(
        transitions(&mut fc),
        [
            tr(0, "normal -> backoff", "rule 0 (4\\.7\\.28) matched"),
            tr(
                50 * MINUTE,
                "backoff -> normal",
                "rule 0 (4\\.7\\.28) expired 30m after its last match"
            ),
        ]
    );
}

fn threshold_rule() -> Value {
    quiet(json!({
        "rules": [
            { "match": "\\[TSS04\\]", "action": "suspend", "duration": "2h" },
            { "match": "4\\.7\\.28", "action": "backoff", "trigger": "2/1h", "duration": "30m" }
        ]
    }))
}

#[test]
fn threshold_trigger_fires_at_n_within_the_period() {
    let (p, mut fc) = machine(threshold_rule());
    fc.record(time(0), reply(&p, TEMPFAIL, "4.7.28"));
    assert_eq!(fc.state(), State::Normal);
    fc.record(time(HOUR - 1), reply(&p, TEMPFAIL, "4.7.28"));
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(
        transitions(&mut fc),
        [tr(
            HOUR - 1,
            "normal -> backoff",
            "rule 1 (4\\.7\\.28) matched 2 within 1h"
        )]
    );
    assert_eq!(fc.next_wakeup(), Some(time(HOUR - 1 + 30 * MINUTE)));
}

#[test]
fn threshold_trigger_edge_exactly_one_period_apart_does_not_fire() {
    let (p, mut fc) = machine(threshold_rule());
    fc.record(time(0), reply(&p, TEMPFAIL, "4.7.28"));
    fc.record(time(HOUR), reply(&p, TEMPFAIL, "4.7.28"));
    assert_eq!(fc.state(), State::Normal);
    fc.record(time(HOUR + 1), reply(&p, TEMPFAIL, "4.7.28"));
    assert_eq!(fc.state(), State::Backoff);
}

#[test]
fn suspend_rule_then_permit_granted_exactly_at_the_end() {
    let (p, mut fc) = machine(threshold_rule());
    assert_eq!(fc.permit(time(0), 0), Permit::Granted);
    assert_eq!(fc.permit(time(0), 1), Permit::Granted);
    let text = "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred";
    let verdict = fc.record(time(1000), reply(&p, TEMPFAIL, text));
    assert_eq!(
        verdict,
        Verdict::Retry {
            min_delay: Span::from_millis(HOUR)
        }
    );
    let until = 1000 + 2 * HOUR;
    assert_eq!(fc.state(), State::Suspended);
    assert_eq!(fc.concurrency_limit(), 0);
    assert_eq!(fc.suspensions(), 1);
    // The other delivery completes while suspended.
    fc.record(time(2000), attempt(DELIVERED));
    assert_eq!(
        fc.permit(time(until - 1), 0),
        Permit::Suspended { until: time(until) }
    );
    assert_eq!(fc.permit(time(until), 0), Permit::Granted);
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(fc.permit(time(until), 1), Permit::AtLimit);
    assert_eq!(
        transitions(&mut fc),
        [
            tr(1000, "normal -> suspended", "rule 0 (\\[TSS04\\]) matched"),
            tr(until, "suspended -> backoff", "suspension over"),
        ]
    );
    assert_eq!(fc.next_wakeup(), Some(time(until + HOUR)));
}

#[test]
fn a_new_suspend_match_extends_the_suspension() {
    let (p, mut fc) = machine(threshold_rule());
    fc.record(time(0), reply(&p, TEMPFAIL, "[TSS04]"));
    fc.record(time(HOUR), reply(&p, TEMPFAIL, "[TSS04]"));
    assert_eq!(fc.next_wakeup(), Some(time(3 * HOUR)));
    assert_eq!(fc.suspensions(), 1);
    assert_eq!(transitions(&mut fc).len(), 1);
}

#[test]
fn bounce_rule_fails_the_message_now() {
    let (p, mut fc) = machine(quiet(json!({
        "errors": { "threshold": 2 },
        "rules": [ { "match": "TS03", "action": "bounce" } ]
    })));
    let ts03 = reply(&p, TEMPFAIL, "421 4.7.1 [TS03] permanently deferred");
    assert_eq!(fc.record(time(0), ts03), Verdict::Bounce { rule: Some(0) });
    assert_eq!(fc.state(), State::Normal);
    // It still counts as an error of its class.
    fc.record(time(1), ts03);
    assert_eq!(fc.state(), State::Backoff);
    // Without a bounce rule a 5xx bounces too; a delivery is never bounced.
    assert_eq!(
        fc.record(time(2), attempt(OutcomeClass::Permfail)),
        Verdict::Bounce { rule: None }
    );
    assert_eq!(
        fc.record(time(3), reply(&p, DELIVERED, "250 TS03 ok")),
        Verdict::Delivered
    );
}

#[test]
fn ignore_rule_keeps_errors_out_of_the_count() {
    let (p, mut fc) = machine(quiet(json!({
        "errors": { "threshold": 2 },
        "rules": [ { "match": "greylist", "action": "ignore" } ]
    })));
    for t in 0..5 {
        let v = fc.record(time(t), reply(&p, TEMPFAIL, "451 4.7.1 greylisted"));
        assert_eq!(
            v,
            Verdict::Retry {
                min_delay: Span::from_millis(0)
            }
        );
    }
    assert_eq!(fc.state(), State::Normal);
    fc.record(time(10), attempt(TEMPFAIL));
    fc.record(time(11), attempt(TEMPFAIL));
    assert_eq!(fc.state(), State::Backoff);
}

#[test]
fn set_rule_caps_limits_for_its_duration_in_any_state() {
    let (p, mut fc) = machine(quiet(json!({
        "max_rate": "600/min",
        "errors": { "threshold": 1, "count": ["connect"] },
        "backoff": { "concurrency": 3 },
        "rules": [ { "match": "RP-001", "action": "set", "duration": "30m",
                     "set": { "concurrency": 2, "max_rate": "1/min" } } ]
    })));
    fc.record(time(0), reply(&p, TEMPFAIL, "421 RP-001 too many"));
    assert_eq!(fc.state(), State::Normal);
    assert_eq!(
        (fc.concurrency_limit(), fc.rate_limit()),
        (2, Some(Rate::new(1, Span::from_millis(MINUTE))))
    );
    assert_eq!(fc.next_wakeup(), Some(time(30 * MINUTE)));
    assert_eq!(fc.permit(time(MINUTE), 0), Permit::Granted);
    assert_eq!(
        fc.permit(time(MINUTE), 1),
        Permit::NotBefore(time(2 * MINUTE))
    );
    // In backoff the tighter of the two applies.
    fc.record(time(2 * MINUTE), attempt(OutcomeClass::Connect));
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(fc.concurrency_limit(), 2);
    fc.advance(time(30 * MINUTE));
    assert_eq!(
        (fc.concurrency_limit(), fc.rate_limit()),
        (3, Some(Rate::new(600, Span::from_millis(MINUTE))))
    );
    assert_eq!(fc.next_wakeup(), Some(time(2 * MINUTE + HOUR)));
}

#[test]
fn set_rule_caps_without_a_rate_of_their_own() {
    let (p, mut fc) = machine(quiet(json!({
        "rules": [ { "match": "x", "action": "set", "set": { "max_rate": "10/s" } } ]
    })));
    busy(&mut fc, 0);
    fc.record(time(0), reply(&p, TEMPFAIL, "x"));
    assert_eq!(
        (fc.concurrency_limit(), fc.rate_limit()),
        (6, Some(Rate::new(10, Span::from_millis(SECOND))))
    );
    fc.advance(time(HOUR));
    assert_eq!(fc.rate_limit(), None);
}

#[test]
fn overlapping_rules_suspend_wins_and_every_effect_applies() {
    let (p, mut fc) = machine(quiet(json!({
        "errors": { "threshold": 1 },
        "rules": [
            { "match": "4\\.7\\.0", "action": "backoff", "duration": "3h" },
            { "match": "TSS04", "action": "suspend", "duration": "2h" },
            { "match": "deferred", "action": "set", "duration": "4h", "set": { "concurrency": 1 } },
            { "match": "Messages", "action": "ignore" },
            { "match": "temporarily", "action": "bounce" }
        ]
    })));
    let text = "421 4.7.0 [TSS04] Messages temporarily deferred";
    assert_eq!(p.classify(text), ReplyMatch(0b11111));
    assert_eq!(
        fc.record(time(0), reply(&p, TEMPFAIL, text)),
        Verdict::Bounce { rule: Some(4) }
    );
    assert_eq!(fc.state(), State::Suspended);
    assert_eq!(
        transitions(&mut fc),
        [tr(0, "normal -> suspended", "rule 1 (TSS04) matched")]
    );
    fc.advance(time(2 * HOUR));
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(fc.concurrency_limit(), 1);
    // The backoff rule fired together with the suspend rule and was not acted on: backoff
    // lasts to_normal_after from the suspension's end (3h); the set cap lasts until 4h.
    assert_eq!(fc.next_wakeup(), Some(time(3 * HOUR)));
    assert_eq!(fc.backoff_entries(), 1);
}

#[test]
fn classify_reports_every_matching_rule() {
    let p = policy(threshold_rule());
    assert_eq!(p.classify("nothing"), ReplyMatch::NONE);
    assert_eq!(p.classify("[TSS04] and 4.7.28"), ReplyMatch(0b11));
    let m = p.classify("4.7.28");
    assert!(m.contains(1) && !m.contains(0));
    assert_eq!(m.indices().collect::<Vec<_>>(), [1]);
}

// ---------------------------------------------------------------- escalation

fn escalating() -> Value {
    quiet(json!({
        "suspend": { "after_backoffs": 3, "within": "6h", "duration": "2h", "max_duration": "5h" },
        "rules": [ { "match": "busy", "action": "backoff", "duration": "1m" } ]
    }))
}

/// Three backoff events one second apart from `start`; returns when the third came.
fn three_backoffs(p: &Policy, fc: &mut FlowControl, start: u64) -> u64 {
    for i in 0..3 {
        fc.record(time(start + i * SECOND), reply(p, TEMPFAIL, "421 busy"));
    }
    start + 2 * SECOND
}

#[test]
fn escalation_suspends_doubling_up_to_max_then_resets() {
    let (p, mut fc) = machine(escalating());
    let at = three_backoffs(&p, &mut fc, 0);
    assert_eq!(fc.state(), State::Suspended);
    assert_eq!(fc.next_wakeup(), Some(time(at + 2 * HOUR)));
    assert_eq!(
        transitions(&mut fc),
        [
            tr(0, "normal -> backoff", "rule 0 (busy) matched"),
            tr(at, "backoff -> suspended", "3 backoffs within 6h"),
        ]
    );
    let mut lengths = Vec::new();
    let mut end = at + 2 * HOUR;
    for _ in 0..2 {
        fc.advance(time(end));
        assert_eq!(fc.state(), State::Backoff);
        let at = three_backoffs(&p, &mut fc, end + MINUTE / 2);
        end = fc.next_wakeup().unwrap().as_millis();
        lengths.push((end - at) / HOUR);
    }
    assert_eq!(lengths, [4, 5]);
    // Long after (6h since the last suspension ended) the doubling starts over.
    fc.advance(time(end));
    fc.advance(time(end + HOUR));
    assert_eq!(fc.state(), State::Normal);
    let at = three_backoffs(&p, &mut fc, end + 6 * HOUR);
    assert_eq!(fc.next_wakeup(), Some(time(at + 2 * HOUR)));
    assert_eq!(fc.suspensions(), 4);
    assert_eq!(fc.backoff_entries(), 1 + 3 + 1);
}

#[test]
fn escalation_window_edge() {
    let (p, mut fc) = machine(escalating());
    fc.record(time(0), reply(&p, TEMPFAIL, "busy"));
    fc.record(time(SECOND), reply(&p, TEMPFAIL, "busy"));
    fc.record(time(6 * HOUR), reply(&p, TEMPFAIL, "busy")); // the first is exactly 6h old
    assert_eq!(fc.state(), State::Backoff);
    fc.record(time(6 * HOUR + 1), reply(&p, TEMPFAIL, "busy"));
    assert_eq!(fc.state(), State::Suspended);
}

#[test]
fn escalation_disabled_with_zero() {
    let (p, mut fc) = machine(quiet(json!({
        "rules": [ { "match": "busy", "action": "backoff", "duration": "1m" } ]
    })));
    for t in 0..100 {
        fc.record(time(t), reply(&p, TEMPFAIL, "busy"));
    }
    assert_eq!(fc.state(), State::Backoff);
    assert_eq!(fc.suspensions(), 0);
}

#[test]
fn next_wakeup_and_advance_catch_up_in_order() {
    let (p, mut fc) = machine(threshold_rule());
    fc.record(time(0), reply(&p, TEMPFAIL, "[TSS04]"));
    // Called late: both the suspension's end and the backoff's end fire, each at its time.
    fc.advance(time(10 * HOUR));
    assert_eq!(
        transitions(&mut fc)[1..],
        [
            tr(2 * HOUR, "suspended -> backoff", "suspension over"),
            tr(3 * HOUR, "backoff -> normal", "to_normal_after 1h elapsed"),
        ]
    );
    assert_eq!(fc.next_wakeup(), None);
}

// ---------------------------------------------------------------- config

fn invalid(value: Value) -> (String, String) {
    let e = config(value).check().expect_err("should be refused");
    (e.path, e.message)
}

fn invalid_path(value: Value) -> String {
    invalid(value).0
}

#[test]
fn the_design_example_is_valid() {
    let c = config(json!({
        "key": "receiver",
        "concurrency": { "initial": 5, "max": 20, "positive_feedback": "1/concurrency",
                         "negative_feedback": "1/concurrency", "failed_cohort_limit": 1, "dead_backoff": "5m" },
        "max_rate": "600/min",
        "errors": { "window": "1m", "threshold": 10, "count": ["connect", "timeout", "tempfail", "internal"] },
        "backoff": { "concurrency": 1, "max_rate": "60/h", "retry_after": "1h",
                     "to_normal_after": "1h", "to_normal_after_delivery": false, "recovery": "snap" },
        "suspend": { "after_backoffs": 3, "within": "6h", "duration": "2h", "max_duration": "16h" },
        "rules": [
            { "match": "\\[TSS04\\]", "action": "suspend", "duration": "2h" },
            { "match": "4\\.7\\.28", "action": "backoff", "trigger": "2/1h", "duration": "30m" },
            { "match": "RP-001", "action": "set", "duration": "30m", "set": { "concurrency": 1, "max_rate": "1/min" } }
        ],
        "overrides": { "google": { "max_rate": "300/min" } }
    }));
    assert_eq!(c.check(), Ok(()));
    assert!(Policy::new(&c).is_ok());
}

#[test]
fn defaults_round_trip_and_have_a_schema() {
    let c = FlowControlConfig::default();
    assert_eq!(config(json!({})), c);
    let text = serde_json::to_value(&c).unwrap();
    assert_eq!(config(text.clone()), c);
    assert_eq!(text["concurrency"]["dead_backoff"], json!("5m"));
    assert_eq!(
        text["errors"]["count"],
        json!(["connect", "timeout", "tempfail", "internal"])
    );
}

#[test]
fn unknown_fields_and_names_are_refused_by_serde() {
    for bad in [
        json!({ "bogus": 1 }),
        json!({ "errors": { "count": ["bounced"] } }),
        json!({ "rules": [ { "match": "x", "action": "explode" } ] }),
        json!({ "rules": [ { "match": "x", "action": "backoff", "trigger": "0/1h" } ] }),
        json!({ "rules": [ { "match": "x", "action": "backoff", "trigger": "soon" } ] }),
        json!({ "backoff": { "recovery": "slow" } }),
        json!({ "key": "mx" }),
    ] {
        assert!(
            serde_json::from_value::<FlowControlConfig>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn validation_errors_name_their_path() {
    let cases = [
        (
            json!({ "concurrency": { "max": 0, "initial": 0 } }),
            "concurrency.max",
        ),
        (
            json!({ "concurrency": { "initial": 0 } }),
            "concurrency.initial",
        ),
        (
            json!({ "concurrency": { "initial": 30 } }),
            "concurrency.initial",
        ),
        (
            json!({ "concurrency": { "dead_backoff": "0s" } }),
            "concurrency.dead_backoff",
        ),
        (json!({ "errors": { "window": "0s" } }), "errors.window"),
        (json!({ "errors": { "count": [] } }), "errors.count"),
        (
            json!({ "errors": { "threshold": 100001 } }),
            "errors.threshold",
        ),
        (
            json!({ "backoff": { "concurrency": 0 } }),
            "backoff.concurrency",
        ),
        (
            json!({ "backoff": { "to_normal_after": "0s" } }),
            "backoff.to_normal_after",
        ),
        (
            json!({ "backoff": { "recovery": "ramp", "ramp_steps": 0 } }),
            "backoff.ramp_steps",
        ),
        (
            json!({ "backoff": { "recovery": "ramp", "ramp_interval": "0s" } }),
            "backoff.ramp_interval",
        ),
        (json!({ "suspend": { "within": "0s" } }), "suspend.within"),
        (
            json!({ "suspend": { "duration": "0s" } }),
            "suspend.duration",
        ),
        (
            json!({ "suspend": { "max_duration": "1h" } }),
            "suspend.max_duration",
        ),
        (
            json!({ "rules": [ { "match": "ok", "action": "bounce" },
                            { "match": "(unclosed", "action": "bounce" } ] }),
            "rules[1].match",
        ),
        (
            json!({ "rules": [ { "match": "x", "action": "backoff", "duration": "0s" } ] }),
            "rules[0].duration",
        ),
        (
            json!({ "rules": [ { "match": "x", "action": "backoff", "trigger": "100001/h" } ] }),
            "rules[0].trigger",
        ),
        (
            json!({ "rules": [ { "match": "x", "action": "set" } ] }),
            "rules[0].set",
        ),
        (
            json!({ "rules": [ { "match": "x", "action": "set", "set": {} } ] }),
            "rules[0].set",
        ),
        (
            json!({ "rules": [ { "match": "x", "action": "set", "set": { "concurrency": 0 } } ] }),
            "rules[0].set.concurrency",
        ),
        (
            json!({ "rules": [ { "match": "x", "action": "suspend", "set": { "concurrency": 1 } } ] }),
            "rules[0].set",
        ),
    ];
    for (value, path) in cases {
        assert_eq!(invalid_path(value.clone()), path, "{value}");
    }
    let (_, message) = invalid(json!({ "concurrency": { "initial": 30 } }));
    assert_eq!(message, "initial concurrency 30 exceeds max 20");
    let (_, message) = invalid(json!({ "suspend": { "max_duration": "1h" } }));
    assert_eq!(message, "max_duration 1h is shorter than duration 2h");
}

#[test]
fn disabled_features_need_no_parameters() {
    let c = config(json!({
        "concurrency": { "failed_cohort_limit": 0, "dead_backoff": "0s" },
        "errors": { "threshold": 0, "window": "0s", "count": [] },
        "suspend": { "after_backoffs": 0, "within": "0s", "duration": "0s" },
        "rules": [ { "match": "x", "action": "ignore", "duration": "0s" } ]
    }));
    assert_eq!(c.check(), Ok(()));
}

#[test]
fn at_most_64_rules() {
    let rule = json!({ "match": "x", "action": "ignore" });
    let c = config(json!({ "rules": vec![rule.clone(); 64] }));
    assert_eq!(c.check(), Ok(()));
    assert_eq!(invalid_path(json!({ "rules": vec![rule; 65] })), "rules");
    // With 64 rules the top bit works.
    let mut rules = vec![json!({ "match": "never", "action": "ignore" }); 63];
    rules.push(json!({ "match": "last", "action": "bounce" }));
    let (p, mut fc) = machine(json!({ "rules": rules }));
    assert_eq!(p.classify("last"), ReplyMatch(1 << 63));
    assert_eq!(
        fc.record(time(0), reply(&p, TEMPFAIL, "last")),
        Verdict::Bounce { rule: Some(63) }
    );
}

#[test]
fn policy_new_refuses_what_validate_refuses() {
    let c = config(json!({ "rules": [ { "match": "[", "action": "bounce" } ] }));
    assert_eq!(Policy::new(&c).unwrap_err().path, "rules[0].match");
}

// ---------------------------------------------------------------- overrides

fn with_overrides(overrides: Value) -> FlowControlConfig {
    config(json!({
        "max_rate": "600/min",
        "backoff": { "concurrency": 2, "retry_after": "1h" },
        "overrides": overrides
    }))
}

#[test]
fn override_changes_only_what_it_names() {
    let c = with_overrides(json!({
        "google": { "max_rate": "300/min", "backoff": { "retry_after": "2h" } }
    }));
    assert_eq!(c.check(), Ok(()));
    let google = c.effective("google").unwrap();
    let mut expected = c.clone();
    expected.overrides.clear();
    assert_eq!(c.effective("yahoo").unwrap(), expected);
    expected.max_rate = Some(Rate::new(300, Span::from_millis(MINUTE)));
    expected.backoff.retry_after = Span::from_hours(2);
    assert_eq!(google, expected);
    assert_eq!(google.backoff.concurrency, 2);
}

#[test]
fn override_null_removes_an_optional_limit() {
    let c = with_overrides(json!({ "internal": { "max_rate": null } }));
    assert_eq!(c.effective("internal").unwrap().max_rate, None);
}

#[test]
fn bad_overrides_are_reported_at_their_path() {
    let cases = [
        (
            json!({ "google": { "max_rate": "fast" } }),
            "overrides.google.max_rate",
        ),
        (
            json!({ "google": { "backoff": { "bogus": 1 } } }),
            "overrides.google.backoff.bogus",
        ),
        (
            json!({ "google": { "backoff": { "retry_after": 5 } } }),
            "overrides.google.backoff.retry_after",
        ),
        (
            json!({ "google": { "concurrency": { "initial": 50 } } }),
            "overrides.google.concurrency.initial",
        ),
        (
            json!({ "google": { "rules": [ { "match": "(", "action": "bounce" } ] } }),
            "overrides.google.rules[0].match",
        ),
        (
            json!({ "google": { "key": "domain" } }),
            "overrides.google.key",
        ),
        (
            json!({ "google": { "overrides": {} } }),
            "overrides.google.overrides",
        ),
        (json!({ "google": 5 }), "overrides.google"),
    ];
    for (overrides, path) in cases {
        let e = with_overrides(overrides.clone()).check().unwrap_err();
        assert_eq!(e.path, path, "{overrides}: {}", e.message);
    }
}

#[test]
fn display_names() {
    let classes = [
        OutcomeClass::Delivered,
        OutcomeClass::Tempfail,
        OutcomeClass::Permfail,
        OutcomeClass::Connect,
        OutcomeClass::Timeout,
        OutcomeClass::Internal,
    ];
    let names: Vec<String> = classes.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "delivered",
            "tempfail",
            "permfail",
            "connect",
            "timeout",
            "internal"
        ]
    );
    for (c, name) in classes.iter().zip(&names) {
        assert_eq!(serde_json::to_value(c).unwrap(), json!(name));
    }
    assert_eq!(State::Suspended.to_string(), "suspended");
    assert_eq!(
        Reason::Errors {
            count: 10,
            window: Span::MINUTE
        }
        .to_string(),
        "10 errors within 1m"
    );
}

#[test]
fn threshold_trigger_keeps_firing_while_n_matches_are_within_the_period() {
    let (p, mut fc) = machine(threshold_rule());
    fc.record(time(0), reply(&p, TEMPFAIL, "4.7.28"));
    fc.record(time(10 * MINUTE), reply(&p, TEMPFAIL, "4.7.28"));
    assert_eq!(fc.next_wakeup(), Some(time(40 * MINUTE)));
    // The matches at 10m and 20m are 2 within 1h: the rule fires again, 30m from now.
    fc.record(time(20 * MINUTE), reply(&p, TEMPFAIL, "4.7.28"));
    assert_eq!(fc.next_wakeup(), Some(time(50 * MINUTE)));
    // Bits of rules the policy does not have are ignored.
    fc.record(
        time(21 * MINUTE),
        Attempt {
            matched: ReplyMatch(1 << 40),
            ..attempt(TEMPFAIL)
        },
    );
    assert_eq!(fc.next_wakeup(), Some(time(50 * MINUTE)));
}

/// A large sender has a million destinations, most of which never leave normal: what
/// only trouble needs is boxed (`Trouble`), and this keeps it so.
#[test]
fn a_destination_that_never_left_normal_stays_small() {
    let size = std::mem::size_of::<FlowControl>();
    assert!(size <= 216, "FlowControl is {size} bytes");
}
