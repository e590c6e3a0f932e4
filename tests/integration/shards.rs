//! A sharded sweep as a job array runs it: every shard a separate `mtasim` process, all at
//! once, then `sweep-merge` of their folders, byte-identical to the unsharded sweep.
//! (tests/integration/sweep.rs runs shards one after the other and checks the merge's refusals.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::common::{command, repo, stderr};

/// The README recipe's scenario, made small: 2,000 messages in 10 minutes (more than the
/// marginal receiver's 3,000/h, so it defers and the configurations differ), 3 hours.
const SMALL: [&str; 6] = [
    "--set",
    "traffic.0.messages=2000",
    "--set",
    "traffic.0.over=10m",
    "--set",
    "duration=3h",
];

/// 4 x 2 configurations, 2 replications: 16 runs.
const PLAN: &str = r#"{
  "vary": { "flow_control.errors.threshold": "5..40:x2",
            "flow_control.backoff.to_normal_after": ["10m", "30m"] },
  "replications": 2,
  "require": ["blocks=0"],
  "pareto": ["p95_latency", "max:min_reputation"]
}"#;
const RUNS: usize = 16;

/// Every file a sweep of two varied parameters writes, sorted.
const OUTPUTS: [&str; 10] = [
    ".mtasim-input",
    "best.json",
    "heatmap.png",
    "heatmap.svg",
    "pareto.csv",
    "pareto.png",
    "pareto.svg",
    "summary.csv",
    "sweep.csv",
    "sweep.json",
];

fn scenario() -> String {
    repo("scenarios/tuning-backoff.json").display().to_string()
}

fn mtasim(args: &[&str], dir: &Path) -> Command {
    let mut command = command();
    command.args(args).current_dir(dir);
    command
}

/// `mtasim sweep` of the small scenario and the plan, with `extra` arguments.
fn sweep(dir: &Path, extra: &[&str]) -> Command {
    let scenario = scenario();
    let args = [
        &["sweep", &scenario, "--plan", "plan.json"],
        &SMALL[..],
        extra,
    ]
    .concat();
    mtasim(&args, dir)
}

fn succeeded(what: &str, out: Output) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        stderr(&out)
    );
}

/// The file names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Starts shard I of `count` for every I at once, one thread each, as the tasks of an
/// array job; waits for all of them.
fn run_shards(root: &Path, count: usize) -> Vec<PathBuf> {
    let children: Vec<(String, Child)> = (0..count)
        .map(|i| {
            let (shard, out) = (format!("{i}/{count}"), format!("shard-{i}"));
            let child = sweep(root, &["--shard", &shard, "--out", &out, "-j1", "-q"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (shard, child)
        })
        .collect();
    for (shard, child) in children {
        succeeded(&shard, child.wait_with_output().unwrap());
    }
    (0..count)
        .map(|i| root.join(format!("shard-{i}")))
        .collect()
}

/// The shards' folders in the order a shell glob `shard-*` lists them (shard-10 before
/// shard-2), as the README's merge command passes them.
fn globbed(shards: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = shards
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn merge(root: &Path, shards: &[String], out: &str) -> Output {
    let args = [
        &["sweep-merge"],
        &shards.iter().map(String::as_str).collect::<Vec<_>>()[..],
    ]
    .concat();
    mtasim(&[&args[..], &["--out", out, "-q"]].concat(), root)
        .output()
        .unwrap()
}

/// Shards `count` processes wide, merges them, and compares every output with the
/// unsharded sweep's. Returns how many rows each shard wrote.
fn sharded_equals_whole(count: usize) -> Vec<usize> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("plan.json"), PLAN).unwrap();
    let whole = sweep(root, &["--out", "whole", "-q"]).output().unwrap();
    succeeded("the unsharded sweep", whole);
    let shards = run_shards(root, count);
    succeeded("sweep-merge", merge(root, &globbed(&shards), "all"));

    assert_eq!(listing(&root.join("whole")), OUTPUTS);
    assert_eq!(listing(&root.join("all")), OUTPUTS);
    for name in OUTPUTS {
        let whole = std::fs::read(root.join("whole").join(name)).unwrap();
        let merged = std::fs::read(root.join("all").join(name)).unwrap();
        assert!(whole == merged, "{name} differs");
    }
    let rows = |dir: &Path| {
        let csv = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
        csv.lines().count() - 1
    };
    assert_eq!(rows(&root.join("whole")), RUNS);
    shards.iter().map(|s| rows(s)).collect()
}

#[test]
fn shard_processes_run_at_once_merge_into_the_unsharded_sweep() {
    // 16 runs over 3 shards: run i goes to shard i mod 3.
    assert_eq!(sharded_equals_whole(3), [6, 5, 5]);
}

#[test]
fn an_array_wider_than_the_sweep_leaves_empty_shards_that_merge_all_the_same() {
    // 18 tasks for 16 runs: shards 16 and 17 run nothing but still write their manifest.
    let mut expected = vec![1; RUNS];
    expected.extend([0, 0]);
    assert_eq!(sharded_equals_whole(18), expected);
}

#[test]
fn a_failed_merge_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("plan.json"), PLAN).unwrap();
    let shards = globbed(&run_shards(root, 4));
    // An array task that died wrote no folder (shard outputs are atomic): one missing.
    let missing = merge(root, &shards[..3], "all");
    let said = stderr(&missing);
    assert_eq!(missing.status.code(), Some(2), "{said}");
    assert_eq!(
        said.trim(),
        "error: shard 3/4 is missing (4 of 16 runs): give every shard's folder; rerun a shard that failed with the same sweep and --shard I/4"
    );
    // Two of them.
    let two = merge(root, &[&shards[..1], &shards[2..3]].concat(), "all");
    let said = stderr(&two);
    assert!(
        said.starts_with("error: shards 1/4, 3/4 are missing (8 of 16 runs)"),
        "{said}"
    );
    // A task that ran twice (a retried pod) handed in twice.
    let twice = [&shards[..], &shards[1..2]].concat();
    let repeated = merge(root, &twice, "all");
    let said = stderr(&repeated);
    assert_eq!(repeated.status.code(), Some(2), "{said}");
    assert_eq!(said.trim(), "error: shard-1: shard 1/4 is given twice");
    // Neither wrote its folder, nor left a staging folder behind.
    assert_eq!(
        listing(root),
        ["plan.json", "shard-0", "shard-1", "shard-2", "shard-3"]
    );
    // A failed task's folder named anyway, as examples/slurm/submit.sh's merge names all.
    std::fs::remove_dir_all(root.join("shard-3")).unwrap();
    let absent = merge(
        root,
        &[&shards[..3], &["shard-3".to_owned()]].concat(),
        "all",
    );
    let said = stderr(&absent);
    assert_eq!(absent.status.code(), Some(2), "{said}");
    assert!(
        said.starts_with("error: shard-3: no such folder: that shard failed or has not finished"),
        "{said}"
    );
}

fn manifest(file: &str) -> String {
    std::fs::read_to_string(repo(&format!("examples/kubernetes/{file}"))).unwrap()
}

/// The list under `key:` in a manifest of examples/kubernetes/ (`- item` lines, or a
/// flow list `["a", "b"]` on the key's line).
fn manifest_list(file: &str, key: &str) -> Vec<String> {
    let text = manifest(file);
    let mut lines = text.lines().skip_while(|l| l.trim() != key);
    lines.next().unwrap_or_else(|| panic!("{file}: no {key}"));
    lines
        .map_while(|l| l.trim().strip_prefix("- "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_kubernetes_jobs_shard_and_merge_into_the_unsharded_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("plan.json"), PLAN).unwrap();
    let whole = sweep(root, &["--out", "whole", "-q"]).output().unwrap();
    succeeded("the unsharded sweep", whole);
    // sweep-job.yaml's args as the kubelet expands them for each index, with the image's
    // paths on this machine and the small scenario's --set overrides.
    let args = manifest_list("sweep-job.yaml", "args:");
    let scenarios = format!("{}/", repo("scenarios").display());
    let data = root.join("data");
    for index in 0..3 {
        let expanded: Vec<String> = args
            .iter()
            .map(|a| {
                a.replace("$(SHARD_INDEX)", &index.to_string())
                    .replace("$(SHARDS)", "3")
                    .replace("$(CPUS)", "1")
                    .replace(
                        "/usr/share/mtasim/scenarios/sweeps/tuning-backoff.json",
                        "plan.json",
                    )
                    .replace("/usr/share/mtasim/scenarios/", &scenarios)
                    .replace("/data", data.to_str().unwrap())
            })
            .collect();
        let expanded: Vec<&str> = expanded.iter().map(String::as_str).collect();
        let out = mtasim(&[&expanded[..], &SMALL[..]].concat(), root)
            .output()
            .unwrap();
        succeeded(&format!("index {index}"), out);
    }
    // merge-job.yaml's command, through sh as in the pod.
    let line = manifest("merge-job.yaml")
        .lines()
        .find_map(|l| l.trim().strip_prefix("command: [\"sh\", \"-c\", \""))
        .map(|c| {
            c.trim_end_matches("\"]")
                .replace("/data", data.to_str().unwrap())
        })
        .expect("merge-job.yaml: a sh -c command");
    let bin = Path::new(env!("CARGO_BIN_EXE_mtasim")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let merged = Command::new("sh")
        .args(["-c", &line])
        .env("PATH", path)
        .current_dir(root)
        .output()
        .unwrap();
    succeeded("the merge job", merged);
    for name in OUTPUTS {
        let whole = std::fs::read(root.join("whole").join(name)).unwrap();
        let merged = std::fs::read(data.join("sweep/all").join(name)).unwrap();
        assert!(whole == merged, "{name} differs");
    }
}
