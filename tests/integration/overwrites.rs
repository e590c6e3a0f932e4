//! No command silently replaces another input's outputs. Default folders are named after
//! the input (`output/<scenario name>`, `-sweep`, `-replay`, `output/<log name>-diagnosis`)
//! and inputs share names, so run, sweep, replay and diagnose refuse a default folder that
//! holds another input's outputs: one error naming --out, exit 2, nothing run or written.
//! The same input replaces its own outputs; `--out` may name any mtasim output folder, but
//! never a folder of files mtasim did not write.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{contents, mtasim, names, stderr, stdout};

/// A small scenario named `same`, written as `dir/<sub>/same.json`.
fn scenario(dir: &Path, sub: &str, messages: u32) -> PathBuf {
    let text = format!(
        r#"{{"name": "same", "seed": 2, "duration": "1h",
          "receivers": [{{"name": "fine", "domains": ["fine.example"], "share": 1,
                          "greylisting": {{"min_delay": "1m"}}}}],
          "traffic": [{{"messages": {messages}, "over": "10m"}}]}}"#
    );
    std::fs::create_dir_all(dir.join(sub)).unwrap();
    let path = dir.join(sub).join("same.json");
    std::fs::write(&path, text).unwrap();
    path.canonicalize().unwrap()
}

/// The refusal, exactly: what the folder holds and what was asked, naming --out.
fn refused(out: &Output, folder: &str, holds: &str, asked: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert_eq!(
        stderr(out),
        format!(
            "error: {folder} holds {holds}; give --out DIR to write {asked} beside it (or \
             remove the folder)\n"
        )
    );
    assert_eq!(stdout(out), "", "nothing runs");
}

/// Two Postfix logs, both named `maillog`: `dir/log-a/maillog` and `dir/log-b/maillog`.
fn maillogs(dir: &Path, scenario: &Path) -> [PathBuf; 2] {
    ["log-a", "log-b"].map(|name| {
        let args = [
            "run",
            scenario.to_str().unwrap(),
            "-q",
            "--no-plots",
            "--out",
            name,
        ];
        let out = mtasim(&[&args[..], &["--log-format", "postfix"]].concat(), dir);
        assert!(out.status.success(), "{}", stderr(&out));
        dir.join(name).join("maillog").canonicalize().unwrap()
    })
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn run_refuses_another_scenarios_default_folder_and_replaces_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (scenario(dir.path(), "a", 40), scenario(dir.path(), "b", 60));
    let run = |s: &Path| {
        mtasim(
            &["run", s.to_str().unwrap(), "-q", "--no-plots"],
            dir.path(),
        )
    };
    assert!(run(&a).status.success());
    let first = contents(&dir.path().join("output/same"));
    assert!(run(&a).status.success(), "the same scenario again");
    assert_eq!(contents(&dir.path().join("output/same")), first);
    let out = run(&b);
    refused(
        &out,
        "output/same",
        &format!("the run of {}", text(&a)),
        &format!("the run of {}", text(&b)),
    );
    assert_eq!(contents(&dir.path().join("output/same")), first, "kept");
    assert_eq!(
        names(&dir.path().join("output")),
        ["same"],
        "no staging left"
    );
    // --out names another folder, or this one on purpose.
    let args = ["run", b.to_str().unwrap(), "-q", "--no-plots", "--out"];
    assert!(
        mtasim(&[&args[..], &["b-out"]].concat(), dir.path())
            .status
            .success()
    );
    assert!(
        mtasim(&[&args[..], &["output/same"]].concat(), dir.path())
            .status
            .success()
    );
    assert_ne!(contents(&dir.path().join("output/same")), first);
}

#[test]
fn the_built_in_default_and_its_file_are_one_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = crate::common::repo("scenarios/default.json");
    let short = ["--set", "duration=10m", "-q", "--no-plots"];
    assert!(
        mtasim(&[&["run"][..], &short].concat(), dir.path())
            .status
            .success()
    );
    let again = mtasim(
        &[&["run", file.to_str().unwrap()][..], &short].concat(),
        dir.path(),
    );
    assert!(again.status.success(), "{}", stderr(&again));
    // An edited copy is another scenario of the same name.
    let mine = dir.path().join("mine.json");
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replacen("\"seed\": 7", "\"seed\": 8", 1);
    std::fs::write(&mine, edited).unwrap();
    let mine = mine.canonicalize().unwrap();
    let out = mtasim(
        &[&["run", mine.to_str().unwrap()][..], &short].concat(),
        dir.path(),
    );
    refused(
        &out,
        "output/default",
        "the run of the built-in default scenario",
        &format!("the run of {}", text(&mine)),
    );
}

#[test]
fn an_out_folder_mtasim_did_not_write_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let a = scenario(dir.path(), "a", 10);
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "my notes").unwrap();
    let run = || {
        mtasim(
            &["run", a.to_str().unwrap(), "-q", "--out", "mine"],
            dir.path(),
        )
    };
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: --out mine: the folder holds files mtasim did not write (no .mtasim-input), \
         which would be replaced; give a new or empty folder (or remove it)\n"
    );
    assert_eq!(names(&mine), ["notes.txt"]);
    assert_eq!(names(dir.path()), ["a", "mine"], "nothing else written");
    // An empty folder is fine.
    std::fs::remove_file(mine.join("notes.txt")).unwrap();
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn sweep_refuses_another_scenarios_default_folder_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (scenario(dir.path(), "a", 40), scenario(dir.path(), "b", 60));
    let sweep = |s: &Path| {
        let vary = "flow_control.errors.threshold=5,10";
        let args = [
            "sweep",
            s.to_str().unwrap(),
            "--vary",
            vary,
            "-q",
            "--no-plots",
        ];
        mtasim(&args, dir.path())
    };
    assert!(sweep(&a).status.success());
    let first = contents(&dir.path().join("output/same-sweep"));
    assert!(sweep(&a).status.success(), "the same scenario again");
    let out = sweep(&b);
    refused(
        &out,
        "output/same-sweep",
        &format!("the sweep of {}", text(&a)),
        &format!("the sweep of {}", text(&b)),
    );
    assert_eq!(contents(&dir.path().join("output/same-sweep")), first);
}

/// Two logs named `maillog` given to `command` (`{log}` in its arguments) one after the
/// other: the first writes `folder`, the second is refused and leaves it as it was.
/// `inputs` is what the outputs of a log are said to be written from.
fn another_log_is_refused(command: &[&str], folder: &str, inputs: impl Fn(&Path) -> String) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path(), "a", 40);
    let logs = maillogs(dir.path(), &scenario);
    let with = |log: &Path| -> Vec<String> {
        command
            .iter()
            .map(|a| a.replace("{log}", log.to_str().unwrap()))
            .map(|a| a.replace("{scenario}", scenario.to_str().unwrap()))
            .collect()
    };
    let first = mtasim(&with(&logs[0]), dir.path());
    assert!(first.status.success(), "{}", stderr(&first));
    let kept = contents(&dir.path().join(folder));
    assert!(
        mtasim(&with(&logs[0]), dir.path()).status.success(),
        "the same log again"
    );
    let out = mtasim(&with(&logs[1]), dir.path());
    refused(&out, folder, &inputs(&logs[0]), &inputs(&logs[1]));
    assert_eq!(contents(&dir.path().join(folder)), kept);
}

#[test]
fn replay_refuses_another_logs_default_folder() {
    let replay = [
        "replay",
        "{log}",
        "--scenario",
        "{scenario}",
        "--year",
        "2026",
        "-q",
    ];
    // The scenario is dir/a/same.json, beside the logs' folders.
    another_log_is_refused(&replay, "output/same-replay", |log| {
        let scenario = log.parent().unwrap().parent().unwrap().join("a/same.json");
        format!("the replay of {}, {}", text(log), text(&scenario))
    });
}

#[test]
fn diagnose_refuses_another_logs_default_folder() {
    let diagnose = ["diagnose", "{log}", "--year", "2026", "--no-plots", "-q"];
    another_log_is_refused(&diagnose, "output/maillog-diagnosis", |log| {
        format!("the diagnosis of {}", text(log))
    });
}
