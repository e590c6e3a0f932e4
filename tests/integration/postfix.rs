//! A real Postfix against `mtasim serve`, and mtasim's prediction of it (issue 28).
//!
//! A private Postfix instance — its own configuration, queue, data folder and log under a
//! temporary folder, listening on one loopback port, a transport map sending each lab
//! domain to its receiver's loopback address, `error:` for every other destination, no
//! DNS, timers shortened — takes the traffic of scenarios/labs/postfix-lab.json from
//! `mtasim serve --submit` and delivers it to that lab's receivers. Then:
//! - every submitted message is accounted for, once, in Postfix's log (read by mtasim's
//!   own log reader) and in serve's deliveries.jsonl;
//! - the lab with this Postfix's configuration imported (`mtasim import-config`), simulated
//!   and replayed against Postfix's log (`mtasim replay`) agrees per receiver: delivered
//!   within 5 %, deferrals within 25 % where the log has at least 50, Postfix's "delivery
//!   temporarily suspended" exactly at the receivers the simulation suspends, and the
//!   drain time (first arrival to last delivery) within 25 %.
//!
//! The table it prints (`--nocapture`) is docs/FIDELITY.md's "mtasim against a real
//! Postfix". Needs Postfix (`.ci/run` installs it) and root; without them the test fails,
//! unless `MTASIM_SKIP_POSTFIX=1` asks to skip it (it then says why). The instance is
//! stopped however the test ends, and nothing outside its folder is touched.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mtasim::flow_control::config::KeyKind;
use mtasim::logs::{Kind, LogReader, ReadOptions};
use serde_json::Value;

use crate::common::{command, free_port, mtasim_ok, repo};

const LAB: &str = "scenarios/labs/postfix-lab.json";
/// Set to 1, the only way this test passes without a real Postfix.
const SKIP: &str = "MTASIM_SKIP_POSTFIX";
/// After the traffic's last message, how long Postfix may take to empty its queue (its
/// queue lifetime, 150 s from a message's arrival, bounds it).
const DRAIN: Duration = Duration::from_secs(110);

/// Postfix's programs, or why the test cannot run here.
struct Installed {
    postfix: PathBuf,
    postqueue: PathBuf,
    postconf: PathBuf,
    /// The `postfix` user's uid, which must own the data folder.
    uid: u32,
}

impl Installed {
    fn find() -> Result<Installed, String> {
        let program = |name: &str| {
            ["/usr/sbin", "/usr/bin", "/sbin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    format!("{name} is not installed (apt-get install -y postfix; .ci/run does)")
                })
        };
        let id = |args: &[&str]| {
            Command::new("id")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .trim()
                        .parse::<u32>()
                        .ok()
                })
        };
        if id(&["-u"]) != Some(0) {
            return Err("a private Postfix instance needs root".into());
        }
        let uid = id(&["-u", "postfix"]).ok_or("there is no postfix user")?;
        Ok(Installed {
            postfix: program("postfix")?,
            postqueue: program("postqueue")?,
            postconf: program("postconf")?,
            uid,
        })
    }
}

/// A private Postfix instance, stopped (and only it) when dropped.
struct Postfix<'a> {
    installed: &'a Installed,
    dir: PathBuf,
    /// Where it accepts mail.
    smtpd: SocketAddr,
    /// `postfix start-fg`: the master runs under it.
    foreground: Option<Child>,
}

impl<'a> Postfix<'a> {
    /// Configures and starts an instance in `dir` that delivers each domain of `routes` to
    /// its address, and nothing anywhere else.
    fn start(installed: &'a Installed, dir: &Path, routes: &[(String, SocketAddr)]) -> Self {
        for sub in ["etc", "spool", "data"] {
            std::fs::create_dir(dir.join(sub)).unwrap();
        }
        std::os::unix::fs::chown(dir.join("data"), Some(installed.uid), None).unwrap();
        let smtpd = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let d = dir.display();
        let main = format!(
            "compatibility_level = 3.6\n\
             config_directory = {d}/etc\n\
             queue_directory = {d}/spool\n\
             data_directory = {d}/data\n\
             maillog_file = {d}/maillog\n\
             maillog_file_prefixes = {d}\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             myhostname = mtasim-postfix.test\n\
             myorigin = $myhostname\n\
             mydestination =\n\
             alias_maps =\n\
             alias_database =\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             mynetworks = 127.0.0.0/8\n\
             smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
             smtp_bind_address = 127.0.0.1\n\
             smtp_dns_support_level = disabled\n\
             smtp_tls_security_level = none\n\
             smtpd_tls_security_level = none\n\
             local_transport = error:local delivery is disabled in this lab\n\
             default_transport = error:only the lab's domains are delivered\n\
             relay_transport = error:only the lab's domains are delivered\n\
             transport_maps = texthash:{d}/etc/transport\n\
             queue_run_delay = 5s\n\
             minimal_backoff_time = 5s\n\
             maximal_backoff_time = 20s\n\
             maximal_queue_lifetime = 150s\n\
             bounce_queue_lifetime = 150s\n"
        );
        std::fs::write(dir.join("etc/main.cf"), main).unwrap();
        let mut master = format!("{smtpd} inet n - n - - smtpd\n");
        for (service, kind, private, limit, command) in [
            ("pickup", "unix", "n", "1", "pickup"),
            ("cleanup", "unix", "n", "0", "cleanup"),
            ("qmgr", "unix", "n", "1", "qmgr"),
            ("rewrite", "unix", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "0", "bounce"),
            ("defer", "unix", "-", "0", "bounce"),
            ("trace", "unix", "-", "0", "bounce"),
            ("verify", "unix", "-", "1", "verify"),
            ("flush", "unix", "n", "0", "flush"),
            ("proxymap", "unix", "-", "-", "proxymap"),
            ("smtp", "unix", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "showq"),
            ("error", "unix", "-", "-", "error"),
            ("retry", "unix", "-", "-", "error"),
            ("discard", "unix", "-", "-", "discard"),
            ("anvil", "unix", "-", "1", "anvil"),
            ("scache", "unix", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "1", "postlogd"),
        ] {
            master.push_str(&format!(
                "{service} {kind} {private} - n - {limit} {command}\n"
            ));
        }
        std::fs::write(dir.join("etc/master.cf"), master).unwrap();
        let transport: String = routes
            .iter()
            .map(|(domain, at)| format!("{domain} smtp:[{}]:{}\n", at.ip(), at.port()))
            .collect();
        std::fs::write(dir.join("etc/transport"), transport).unwrap();
        let foreground = Command::new(&installed.postfix)
            .arg("-c")
            .arg(dir.join("etc"))
            .arg("start-fg")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut postfix = Postfix {
            installed,
            dir: dir.to_path_buf(),
            smtpd,
            foreground: Some(foreground),
        };
        postfix.await_listening();
        postfix
    }

    fn await_listening(&mut self) {
        let start = Instant::now();
        while TcpStream::connect(self.smtpd).is_err() {
            let ended = self.foreground.as_mut().unwrap().try_wait().unwrap();
            assert!(
                ended.is_none() && start.elapsed() < Duration::from_secs(30),
                "Postfix did not start ({ended:?}):\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.join("etc")
    }

    fn maillog(&self) -> PathBuf {
        self.dir.join("maillog")
    }

    fn version(&self) -> String {
        let out = Command::new(&self.installed.postconf)
            .arg("-c")
            .arg(self.config_dir())
            .args(["-h", "mail_version"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Whether no message is left in the queue (`postqueue -j` lists none).
    fn queue_is_empty(&self) -> bool {
        let out = Command::new(&self.installed.postqueue)
            .arg("-c")
            .arg(self.config_dir())
            .arg("-j")
            .output()
            .unwrap();
        out.status.success() && out.stdout.is_empty()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.maillog()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops this instance: `postfix stop`, then its master by its pid file if need be.
    fn stop(&mut self) {
        let Some(mut foreground) = self.foreground.take() else {
            return;
        };
        let _ = Command::new(&self.installed.postfix)
            .arg("-c")
            .arg(self.config_dir())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while foreground.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if foreground.try_wait().ok().flatten().is_none() {
            let pid =
                std::fs::read_to_string(self.dir.join("spool/pid/master.pid")).unwrap_or_default();
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            let _ = foreground.kill();
        }
        let _ = foreground.wait();
    }
}

impl Drop for Postfix<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port free on each of `ips` now.
fn port_free_on(ips: &[[u8; 4]]) -> u16 {
    for _ in 0..50 {
        let port = free_port();
        let free = ips
            .iter()
            .all(|ip| TcpListener::bind(SocketAddr::from((*ip, port))).is_ok());
        if free {
            return port;
        }
    }
    panic!("no port is free on every lab address");
}

/// `mtasim serve`, interrupted and waited for when dropped.
struct Served {
    child: Child,
    stopped: bool,
}

impl Served {
    /// Ctrl-C, and the end.
    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One receiver's numbers on both sides.
#[derive(Debug, Default)]
struct Side {
    delivered: u64,
    deferred: u64,
    suspended: bool,
    drain_s: f64,
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_real_postfix_delivers_the_lab_as_mtasim_predicts() {
    let installed = match Installed::find() {
        Ok(installed) => installed,
        Err(why) if std::env::var_os(SKIP).is_some_and(|v| v == "1") => {
            eprintln!("skipped ({SKIP}=1): mtasim is not compared with a real Postfix: {why}");
            return;
        }
        Err(why) => panic!(
            "mtasim cannot be compared with a real Postfix here: {why}. \
             Install it (.ci/run does, as root), or set {SKIP}=1 to skip this test"
        ),
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let lab = json(&repo(LAB));
    let receivers = lab["receivers"].as_array().unwrap();
    let ips: Vec<[u8; 4]> = (0..receivers.len())
        .map(|i| [127, 0, 0, 2 + i as u8])
        .collect();
    let port = port_free_on(&ips);
    let mut routes = Vec::new();
    let mut domains = BTreeMap::new();
    for (r, ip) in receivers.iter().zip(&ips) {
        for domain in r["domains"].as_array().unwrap() {
            let domain = domain.as_str().unwrap().to_string();
            routes.push((domain.clone(), SocketAddr::from((*ip, port))));
            domains.insert(domain, r["name"].as_str().unwrap().to_string());
        }
    }
    let mut postfix = Postfix::start(&installed, dir.path(), &routes);
    let served_dir = dir.path().join("served");
    let mut serve = Served {
        child: command()
            .arg("serve")
            .arg(repo(LAB))
            .args(["--port", &port.to_string(), "--submit"])
            .arg(postfix.smtpd.to_string())
            .args(["--submit-from", "", "--quiet", "--out"])
            .arg(&served_dir)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
        stopped: false,
    };
    let started = Instant::now();
    let traffic_end = Duration::from_secs(64);
    std::thread::sleep(traffic_end);
    while !postfix.queue_is_empty() {
        assert!(
            started.elapsed() < traffic_end + DRAIN,
            "Postfix has not delivered the lab's mail after {:?}:\n{}",
            started.elapsed(),
            postfix.log_tail()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    serve.stop();
    let version = postfix.version();
    postfix.stop();
    let summary = json(&served_dir.join("summary.json"));
    let submitted = summary["submitted"]["accepted"].as_u64().unwrap();
    assert_eq!(
        summary["submitted"]["messages"], submitted,
        "Postfix took every message"
    );

    let real = read_postfix_log(&postfix.maillog(), &domains, submitted, &served_dir);

    // The prediction: this Postfix's configuration in the lab, simulated and replayed.
    let predicted = dir.path().join("predicted.json");
    let etc = postfix.config_dir();
    mtasim_ok(
        &[
            "import-config".as_ref(),
            etc.join("main.cf").as_os_str(),
            etc.join("master.cf").as_os_str(),
            etc.join("transport").as_os_str(),
            "--format".as_ref(),
            "postfix".as_ref(),
            "--into".as_ref(),
            repo(LAB).as_os_str(),
            "--out".as_ref(),
            predicted.as_os_str(),
            "--quiet".as_ref(),
        ],
        dir.path(),
    );
    let run = dir.path().join("run");
    mtasim_ok(
        &[
            "run".as_ref(),
            predicted.as_os_str(),
            "--out".as_ref(),
            run.as_os_str(),
            "--log".as_ref(),
            "--no-plots".as_ref(),
            "--quiet".as_ref(),
        ],
        dir.path(),
    );
    let fit = dir.path().join("fit");
    mtasim_ok(
        &[
            "replay".as_ref(),
            postfix.maillog().as_os_str(),
            "--scenario".as_ref(),
            predicted.as_os_str(),
            "--out".as_ref(),
            fit.as_os_str(),
            "--bin".as_ref(),
            "10s".as_ref(),
            "--quiet".as_ref(),
        ],
        dir.path(),
    );
    let simulated = read_run(&run, &fit);
    compare(&version, &domains, &real, &simulated);
}

/// Postfix's side, per receiver, from its log; checks that each of the `submitted`
/// messages (recipients m0.. m<submitted-1>) ends once, and that serve journaled exactly
/// the delivered ones.
fn read_postfix_log(
    maillog: &Path,
    domains: &BTreeMap<String, String>,
    submitted: u64,
    served: &Path,
) -> BTreeMap<String, Side> {
    let options = ReadOptions {
        key: KeyKind::Domain,
        ..ReadOptions::default()
    };
    let mut reader = LogReader::open(&[maillog], options).unwrap();
    let mut sides: BTreeMap<String, Side> = BTreeMap::new();
    let mut ends: BTreeMap<String, Vec<Kind>> = BTreeMap::new();
    let mut first = None;
    while let Some(o) = reader.next_outcome().unwrap() {
        let at = o.time.0 as f64 / 1000.0;
        let first = *first.get_or_insert(at);
        let Some(record) = reader.record() else {
            continue;
        };
        let recipient = record.recipient.to_string();
        let Some(receiver) = recipient.rsplit_once('@').and_then(|(_, d)| domains.get(d)) else {
            continue;
        };
        let side = sides.entry(receiver.clone()).or_default();
        match o.kind {
            Kind::Delivered => {
                side.delivered += 1;
                side.drain_s = side.drain_s.max(at - first);
            }
            Kind::Deferred => side.deferred += 1,
            Kind::Held => side.suspended |= record.reason.contains("temporarily suspended"),
            _ => {}
        }
        if matches!(o.kind, Kind::Delivered | Kind::Bounced | Kind::Expired) {
            ends.entry(recipient).or_default().push(o.kind);
        }
    }
    let expected: BTreeSet<String> = (0..submitted).map(|n| format!("m{n}@")).collect();
    let seen: BTreeSet<String> = ends
        .keys()
        .map(|r| r[..=r.find('@').unwrap()].to_string())
        .collect();
    assert_eq!(
        seen, expected,
        "every submitted message ends in Postfix's log"
    );
    for (recipient, kinds) in &ends {
        assert_eq!(kinds.len(), 1, "{recipient} ends once: {kinds:?}");
    }
    let delivered: BTreeSet<&str> = ends
        .iter()
        .filter(|(_, k)| k[0] == Kind::Delivered)
        .map(|(r, _)| r.as_str())
        .collect();
    let journal = std::fs::File::open(served.join("deliveries.jsonl")).unwrap();
    let mut journaled = Vec::new();
    for line in BufReader::new(journal).lines() {
        let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let recipient = line["recipient"].as_str().unwrap().to_string();
        let number = &recipient[1..recipient.find('@').unwrap()];
        let id = line["message_id"].as_str().unwrap();
        assert!(
            id.starts_with(&format!("<{number}.")),
            "{recipient} carries {id}"
        );
        journaled.push(recipient);
    }
    let unique: BTreeSet<&str> = journaled.iter().map(String::as_str).collect();
    assert_eq!(
        unique.len(),
        journaled.len(),
        "each delivery journaled once"
    );
    assert_eq!(unique, delivered, "serve journaled what Postfix delivered");
    sides
}

/// The simulation's side, per receiver: fit.json's counts, the run's suspensions
/// (transitions.csv) and last deliveries (deliveries.jsonl).
fn read_run(run: &Path, fit: &Path) -> BTreeMap<String, Side> {
    let mut sides: BTreeMap<String, Side> = BTreeMap::new();
    let fit = json(&fit.join("fit.json"));
    for d in fit["destinations"].as_array().unwrap() {
        let name = d["destination"].as_str().unwrap().to_string();
        let simulated = |metric: &str| d["metrics"][metric]["simulated"].as_f64().unwrap() as u64;
        let side = sides.entry(name).or_default();
        side.delivered = simulated("delivered");
        side.deferred = simulated("deferred");
    }
    let transitions = std::fs::read_to_string(run.join("transitions.csv")).unwrap();
    for line in transitions.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields[3] == "suspended" {
            sides.entry(fields[1].to_string()).or_default().suspended = true;
        }
    }
    let deliveries = std::fs::read_to_string(run.join("deliveries.jsonl")).unwrap();
    for line in deliveries.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        if line["outcome"] == "delivered" {
            let side = sides
                .entry(line["destination"].as_str().unwrap().to_string())
                .or_default();
            side.drain_s = side.drain_s.max(line["time_s"].as_f64().unwrap());
        }
    }
    sides
}

/// The table of docs/FIDELITY.md, and the bounds.
fn compare(
    version: &str,
    domains: &BTreeMap<String, String>,
    real: &BTreeMap<String, Side>,
    simulated: &BTreeMap<String, Side>,
) {
    eprintln!("Postfix {version} against mtasim's prediction (real / predicted):");
    eprintln!(
        "| receiver | delivered | deferrals | suspended | drain (s) |\n|---|---|---|---|---|"
    );
    let mut misses = Vec::new();
    for (domain, receiver) in domains {
        let r = &real[receiver];
        let s = &simulated[domain];
        eprintln!(
            "| {receiver} | {} / {} | {} / {} | {} / {} | {:.0} / {:.1} |",
            r.delivered,
            s.delivered,
            r.deferred,
            s.deferred,
            r.suspended,
            s.suspended,
            r.drain_s,
            s.drain_s
        );
        let off = |a: f64, b: f64| (b - a).abs() / a.max(1.0);
        if off(r.delivered as f64, s.delivered as f64) > 0.05 {
            misses.push(format!(
                "{receiver}: delivered {} vs {}",
                r.delivered, s.delivered
            ));
        }
        if r.deferred >= 50 && off(r.deferred as f64, s.deferred as f64) > 0.25 {
            misses.push(format!(
                "{receiver}: deferrals {} vs {}",
                r.deferred, s.deferred
            ));
        }
        if r.suspended != s.suspended {
            misses.push(format!(
                "{receiver}: Postfix suspended {}, mtasim {}",
                r.suspended, s.suspended
            ));
        }
        // The log's times are whole seconds.
        if (s.drain_s - r.drain_s).abs() > 0.25 * r.drain_s + 1.0 {
            misses.push(format!(
                "{receiver}: drained in {} s vs {} s",
                r.drain_s, s.drain_s
            ));
        }
    }
    assert!(misses.is_empty(), "the prediction misses: {misses:#?}");
}
