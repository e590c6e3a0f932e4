//! The scenario library: every file in scenarios/ validates, runs, and tells the story its
//! description promises, in numbers from the run results.

use std::collections::{BTreeMap, BTreeSet};

use mtasim::flow_control::State;
use mtasim::metrics::DestinationSummary;
use mtasim::scenario;
use mtasim::sim::{RunResult, simulate};

use crate::common::{library_scenario, repo};
/// u64econds per minute and hour: the samples' times are compared in milliseconds.
const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;

fn run(name: &str, sets: &[&str]) -> RunResult {
    let scenario = library_scenario(name, sets);
    simulate(&scenario, Default::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn dest<'a>(result: &'a RunResult, name: &str) -> &'a DestinationSummary {
    result
        .summary
        .destinations
        .get(name)
        .unwrap_or_else(|| panic!("no destination {name}"))
}

/// Destinations that ever left the normal state.
fn engaged(result: &RunResult) -> BTreeSet<String> {
    result
        .transitions
        .iter()
        .map(|t| t.destination.clone())
        .collect()
}

/// Destinations entering backoff from normal, with the time of their first such entry.
fn first_backoff(result: &RunResult) -> BTreeMap<String, u64> {
    let mut first = BTreeMap::new();
    for t in &result.transitions {
        if t.from == State::Normal && t.to == State::Backoff {
            first
                .entry(t.destination.clone())
                .or_insert(t.time.as_millis());
        }
    }
    first
}

/// Samples of one destination (by name), or of the totals (`None`).
fn series<'a>(
    result: &'a RunResult,
    name: Option<&str>,
) -> impl Iterator<Item = &'a mtasim::metrics::Sample> + 'a {
    let index = name.map(|n| {
        result
            .destinations
            .iter()
            .position(|d| d == n)
            .unwrap_or_else(|| panic!("no series for {n}")) as u32
    });
    result
        .samples
        .iter()
        .filter(move |s| s.destination == index)
}

fn settled(d: &DestinationSummary) -> bool {
    d.queued == 0 && d.expired == 0
}

#[test]
fn every_scenario_file_loads_and_names_itself() {
    let dir = repo("scenarios");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let scenario = scenario::load_file(&path, &[])
                .unwrap_or_else(|e| panic!("{e}"))
                .scenario;
            assert_eq!(
                Some(scenario.name.as_str()),
                path.file_stem().and_then(|s| s.to_str()),
                "file name and scenario name differ"
            );
            assert!(
                scenario.description.contains("Look at"),
                "{}: the description must say what to look at",
                path.display()
            );
            names.insert(scenario.name);
        }
    }
    for wanted in [
        "default",
        "reputation-few-domains",
        "mta-internal-errors",
        "hammering",
        "backoff",
        "gmail-rate-limit",
        "yahoo-deferrals",
        "microsoft-reputation",
        "greylisting",
        "outage-recovery",
        "retry-waves",
        "postfix-defaults",
        "large-campaign",
        "postfix-scheduler-readme",
        "postfix-scheduler-timeouts",
    ] {
        assert!(names.contains(wanted), "scenarios/{wanted}.json is missing");
    }
}

#[test]
fn default_only_yahoo_throttles_and_the_campaign_completes() {
    let result = run("default", &[]);
    assert_eq!(engaged(&result), BTreeSet::from(["yahoo".to_string()]));
    let yahoo = dest(&result, "yahoo");
    assert!(yahoo.backoff_entries >= 2, "{}", yahoo.backoff_entries);
    assert_eq!(yahoo.blocks, 0);
    // Throttled (below 0.65) while the bursts exceed what Yahoo tolerates after a deferral,
    // never near the block (0.2).
    let reputation = yahoo.reputation.unwrap();
    assert!(
        reputation.min > 0.5 && reputation.min < 0.6,
        "{reputation:?}"
    );
    assert!(
        yahoo
            .deferrals_by_reply
            .keys()
            .any(|r| r.contains("[TS01]"))
    );
    let t = &result.summary.totals;
    assert_eq!(t.queued + t.expired, 0, "the campaign completes");
    assert_eq!(t.bounces_by_reason.get("blocked").copied().unwrap_or(0), 0);
    // Greylisting at the tail is deferred but ignored by the error count.
    assert!(result.summary.destinations["gen-000001"].deferrals > 1000);
    // Yahoo waits, the others do not.
    assert!(yahoo.latency_s.p50 > 600.0);
    assert!(dest(&result, "gmail").latency_s.p99 < 60.0);
}

#[test]
fn reputation_few_domains_engages_flow_control_for_those_few_only() {
    let result = run("reputation-few-domains", &[]);
    let few: BTreeSet<String> = ["comcast", "gmx", "orange"].map(String::from).into();
    assert_eq!(engaged(&result), few);
    assert_eq!(
        first_backoff(&result)
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        few
    );
    let most = series(&result, None)
        .map(|s| s.in_backoff + s.suspended)
        .max()
        .unwrap();
    assert!(most <= 3, "{most} destinations held at once");
    for name in &few {
        let d = dest(&result, name);
        assert!(d.deferrals > 100 && d.dfc_holds > 0, "{name}");
        assert_eq!(d.blocks, 0, "{name}");
    }
    for (name, d) in &result.summary.destinations {
        if !few.contains(name) {
            assert!(settled(d), "{name} should have delivered everything");
            assert!(d.latency_s.p99 < 60.0, "{name}");
        }
    }
}

#[test]
fn mta_internal_errors_put_every_destination_in_backoff_at_once_then_recover() {
    let result = run("mta-internal-errors", &[]);
    let first = first_backoff(&result);
    let named = [
        "comcast", "att", "gmx", "web.de", "orange", "free", "t-online", "bt", "libero", "seznam",
        "cox", "charter",
    ];
    for name in named {
        let at = *first
            .get(name)
            .unwrap_or_else(|| panic!("{name} never went to backoff"));
        assert!(
            (HOUR..HOUR + 5 * MINUTE).contains(&at),
            "{name} went to backoff at {at} ms, not in the first minutes of the burst"
        );
    }
    // Nothing before the burst, and at least 12 destinations in backoff at one sample.
    assert!(first.values().all(|&t| t >= HOUR));
    let peak = series(&result, None).map(|s| s.in_backoff).max().unwrap();
    assert!(peak >= 12, "peak {peak}");
    // All back to normal after the burst, and the queue drains.
    for s in series(&result, None).filter(|s| s.time.as_millis() >= 5 * HOUR) {
        assert_eq!(
            (s.in_backoff, s.suspended),
            (0, 0),
            "at {}",
            s.time.as_millis()
        );
    }
    let t = &result.summary.totals;
    assert_eq!(t.queued + t.expired, 0);
    assert!(
        t.deferrals_by_reply
            .keys()
            .all(|r| r.contains("Internal error") || r.contains("Temporary failure"))
    );
    assert!(result.summary.destinations.values().all(|d| d.blocks == 0));
}

#[test]
fn hammering_gets_blocked_and_backoff_does_not() {
    let hammering = run("hammering", &[]);
    let h = dest(&hammering, "bigisp");
    assert_eq!(h.backoff_entries, 0);
    assert!(h.blocks > 0);
    let blocked = h.bounces_by_reason.get("blocked").copied().unwrap_or(0);
    assert!(blocked > h.injected / 2, "blocked {blocked}");
    assert!(h.reputation.unwrap().min < 0.2);

    let backoff = run("backoff", &[]);
    let b = dest(&backoff, "bigisp");
    assert!(b.backoff_entries > 0);
    assert_eq!(b.blocks, 0);
    assert_eq!(b.bounces_by_reason.get("blocked").copied().unwrap_or(0), 0);
    assert!(b.reputation.unwrap().min > 0.6);
    assert!(settled(b));
    assert!(b.delivered > 50 * h.delivered / 10);
}

#[test]
fn gmail_rate_limit_rule_caps_the_rate_without_backoff() {
    let result = run("gmail-rate-limit", &[]);
    let gmail = dest(&result, "gmail");
    assert_eq!(gmail.backoff_entries, 0);
    assert!(settled(gmail));
    let rate_limited: u64 = gmail
        .deferrals_by_reply
        .iter()
        .filter(|(r, _)| r.contains("4.7.28"))
        .map(|(_, n)| n)
        .sum();
    assert!((1..100).contains(&rate_limited), "{rate_limited}");
    let capped = series(&result, Some("gmail"))
        .filter(|s| s.rate_limit_per_hour == Some(25_000.0))
        .count();
    assert!(capped > 60, "the set rule held for {capped} samples");
    // Without the rules, the error threshold sends Gmail to backoff.
    let bare = run("gmail-rate-limit", &["flow_control.rules=[]"]);
    assert!(dest(&bare, "gmail").backoff_entries > 0);
}

#[test]
fn yahoo_deferrals_suspend_two_hours_on_tss04() {
    let result = run("yahoo-deferrals", &[]);
    let t = &result.transitions;
    let start = t
        .iter()
        .position(|t| t.to == State::Suspended && t.reason.contains("TSS04"))
        .expect("a TSS04 suspension");
    let end = t[start + 1..]
        .iter()
        .find(|t| t.from == State::Suspended)
        .unwrap();
    assert_eq!(end.to, State::Backoff);
    // 2h after the last TSS04 (an attempt in flight may answer a moment later).
    let lasted = (end.time - t[start].time).as_millis();
    assert!((2 * HOUR..2 * HOUR + MINUTE).contains(&lasted), "{lasted}");
    let yahoo = dest(&result, "yahoo");
    for code in ["[TS01]", "[TS02]", "[TSS04]"] {
        assert!(
            yahoo.deferrals_by_reply.keys().any(|r| r.contains(code)),
            "no {code}"
        );
    }
    // The TS02 rule caps concurrency at 5 while it holds.
    assert!(
        series(&result, Some("yahoo"))
            .any(|s| s.state == Some(State::Normal) && s.concurrency_limit == Some(5))
    );
    assert_eq!(yahoo.blocks, 0);
    assert!(settled(yahoo));
}

#[test]
fn microsoft_reputation_escalates_to_s3150_unless_backoff_slows_down() {
    let result = run("microsoft-reputation", &[]);
    let ms = dest(&result, "microsoft");
    assert!(ms.deferrals_by_reply.keys().any(|r| r.contains("4.7.650")));
    assert!(ms.blocks > 0);
    assert!(ms.bounces_by_reason.get("blocked").copied().unwrap_or(0) > ms.injected / 2);

    let slow = run(
        "microsoft-reputation",
        &["flow_control.backoff.max_rate=600/h"],
    );
    let ms = dest(&slow, "microsoft");
    assert_eq!(ms.blocks, 0);
    assert!(ms.backoff_entries > 0);
    assert!(ms.reputation.unwrap().min > 0.55);
    assert!(settled(ms));
}

#[test]
fn greylisted_messages_are_delivered_on_their_first_retry() {
    let result = run("greylisting", &[]);
    assert!(result.transitions.is_empty());
    for name in ["corp-a", "corp-b", "uni", "isp-small", "hosting", "gov"] {
        let d = dest(&result, name);
        assert_eq!(d.attempts, 2 * d.injected, "{name}");
        assert_eq!(d.deferrals, d.injected, "{name}");
        assert!(
            d.deferrals_by_reply
                .keys()
                .all(|r| r.contains("Greylisted"))
        );
        assert!((600.0..660.0).contains(&d.latency_s.p50), "{name}");
        assert!(settled(d));
    }
    let gmail = dest(&result, "gmail");
    assert_eq!(gmail.attempts, gmail.injected);
    // Counting greylisting as errors sends the greylisting receivers to backoff.
    let counted = run("greylisting", &["flow_control.rules=[]"]);
    assert!(first_backoff(&counted).contains_key("corp-a"));
    assert!(!first_backoff(&counted).contains_key("gmail"));
}

#[test]
fn outage_builds_a_queue_that_drains_after_recovery() {
    let result = run("outage-recovery", &[]);
    let queue_at = |t: u64| {
        series(&result, Some("bigcorp"))
            .find(|s| s.time.as_millis() == t)
            .map(|s| s.ready + s.waiting + s.in_flight)
            .unwrap()
    };
    let before = queue_at(2 * HOUR - MINUTE);
    let during = queue_at(6 * HOUR - MINUTE);
    assert!(before < 20, "{before}");
    assert!(during > 4000, "{during}");
    assert!(queue_at(12 * HOUR) < during / 10);
    let bigcorp = dest(&result, "bigcorp");
    assert!(settled(bigcorp));
    assert!(bigcorp.suspensions > 0 && bigcorp.dfc_holds > 0);
    assert!(result.transitions.iter().all(|t| t.destination == "bigcorp"
        && t.time.as_millis() >= 2 * HOUR
        && t.time.as_millis() < 8 * HOUR));
    // Deliveries resume after 6h.
    let after: u64 = series(&result, Some("bigcorp"))
        .filter(|s| s.time.as_millis() > 6 * HOUR && s.time.as_millis() <= 7 * HOUR)
        .map(|s| s.counts.delivered)
        .sum();
    assert!(after > 1000, "{after}");
}

#[test]
fn retry_waves_without_jitter_peak_higher_than_with_full_jitter() {
    let peak_after_recovery = |jitter: &str| {
        let result = run("retry-waves", &[&format!("mta.retry.jitter={jitter}")]);
        assert_eq!(result.summary.totals.queued, 0);
        series(&result, None)
            .filter(|s| s.time.as_millis() > 45 * MINUTE)
            .map(|s| s.counts.attempts)
            .max()
            .unwrap()
    };
    let none = peak_after_recovery("none");
    let full = peak_after_recovery("full");
    assert!(none > 2 * full, "none {none}, full {full}");
    // Without jitter the waves are exactly at 10, 30 and 70 minutes after the burst.
    let result = run("retry-waves", &[]);
    let quiet: u64 = series(&result, None)
        .filter(|s| (50 * MINUTE..70 * MINUTE).contains(&s.time.as_millis()))
        .map(|s| s.counts.attempts)
        .sum();
    assert_eq!(quiet, 0);
}

#[test]
fn postfix_defaults_saw_around_the_connection_limit() {
    let result = run("postfix-defaults", &[]);
    let corp = dest(&result, "corp-mx");
    let too_many: u64 = corp
        .deferrals_by_reply
        .iter()
        .filter(|(r, _)| r.contains("Too many concurrent"))
        .map(|(_, n)| n)
        .sum();
    assert!(too_many > 1000, "{too_many}");
    let mut windows: Vec<u32> = series(&result, Some("corp-mx"))
        .filter(|s| s.time.as_millis() > 5 * MINUTE && s.time.as_millis() <= HOUR)
        .filter_map(|s| s.concurrency_limit)
        .collect();
    windows.sort();
    let median = windows[windows.len() / 2];
    assert!((7..=11).contains(&median), "median window {median}");
    assert!(settled(corp));
    let gmail = dest(&result, "gmail");
    assert_eq!(gmail.deferrals, 0);
    assert!(
        result.transitions.is_empty(),
        "no error threshold, no dead destination"
    );
}

#[test]
fn large_campaign_runs_at_scale_shrunk() {
    let result = run(
        "large-campaign",
        &[
            "traffic.0.messages=20000",
            "traffic.1.messages=15000",
            "traffic.2.messages=15000",
            "generated_receivers.count=2000",
        ],
    );
    let t = &result.summary.totals;
    assert_eq!(t.injected, 50_000);
    assert_eq!(t.queued + t.expired, 0);
    assert!(t.delivered as f64 > 0.97 * 50_000.0);
    let other = result.summary.other_destinations.as_ref().unwrap();
    assert!(other.count > 1000);
}
