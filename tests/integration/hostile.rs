//! Hostile input: every file in tests/hostile/ is a malformed or adversarial scenario
//! that `mtasim run` must refuse with exit code 2 and exactly one `error:` line naming
//! the place (file:line:column, and the JSON path where there is one), without a panic
//! and without creating any output folder.
//!
//! Adding a case is adding two files: `name.json` (the scenario) and `name.expected`
//! (a substring of the error line, after `error: `; the command runs in tests/hostile/ so
//! the file is named as `name.json`).

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{command, repo};

fn corpus() -> PathBuf {
    repo("tests/hostile")
}

/// Runs `mtasim run <file> --out <empty temp dir>/nested/out` in `dir`.
fn run_in(dir: &Path, file: &str, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let output = command()
        .current_dir(dir)
        .arg("run")
        .arg(file)
        .arg("--out")
        .arg(out.path().join("nested/out"))
        .arg("--quiet")
        .args(extra)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    (output, out)
}

/// The checks every refused input must pass; returns a description of what failed.
fn refused(name: &str, output: &Output, out: &Path, expected: &str) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let problem = if output.status.code() != Some(2) {
        format!("exit code {:?}, not 2", output.status.code())
    } else if stderr.contains("panicked") || stderr.contains("backtrace") {
        "a panic".to_string()
    } else if lines.len() != 1 || !lines[0].starts_with("error: ") {
        format!("{} stderr lines, not one `error:` line", lines.len())
    } else if !lines[0].contains(expected) {
        format!("the error does not contain {expected:?}")
    } else if std::fs::read_dir(out).unwrap().next().is_some() {
        "something was created in the output folder's parent".to_string()
    } else if !output.stdout.is_empty() {
        "output on stdout".to_string()
    } else {
        return Ok(());
    };
    Err(format!("{name}: {problem}\n  stderr: {stderr}"))
}

#[test]
fn every_hostile_file_is_refused_with_its_expected_error() {
    let dir = corpus();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "the corpus is in tests/hostile/");
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let expected_file = path.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_file)
            .unwrap_or_else(|_| panic!("{} is missing", expected_file.display()));
        let expected = expected.trim_end_matches('\n');
        assert!(!expected.is_empty(), "{name}: empty .expected");
        let (output, out) = run_in(&dir, name, &[]);
        if let Err(failure) = refused(name, &output, out.path(), expected) {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_expected_file_has_its_scenario() {
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "expected") {
            assert!(path.with_extension("json").exists(), "{}", path.display());
        }
    }
}

/// A 100 MB file is refused by its size before it is read.
#[test]
fn a_100_mb_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(100 * 1024 * 1024).unwrap();
    drop(file);
    let started = std::time::Instant::now();
    let (output, out) = run_in(dir.path(), "huge.json", &[]);
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
    refused(
        "huge.json",
        &output,
        out.path(),
        "huge.json: file is 104857600 bytes; scenario files are limited to 16777216 bytes",
    )
    .unwrap();
}

/// `(a+)+$` is catastrophic for backtracking engines, harmless for the regex crate
/// (linear time): it is accepted and a run against long replies finishes quickly.
#[test]
fn a_catastrophic_regex_is_accepted_and_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = r#"{
      "name": "catastrophic", "duration": "1h",
      "flow_control": { "rules": [ { "match": "(a+)+$", "action": "backoff" },
                                   { "match": "(\\w+\\s?)+$", "action": "ignore" } ] },
      "receivers": [ { "name": "a", "domains": ["a.example"],
                       "transient_errors": { "probability": 0.5,
                         "reply": "451 4.3.0 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" } } ],
      "traffic": [ { "messages": 200, "over": "10m" } ]
    }"#;
    std::fs::write(dir.path().join("c.json"), scenario).unwrap();
    let started = std::time::Instant::now();
    let (output, out) = run_in(dir.path(), "c.json", &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.path().join("nested/out/summary.json").exists());
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
}

/// `--set` values go through the same checks, and the error says which `--set` it was.
#[test]
fn a_hostile_set_value_is_refused_too() {
    let dir = corpus();
    let (output, out) = run_in(
        &dir,
        "../../scenarios/default.json",
        &["--set", "duration=-1h"],
    );
    refused(
        "--set duration=-1h",
        &output,
        out.path(),
        "duration: duration \"-1h\" is negative",
    )
    .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("error: --set duration=-1h: duration:")
    );
}
