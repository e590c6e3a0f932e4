//! The log readers against a corpus of hand-written lines, one test per variant, with the
//! fields each must yield; then time origins, merging, compression and bad input.

use std::io::Write;

use mtasim::MtaKind;
use mtasim::flow_control::OutcomeClass;
use mtasim::flow_control::config::KeyKind;
use mtasim::logs::{Command, Extra, Kind, LogError, LogReader, Outcome, ReadOptions, UnixMillis};

/// An outcome with its symbols and texts resolved.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    kind: Kind,
    time: String,
    line: u64,
    file: u16,
    recipient: String,
    domain: String,
    destination: String,
    code: Option<u16>,
    enhanced: Option<String>,
    command: Option<Command>,
    class: Option<OutcomeClass>,
    handshake: bool,
    reply: String,
    reply_key: String,
    relay: String,
    ip: Option<String>,
    age: Option<u64>,
    extra: Extra,
    queue: u32,
    recipient_key: Option<u32>,
    recipients: u32,
}

fn options(format: Option<MtaKind>) -> ReadOptions {
    ReadOptions {
        format,
        year: Some(2026),
        ..ReadOptions::default()
    }
}

fn read_with(files: &[&str], options: ReadOptions) -> (Vec<Seen>, LogReader) {
    let inputs = files
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let reader: Box<dyn std::io::BufRead + Send> =
                Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
            (format!("log{i}"), reader, None)
        })
        .collect();
    let mut reader = LogReader::from_readers(inputs, options).unwrap();
    let mut seen = Vec::new();
    while let Some(o) = reader.next_outcome().unwrap() {
        seen.push(view(&reader, &o));
    }
    (seen, reader)
}

fn read(text: &str) -> Vec<Seen> {
    read_with(&[text], options(None)).0
}

fn view(r: &LogReader, o: &Outcome) -> Seen {
    let t = r.record().unwrap();
    Seen {
        kind: o.kind,
        time: o.time.to_string(),
        line: o.line,
        file: o.file,
        recipient: t.recipient.to_string(),
        domain: r.text(o.domain).to_string(),
        destination: r.text(o.destination).to_string(),
        code: o.code,
        enhanced: o.enhanced.map(|e| e.to_string()),
        command: o.command,
        class: o.class,
        handshake: o.handshake,
        reply: t.reply.to_string(),
        reply_key: r.text(o.reply).to_string(),
        relay: r.text(o.relay.host).to_string(),
        ip: o.relay.ip.map(|ip| ip.to_string()),
        age: o.age,
        extra: o.extra,
        queue: o.queue.0,
        recipient_key: o.recipient.map(|k| k.0),
        recipients: o.recipients,
    }
}

fn one(text: &str) -> Seen {
    let seen = read(text);
    assert_eq!(seen.len(), 1, "{seen:#?}");
    seen.into_iter().next().unwrap()
}

fn postfix_extra(s: &Seen) -> (Option<[u32; 4]>, u32) {
    match s.extra {
        Extra::Postfix(p) => (p.delays, p.conn_use),
        other => panic!("not Postfix: {other:?}"),
    }
}

// ---- Postfix -------------------------------------------------------------------------

#[test]
fn postfix_sent_to_gmail() {
    let s = one(
        "Jun 14 18:08:39 mail postfix/smtp[1283]: 39D9336AFA81: to=<alice@Gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=1.2, delays=0.05/0.01/0.5/0.64, dsn=2.0.0, status=sent (250 2.0.0 OK  1781460519 a1si123.45 - gsmtp)",
    );
    assert_eq!(s.kind, Kind::Delivered);
    assert_eq!(s.time, "2026-06-14T18:08:39.000Z");
    assert_eq!(s.recipient, "alice@Gmail.com");
    assert_eq!(
        (s.domain.as_str(), s.destination.as_str()),
        ("gmail.com", "gmail")
    );
    assert_eq!((s.code, s.enhanced.as_deref()), (Some(250), Some("2.0.0")));
    assert_eq!(
        (s.class, s.handshake),
        (Some(OutcomeClass::Delivered), false)
    );
    assert_eq!(s.reply, "250 2.0.0 OK  1781460519 a1si123.45 - gsmtp");
    assert_eq!(s.reply_key, "", "delivered outcomes carry no reply key");
    assert_eq!(s.relay, "gmail-smtp-in.l.google.com");
    assert_eq!(s.ip.as_deref(), Some("142.250.102.27"));
    assert_eq!(s.age, Some(1200));
    assert_eq!(postfix_extra(&s), (Some([50, 10, 500, 640]), 1));
    assert_eq!(s.recipient_key, Some(0));
}

#[test]
fn postfix_deferred_by_yahoo_in_reply_to_mail_from() {
    let s = one(
        "Jun 14 18:08:39 mail postfix/smtp[1283]: F024DAA029B: to=<bob@aol.com>, relay=mx-aol.mail.gm0.yahoodns.net[98.136.96.92]:25, delay=59235, delays=59232/0.06/2.3/0.13, dsn=4.7.0, status=deferred (host mx-aol.mail.gm0.yahoodns.net[98.136.96.92] said: 421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM command))",
    );
    assert_eq!(s.kind, Kind::Deferred);
    assert_eq!(s.destination, "yahoo");
    assert_eq!(s.command, Some(Command::MailFrom));
    assert_eq!((s.code, s.enhanced.as_deref()), (Some(421), Some("4.7.0")));
    assert_eq!(
        (s.class, s.handshake),
        (Some(OutcomeClass::Tempfail), false)
    );
    let reply = "421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes";
    assert_eq!(s.reply, reply);
    assert_eq!(s.reply_key, reply);
    assert_eq!(s.age, Some(59_235_000));
    assert_eq!(postfix_extra(&s), (Some([59_232_000, 60, 2300, 130]), 1));
}

#[test]
fn postfix_rfc3339_time_and_instance_name() {
    let s = one(
        "2026-06-14T18:08:39.620674-03:00 mail postfix-out/smtp[77]: 4F1A2B3C4D: to=<c@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=3.1, delays=0.1/0/1.5/1.5, dsn=4.7.28, status=deferred (host gmail-smtp-in.l.google.com[142.250.102.27] said: 421-4.7.28 [203.0.113.7      15] Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp (in reply to end of DATA command))",
    );
    assert_eq!(s.time, "2026-06-14T21:08:39.620Z");
    assert_eq!((s.code, s.enhanced.as_deref()), (Some(421), Some("4.7.28")));
    assert_eq!(s.command, Some(Command::EndOfData));
    assert_eq!(
        s.reply_key,
        "421-4.7.28 [203.0.113.7 15] Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp"
    );
}

#[test]
fn postfix_service_name_long_queue_id_orig_to_and_conn_use() {
    let s = one(
        "Jun  4 02:03:04 mail postfix/polite/smtp[9]: 4gdgQw15ZZz1Bc: to=<d@hotmail.com>, orig_to=<alias@corp.example>, relay=hotmail-com.olc.protection.outlook.com[52.101.8.44]:25, conn_use=3, delay=0.42, delays=0.01/0/0/0.41, dsn=2.0.0, status=sent (250 2.6.0 <id@corp.example> [InternalId=1] Queued mail for delivery)",
    );
    assert_eq!(s.time, "2026-06-04T02:03:04.000Z");
    assert_eq!(
        (s.kind, s.destination.as_str()),
        (Kind::Delivered, "microsoft")
    );
    assert_eq!(postfix_extra(&s), (Some([10, 0, 0, 410]), 3));
}

#[test]
fn postfix_ip_instance_and_ipv6_relay() {
    let s = one(
        "Jun 14 18:08:39 mail postfix-239.58.50.50/smtp[12]: 1B2C3D4E5F: to=<e@bigmail.example>, relay=mx1.bigmail.example[2001:db8::25]:25, delay=0.3, delays=0.1/0.1/0.05/0.05, dsn=2.0.0, status=sent (250 ok)",
    );
    assert_eq!(s.relay, "mx1.bigmail.example");
    assert_eq!(s.ip.as_deref(), Some("2001:db8::25"));
    assert_eq!(s.destination, "bigmail");
    assert_eq!((s.code, s.enhanced.as_deref()), (Some(250), Some("2.0.0")));
}

#[test]
fn postfix_greeting_reject() {
    let s = one(
        "Jun 14 18:08:39 mail postfix/smtp[12]: 1B2C3D4E5F: to=<f@orange.fr>, relay=smtp-in.orange.fr[193.252.22.65]:25, delay=0.5, delays=0.1/0/0.4/0, dsn=4.7.0, status=deferred (host smtp-in.orange.fr[193.252.22.65] refused to talk to me: 421 4.7.0 Trop de connexions, veuillez reessayer plus tard)",
    );
    assert_eq!((s.class, s.handshake), (Some(OutcomeClass::Tempfail), true));
    assert_eq!(s.command, Some(Command::Greeting));
    assert_eq!(
        s.reply,
        "421 4.7.0 Trop de connexions, veuillez reessayer plus tard"
    );
    assert_eq!(s.destination, "orange");
}

#[test]
fn postfix_connect_refused_and_timed_out() {
    let seen = read(concat!(
        "Jun 14 18:08:39 mail postfix/smtp[12]: 1B2C3D4E5F: to=<g@bigcorp.example>, relay=none, delay=30, delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to mx.bigcorp.example[192.0.2.9]:25: Connection refused)\n",
        "Jun 14 18:09:39 mail postfix/smtp[13]: 1B2C3D4E60: to=<h@bigcorp.example>, relay=none, delay=30, delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to mx.bigcorp.example[192.0.2.9]:25: Connection timed out)\n",
    ));
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].class, seen[0].handshake),
        (Some(OutcomeClass::Connect), true)
    );
    assert_eq!(
        (seen[1].class, seen[1].handshake),
        (Some(OutcomeClass::Timeout), true)
    );
    for s in &seen {
        assert_eq!(
            (s.relay.as_str(), s.destination.as_str()),
            ("mx.bigcorp.example", "bigcorp")
        );
        assert_eq!(s.ip.as_deref(), Some("192.0.2.9"));
        assert_eq!((s.code, s.enhanced.as_deref()), (None, Some("4.4.1")));
    }
}

#[test]
fn postfix_dns_failure_takes_the_learned_destination() {
    let seen = read(concat!(
        "Jun 14 18:08:39 mail postfix/smtp[12]: 1B2C3D4E5F: to=<i@ymail.com>, relay=mta6.am0.yahoodns.net[67.195.204.72]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, status=sent (250 ok dirdel)\n",
        "Jun 14 18:10:00 mail postfix/smtp[12]: 1B2C3D4E61: to=<j@ymail.com>, relay=none, delay=2, delays=0.1/0/1.9/0, dsn=4.4.3, status=deferred (Host or domain name not found. Name service error for name=ymail.com type=MX: Host not found, try again)\n",
        "Jun 14 18:10:01 mail postfix/smtp[12]: 1B2C3D4E62: to=<k@nowhere.example>, relay=none, delay=2, delays=0.1/0/1.9/0, dsn=4.4.3, status=deferred (Host or domain name not found. Name service error for name=nowhere.example type=MX: Host not found, try again)\n",
    ));
    assert_eq!(
        (seen[1].class, seen[1].handshake),
        (Some(OutcomeClass::Internal), false)
    );
    assert_eq!(seen[1].destination, "yahoo");
    assert_eq!(seen[1].relay, "");
    assert_eq!(seen[2].destination, "nowhere.example");
}

#[test]
fn postfix_delivery_temporarily_suspended_is_held() {
    let s = one(
        "Jun 14 18:08:39 mail postfix/error[14]: 1B2C3D4E5F: to=<l@bigcorp.example>, relay=none, delay=310, delays=310/0.01/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mx.bigcorp.example[192.0.2.9]:25: Connection refused)",
    );
    assert_eq!(s.kind, Kind::Held);
    assert_eq!((s.class, s.handshake), (Some(OutcomeClass::Connect), true));
    assert_eq!(s.destination, "bigcorp");
    assert_eq!(
        s.reply,
        "connect to mx.bigcorp.example[192.0.2.9]:25: Connection refused"
    );
}

#[test]
fn postfix_bounce_user_unknown() {
    let s = one(
        "Jun 14 18:08:39 mail postfix/smtp[12]: 1B2C3D4E5F: to=<nobody@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=0.9, delays=0.1/0/0.4/0.4, dsn=5.1.1, status=bounced (host gmail-smtp-in.l.google.com[142.250.102.27] said: 550-5.1.1 The email account that you tried to reach does not exist. - gsmtp (in reply to RCPT TO command))",
    );
    assert_eq!(s.kind, Kind::Bounced);
    assert_eq!(
        (s.class, s.command),
        (Some(OutcomeClass::Permfail), Some(Command::RcptTo))
    );
    assert_eq!((s.code, s.enhanced.as_deref()), (Some(550), Some("5.1.1")));
}

#[test]
fn postfix_message_life_arrival_retry_expiry_removal() {
    let seen = read(concat!(
        "Jun 10 10:00:00 mail postfix/pickup[5]: 2A3B4C5D6E: uid=1000 from=<news@sender.example>\n",
        "Jun 10 10:00:00 mail postfix/cleanup[6]: 2A3B4C5D6E: message-id=<1@sender.example>\n",
        "Jun 10 10:00:00 mail postfix/qmgr[7]: 2A3B4C5D6E: from=<news@sender.example>, size=1834, nrcpt=2 (queue active)\n",
        "Jun 10 10:00:01 mail postfix/smtp[8]: 2A3B4C5D6E: to=<a@bigcorp.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.bigcorp.example[192.0.2.9]:25: Connection refused)\n",
        "Jun 10 10:00:01 mail postfix/smtp[8]: 2A3B4C5D6E: to=<b@bigcorp.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.bigcorp.example[192.0.2.9]:25: Connection refused)\n",
        "Jun 10 10:05:00 mail postfix/qmgr[7]: 2A3B4C5D6E: from=<news@sender.example>, size=1834, nrcpt=2 (queue active)\n",
        "Jun 10 10:05:01 mail postfix/smtp[9]: 2A3B4C5D6E: to=<a@bigcorp.example>, relay=mx.bigcorp.example[192.0.2.9]:25, delay=301, delays=300/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)\n",
        "Jun 15 10:00:00 mail postfix/qmgr[7]: 2A3B4C5D6E: from=<news@sender.example>, status=expired, returned to sender\n",
        "Jun 15 10:00:00 mail postfix/bounce[10]: 2A3B4C5D6E: sender non-delivery notification: 3B4C5D6E7F\n",
        "Jun 15 10:00:00 mail postfix/qmgr[7]: 2A3B4C5D6E: removed\n",
        "Jun 15 10:00:05 mail postfix/qmgr[7]: 2A3B4C5D6E: from=<other@sender.example>, size=10, nrcpt=1 (queue active)\n",
    ));
    let kinds: Vec<Kind> = seen.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::Arrival,
            Kind::Deferred,
            Kind::Deferred,
            Kind::Delivered,
            Kind::Expired,
            Kind::Removed,
            Kind::Arrival
        ]
    );
    assert_eq!(seen[0].recipients, 2);
    assert_eq!(seen[0].recipient_key, None);
    assert!(seen[..6].iter().all(|s| s.queue == 0));
    // b@ is the only recipient left open when the message expires.
    assert_eq!(seen[4].recipient_key, seen[2].recipient_key);
    assert_eq!(
        (seen[4].domain.as_str(), seen[4].destination.as_str()),
        ("bigcorp.example", "bigcorp")
    );
    assert_eq!(seen[4].class, None);
    assert_eq!(seen[3].recipient_key, seen[1].recipient_key);
    // The queue ID is reused after removal: a new message.
    assert_eq!(seen[6].queue, 1);
}

#[test]
fn postfix_other_delivery_agents() {
    let seen = read(concat!(
        "Jun 14 18:00:00 mail postfix/local[20]: 5A5A5A5A5A: to=<bob@example.org>, relay=local, delay=0.1, delays=0.05/0.01/0/0.04, dsn=2.0.0, status=sent (delivered to mailbox)\n",
        "Jun 14 18:00:01 mail postfix/virtual[21]: 5A5A5A5A5B: to=<x@example.org>, relay=virtual, delay=0.1, delays=0.05/0.01/0/0.04, dsn=5.1.1, status=bounced (unknown user: \"x@example.org\")\n",
        "Jun 14 18:00:02 mail postfix/lmtp[22]: 5A5A5A5A5C: to=<y@example.org>, relay=mail.example.org[private/dovecot-lmtp], delay=0.1, delays=0.05/0.01/0/0.04, dsn=2.0.0, status=sent (250 2.0.0 <y@example.org> Saved)\n",
        "Jun 14 18:00:03 mail postfix/pipe[23]: 5A5A5A5A5D: to=<z@example.org>, relay=dovecot, delay=0.1, delays=0.05/0.01/0/0.04, dsn=4.3.0, status=deferred (temporary failure. Command output: quota exceeded)\n",
        "Jun 14 18:00:04 mail postfix/discard[24]: 5A5A5A5A5E: to=<w@spam.example>, relay=none, delay=0.1, delays=0.1/0/0/0, dsn=2.0.0, status=sent (spam.example)\n",
        "Jun 14 18:00:05 mail postfix/smtp[25]: 5A5A5A5A5F: to=<v@example.net>, relay=none, delay=0, delays=0/0/0/0, dsn=4.3.0, status=deferred (unknown mail transport error)\n",
    ));
    assert_eq!(seen.len(), 6);
    let got: Vec<(Kind, Option<OutcomeClass>, &str)> = seen
        .iter()
        .map(|s| (s.kind, s.class, s.destination.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                Kind::Delivered,
                Some(OutcomeClass::Delivered),
                "example.org"
            ),
            (Kind::Bounced, Some(OutcomeClass::Permfail), "example.org"),
            (Kind::Delivered, Some(OutcomeClass::Delivered), "example"),
            // A local delivery agent (pipe to dovecot): the recipient's domain.
            (Kind::Deferred, Some(OutcomeClass::Tempfail), "example.org"),
            (
                Kind::Delivered,
                Some(OutcomeClass::Delivered),
                "spam.example"
            ),
            (Kind::Deferred, Some(OutcomeClass::Internal), "example.net"),
        ]
    );
    assert_eq!(seen[1].enhanced.as_deref(), Some("5.1.1"));
    assert_eq!(seen[2].ip, None);
}

#[test]
fn postfix_lost_connection_and_session_timeouts() {
    let seen = read(concat!(
        "Jun 14 18:00:00 mail postfix/smtp[20]: 6A6A6A6A6A: to=<a@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=5, delays=0/0/5/0, dsn=4.4.2, status=deferred (lost connection with mx.corp.example[192.0.2.3] while receiving the initial server greeting)\n",
        "Jun 14 18:00:01 mail postfix/smtp[20]: 6A6A6A6A6B: to=<b@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=5, delays=0/0/0.1/5, dsn=4.4.2, status=deferred (lost connection with mx.corp.example[192.0.2.3] while sending RCPT TO)\n",
        "Jun 14 18:00:02 mail postfix/smtp[20]: 6A6A6A6A6C: to=<c@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=300, delays=0/0/0.1/300, dsn=4.4.2, status=deferred (conversation with mx.corp.example[192.0.2.3] timed out while receiving the initial server greeting)\n",
        "Jun 14 18:00:03 mail postfix/smtp[20]: 6A6A6A6A6D: to=<d@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=600, delays=0/0/0.1/600, dsn=4.4.2, status=deferred (conversation with mx.corp.example[192.0.2.3] timed out while sending end of data -- message may be sent more than once)\n",
    ));
    let got: Vec<(Option<OutcomeClass>, bool)> =
        seen.iter().map(|s| (s.class, s.handshake)).collect();
    assert_eq!(
        got,
        [
            (Some(OutcomeClass::Connect), true),
            (Some(OutcomeClass::Tempfail), false),
            (Some(OutcomeClass::Timeout), true),
            (Some(OutcomeClass::Timeout), false),
        ]
    );
}

#[test]
fn postfix_skipped_lines_are_counted_by_kind() {
    let (seen, reader) = read_with(
        &[concat!(
            "Jun 14 18:00:00 mail postfix/smtpd[30]: connect from client.example[198.51.100.4]\n",
            "Jun 14 18:00:00 mail postfix/smtpd[30]: 7A7A7A7A7A: client=client.example[198.51.100.4]\n",
            "Jun 14 18:00:00 mail postfix/cleanup[31]: 7A7A7A7A7A: message-id=<x@client.example>\n",
            "Jun 14 18:00:00 mail postfix/anvil[32]: statistics: max connection rate 1/60s for (smtp:198.51.100.4) at Jun 14 17:59:00\n",
            "Jun 14 18:00:00 mail postfix/smtp[33]: warning: no MX host for bigcorp.example has a valid address record\n",
            "Jun 14 18:00:00 mail postfix/smtp[33]: 7A7A7A7A7A: host mx.corp.example[192.0.2.3] said: 451 4.3.0 try again (in reply to RCPT TO command)\n",
            "Jun 14 18:00:00 mail postfix/smtp[33]: 7A7A7A7A7A: lost connection with mx.corp.example[192.0.2.3] while sending RCPT TO\n",
            "Jun 14 18:00:00 mail postfix/smtp[33]: 7A7A7A7A7A: to=<probe@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)\n",
            "Jun 14 18:00:00 mail kernel: [12.3] eth0: link up\n",
            "\n",
            "Jun 14 18:00:01 mail postfix/smtp[33]: 7A7A7A7A7A: to=<a@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)\n",
        )],
        options(None),
    );
    assert_eq!(seen.len(), 1);
    let stats = reader.stats();
    assert_eq!(
        (stats.read, stats.parsed, stats.skipped, stats.malformed),
        (11, 1, 10, 0)
    );
    assert_eq!(
        stats.skipped_by_kind(),
        [
            ("empty line", 1),
            ("not a Postfix line", 1),
            ("other Postfix line", 5),
            ("delivery agent line without a recipient status", 2),
            ("address verification", 1),
        ]
    );
}

#[test]
fn postfix_malformed_lines_are_counted_with_their_place() {
    let (seen, reader) = read_with(
        &[concat!(
            "Jun 14 18:00:01 mail postfix/smtp[33]: 7A7A7A7A7A: to=<a@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)\n",
            "Jun 14 18:00:02 mail postfix/smtp[33]: 7A7A7A7A7B: to=<a@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=1\n",
            "Jun 14 18:00:03 mail postfix/smtp[33]: 7A7A7A7A7C: to=<a@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=soon, dsn=2.0.0, status=sent (250 ok)\n",
            "Jun 14 18:00:04 mail postfix/smtp[33]: 7A7A7A7A7D: to=<a@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=1, status=delivered (250 ok)\n",
            "Jun 31 18:00:05 mail postfix/smtp[33]: 7A7A7A7A7E: to=<a@corp.example>, relay=mx.corp.example[192.0.2.3]:25, delay=1, status=sent (250 ok)\n",
            "Jun 14 18:00:06 mail postfix/smtp[33]: 7A7A7A7A7F: to=<a@corp.example, relay=none\n",
            "Jun 14 18:00:07 mail postfix/smtp[33]: 7A7A7A7A80: to=<a@corp.example>, delay=1, status=sent (250 ok)\n",
        )],
        options(None),
    );
    assert_eq!(seen.len(), 1);
    let stats = reader.stats();
    assert_eq!((stats.read, stats.parsed, stats.malformed), (7, 1, 6));
    assert_eq!(
        stats.malformed_by_reason(),
        [
            ("bad timestamp", 1),
            ("bad recipient (to=<...>)", 1),
            ("missing or bad relay=", 1),
            ("bad delay=", 1),
            ("missing status=", 1),
            ("unknown status=", 1),
        ]
    );
    let first = &stats.first_malformed[0];
    assert_eq!(
        (first.file.as_str(), first.line, first.reason),
        ("log0", 2, "missing status=")
    );
}

// ---- time origins, merging, files -----------------------------------------------------

#[test]
fn classic_time_uses_year_and_offset_and_spans_new_year() {
    let text = concat!(
        "Dec 31 23:59:00 mail postfix/smtp[1]: 1A1A1A1A1A: to=<a@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n",
        "Jan  1 00:01:00 mail postfix/smtp[1]: 1A1A1A1A1B: to=<a@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n",
    );
    let (seen, reader) = read_with(
        &[text],
        ReadOptions {
            year: Some(2025),
            utc_offset_minutes: 60,
            ..ReadOptions::default()
        },
    );
    assert_eq!(seen[0].time, "2025-12-31T22:59:00.000Z");
    assert_eq!(seen[1].time, "2025-12-31T23:01:00.000Z");
    let origin = reader.files()[0].origin;
    assert_eq!((origin.year, origin.utc_offset_minutes), (Some(2025), 60));
    assert_eq!(
        reader.stats().first_time,
        Some(UnixMillis(1_767_221_940_000))
    );
}

#[test]
fn several_files_merge_in_time_order_stable_by_file() {
    let a = concat!(
        "Jun 14 10:00:00 mail postfix/smtp[1]: 1A1A1A1A1A: to=<a@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n",
        "Jun 14 10:00:02 mail postfix/smtp[1]: 1A1A1A1A1B: to=<b@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n",
    );
    let b = concat!(
        "Jun 14 10:00:01 mail postfix/smtp[1]: 1A1A1A1A1C: to=<c@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n",
        "Jun 14 10:00:02 mail postfix/smtp[1]: 1A1A1A1A1D: to=<d@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n",
    );
    let (seen, _) = read_with(&[a, b], options(None));
    let order: Vec<(&str, u16, u64)> = seen
        .iter()
        .map(|s| (s.recipient.as_str(), s.file, s.line))
        .collect();
    assert_eq!(
        order,
        [
            ("a@x.example", 0, 1),
            ("c@x.example", 1, 1),
            ("b@x.example", 0, 2),
            ("d@x.example", 1, 2)
        ]
    );
}

#[test]
fn rotated_state_carries_across_files() {
    // The arrival is in the older file, the delivery in the newer: one message.
    let newer = "Jun 14 10:05:00 mail postfix/smtp[1]: 1A1A1A1A1A: to=<a@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=300, delays=299/0/0/1, dsn=2.0.0, status=sent (250 ok)\n";
    let older = "Jun 14 10:00:00 mail postfix/qmgr[1]: 1A1A1A1A1A: from=<s@y.example>, size=5, nrcpt=1 (queue active)\n";
    let (seen, _) = read_with(&[newer, older], options(None));
    assert_eq!(
        seen.iter().map(|s| s.kind).collect::<Vec<_>>(),
        [Kind::Arrival, Kind::Delivered]
    );
    assert_eq!(seen[0].queue, seen[1].queue);
}

fn write_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    path
}

#[test]
fn gzip_and_zstd_files_are_read_transparently() {
    let dir = tempfile::tempdir().unwrap();
    let line = |n: u32| {
        format!(
            "Jun 14 10:00:{n:02} mail postfix/smtp[1]: 1A1A1A1A{n:02X}: to=<a{n}@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n"
        )
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(line(1).as_bytes()).unwrap();
    let gz = write_file(dir.path(), "maillog.2.gz", &gz.finish().unwrap());
    let zst = ruzstd::encoding::compress_to_vec(
        line(2).as_bytes(),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    let zst = write_file(dir.path(), "maillog.1", &zst);
    let plain = write_file(dir.path(), "maillog", line(3).as_bytes());
    let mut reader = LogReader::open(&[plain, zst, gz], options(None)).unwrap();
    let mut lines = Vec::new();
    while let Some(o) = reader.next_outcome().unwrap() {
        lines.push((o.file, reader.record().unwrap().recipient.to_string()));
    }
    assert_eq!(
        lines,
        [
            (2, "a1@x.example".into()),
            (1, "a2@x.example".into()),
            (0, "a3@x.example".into())
        ]
    );
    assert!(reader.files().iter().all(|f| f.format == MtaKind::Postfix));
}

#[test]
fn year_defaults_to_the_files_modification_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "maillog",
        b"Dec 31 23:59:00 mail postfix/smtp[1]: 1A1A1A1A1A: to=<a@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n",
    );
    let january = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_312_000); // 2026-01-02
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(january)
        .unwrap();
    let mut reader = LogReader::open(&[&path], ReadOptions::default()).unwrap();
    let o = reader.next_outcome().unwrap().unwrap();
    assert_eq!(o.time.to_string(), "2025-12-31T23:59:00.000Z");
    let origin = reader.files()[0].origin;
    assert_eq!(origin.year, Some(2025));
    assert_eq!(origin.year_source, mtasim::logs::YearSource::FileModified);
}

#[test]
fn bad_input_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.log");
    let e = LogReader::open(&[&missing], ReadOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, LogError::Open { .. }));
    assert!(
        e.to_string()
            .starts_with(&format!("cannot read {}: ", missing.display())),
        "{e}"
    );

    let junk = write_file(dir.path(), "junk.txt", b"hello\nworld\n");
    let e = LogReader::open(&[&junk], ReadOptions::default())
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: unknown format: none of its first lines is a Postfix, Exim, KumoMTA or PowerMTA record (give the format to read it as one: postfix, exim, kumomta or pmta)",
            junk.display()
        )
    );

    let only_skipped = write_file(dir.path(), "maillog", b"Jun 14 18:00:00 mail postfix/smtpd[30]: connect from x[198.51.100.4]\nJun 14 18:00:00 mail postfix/smtp[33]: 7A7A7A7A7B: to=<a@b.example>, relay=none\n");
    let mut reader = LogReader::open(&[&only_skipped], options(None)).unwrap();
    let e = reader.next_outcome().err().unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "no line of {} is a delivery record (2 lines read, 1 skipped, 1 malformed; first malformed: {}:2: missing status=)",
            only_skipped.display(),
            only_skipped.display()
        )
    );

    let truncated = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b"Jun 14 18:00:00 mail postfix/smtpd[30]: connect from x\n".repeat(5000))
            .unwrap();
        let bytes = gz.finish().unwrap();
        write_file(dir.path(), "cut.gz", &bytes[..bytes.len() / 2])
    };
    // Cut short with no delivery record before the cut: nothing was read, and the error
    // says where the file ends.
    let e = LogReader::open(&[&truncated], options(Some(MtaKind::Postfix)))
        .and_then(|mut r| {
            while r.next_outcome()?.is_some() {}
            Ok(())
        })
        .err()
        .unwrap();
    assert!(matches!(e, LogError::NoRecords { .. }), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("; {}:", truncated.display()))
            && e.to_string().contains("the file ends early"),
        "{e}"
    );
}

#[test]
fn key_domain_uses_the_recipient_domain() {
    let (seen, _) = read_with(
        &[
            "Jun 14 18:08:39 mail postfix/smtp[1283]: 39D9336AFA81: to=<alice@googlemail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=1.2, delays=0.05/0.01/0.5/0.64, dsn=2.0.0, status=sent (250 ok)",
        ],
        ReadOptions {
            key: KeyKind::Domain,
            ..options(None)
        },
    );
    assert_eq!(seen[0].destination, "googlemail.com");
}

// ---- KumoMTA --------------------------------------------------------------------------

fn kumo_extra(s: &Seen) -> mtasim::logs::KumoExtra {
    match s.extra {
        Extra::KumoMta(k) => k,
        other => panic!("not KumoMTA: {other:?}"),
    }
}

const KUMO_ID: &str = "1d98076abbbc11ed940250ebf67f93bd";

fn kumo(kind: &str, fields: &str) -> String {
    format!(
        r#"{{"type":"{kind}","id":"{KUMO_ID}","sender":"news@sender.example","recipient":"user@gmail.com","queue":"gmail.com","site":"source2->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com.@smtp_client","size":1047,{fields},"timestamp":1781460519,"created":1781460500,"num_attempts":2,"bounce_classification":"Uncategorized","egress_pool":"pool0","egress_source":"source2","meta":{{"timestamp":1}},"headers":{{}},"nodeid":"557f3ad4-2c8c-11ee-976e-782d7e12e173"}}"#
    )
}

#[test]
fn kumo_delivery() {
    let line = kumo(
        "Delivery",
        r#""response":{"code":250,"enhanced_code":{"class":2,"subject":0,"detail":0},"content":"OK ids=8a5475ccbbc611eda12250ebf67f93bd","command":"."},"peer_address":{"name":"gmail-smtp-in.l.google.com.","addr":"142.251.2.27"}"#,
    );
    let s = one(&line);
    assert_eq!(s.kind, Kind::Delivered);
    assert_eq!(s.time, "2026-06-14T18:08:39.000Z");
    assert_eq!(
        (s.domain.as_str(), s.destination.as_str()),
        ("gmail.com", "gmail")
    );
    assert_eq!(
        (s.code, s.enhanced.as_deref(), s.command),
        (Some(250), Some("2.0.0"), Some(Command::EndOfData))
    );
    assert_eq!(s.reply, "250 2.0.0 OK ids=8a5475ccbbc611eda12250ebf67f93bd");
    assert_eq!(s.relay, "gmail-smtp-in.l.google.com");
    assert_eq!(s.ip.as_deref(), Some("142.251.2.27"));
    assert_eq!(s.age, Some(19_000));
    let (seen, reader) = read_with(&[&line], options(None));
    let k = kumo_extra(&seen[0]);
    assert_eq!(k.num_attempts, 2);
    assert_eq!(reader.text(k.queue), "gmail.com");
    assert_eq!(
        reader.text(k.site),
        "(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com"
    );
    assert_eq!(reader.text(k.egress_source), "source2");
    assert_eq!(reader.files()[0].format, MtaKind::KumoMta);
}

#[test]
fn kumo_transient_failure_and_bounce() {
    let tf = kumo(
        "TransientFailure",
        r#""response":{"code":421,"enhanced_code":{"class":4,"subject":7,"detail":28},"content":"[203.0.113.7] Our system has detected an unusual rate of \"unsolicited\" mail","command":"MAIL FROM:<news@sender.example>\r\n"},"event_time":"2026-06-14T18:08:39.250Z""#,
    );
    let s = one(&tf);
    assert_eq!(s.kind, Kind::Deferred);
    assert_eq!(
        s.time, "2026-06-14T18:08:39.250Z",
        "event_time wins over timestamp"
    );
    assert_eq!(
        (s.class, s.handshake, s.command),
        (Some(OutcomeClass::Tempfail), false, Some(Command::MailFrom))
    );
    assert_eq!(
        s.reply,
        "421 4.7.28 [203.0.113.7] Our system has detected an unusual rate of \"unsolicited\" mail"
    );
    assert_eq!(s.reply_key, s.reply);
    let bounce = kumo(
        "Bounce",
        r#""response":{"code":550,"enhanced_code":{"class":5,"subject":1,"detail":1},"content":"The email account that you tried to reach does not exist","command":"RCPT TO:<user@gmail.com>\r\n"}"#,
    );
    let s = one(&bounce);
    assert_eq!(
        (s.kind, s.class, s.command),
        (
            Kind::Bounced,
            Some(OutcomeClass::Permfail),
            Some(Command::RcptTo)
        )
    );
    assert_eq!(s.enhanced.as_deref(), Some("5.1.1"));
}

#[test]
fn kumo_internal_responses() {
    let resp = |content: &str, code: u16| {
        kumo(
            "TransientFailure",
            &format!(
                r#""response":{{"code":{code},"enhanced_code":null,"content":{},"command":null}},"peer_address":null"#,
                serde_json::to_string(content).unwrap()
            ),
        )
    };
    let cases = [
        (
            "KumoMTA internal: failed to connect to any candidate hosts: connect to 142.251.2.27:25 and read initial banner: failed to connect to 142.251.2.27:25: Connection refused (os error 111)",
            400,
            Kind::Deferred,
            OutcomeClass::Connect,
            true,
            Some(400),
        ),
        (
            "KumoMTA internal: failed to connect to any candidate hosts: connect to 142.251.2.27:25 and read initial banner: timeout after 60s while connecting to 142.251.2.27:25",
            400,
            Kind::Deferred,
            OutcomeClass::Timeout,
            true,
            Some(400),
        ),
        (
            "KumoMTA internal: failed to connect to any candidate hosts: connect to 142.251.2.27:25 and read initial banner: Command rejected Response { code: 421, enhanced_code: Some(EnhancedStatusCode { class: 4, subject: 7, detail: 0 }), content: \"Too many connections\", command: None }",
            400,
            Kind::Deferred,
            OutcomeClass::Tempfail,
            true,
            Some(421),
        ),
        (
            "KumoMTA internal: scheduled queue is suspended: Automation rule 421 4.7.0 [TSS04]",
            451,
            Kind::Held,
            OutcomeClass::Internal,
            false,
            Some(451),
        ),
        (
            "KumoMTA internal: ready queue throttled",
            451,
            Kind::Held,
            OutcomeClass::Internal,
            false,
            Some(451),
        ),
        (
            "KumoMTA internal: error in deliver_message: IO error",
            400,
            Kind::Deferred,
            OutcomeClass::Internal,
            false,
            Some(400),
        ),
    ];
    for (content, code, kind, class, handshake, seen_code) in cases {
        let s = one(&resp(content, code));
        assert_eq!(
            (s.kind, s.class, s.handshake, s.code),
            (kind, Some(class), handshake, seen_code),
            "{content}"
        );
        assert_eq!(s.destination, "gmail", "{content}");
    }
}

#[test]
fn kumo_reception_recipient_array_and_expiration() {
    let reception = r#"{"type":"Reception","id":"2d98076abbbc11ed940250ebf67f93bd","sender":"s@sender.example","recipient":["a@yahoo.com","b@yahoo.com"],"queue":"yahoo.com","site":"","size":10,"response":{"code":250,"enhanced_code":null,"content":"","command":null},"timestamp":1781460000,"created":1781460000}"#;
    let delivery = r#"{"type":"Delivery","id":"2d98076abbbc11ed940250ebf67f93bd","sender":"s@sender.example","recipient":["a@yahoo.com","b@yahoo.com"],"queue":"yahoo.com","site":"egress->(mta5|mta6|mta7).am0.yahoodns.net@smtp_client","size":10,"response":{"code":250,"enhanced_code":null,"content":"ok dirdel","command":"."},"peer_address":{"name":"mta5.am0.yahoodns.net","addr":"67.195.204.72:25"},"timestamp":1781460060,"created":1781460000}"#;
    let expiration = r#"{"type":"Expiration","id":"3d98076abbbc11ed940250ebf67f93bd","sender":"s@sender.example","recipient":"c@yahoo.com","queue":"yahoo.com","site":"","size":10,"response":{"code":551,"enhanced_code":{"class":5,"subject":4,"detail":7},"content":"Next delivery time would exceed the expiry time","command":null},"timestamp":1781470000,"created":1781460000}"#;
    let other = r#"{"type":"AdminBounce","id":"4d98076abbbc11ed940250ebf67f93bd","recipient":"d@yahoo.com","timestamp":1781470001}"#;
    let text = [
        reception,
        delivery,
        expiration,
        other,
        "{not json",
        r#"{"type":"Delivery","recipient":"x@y.example","timestamp":1}"#,
    ]
    .join("\n");
    let (seen, reader) = read_with(&[&text], options(None));
    let kinds: Vec<(Kind, &str, Option<u32>)> = seen
        .iter()
        .map(|s| (s.kind, s.recipient.as_str(), s.recipient_key))
        .collect();
    assert_eq!(
        kinds,
        [
            (Kind::Arrival, "a@yahoo.com", None),
            (Kind::Delivered, "a@yahoo.com", Some(0)),
            (Kind::Delivered, "b@yahoo.com", Some(1)),
            (Kind::Expired, "c@yahoo.com", Some(2)),
        ]
    );
    assert_eq!(
        (seen[0].recipients, seen[0].domain.as_str()),
        (2, "yahoo.com")
    );
    assert_eq!(seen[1].destination, "yahoo");
    assert_eq!(seen[1].ip.as_deref(), Some("67.195.204.72"));
    assert_eq!(seen[1].queue, seen[2].queue);
    assert_eq!(
        (seen[3].class, seen[3].destination.as_str()),
        (None, "yahoo")
    );
    assert_eq!(seen[3].age, Some(10_000_000));
    let stats = reader.stats();
    assert_eq!(
        (stats.read, stats.parsed, stats.skipped, stats.malformed),
        (6, 3, 1, 2)
    );
    assert_eq!(stats.skipped_by_kind(), [("KumoMTA AdminBounce", 1)]);
    assert_eq!(
        stats.malformed_by_reason(),
        [("not a JSON log record", 1), ("missing message id", 1)]
    );
    assert_eq!(
        reader.in_flight(),
        0,
        "finished recipients end their message"
    );
}

// ---- PowerMTA -------------------------------------------------------------------------

#[test]
fn pmta_records_by_header() {
    let text = concat!(
        "type,timeLogged,timeQueued,orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,srcType,srcMta,dlvType,dlvSourceIp,dlvDestinationIp,dlvEsmtpAvailable,dlvSize,vmta,jobId,envId\n",
        "d,2024-01-02 03:04:05+0000,2024-01-02 03:04:00+0000,news@sender.example,a@gmail.com,,relayed,2.0.0 (success),smtp;250 2.0.0 OK  1704164645 x1si - gsmtp,gmail-smtp-in.l.google.com (142.250.102.27),,smtp,sender.example,smtp,203.0.113.7,142.250.102.27,\"PIPELINING,8BITMIME\",1834,vmta1,job42,env1\n",
        "t,2024-01-02 03:05:05+0000,2024-01-02 03:04:00+0000,news@sender.example,b@yahoo.com,,delayed,4.7.0 (other or undefined security status),\"smtp;421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred\",mta5.am0.yahoodns.net (67.195.204.72),policy-related,smtp,sender.example,smtp,203.0.113.7,67.195.204.72,\"PIPELINING,8BITMIME\",1834,vmta1,job42,env2\n",
        "t,2024-01-02 03:05:06+0000,2024-01-02 03:04:00+0000,news@sender.example,c@orange.fr,,delayed,4.7.0 (other or undefined security status),smtp;421 4.7.0 Trop de connexions,smtp-in.orange.fr (193.252.22.65),,smtp,sender.example,smtp,203.0.113.7,193.252.22.65,,1834,vmta1,job42,env3\n",
        "t,2024-01-02 03:05:07+0000,2024-01-02 03:04:00+0000,news@sender.example,d@bigcorp.example,,delayed,4.4.1 (no answer from host),smtp;421 4.4.1 connect to mx.bigcorp.example: Connection refused,mx.bigcorp.example (192.0.2.9),,smtp,sender.example,smtp,203.0.113.7,192.0.2.9,,1834,vmta1,job42,env4\n",
        "r,2024-01-02 03:04:00+0000,,news@sender.example,e@x.example\n",
        "type,rcpt,timeLogged,dsnStatus,dsnDiag,dsnMta,bounceCat,extraColumn\n",
        "b,nobody@gmail.com,2024-01-02 03:06:00+0000,5.1.1 (bad destination mailbox address),smtp;550 5.1.1 The email account does not exist,gmail-smtp-in.l.google.com (142.250.102.27),bad-mailbox,whatever\n",
        "b,late@yahoo.com,2024-01-06 03:06:00+0000,4.4.7 (delivery time expired),smtp;421 4.7.0 [TSS04] deferred,mta5.am0.yahoodns.net (67.195.204.72),message-expired,x\n",
        "d,x@y.example,yesterday,2.0.0,smtp;250 ok,mx.y.example (192.0.2.1),,x\n",
    );
    let (seen, reader) = read_with(&[text], options(None));
    assert_eq!(reader.files()[0].format, MtaKind::Pmta);
    let got: Vec<(Kind, &str, Option<OutcomeClass>, bool, &str)> = seen
        .iter()
        .map(|s| {
            (
                s.kind,
                s.recipient.as_str(),
                s.class,
                s.handshake,
                s.destination.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Kind::Delivered,
                "a@gmail.com",
                Some(OutcomeClass::Delivered),
                false,
                "gmail"
            ),
            (
                Kind::Deferred,
                "b@yahoo.com",
                Some(OutcomeClass::Tempfail),
                false,
                "yahoo"
            ),
            (
                Kind::Deferred,
                "c@orange.fr",
                Some(OutcomeClass::Tempfail),
                true,
                "orange"
            ),
            (
                Kind::Deferred,
                "d@bigcorp.example",
                Some(OutcomeClass::Connect),
                true,
                "bigcorp"
            ),
            (
                Kind::Bounced,
                "nobody@gmail.com",
                Some(OutcomeClass::Permfail),
                false,
                "gmail"
            ),
            (Kind::Expired, "late@yahoo.com", None, false, "yahoo"),
        ]
    );
    assert_eq!(seen[0].time, "2024-01-02T03:04:05.000Z");
    assert_eq!(seen[0].age, Some(5000));
    assert_eq!(seen[0].reply, "250 2.0.0 OK  1704164645 x1si - gsmtp");
    assert_eq!(
        (seen[1].code, seen[1].enhanced.as_deref()),
        (Some(421), Some("4.7.0"))
    );
    assert_eq!(seen[1].ip.as_deref(), Some("67.195.204.72"));
    assert_eq!(seen[4].enhanced.as_deref(), Some("5.1.1"));
    match seen[1].extra {
        Extra::Pmta(p) => {
            assert_eq!(reader.text(p.vmta), "vmta1");
            assert_eq!(reader.text(p.bounce_category), "policy-related");
        }
        other => panic!("{other:?}"),
    }
    let stats = reader.stats();
    assert_eq!(
        (stats.read, stats.parsed, stats.skipped, stats.malformed),
        (10, 6, 3, 1)
    );
    assert_eq!(
        stats.skipped_by_kind(),
        [("PowerMTA header row", 2), ("PowerMTA r record", 1)]
    );
    assert_eq!(stats.first_malformed[0].line, 10);
    assert_eq!(
        reader.in_flight(),
        3,
        "the three deferred recipients are still queued"
    );
}

#[test]
fn an_empty_rotated_file_is_no_error() {
    let line = "Jun 14 10:00:00 mail postfix/smtp[1]: 1A1A1A1A1A: to=<a@x.example>, relay=mx.x.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n";
    let (seen, reader) = read_with(
        &["", line, "\n\n"],
        ReadOptions {
            year: Some(2026),
            ..ReadOptions::default()
        },
    );
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].file, 1);
    assert_eq!(reader.stats().read, 3);
}
