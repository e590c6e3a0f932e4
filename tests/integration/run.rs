//! Whole runs: conservation, determinism, expiry, the MTA's limits.

use mtasim::output;
use mtasim::scenario::{self, CompiledScenario};
use mtasim::sim::{RunResult, simulate};

fn scenario(text: &str) -> CompiledScenario {
    scenario::load("test", text, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn run(text: &str) -> RunResult {
    simulate(&scenario(text), Default::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// The run's three data files as bytes.
fn files(result: &RunResult) -> (String, Vec<u8>, Vec<u8>) {
    let summary = serde_json::to_string_pretty(&result.summary).unwrap();
    let mut timeseries = Vec::new();
    output::write_timeseries(result, &mut timeseries).unwrap();
    let mut transitions = Vec::new();
    output::write_transitions(result, &mut transitions).unwrap();
    (summary, timeseries, transitions)
}

const SMALL: &str = r#"{
  "name": "small", "seed": 3, "duration": "6h",
  "mta": { "retry": { "initial": "5m", "max": "30m", "jitter": "full", "max_age": "2h" } },
  "flow_control": { "errors": { "threshold": 0 } },
  "receivers": [
    { "name": "flaky", "domains": ["flaky.example", "flaky2.example"], "share": 2,
      "transient_errors": { "probability": 0.3 }, "unknown_user_rate": 0.05 },
    { "name": "fine", "domains": ["fine.example"], "share": 1 }
  ],
  "traffic": [ { "messages": 3000, "over": "30m" } ]
}"#;

#[test]
fn every_message_is_accounted_for() {
    let result = run(SMALL);
    let t = &result.summary.totals;
    assert_eq!(t.injected, 3000);
    assert_eq!(t.injected, t.delivered + t.bounced + t.expired + t.queued);
    for (name, d) in &result.summary.destinations {
        assert_eq!(
            d.injected,
            d.delivered + d.bounced + d.expired + d.queued,
            "{name}"
        );
    }
    let sum: u64 = result
        .summary
        .destinations
        .values()
        .map(|d| d.injected)
        .sum();
    assert_eq!(sum, 3000);
    // Shares 2:1 within a few standard deviations (sd of the binomial ~ 26).
    let flaky = result.summary.destinations["flaky"].injected as i64;
    assert!((flaky - 2000).abs() < 110, "flaky got {flaky}");
}

#[test]
fn attempts_and_outcomes_add_up() {
    let result = run(SMALL);
    let t = &result.summary.totals;
    // Every attempt ends in a delivery, a bounce, or a deferral (expiry follows a deferral).
    assert_eq!(t.attempts, t.delivered + t.bounced + t.deferrals);
    let fine = &result.summary.destinations["fine"];
    assert_eq!(fine.deferrals, 0);
    assert_eq!(fine.delivered, fine.injected);
    assert_eq!(fine.attempts, fine.injected);
    // Unknown users bounce with their own reason, about 5% of flaky's recipients.
    let flaky = &result.summary.destinations["flaky"];
    let unknown = flaky.bounces_by_reason["user_unknown"] as f64 / flaky.injected as f64;
    assert!((unknown - 0.05).abs() < 0.015, "unknown share {unknown}");
}

#[test]
fn time_series_intervals_sum_to_the_totals() {
    let result = run(SMALL);
    let total_rows: Vec<_> = result
        .samples
        .iter()
        .filter(|s| s.destination.is_none())
        .collect();
    assert_eq!(
        total_rows.len(),
        6 * 60 + 1,
        "a sample every minute from 0 to 6h"
    );
    let delivered: u64 = total_rows.iter().map(|s| s.counts.delivered).sum();
    let attempts: u64 = total_rows.iter().map(|s| s.counts.attempts).sum();
    let t = &result.summary.totals;
    assert_eq!(delivered, t.delivered);
    assert_eq!(attempts, t.attempts);
}

/// The run ends 30 s after the last whole-minute sample, with deliveries in those 30 s
/// and at the very end: the time series must still hold every one of them.
#[test]
fn time_series_count_the_final_partial_interval() {
    let result = run(r#"{
      "name": "tail", "duration": "90s", "sample_every": "1m",
      "receivers": [ { "name": "r", "domains": ["r.example"], "latency": "1s" } ],
      "traffic": [ { "messages": 91, "over": "90s" } ]
    }"#);
    let total_rows: Vec<_> = result
        .samples
        .iter()
        .filter(|s| s.destination.is_none())
        .collect();
    let times: Vec<_> = total_rows.iter().map(|s| s.time.as_millis()).collect();
    assert_eq!(times, vec![0, 60_000, 90_000], "a last sample at the end");
    let t = &result.summary.totals;
    let delivered: u64 = total_rows.iter().map(|s| s.counts.delivered).sum();
    let attempts: u64 = total_rows.iter().map(|s| s.counts.attempts).sum();
    assert_eq!(delivered, t.delivered);
    assert_eq!(attempts, t.attempts);
    let last = total_rows.last().unwrap();
    assert_eq!(last.ready + last.waiting + last.in_flight, t.queued);
}

#[test]
fn the_same_seed_gives_identical_outputs() {
    let a = files(&run(SMALL));
    let b = files(&run(SMALL));
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
}

#[test]
fn a_different_seed_gives_different_outputs() {
    let a = files(&run(SMALL));
    let b = files(&run(&SMALL.replace("\"seed\": 3", "\"seed\": 4")));
    assert_ne!(a.0, b.0);
}

#[test]
fn adding_a_receiver_does_not_change_the_others_draws() {
    // The new receiver has no traffic share, so traffic is unchanged; "flaky" must see
    // exactly the same outcomes.
    let more = SMALL.replace(
        r#"{ "name": "fine", "domains": ["fine.example"], "share": 1 }"#,
        r#"{ "name": "fine", "domains": ["fine.example"], "share": 1 },
           { "name": "idle", "domains": ["idle.example"], "share": 0, "transient_errors": { "probability": 0.5 } }"#,
    );
    let a = run(SMALL);
    let b = run(&more);
    assert_eq!(
        a.summary.destinations["flaky"],
        b.summary.destinations["flaky"]
    );
}

#[test]
fn messages_expire_at_max_age() {
    // Every attempt defers; retries every 10 minutes; messages expire after 1 hour.
    let result = run(r#"{
      "name": "expiry", "duration": "3h",
      "mta": { "retry": { "schedule": "intervals", "intervals": ["10m"], "jitter": "none", "max_age": "1h" } },
      "flow_control": { "errors": { "threshold": 0 }, "concurrency": { "failed_cohort_limit": 0 } },
      "receivers": [ { "name": "down", "domains": ["down.example"], "share": 1,
                       "transient_errors": { "probability": 1.0 } } ],
      "traffic": [ { "messages": 100, "over": "0s" } ]
    }"#);
    let t = &result.summary.totals;
    assert_eq!(t.expired, 100);
    assert_eq!(t.delivered + t.bounced + t.queued, 0);
    // Attempts at 0, 10, ..., 50 minutes; the one at 60 minutes finds the message expired.
    assert_eq!(t.attempts, 600);
}

/// 100 messages to a receiver that defers everything, retried at fixed intervals without
/// jitter (every 10 minutes unless `retry` says otherwise), run for `duration`.
fn always_deferred(duration: &str, retry: &str) -> RunResult {
    run(&format!(
        r#"{{
      "name": "expiry", "duration": "{duration}",
      "mta": {{ "retry": {{ "schedule": "intervals", "jitter": "none", {retry} }} }},
      "flow_control": {{ "errors": {{ "threshold": 0 }}, "concurrency": {{ "failed_cohort_limit": 0 }} }},
      "receivers": [ {{ "name": "down", "domains": ["down.example"], "share": 1,
                       "transient_errors": {{ "probability": 1.0 }} }} ],
      "traffic": [ {{ "messages": 100, "over": "0s" }} ]
    }}"#
    ))
}

#[test]
fn a_message_expires_when_its_next_retry_would_pass_max_age() {
    // Attempts at 0, 10, 20, 30, 40 minutes. KumoMTA's rule expires each message at the
    // 40-minute deferral (its next retry, at 50, would pass 45); Postfix's keeps it waiting
    // until its retry at 50 finds it too old.
    let before = always_deferred(
        "45m",
        r#""intervals": ["10m"], "max_age": "45m", "expire": "before_next_retry""#,
    );
    let t = &before.summary.totals;
    assert_eq!((t.expired, t.queued, t.attempts), (100, 0, 500));
    let after = always_deferred("45m", r#""intervals": ["10m"], "max_age": "45m""#);
    let t = &after.summary.totals;
    assert_eq!((t.expired, t.queued, t.attempts), (0, 100, 500));
    let after = always_deferred(
        "55m",
        r#""intervals": ["10m"], "max_age": "45m", "expire": "after_max_age""#,
    );
    let t = &after.summary.totals;
    assert_eq!((t.expired, t.queued, t.attempts), (100, 0, 500));
}

#[test]
fn retries_wait_for_the_next_queue_run() {
    // Due every 7 minutes, but the deferred queue is scanned every 5: the retries go out at
    // 10, 20, 30, 40 and 50 minutes (without queue runs: 7, 14, ..., 56).
    let runs = always_deferred("59m", r#""intervals": ["7m"], "queue_run_delay": "5m""#);
    assert_eq!(runs.summary.totals.attempts, 600);
    let due = always_deferred("59m", r#""intervals": ["7m"]"#);
    assert_eq!(due.summary.totals.attempts, 900);
}

#[test]
fn the_connection_cap_holds_over_all_destinations() {
    let result = run(r#"{
      "name": "cap", "duration": "1h",
      "mta": { "max_connections": 3 },
      "flow_control": { "concurrency": { "initial": 10, "max": 10 } },
      "receivers": [
        { "name": "a", "domains": ["a.example"], "share": 1, "latency": "1s" },
        { "name": "b", "domains": ["b.example"], "share": 1, "latency": "1s" }
      ],
      "traffic": [ { "messages": 1000, "over": "0s" } ]
    }"#);
    for sample in result.samples.iter().filter(|s| s.destination.is_none()) {
        assert!(
            sample.in_flight <= 3,
            "{} in flight at {}",
            sample.in_flight,
            sample.time.as_millis()
        );
    }
    // Three sessions delivering one message a second each, connect latency 100 ms.
    let t = &result.summary.totals;
    assert_eq!(t.delivered, 1000);
    assert!(
        t.latency_s.max > 320.0 && t.latency_s.max < 345.0,
        "max latency {}",
        t.latency_s.max
    );
}

#[test]
fn internal_errors_fail_attempts_inside_their_window_only() {
    let result = run(r#"{
      "name": "internal", "duration": "2h",
      "mta": { "internal_errors": { "probability": 0, "windows": [ { "from": "10m", "to": "20m", "probability": 1 } ] },
               "retry": { "schedule": "intervals", "intervals": ["30m"], "jitter": "none" } },
      "flow_control": { "errors": { "threshold": 0 } },
      "receivers": [ { "name": "a", "domains": ["a.example"], "share": 1 } ],
      "traffic": [ { "messages": 600, "over": "30m" } ]
    }"#);
    let t = &result.summary.totals;
    assert_eq!(t.delivered, 600);
    // One message every 3 s; those injected in [10m, 20m) fail once: 200 of them.
    assert_eq!(t.deferrals, 200);
    assert_eq!(t.attempts, 800);
}
