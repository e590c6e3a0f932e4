//! import-config and export-config through the command line: the fixture configurations
//! under scenarios/configs/ imported with exact values and run, bad input refused with
//! its place and nothing written, and exports that parse by each format's own rules.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::{mtasim, repo, stderr};

fn fixture(path: &str) -> String {
    repo("scenarios/configs").join(path).display().to_string()
}

/// Imports `files`, checks the run succeeds, and returns the scenario and the warnings.
fn import(format: &str, files: &[String], dir: &Path) -> (Value, String) {
    let mut args = vec!["import-config".to_string()];
    args.extend(files.iter().cloned());
    args.extend([
        "--format".into(),
        format.into(),
        "--out".into(),
        "imported.json".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = mtasim(&args, dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.join("imported.json")).unwrap();
    let run = mtasim(
        &[
            "run",
            "imported.json",
            "--set",
            "duration=2h",
            "--set",
            "traffic.0.messages=5000",
            "--out",
            "run",
        ],
        dir,
    );
    assert!(run.status.success(), "run: {}", stderr(&run));
    (serde_json::from_str(&text).unwrap(), stderr(&out))
}

#[test]
fn kumomta_fixture_imports_with_its_values_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        fixture("kumomta/shaping.toml"),
        fixture("kumomta/queue.toml"),
    ];
    let (s, warnings) = import("kumomta", &files, dir.path());
    let fc = &s["flow_control"];
    assert_eq!(s["name"], "imported");
    assert_eq!(fc["key"], "receiver");
    assert_eq!(
        fc["concurrency"],
        json!({"initial": 10, "max": 10, "positive_feedback": "1",
               "negative_feedback": "1/concurrency", "failed_cohort_limit": 0,
               "dead_backoff": "5m", "rounding": "half"})
    );
    assert_eq!(fc["max_rate"], "100/s");
    assert_eq!(fc["errors"]["threshold"], 0);
    assert_eq!(fc["suspend"]["after_backoffs"], 0);
    // Neutral backoff: capped at the largest destination's limit (comcast's 25).
    assert_eq!(fc["backoff"]["concurrency"], 25);
    assert_eq!(fc["backoff"]["retry_after"], "0s");
    let reputation = json!({"match": "(?:Messages from \\d+\\.\\d+\\.\\d+\\.\\d+ temporarily deferred)|(?:has been temporarily rate limited due to IP reputation)",
        "action": "set", "trigger": "immediate", "duration": "1h 30m",
        "set": {"concurrency": 1, "max_rate": "1/min"}});
    assert_eq!(fc["rules"], json!([reputation]));
    let o = &fc["overrides"];
    // Gmail: the provider's 4.7.28 threshold rule (2 per hour, counted over the duration).
    assert_eq!(o["gmail"]["concurrency"], json!({"initial": 10, "max": 10}));
    assert_eq!(
        o["gmail"]["rules"][1],
        json!({"match": "4\\.7\\.28", "action": "set", "trigger": "2/h", "duration": "1h",
               "set": {"max_rate": "10/min"}})
    );
    // Yahoo: TSS04 suspends for two hours.
    assert_eq!(
        o["yahoo"]["rules"][1],
        json!({"match": "\\[TS?S04\\]", "action": "suspend", "trigger": "immediate", "duration": "2h"})
    );
    // Microsoft: the per-domain limits and the reputation rate limit.
    assert_eq!(
        o["microsoft"]["concurrency"],
        json!({"initial": 8, "max": 8})
    );
    assert_eq!(o["microsoft"]["max_rate"], "2000/h");
    assert_eq!(o["microsoft"]["rules"][1]["trigger"], "3/30m");
    assert_eq!(
        o["microsoft"]["rules"][1]["set"],
        json!({"max_rate": "300/h"})
    );
    // comcast.net has no receiver in the default scenario: a generic one keeps its limit.
    assert_eq!(
        o["comcast"]["concurrency"],
        json!({"initial": 25, "max": 25})
    );
    let comcast = s["receivers"].as_array().unwrap().last().unwrap();
    assert_eq!(
        *comcast,
        json!({"name": "comcast", "domains": ["comcast.net"], "share": 0.05})
    );
    assert_eq!(o.as_object().unwrap().len(), 4);
    let mta = &s["mta"];
    assert_eq!(mta["max_deliveries_per_connection"], 100);
    assert_eq!(mta["session_idle_timeout"], "1m");
    assert_eq!(mta["connect_timeout"], "1m");
    assert_eq!(
        mta["retry"],
        json!({"schedule": "exponential", "initial": "15m", "factor": 2.0, "max": "4h",
               "intervals": [], "jitter": "none", "max_age": "3d"})
    );
    for expected in [
        "shaping.toml:6:1: default.max_connection_rate: not imported",
        "shaping.toml:59:2: comcast.net: approximated: no receiver of the default scenario has this domain: added a generic receiver comcast",
        "queue.toml:9:8: queue.gmail.com: not imported",
    ] {
        assert!(warnings.contains(expected), "{expected:?} in {warnings}");
    }
}

#[test]
fn postfix_fixture_imports_per_transport_settings_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let files = ["postfix/main.cf", "postfix/master.cf", "postfix/transport"].map(fixture);
    let (s, warnings) = import("postfix", &files, dir.path());
    let fc = &s["flow_control"];
    assert_eq!(fc["key"], "domain");
    assert_eq!(
        fc["concurrency"],
        json!({"initial": 4, "max": 20, "positive_feedback": "1/concurrency",
               "negative_feedback": "0.25", "failed_cohort_limit": 5, "dead_backoff": "5m", "rounding": "half"})
    );
    assert_eq!(fc.get("max_rate"), None);
    assert_eq!(fc["rules"], json!([]));
    let o = &fc["overrides"];
    for gmail in ["gmail.com", "googlemail.com"] {
        assert_eq!(o[gmail], json!({"concurrency": {"initial": 10, "max": 40}}));
    }
    // yahoo_destination_concurrency_limit = $slow_limit, expanded.
    for yahoo in ["yahoo.com", "ymail.com", "aol.com"] {
        assert_eq!(
            o[yahoo],
            json!({"concurrency": {"max": 5, "negative_feedback": "1", "failed_cohort_limit": 1}})
        );
    }
    // The rate delay forces concurrency 1; the master.cf -o limit has no effect.
    for microsoft in ["outlook.com", "hotmail.com", "live.com"] {
        assert_eq!(
            o[microsoft],
            json!({"concurrency": {"initial": 1, "max": 1, "failed_cohort_limit": 10},
                   "max_rate": "1/2s"})
        );
    }
    assert_eq!(o.as_object().unwrap().len(), 8);
    let mta = &s["mta"];
    assert_eq!(mta["max_connections"], 150);
    assert_eq!(mta["connect_timeout"], "20s");
    assert_eq!(mta["greeting_timeout"], "2m");
    assert_eq!(
        mta["retry"],
        json!({"schedule": "postfix", "initial": "5m", "factor": 2.0, "max": "1h",
               "intervals": [], "jitter": "none", "max_age": "3d", "queue_run_delay": "5m"})
    );
    for expected in [
        "master.cf:14:1: microsoft -o microsoft_destination_concurrency_limit: not imported: a queue manager parameter has no effect",
        "transport:10:1: example.org: approximated: no receiver of the default scenario has this domain: added a generic receiver example.org",
        "main.cf:39:1: microsoft_destination_rate_delay: approximated",
    ] {
        assert!(warnings.contains(expected), "{expected:?} in {warnings}");
    }
}

#[test]
fn pmta_fixture_imports_backoff_mode_and_rollups_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (s, warnings) = import("pmta", &[fixture("pmta/config")], dir.path());
    let fc = &s["flow_control"];
    assert_eq!(fc["key"], "receiver");
    assert_eq!(fc["concurrency"]["max"], 20);
    assert_eq!(
        fc["backoff"],
        json!({"concurrency": 2, "max_rate": "600/h", "retry_after": "15m",
               "to_normal_after": "30m", "to_normal_after_delivery": true,
               "recovery": "snap", "ramp_steps": 4, "ramp_interval": "15m"})
    );
    assert_eq!(
        fc["rules"],
        json!([
            {"match": "421 .*try again later", "action": "backoff", "trigger": "immediate", "duration": "30m"},
            {"match": "4\\.7\\.28", "action": "backoff", "trigger": "immediate", "duration": "1h"}
        ])
    );
    let o = &fc["overrides"];
    assert_eq!(
        o["gmail"],
        json!({"concurrency": {"initial": 30, "max": 30}})
    );
    assert_eq!(
        o["microsoft"],
        json!({"concurrency": {"initial": 10, "max": 10}, "max_rate": "2000/h",
               "backoff": {"max_rate": "1000/h"}})
    );
    assert_eq!(o["yahoo"]["backoff"], json!({"to_normal_after": "2h"}));
    assert_eq!(
        o["yahoo"]["rules"],
        json!([
            {"match": "\\[TSS04\\]", "action": "suspend", "trigger": "immediate", "duration": "2h"},
            {"match": "\\[TS0[123]\\]", "action": "backoff", "trigger": "immediate", "duration": "2h"}
        ])
    );
    let retry = &s["mta"]["retry"];
    assert_eq!(retry["schedule"], "intervals");
    assert_eq!(retry["intervals"], json!(["10m", "20m", "40m", "1h"]));
    assert_eq!(retry["max_age"], "3d");
    assert_eq!(s["mta"]["max_deliveries_per_connection"], 100);
    assert!(
        warnings.contains("config:63:5: retry-recipients-after: not imported"),
        "{warnings}"
    );
}

/// A bad input: exit code 2, the message, and no output file.
fn refused(format: &str, name: &str, text: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    let out = mtasim(
        &[
            "import-config",
            name,
            "--format",
            format,
            "--out",
            "out.json",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(expected),
        "{expected:?} in {}",
        stderr(&out)
    );
    assert!(!dir.path().join("out.json").exists());
}

#[test]
fn syntax_errors_name_file_line_and_column_and_write_nothing() {
    refused(
        "kumomta",
        "shaping.toml",
        "[\"default\"]\nconnection_limit = 10\nmax_message_rate = 100/s\n",
        "error: shaping.toml:3:20: TOML syntax error",
    );
    refused(
        "kumomta",
        "shaping.toml",
        "[\"default\"]\nconnection_limit = \"lots\"\n",
        "error: shaping.toml:2:20: default.connection_limit: invalid limit \"lots\"",
    );
    refused(
        "kumomta",
        "shaping.toml",
        "[[\"yahoo.com\".automation]]\nregex = '(['\naction = \"Suspend\"\nduration = \"2h\"\n",
        "error: shaping.toml:2:9: yahoo.com.automation[0].regex: bad regex",
    );
    refused(
        "postfix",
        "main.cf",
        "myhostname = a.example\ndefault_destination_concurrency_limit 20\n",
        "error: main.cf:2:38: syntax error: expected `name = value`",
    );
    refused(
        "postfix",
        "main.cf",
        "default_destination_concurrency_negative_feedback = 2\n",
        "error: main.cf:1:1: default_destination_concurrency_negative_feedback = 2: expected number",
    );
    refused(
        "postfix",
        "master.cf",
        "smtp unix - - n - smtp\n",
        "error: master.cf:1:1: syntax error: a master.cf entry has 8 fields",
    );
    refused(
        "pmta",
        "config",
        "<domain *>\n  max-smtp-out 5\n",
        "error: config:1:1: <domain> is never closed",
    );
    refused(
        "pmta",
        "config",
        "<domain *>\n  max-smtp-out 5\n</source>\n",
        "error: config:3:1: </source> closes <domain> opened at line 1",
    );
    refused(
        "pmta",
        "config",
        "<smtp-pattern-list x>\n  reply /4\\.7\\.28 mode=backoff\n</smtp-pattern-list>\n",
        "error: config:2:",
    );
    refused(
        "pmta",
        "config",
        "<domain *>\n  max-msg-rate lots\n</domain>\n",
        "error: config:2:3: max-msg-rate: invalid rate \"lots\"",
    );
}

#[test]
fn bad_arguments_exit_2_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = mtasim(
        &[
            "import-config",
            "missing.toml",
            "--format",
            "kumomta",
            "--out",
            "o.json",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing.toml: cannot read"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("o.json").exists());
}

/// Every flag that names an MTA takes the same names and words its refusal the same way.
#[test]
fn every_mta_flag_refuses_an_unknown_mta_with_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let wanted = "unknown MTA \"exchange\": expected postfix, kumomta, pmta or exim";
    for args in [
        &[
            "import-config",
            "x",
            "--format",
            "exchange",
            "--out",
            "o.json",
        ][..],
        &["export-config", "x.json", "--format", "exchange"],
        &["diagnose", "maillog", "--format", "exchange"],
        &[
            "calibrate",
            "maillog",
            "--log-format",
            "exchange",
            "--out",
            "o.json",
        ],
        &[
            "calibrate",
            "maillog",
            "--out",
            "o.json",
            "--mta",
            "c",
            "--mta-format",
            "exchange",
        ],
        &["run", "--log-format", "exchange"],
        &["sweep", "--vary", "seed=1,2", "--export", "exchange"],
    ] {
        let out = mtasim(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(wanted), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Exports `scenario` into a folder and returns the files.
fn export_folder(scenario: &str, format: &str, dir: &Path) -> Vec<(String, String)> {
    let out = mtasim(
        &[
            "export-config",
            scenario,
            "--format",
            format,
            "--out",
            "exported/",
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir.join("exported"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p: PathBuf| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn exports_of_the_default_scenario_parse_by_each_formats_rules() {
    let dir = tempfile::tempdir().unwrap();
    let default = repo("scenarios/default.json");
    let default = default.to_str().unwrap();
    let kumo = export_folder(default, "kumomta", dir.path());
    assert_eq!(
        kumo.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["queue.toml", "shaping.toml"]
    );
    for (name, text) in &kumo {
        let parsed: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!parsed.is_empty());
    }
    let shaping = &kumo[1].1;
    assert!(shaping.contains("connection_limit = 20"), "{shaping}");
    assert!(
        shaping
            .contains("#   flow_control.errors: KumoMTA has no error-count threshold (10 in 1m)"),
        "{shaping}"
    );
    std::fs::remove_dir_all(dir.path().join("exported")).unwrap();
    let postfix = export_folder(default, "postfix", dir.path());
    let main = &postfix.iter().find(|f| f.0 == "main.cf").unwrap().1;
    for line in main
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, value) = line.split_once(" = ").unwrap_or_else(|| panic!("{line:?}"));
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        assert!(!value.trim().is_empty(), "{line}");
    }
    let master = &postfix.iter().find(|f| f.0 == "master.cf").unwrap().1;
    for line in master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        assert_eq!(line.split_whitespace().count(), 8, "{line}");
    }
    std::fs::remove_dir_all(dir.path().join("exported")).unwrap();
    let pmta = export_folder(default, "pmta", dir.path());
    let mut depth = 0i32;
    for line in pmta[0].1.lines().map(str::trim) {
        if line.starts_with("</") {
            depth -= 1;
        } else if line.starts_with('<') {
            depth += 1;
        }
        assert!(depth >= 0, "{line}");
    }
    assert_eq!(depth, 0);
}

#[test]
fn export_of_an_import_imports_back_to_the_same_scenario() {
    let dir = tempfile::tempdir().unwrap();
    for (format, files) in [
        (
            "kumomta",
            vec![
                fixture("kumomta/shaping.toml"),
                fixture("kumomta/queue.toml"),
            ],
        ),
        (
            "postfix",
            ["postfix/main.cf", "postfix/master.cf", "postfix/transport"]
                .map(fixture)
                .to_vec(),
        ),
        ("pmta", vec![fixture("pmta/config")]),
    ] {
        let (first, _) = import(format, &files, dir.path());
        let _ = std::fs::remove_dir_all(dir.path().join("exported"));
        let exported: Vec<String> = export_folder("imported.json", format, dir.path())
            .into_iter()
            .map(|(name, _)| format!("exported/{name}"))
            .collect();
        let (second, _) = import(format, &exported, dir.path());
        assert_eq!(first["flow_control"], second["flow_control"], "{format}");
        assert_eq!(first["mta"], second["mta"], "{format}");
    }
}

#[test]
fn sweep_export_writes_the_winner_beside_best_json_with_the_sweep_notes() {
    let dir = tempfile::tempdir().unwrap();
    let root = repo("");
    let out = mtasim(
        &[
            "sweep",
            root.join("scenarios/postfix-defaults.json")
                .to_str()
                .unwrap(),
            "--vary",
            "flow_control.concurrency.max=5,20",
            "--set",
            "duration=2h",
            "--set",
            "traffic.0.messages=2000",
            "--replications",
            "2",
            "--no-plots",
            "--quiet",
            "--export",
            "postfix",
            "--out",
            "sweep",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("sweep/best.postfix.cf")).unwrap();
    assert!(text.contains("# Chosen by mtasim sweep: minimize p95_latency; 2 configurations x 2 replications, 2 feasible."), "{text}");
    assert!(
        text.contains("# swept flow_control.concurrency.max over 5, 20: chose "),
        "{text}"
    );
    let again = mtasim(
        &["export-config", "sweep/best.json", "--format", "postfix"],
        dir.path(),
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let from_files = String::from_utf8(again.stdout).unwrap();
    assert_eq!(
        from_files.replace("from sweep/best.json", "from best.json"),
        text,
        "export-config reads the same notes from sweep.json and sweep.csv"
    );
}

/// One provider table serves both bridges: for every built-in provider with mail domains,
/// a KumoMTA `provider` table matched by `MXSuffix` lands on the receiver named after it,
/// and a Postfix log line delivered to each of its domains through that domain's MX host
/// lands on the destination of the same name.
#[test]
fn a_kumomta_mx_suffix_rule_and_a_log_line_land_on_the_same_destination() {
    use mtasim::logs::{LogReader, ReadOptions};
    use mtasim::mta_config::{self, Source};
    use mtasim::providers::BUILTIN;
    use mtasim::{MtaKind, scenario};

    let providers: Vec<_> = BUILTIN.iter().filter(|p| !p.domains.is_empty()).collect();
    let mut into: Value = serde_json::from_str(scenario::DEFAULT_SCENARIO).unwrap();
    into["receivers"] = Value::Array(
        providers
            .iter()
            .map(|p| {
                let domains: Vec<&str> = p.domains.iter().map(|(d, _)| *d).collect();
                json!({"name": p.name, "domains": domains, "share": 1.0})
            })
            .collect(),
    );
    let into = scenario::parse("<test>", &into.to_string(), &[]).unwrap();
    let mut shaping = String::new();
    for (i, p) in providers.iter().enumerate() {
        let matches: Vec<String> = p
            .suffixes
            .iter()
            .map(|s| format!("{{MXSuffix=\".{s}\"}}"))
            .collect();
        shaping += &format!(
            "[provider.\"kumo-{}\"]\nmatch = [{}]\nprovider_connection_limit = {}\n\n",
            p.name,
            matches.join(", "),
            i + 1
        );
    }
    let source = Source {
        name: "shaping.toml".into(),
        text: shaping,
    };
    let imported = mta_config::import(
        MtaKind::KumoMta,
        &[source],
        &into,
        mta_config::MissingDomains::Report,
    )
    .unwrap();
    let overrides = &imported.scenario.flow_control.overrides;
    let mut maillog = String::new();
    for (i, p) in providers.iter().enumerate() {
        assert_eq!(
            overrides[p.name]["concurrency"]["max"],
            json!(i + 1),
            "{}",
            p.name
        );
        for (j, (domain, mx)) in p.domains.iter().enumerate() {
            maillog += &format!(
                "Jun 14 18:08:{:02} mx postfix/smtp[1]: {:X}{j:X}0000: to=<bob@{domain}>, relay={mx}[192.0.2.1]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, status=sent (250 2.0.0 OK)\n",
                i % 60,
                i + 10
            );
        }
    }
    assert_eq!(overrides.len(), providers.len());
    let input: Box<dyn std::io::BufRead + Send> = Box::new(std::io::Cursor::new(maillog));
    let options = ReadOptions {
        year: Some(2026),
        ..ReadOptions::default()
    };
    let mut reader =
        LogReader::from_readers(vec![("maillog".into(), input, None)], options).unwrap();
    let mut seen = 0;
    while let Some(o) = reader.next_outcome().unwrap() {
        let destination = reader.text(o.destination).to_string();
        let domain = reader.text(o.domain).to_string();
        let owner = providers
            .iter()
            .find(|p| p.domains.iter().any(|(d, _)| *d == domain))
            .unwrap();
        assert_eq!(destination, owner.name, "{domain}");
        assert!(overrides.contains_key(&destination));
        seen += 1;
    }
    assert_eq!(
        seen,
        providers.iter().map(|p| p.domains.len()).sum::<usize>()
    );
}

/// Issue 30: a key that is no real setting of the MTA is an error naming the real one
/// (exit 2, nothing written); a real one mtasim does not model stays a warning.
#[test]
fn a_typo_is_refused_with_the_real_name_and_a_real_setting_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    for (file, text, format, wanted) in [
        (
            "shaping.toml",
            "[\"default\"]\nconection_limit = 10\n",
            "kumomta",
            "shaping.toml:2:1: unknown setting `conection_limit`; did you mean `connection_limit`?",
        ),
        (
            "main.cf",
            "default_destination_concurency_limit = 10\n",
            "postfix",
            "main.cf:1:1: unknown setting `default_destination_concurency_limit`; did you mean `default_destination_concurrency_limit`?",
        ),
        (
            "config",
            "<domain *>\n  max-smtp-outt 10\n</domain>\n",
            "pmta",
            "config:2:3: unknown setting `max-smtp-outt`; did you mean `max-smtp-out`?",
        ),
    ] {
        std::fs::write(dir.path().join(file), text).unwrap();
        let out = mtasim(
            &["import-config", file, "--format", format, "--out", "o.json"],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(2), "{file}: {}", stderr(&out));
        assert_eq!(stderr(&out).trim(), format!("error: {wanted}"));
        assert!(!dir.path().join("o.json").exists());
    }
    std::fs::write(
        dir.path().join("shaping.toml"),
        "[\"default\"]\nconnection_limit = 10\nenable_tls = \"Required\"\n",
    )
    .unwrap();
    let out = mtasim(
        &[
            "import-config",
            "shaping.toml",
            "--format",
            "kumomta",
            "--out",
            "o.json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("shaping.toml:3:1: default.enable_tls: not imported"),
        "{}",
        stderr(&out)
    );
}

/// Issue 30: an export after an import lists what the import left out, keeps every domain
/// (a generic receiver for one the default scenario lacks), and writes what was read as it
/// was written: a provider-wide limit stays a provider table, a threshold whose period
/// mtasim approximates keeps its period; importing the export gives the same flow control.
#[test]
fn export_after_import_round_trips_what_was_read_and_lists_what_was_not() {
    let dir = tempfile::tempdir().unwrap();
    let shaping = r#"["default"]
connection_limit = 10
enable_tls = "Required"

[provider."google"]
match = [{MXSuffix=".google.com"}]
provider_connection_limit = 5

[[provider."google".automation]]
regex = "4\\.7\\.28"
action = {SetConfig={name="max_message_rate", value="10/min"}}
trigger = {Threshold="5/hr"}
duration = "2 hours"

[provider."orange"]
match = [{MXSuffix=".orange.fr"}]
provider_connection_limit = 2

["comcast.net"]
connection_limit = 25
"#;
    std::fs::write(dir.path().join("shaping.toml"), shaping).unwrap();
    let import = |files: &[&str], out: &str| {
        let mut args = vec!["import-config"];
        args.extend(files);
        args.extend(["--format", "kumomta", "--out", out]);
        let run = mtasim(&args, dir.path());
        assert!(run.status.success(), "{}", stderr(&run));
        let text = std::fs::read_to_string(dir.path().join(out)).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let first = import(&["shaping.toml"], "first.json");
    let o = &first["flow_control"]["overrides"];
    assert_eq!(o["gmail"]["concurrency"]["max"], 5);
    assert_eq!(o["orange"]["concurrency"]["max"], 2);
    assert_eq!(o["comcast"]["concurrency"]["max"], 25);
    assert_eq!(o["gmail"]["rules"][0]["trigger"], "5/2h");
    let out = mtasim(
        &[
            "export-config",
            "first.json",
            "--format",
            "kumomta",
            "--out",
            "back/",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let back = std::fs::read_to_string(dir.path().join("back/shaping.toml")).unwrap();
    for wanted in [
        "# 1 setting of the imported KumoMTA configuration left out on import, not written:",
        "default.enable_tls: not imported",
        "[provider.\"google\"]\nmatch = [{MXSuffix=\".google.com\"}]\nprovider_connection_limit = 5\n",
        "[provider.\"orange\"]\nmatch = [{MXSuffix=\".orange.fr\"}]\nprovider_connection_limit = 2\n",
        "trigger = {Threshold=\"5/hr\"}",
        "[\"comcast.net\"]\n",
    ] {
        assert!(back.contains(wanted), "{wanted:?} in\n{back}");
    }
    assert!(!back.contains("[\"gmail.com\"]\n# from flow_control.overrides.gmail.concurrency.max"));
    let again = import(&["back/shaping.toml", "back/queue.toml"], "again.json");
    assert_eq!(again["flow_control"], first["flow_control"]);
    assert_eq!(again["receivers"], first["receivers"]);
}
