//! The log readers against real lines (tests/corpus/: copied from public issue trackers,
//! forums and vendor documentation, each block under its source's URL): what a careful
//! person counts in each, and the readers' treatment of real files' accidents (CR line
//! ends, endless lines, truncated gzip, several formats in one file, localised months).

use std::io::Write;

use mtasim::MtaKind;
use mtasim::diagnose::{self, Diagnosis, Options};
use mtasim::flow_control::OutcomeClass;
use mtasim::logs::{Kind, LogError, LogReader, ReadOptions};
use mtasim::scenario;
use mtasim::units::Span;

use crate::common::repo;

/// The lines of the corpus block from `source` (a part of its URL) in `file`.
fn block(file: &str, source: &str) -> String {
    let text = std::fs::read_to_string(repo(&format!("tests/corpus/{file}"))).unwrap();
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if let Some(url) = line.strip_prefix("## ") {
            inside = url.contains(source);
            continue;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(!out.is_empty(), "no block from {source} in {file}");
    out
}

/// Every block of every corpus file: (file, source URL, lines).
fn blocks() -> Vec<(String, String, String)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(repo("tests/corpus")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for part in text.split("## ").skip(1) {
            let (url, lines) = part.split_once('\n').unwrap();
            all.push((name.clone(), url.trim().to_string(), lines.to_string()));
        }
    }
    all.sort();
    all
}

fn options() -> ReadOptions {
    ReadOptions {
        year: Some(2026),
        ..ReadOptions::default()
    }
}

fn open(bytes: Vec<u8>, read: ReadOptions) -> Result<LogReader, LogError> {
    let input: Box<dyn std::io::BufRead + Send> = Box::new(std::io::Cursor::new(bytes));
    LogReader::from_readers(vec![("log".into(), input, None)], read)
}

/// One outcome with its symbols resolved.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    kind: Kind,
    destination: String,
    recipient: String,
    class: Option<OutcomeClass>,
    code: Option<u16>,
    time: String,
}

fn read(bytes: impl Into<Vec<u8>>) -> (Vec<Seen>, LogReader) {
    let mut reader = open(bytes.into(), options()).unwrap();
    let mut seen = Vec::new();
    while let Some(o) = reader.next_outcome().unwrap() {
        seen.push(Seen {
            kind: o.kind,
            destination: reader.text(o.destination).to_string(),
            recipient: reader.record().unwrap().recipient.to_string(),
            class: o.class,
            code: o.code,
            time: o.time.to_string(),
        });
    }
    (seen, reader)
}

/// The outcomes of kinds other than arrival and removal.
fn fates(seen: &[Seen]) -> Vec<(Kind, &str)> {
    seen.iter()
        .filter(|s| !matches!(s.kind, Kind::Arrival | Kind::Removed))
        .map(|s| (s.kind, s.destination.as_str()))
        .collect()
}

fn diagnosis(bytes: impl Into<Vec<u8>>) -> Diagnosis {
    let compiled = scenario::load("default", scenario::DEFAULT_SCENARIO, &[]).unwrap();
    let mut reader = open(bytes.into(), options()).unwrap();
    let options = Options {
        policies: compiled.policies.clone(),
        interval: Span::MINUTE,
    };
    diagnose::diagnose(&mut reader, options).unwrap()
}

#[test]
fn the_corpus_is_real_and_every_line_is_accounted_for() {
    let all = blocks();
    let sources: std::collections::BTreeSet<&str> =
        all.iter().map(|(_, u, _)| u.as_str()).collect();
    let lines: usize = all.iter().map(|(_, _, l)| l.lines().count()).sum();
    assert!(sources.len() >= 30, "{} sources", sources.len());
    assert!(lines >= 100, "{lines} lines");
    for (file, url, text) in &all {
        let at = format!("{file} {url}");
        // Each file's format (fragments without a syslog header show none); other MTAs'
        // logs are detected.
        let format = match file.as_str() {
            "exim.log" => Some(MtaKind::Exim),
            "pmta.csv" => Some(MtaKind::Pmta),
            "other.log" => None,
            _ => Some(MtaKind::Postfix),
        };
        match open(
            text.clone().into_bytes(),
            ReadOptions {
                format,
                ..options()
            },
        ) {
            Ok(mut reader) => {
                let mut outcomes = 0;
                loop {
                    match reader.next_outcome() {
                        Ok(Some(_)) => outcomes += 1,
                        Ok(None) => break,
                        // Blocks of skipped lines only (journal lines, an acct file without
                        // a time column, another MTA's log) read no record.
                        Err(LogError::NoRecords { .. }) => break,
                        Err(e) => panic!("{at}: {e}"),
                    }
                }
                let s = reader.stats();
                assert_eq!(s.read, text.lines().count() as u64, "{at}");
                assert_eq!(s.read, s.parsed + s.skipped + s.malformed, "{at}");
                let _ = outcomes;
            }
            Err(LogError::Unsupported { mta, .. }) => assert_eq!(mta, "Sendmail", "{at}"),
            Err(e) => panic!("{at}: {e}"),
        }
    }
}

#[test]
fn local_and_virtual_deliveries_count_under_the_recipient_domain() {
    // Two deliveries to maildir by the virtual agent.
    let (seen, _) = read(block("postfix.log", "postfix-grok-patterns/pull/58"));
    assert_eq!(
        fates(&seen),
        [
            (Kind::Delivered, "example.com"),
            (Kind::Delivered, "example.com")
        ]
    );
    // local(8) forwarding root's mail, then pipe(8) to dovecot.
    let (seen, _) = read(block("postfix.log", "iRedMail/issues/156"));
    assert_eq!(
        fates(&seen),
        [
            (Kind::Delivered, "pixel-games.inovaperf.fr"),
            (Kind::Delivered, "mail.pixel-games.ovh")
        ]
    );
    assert!(seen.iter().all(|s| s.class != Some(OutcomeClass::Internal)));
}

#[test]
fn an_expiry_counts_where_its_message_went_or_unattributed() {
    let text = block("postfix.log", "supar/postlog-sa");
    // The whole story: two deferrals (connect timeouts to arobor.ru), then the expiry.
    let (seen, _) = read(text.clone());
    let story: Vec<(Kind, &str)> = fates(&seen).into_iter().take(3).collect();
    assert_eq!(
        story,
        [
            (Kind::Deferred, "arobor"),
            (Kind::Deferred, "arobor"),
            (Kind::Expired, "arobor")
        ]
    );
    let d = diagnosis(text.clone());
    assert_eq!(d.destinations["arobor"].expired, 1);
    assert_eq!(d.totals.expired, 1);
    // A log that starts after the deferrals: the expiry still counts, unattributed.
    let from_expiry: String = text
        .lines()
        .skip_while(|l| !l.contains("status=expired"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (seen, _) = read(from_expiry.clone());
    assert_eq!(fates(&seen)[0], (Kind::Expired, ""));
    let d = diagnosis(from_expiry);
    assert_eq!(d.unattributed.expired, 1);
    assert_eq!(d.totals.expired, 1);
    assert!(!d.destinations.contains_key(""));
}

#[test]
fn a_suspended_destination_s_deferral_is_a_hold_and_shows() {
    let text = block("postfix.log", "Mailu/Mailu/issues/1458");
    let (seen, _) = read(text.clone());
    let held: Vec<&Seen> = seen.iter().filter(|s| s.kind == Kind::Held).collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].destination, "pemex");
    // The hold keeps the inner failure's class: a connect timeout.
    assert_eq!(held[0].class, Some(OutcomeClass::Timeout));
    let d = diagnosis(text);
    assert_eq!((d.totals.held, d.totals.attempts), (1, 1));
    assert_eq!(d.destinations["pemex"].held, 1);
}

#[test]
fn an_empty_recipient_counts_at_the_relay_s_destination() {
    // Mailu/Mailu#1473's bounce by Gmail with the recipient empty, as issue 29 reports
    // such lines (`to=<>`): no public line of the kind was found.
    let text =
        block("postfix.log", "Mailu/Mailu/issues/1473").replacen("<REDACTED@gmail.com>", "<>", 1);
    let (seen, _) = read(text.clone());
    assert_eq!(fates(&seen), [(Kind::Bounced, "gmail")]);
    assert_eq!(seen[0].recipient, "");
    assert_eq!(seen[0].code, Some(550));
    // The same with the brackets gone too (`to=,`, as the issue quotes it).
    let (bare, _) = read(text.replacen("to=<>,", "to=,", 1));
    assert_eq!(bare, seen);
    let d = diagnosis(text);
    assert_eq!((d.destinations["gmail"].bounced, d.totals.bounced), (1, 1));
}

#[test]
fn a_header_defined_acct_file_without_a_time_column_says_so() {
    let e = open(
        block("pmta.csv", "sparkypmtatracking").into_bytes(),
        options(),
    )
    .and_then(|mut r| r.next_outcome())
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "no line of log is a delivery record (8 lines read, 1 skipped, 7 malformed; first malformed: log:2: record without a time column (timeLogged, timeQueued))"
    );
}

#[test]
fn a_headerless_acct_file_of_another_field_count_is_refused() {
    // The same file without its header row: its five fields are not the default record's.
    let text: String = block("pmta.csv", "sparkypmtatracking")
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    let e = open(
        text.into_bytes(),
        ReadOptions {
            format: Some(MtaKind::Pmta),
            ..options()
        },
    )
    .and_then(|mut r| r.next_outcome())
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "log:1: a PowerMTA accounting record of 5 fields and no header row: the default record has 21 (or 23 with queue and vmtaPool); put the acct-file's header row (its record-fields) first"
    );
}

#[test]
fn localised_months_are_read() {
    // Real journalctl lines under French, Austrian German and Italian locales: detected as
    // a syslog file, their stamps read (Postfix's warning lines are skipped as such).
    let text = block("journal.log", "crowdsec/issues/530")
        + &block("journal.log", "grml/grml/issues/276")
        + &block("journal.log", "lnav/issues/533");
    let mut reader = open(text.into_bytes(), options()).unwrap();
    assert_eq!(reader.files()[0].format, MtaKind::Postfix);
    assert!(matches!(
        reader.next_outcome(),
        Err(LogError::NoRecords { .. })
    ));
    assert_eq!(reader.stats().skipped, 4);
    let italian = block("postfix.log", "OpenMandriva");
    let mut reader = open(italian.into_bytes(), options()).unwrap();
    assert!(matches!(
        reader.next_outcome(),
        Err(LogError::NoRecords { .. })
    ));
    assert_eq!(
        reader.stats().skipped_by_kind(),
        [("other Postfix line", 2)],
        "`ott 13` is October 13th, a Postfix line"
    );
}

#[test]
fn cr_line_ends_are_line_ends() {
    let lf = block("postfix.log", "docker-mailserver/issues/374");
    let (want, _) = read(lf.clone());
    let (got, reader) = read(lf.replace('\n', "\r"));
    assert_eq!(got, want);
    assert_eq!(reader.stats().read, 6);
    let (got, _) = read(lf.replace('\n', "\r\n"));
    assert_eq!(got, want);
    assert_eq!(
        fates(&got),
        [(Kind::Deferred, "mydomain"), (Kind::Deferred, "mydomain")]
    );
}

#[test]
fn an_endless_line_is_cut_counted_and_passed() {
    let real = block("postfix.log", "zygmund.net");
    let mut text = real.clone().into_bytes();
    // A line without an end in the middle of the log: 1 MiB of garbage, then the log again.
    text.extend(std::iter::repeat_n(b'x', 1 << 20));
    text.push(b'\n');
    text.extend(real.as_bytes());
    let (seen, reader) = read(text);
    let s = reader.stats();
    assert_eq!(s.read, 7);
    assert_eq!(s.malformed_by_reason(), [("line longer than 64 KiB", 1)]);
    assert_eq!(s.first_malformed[0].line, 4);
    assert_eq!(s.first_malformed[0].text.len(), 200);
    assert_eq!(fates(&seen).len(), 2);
}

#[test]
fn a_truncated_gzip_keeps_what_was_read_and_says_where() {
    let real = block("postfix.log", "docker-mailserver/issues/374");
    // A rotated log: the six real lines 2,000 times (a new queue ID every round), cut short.
    let mut log = String::new();
    for round in 0..2000 {
        log.push_str(&real.replace("81571C2D", &format!("{:08X}", 0x1000_0000 + round)));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(log.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let cut = bytes[..bytes.len() * 2 / 3].to_vec();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("maillog.1.gz");
    std::fs::write(&path, &cut).unwrap();
    let mut reader = LogReader::open(&[&path], options()).unwrap();
    let mut deferred = 0;
    while let Some(o) = reader.next_outcome().unwrap() {
        deferred += u64::from(o.kind == Kind::Deferred);
    }
    let s = reader.stats();
    assert_eq!(s.truncated.len(), 1);
    let t = &s.truncated[0];
    // Every complete line before the cut was read, the partial one was not.
    assert_eq!(s.read, t.line - 1);
    assert!(s.read > 1000 && s.read < 12_000, "{}", s.read);
    assert_eq!(s.malformed, 0);
    // Two deferrals per round of six lines, the last round possibly cut after its first.
    assert!(
        deferred.abs_diff(s.read / 3) <= 1,
        "{deferred} deferrals in {} lines",
        s.read
    );
    assert!(t.to_string().starts_with(&format!(
        "{}:{}: the file ends early (",
        path.display(),
        t.line
    )));
}

#[test]
fn lines_of_another_format_are_counted_as_such() {
    // A maillog with Exim's lines in it (two servers' logs concatenated).
    let text = block("postfix.log", "zygmund.net") + &block("exim.log", "hestiacp/issues/2087");
    let (seen, reader) = read(text);
    assert_eq!(fates(&seen), [(Kind::Delivered, "vi")]);
    assert_eq!(
        reader.stats().skipped_by_kind(),
        [("Exim line (another format)", 3)]
    );
}

#[test]
fn exim_lines_are_read() {
    let (seen, _) = read(block("exim.log", "alaveteli/issues/624"));
    assert_eq!(fates(&seen), [(Kind::Delivered, "messagelabs")]);
    assert_eq!(seen[0].code, Some(250));
    assert_eq!(seen[0].time, "2015-10-30T19:24:16.000Z");
    let (seen, _) = read(block("exim.log", "hestiacp/issues/3381"));
    assert_eq!(fates(&seen), [(Kind::Deferred, "zeusteam")]);
    assert_eq!(seen[0].class, Some(OutcomeClass::Connect));
    let (seen, _) = read(block("exim.log", "hestiacp/issues/2087"));
    assert_eq!(fates(&seen), [(Kind::Deferred, "xxxx")]);
    assert_eq!(seen[1].class, Some(OutcomeClass::Internal));
    let (seen, _) = read(block("exim.log", "mta-log-parser/issues/22"));
    assert_eq!(fates(&seen), [(Kind::Bounced, "domain.ru")]);
    assert_eq!(seen[1].class, Some(OutcomeClass::Permfail));
    assert_eq!(seen[0].recipient, "test@domain.ru");
}

#[test]
fn other_mtas_logs_are_named_not_misread() {
    let e = open(
        block("other.log", "rss2email/issues/79").into_bytes(),
        ReadOptions::default(),
    )
    .err()
    .unwrap();
    assert_eq!(
        e.to_string(),
        "log: this is a Sendmail log: mtasim reads Postfix, Exim, KumoMTA and PowerMTA logs"
    );
    // An Exim log read as Postfix says what it is.
    let e = open(
        block("exim.log", "hestiacp/issues/2087").into_bytes(),
        ReadOptions {
            format: Some(MtaKind::Postfix),
            ..options()
        },
    )
    .and_then(|mut r| r.next_outcome())
    .unwrap_err();
    assert!(
        e.to_string().ends_with(
            "; log is an Exim log, not a Postfix log (give the format exim, or let it be detected)"
        ),
        "{e}"
    );
}

#[test]
fn a_header_defined_acct_file_with_unix_times_is_classed_by_type_and_bounce_category() {
    // The PowerMTA guide's own file: five of the default record's fields in another order,
    // Unix times, no dsnStatus; the bounces carry only their category.
    let text = block("pmta.csv", "PowerMTA User's Guide");
    let (seen, reader) = read(text.clone());
    assert_eq!(
        fates(&seen),
        [
            (Kind::Delivered, "domain.com"),
            (Kind::Delivered, "domain.com"),
            (Kind::Bounced, "domain.com"),
            (Kind::Bounced, "domain.com")
        ]
    );
    let times: Vec<&str> = seen.iter().map(|s| s.time.as_str()).collect();
    assert_eq!(
        times,
        [
            "2007-05-10T14:38:23.000Z",
            "2007-05-10T14:38:25.000Z",
            "2007-05-10T14:38:35.000Z",
            "2007-05-10T14:38:35.000Z"
        ]
    );
    assert_eq!(seen[2].class, Some(OutcomeClass::Permfail));
    assert_eq!(seen[3].recipient, "user4@domain.com");
    let s = reader.stats();
    assert_eq!((s.read, s.parsed, s.skipped, s.malformed), (5, 4, 1, 0));
    // policy-related stands for 5.7.1: a bounce by policy, not a bad mailbox.
    let d = diagnosis(text);
    assert_eq!(d.totals.delivered, 2);
    assert_eq!(d.totals.bounced, 2);
    assert_eq!(d.destinations["domain.com"].bounces_by_reason["blocked"], 2);
}

#[test]
fn the_span_is_from_the_earliest_to_the_latest_time_seen() {
    // Four RFC 3339 lines, written by two processes a millisecond apart, read last first.
    let text = block("postfix.log", "mailrise/issues/117");
    let reversed: String = text.lines().rev().map(|l| format!("{l}\n")).collect();
    let d = diagnosis(reversed);
    assert_eq!(d.time.first, "2024-04-25T20:16:21.664Z");
    assert_eq!(d.time.end, "2024-04-25T20:16:21.667Z");
    assert_eq!(d.time.span_s, 0.003);
    assert_eq!(d.totals.deferred, 4);
}

#[test]
fn a_stamp_without_a_year_follows_the_nearest_plausible_year() {
    // A test fixture's real lines: December 27-28, then a November 22 delivery (an older
    // message pasted last) that is the November before, not the next one.
    let december = block("postfix.log", "supar/postlog-sa");
    let (seen, _) = read(december.clone());
    let last = seen.last().unwrap();
    assert_eq!(last.time, "2026-11-22T03:47:13.000Z");
    let d = diagnosis(december.clone());
    assert_eq!(d.time.first, "2026-11-22T03:47:13.000Z");
    assert_eq!(d.time.end, "2026-12-28T13:39:28.000Z");
    // New Year: the December lines, then real January lines (iRedMail's), one December
    // line logged late among them, then January again: January is the next year, the late
    // line the December before it, and the year does not move on again after it.
    let january = block("postfix.log", "iRedMail/issues/156");
    let (first, rest) = january.split_at(january.find('\n').unwrap() + 1);
    let late = "Dec 28 13:39:28 mx postfix/qmgr[22753]: C93CEB08A046: removed\n";
    let mut log: String = december
        .lines()
        .filter(|l| l.starts_with("Dec"))
        .map(|l| format!("{l}\n"))
        .collect();
    log.push_str(first);
    log.push_str(late);
    log.push_str(rest);
    let (seen, _) = read(log);
    let times: Vec<&str> = seen.iter().map(|s| &s.time[..10]).collect();
    let january_days = times.iter().filter(|t| **t == "2027-01-23").count();
    assert_eq!(january_days, 6, "{times:?}");
    assert!(
        times
            .iter()
            .all(|t| t.starts_with("2026-12") || *t == "2027-01-23")
    );
}

#[test]
fn diagnose_s_counts_agree_with_each_other() {
    // Yahoo's TSS04 twice, read with the default policy (a rule suspends on TSS04 at once):
    // yahoo is suspended on its first attempt, far below the error threshold. It is busy
    // (it could enter backoff: it did), so the verdict and the chart say 1 of 1 busy.
    let d = diagnosis(block(
        "postfix.log",
        "postfix_exporter_test.go (Postfix 3 logs)",
    ));
    assert_eq!(d.destinations.len(), 1);
    assert!(d.destinations["yahoo"].busy);
    assert_eq!((d.verdict.busy, d.verdict.affected.len()), (1, 1));
    assert!(
        d.verdict.summary.contains("(1 of 1 busy: yahoo)"),
        "{}",
        d.verdict.summary
    );
    assert_eq!(d.episodes.len(), 1);
    assert_eq!(d.episodes[0].errors, 2);
    assert_eq!(d.episodes[0].top_reply_count, 2);
    // The totals are the destinations' sums, times and replies included.
    let yahoo = &d.destinations["yahoo"];
    assert!(yahoo.suspended_s > 0.0);
    assert_eq!(d.totals.suspended_s, yahoo.suspended_s);
    assert_eq!(d.totals.backoff_s, yahoo.backoff_s);
    assert_eq!(d.totals.deferrals_by_reply, yahoo.deferrals_by_reply);
    assert_eq!(d.totals.deferred, 2);
    // Five destinations, none busy, no episode: none, and nobody is "1 of 0".
    let d = diagnosis(block(
        "postfix.log",
        "postfix_exporter_test.go (delivery status)",
    ));
    assert_eq!(d.destinations.len(), 5);
    assert_eq!((d.verdict.busy, d.episodes.len()), (0, 0));
    assert_eq!(d.verdict.verdict, mtasim::diagnose::VerdictKind::None);
    assert_eq!(
        (d.totals.delivered, d.totals.deferred, d.totals.bounced),
        (2, 2, 1)
    );
}
