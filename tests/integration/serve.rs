//! `mtasim serve` over loopback, driven by a plain SMTP client written here with std::net
//! (it shares no code with the server): the numbers the scenario's receivers must give.
//!
//! Time-dependent behaviour is tested in seconds with `--time-scale`: the lab's clock runs
//! 10 or 60 times faster than the wall clock, and everything in the scenario (rate limits,
//! greylisting delays, outage windows, latencies) runs on that clock. Counts come from the
//! server's own records (deliveries.jsonl's times, summary.json), so a slow test machine
//! changes when the client's attempts land, not what the receivers must answer to them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::command;

/// A running `mtasim serve`, killed if a test fails before stopping it.
struct Lab {
    child: Option<Child>,
    dir: tempfile::TempDir,
    receivers: HashMap<String, SocketAddr>,
    /// When the receivers were announced: the lab's clock started just before.
    started: Instant,
    stdout: Arc<Mutex<String>>,
}

/// How `serve` ended.
struct Ended {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Lab {
    fn start(scenario: &Value, args: &[&str]) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scenario.json");
        std::fs::write(&path, scenario.to_string()).unwrap();
        let mut child = command()
            .arg("serve")
            .arg(&path)
            .args(["--port", "0", "--out"])
            .arg(dir.path().join("out"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut header = String::new();
        stdout.read_line(&mut header).unwrap();
        assert!(
            header.starts_with("mtasim serve: "),
            "unexpected start: {header:?}"
        );
        let count: usize = header["mtasim serve: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let mut receivers = HashMap::new();
        for _ in 0..count {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            let mut words = line.split_whitespace();
            let name = words.next().unwrap().to_string();
            receivers.insert(name, words.next().unwrap().parse().unwrap());
        }
        let started = Instant::now();
        let rest = Arc::new(Mutex::new(String::new()));
        let sink = rest.clone();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        Lab {
            child: Some(child),
            dir,
            receivers,
            started,
            stdout: rest,
        }
    }

    fn address(&self, name: &str) -> SocketAddr {
        self.receivers[name]
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Sleeps until `seconds` of wall-clock time after the lab started.
    fn at(&self, seconds: f64) {
        let when = self.started + Duration::from_secs_f64(seconds);
        thread::sleep(when.saturating_duration_since(Instant::now()));
    }

    /// Ctrl-C, then the end.
    fn interrupt(&mut self) -> Ended {
        let pid = self.child.as_ref().unwrap().id();
        let status = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait()
    }

    /// Waits (at most a minute) for serve to end by itself.
    fn wait(&mut self) -> Ended {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("mtasim serve did not stop");
            }
            thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        thread::sleep(Duration::from_millis(50));
        let stdout = self.stdout.lock().unwrap().clone();
        Ended {
            status,
            stdout,
            stderr,
        }
    }

    fn summary(&self) -> Value {
        read_json(&self.out().join("summary.json"))
    }

    fn deliveries(&self) -> Vec<Value> {
        std::fs::read_to_string(self.out().join("deliveries.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// One SMTP reply: its code and its lines' text.
#[derive(Debug, Clone)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    /// The lines joined as an MTA logs them.
    fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// The words after the codes, over all lines: what a multi-line reply says.
    fn words(&self) -> Vec<&str> {
        self.lines
            .iter()
            .flat_map(|line| words_of(&line[4..]))
            .collect()
    }
}

/// The words of a reply line's text, without its enhanced status code.
fn words_of(text: &str) -> Vec<&str> {
    let mut words: Vec<&str> = text.split(' ').collect();
    if words[0].split('.').count() == 3 && words[0].starts_with(|c: char| c.is_ascii_digit()) {
        words.remove(0);
    }
    words
}

/// A blocking SMTP client.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn open(address: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(Client {
            reader: BufReader::new(stream),
        })
    }

    /// Connects and reads the greeting.
    fn connect(address: SocketAddr) -> (Client, Reply) {
        let mut client = Client::open(address).unwrap();
        let greeting = client.reply();
        (client, greeting)
    }

    fn send(&mut self, text: &str) {
        self.reader.get_mut().write_all(text.as_bytes()).unwrap();
    }

    fn reply(&mut self) -> Reply {
        self.try_reply().unwrap_or_else(|e| panic!("no reply: {e}"))
    }

    fn try_reply(&mut self) -> std::io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end().to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                let code = lines[0][..3].parse().unwrap();
                return Ok(Reply { code, lines });
            }
        }
    }

    fn command(&mut self, line: &str) -> Reply {
        self.send(&format!("{line}\r\n"));
        self.reply()
    }

    /// Whether the server has closed the connection (reads nothing more).
    fn closed(&mut self) -> bool {
        let mut rest = String::new();
        self.reader.read_to_string(&mut rest).is_ok() && rest.is_empty()
    }

    /// One message to `to`, step by step: the RCPT reply, and the end-of-DATA reply when
    /// the recipient was taken.
    fn message(&mut self, from: &str, to: &str, id: &str) -> (Reply, Option<Reply>) {
        let mail = self.command(&format!("MAIL FROM:<{from}>"));
        assert_eq!(mail.code, 250, "{mail:?}");
        let rcpt = self.command(&format!("RCPT TO:<{to}>"));
        if rcpt.code != 250 {
            self.command("RSET");
            return (rcpt, None);
        }
        let data = self.command("DATA");
        assert_eq!(data.code, 354, "{data:?}");
        self.send(&format!(
            "Message-ID: <{id}>\r\nFrom: <{from}>\r\nTo: <{to}>\r\nSubject: test\r\n\r\nHello.\r\n.\r\n"
        ));
        (rcpt, Some(self.reply()))
    }
}

/// A receiver that answers at once.
fn instant(name: &str, extra: Value) -> Value {
    let mut receiver = json!({
        "name": name,
        "domains": [format!("{name}.test")],
        "latency": "0ms",
        "connect_latency": "0ms"
    });
    receiver
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    receiver
}

fn scenario(receivers: Vec<Value>) -> Value {
    json!({
        "name": "lab",
        "duration": "1h",
        "receivers": receivers,
        "traffic": [ { "start": "0s", "messages": 0, "over": "1m" } ]
    })
}

const SLOW_DOWN: &str = "451 4.7.1 [RL] slow down, too many messages";

#[test]
fn a_rate_limit_of_60_a_minute_with_a_burst_of_10_accepts_70_then_60_a_minute() {
    let mut lab = Lab::start(
        &scenario(vec![instant(
            "limited",
            json!({ "rate_limit": { "rate": "60/min", "burst": 10, "reply": SLOW_DOWN },
                    "stages": { "rate_limit": "data" } }),
        )]),
        &["--time-scale", "10"],
    );
    let (mut client, greeting) = Client::connect(lab.address("limited"));
    assert_eq!(greeting.code, 220);
    client.command("EHLO client.test");
    let (mut accepted, mut refused) = (0, 0);
    let mut n = 0;
    // 126 scenario seconds of hammering.
    while lab.started.elapsed() < Duration::from_millis(12_600) {
        n += 1;
        let (rcpt, end) = client.message(
            "a@client.test",
            &format!("m{n}@limited.test"),
            &format!("{n}@t"),
        );
        assert_eq!(
            rcpt.code, 250,
            "the limit answers at the end of DATA: {rcpt:?}"
        );
        let end = end.unwrap();
        match end.code {
            250 => accepted += 1,
            _ => {
                assert_eq!(end.text(), SLOW_DOWN);
                refused += 1;
            }
        }
    }
    client.command("QUIT");
    let ended = lab.interrupt();
    assert!(ended.status.success(), "{}", ended.stderr);
    let times: Vec<f64> = lab
        .deliveries()
        .iter()
        .map(|d| d["time_s"].as_f64().unwrap())
        .collect();
    assert_eq!(times.len(), accepted);
    // Never early: the 11th acceptance (index 10) no sooner than 1 s, and so on.
    for (k, &t) in times.iter().enumerate().skip(10) {
        assert!(
            t >= (k - 9) as f64 - 0.001,
            "acceptance {k} at {t} s is early"
        );
    }
    let within = |from: f64, to: f64| times.iter().filter(|&&t| from < t && t <= to).count();
    assert!(
        times[9] < 1.0,
        "the burst of 10 at once: {:?}",
        &times[..10]
    );
    assert_eq!(
        within(-1.0, 60.5),
        70,
        "the burst and the tokens of 1 s .. 60 s"
    );
    let second = within(60.5, 120.5);
    assert!(
        (59..=61).contains(&second),
        "about 60 in the second minute, got {second}"
    );
    let summary = lab.summary();
    let limited = &summary["destinations"]["limited"];
    assert_eq!(limited["accepted"], accepted);
    assert_eq!(limited["deferrals"], refused);
    assert_eq!(limited["deferrals_by_reply"][SLOW_DOWN], refused);
    assert_eq!(limited["transactions"], n);
    assert!(refused > 1000, "the client hammered: {refused} refusals");
    let empty = limited["rate_limit_empty_s"].as_f64().unwrap();
    assert!(
        empty > 100.0,
        "the bucket was empty most of the time: {empty} s"
    );
}

#[test]
fn a_limit_of_two_sessions_answers_the_third_connection_at_the_greeting() {
    let tss09 = "421 4.7.0 [TSS09] All messages from 203.0.113.7 will be permanently deferred; too many connections";
    let mut lab = Lab::start(
        &scenario(vec![instant(
            "two",
            json!({ "connection_limit": { "max": 2, "reply": tss09 } }),
        )]),
        &[],
    );
    let address = lab.address("two");
    let (mut first, greeting) = Client::connect(address);
    assert_eq!(greeting.code, 220);
    let (mut second, greeting) = Client::connect(address);
    assert_eq!(greeting.code, 220);
    let (mut third, refusal) = Client::connect(address);
    // A long reply comes as a multi-line one, the codes on every line.
    assert!(refusal.lines.len() > 1, "{refusal:?}");
    assert!(
        refusal
            .lines
            .iter()
            .all(|l| l.starts_with("421") && l[4..].starts_with("4.7.0 "))
    );
    assert_eq!(refusal.words(), words_of(&tss09[4..]));
    assert!(third.closed(), "hung up after the 421");
    // The sessions open carry on; once one ends, its slot is free again.
    second.command("EHLO client.test");
    let (rcpt, end) = second.message("a@client.test", "x@two.test", "1@t");
    assert_eq!((rcpt.code, end.unwrap().code), (250, 250));
    assert_eq!(first.command("QUIT").code, 221);
    assert!(first.closed());
    thread::sleep(Duration::from_millis(200));
    let (_fourth, greeting) = Client::connect(address);
    assert_eq!(greeting.code, 220);
    let ended = lab.interrupt();
    assert!(ended.status.success(), "{}", ended.stderr);
    let two = &lab.summary()["destinations"]["two"];
    assert_eq!(two["connections"], 4);
    assert_eq!(two["greeting_rejects"], 1);
    assert_eq!(two["peak_sessions"], 2);
    assert_eq!(two["deferrals_by_reply"][tss09], 1);
}

#[test]
fn greylisting_defers_a_triplet_until_its_delay_has_passed() {
    // At 60x, the one-minute delay is one second of wall-clock time.
    let mut lab = Lab::start(
        &scenario(vec![instant(
            "grey",
            json!({ "greylisting": { "min_delay": "1m" } }),
        )]),
        &["--time-scale", "60"],
    );
    let greylisted = "451 4.7.1 Greylisted, please try again later";
    let (mut client, _) = Client::connect(lab.address("grey"));
    client.command("EHLO client.test");
    let first_try = Instant::now();
    let (rcpt, _) = client.message("a@client.test", "r@grey.test", "1@t");
    assert_eq!((rcpt.code, rcpt.text().as_str()), (451, greylisted));
    let (rcpt, _) = client.message("a@client.test", "r@grey.test", "1@t");
    assert_eq!(rcpt.code, 451, "still inside the delay");
    thread::sleep(Duration::from_millis(1300).saturating_sub(first_try.elapsed()));
    let (rcpt, end) = client.message("a@client.test", "r@grey.test", "1@t");
    assert_eq!(
        (rcpt.code, end.unwrap().code),
        (250, 250),
        "the delay has passed"
    );
    // Another sender makes another triplet: greylisted afresh.
    let (rcpt, _) = client.message("b@client.test", "r@grey.test", "2@t");
    assert_eq!(rcpt.code, 451);
    client.command("QUIT");
    lab.interrupt();
    let grey = &lab.summary()["destinations"]["grey"];
    assert_eq!(grey["accepted"], 1);
    assert_eq!(grey["deferrals_by_reply"][greylisted], 3);
    let deliveries = lab.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["recipient"], "r@grey.test");
    assert_eq!(deliveries[0]["message_id"], "<1@t>");
    assert!(deliveries[0]["time_s"].as_f64().unwrap() >= 60.0);
}

#[test]
fn outages_refuse_stay_silent_or_defer_inside_their_window_only() {
    // At 60x the window [2m, 4m) is [2 s, 4 s) of wall-clock time.
    let window = |mode: &str| json!({ "outages": [ { "from": "2m", "to": "4m", "mode": mode } ] });
    let maintenance = "451 4.3.2 Down for maintenance";
    let mut busy = window("tempfail");
    busy["outages"][0]["reply"] = json!(maintenance);
    let mut lab = Lab::start(
        &scenario(vec![
            instant("down", window("refuse")),
            instant("silent", window("timeout")),
            instant("busy", busy),
        ]),
        &["--time-scale", "60"],
    );
    let greets = |name: &str| Client::connect(lab.address(name)).1.code == 220;
    lab.at(0.5);
    assert!(greets("down") && greets("silent") && greets("busy"));
    let (mut open, _) = Client::connect(lab.address("down"));
    open.command("EHLO client.test");
    lab.at(2.6);
    let refused = TcpStream::connect(lab.address("down")).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    let mut silent = Client::open(lab.address("silent")).unwrap();
    silent
        .reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(600)))
        .unwrap();
    assert!(silent.try_reply().is_err(), "no greeting inside the window");
    let (mut busy, greeting) = Client::connect(lab.address("busy"));
    assert_eq!(greeting.code, 220, "a tempfail outage greets");
    busy.command("EHLO client.test");
    let (rcpt, _) = busy.message("a@client.test", "x@busy.test", "1@t");
    assert_eq!((rcpt.code, rcpt.text()), (451, maintenance.to_string()));
    // A session opened before a refusing outage carries on.
    let (rcpt, end) = open.message("a@client.test", "x@down.test", "2@t");
    assert_eq!((rcpt.code, end.unwrap().code), (250, 250));
    lab.at(4.6);
    assert!(greets("down") && greets("silent"));
    let (rcpt, end) = busy.message("a@client.test", "y@busy.test", "3@t");
    assert_eq!(
        (rcpt.code, end.unwrap().code),
        (250, 250),
        "after the window"
    );
    drop((open, busy, silent));
    lab.interrupt();
    let summary = lab.summary();
    assert_eq!(
        summary["destinations"]["silent"]["unanswered_connections"],
        1
    );
    assert_eq!(
        summary["destinations"]["busy"]["deferrals_by_reply"][maintenance],
        1
    );
    assert_eq!(summary["destinations"]["down"]["accepted"], 1);
}

#[test]
fn pipelined_commands_get_their_replies_in_order() {
    let mut lab = Lab::start(
        &scenario(vec![
            // Every first attempt greylisted, answered after 150 ms.
            json!({ "name": "slow", "domains": ["slow.test"], "latency": "150ms",
                    "connect_latency": "0ms", "greylisting": { "min_delay": "1h" } }),
            instant("plain", json!({ "max_messages_per_connection": 2 })),
        ]),
        &[],
    );
    let (mut slow, _) = Client::connect(lab.address("slow"));
    slow.send(
        "EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<x@slow.test>\r\n\
         RCPT TO:<x@elsewhere.test>\r\nNOOP\r\nRSET\r\nMAIL FROM:<a@client.test>\r\n\
         RCPT TO:<y@slow.test>\r\nDATA\r\nQUIT\r\n",
    );
    let codes: Vec<u16> = (0..10).map(|_| slow.reply().code).collect();
    assert_eq!(codes, [250, 250, 451, 550, 250, 250, 250, 451, 554, 221]);
    assert!(slow.closed());
    let (mut plain, _) = Client::connect(lab.address("plain"));
    let message = |n: u32| {
        format!(
            "MAIL FROM:<a@client.test> SIZE=200\r\nRCPT TO:<m{n}@plain.test>\r\nDATA\r\n\
             Message-ID: <p{n}@t>\r\n\r\n..a dot-stuffed line\r\n.\r\n"
        )
    };
    plain.send(&format!(
        "EHLO client.test\r\n{}{}NOOP\r\n{}",
        message(1),
        message(2),
        message(3)
    ));
    let ehlo = plain.reply();
    assert_eq!(ehlo.code, 250);
    for capability in [
        "PIPELINING",
        "8BITMIME",
        "SIZE 10485760",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(
            ehlo.lines.iter().any(|l| l[4..] == *capability),
            "{capability}: {ehlo:?}"
        );
    }
    let codes: Vec<u16> = (0..9).map(|_| plain.reply().code).collect();
    assert_eq!(codes, [250, 250, 354, 250, 250, 250, 354, 250, 250]);
    // The third message: the receiver's limit of 2 per connection, at MAIL FROM.
    let spent = plain.reply();
    assert_eq!(
        spent.text(),
        "421 Max message per connection reached, closing transmission channel"
    );
    assert!(plain.closed());
    lab.interrupt();
    let deliveries = lab.deliveries();
    let ids: Vec<&str> = deliveries
        .iter()
        .map(|d| d["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["<p1@t>", "<p2@t>"]);
    assert_eq!(
        deliveries[0]["size"],
        "Message-ID: <p1@t>\r\n\r\n.a dot-stuffed line\r\n".len()
    );
}

#[test]
fn garbage_long_lines_and_unfinished_data_neither_crash_it_nor_stall_others() {
    let mut lab = Lab::start(
        &scenario(vec![instant("plain", json!({}))]),
        &["--idle-timeout", "1s"],
    );
    let address = lab.address("plain");
    // A line far beyond the longest: one 500, and the session goes on.
    let (mut long, _) = Client::connect(address);
    long.send(&"x".repeat(100_000));
    long.send("\r\nNOOP\r\n");
    let reply = long.reply();
    assert_eq!(
        (reply.code, reply.text()),
        (500, "500 5.5.2 Error: line too long".to_string())
    );
    assert_eq!(long.reply().code, 250);
    // Binary garbage: one 500 per line.
    let (mut garbage, _) = Client::connect(address);
    let noise: Vec<u8> = (0..600u32)
        .map(|i| (i * 7919 % 251) as u8)
        .filter(|&b| b != b'\n')
        .collect();
    for _ in 0..3 {
        garbage.reader.get_mut().write_all(&noise).unwrap();
        garbage.send("\r\n");
    }
    let codes: Vec<u16> = (0..3).map(|_| garbage.reply().code).collect();
    assert_eq!(codes, [500, 500, 500]);
    assert_eq!(garbage.command("EHLO client.test").code, 250);
    // Bad sequences get 503, and 20 errors end the session.
    let (mut sloppy, _) = Client::connect(address);
    assert_eq!(
        sloppy.command("MAIL FROM:<a@client.test>").code,
        503,
        "HELO first"
    );
    assert_eq!(sloppy.command("HELO client.test").code, 250);
    assert_eq!(sloppy.command("DATA").code, 503);
    assert_eq!(sloppy.command("MAIL FROM:<not an address").code, 501);
    for _ in 0..16 {
        assert_eq!(sloppy.command("WHAT").code, 500);
    }
    let last = sloppy.command("WHAT");
    assert_eq!(last.code, 500);
    assert_eq!(
        sloppy.reply().text(),
        "421 4.7.0 mtasim-plain Error: too many errors"
    );
    assert!(sloppy.closed());
    // A client that never finishes DATA is timed out; another is served meanwhile.
    let (mut stuck, _) = Client::connect(address);
    stuck.command("EHLO client.test");
    stuck.command("MAIL FROM:<a@client.test>");
    stuck.command("RCPT TO:<stuck@plain.test>");
    assert_eq!(stuck.command("DATA").code, 354);
    stuck.send("Subject: never ends\r\n\r\npart of a body");
    let (mut other, _) = Client::connect(address);
    other.command("EHLO client.test");
    let (_, end) = other.message("a@client.test", "fine@plain.test", "fine@t");
    assert_eq!(end.unwrap().code, 250);
    let timeout = stuck.reply();
    assert_eq!(
        timeout.text(),
        "421 4.4.2 mtasim-plain Error: timeout exceeded"
    );
    assert!(stuck.closed());
    lab.interrupt();
    let plain = &lab.summary()["destinations"]["plain"];
    assert_eq!(
        plain["accepted"], 1,
        "the unfinished message was not accepted"
    );
    assert_eq!(lab.deliveries().len(), 1);
}

#[test]
fn a_thousand_concurrent_connections_are_all_served() {
    let mut lab = Lab::start(&scenario(vec![instant("plain", json!({}))]), &[]);
    let address = lab.address("plain");
    let mut clients: Vec<Client> = (0..1000)
        .map(|_| {
            let (client, greeting) = Client::connect(address);
            assert_eq!(greeting.code, 220);
            client
        })
        .collect();
    // With all of them open, one more is served at once.
    let (mut extra, _) = Client::connect(address);
    extra.command("EHLO client.test");
    assert_eq!(
        extra
            .message("a@client.test", "x@plain.test", "x@t")
            .1
            .unwrap()
            .code,
        250
    );
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(&format!(
            "EHLO c{i}.test\r\nMAIL FROM:<>\r\nRCPT TO:<m{i}@plain.test>\r\nDATA\r\n\
             Message-ID: <{i}@t>\r\n\r\nhi\r\n.\r\nQUIT\r\n"
        ));
    }
    for client in &mut clients {
        let codes: Vec<u16> = (0..6).map(|_| client.reply().code).collect();
        assert_eq!(codes, [250, 250, 250, 354, 250, 221]);
    }
    drop(clients);
    lab.interrupt();
    let plain = &lab.summary()["destinations"]["plain"];
    assert_eq!(plain["accepted"], 1001);
    assert_eq!(plain["connections"], 1001);
    assert_eq!(plain["peak_sessions"], 1001);
    assert_eq!(lab.deliveries().len(), 1001);
}

#[test]
fn ctrl_c_writes_the_outputs_with_every_accepted_message() {
    let mut lab = Lab::start(
        &scenario(vec![
            instant("a", json!({})),
            instant("b", json!({ "unknown_user_rate": 0.3 })),
        ]),
        &[],
    );
    let mut accepted = Vec::new();
    let mut rejected = 0;
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (a, b) = (lab.address("a"), lab.address("b"));
            thread::spawn(move || {
                let mut mine = Vec::new();
                let mut refused = 0;
                for (address, domain) in [(a, "a.test"), (b, "b.test")] {
                    let (mut client, _) = Client::connect(address);
                    client.command("EHLO client.test");
                    for n in 0..10 {
                        let id = format!("{w}-{domain}-{n}@t");
                        let (rcpt, end) =
                            client.message("s@client.test", &format!("u{w}x{n}@{domain}"), &id);
                        match end {
                            Some(end) if end.code == 250 => mine.push(format!("<{id}>")),
                            _ => {
                                assert_eq!(
                                    rcpt.text(),
                                    "550 5.1.1 Recipient address rejected: User unknown"
                                );
                                refused += 1;
                            }
                        }
                    }
                    client.command("QUIT");
                }
                (mine, refused)
            })
        })
        .collect();
    for worker in workers {
        let (mine, refused) = worker.join().unwrap();
        accepted.extend(mine);
        rejected += refused;
    }
    assert!(
        !lab.out().exists(),
        "nothing is written before the server stops"
    );
    let ended = lab.interrupt();
    assert!(
        ended.status.success(),
        "exit {:?}: {}",
        ended.status,
        ended.stderr
    );
    assert!(
        ended.stdout.contains("stopped by Ctrl-C"),
        "{}",
        ended.stdout
    );
    let mut journaled: Vec<String> = lab
        .deliveries()
        .iter()
        .map(|d| d["message_id"].as_str().unwrap().to_string())
        .collect();
    journaled.sort();
    accepted.sort();
    assert_eq!(journaled, accepted);
    let summary = lab.summary();
    assert_eq!(summary["totals"]["accepted"], accepted.len());
    assert_eq!(summary["totals"]["rejections"], rejected);
    assert!(
        rejected > 0 && rejected < 30,
        "30% unknown users in b: {rejected}"
    );
    let timeseries = std::fs::read_to_string(lab.out().join("timeseries.csv")).unwrap();
    assert!(timeseries.starts_with("time_s,destination,connections,"));
    let total_accepted: u64 = timeseries
        .lines()
        .filter(|l| l.split(',').nth(1) == Some("*"))
        .map(|l| l.split(',').nth(5).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        total_accepted,
        accepted.len() as u64,
        "the intervals hold every count"
    );
    let report = std::fs::read_to_string(lab.out().join("report.html")).unwrap();
    assert!(report.contains("lab (served)"));
}

/// An MTA stand-in for `--submit`: accepts every message but refuses recipients whose
/// number is a multiple of 5 with a 451; records what arrives and when.
fn sink(listener: TcpListener, seen: Arc<Mutex<Vec<(Instant, String)>>>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { return };
        let seen = seen.clone();
        thread::spawn(move || {
            let mut out = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let mut say = |text: &str| out.write_all(format!("{text}\r\n").as_bytes()).is_ok();
            say("220 sink.test ESMTP");
            let mut line = String::new();
            let mut in_data = false;
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let command = line.trim_end().to_string();
                line.clear();
                if in_data {
                    if command == "." {
                        in_data = false;
                        say("250 2.0.0 queued");
                    }
                    continue;
                }
                let upper = command.to_ascii_uppercase();
                let ok = if upper.starts_with("EHLO") {
                    say("250-sink.test\r\n250 PIPELINING")
                } else if upper.starts_with("RCPT TO:<M") {
                    let to = command[9..command.len() - 1].to_string();
                    let n: u64 = to[1..to.find('@').unwrap()].parse().unwrap();
                    seen.lock().unwrap().push((Instant::now(), to));
                    say(if n.is_multiple_of(5) {
                        "451 4.7.1 sink says later"
                    } else {
                        "250 2.1.5 Ok"
                    })
                } else if upper == "DATA" {
                    in_data = true;
                    say("354 go ahead")
                } else if upper == "QUIT" {
                    say("221 bye");
                    break;
                } else {
                    say("250 2.0.0 Ok")
                };
                if !ok {
                    break;
                }
            }
        });
    }
}

#[test]
fn submit_plays_the_scenarios_traffic_into_the_mta_at_its_times() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    thread::spawn(move || sink(listener, recorded));
    let mut traffic = scenario(vec![
        json!({ "name": "big", "domains": ["big.test", "big2.test"], "share": 3 }),
        json!({ "name": "small", "domains": ["small.test"], "share": 1 }),
    ]);
    // 40 messages over two scenario minutes: one every 3 s, at 60x one every 50 ms.
    traffic["traffic"] = json!([ { "start": "30s", "messages": 40, "over": "2m" } ]);
    let mut lab = Lab::start(
        &traffic,
        &[
            "--time-scale",
            "60",
            "--submit",
            &target,
            "--for",
            "4s",
            "--submit-connections",
            "2",
        ],
    );
    let ended = lab.wait();
    assert!(ended.status.success(), "{}", ended.stderr);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 40);
    // No message before its time: message n is due at 30 s + 3 s n, 0.5 s + 50 ms n.
    for (at, to) in &seen {
        let n: u64 = to[1..to.find('@').unwrap()].parse().unwrap();
        let due = lab.started + Duration::from_millis(500 + 50 * n);
        assert!(*at + Duration::from_millis(20) >= due, "message {n} early");
    }
    // The receivers' shares are the simulator's picks, message for message.
    let path = lab.dir.path().join("scenario.json");
    let run_out = lab.dir.path().join("run");
    let run = command()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&run_out)
        .args(["--quiet", "--no-plots"])
        .status()
        .unwrap();
    assert!(run.success());
    let simulated = read_json(&run_out.join("summary.json"));
    let to_big = seen.iter().filter(|(_, to)| to.contains("@big")).count();
    assert_eq!(simulated["destinations"]["big"]["injected"], to_big);
    assert_eq!(simulated["destinations"]["small"]["injected"], 40 - to_big);
    let summary = lab.summary();
    let submitted = &summary["submitted"];
    assert_eq!(submitted["messages"], 40, "{summary:#}");
    assert_eq!(submitted["refused"], 8);
    assert_eq!(submitted["accepted"], 32);
    assert_eq!(
        submitted["refusals_by_reply"]["451 4.7.1 sink says later"],
        8
    );
}

#[test]
fn bad_input_is_refused_with_the_place_named_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.json");
    std::fs::write(
        &path,
        scenario(vec![instant("plain", json!({}))]).to_string(),
    )
    .unwrap();
    let out = dir.path().join("out");
    let refuse = |args: &[&str], expect: &str| {
        let output = command()
            .arg("serve")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} wrote outputs");
    };
    refuse(
        &["--listen", "10.1.2.3"],
        "10.1.2.3: not a loopback address",
    );
    refuse(
        &["--submit", "192.0.2.1:25"],
        "--submit 192.0.2.1:25: not a loopback address",
    );
    refuse(&["--time-scale", "0"], "--time-scale 0");
    refuse(
        &["--set", "receivers.0.rate_limit.rate=fast"],
        "receivers[0].rate_limit.rate",
    );
    let taken = TcpListener::bind("127.0.0.2:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    refuse(
        &["--port", &port],
        &format!("cannot listen on 127.0.0.2:{port}"),
    );
}
