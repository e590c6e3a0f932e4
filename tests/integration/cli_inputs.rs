//! On every command: `-` reads standard input, and an `--out` that names an existing file is
//! bad input (exit code 2) before anything runs. And `mtasim diagnose` end to end: a run's
//! log in, its outputs out, bad logs refused with nothing written.

use crate::common::{mtasim_with_stdin, stderr, stdout};

const SMALL: &str = r#"{"name": "small", "seed": 5, "duration": "20m",
  "receivers": [{"name": "yahoo", "domains": ["yahoo.com"], "share": 1,
                 "transient_errors": {"probability": 0.5, "reply": "yahoo-tss04"}},
                {"name": "fine", "domains": ["fine.example"], "share": 1}],
  "traffic": [{"messages": 2000, "over": "10m"}]}"#;

#[test]
fn dash_reads_the_scenario_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = mtasim_with_stdin(&["validate", "-"], dir.path(), SMALL.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "<stdin>: ok (2000 messages, 20m simulated)\n");
    let out = mtasim_with_stdin(
        &["run", "-", "--out", "run", "--no-plots", "-q"],
        dir.path(),
        SMALL.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = std::fs::read_to_string(dir.path().join("run/summary.json")).unwrap();
    assert!(summary.contains("\"scenario\": \"small\""));
    let out = mtasim_with_stdin(&["run", "-"], dir.path(), b"{\"name\": ");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: <stdin>:1:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_out_that_is_a_file_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("taken"), "mine").unwrap();
    std::fs::write(dir.path().join("maillog"), "not a log\n").unwrap();
    let commands: [&[&str]; 4] = [
        &["run", "--out", "taken"],
        &["sweep", "--out", "taken", "--vary", "seed=1,2"],
        &["sweep-merge", "missing-shard", "--out", "taken"],
        &["diagnose", "maillog", "--out", "taken"],
    ];
    for args in commands {
        let out = mtasim_with_stdin(args, dir.path(), b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "error: --out taken: is a file, not a folder\n",
            "{args:?}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("taken")).unwrap(),
            "mine"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "nothing written"
    );
}

#[test]
fn diagnose_a_runs_log_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = mtasim_with_stdin(
        &[
            "run",
            "-",
            "--out",
            "run",
            "--no-plots",
            "-q",
            "--log-format",
            "postfix",
        ],
        dir.path(),
        SMALL.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let maillog = std::fs::read(dir.path().join("run/maillog")).unwrap();
    let out = mtasim_with_stdin(
        &["diagnose", "-", "--year", "2026", "--out", "diag"],
        dir.path(),
        &maillog,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = stdout(&out);
    // The verdict comes first.
    let first = stdout.lines().next().unwrap();
    assert!(first.starts_with("few-destinations: "), "{stdout}");
    for file in [
        "diagnosis.json",
        "timeseries.csv",
        "report.html",
        "overview.png",
        "destination-01-yahoo.png",
    ] {
        assert!(dir.path().join("diag").join(file).exists(), "{file}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("diag/diagnosis.json")).unwrap())
            .unwrap();
    assert_eq!(json["verdict"], "few-destinations");
    assert_eq!(json["affected"], serde_json::json!(["yahoo"]));
    let episode = &json["episodes"][0];
    assert_eq!(episode["destination"], "yahoo");
    assert_eq!(episode["known_reply"], "yahoo-tss04");
    assert_eq!(episode["cause"], "reputation");
    assert!(episode["advice"].as_str().unwrap().contains("2 hours"));
    assert_eq!(json["time"]["files"][0]["name"], "-");
    assert_eq!(json["time"]["files"][0]["origin"]["year"], 2026);
    assert_eq!(json["time"]["origin"], "2026-06-14T00:00:00.000Z");
    let lines = &json["lines"];
    assert_eq!(
        lines["read"].as_u64().unwrap(),
        lines["parsed"].as_u64().unwrap() + lines["skipped"].as_u64().unwrap()
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run/summary.json")).unwrap())
            .unwrap();
    for name in ["yahoo", "fine"] {
        let (mine, theirs) = (&json["destinations"][name], &summary["destinations"][name]);
        assert_eq!(mine["delivered"], theirs["delivered"], "{name}");
        assert_eq!(mine["deferred"], theirs["deferrals"], "{name}");
        assert_eq!(mine["bounced"], theirs["bounced"], "{name}");
    }
}

#[test]
fn a_log_without_delivery_records_is_bad_input_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let noise = "Jun 14 00:00:00 mx postfix/smtpd[1]: connect from unknown[192.0.2.1]\n";
    std::fs::write(dir.path().join("maillog"), noise).unwrap();
    let out = mtasim_with_stdin(&["diagnose", "maillog", "--out", "diag"], dir.path(), b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: no line of maillog is a delivery record"),
        "{}",
        stderr(&out)
    );
    let out = mtasim_with_stdin(&["diagnose", "missing.log"], dir.path(), b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: cannot read missing.log"));
    assert!(!dir.path().join("diag").exists());
    assert!(!dir.path().join("output").exists());
}
