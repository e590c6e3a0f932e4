//! Bad scenarios are refused with one error naming the JSON path and line:column.

use mtasim::scenario::{self, Override, ScenarioError};

/// A small valid scenario, one line per field so positions are easy to assert.
const BASE: &str = r#"{
  "name": "t",
  "seed": 1,
  "duration": "1h",
  "flow_control": {
    "errors": { "window": "1m", "threshold": 10 },
    "rules": [ { "match": "TSS04", "action": "suspend", "duration": "2h" } ]
  },
  "receivers": [
    { "name": "a", "domains": ["a.example"], "share": 1,
      "rate_limit": { "rate": "60/min", "burst": 5 },
      "reputation": { "block_below": 0.2, "unblock_above": 0.4 } }
  ],
  "traffic": [ { "start": "0s", "messages": 10, "over": "1m" } ]
}"#;

fn load(text: &str) -> Result<scenario::CompiledScenario, ScenarioError> {
    scenario::load("t.json", text, &[])
}

fn error_of(text: &str) -> ScenarioError {
    load(text).expect_err("the scenario should be refused")
}

#[test]
fn the_base_scenario_is_valid() {
    load(BASE).unwrap();
}

/// (what to replace in BASE, its replacement, expected path, expected line, a word of the message)
const CASES: &[(&str, &str, &str, usize, &str)] = &[
    (
        r#""duration": "1h""#,
        r#""duration": "0s""#,
        "duration",
        4,
        "zero",
    ),
    (
        r#""duration": "1h""#,
        r#""duration": "-1h""#,
        "duration",
        4,
        "duration",
    ),
    (
        r#""duration": "1h""#,
        r#""duration": 3600"#,
        "duration",
        4,
        "string",
    ),
    (r#""seed": 1"#, r#""seed": -1"#, "seed", 3, "invalid"),
    (
        r#""seed": 1"#,
        r#""seed": 1, "colour": "red""#,
        "colour",
        3,
        "unknown field",
    ),
    (
        r#""60/min""#,
        r#""0/min""#,
        "receivers[0].rate_limit.rate",
        11,
        "positive",
    ),
    (
        r#""60/min""#,
        r#""sixty""#,
        "receivers[0].rate_limit.rate",
        11,
        "rate",
    ),
    (r#""share": 1"#, r#""share": 0"#, "receivers", 9, "sum"),
    (
        r#""share": 1"#,
        r#""share": -1"#,
        "receivers[0].share",
        10,
        ">= 0",
    ),
    (
        r#""block_below": 0.2"#,
        r#""block_below": 0.5"#,
        "receivers[0].reputation.block_below",
        12,
        "unblock_above",
    ),
    (
        r#""match": "TSS04""#,
        r#""match": "TSS(04""#,
        "flow_control.rules[0].match",
        7,
        "regex",
    ),
    (
        r#""window": "1m""#,
        r#""window": "0s""#,
        "flow_control.errors.window",
        6,
        "zero",
    ),
    (
        r#""messages": 10"#,
        r#""messages": 1.5"#,
        "traffic[0].messages",
        14,
        "invalid type",
    ),
    (
        r#""start": "0s""#,
        r#""start": "2h""#,
        "traffic[0].start",
        14,
        "after the end",
    ),
    (
        r#""domains": ["a.example"]"#,
        r#""domains": []"#,
        "receivers[0].domains",
        10,
        "domain",
    ),
];

#[test]
fn each_bad_scenario_names_its_path_and_line() {
    for &(from, to, path, line, word) in CASES {
        assert!(BASE.contains(from), "case {from:?} does not apply");
        let error = error_of(&BASE.replacen(from, to, 1));
        assert_eq!(error.path, path, "{to}: {error}");
        assert_eq!(error.position.map(|p| p.0), Some(line), "{to}: {error}");
        assert!(
            error.message.to_lowercase().contains(&word.to_lowercase()),
            "{to}: message {:?} lacks {word:?}",
            error.message
        );
        let shown = error.to_string();
        assert!(shown.starts_with(&format!("t.json:{line}:")), "{shown}");
    }
}

#[test]
fn syntax_errors_have_a_position_and_no_path() {
    let error = error_of(&BASE[..200]);
    assert_eq!(error.path, "");
    assert!(error.position.is_some());
    let error = error_of("{\"name\": \"t\",,}");
    assert_eq!(error.position, Some((1, 14)));
}

#[test]
fn duplicate_receivers_and_domains_are_refused() {
    let two = BASE.replace(
        r#"  ],
  "traffic""#,
        r#"    ,{ "name": "a", "domains": ["b.example"], "share": 1 }
  ],
  "traffic""#,
    );
    assert_eq!(error_of(&two).path, "receivers[1].name");
    let shared = two.replace(
        r#""name": "a", "domains": ["b.example"]"#,
        r#""name": "b", "domains": ["a.example"]"#,
    );
    assert_eq!(error_of(&shared).path, "receivers[1].domains[0]");
}

#[test]
fn overrides_apply_and_their_errors_say_so() {
    let set = |s: &str| s.parse::<Override>().unwrap();
    let scenario = scenario::load(
        "t.json",
        BASE,
        &[set("duration=12h"), set("receivers.0.share=0.5")],
    )
    .unwrap();
    assert_eq!(scenario.scenario.duration.as_millis(), 12 * 3_600_000);
    let error =
        scenario::load("t.json", BASE, &[set("receivers.0.rate_limit.rate=0/min")]).unwrap_err();
    assert_eq!(error.path, "receivers[0].rate_limit.rate");
    assert_eq!(
        error.set_by.as_deref(),
        Some("receivers.0.rate_limit.rate=0/min")
    );
    assert!(
        error
            .describe("--set")
            .starts_with("--set receivers.0.rate_limit.rate=0/min: receivers[0].rate_limit.rate: "),
        "{error}"
    );
    // A key the override added, misspelt: the override's error, not a place in the file.
    let error =
        scenario::load("t.json", BASE, &[set("flow_control.backof.retry_after=1h")]).unwrap_err();
    assert_eq!(
        error.describe("--set"),
        "--set flow_control.backof.retry_after=1h: flow_control.backof: unknown field `backof`, \
         expected one of `key`, `concurrency`, `max_rate`, `errors`, `backoff`, `suspend`, \
         `rules`, `overrides`"
    );
    let error = scenario::load("t.json", BASE, &[set("receivers.3.share=1")]).unwrap_err();
    assert!(error.to_string().contains("out of range"), "{error}");
}

#[test]
fn the_default_scenario_and_every_shipped_scenario_validate() {
    scenario::load("default", scenario::DEFAULT_SCENARIO, &[]).unwrap();
    for entry in std::fs::read_dir(crate::common::repo("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            scenario::load_file(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// Eight patterns that each fit the regex size limit but not together: refused when the
/// scenario is loaded, with its place, not later when the run compiles them as one set.
#[test]
fn rules_too_big_together_are_refused_at_load() {
    let rule = r#"{ "match": "\\w{100}", "action": "backoff" }"#;
    let rules = [rule; 8].join(",\n      ");
    let text = BASE.replace(
        r#"{ "match": "TSS04", "action": "suspend", "duration": "2h" }"#,
        &rules,
    );
    let e = error_of(&text);
    assert_eq!(e.path, "flow_control.rules");
    assert_eq!(e.position, Some((7, 14)));
    assert!(e.message.contains("size limit"), "{e}");
    assert!(!e.to_string().contains('\n'), "one line: {e}");
}
