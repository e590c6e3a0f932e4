//! Golden outputs: every scenario of the library, and the README's sweep walkthrough, write
//! exactly the bytes recorded in tests/golden/outputs.txt (size and FNV-1a hash per file).
//!
//! A refactoring must leave this file unchanged. After an intended change of the model,
//! regenerate it with `MTASIM_BLESS=1 cargo test --test integration golden_outputs::` and say in the
//! commit why the outputs moved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{mtasim_ok, repo};

const RUN_FILES: [&str; 4] = [
    "summary.json",
    "timeseries.csv",
    "transitions.csv",
    "deliveries.jsonl",
];
const SWEEP_FILES: [&str; 5] = [
    "sweep.csv",
    "summary.csv",
    "pareto.csv",
    "best.json",
    "sweep.json",
];

/// FNV-1a, 64 bits: enough to tell two outputs apart, and needs no dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `name file size hash` lines for the files of one output folder.
fn fingerprint(name: &str, dir: &Path, files: &[&str]) -> Vec<String> {
    files
        .iter()
        .map(|file| {
            let bytes =
                std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{name}: {file}: {e}"));
            format!("{name} {file} {} {:016x}", bytes.len(), fnv1a(&bytes))
        })
        .collect()
}

fn run_scenario(scenario: &Path, out: &Path) -> Vec<String> {
    let name = scenario.file_stem().unwrap().to_str().unwrap();
    let dir = out.join(name);
    mtasim_ok(
        &[
            "run".as_ref(),
            scenario.as_os_str(),
            "--out".as_ref(),
            dir.as_os_str(),
            "--no-plots".as_ref(),
            "--log".as_ref(),
            "-q".as_ref(),
        ],
        &repo(""),
    );
    fingerprint(name, &dir, &RUN_FILES)
}

fn run_sweep_walkthrough(out: &Path) -> Vec<String> {
    let dir = out.join("sweep");
    mtasim_ok(
        &[
            "sweep".as_ref(),
            repo("scenarios/tuning-backoff.json").as_os_str(),
            "--plan".as_ref(),
            repo("scenarios/sweeps/tuning-backoff.json").as_os_str(),
            "--out".as_ref(),
            dir.as_os_str(),
            "--no-plots".as_ref(),
            "-q".as_ref(),
        ],
        &repo(""),
    );
    fingerprint("tuning-backoff-sweep", &dir, &SWEEP_FILES)
}

#[test]
fn every_scenario_and_the_sweep_walkthrough_write_the_golden_bytes() {
    let out = tempfile::tempdir().unwrap();
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(repo("scenarios"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    scenarios.sort();
    let lines: BTreeMap<usize, Vec<String>> = std::thread::scope(|scope| {
        let sweep = scope.spawn(|| run_sweep_walkthrough(out.path()));
        let mut lines: BTreeMap<usize, Vec<String>> = scenarios
            .iter()
            .enumerate()
            .map(|(i, path)| (i, run_scenario(path, out.path())))
            .collect();
        lines.insert(scenarios.len(), sweep.join().unwrap());
        lines
    });
    let actual: String = lines.into_values().flatten().map(|l| l + "\n").collect();
    let golden = repo("tests/golden/outputs.txt");
    if std::env::var_os("MTASIM_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&golden, &actual).unwrap();
        eprintln!("wrote {}", golden.display());
        return;
    }
    let expected = std::fs::read_to_string(&golden).expect(
        "tests/golden/outputs.txt is missing: MTASIM_BLESS=1 cargo test --test integration golden_outputs::",
    );
    let changed: Vec<String> = actual
        .lines()
        .zip(expected.lines())
        .filter(|(a, e)| a != e)
        .map(|(a, e)| format!("  now:    {a}\n  golden: {e}"))
        .collect();
    assert!(
        changed.is_empty() && actual.lines().count() == expected.lines().count(),
        "outputs differ from tests/golden/outputs.txt:\n{}\n\
         If the change is intended: MTASIM_BLESS=1 cargo test --test integration golden_outputs::",
        changed.join("\n")
    );
}
