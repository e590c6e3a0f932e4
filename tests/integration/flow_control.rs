//! Flow control driven by the simulation: a failing receiver goes into backoff, then
//! suspension, and comes back; its neighbours never notice.

use mtasim::flow_control::Policy;
use mtasim::flow_control::State;
use mtasim::flow_control::config::FlowControlConfig;
use mtasim::replies::{ReplyBook, ReplyKind, catalogue};
use mtasim::scenario;
use mtasim::sim::{RunResult, simulate};

/// "broken" answers every transaction with a 451 from 1h to 4h; "steady" always accepts.
const OUTAGE: &str = r#"{
  "name": "outage", "seed": 11, "duration": "12h",
  "mta": { "retry": { "schedule": "exponential", "initial": "5m", "max": "30m", "jitter": "full" } },
  "flow_control": {
    "errors": { "window": "1m", "threshold": 10 },
    "backoff": { "concurrency": 1, "max_rate": "60/h", "retry_after": "15m", "to_normal_after": "20m" },
    "suspend": { "after_backoffs": 3, "within": "2h", "duration": "30m", "max_duration": "1h" }
  },
  "receivers": [
    { "name": "broken", "domains": ["broken.example"], "share": 1,
      "outages": [ { "from": "1h", "to": "4h", "mode": "tempfail" } ] },
    { "name": "steady", "domains": ["steady.example"], "share": 1 }
  ],
  "traffic": [ { "messages": 20000, "over": "6h" } ]
}"#;

fn run(text: &str) -> RunResult {
    let scenario = scenario::load("outage", text, &[]).unwrap_or_else(|e| panic!("{e}"));
    simulate(&scenario, Default::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn transitions_of(result: &RunResult, name: &str) -> Vec<(f64, State, State)> {
    result
        .transitions
        .iter()
        .filter(|t| t.destination == name)
        .map(|t| (t.time.as_millis() as f64 / 3_600_000.0, t.from, t.to))
        .collect()
}

#[test]
fn a_failing_receiver_backs_off_escalates_and_recovers() {
    let result = run(OUTAGE);
    let broken = transitions_of(&result, "broken");
    let (first_at, from, to) = broken[0];
    assert_eq!((from, to), (State::Normal, State::Backoff));
    assert!(
        (1.0..1.05).contains(&first_at),
        "backoff within minutes of the outage: {first_at} h"
    );
    let suspended_at = broken
        .iter()
        .find(|t| t.2 == State::Suspended)
        .expect("escalates to suspension")
        .0;
    assert!(
        suspended_at < 4.0,
        "suspended during the outage, at {suspended_at} h"
    );
    // After the outage it comes back to normal and stays there.
    let (last_at, _, last) = *broken.last().unwrap();
    assert_eq!(last, State::Normal);
    assert!(
        last_at > 4.0 && last_at < 6.0,
        "back to normal at {last_at} h"
    );

    let summary = &result.summary.destinations["broken"];
    assert!(
        summary.suspensions >= 1 && summary.backoff_entries >= 2,
        "{summary:?}"
    );
    assert!(summary.dfc_holds > 0 && summary.dfc_held_messages > 0);
    assert_eq!(summary.queued, 0, "its queue drained by the end");
    assert_eq!(summary.delivered + summary.bounced, summary.injected);
    assert!(summary.time_in_state_s.suspended >= 1800.0);
}

#[test]
fn the_neighbour_never_leaves_normal() {
    let result = run(OUTAGE);
    assert!(transitions_of(&result, "steady").is_empty());
    let steady = &result.summary.destinations["steady"];
    assert_eq!(steady.deferrals, 0);
    assert_eq!(steady.dfc_holds, 0);
    assert_eq!(steady.time_in_state_s.normal, 12.0 * 3600.0);
    // Its latency is just the session: no queueing behind the broken receiver.
    assert!(steady.latency_s.p99 < 2.0, "p99 {}", steady.latency_s.p99);
}

#[test]
fn time_series_shows_the_state_and_the_backoff_limits() {
    let result = run(OUTAGE);
    let broken = result
        .destinations
        .iter()
        .position(|d| d == "broken")
        .unwrap() as u32;
    let at = |hours: f64| {
        result
            .samples
            .iter()
            .find(|s| {
                s.destination == Some(broken) && s.time.as_millis() as f64 >= hours * 3_600_000.0
            })
            .unwrap()
    };
    assert_eq!(at(0.5).state, Some(State::Normal));
    let in_outage: Vec<_> = result
        .samples
        .iter()
        .filter(|s| {
            s.destination == Some(broken)
                && (1.1..4.0).contains(&(s.time.as_millis() as f64 / 3_600_000.0))
        })
        .collect();
    assert!(in_outage.iter().all(|s| s.state != Some(State::Normal)));
    assert!(
        in_outage
            .iter()
            .any(|s| s.state == Some(State::Suspended) && s.concurrency_limit == Some(0))
    );
    let backoff = in_outage
        .iter()
        .find(|s| s.state == Some(State::Backoff))
        .unwrap();
    assert_eq!(backoff.concurrency_limit, Some(1));
    assert_eq!(backoff.rate_limit_per_hour, Some(60.0));
    // The queue grows during the outage and is empty at the end.
    assert!(at(3.9).ready + at(3.9).waiting > 1000);
    assert_eq!(at(12.0).ready + at(12.0).waiting + at(12.0).in_flight, 0);
}

#[test]
fn catalogue_replies_have_their_class_and_are_matched_by_rules() {
    let mut book = ReplyBook::default();
    for entry in catalogue() {
        let id = book.intern(entry.name).unwrap();
        let reply = book.get(id);
        let expected = match entry.code / 100 {
            2 => ReplyKind::Accepted,
            4 => ReplyKind::Temporary,
            _ => ReplyKind::Permanent,
        };
        assert_eq!(reply.kind(), expected, "{}", entry.name);
    }
    let permanent: Vec<_> = ["microsoft-s3150", "user-unknown", "generic-block"]
        .iter()
        .map(|name| {
            let id = book.intern(name).unwrap();
            book.get(id).kind()
        })
        .collect();
    assert!(permanent.iter().all(|k| *k == ReplyKind::Permanent));

    let config: FlowControlConfig = serde_json::from_str(
        r#"{ "rules": [
            { "match": "\\[TSS04\\]", "action": "suspend", "duration": "2h" },
            { "match": "4\\.7\\.28", "action": "backoff", "trigger": "2/1h", "duration": "30m" },
            { "match": "4\\.7\\.650", "action": "set", "duration": "1h", "set": { "max_rate": "1/min" } },
            { "match": "S3150", "action": "suspend", "duration": "4h" },
            { "match": "\\[TS0[12]\\]", "action": "backoff" } ] }"#,
    )
    .unwrap();
    let policy = Policy::new(&config).unwrap();
    let mut matched = |name: &str| {
        let id = book.intern(name).unwrap();
        let text = &book.get(id).text;
        (0..5)
            .filter(|&i| policy.classify(text).contains(i))
            .collect::<Vec<_>>()
    };
    assert_eq!(matched("yahoo-tss04"), vec![0]);
    assert_eq!(matched("gmail-4.7.28"), vec![1]);
    assert_eq!(matched("microsoft-4.7.650"), vec![2]);
    assert_eq!(matched("microsoft-s3150"), vec![3]);
    assert_eq!(matched("yahoo-ts01"), vec![4]);
    assert_eq!(matched("yahoo-ts02"), vec![4]);
    assert_eq!(matched("yahoo-ts03"), Vec::<usize>::new());
    assert_eq!(matched("greylist"), Vec::<usize>::new());
}

/// 100 messages at once to a receiver that takes 1 s a message, with a window that starts
/// at 1 and grows by 1 a delivery up to 4 (Postfix's growth brake: below in-flight + 1).
const RAMP: &str = r#"{
  "name": "ramp", "seed": 1, "duration": "10m",
  "flow_control": {
    "concurrency": { "initial": 1, "max": 4, "positive_feedback": "1", "negative_feedback": "1" },
    "errors": { "window": "1m", "threshold": 0 }
  },
  "receivers": [
    { "name": "one", "domains": ["one.example"], "share": 1,
      "latency": "1s", "connect_latency": "0ms" }
  ],
  "traffic": [ { "messages": 100, "over": "0s" } ]
}"#;

/// A delivery that widens the window opens a session for the waiting mail at once, as
/// Postfix's qmgr starts a delivery agent when one finishes and the window allows. The
/// window is 2 after the first delivery (1 s), 4 after the next two (2 s); four sessions
/// then take the other 97 messages in 25 rounds of 1 s: the last is delivered at 27 s.
/// Without it the first session carried the whole queue alone, the last at 100 s.
#[test]
fn a_window_widened_by_a_delivery_opens_a_session_for_the_waiting_mail() {
    let scenario = scenario::load("ramp", RAMP, &[]).unwrap_or_else(|e| panic!("{e}"));
    let result = simulate(&scenario, Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let totals = &result.summary.totals;
    assert_eq!(totals.delivered, 100);
    assert_eq!(totals.attempts, 100);
    assert_eq!(totals.latency_s.max, 27.0);
}
