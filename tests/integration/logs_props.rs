//! Property tests: no input makes a log reader panic — arbitrary bytes, and realistic lines
//! cut, spliced and garbled.

use proptest::prelude::*;

use mtasim::MtaKind;
use mtasim::logs::{LogReader, ReadOptions};

/// Reads `bytes` to the end (or the first error), returning the outcome count.
fn drain(bytes: Vec<u8>, format: Option<MtaKind>) -> usize {
    let inputs: Vec<(String, Box<dyn std::io::BufRead + Send>, _)> = vec![(
        "prop".to_string(),
        Box::new(std::io::Cursor::new(bytes)),
        None,
    )];
    let options = ReadOptions {
        format,
        year: Some(2026),
        ..ReadOptions::default()
    };
    let Ok(mut reader) = LogReader::from_readers(inputs, options) else {
        return 0;
    };
    let mut n = 0;
    while let Ok(Some(o)) = reader.next_outcome() {
        let text = reader.record().expect("a record behind each outcome");
        assert!(text.line.len() >= text.reply.len().min(text.line.len()));
        let _ = reader.text(o.destination);
        n += 1;
    }
    let stats = reader.stats();
    assert_eq!(stats.read, stats.parsed + stats.skipped + stats.malformed);
    n
}

const POSTFIX: &[&str] = &[
    "Jun 14 18:08:39 mail postfix/smtp[1283]: 39D9336AFA81: to=<alice@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=1.2, delays=0.05/0.01/0.5/0.64, dsn=2.0.0, status=sent (250 2.0.0 OK)",
    "2026-06-14T18:08:39.620674-03:00 mail postfix-out/smtp[77]: 4F1A2B3C4D: to=<c@gmail.com>, orig_to=<x@y>, relay=none, conn_use=2, delay=3.1, delays=0.1/0/1.5/1.5, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mx[2001:db8::1]:25: Connection refused)",
    "Jun 10 10:00:00 mail postfix/qmgr[7]: 2A3B4C5D6E: from=<news@sender.example>, size=1834, nrcpt=2 (queue active)",
    "Jun 15 10:00:00 mail postfix/qmgr[7]: 2A3B4C5D6E: from=<news@sender.example>, status=expired, returned to sender",
    "Jun 15 10:00:00 mail postfix/qmgr[7]: 2A3B4C5D6E: removed",
    "Jun 14 18:08:39 mail postfix/smtp[12]: 1B2C3D4E5F: to=<f@orange.fr>, relay=smtp-in.orange.fr[193.252.22.65]:25, delay=0.5, delays=0.1/0/0.4/0, dsn=4.7.0, status=deferred (host smtp-in.orange.fr[193.252.22.65] refused to talk to me: 421 4.7.0 Trop)",
];

const KUMO: &[&str] = &[
    r#"{"type":"Delivery","id":"1d98076abbbc11ed940250ebf67f93bd","sender":"s@x","recipient":["a@gmail.com","b@gmail.com"],"queue":"gmail.com","site":"s->(alt1)?.gmail-smtp-in.l.google.com.@smtp_client","size":1,"response":{"code":250,"enhanced_code":{"class":2,"subject":0,"detail":0},"content":"OK","command":"."},"peer_address":{"name":"gmail-smtp-in.l.google.com.","addr":"142.251.2.27"},"timestamp":1781460519,"created":1781460500}"#,
    r#"{"type":"TransientFailure","id":"1d98076abbbc11ed940250ebf67f93bd","recipient":"a@gmail.com","site":"","response":{"code":400,"enhanced_code":null,"content":"KumoMTA internal: failed to connect to any candidate hosts: Command rejected Response { code: 4","command":null},"event_time":"2026-06-14T18:08:39.250Z"}"#,
    r#"{"type":"Reception","id":"x","recipient":"a@b","timestamp":1.5e300}"#,
];

const PMTA: &[&str] = &[
    "type,timeLogged,timeQueued,orig,rcpt,dsnStatus,dsnDiag,dsnMta,dlvEsmtpAvailable,bounceCat",
    "d,2024-01-02 03:04:05+0000,2024-01-02 03:04:00+0000,a@b,c@gmail.com,2.0.0 (success),smtp;250 ok,gmail-smtp-in.l.google.com (142.250.102.27),PIPELINING,",
    "b,2024-01-02 03:04:05+0000,,a@b,c@gmail.com,4.4.7 (expired),\"smtp;421 x, y\",mx (1.2.3.4),,message-expired",
];

/// A realistic line, cut, with bytes spliced in.
fn garbled(corpus: &'static [&'static str]) -> impl Strategy<Value = String> {
    (0..corpus.len(), any::<usize>(), any::<usize>(), "\\PC{0,6}").prop_map(
        move |(i, cut, at, insert)| {
            let line = corpus[i];
            let boundary = |n: usize| {
                (0..=n.min(line.len()))
                    .rev()
                    .find(|&k| line.is_char_boundary(k))
                    .unwrap_or(0)
            };
            let cut = boundary(cut % (line.len() + 1));
            let kept = &line[..cut.max(line.len() / 2)];
            let at = (0..=at % (kept.len() + 1))
                .rev()
                .find(|&k| kept.is_char_boundary(k))
                .unwrap_or(0);
            format!("{}{}{}", &kept[..at], insert, &kept[at..])
        },
    )
}

fn lines(corpus: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            garbled(corpus),
            Just(String::new()),
            (0..corpus.len()).prop_map(move |i| corpus[i].to_string())
        ],
        1..12,
    )
    .prop_map(|ls| ls.join("\n").into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        for format in [None, Some(MtaKind::Postfix), Some(MtaKind::KumoMta), Some(MtaKind::Pmta)] {
            drain(bytes.clone(), format);
        }
    }

    #[test]
    fn garbled_postfix_lines_never_panic(bytes in lines(POSTFIX)) {
        drain(bytes, Some(MtaKind::Postfix));
    }

    #[test]
    fn garbled_kumomta_records_never_panic(bytes in lines(KUMO)) {
        drain(bytes, Some(MtaKind::KumoMta));
    }

    #[test]
    fn garbled_pmta_records_never_panic(bytes in lines(PMTA)) {
        drain(bytes, Some(MtaKind::Pmta));
    }
}

#[test]
fn the_unmodified_corpus_parses() {
    assert_eq!(drain(POSTFIX.join("\n").into_bytes(), None), 6);
    assert_eq!(drain(KUMO.join("\n").into_bytes(), None), 3);
    assert_eq!(drain(PMTA.join("\n").into_bytes(), None), 2);
}
