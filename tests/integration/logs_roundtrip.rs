//! Writer -> reader round trips: synthetic events written in each format and read back give
//! the same outcomes (every field that survives the format).

use std::collections::BTreeMap;

use mtasim::MtaKind;
use mtasim::flow_control::OutcomeClass;
use mtasim::logs::destinations::Providers;
use mtasim::logs::write::synthetic::{Event, Synthetic};
use mtasim::logs::write::{
    EventLog, EximWriter, KumoWriter, PmtaWriter, PostfixStyle, PostfixWriter, Written,
};
use mtasim::logs::{Kind, LogReader, ReadOptions, UnixMillis};

/// 2026-06-14T00:00:00Z
const START: UnixMillis = UnixMillis(1_781_395_200_000);

#[derive(Debug, Clone, PartialEq)]
struct Expected {
    kind: Kind,
    recipient: String,
    destination: String,
    class: Option<OutcomeClass>,
    handshake: bool,
    code: Option<u16>,
    time: i64,
    age: Option<u64>,
}

fn domain(recipient: &str) -> &str {
    recipient.rsplit_once('@').unwrap().1
}

fn code_of(reply: &str) -> Option<u16> {
    mtasim::replies::reply_code(reply).map(|c| c.code)
}

/// Writes the synthetic stream in `format` and returns the log and what reading it must give.
fn write(format: MtaKind, synthetic: &Synthetic, style: PostfixStyle) -> (Vec<u8>, Vec<Expected>) {
    let providers = Providers::builtin();
    let mut out = Vec::new();
    let mut writer: Box<dyn EventLog + '_> = match format {
        MtaKind::Postfix => Box::new(PostfixWriter::new(&mut out, START, style)),
        MtaKind::KumoMta => Box::new(KumoWriter::new(&mut out, START)),
        MtaKind::Pmta => Box::new(PmtaWriter::new(&mut out, START).unwrap()),
        MtaKind::Exim => Box::new(EximWriter::new(&mut out, START)),
    };
    let mut expected = Vec::new();
    let names: BTreeMap<String, String> = synthetic
        .destinations
        .iter()
        .map(|d| (d.domain.clone(), d.name.clone()))
        .collect();
    let dest = |recipient: &str| names[recipient.rsplit_once('@').unwrap().1].clone();
    // Before any attempt, a domain's destination is the domain itself.
    let mut attempted = std::collections::BTreeSet::new();
    synthetic.run(&providers, |event| match event {
        Event::Arrival(a) => {
            writer.arrival(a).unwrap();
            if format != MtaKind::Pmta {
                expected.push(Expected {
                    kind: Kind::Arrival,
                    recipient: if matches!(format, MtaKind::KumoMta | MtaKind::Exim) {
                        a.recipient.to_string()
                    } else {
                        String::new()
                    },
                    destination: match format {
                        MtaKind::KumoMta | MtaKind::Exim
                            if attempted.contains(domain(a.recipient)) =>
                        {
                            dest(a.recipient)
                        }
                        MtaKind::KumoMta | MtaKind::Exim => domain(a.recipient).to_string(),
                        _ => String::new(),
                    },
                    class: None,
                    handshake: false,
                    code: None,
                    time: a.time.as_millis() as i64,
                    age: (format == MtaKind::KumoMta).then_some(0),
                });
            }
        }
        Event::Attempt(a) => {
            writer.attempt(a).unwrap();
            attempted.insert(domain(a.recipient).to_string());
            if a.outcome == Written::Held && format == MtaKind::Pmta {
                return;
            }
            let kind = match a.outcome {
                Written::Delivered => Kind::Delivered,
                Written::Deferred => Kind::Deferred,
                Written::Bounced => Kind::Bounced,
                Written::Held => Kind::Held,
            };
            let mta_side = matches!(
                a.class,
                OutcomeClass::Connect | OutcomeClass::Timeout | OutcomeClass::Internal
            );
            let code = match (format, a.outcome) {
                (_, Written::Held) => None,
                (MtaKind::KumoMta, _) if mta_side || a.handshake => {
                    if a.handshake && !mta_side {
                        code_of(a.reply)
                    } else {
                        Some(400)
                    }
                }
                (MtaKind::Pmta, _) if a.class == OutcomeClass::Connect => Some(421),
                (_, _) if mta_side => None,
                _ => code_of(a.reply),
            };
            expected.push(Expected {
                kind,
                recipient: a.recipient.to_string(),
                destination: dest(a.recipient),
                class: (a.outcome != Written::Held).then_some(a.class),
                handshake: a.handshake,
                code,
                time: a.time.as_millis() as i64,
                // Exim logs the time in the queue (`QT=`) on deliveries only.
                age: (format != MtaKind::Exim || a.outcome == Written::Delivered)
                    .then_some((a.time - a.arrived).as_millis()),
            });
        }
        Event::Expiry(e) => {
            writer.expiry(e).unwrap();
            expected.push(Expected {
                kind: Kind::Expired,
                recipient: if format == MtaKind::Postfix {
                    String::new()
                } else {
                    e.recipient.to_string()
                },
                destination: dest(e.recipient),
                class: None,
                handshake: false,
                code: match format {
                    MtaKind::Postfix | MtaKind::Exim => None,
                    MtaKind::KumoMta => Some(551),
                    MtaKind::Pmta => code_of(e.last_reply).or(Some(421)),
                },
                time: e.time.as_millis() as i64,
                age: matches!(format, MtaKind::KumoMta | MtaKind::Pmta)
                    .then_some((e.time - e.arrived).as_millis()),
            });
        }
        Event::Removal(r) => {
            writer.removal(r).unwrap();
            if matches!(format, MtaKind::Postfix | MtaKind::Exim) {
                expected.push(Expected {
                    kind: Kind::Removed,
                    recipient: String::new(),
                    destination: String::new(),
                    class: None,
                    handshake: false,
                    code: None,
                    time: r.time.as_millis() as i64,
                    age: None,
                });
            }
        }
    });
    writer.flush().unwrap();
    drop(writer);
    (out, expected)
}

struct Got {
    kind: Kind,
    recipient: String,
    destination: String,
    class: Option<OutcomeClass>,
    handshake: bool,
    code: Option<u16>,
    time: i64,
    age: Option<u64>,
}

fn read(format: MtaKind, log: Vec<u8>) -> (Vec<Got>, LogReader) {
    let inputs: Vec<(String, Box<dyn std::io::BufRead + Send>, _)> =
        vec![("log".to_string(), Box::new(std::io::Cursor::new(log)), None)];
    let mut reader = LogReader::from_readers(
        inputs,
        ReadOptions {
            year: Some(2026),
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(reader.files()[0].format, format);
    let mut got = Vec::new();
    while let Some(o) = reader.next_outcome().unwrap() {
        let t = reader.record().unwrap();
        got.push(Got {
            kind: o.kind,
            recipient: t.recipient.to_string(),
            destination: reader.text(o.destination).to_string(),
            class: o.class,
            handshake: o.handshake,
            code: o.code,
            time: o.time.0 - START.0,
            age: o.age,
        });
    }
    (got, reader)
}

fn check(format: MtaKind, style: PostfixStyle) {
    let synthetic = Synthetic::standard(3000, 7);
    let (log, expected) = write(format, &synthetic, style.clone());
    let text = String::from_utf8(log.clone()).unwrap();
    let (got, reader) = read(format, log);
    let stats = reader.stats();
    assert_eq!(stats.malformed, 0, "{:?}", stats.first_malformed);
    // Memory follows what is in flight and what is distinct, not the log: every message
    // ended, and the symbols are the few domains, hosts, destinations and reply keys.
    assert_eq!(reader.in_flight(), 0, "{format:?}");
    assert!(
        reader.symbols().len() < 40,
        "{format:?}: {} symbols",
        reader.symbols().len()
    );
    assert_eq!(got.len(), expected.len(), "{}", &text[..2000]);
    // Second-resolution formats: classic syslog and PowerMTA.
    let coarse = matches!(format, MtaKind::Pmta | MtaKind::Exim)
        || (format == MtaKind::Postfix && !style.rfc3339);
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        let at = format!("{format:?} outcome {i}: expected {e:?}");
        assert_eq!(g.kind, e.kind, "{at}");
        assert_eq!(g.recipient, e.recipient, "{at}");
        assert_eq!(g.destination, e.destination, "{at}");
        if g.kind != Kind::Held {
            assert_eq!((g.class, g.handshake), (e.class, e.handshake), "{at}");
            assert_eq!(g.code, e.code, "{at}");
        }
        if g.kind == Kind::Expired && format == MtaKind::Postfix {
            continue;
        }
        let want_time = if coarse { e.time / 1000 * 1000 } else { e.time };
        assert_eq!(g.time, want_time, "{at}");
        match (g.age, e.age, format) {
            (Some(g), Some(e), MtaKind::KumoMta) => assert_eq!(g, e, "{at}"),
            (Some(g), Some(e), MtaKind::Exim) => assert_eq!(g, e, "{at}"),
            (Some(g), Some(e), MtaKind::Pmta) => {
                let (t, arrived) = (want_time as u64, (want_time as u64).saturating_sub(e));
                let _ = arrived;
                assert!(g.abs_diff(e) <= 1000 && t >= g, "{at}: age {g}");
            }
            (Some(g), Some(e), MtaKind::Postfix) => {
                let tolerance = if e < 1000 {
                    6
                } else if e < 10_000 {
                    51
                } else {
                    501
                };
                assert!(g.abs_diff(e) <= tolerance, "{at}: age {g}");
            }
            (g, e, _) => assert_eq!(g.is_some(), e.is_some(), "{at}: age {g:?}"),
        }
    }
    let kinds: BTreeMap<String, u64> = got.iter().fold(BTreeMap::new(), |mut m, g| {
        *m.entry(format!("{:?}", g.kind)).or_default() += 1;
        m
    });
    for k in ["Delivered", "Deferred", "Bounced", "Expired"] {
        assert!(
            kinds.get(k).copied().unwrap_or(0) > 0,
            "{format:?} exercises {k}: {kinds:?}"
        );
    }
}

#[test]
fn postfix_round_trip() {
    check(MtaKind::Postfix, PostfixStyle::default());
}

#[test]
fn postfix_rfc3339_round_trip() {
    check(
        MtaKind::Postfix,
        PostfixStyle {
            rfc3339: true,
            utc_offset_minutes: -180,
            ..PostfixStyle::default()
        },
    );
}

#[test]
fn kumomta_round_trip() {
    check(MtaKind::KumoMta, PostfixStyle::default());
}

#[test]
fn pmta_round_trip() {
    check(MtaKind::Pmta, PostfixStyle::default());
}

#[test]
fn exim_round_trip() {
    check(MtaKind::Exim, PostfixStyle::default());
}

#[test]
fn writers_are_deterministic() {
    let synthetic = Synthetic::standard(300, 3);
    for format in MtaKind::ALL {
        let (a, _) = write(format, &synthetic, PostfixStyle::default());
        let (b, _) = write(format, &synthetic, PostfixStyle::default());
        assert_eq!(a, b);
    }
}
