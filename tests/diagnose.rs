//! Round trips: scenarios run with each `--log-format`, their logs diagnosed. The verdict
//! and the affected destinations are what the simulation's own transitions say, and the
//! counts per destination are summary.json's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mtasim::diagnose::{self, Diagnosis, Options, VerdictKind};
use mtasim::logs::{Format, LogReader, ReadOptions};
use mtasim::output::MtaLog;
use mtasim::output::mta_log::file_name;
use mtasim::scenario::{self, Override};
use mtasim::sim::{RunResult, simulate_with};
use mtasim::units::Span;

const FORMATS: [Format; 3] = [Format::Postfix, Format::KumoMta, Format::Pmta];

/// Runs `file` with `overrides` writing its log in `format`, and diagnoses the log with
/// the scenario's flow control.
fn round_trip(file: &str, overrides: &[&str], format: Format) -> (RunResult, Diagnosis) {
    let overrides: Vec<Override> = overrides.iter().map(|o| o.parse().unwrap()).collect();
    let compiled = scenario::load_file(Path::new(file), &overrides).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = MtaLog::create(dir.path(), format).unwrap();
    let (result, log) = simulate_with(&compiled, Default::default(), log).unwrap();
    log.finish().unwrap();
    let read = ReadOptions {
        year: Some(2026),
        key: compiled.scenario.flow_control.key,
        ..ReadOptions::default()
    };
    let mut reader = LogReader::open(&[dir.path().join(file_name(format))], read).unwrap();
    let options = Options {
        policies: compiled.policies.clone(),
        interval: Span::MINUTE,
    };
    let diagnosis = diagnose::diagnose(&mut reader, options).unwrap();
    (result, diagnosis)
}

/// The destinations the simulation put into backoff or suspension.
fn transitioned(result: &RunResult) -> BTreeSet<String> {
    result
        .transitions
        .iter()
        .map(|t| t.destination.clone())
        .collect()
}

/// (attempts, delivered, deferred, bounced, expired)
type Counts = (u64, u64, u64, u64, u64);

/// Every reported destination's counts equal summary.json's, and the others' sum equals
/// other_destinations'.
fn counts_agree(result: &RunResult, d: &Diagnosis, what: &str) {
    let mut read: BTreeMap<&str, Counts> = d
        .destinations
        .iter()
        .map(|(name, r)| {
            let c = (r.attempts, r.delivered, r.deferred, r.bounced, r.expired);
            (name.as_str(), c)
        })
        .collect();
    for (name, s) in &result.summary.destinations {
        let got = read.remove(name.as_str()).unwrap_or_default();
        let want = (s.attempts, s.delivered, s.deferrals, s.bounced, s.expired);
        assert_eq!(got, want, "{what}: {name}");
    }
    let rest = read.values().fold((0, 0, 0, 0, 0), |a, c| {
        (a.0 + c.0, a.1 + c.1, a.2 + c.2, a.3 + c.3, a.4 + c.4)
    });
    let others = result
        .summary
        .other_destinations
        .as_ref()
        .map(|o| {
            let s = &o.summary;
            (s.attempts, s.delivered, s.deferrals, s.bounced, s.expired)
        })
        .unwrap_or_default();
    assert_eq!(rest, others, "{what}: the other destinations");
    let t = &result.summary.totals;
    assert_eq!(
        (d.totals.attempts, d.totals.delivered, d.totals.bounced),
        (t.attempts, t.delivered, t.bounced),
        "{what}: totals"
    );
}

#[test]
fn reputation_at_a_few_receivers_is_few_destinations() {
    for format in FORMATS {
        let what = format!("reputation-few-domains as {format:?}");
        let (result, d) = round_trip(
            "scenarios/reputation-few-domains.json",
            &[
                "duration=2h",
                "traffic.0.messages=40000",
                "traffic.0.over=40m",
            ],
            format,
        );
        let expected = transitioned(&result);
        assert_eq!(
            expected,
            ["comcast", "gmx", "orange"].map(String::from).into(),
            "the scenario's own transitions"
        );
        assert_eq!(d.verdict.verdict, VerdictKind::FewDestinations, "{what}");
        assert_eq!(
            d.verdict.affected.iter().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{what}"
        );
        assert!(d.verdict.busy >= 20, "{what}: {} busy", d.verdict.busy);
        for e in &d.episodes {
            assert_eq!(e.cause, diagnose::Cause::Reputation, "{what}: {e:?}");
            assert!(e.errors >= 10, "{what}: {e:?}");
        }
        assert!(d.verdict.summary.starts_with("A few destinations"));
        counts_agree(&result, &d, &what);
        assert_eq!(d.lines.malformed, 0);
        assert_eq!(d.lines.read, d.lines.parsed + d.lines.skipped);
    }
}

#[test]
fn the_mtas_own_errors_are_all_destinations() {
    for format in FORMATS {
        let what = format!("mta-internal-errors as {format:?}");
        let (result, d) = round_trip(
            "scenarios/mta-internal-errors.json",
            &[
                "duration=2h",
                "traffic.0.messages=80000",
                "traffic.0.over=2h",
            ],
            format,
        );
        let expected = transitioned(&result);
        assert!(expected.len() >= 12, "{expected:?}");
        assert_eq!(d.verdict.verdict, VerdictKind::AllDestinations, "{what}");
        assert_eq!(
            d.verdict.affected.iter().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{what}"
        );
        let mta = d.verdict.causes.get(&diagnose::Cause::Mta).copied();
        assert!(
            2 * mta.unwrap_or(0) > d.episodes.len() as u64,
            "{what}: {:?}",
            d.verdict.causes
        );
        // Every episode starts within the burst (1h to 1h30m), and its cause is read from
        // its deferrals, not from the unknown-user bounces the same window counted.
        for e in &d.episodes {
            assert!((3600.0..5400.0).contains(&e.start_s), "{what}: {e:?}");
            assert!(!e.top_reply.contains("5.1.1"), "{what}: {e:?}");
            assert_ne!(e.cause, diagnose::Cause::Unknown, "{what}: {e:?}");
        }
        counts_agree(&result, &d, &what);
    }
}

#[test]
fn a_healthy_run_is_none() {
    for format in FORMATS {
        let what = format!("postfix-defaults as {format:?}");
        let (result, d) = round_trip(
            "scenarios/postfix-defaults.json",
            &["duration=1h", "traffic.0.messages=20000"],
            format,
        );
        assert!(transitioned(&result).is_empty());
        assert_eq!(d.verdict.verdict, VerdictKind::None, "{what}");
        assert!(d.verdict.affected.is_empty() && d.episodes.is_empty());
        assert!(d.verdict.summary.starts_with("No destination"));
        counts_agree(&result, &d, &what);
        // timeseries.csv: the total's rows add up to the totals.
        let total = &d.series.last().unwrap().1;
        assert_eq!(
            total.iter().map(|r| r.counts.attempts).sum::<u64>(),
            d.totals.attempts
        );
    }
}
