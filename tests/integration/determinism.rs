//! Determinism: the same scenario and seed give byte-identical outputs, through the
//! library and through the command line; a golden summary pins the random streams.
//!
//! The golden file is tests/golden/<name>.summary.json for the scenario
//! tests/golden/<name>.json. After an intended change of the model or its random
//! streams, regenerate it with `MTASIM_BLESS=1 cargo test --test integration determinism::` and
//! review the diff.

use std::path::Path;

use mtasim::output;
use mtasim::scenario;
use mtasim::sim::simulate;

use crate::common::{command, repo, stderr};

const DATA_FILES: [&str; 4] = [
    "summary.json",
    "timeseries.csv",
    "transitions.csv",
    "deliveries.jsonl",
];

fn golden(name: &str) -> std::path::PathBuf {
    repo("tests/golden").join(name)
}

/// Runs the command line into `out` and returns the data files' bytes.
fn cli_run(scenario: &Path, out: &Path, extra: &[&str]) -> Vec<(String, Vec<u8>)> {
    let output = command()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .args(["--quiet", "--log"])
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    DATA_FILES
        .iter()
        .map(|name| (name.to_string(), std::fs::read(out.join(name)).unwrap()))
        .collect()
}

#[test]
fn two_command_line_runs_write_identical_files() {
    let root = tempfile::tempdir().unwrap();
    let scenario = repo("scenarios/default.json");
    let small = ["--set", "traffic.0.messages=20000"];
    let a = cli_run(&scenario, &root.path().join("a"), &small);
    let b = cli_run(&scenario, &root.path().join("b"), &small);
    for ((name, a), (_, b)) in a.iter().zip(&b) {
        assert!(!a.is_empty(), "{name} is empty");
        assert!(a == b, "{name} differs between two runs");
    }
    // And a different seed does change them.
    let c = cli_run(
        &scenario,
        &root.path().join("c"),
        &[&small[..], &["--seed", "8"]].concat(),
    );
    assert_ne!(a[0].1, c[0].1);
}

#[test]
fn the_library_and_the_command_line_agree() {
    let root = tempfile::tempdir().unwrap();
    let path = golden("pinned.json");
    let cli = cli_run(&path, &root.path().join("cli"), &[]);
    let scenario = scenario::load_file(&path, &[]).unwrap();
    let result = simulate(&scenario, Default::default()).unwrap();
    let dir = root.path().join("lib");
    std::fs::create_dir(&dir).unwrap();
    output::write_run(&result, &dir).unwrap();
    for (name, bytes) in &cli[..3] {
        assert!(
            std::fs::read(dir.join(name)).unwrap() == *bytes,
            "{name} differs"
        );
    }
}

/// Pins the golden scenario's whole summary.json: a change of a random stream, of the
/// order of draws, or of a pinned crate's algorithm shows up here.
#[test]
fn the_golden_summary_is_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let files = cli_run(&golden("pinned.json"), &root.path().join("out"), &[]);
    let summary = String::from_utf8(files[0].1.clone()).unwrap();
    let pinned = golden("pinned.summary.json");
    if std::env::var_os("MTASIM_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&pinned, &summary).unwrap();
        eprintln!("wrote {}", pinned.display());
        return;
    }
    let expected = std::fs::read_to_string(&pinned).unwrap_or_else(|_| {
        panic!(
            "{} is missing: MTASIM_BLESS=1 cargo test --test integration determinism::",
            pinned.display()
        )
    });
    if summary != expected {
        let first = summary
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "summary.json of tests/golden/pinned.json changed (first difference at line {}:\n  now:    {}\n  pinned: {})\n\
             If the change is intended, regenerate with MTASIM_BLESS=1 cargo test --test integration determinism::",
            first + 1,
            summary.lines().nth(first).unwrap_or(""),
            expected.lines().nth(first).unwrap_or("")
        );
    }
}
