//! A reader that goes away (`mtasim replies | head`) ends what is printed, not the command:
//! no panic ("failed printing to stdout: Broken pipe"), the outputs are written, and the
//! exit code is the command's own. The pipes here are closed before mtasim writes a byte.

use std::io::PipeWriter;
use std::process::{Output, Stdio};

use crate::common::{command, repo, stderr};

/// The writing end of a pipe whose reader has already gone.
fn closed_pipe() -> PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// Runs `mtasim ARGS` in `dir` with standard output (and standard error too when
/// `both`) into a closed pipe.
fn into_closed_pipe(args: &[&str], dir: &std::path::Path, both: bool) -> Output {
    let mut mtasim = command();
    mtasim
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(closed_pipe());
    if both {
        mtasim.stderr(closed_pipe());
    }
    mtasim.output().unwrap()
}

#[test]
fn listings_end_quietly_when_the_reader_has_gone() {
    let dir = tempfile::tempdir().unwrap();
    let default = repo("scenarios/default.json");
    let export = [
        "export-config",
        default.to_str().unwrap(),
        "--format",
        "postfix",
    ];
    for args in [&["replies"][..], &["schema"], &export, &["run", "--help"]] {
        let out = into_closed_pipe(args, dir.path(), false);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

#[test]
fn a_run_writes_its_outputs_when_nobody_reads_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = repo("scenarios/yahoo-deferrals.json");
    let args = [
        "run",
        scenario.to_str().unwrap(),
        "--no-plots",
        "--out",
        "run",
    ];
    let out = into_closed_pipe(&args, dir.path(), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(dir.path().join("run/summary.json").exists());
}

#[test]
fn validate_still_checks_every_file_and_fails_for_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), "{\"name\": 5}").unwrap();
    let default = repo("scenarios/default.json");
    let args = ["validate", default.to_str().unwrap(), "bad.json"];
    let out = into_closed_pipe(&args, dir.path(), false);
    assert_eq!(out.status.code(), Some(2));
    let said = stderr(&out);
    assert!(said.starts_with("error: bad.json:1:"), "{said}");
    assert!(
        said.ends_with("error: 1 of 2 files are not valid scenarios\n"),
        "{said}"
    );
    // With standard error gone too, the exit code still tells.
    let out = into_closed_pipe(&args, dir.path(), true);
    assert_eq!(out.status.code(), Some(2));
}
