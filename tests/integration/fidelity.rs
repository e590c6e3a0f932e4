//! Fidelity: the model reproduces what real systems measured (docs/FIDELITY.md has the
//! table of references, their numbers and ours), and real settings mean in it what they
//! mean in the world.

use mtasim::scenario::{self, Override};
use mtasim::sim::{RunResult, simulate};

fn run(text: &str, overrides: &[&str]) -> RunResult {
    let overrides: Vec<Override> = overrides.iter().map(|o| o.parse().unwrap()).collect();
    let scenario = scenario::load("fidelity", text, &overrides).unwrap_or_else(|e| panic!("{e}"));
    simulate(&scenario, Default::default()).unwrap_or_else(|e| panic!("{e}"))
}

const SCHEDULER_README: &str = include_str!("../../scenarios/postfix-scheduler-readme.json");

/// Percent of the 1,000 first deliveries deferred, with this feedback and rounding.
fn deferred_percent(feedback: &str, rounding: &str) -> f64 {
    let feedback = format!("\"{feedback}\"");
    let result = run(
        SCHEDULER_README,
        &[
            &format!("flow_control.concurrency.positive_feedback={feedback}"),
            &format!("flow_control.concurrency.negative_feedback={feedback}"),
            &format!("flow_control.concurrency.rounding={rounding}"),
        ],
    );
    let totals = &result.summary.totals;
    assert_eq!(totals.injected, 1000);
    assert_eq!(totals.suspensions, 0, "the destination never dies");
    100.0 * totals.deferrals as f64 / totals.injected as f64
}

/// SCHEDULER_README, "Impact of active server concurrency limiter": 421 above 5 sessions,
/// initial concurrency 5, limit 20, about 2 s per delivery, no connection caching. The
/// table was measured with the 2007 feedback arithmetic (no ±feedback/2 slack).
#[test]
fn postfix_scheduler_readme_table_with_the_2007_arithmetic() {
    for (feedback, table) in [
        ("1/concurrency", 16.5),
        ("1/sqrt(concurrency)", 24.5),
        ("1", 49.7),
    ] {
        let ours = deferred_percent(feedback, "none");
        assert!(
            (ours - table).abs() <= 1.0,
            "{feedback}: {ours:.1} % deferred, the table says {table} %"
        );
    }
}

/// Released Postfix (the default `half` rounding) defers less with +-1 feedback: the first
/// 421 after an increase drops the window by 2 (the slack overshoots), so the window climbs
/// 4, 5, 6 and fails once per two successes — a third — instead of once per success.
/// With 1/N feedback a whole cohort of successes is needed either way: 1/6.
#[test]
fn released_postfix_defers_a_third_with_plus_minus_one_and_a_sixth_with_one_over_n() {
    let plus_minus_one = deferred_percent("1", "half");
    assert!(
        (plus_minus_one - 100.0 / 3.0).abs() <= 1.0,
        "+-1: {plus_minus_one:.1} %"
    );
    let one_over_n = deferred_percent("1/concurrency", "half");
    assert!(
        (one_over_n - 100.0 / 6.0).abs() <= 1.0,
        "1/N: {one_over_n:.1} %"
    );
}

const SCHEDULER_TIMEOUTS: &str = include_str!("../../scenarios/postfix-scheduler-timeouts.json");

/// What one run of the timeout set-up gives: percent of the first deliveries deferred, the
/// deferrals by connect and by greeting timeout, and the client's mean window while mail
/// was queued or in flight (sampled every 10 s).
struct TimeoutRun {
    deferred_percent: f64,
    deferrals: u64,
    connect_timeouts: u64,
    greeting_timeouts: u64,
    mean_window: f64,
}

fn timeout_run(feedback: &str, overrides: &[&str]) -> TimeoutRun {
    let positive = format!("flow_control.concurrency.positive_feedback=\"{feedback}\"");
    let negative = format!("flow_control.concurrency.negative_feedback=\"{feedback}\"");
    let mut all = vec![positive.as_str(), negative.as_str()];
    all.extend_from_slice(overrides);
    let result = run(SCHEDULER_TIMEOUTS, &all);
    let totals = &result.summary.totals;
    assert_eq!(totals.suspensions, 0, "the destination never dies");
    let by = |name: &str| {
        let text = mtasim::replies::find(name).unwrap().text;
        totals.deferrals_by_reply.get(text).copied().unwrap_or(0)
    };
    let busy = result
        .destinations
        .iter()
        .position(|d| d == "busy")
        .unwrap() as u32;
    let windows: Vec<f64> = result
        .samples
        .iter()
        .filter(|s| s.destination == Some(busy) && s.ready + s.in_flight > 0)
        .filter_map(|s| s.concurrency_limit.map(f64::from))
        .collect();
    TimeoutRun {
        deferred_percent: 100.0 * totals.deferrals as f64 / totals.injected as f64,
        deferrals: totals.deferrals,
        connect_timeouts: by("connection-timeout"),
        greeting_timeouts: by("greeting-timeout"),
        mean_window: windows.iter().sum::<f64>() / windows.len() as f64,
    }
}

/// SCHEDULER_README, "Impact of the 30s SMTP connect timeout" (FreeBSD server, no
/// connection caching): 9.9 / 10.4 / 10.1 % deferred, every one a connect timeout, the
/// window averaging 19.4 / 19.6 / 19.5. The server's queue holds 6 (listen backlog 5, and
/// FreeBSD takes a SYN while at most 5 wait); what the feedback does hardly matters.
#[test]
fn postfix_scheduler_readme_connect_timeout_table() {
    for (feedback, table, window) in [
        ("1/concurrency", 9.9, 19.4),
        ("1/sqrt(concurrency)", 10.4, 19.6),
        ("1", 10.1, 19.5),
    ] {
        let ours = timeout_run(feedback, &[]);
        assert!(
            (ours.deferred_percent - table).abs() <= 1.0,
            "{feedback}: {:.1} % deferred, the table says {table} %",
            ours.deferred_percent
        );
        assert_eq!(
            (ours.connect_timeouts, ours.greeting_timeouts),
            (ours.deferrals, 0),
            "{feedback}: every deferral a connect timeout, none at the greeting"
        );
        assert!(
            (ours.mean_window - window).abs() <= 0.5,
            "{feedback}: mean window {:.2}, the table says {window}",
            ours.mean_window
        );
    }
}

/// SCHEDULER_README, "Impact of the 300s SMTP greeting timeout" (Linux server, 10 times the
/// deliveries): 1.16 / 1.21 / 1.18 % deferred, at the greeting timeout. Linux completes the
/// handshake of a connection its full accept queue (also 6) cannot take, so the client
/// waits 300 s for a greeting that never comes. mtasim has no such half-accepted
/// connection: one beyond the backlog is not answered at all. A silent connection that
/// holds the client's slot as long (`connect_timeout` 5m) is the stand-in; it is counted as
/// a connect timeout, and gives the table's share because the share is set by how long a
/// failed attempt holds a slot (the README's own explanation of the factor 10).
#[test]
fn postfix_scheduler_readme_greeting_timeout_table_with_a_stand_in() {
    let linux = [
        "mta.connect_timeout=5m",
        "traffic.0.messages=10000",
        "duration=2h",
        "mta.retry.intervals=[\"5h\"]",
    ];
    for (feedback, table, window) in [
        ("1/concurrency", 1.16, 19.8),
        ("1/sqrt(concurrency)", 1.21, 19.9),
        ("1", 1.18, 20.0),
    ] {
        let ours = timeout_run(feedback, &linux);
        assert!(
            (ours.deferred_percent - table).abs() <= 0.15,
            "{feedback}: {:.2} % deferred, the table says {table} %",
            ours.deferred_percent
        );
        assert!(
            (ours.mean_window - window).abs() <= 0.25,
            "{feedback}: mean window {:.2}, the table says {window}",
            ours.mean_window
        );
    }
}

/// 100 messages at once to a receiver that takes one transaction per 100 ms (a token bucket
/// of one) and defers the rest; retries from 100 ms, doubling, capped at 10 s; flow control
/// off. The mail version of the contention in "Exponential Backoff And Jitter".
const CONTENTION: &str = r#"{
  "name": "contention", "seed": 1, "duration": "1h",
  "mta": { "max_connections": 1000, "max_deliveries_per_connection": 1,
           "retry": { "schedule": "exponential", "initial": "100ms", "factor": 2.0, "max": "10s",
                      "jitter": "none" } },
  "flow_control": { "concurrency": { "initial": 1000, "max": 1000, "failed_cohort_limit": 0 },
                    "errors": { "threshold": 0 }, "suspend": { "after_backoffs": 0 } },
  "receivers": [ { "name": "contended", "domains": ["contended.example"],
                   "latency": { "uniform": { "min": "8ms", "max": "12ms" } },
                   "connect_latency": { "uniform": { "min": "8ms", "max": "12ms" } },
                   "rate_limit": { "rate": "10/s", "burst": 1 } } ],
  "traffic": [ { "messages": 100, "over": "0s" } ]
}"#;

/// Mean attempts and mean time to deliver the last message (s) over seeds 1 to 10.
fn contention(jitter: &str) -> (f64, f64) {
    let (mut attempts, mut completion) = (0.0, 0.0);
    for seed in 1..=10 {
        let result = run(
            CONTENTION,
            &[
                &format!("seed={seed}"),
                &format!("mta.retry.jitter={jitter}"),
            ],
        );
        let t = &result.summary.totals;
        assert_eq!(t.delivered, 100, "{jitter}, seed {seed}");
        attempts += t.attempts as f64 / 10.0;
        completion += t.latency_s.max / 10.0;
    }
    (attempts, completion)
}

/// "Exponential Backoff And Jitter": without jitter the clients retry in lockstep, one
/// wins each round, so N clients take N rounds and N(N+1)/2 calls; any jitter cuts both
/// work and time, and equal jitter is the slowest of the jittered schedules. (The post also
/// finds equal jitter doing slightly more work than full; here the three are within 2 %.)
#[test]
fn jitter_breaks_the_lockstep_of_contending_retries() {
    let (lockstep, lockstep_time) = contention("none");
    assert_eq!(lockstep, 5050.0, "one delivery per round of retries");
    let jittered: Vec<(f64, f64)> = ["full", "equal", "decorrelated"]
        .iter()
        .map(|j| contention(j))
        .collect();
    for &(attempts, time) in &jittered {
        assert!(attempts * 5.0 < lockstep, "{attempts} attempts");
        assert!(
            time * 20.0 < lockstep_time,
            "{time} s against {lockstep_time} s"
        );
    }
    let [full, equal, decorrelated] = [jittered[0], jittered[1], jittered[2]];
    assert!(
        equal.1 > full.1 && equal.1 > decorrelated.1,
        "equal jitter completes last: {jittered:?}"
    );
}

/// A receiver that blocks everything (score below block_below from the start) with its own
/// block reply, and recovers 0.2/h whatever the sender does (no penalties): the block lifts
/// once the score is above 0.4, just after 1.5 h.
fn blocking(block_reply: &str, max_age: &str) -> String {
    format!(
        r#"{{
  "name": "blocking", "seed": 3, "duration": "6h",
  "mta": {{ "retry": {{ "schedule": "intervals", "intervals": ["30m"], "jitter": "none",
                         "max_age": "{max_age}" }} }},
  "flow_control": {{ "errors": {{ "threshold": 0 }}, "suspend": {{ "after_backoffs": 0 }} }},
  "receivers": [ {{ "name": "yahoo", "domains": ["yahoo.com"],
    "reputation": {{ "initial": 0.1, "baseline": 0.9, "recovery_per_hour": 0.2,
                     "penalty_per_ignored_deferral": 0,
                     "throttle_below": 0.3, "block_below": 0.2, "unblock_above": 0.4,
                     "block_reply": "{block_reply}" }} }} ],
  "traffic": [ {{ "messages": 100, "over": "1m" }} ]
}}"#
    )
}

/// Yahoo's TS03 is a 421: blocked mail is deferred and retried, not bounced, and expires if
/// the block outlasts it; the summary counts the block and names why the mail expired.
#[test]
fn a_4xx_block_defers_until_the_block_lifts_or_the_mail_expires() {
    let ts03 = mtasim::replies::find("yahoo-ts03").unwrap().text;
    let lifted = run(&blocking("yahoo-ts03", "5d"), &[]);
    let t = &lifted.summary.totals;
    assert_eq!((t.blocks, t.bounced, t.expired), (1, 0, 0));
    assert_eq!(t.delivered, 100);
    assert_eq!(
        t.deferrals_by_reply.get(ts03),
        Some(&(3 * 100)),
        "deferred at 0, 30m and 1h; delivered at 1h30, just above 0.4"
    );
    // Expiring after 1 h, before the block lifts: every message expires, by TS03.
    let expired = run(&blocking("yahoo-ts03", "1h"), &[]);
    let t = &expired.summary.totals;
    assert_eq!(
        (t.blocks, t.delivered, t.bounced, t.expired),
        (1, 0, 0, 100)
    );
    assert_eq!(t.expired_by_reply.get(ts03), Some(&100));
    // The same block as a 5xx bounces at once.
    let bounced = run(&blocking("microsoft-s3150", "5d"), &[]);
    let t = &bounced.summary.totals;
    assert_eq!((t.bounced, t.deferrals), (100, 0));
    assert_eq!(t.bounces_by_reason.get("blocked"), Some(&100));
}

const PER_CONNECTION: &str = r#"{
  "name": "per-connection", "seed": 5, "duration": "2h",
  "mta": { "max_deliveries_per_connection": 100 },
  "flow_control": { "errors": { "window": "1m", "threshold": 10 } },
  "receivers": [ { "name": "yahoo", "domains": ["yahoo.com"], "latency": "200ms",
                   "max_messages_per_connection": 10 } ],
  "traffic": [ { "messages": 1000, "over": "1s" } ]
}"#;

/// "421 Max message per connection reached" ends a session, not a delivery: by default
/// the MTA reconnects and goes on, as KumoMTA and PowerMTA do, and all 1,000 are delivered
/// at once; as a tempfail (some Postfix set-ups) the eleventh message of every session is
/// deferred, the errors put a healthy receiver into backoff, and two hours later most of
/// the mail is still queued.
#[test]
fn max_messages_per_connection_is_a_session_boundary_not_a_failure() {
    let reconnect = run(PER_CONNECTION, &[]);
    let t = &reconnect.summary.totals;
    assert_eq!(
        (t.delivered, t.attempts, t.deferrals, t.backoff_entries),
        (1000, 1000, 0, 0)
    );
    let tempfail = run(PER_CONNECTION, &["mta.on_connection_limit_reply=tempfail"]);
    let t = &tempfail.summary.totals;
    let reply = mtasim::replies::find("yahoo-max-per-connection")
        .unwrap()
        .text;
    assert!(
        t.deferrals >= 10,
        "{} deferrals: at least the error threshold",
        t.deferrals
    );
    assert_eq!(t.deferrals_by_reply.get(reply), Some(&t.deferrals));
    assert_eq!(t.attempts, t.delivered + t.deferrals);
    assert!(
        t.backoff_entries >= 1,
        "a healthy receiver put into backoff"
    );
    assert!(t.delivered < 500, "{} delivered in 2 h", t.delivered);
}
