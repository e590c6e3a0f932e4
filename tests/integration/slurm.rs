//! The README's Slurm recipe on a real Slurm: a private one-node cluster (its own munged,
//! slurmctld and slurmd on 127.0.0.1, configuration, state and spool under a temporary
//! folder) runs examples/slurm/submit.sh, and the merged outputs must be byte-identical to
//! the unsharded sweep's. Also: a failed shard cancels the merge instead of leaving it
//! pending, a request no node can meet is refused before anything is submitted, and a job
//! that can never run fails this test instead of hanging it.
//!
//! Needs slurm-wlm and munge (`.ci/run` installs them) and root, as slurmd does. Without
//! them the test says so and passes, except under CI, where it fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, repo};

/// How long the cluster may take to come up, and the jobs to finish.
const STARTUP: Duration = Duration::from_secs(20);
const JOBS: Duration = Duration::from_secs(40);
/// A backstop: `timeout` kills a daemon after this long even if this process died
/// without running its Drop guard.
const DAEMON_LIFETIME: &str = "150";

/// Pending reasons of a job that will never start.
const NEVER_RUNS: [&str; 7] = [
    "PartitionConfig",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "DependencyNeverSatisfied",
    "BadConstraints",
    "InvalidAccount",
    "InvalidQOS",
];

/// The README's sweep made small: 4 configurations x 2 replications of 2,000 messages.
const SWEEP: [&str; 12] = [
    "--set",
    "traffic.0.messages=2000",
    "--set",
    "traffic.0.over=10m",
    "--set",
    "duration=3h",
    "--vary",
    "flow_control.errors.threshold=5..40:x2",
    "--replications",
    "2",
    "--require",
    "blocks=0",
];

/// Where the binaries of slurm-wlm and munge are, or why the test cannot run.
fn slurm_binaries() -> Result<BTreeMap<&'static str, PathBuf>, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .collect();
    let mut found = BTreeMap::new();
    for name in [
        "munged",
        "slurmctld",
        "slurmd",
        "sbatch",
        "squeue",
        "sinfo",
        "scancel",
    ] {
        let Some(file) = dirs.iter().map(|d| d.join(name)).find(|f| f.is_file()) else {
            return Err(format!(
                "{name} is not installed (apt-get install -y slurm-wlm munge; .ci/run does)"
            ));
        };
        found.insert(name, file);
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("slurmd runs jobs only as root".into());
    }
    Ok(found)
}

/// A private one-node Slurm cluster. Dropping it cancels its jobs and stops its daemons,
/// and every process they started, however the test ends.
struct Cluster {
    dir: tempfile::TempDir,
    bin: BTreeMap<&'static str, PathBuf>,
    daemons: Vec<(&'static str, Child)>,
}

impl Cluster {
    fn start(bin: BTreeMap<&'static str, PathBuf>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        // munged insists that everyone may traverse to its socket.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["munge", "state", "spool", "log", "work"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let mut cluster = Cluster {
            dir,
            bin,
            daemons: Vec::new(),
        };
        cluster.start_munge();
        cluster.write_config();
        let conf = cluster.path("slurm.conf");
        let conf = conf.to_str().unwrap();
        cluster.daemon("slurmctld", &["-D", "-i", "-f", conf]);
        cluster.daemon("slurmd", &["-D", "-N", "mtasim", "-f", conf]);
        cluster.await_idle_node();
        cluster
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// munged with its own key, socket, pid and seed files.
    fn start_munge(&mut self) {
        let key = self.path("munge/munge.key");
        let mut bytes = [0u8; 1024];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut random| random.read_exact(&mut bytes))
            .unwrap();
        std::fs::write(&key, bytes).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let arg = |flag: &str, file: &str| format!("--{flag}={}", self.path(file).display());
        let args = [
            "-F".to_owned(),
            arg("socket", "munge/munge.socket"),
            arg("key-file", "munge/munge.key"),
            arg("pid-file", "munge/munged.pid"),
            arg("seed-file", "munge/munged.seed"),
            arg("log-file", "log/munged.log"),
        ];
        self.daemon(
            "munged",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let socket = self.path("munge/munge.socket");
        self.wait_for("munged's socket", || socket.exists().then_some(()));
    }

    fn write_config(&self) {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let host = host.trim().split('.').next().unwrap();
        let d = |name: &str| self.path(name).display().to_string();
        let config = format!(
            "ClusterName=mtasimtest\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmctldPort={ctld}\n\
             SlurmdPort={slurmd}\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             CredType=cred/munge\n\
             AuthInfo=socket={socket}\n\
             StateSaveLocation={state}\n\
             SlurmdSpoolDir={spool}\n\
             SlurmctldPidFile={log}/slurmctld.pid\n\
             SlurmdPidFile={log}/slurmd.pid\n\
             SlurmctldLogFile={log}/slurmctld.log\n\
             SlurmdLogFile={log}/slurmd.log\n\
             PlugStackConfig={plugstack}\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             JobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\n\
             JobCompType=jobcomp/none\n\
             SwitchType=switch/none\n\
             MpiDefault=none\n\
             MailProg=/bin/true\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_CPU\n\
             SchedulerParameters=sched_interval=1\n\
             ReturnToService=2\n\
             KillWait=2\n\
             SlurmdParameters=config_overrides\n\
             NodeName=mtasim NodeAddr=127.0.0.1 NodeHostname={host} CPUs=2 State=UNKNOWN\n\
             PartitionName=test Nodes=mtasim Default=YES MaxTime=INFINITE State=UP\n",
            ctld = free_port(),
            slurmd = free_port(),
            socket = d("munge/munge.socket"),
            state = d("state"),
            spool = d("spool"),
            log = d("log"),
            plugstack = d("plugstack.conf"),
        );
        std::fs::write(self.path("plugstack.conf"), "").unwrap();
        std::fs::write(self.path("slurm.conf"), config).unwrap();
    }

    /// Starts `name` in the foreground of its own process group, its output in log/.
    fn daemon(&mut self, name: &'static str, args: &[&str]) {
        let out = std::fs::File::create(self.path(&format!("log/{name}.out"))).unwrap();
        let child = Command::new("timeout")
            .args(["-s", "KILL", DAEMON_LIFETIME])
            .arg(&self.bin[name])
            .args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.daemons.push((name, child));
    }

    /// What every process of this cluster gets: its configuration, and a mark by which
    /// Drop finds the processes the daemons started.
    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("SLURM_CONF", self.path("slurm.conf").display().to_string()),
            ("MTASIM_SLURM_TEST", self.dir.path().display().to_string()),
        ]
    }

    /// A Slurm client command of this cluster.
    fn command(&self, name: &str) -> Command {
        let mut command = Command::new(&self.bin[name]);
        command.envs(self.env()).current_dir(self.path("work"));
        command
    }

    fn wait_for<T>(&self, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(value) = ready() {
                return value;
            }
            assert!(
                start.elapsed() < STARTUP,
                "{what}: not ready after {STARTUP:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn await_idle_node(&self) {
        self.wait_for("the node", || {
            let out = self
                .command("sinfo")
                .args(["-h", "-o", "%T"])
                .output()
                .ok()?;
            (String::from_utf8_lossy(&out.stdout).trim() == "idle").then_some(())
        });
    }

    /// Every job of the cluster: id -> (state, reason).
    fn jobs(&self) -> BTreeMap<String, (String, String)> {
        let out = self
            .command("squeue")
            .args(["-h", "-t", "all", "-o", "%i|%T|%r"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let mut parts = line.split('|');
                let id = parts.next()?.to_owned();
                Some((id, (parts.next()?.to_owned(), parts.next()?.to_owned())))
            })
            .collect()
    }

    /// Waits until job `id` has ended, printing every job's state and reason as they
    /// change; its final state. A job that pends for a reason that can never clear, or
    /// that has not ended within JOBS, is an error with the cluster's logs.
    fn await_job(&self, id: &str) -> Result<String, String> {
        let start = Instant::now();
        let mut last = BTreeMap::new();
        loop {
            let jobs = self.jobs();
            if jobs != last {
                let states: Vec<String> = jobs
                    .iter()
                    .map(|(id, (state, reason))| format!("{id} {state} ({reason})"))
                    .collect();
                eprintln!(
                    "{:>5.1}s: {}",
                    start.elapsed().as_secs_f64(),
                    states.join(", ")
                );
                last = jobs.clone();
            }
            for (job, (state, reason)) in &jobs {
                if state == "PENDING" && NEVER_RUNS.contains(&reason.as_str()) && job != id {
                    return Err(format!(
                        "job {job} can never run: {reason}\n{}",
                        self.logs()
                    ));
                }
            }
            match jobs.get(id) {
                Some((state, reason))
                    if state == "PENDING" && NEVER_RUNS.contains(&reason.as_str()) =>
                {
                    return Err(format!("job {id} can never run: {reason}\n{}", self.logs()));
                }
                Some((state, _))
                    if !["PENDING", "RUNNING", "CONFIGURING", "COMPLETING"]
                        .contains(&state.as_str()) =>
                {
                    return Ok(state.clone());
                }
                None if start.elapsed() > Duration::from_secs(5) => {
                    return Err(format!(
                        "job {id} is unknown to the cluster\n{}",
                        self.logs()
                    ));
                }
                _ => {}
            }
            if start.elapsed() > JOBS {
                return Err(format!(
                    "job {id} has not ended after {JOBS:?}\n{}",
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The daemons' and the jobs' logs, for a failure's message.
    fn logs(&self) -> String {
        let mut text = String::new();
        let mut files = Vec::new();
        for sub in ["log", "work"] {
            collect_logs(&self.path(sub), &mut files);
        }
        for file in files {
            let body = std::fs::read_to_string(&file).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(20).collect();
            let _ = write!(text, "\n--- {} (last lines)\n", file.display());
            for line in tail.iter().rev() {
                let _ = writeln!(text, "{line}");
            }
        }
        text
    }

    /// Cancels this cluster's jobs, then stops its daemons' process groups and every
    /// process carrying this cluster's mark (the job steps slurmd started).
    fn stop(&mut self) {
        if !self.daemons.is_empty() {
            let _ = self
                .command("scancel")
                .args(["--full", "--user=root"])
                .output();
        }
        for (_, child) in &self.daemons {
            signal("TERM", &format!("-{}", child.id()));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, child) in &mut self.daemons {
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            signal("KILL", &format!("-{}", child.id()));
            let _ = child.wait();
        }
        self.daemons.clear();
        for pid in marked_processes(self.dir.path()) {
            signal("KILL", &pid.to_string());
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(name: &str, target: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), "--", target])
        .stderr(Stdio::null())
        .status();
}

/// Processes other than this one whose environment carries MTASIM_SLURM_TEST=`dir`.
fn marked_processes(dir: &Path) -> Vec<u32> {
    let mark = format!("MTASIM_SLURM_TEST={}", dir.display()).into_bytes();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == mark.as_slice()))
        })
        .collect()
}

fn collect_logs(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_logs(&path, files);
        } else if path.extension().is_some_and(|e| e == "out" || e == "log") {
            files.push(path);
        }
    }
}

/// examples/slurm/submit.sh with `args`, SHARDS and CPUS_PER_TASK, mtasim on the PATH.
fn submit(cluster: &Cluster, shards: &str, cpus: &str, args: &[&str]) -> Output {
    let mtasim = Path::new(env!("CARGO_BIN_EXE_mtasim"));
    let path = std::env::join_paths(
        std::iter::once(mtasim.parent().unwrap().to_path_buf()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .unwrap();
    Command::new(repo("examples/slurm/submit.sh"))
        .args(args)
        .envs(cluster.env())
        .env("PATH", path)
        .env("SHARDS", shards)
        .env("CPUS_PER_TASK", cpus)
        .current_dir(cluster.path("work"))
        .output()
        .unwrap()
}

/// The merge job's id, the last line submit.sh prints.
fn merge_job(out: &Output) -> String {
    assert!(
        out.status.success(),
        "submit.sh: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout.lines().last().expect("a job id").trim().to_owned()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn the_slurm_recipe_merges_into_the_unsharded_sweep_on_a_real_cluster() {
    let bin = match slurm_binaries() {
        Ok(bin) => bin,
        Err(why) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: the Slurm recipe is not run on a real cluster here: {why}");
            return;
        }
        Err(why) => panic!("CI must run the Slurm recipe on a real cluster: {why}"),
    };
    let cluster = Cluster::start(bin);
    let work = cluster.path("work");
    let scenario = repo("scenarios/tuning-backoff.json").display().to_string();
    let sweep: Vec<&str> = [&[scenario.as_str()][..], &SWEEP[..]].concat();

    // The recipe: 3 shards of 1 CPU on a 2-CPU node, then the merge.
    let submitted = submit(
        &cluster,
        "3",
        "1",
        &[&sweep[..], &["--out", "merged"]].concat(),
    );
    let merge = merge_job(&submitted);
    assert_eq!(cluster.await_job(&merge).unwrap(), "COMPLETED");
    let whole = Command::new(env!("CARGO_BIN_EXE_mtasim"))
        .arg("sweep")
        .args(&sweep)
        .args(["--out", "whole", "-q"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    let files = listing(&work.join("whole"));
    assert!(files.contains(&"best.json".to_owned()), "{files:?}");
    assert_eq!(listing(&work.join("merged")), files);
    for name in &files {
        let whole = std::fs::read(work.join("whole").join(name)).unwrap();
        let merged = std::fs::read(work.join("merged").join(name)).unwrap();
        assert!(
            whole == merged,
            "{name} differs between the merge and the whole sweep"
        );
    }
    assert_eq!(
        listing(&work.join("merged.shards"))
            .iter()
            .filter(|n| n.starts_with("shard-"))
            .count(),
        3
    );

    // A shard that fails cancels the merge rather than leaving it pending forever.
    let submitted = submit(&cluster, "2", "1", &["missing.json", "--out", "failed"]);
    let merge = merge_job(&submitted);
    let (state, reason) = cluster.wait_for("the merge's cancellation", || {
        let jobs = cluster.jobs();
        jobs.get(&merge)
            .filter(|(state, _)| state != "PENDING")
            .cloned()
    });
    assert_eq!(
        (state.as_str(), reason.as_str()),
        ("CANCELLED", "DependencyNeverSatisfied")
    );
    assert!(!work.join("failed").exists());

    // A request no node can meet is refused before anything is submitted.
    let before = cluster.jobs().len();
    let refused = submit(&cluster, "2", "4", &sweep);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("submit.sh: Slurm cannot run 2 shards of 4 CPUs each here"),
        "{stderr}"
    );
    assert_eq!(cluster.jobs().len(), before);

    // And a job that can never run, submitted by hand, ends the wait with its reason.
    let out = cluster
        .command("sbatch")
        .args(["--parsable", "--cpus-per-task=8", "--wrap=true"])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let error = cluster.await_job(&id).unwrap_err();
    assert!(
        error.starts_with(&format!("job {id} can never run: PartitionConfig")),
        "{error}"
    );
}
