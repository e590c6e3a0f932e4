//! `mtasim tune` end to end on the generator's hammered Gmail (a sender that never backs
//! off, a receiver that takes 20,000 an hour): the recommendation must send just under the
//! receiver's limit, and so lose nothing the log lost; bad input writes nothing.

use std::path::Path;

use super::generator::{Format, generate};
use super::{hammer, scratch};
use crate::common::{mtasim, stderr, stdout};

/// The generator's gmail limit, per hour.
const GMAIL_LIMIT: f64 = 20_000.0;

fn hammered_log(dir: &Path) -> std::path::PathBuf {
    let (text, _) = generate(&hammer(), Format::Postfix);
    let log = dir.join("maillog");
    std::fs::write(&log, text).unwrap();
    log
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn tune_caps_a_hammered_destination_under_its_limit_and_loses_nothing() {
    let dir = scratch("tune");
    let log = hammered_log(dir.path());
    let out = dir.path().join("tuned");
    let args = [
        "tune",
        log.to_str().unwrap(),
        "--year",
        "2026",
        "--out",
        out.to_str().unwrap(),
    ];
    let run = mtasim(&args, dir.path());
    assert!(run.status.success(), "{}", stderr(&run));
    for file in [
        "twin.json",
        "fit.json",
        "best.json",
        "recommended.postfix.cf",
        "report.html",
        "sweep/summary.csv",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let best = json(&out.join("best.json"));
    let rate = best["flow_control"]["overrides"]["gmail"]["max_rate"]
        .as_str()
        .unwrap();
    let per_hour: f64 = rate.strip_suffix("/h").unwrap().parse().unwrap();
    assert!(
        (0.75 * GMAIL_LIMIT..GMAIL_LIMIT).contains(&per_hour),
        "gmail capped at {rate}, the receiver takes {GMAIL_LIMIT}/h"
    );
    // The terminal's table: gmail's log, twin and recommendation, expiries last.
    let text = stdout(&run);
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("gmail "))
        .take(3)
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    let expired = |row: &str| {
        row.split_whitespace()
            .last()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(expired(rows[0]) >= 1_000, "the log lost mail: {}", rows[0]);
    assert_eq!(
        expired(rows[2]),
        0,
        "the recommendation loses none: {}",
        rows[2]
    );
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("\"sources\":[\"log\",\"twin\",\"recommended\"],\"overlay\":true"));
    assert!(
        std::fs::read_to_string(out.join("recommended.postfix.cf"))
            .unwrap()
            .contains("from best.json")
    );
}

#[test]
fn tune_refuses_bad_input_and_writes_nothing() {
    let dir = scratch("tune-bad");
    let log = hammered_log(dir.path());
    let out = dir.path().join("tuned");
    let o = out.to_str().unwrap();
    let l = log.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["tune", "missing.log", "--out", o], "missing.log"),
        (&["tune", "-", "--out", o], "standard input"),
        (
            &[
                "tune",
                l,
                "--year",
                "2026",
                "--vary",
                "flow_control.errors.threshold=-1,5",
                "--out",
                o,
            ],
            "--vary",
        ),
    ];
    for (args, says) in cases {
        let run = mtasim(args, dir.path());
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", stderr(&run));
        assert!(stderr(&run).contains(says), "{args:?}: {}", stderr(&run));
        assert!(!out.exists(), "{args:?} wrote {o}");
    }
}
