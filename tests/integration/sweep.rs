//! `mtasim sweep`: VALUES forms, plans, determinism across threads and shards, ranking,
//! and best.json as a runnable scenario.

use std::path::Path;

use mtasim::scenario;
use mtasim::sweep::Sweep;
use mtasim::sweep::exec::run_all;
use mtasim::sweep::metrics::{Estimate, t95};
use mtasim::sweep::plan::{Constraint, Parameter, PlanParts, Problem, Setting, SweepPlan};
use mtasim::sweep::rank::{RunRow, rank};
use mtasim::sweep::values::parse_values;
use serde_json::{Value, json};

use crate::common::{mtasim, mtasim_ok, stderr};

/// A receiver that throttles and sours when hammered, and one that does not: a few
/// hundred messages, so a run takes milliseconds even in a debug build.
const TINY: &str = r#"{
  "name": "tiny", "seed": 5, "duration": "3h", "sample_every": "5m",
  "mta": { "retry": { "initial": "5m", "max": "20m", "jitter": "full", "max_age": "2h" } },
  "flow_control": { "errors": { "window": "1m", "threshold": 5, "count": ["tempfail"] },
                    "backoff": { "concurrency": 1, "max_rate": "300/h", "retry_after": "5m", "to_normal_after": "10m" } },
  "receivers": [
    { "name": "touchy", "domains": ["touchy.example"], "share": 1,
      "rate_limit": { "rate": "200/h", "burst": 10, "reply": "yahoo-ts02" },
      "reputation": { "initial": 0.7, "baseline": 0.7, "recovery_per_hour": 0.05,
                      "penalty_per_ignored_deferral": 0.004, "throttle_below": 0.6,
                      "block_below": 0.4, "unblock_above": 0.5 } },
    { "name": "easy", "domains": ["easy.example"], "share": 1,
      "latency": { "lognormal": { "median": "300ms", "sigma": 0.5 } } }
  ],
  "traffic": [ { "messages": 400, "over": "20m" } ]
}"#;

fn values(text: &str) -> Value {
    Value::Array(parse_values(text).unwrap_or_else(|e| panic!("{text}: {e}")))
}

#[test]
fn every_values_form_expands_exactly() {
    assert_eq!(values("5,10,20"), json!([5, 10, 20]));
    assert_eq!(values("15m, 1h,true,0.5"), json!(["15m", "1h", true, 0.5]));
    assert_eq!(values("[[1,2],\"a,b\"]"), json!([[1, 2], "a,b"]));
    assert_eq!(
        values("5..50:5"),
        json!([5, 10, 15, 20, 25, 30, 35, 40, 45, 50])
    );
    assert_eq!(values("5..48:10"), json!([5, 15, 25, 35, 45]));
    assert_eq!(values("0.1..0.5:0.1"), json!([0.1, 0.2, 0.3, 0.4, 0.5]));
    assert_eq!(values("15m..1h:15m"), json!(["15m", "30m", "45m", "1h"]));
    assert_eq!(
        values("1m..4h:x2"),
        json!(["1m", "2m", "4m", "8m", "16m", "32m", "1h 4m", "2h 8m"])
    );
    assert_eq!(
        values("60/h..600/h:x2"),
        json!(["60/h", "120/h", "240/h", "480/h"])
    );
    assert_eq!(values("1..1000:x10"), json!([1, 10, 100, 1000]));
    assert_eq!(values("0.5..2:x2"), json!([0.5, 1.0, 2.0]));
}

fn plan(parts: PlanParts) -> SweepPlan {
    SweepPlan::resolve(parts, 5).unwrap_or_else(|e| panic!("{e}"))
}

fn vary(texts: &[&str]) -> PlanParts {
    PlanParts {
        parameters: texts
            .iter()
            .map(|t| t.parse::<Parameter>().unwrap())
            .collect(),
        ..PlanParts::default()
    }
}

#[test]
fn the_grid_is_the_product_with_the_last_parameter_fastest() {
    let plan = plan(vary(&["a=1,2", "b=x,y,z"]));
    assert_eq!(
        plan.configurations(),
        vec![
            vec![0, 0],
            vec![0, 1],
            vec![0, 2],
            vec![1, 0],
            vec![1, 1],
            vec![1, 2]
        ]
    );
    let overrides: Vec<String> = plan
        .overrides(&[1, 2])
        .iter()
        .map(|o| o.to_string())
        .collect();
    assert_eq!(overrides, ["a=2", "b=z"]);
}

#[test]
fn random_samples_are_distinct_and_reproducible() {
    let parts = PlanParts {
        samples: Some(7),
        ..vary(&["a=1..10:1", "b=1..10:1"])
    };
    let first = plan(parts.clone()).configurations();
    assert_eq!(first.len(), 7);
    assert_eq!(first, plan(parts.clone()).configurations());
    let mut distinct = first.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 7, "sorted and distinct: {first:?}");
    let reseeded = plan(PlanParts {
        seed: Some(99),
        ..parts
    })
    .configurations();
    assert_ne!(first, reseeded);
    // More samples than grid points: the whole grid.
    let all = plan(PlanParts {
        samples: Some(500),
        ..vary(&["a=1,2"])
    });
    assert_eq!(all.configurations().len(), 2);
}

#[test]
fn bad_plans_name_the_setting() {
    let error = |parts: PlanParts| SweepPlan::resolve(parts, 0).unwrap_err();
    let nothing = error(PlanParts::default());
    assert_eq!(
        (nothing.setting, nothing.problem),
        (Setting::Vary, Problem::NothingVaries)
    );
    assert_eq!(
        error(vary(&["a=1", "a=2"])).to_string(),
        "vary: a is varied twice"
    );
    let unknown = "blockz=0".parse::<Constraint>().unwrap_err();
    assert_eq!(unknown.setting, Setting::Require);
    assert!(
        unknown
            .to_string()
            .starts_with("require: unknown metric \"blockz\"; the metrics are delivered_share,"),
        "{unknown}"
    );
    let past_deadline = error(PlanParts {
        constraints: vec!["delivered_within_2h>=0.9".parse().unwrap()],
        ..vary(&["a=1"])
    });
    assert_eq!(past_deadline.setting, Setting::Require);
    assert!(
        past_deadline
            .to_string()
            .contains("unknown metric \"delivered_within_2h\"; the metrics are delivered_share, delivered_within_1h, delivered_within_4h,"),
        "{past_deadline}"
    );
    assert!("a=1..".parse::<Parameter>().is_err());
    assert!("blocks=>0".parse::<Constraint>().is_err());
}

#[test]
fn confidence_intervals_follow_student_t() {
    let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    // sd = sqrt(2.5), se = sd / sqrt(5) = 0.7071; t(4) = 2.776.
    let half = 2.776 * (2.5f64 / 5.0).sqrt();
    assert_eq!(e.mean, 3.0);
    assert!((e.high - 3.0 - half).abs() < 1e-12 && (3.0 - e.low - half).abs() < 1e-12);
    assert_eq!(
        Estimate::of(&[4.0]),
        Estimate {
            mean: 4.0,
            low: 4.0,
            high: 4.0
        }
    );
    let two = Estimate::of(&[1.0, 3.0]);
    assert!((two.high - (2.0 + 12.706)).abs() < 1e-12);
    assert_eq!(
        (t95(1), t95(30), t95(45), t95(1000)),
        (12.706, 2.042, 2.021, 1.980)
    );
    assert!(Estimate::of(&[1.0, f64::NAN]).mean.is_nan());
}

/// Rows for configurations whose metrics are all `fill` except the named ones.
fn rows(plan: &SweepPlan, configs: &[&[(&str, f64)]]) -> Vec<RunRow> {
    let names: Vec<String> = plan.metrics().iter().map(|m| m.name()).collect();
    configs
        .iter()
        .enumerate()
        .map(|(config, set)| {
            let mut metrics = vec![1.0; names.len()];
            for (name, value) in *set {
                metrics[names.iter().position(|n| n == name).unwrap()] = *value;
            }
            RunRow {
                config,
                replication: 0,
                seed: 0,
                metrics,
            }
        })
        .collect()
}

#[test]
fn constraints_filter_and_the_objective_ranks() {
    let plan = plan(PlanParts {
        constraints: vec![
            "blocks=0".parse().unwrap(),
            "delivered_share>=0.99".parse().unwrap(),
        ],
        pareto: Some(mtasim::sweep::plan::parse_pareto("p95_latency,max:min_reputation").unwrap()),
        ..vary(&["a=1,2,3,4,5"])
    });
    let runs = rows(
        &plan,
        &[
            &[
                ("blocks", 0.0),
                ("p95_latency", 50.0),
                ("min_reputation", 0.6),
            ],
            &[("blocks", 1.0), ("p95_latency", 10.0)], // fastest but blocked
            &[
                ("blocks", 0.0),
                ("p95_latency", 30.0),
                ("min_reputation", 0.5),
            ],
            &[
                ("blocks", 0.0),
                ("p95_latency", 20.0),
                ("delivered_share", 0.98),
            ],
            &[
                ("blocks", 0.0),
                ("p95_latency", 60.0),
                ("min_reputation", 0.55),
            ],
        ],
    );
    let ranking = rank(&plan, 5, &runs);
    let feasible: Vec<bool> = ranking.verdicts.iter().map(|v| v.feasible).collect();
    assert_eq!(feasible, [true, false, true, false, true]);
    let ranks: Vec<Option<usize>> = ranking.verdicts.iter().map(|v| v.rank).collect();
    assert_eq!(ranks, [Some(2), None, Some(1), None, Some(3)]);
    assert_eq!(ranking.best, Some(2));
    // Config 4 is slower than 0 and has a lower reputation: dominated.
    assert_eq!(ranking.pareto, vec![2, 0]);
}

fn tiny_sweep(parts: PlanParts) -> Sweep {
    let base = scenario::parse("tiny", TINY, &[]).unwrap();
    let plan = SweepPlan::resolve(parts, base.seed).unwrap();
    let sweep = Sweep::new(plan, base);
    sweep.check().unwrap();
    sweep
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let sweep = tiny_sweep(PlanParts {
        replications: Some(2),
        ..vary(&[
            "flow_control.errors.threshold=0,3,20",
            "flow_control.backoff.to_normal_after=5m,30m",
        ])
    });
    let runs = sweep.runs(None);
    let with = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run_all(&sweep, &runs, false))
            .unwrap()
    };
    let one = with(1);
    assert_eq!(one.len(), 12);
    assert_eq!(one, with(4));
    // Replications differ (other seeds), configurations too (threshold 0 and 3).
    assert_ne!(one[0].metrics, one[1].metrics);
    assert_ne!(one[0].metrics, one[4].metrics);
}

const SWEEP: [&str; 9] = [
    "sweep",
    "tiny.json",
    "--vary",
    "flow_control.errors.threshold=0,3,20",
    "--vary",
    "flow_control.backoff.to_normal_after=5m..20m:x2",
    "-k2",
    "--require",
    "delivered_share>=0.5",
];

#[test]
fn merged_shards_equal_the_whole_sweep_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("tiny.json"), TINY).unwrap();
    let export = ["--export", "kumomta"];
    mtasim_ok(
        &[&SWEEP[..], &["--out", "whole", "-q"], &export].concat(),
        root,
    );
    for shard in ["0/3", "1/3", "2/3"] {
        let out = format!("shard{}", &shard[..1]);
        mtasim_ok(
            &[&SWEEP[..], &["--shard", shard, "--out", &out, "-q"]].concat(),
            root,
        );
    }
    mtasim_ok(
        &[
            &[
                "sweep-merge",
                "shard2",
                "shard0",
                "shard1",
                "--out",
                "merged",
                "-q",
            ][..],
            &export,
        ]
        .concat(),
        root,
    );
    let mut names: Vec<String> = std::fs::read_dir(root.join("whole"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for expected in [
        "sweep.csv",
        "summary.csv",
        "pareto.csv",
        "best.json",
        "sweep.json",
        "heatmap.png",
        "pareto.svg",
        "best.kumomta.toml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    for name in &names {
        let whole = std::fs::read(root.join("whole").join(name)).unwrap();
        let merged = std::fs::read(root.join("merged").join(name)).unwrap();
        assert!(whole == merged, "{name} differs");
    }
    let csv = std::fs::read_to_string(root.join("whole/sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 3 * 2);

    // A shard missing, or given twice, is refused.
    let missing = mtasim(&["sweep-merge", "shard0", "shard1", "--out", "m2"], root);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("missing"));
    let twice = mtasim(
        &[
            "sweep-merge",
            "shard0",
            "shard0",
            "shard1",
            "shard2",
            "--out",
            "m3",
        ],
        root,
    );
    assert_eq!(twice.status.code(), Some(2));
    assert!(stderr(&twice).contains("twice"));
    // A shard of another sweep is refused.
    mtasim_ok(
        &[
            &SWEEP[..],
            &["--seed", "9", "--shard", "0/3", "--out", "other", "-q"],
        ]
        .concat(),
        root,
    );
    let other = mtasim(
        &["sweep-merge", "other", "shard1", "shard2", "--out", "m4"],
        root,
    );
    assert_eq!(other.status.code(), Some(2));
    assert!(stderr(&other).contains("another sweep"));
}

#[test]
fn best_json_runs_and_reproduces_its_sweep_row() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("tiny.json"), TINY).unwrap();
    mtasim_ok(
        &[
            "sweep",
            "tiny.json",
            "--vary",
            "flow_control.errors.threshold=3,20",
            "--require",
            "blocks=0",
            "--out",
            "s",
            "--no-plots",
            "-q",
        ],
        root,
    );
    let summary = std::fs::read_to_string(root.join("s/summary.csv")).unwrap();
    let best_line = summary
        .lines()
        .find(|l| l.split(',').nth(1) == Some("1"))
        .unwrap();
    let best_config = best_line.split(',').next().unwrap();
    let csv = std::fs::read_to_string(root.join("s/sweep.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[0] == best_config)
        .unwrap();
    let seed = row[2];
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();

    mtasim_ok(
        &["run", "s/best.json", "--seed", seed, "--out", "r", "-q"],
        root,
    );
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("r/summary.json")).unwrap())
            .unwrap();
    let totals = &run["totals"];
    let share = totals["delivered"].as_f64().unwrap() / totals["injected"].as_f64().unwrap();
    assert_eq!(
        row[column("delivered_share")].parse::<f64>().unwrap(),
        share
    );
    assert_eq!(row[column("attempts")], totals["attempts"].to_string());
    assert_eq!(row[column("blocks")], "0");
    assert_eq!(
        row[column("flow_control.errors.threshold")],
        run_threshold(root)
    );
}

/// The error threshold written in best.json.
fn run_threshold(root: &Path) -> String {
    let best: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("s/best.json")).unwrap()).unwrap();
    assert_eq!(best["name"], "tiny-best");
    best["flow_control"]["errors"]["threshold"].to_string()
}

#[test]
fn bad_input_exits_2_naming_the_argument_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("tiny.json"), TINY).unwrap();
    std::fs::write(
        root.join("plan.json"),
        r#"{"vary": {"seed": [1]}, "require": ["x"]}"#,
    )
    .unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--vary", "flow_control.errors.threshold=1.."], "--vary"),
        (
            &["--vary", "duration=1h", "--require", "blockz=0"],
            "--require",
        ),
        (&["--vary", "flow_control.errors.threshold=-1,2"], "--vary"),
        (&["--vary", "no.such.field=1"], "--vary"),
        (&["--plan", "plan.json"], "--plan"),
    ];
    for (args, named) in cases {
        let out = mtasim(
            &[&["sweep", "tiny.json", "--out", "never"], args].concat(),
            root,
        );
        let stderr = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert_eq!(
            std::fs::read_dir(root).unwrap().count(),
            2,
            "{args:?} wrote something"
        );
    }
}

#[test]
fn a_plan_file_describes_the_same_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("tiny.json"), TINY).unwrap();
    std::fs::write(
        root.join("plan.json"),
        r#"{"vary": {"flow_control.errors.threshold": [0, 3, 20],
                     "flow_control.backoff.to_normal_after": "5m..20m:x2"},
            "replications": 2, "require": ["delivered_share>=0.5"]}"#,
    )
    .unwrap();
    mtasim_ok(
        &[&SWEEP[..], &["--out", "args", "-q", "--no-plots"]].concat(),
        root,
    );
    mtasim_ok(
        &[
            "sweep",
            "tiny.json",
            "--plan",
            "plan.json",
            "--out",
            "file",
            "-q",
            "--no-plots",
        ],
        root,
    );
    for name in ["sweep.csv", "summary.csv", "sweep.json"] {
        let a = std::fs::read(root.join("args").join(name)).unwrap();
        let b = std::fs::read(root.join("file").join(name)).unwrap();
        assert!(a == b, "{name} differs");
    }
}
