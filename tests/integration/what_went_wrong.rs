//! What the user sees leads with what went wrong: the run's terminal summary (compared as
//! text) and report.html (its verdict, columns and ranking, in headless Chromium) put
//! lost messages, blocks and held destinations first, worst first; validate reports every
//! file; an override's error names the override.

use std::path::Path;
use std::process::Command;

use crate::common::{mtasim, repo, stderr, stdout};

/// Three receivers: two only greylist, one is hammered into a block. By name the blocked
/// one comes last; by harm it comes first.
const BLOCKED: &str = r#"{"name": "blocked", "seed": 3, "duration": "6h",
  "mta": {"max_connections": 50, "retry": {"schedule": "exponential", "initial": "1m",
          "factor": 2, "max": "10m", "jitter": "none", "max_age": "5d"}},
  "flow_control": {"errors": {"threshold": 0}, "concurrency": {"failed_cohort_limit": 0}},
  "receivers": [
    {"name": "aaa-grey", "domains": ["aaa.example"], "share": 1, "greylisting": {"min_delay": "5m"}},
    {"name": "bbb-grey", "domains": ["bbb.example"], "share": 1, "greylisting": {"min_delay": "5m"}},
    {"name": "zzz-blocked", "domains": ["zzz.example"], "share": 2,
     "rate_limit": {"rate": "600/h", "burst": 10, "reply": "yahoo-ts02"},
     "reputation": {"initial": 0.8, "baseline": 0.8, "recovery_per_hour": 0.01,
                    "penalty_per_ignored_deferral": 0.01, "throttle_below": 0.6,
                    "block_below": 0.3, "unblock_above": 0.5,
                    "throttle_reply": "yahoo-ts01", "block_reply": "microsoft-s3150"}}],
  "traffic": [{"messages": 4000, "over": "30m"}]}"#;

fn blocked_run(dir: &Path, extra: &[&str]) -> String {
    std::fs::write(dir.join("blocked.json"), BLOCKED).unwrap();
    let out = mtasim(
        &[&["run", "blocked.json", "--out", "out"][..], extra].concat(),
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// The summary with its wall time masked.
fn masked(text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if let Some(first) = lines.first_mut()
        && let Some(at) = first.find(" simulated in ")
    {
        first.truncate(at);
        first.push_str(" simulated in <wall> s");
    }
    lines.join("\n") + "\n"
}

#[test]
fn the_run_summary_leads_with_the_verdict_and_the_worst_destination() {
    let dir = tempfile::tempdir().unwrap();
    let text = masked(&blocked_run(dir.path(), &["--no-plots"]));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    let zzz = &summary["destinations"]["zzz-blocked"];
    let bounced = zzz["bounced"].as_u64().unwrap();
    let blocked = zzz["bounces_by_reason"]["blocked"].as_u64().unwrap();
    assert!(blocked > 1000, "the scenario must block: {zzz}");
    assert_eq!(
        summary["totals"]["bounced"], bounced,
        "only zzz-blocked bounces"
    );
    let delivered = summary["totals"]["delivered"].as_u64().unwrap();
    let deferrals = summary["totals"]["deferrals"].as_u64().unwrap();
    let attempts = summary["totals"]["attempts"].as_u64().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "blocked (seed 3): 6h simulated in <wall> s");
    assert_eq!(
        lines[1],
        format!(
            "  verdict: {bounced} of 4000 messages lost ({:.1}%): {bounced} bounced (blocked \
             {blocked}); worst: zzz-blocked ({bounced} lost, blocked 1 time).",
            100.0 * bounced as f64 / 4000.0
        )
    );
    assert_eq!(
        lines[2],
        "  what went wrong, worst first (messages lost, still queued, blocks, time held, unknown \
         users):"
    );
    assert!(
        lines[3].starts_with(&format!(
            "    zzz-blocked: {bounced} lost ({bounced} bounced: blocked {blocked}), blocked 1 \
             time, reputation down to "
        )),
        "{text}"
    );
    assert_eq!(
        &lines[4..],
        [
            format!(
                "  injected 4000  delivered {delivered} ({:.1}%)  bounced {bounced}  expired 0  \
                 still queued 0",
                100.0 * delivered as f64 / 4000.0
            )
            .as_str(),
            lines[5],
            "  dynamic flow control: no destination entered backoff",
            "  outputs: out",
        ]
    );
    assert!(lines[5].starts_with(&format!(
        "  attempts {attempts}  deferrals {deferrals}  latency of the delivered p50 "
    )));
}

#[test]
fn a_clean_run_says_so_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let clean = r#"{"name": "clean", "seed": 1, "duration": "1h",
      "receivers": [{"name": "fine", "domains": ["fine.example"], "share": 1}],
      "traffic": [{"messages": 100, "over": "10m"}]}"#;
    std::fs::write(dir.path().join("clean.json"), clean).unwrap();
    let out = mtasim(
        &["run", "clean.json", "--no-plots", "--out", "o"],
        dir.path(),
    );
    let text = masked(&stdout(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..2],
        [
            "clean (seed 1): 1h simulated in <wall> s",
            "  verdict: All 100 messages delivered; no destination entered backoff.",
        ]
    );
    assert!(lines[2].starts_with("  injected 100  delivered 100 (100.0%)"));
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// The report's layout as the page's own script measures it after opening it at
/// `width` pixels: `data-layout` on `<body>`.
fn layout(page: &Path, width: u32) -> Option<serde_json::Value> {
    if !Path::new(CHROMIUM).exists() {
        println!("note: {CHROMIUM} is absent, so the report's layout is not checked");
        return None;
    }
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("timeout")
        .arg("120")
        .arg(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--window-size={width},1000"),
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}#layout", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    let key = "data-layout=\"";
    let start = dom
        .find(key)
        .unwrap_or_else(|| panic!("no data-layout: {}", stderr(&output)))
        + key.len();
    let end = start + dom[start..].find('"').unwrap();
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    Some(serde_json::from_str(&json).unwrap())
}

#[test]
fn the_report_shows_the_verdict_and_the_harm_columns_and_ranks_the_block_first() {
    let dir = tempfile::tempdir().unwrap();
    blocked_run(dir.path(), &["-q"]);
    let page = dir.path().join("out/report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<p class=\"verdict\" id=\"verdict\">"));
    assert!(html.contains("<h3 id=\"losses\">Bounces by reason, expiries by last reply</h3>"));
    let charts: Vec<String> = crate::common::names(&dir.path().join("out"))
        .into_iter()
        .filter(|n| n.starts_with("destination-") && n.ends_with(".png"))
        .collect();
    assert_eq!(charts[0], "destination-01-zzz-blocked.png", "{charts:?}");
    for width in [2000, 1400] {
        let Some(layout) = layout(&page, width) else {
            return;
        };
        let verdict = layout["verdict"].as_str().unwrap();
        assert!(verdict.contains("messages lost"), "{layout}");
        assert!(verdict.contains("worst: zzz-blocked"), "{layout}");
        // The verdict is above the summary table, in the first screenful.
        assert!(layout["verdictTop"].as_f64().unwrap() < 200.0, "{layout}");
        // Rows and explorer entries worst first: the block before the greylisting.
        assert_eq!(layout["rows"][0], "total", "{layout}");
        assert_eq!(layout["rows"][1], "zzz-blocked", "{layout}");
        assert_eq!(layout["entries"][1], "zzz-blocked", "{layout}");
        // Blocks and min reputation are on screen without scrolling sideways.
        for header in ["lost", "blocks", "min reputation"] {
            let right = layout["headers"][header].as_f64().unwrap();
            assert!(
                right <= width as f64,
                "{header} ends at {right} px of {width}: {layout}"
            );
        }
        if width == 2000 {
            assert_eq!(
                layout["overflow"], 0,
                "the table scrolls sideways: {layout}"
            );
        }
    }
}

#[test]
fn validate_checks_every_file_and_fails_if_any_failed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.json"), BLOCKED).unwrap();
    std::fs::write(dir.path().join("bad.json"), "{\"name\": 3}").unwrap();
    let out = mtasim(
        &["validate", "good.json", "bad.json", "good.json"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        "good.json: ok (4000 messages, 6h simulated)\ngood.json: ok (4000 messages, 6h simulated)\n"
    );
    assert_eq!(
        stderr(&out),
        "error: bad.json:1:10: name: invalid type: integer `3`, expected a string\n\
         error: 1 of 3 files are not valid scenarios\n"
    );
}

#[test]
fn a_typo_in_vary_names_the_vary_not_a_place_in_a_hidden_file() {
    let out = mtasim(
        &[
            "sweep",
            repo("scenarios/tuning-backoff.json").to_str().unwrap(),
            "--vary",
            "flow_control.backof.retry_after=1h,2h",
        ],
        &repo(""),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: --vary flow_control.backof.retry_after=1h: flow_control.backof: unknown field \
         `backof`, expected one of `key`, `concurrency`, `max_rate`, `errors`, `backoff`, \
         `suspend`, `rules`, `overrides`\n"
    );
}

#[test]
fn every_subcommand_has_examples_in_its_help() {
    let commands = [
        "run",
        "validate",
        "schema",
        "replies",
        "sweep",
        "sweep-merge",
        "import-config",
        "export-config",
        "diagnose",
        "calibrate",
        "replay",
    ];
    for command in commands {
        let out = mtasim(&[command, "--help"], &repo(""));
        assert!(
            stdout(&out).contains("\nExamples:\n  mtasim "),
            "{command} --help has no examples:\n{}",
            stdout(&out)
        );
    }
    // In an 80-column terminal no example wraps: a wrapped command line would start at
    // column 0 and copy as two commands.
    for command in std::iter::once("").chain(commands) {
        let out = crate::common::command()
            .args([command, "--help"].into_iter().filter(|a| !a.is_empty()))
            .env("COLUMNS", "80")
            .output()
            .unwrap();
        let help = stdout(&out);
        let examples = help.split("\nExamples:\n").nth(1).unwrap();
        for line in examples.split("\n\n").next().unwrap().lines() {
            assert!(
                line.starts_with("  "),
                "{command} --help at 80 columns: {line:?}"
            );
        }
    }
}

#[test]
fn the_log_flags_have_one_name_in_every_command() {
    for command in ["diagnose", "calibrate", "replay"] {
        let help = stdout(&mtasim(&[command, "--help"], &repo("")));
        for flag in [
            "--log-format <FORMAT>",
            "--year <YEAR>",
            "--utc-offset <+HH:MM>",
        ] {
            assert!(help.contains(flag), "{command} has no {flag}:\n{help}");
        }
    }
    assert!(stdout(&mtasim(&["replay", "--help"], &repo(""))).contains("--no-plots"));
    // A log nobody can read names the flag that says its format; diagnose's old spelling
    // is still accepted.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello\nworld\n").unwrap();
    let out = mtasim(&["diagnose", "notes.txt"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: notes.txt: unknown format: none of its first lines is a Postfix, Exim, KumoMTA \
         or PowerMTA record (give --log-format postfix, exim, kumomta or pmta to read it as one)\n"
    );
    let out = mtasim(
        &["diagnose", "notes.txt", "--format", "postfix"],
        dir.path(),
    );
    assert!(
        !stderr(&out).contains("unexpected argument"),
        "{}",
        stderr(&out)
    );
}

/// A small Postfix maillog of `name`, written by a run.
fn maillog(dir: &Path, name: &str) -> std::path::PathBuf {
    let clean = r#"{"name": "clean", "seed": 1, "duration": "1h",
      "receivers": [{"name": "fine", "domains": ["fine.example"], "share": 1}],
      "traffic": [{"messages": 50, "over": "10m"}]}"#;
    std::fs::write(dir.join("clean.json"), clean).unwrap();
    let out = mtasim(
        &[
            "run",
            "clean.json",
            "--log-format",
            "postfix",
            "--no-plots",
            "-q",
            "--out",
            name,
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join(name).join("maillog")
}

#[test]
fn numbers_and_times_read_as_people_write_them() {
    use mtasim::sim::SimError;
    use mtasim::units::Span;
    let stopped = SimError::Interrupted(Span::from_millis(103_644_680));
    assert_eq!(
        stopped.to_string(),
        "interrupted at simulated time 1d 4h 47m 24s 680ms; no outputs were written or replaced"
    );
    let error = mtasim(
        &[
            "validate",
            repo("scenarios/default.json").to_str().unwrap(),
            "--set",
            "traffic.0.messages=1.5",
        ],
        &repo(""),
    );
    assert_eq!(
        stderr(&error),
        "error: --set traffic.0.messages=1.5: traffic[0].messages: invalid type: floating point \
         `1.5`, expected a whole number from 0 to 18446744073709551615\n"
    );
    let ok = mtasim(
        &[
            "validate",
            repo("scenarios/default.json").to_str().unwrap(),
            "--set",
            "duration=400 milliseconds",
        ],
        &repo(""),
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
}

#[test]
fn an_exported_winner_shows_its_time_as_a_duration_and_a_tie_is_called_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocked.json"), BLOCKED).unwrap();
    let out = mtasim(
        &[
            "sweep",
            "blocked.json",
            "--vary",
            "flow_control.errors.threshold=10,11",
            "--replications",
            "2",
            "--export",
            "kumomta",
            "--out",
            "s",
            "--no-plots",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Thresholds of 10 and 11 errors a minute behave alike: a tie.
    let said = stdout(&out);
    assert!(
        said.contains("\n  a tie, not a win: the runner-up flow_control.errors.threshold="),
        "{said}"
    );
    let toml = std::fs::read_to_string(dir.path().join("s/best.kumomta.toml")).unwrap();
    let winner = toml.lines().find(|l| l.starts_with("# Winner:")).unwrap();
    // "p95_latency = 7m (95% CI 6m 50s .. 7m 10s)", not seconds with three decimals.
    let value = winner.split("p95_latency = ").nth(1).unwrap();
    let mean = &value[..value.find(" (").unwrap()];
    assert!(
        mean.ends_with(['s', 'm', 'h', 'd']) && !mean.contains('.'),
        "{winner}"
    );
}

#[test]
fn diagnose_counts_one_destination_in_the_singular() {
    let dir = tempfile::tempdir().unwrap();
    let log = maillog(dir.path(), "a");
    let out = mtasim(
        &[
            "diagnose",
            log.to_str().unwrap(),
            "--year",
            "2026",
            "--no-plots",
            "--out",
            "d",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("): 1 destination (0 busy), "), "{said}");
}

/// Unknown users bounce everywhere in proportion to volume (the list's, not the sender's):
/// they rank after time held, so the three destinations in backoff lead, not the ten that
/// only had unknown users and led before.
#[test]
fn destinations_held_back_outrank_those_that_only_bounced_unknown_users() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = repo("scenarios/reputation-few-domains.json");
    let args = [
        "run",
        scenario.to_str().unwrap(),
        "--no-plots",
        "--out",
        "few",
    ];
    let out = mtasim(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].contains("; worst: comcast (53 lost, "), "{text}");
    let first: Vec<&str> = lines[3..6]
        .iter()
        .map(|l| l.trim_start().split(':').next().unwrap())
        .collect();
    // Comcast was held longest; gmx and orange as long, orange with more unknown users.
    assert_eq!(first, ["comcast", "orange", "gmx"], "{text}");
    assert!(
        lines[6].starts_with("    gen-000001: 93 lost (93 bounced: user_unknown 93)"),
        "{text}"
    );
}
