//! Round trips: scenarios run with each `--log-format`, their logs diagnosed. The verdict
//! and the affected destinations are what the simulation's own transitions say, and the
//! counts per destination are summary.json's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mtasim::MtaKind;
use mtasim::diagnose::{self, Diagnosis, Options, VerdictKind};
use mtasim::logs::{LogReader, ReadOptions};
use mtasim::output::MtaLog;
use mtasim::output::mta_log::file_name;
use mtasim::scenario::{self, Override};
use mtasim::sim::{RunResult, simulate_with};
use mtasim::units::Span;

const FORMATS: [MtaKind; 3] = [MtaKind::Postfix, MtaKind::KumoMta, MtaKind::Pmta];

/// Runs `file` with `overrides` writing its log in `format`, and diagnoses the log with
/// the scenario's flow control.
fn round_trip(file: &str, overrides: &[&str], format: MtaKind) -> (RunResult, Diagnosis) {
    let overrides: Vec<Override> = overrides.iter().map(|o| o.parse().unwrap()).collect();
    let compiled = scenario::load_file(Path::new(file), &overrides).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = MtaLog::create(dir.path(), format).unwrap();
    let (result, log) = simulate_with(&compiled, Default::default(), log).unwrap();
    log.finish().unwrap();
    let read = ReadOptions {
        year: Some(2026),
        key: compiled.scenario.flow_control.key,
        ..ReadOptions::default()
    };
    let mut reader = LogReader::open(&[dir.path().join(file_name(format))], read).unwrap();
    let options = Options {
        policies: compiled.policies.clone(),
        interval: Span::MINUTE,
    };
    let diagnosis = diagnose::diagnose(&mut reader, options).unwrap();
    (result, diagnosis)
}

/// The destinations the simulation put into backoff or suspension.
fn transitioned(result: &RunResult) -> BTreeSet<String> {
    result
        .transitions
        .iter()
        .map(|t| t.destination.clone())
        .collect()
}

/// (attempts, delivered, deferred, bounced, expired)
type Counts = (u64, u64, u64, u64, u64);

/// Every reported destination's counts equal summary.json's, and the others' sum equals
/// other_destinations'.
fn counts_agree(result: &RunResult, d: &Diagnosis, what: &str) {
    let mut read: BTreeMap<&str, Counts> = d
        .destinations
        .iter()
        .map(|(name, r)| {
            let c = (r.attempts, r.delivered, r.deferred, r.bounced, r.expired);
            (name.as_str(), c)
        })
        .collect();
    for (name, s) in &result.summary.destinations {
        let got = read.remove(name.as_str()).unwrap_or_default();
        let want = (s.attempts, s.delivered, s.deferrals, s.bounced, s.expired);
        assert_eq!(got, want, "{what}: {name}");
    }
    let rest = read.values().fold((0, 0, 0, 0, 0), |a, c| {
        (a.0 + c.0, a.1 + c.1, a.2 + c.2, a.3 + c.3, a.4 + c.4)
    });
    let others = result
        .summary
        .other_destinations
        .as_ref()
        .map(|o| {
            let s = &o.summary;
            (s.attempts, s.delivered, s.deferrals, s.bounced, s.expired)
        })
        .unwrap_or_default();
    assert_eq!(rest, others, "{what}: the other destinations");
    let t = &result.summary.totals;
    assert_eq!(
        (d.totals.attempts, d.totals.delivered, d.totals.bounced),
        (t.attempts, t.delivered, t.bounced),
        "{what}: totals"
    );
}

#[test]
fn reputation_at_a_few_receivers_is_few_destinations() {
    for format in FORMATS {
        let what = format!("reputation-few-domains as {format:?}");
        let (result, d) = round_trip(
            "scenarios/reputation-few-domains.json",
            &[
                "duration=2h",
                "traffic.0.messages=40000",
                "traffic.0.over=40m",
            ],
            format,
        );
        let expected = transitioned(&result);
        assert_eq!(
            expected,
            ["comcast", "gmx", "orange"].map(String::from).into(),
            "the scenario's own transitions"
        );
        assert_eq!(d.verdict.verdict, VerdictKind::FewDestinations, "{what}");
        assert_eq!(
            d.verdict.affected.iter().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{what}"
        );
        assert!(d.verdict.busy >= 20, "{what}: {} busy", d.verdict.busy);
        for e in &d.episodes {
            assert_eq!(e.cause, diagnose::Cause::Reputation, "{what}: {e:?}");
            assert!(e.errors >= 10, "{what}: {e:?}");
        }
        assert!(d.verdict.summary.starts_with("A few destinations"));
        counts_agree(&result, &d, &what);
        assert_eq!(d.lines.malformed, 0);
        assert_eq!(d.lines.read, d.lines.parsed + d.lines.skipped);
    }
}

#[test]
fn the_mtas_own_errors_are_all_destinations() {
    for format in FORMATS {
        let what = format!("mta-internal-errors as {format:?}");
        let (result, d) = round_trip(
            "scenarios/mta-internal-errors.json",
            &[
                "duration=2h",
                "traffic.0.messages=80000",
                "traffic.0.over=2h",
            ],
            format,
        );
        let expected = transitioned(&result);
        assert!(expected.len() >= 12, "{expected:?}");
        assert_eq!(d.verdict.verdict, VerdictKind::AllDestinations, "{what}");
        assert_eq!(
            d.verdict.affected.iter().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{what}"
        );
        let mta = d.verdict.causes.get(&diagnose::Cause::Mta).copied();
        assert!(
            2 * mta.unwrap_or(0) > d.episodes.len() as u64,
            "{what}: {:?}",
            d.verdict.causes
        );
        // Every episode starts within the burst (1h to 1h30m), and its cause is read from
        // its deferrals, not from the unknown-user bounces the same window counted.
        for e in &d.episodes {
            assert!((3600.0..5400.0).contains(&e.start_s), "{what}: {e:?}");
            assert!(!e.top_reply.contains("5.1.1"), "{what}: {e:?}");
            assert_ne!(e.cause, diagnose::Cause::Unknown, "{what}: {e:?}");
        }
        counts_agree(&result, &d, &what);
    }
}

#[test]
fn a_healthy_run_is_none() {
    for format in FORMATS {
        let what = format!("postfix-defaults as {format:?}");
        let (result, d) = round_trip(
            "scenarios/postfix-defaults.json",
            &["duration=1h", "traffic.0.messages=20000"],
            format,
        );
        assert!(transitioned(&result).is_empty());
        assert_eq!(d.verdict.verdict, VerdictKind::None, "{what}");
        assert!(d.verdict.affected.is_empty() && d.episodes.is_empty());
        assert!(d.verdict.summary.starts_with("No destination"));
        counts_agree(&result, &d, &what);
        // timeseries.csv: the total's rows add up to the totals.
        let total = &d.series.last().unwrap().1;
        assert_eq!(
            total.iter().map(|r| r.counts.attempts).sum::<u64>(),
            d.totals.attempts
        );
    }
}

// ---- One meaning of a reply: the log readers, the diagnosis and the simulator agree -------

/// Diagnoses a maillog held in memory with the default scenario's flow control and the
/// given overrides.
fn diagnose_text(maillog: &str, overrides: &[&str]) -> Diagnosis {
    let overrides: Vec<Override> = overrides.iter().map(|o| o.parse().unwrap()).collect();
    let compiled = scenario::load("default", scenario::DEFAULT_SCENARIO, &overrides).unwrap();
    let input: Box<dyn std::io::BufRead + Send> =
        Box::new(std::io::Cursor::new(maillog.to_string()));
    let read = ReadOptions {
        year: Some(2026),
        ..ReadOptions::default()
    };
    let mut reader = LogReader::from_readers(vec![("maillog".into(), input, None)], read).unwrap();
    let options = Options {
        policies: compiled.policies.clone(),
        interval: Span::MINUTE,
    };
    diagnose::diagnose(&mut reader, options).unwrap()
}

/// One delivery-status line to gmail answered with `reply`, `n` seconds into the log.
fn gmail_line(n: u32, status: &str, reply: &str) -> String {
    format!(
        "Jun 14 18:{:02}:{:02} mail postfix/smtp[1283]: {:010X}: to=<user{n}@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=4.0.0, status={status} (host gmail-smtp-in.l.google.com[142.250.102.27] said: {reply} (in reply to end of DATA command))\n",
        n / 60,
        n % 60,
        0xA0000 + n
    )
}

/// Replies with a code: each catalogue entry's, and odd codes a client still acts on.
fn coded_replies() -> Vec<String> {
    let mut texts: Vec<String> = mtasim::replies::catalogue()
        .iter()
        .filter(|e| e.text.starts_with(|c: char| c.is_ascii_digit()))
        .map(|e| e.text.to_string())
        .collect();
    texts.push("550 5.2.2 mailbox full".into());
    texts.push("554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org".into());
    texts
}

#[test]
fn a_reply_code_means_the_same_to_the_log_reader_and_the_simulator() {
    for text in coded_replies() {
        let reply = mtasim::replies::Reply::parse(&text).unwrap();
        let status = match reply.kind() {
            mtasim::replies::ReplyKind::Accepted => "sent",
            mtasim::replies::ReplyKind::Temporary => "deferred",
            mtasim::replies::ReplyKind::Permanent => "bounced",
        };
        let line = gmail_line(1, status, &text);
        let input: Box<dyn std::io::BufRead + Send> = Box::new(std::io::Cursor::new(line));
        let read = ReadOptions {
            year: Some(2026),
            ..ReadOptions::default()
        };
        let mut reader = LogReader::from_readers(vec![("m".into(), input, None)], read).unwrap();
        let o = reader.next_outcome().unwrap().unwrap();
        assert_eq!(o.class, Some(reply.outcome_class()), "{text}");
    }
}

#[test]
fn a_bounce_reason_is_the_same_in_a_diagnosis_and_a_run() {
    for text in coded_replies() {
        let reply = mtasim::replies::Reply::parse(&text).unwrap();
        if reply.kind() != mtasim::replies::ReplyKind::Permanent {
            continue;
        }
        let d = diagnose_text(&gmail_line(1, "bounced", &text), &[]);
        let by_reason = &d.destinations["gmail"].bounces_by_reason;
        assert_eq!(
            by_reason.keys().copied().collect::<Vec<_>>(),
            [reply.bounce_reason().name()],
            "{text}"
        );
    }
}

#[test]
fn a_reply_says_the_same_to_a_diagnosis_as_to_the_replies_module() {
    use mtasim::replies::Signal;
    let replies = [
        "421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        "421 4.7.0 [TS02] Messages from 203.0.113.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        "450 4.7.1 Rate limit exceeded, try again later",
        "451 4.7.1 Greylisted, please try again later",
        "421 4.7.0 Too many connections, try again later",
        "451 4.3.0 Error: a separate message was generated",
        "421 4.7.0 Temporarily deferred due to sender reputation, try again later",
    ];
    for reply in replies {
        // Twelve deferrals within a minute: past the error threshold (10 in 1m); no reply
        // rule, so that the words decide (the default's rules ignore greylisting).
        let log: String = (0..12).map(|i| gmail_line(i, "deferred", reply)).collect();
        let d = diagnose_text(&log, &["flow_control.rules=[]"]);
        assert_eq!(d.episodes.len(), 1, "{reply}");
        let e = &d.episodes[0];
        assert_eq!(e.cause, diagnose::Cause::from(Signal::of(reply)), "{reply}");
    }
}
