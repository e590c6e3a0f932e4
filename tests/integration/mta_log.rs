//! `run --log-format`: a run's log in each real format, read back by the log readers, gives
//! per destination the delivered, bounced, deferred and expired counts of summary.json.

use std::collections::BTreeMap;
use std::path::Path;

use mtasim::MtaKind;
use mtasim::logs::{Kind, LogReader, ReadOptions};
use mtasim::metrics::DestinationSummary;
use mtasim::output::MtaLog;
use mtasim::output::mta_log::file_name;
use mtasim::scenario::{self, Override};
use mtasim::sim::{RunResult, simulate_with};

/// (delivered, bounced, deferred, expired)
type Counts = (u64, u64, u64, u64);

fn of_summary(d: &DestinationSummary) -> Counts {
    (d.delivered, d.bounced, d.deferrals, d.expired)
}

/// Runs `file` with `overrides`, writing its log in `format` into `dir`.
fn run(file: &str, overrides: &[&str], format: MtaKind, dir: &Path) -> RunResult {
    let overrides: Vec<Override> = overrides.iter().map(|o| o.parse().unwrap()).collect();
    let compiled = scenario::load_file(Path::new(file), &overrides).unwrap();
    let log = MtaLog::create(dir, format).unwrap();
    let (result, log) = simulate_with(&compiled, Default::default(), log).unwrap();
    log.finish().unwrap();
    result
}

/// Counts per destination name read back from the log.
fn read_back(path: &Path) -> (BTreeMap<String, Counts>, u64) {
    let options = ReadOptions {
        year: Some(2026),
        ..ReadOptions::default()
    };
    let mut reader = LogReader::open(&[path], options).unwrap();
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut held = 0;
    while let Some(o) = reader.next_outcome().unwrap() {
        // Arrivals (a KumoMTA Reception names the domain before any attempt) and
        // removals count nothing.
        if matches!(o.kind, Kind::Arrival | Kind::Removed) {
            continue;
        }
        let c = counts
            .entry(reader.text(o.destination).to_string())
            .or_default();
        match o.kind {
            Kind::Delivered => c.0 += 1,
            Kind::Bounced => c.1 += 1,
            Kind::Deferred => c.2 += 1,
            Kind::Expired => c.3 += 1,
            _ => held += 1,
        }
    }
    assert_eq!(reader.stats().malformed, 0, "{:?}", reader.stats());
    (counts, held)
}

fn check(format: MtaKind) {
    let dir = tempfile::tempdir().unwrap();
    let result = run(
        "scenarios/reputation-few-domains.json",
        &["duration=3h", "traffic.0.messages=20000"],
        format,
        dir.path(),
    );
    let (mut counts, held) = read_back(&dir.path().join(file_name(format)));
    let summary = &result.summary;
    for (name, d) in &summary.destinations {
        let read = counts.remove(name).unwrap_or_default();
        assert_eq!(read, of_summary(d), "{format:?} {name}");
    }
    let others = summary.other_destinations.as_ref().unwrap();
    let mut rest: Counts = (0, 0, 0, 0);
    for c in counts.values() {
        rest = (rest.0 + c.0, rest.1 + c.1, rest.2 + c.2, rest.3 + c.3);
    }
    assert_eq!(rest, of_summary(&others.summary), "{format:?} others");
    assert!(counts.len() as u64 <= others.count);
    assert!(summary.totals.deferrals > 0 && summary.totals.bounced > 0);
    // PowerMTA has no record of a hold; the others log every one.
    let holds = if format == MtaKind::Pmta {
        0
    } else {
        summary.totals.dfc_holds
    };
    assert_eq!(held, holds, "{format:?}");
}

#[test]
fn postfix_log_reads_back_as_the_summary() {
    check(MtaKind::Postfix);
}

#[test]
fn kumomta_log_reads_back_as_the_summary() {
    check(MtaKind::KumoMta);
}

#[test]
fn pmta_log_reads_back_as_the_summary() {
    check(MtaKind::Pmta);
}

#[test]
fn log_is_the_same_on_every_run() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let overrides = ["duration=1h", "traffic.0.messages=3000"];
    for dir in [&a, &b] {
        run(
            "scenarios/mta-internal-errors.json",
            &overrides,
            MtaKind::KumoMta,
            dir.path(),
        );
    }
    let name = file_name(MtaKind::KumoMta);
    let (x, y) = (
        std::fs::read(a.path().join(name)).unwrap(),
        std::fs::read(b.path().join(name)).unwrap(),
    );
    assert!(!x.is_empty());
    assert!(x == y, "the log differs between two runs");
}
