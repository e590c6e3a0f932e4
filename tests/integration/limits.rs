//! Resource limits, Ctrl-C and atomic outputs, through the command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mtasim::scenario;
use mtasim::sim::{RunOptions, estimate_events, simulate};

use crate::common::{command, contents, mtasim_at_root, names, repo, stderr};

fn default_scenario() -> PathBuf {
    repo("scenarios/default.json")
}

/// Runs a 3,000-message, 3-hour default scenario with `flag` at `refused` (exit 2 with
/// `error`, nothing created) and then at `allowed` (it runs).
fn refused_then_allowed(flag: &str, refused: &str, allowed: &str, error: &str) {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let scenario = default_scenario();
    let run = |limit: &str| {
        mtasim_at_root(&[
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
            "--set",
            "traffic.0.messages=3000",
            "--set",
            "duration=3h",
            flag,
            limit,
        ])
    };
    let refused = run(refused);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert_eq!(stderr(&refused).trim_end(), error);
    assert!(names(root.path()).is_empty(), "nothing created");
    let allowed = run(allowed);
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    assert!(out.join("summary.json").exists());
}

#[test]
fn too_many_messages_are_refused_up_front_unless_the_limit_is_raised() {
    refused_then_allowed(
        "--max-messages",
        "2999",
        "3000",
        "error: the scenario injects 3000 messages, more than the limit of 2999; raise it with --max-messages",
    );
}

#[test]
fn too_many_events_are_refused_up_front_with_the_estimate_unless_raised() {
    // 3000 messages x 4 events + 180 samples.
    refused_then_allowed(
        "--max-events",
        "10000",
        "12180",
        "error: the scenario needs an estimated 12180 events, more than the limit of 10000; raise it with --max-events",
    );
}

/// The estimate is within a factor of three of the events the built-in scenario really
/// needs (a clean run needs about 3 per message; retries, greylisting and throttling more).
#[test]
fn the_event_estimate_is_sensible() {
    let scenario = scenario::load("default", scenario::DEFAULT_SCENARIO, &[]).unwrap();
    let estimate = estimate_events(&scenario.scenario);
    let result = simulate(&scenario, RunOptions::default()).unwrap();
    let actual = result.stats.events;
    assert!(
        estimate * 3 >= actual && actual * 3 >= estimate,
        "estimate {estimate}, actual {actual}"
    );
}

/// Runs a scenario of a few seconds into `out`, interrupts it with SIGINT after half a
/// second, and returns its output and how long it took to stop.
fn interrupt(out: &Path) -> (Output, Duration) {
    let scenario = default_scenario();
    let mut child = command()
        .args(["run", scenario.to_str().unwrap(), "-q", "--out"])
        .arg(out)
        .args([
            "--set",
            "traffic.0.messages=4000000",
            "--set",
            "duration=30h",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run should still be going after 0.5 s"
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if signalled.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("still running 10 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let stopped = signalled.elapsed();
    (child.wait_with_output().unwrap(), stopped)
}

fn assert_interrupted(output: &Output, stopped: Duration) {
    assert_eq!(output.status.code(), Some(130), "{}", stderr(output));
    let err = stderr(output);
    assert!(err.starts_with("error: interrupted"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(stopped < Duration::from_secs(2), "took {stopped:?} to stop");
}

#[test]
fn ctrl_c_keeps_the_previous_outputs_whole() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let scenario = default_scenario();
    let previous = mtasim_at_root(&[
        "run",
        scenario.to_str().unwrap(),
        "-q",
        "--out",
        out.to_str().unwrap(),
        "--set",
        "traffic.0.messages=500",
    ]);
    assert_eq!(previous.status.code(), Some(0), "{}", stderr(&previous));
    let before = contents(&out);
    assert!(before.iter().any(|(name, _)| name == "summary.json"));

    let (output, stopped) = interrupt(&out);
    assert_interrupted(&output, stopped);
    assert_eq!(contents(&out), before, "the previous outputs, unchanged");
    assert_eq!(names(root.path()), vec!["out"], "no staging folder left");
}

#[test]
fn ctrl_c_without_previous_outputs_leaves_none() {
    let root = tempfile::tempdir().unwrap();
    let (output, stopped) = interrupt(&root.path().join("out"));
    assert_interrupted(&output, stopped);
    assert!(names(root.path()).is_empty(), "{:?}", names(root.path()));
}

#[test]
fn an_existing_output_folder_is_replaced_only_when_a_run_finishes() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let scenario = default_scenario();
    let args = |extra: &[&str]| {
        let mut args = vec![
            "run".to_string(),
            scenario.to_str().unwrap().to_string(),
            "-q".into(),
            "--out".into(),
            out.to_str().unwrap().to_string(),
            "--set".into(),
            "traffic.0.messages=500".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    // An older run's outputs, with a file this run does not write.
    let older = command().args(args(&[])).output().unwrap();
    assert_eq!(older.status.code(), Some(0), "{}", stderr(&older));
    std::fs::write(out.join("stale.txt"), "from an older run").unwrap();
    let before = contents(&out);
    // A refused run (bad input) leaves the folder as it was.
    let failed = command()
        .args(args(&["--set", "receivers.0.share=-1"]))
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(2), "{}", stderr(&failed));
    assert_eq!(contents(&out), before);
    // A finished run replaces it whole: the stale file is gone.
    let finished = command().args(args(&[])).output().unwrap();
    assert_eq!(finished.status.code(), Some(0), "{}", stderr(&finished));
    let files = names(&out);
    assert!(!files.contains(&"stale.txt".to_string()), "{files:?}");
    for name in ["summary.json", "timeseries.csv", "transitions.csv"] {
        assert!(files.contains(&name.to_string()), "{files:?}");
    }
    assert_eq!(names(root.path()), vec!["out"], "no staging folder left");
}
