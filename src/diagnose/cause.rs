//! Why a destination went into backoff: the provider replies the catalogue knows (with what
//! to do about them), and otherwise the pattern of the episode's failures.
//!
//! In order, the first that applies:
//! 1. the episode's most frequent reply contains the signature of a known provider reply
//!    ([`KNOWN`]: Yahoo TSS04/TS01/TS02/TS03, Gmail 4.7.28/4.7.0/4.2.1, Microsoft
//!    4.7.650/RP-001/S3150, greylisting): that reply's cause and advice;
//! 2. more than half of the failures other than bounces (5xx but blocks) are of one kind:
//!    connect failures and timeouts at connect -> outage; the MTA's own errors (DNS, local
//!    resources, `KumoMTA internal`) -> mta; rejects at the greeting -> connection limit;
//!    5xx 5.7.x -> block;
//! 3. words of the most frequent reply, in this order: greylist -> greylisting; "too many
//!    connections", "connection limit" -> connection limit; "reputation", "spam",
//!    "complaint" -> reputation; "rate", "too fast", "too many messages", "too much mail"
//!    -> rate limit; "block", "deferred", "throttl" -> reputation;
//! 4. else unknown.

use serde::Serialize;

use crate::flow_control::OutcomeClass;
use crate::replies;

/// The cause of a backoff episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The receiver throttles this sender for its reputation (volume, complaints, content).
    Reputation,
    /// The receiver limits the message rate.
    RateLimit,
    /// The receiver limits concurrent connections.
    ConnectionLimit,
    /// The receiver could not be reached (refused, timed out).
    Outage,
    /// First attempts deferred on purpose.
    Greylisting,
    /// The receiver rejects this sender permanently.
    Block,
    /// The sending MTA's own errors, before or outside any receiver's answer.
    Mta,
    Unknown,
}

impl Cause {
    pub const ALL: [Cause; 8] = [
        Cause::Reputation,
        Cause::RateLimit,
        Cause::ConnectionLimit,
        Cause::Outage,
        Cause::Greylisting,
        Cause::Block,
        Cause::Mta,
        Cause::Unknown,
    ];

    /// The cause as the terminal and the report say it.
    pub fn describe(self) -> &'static str {
        match self {
            Cause::Reputation => "reputation/throttling",
            Cause::RateLimit => "rate limit",
            Cause::ConnectionLimit => "connection limit",
            Cause::Outage => "outage (connect failures)",
            Cause::Greylisting => "greylisting",
            Cause::Block => "block",
            Cause::Mta => "the MTA's own errors",
            Cause::Unknown => "unknown",
        }
    }
}

/// A provider reply recognised in a log: its catalogue entry, the text that identifies it,
/// its cause and what to do.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// The [`catalogue`] entry's name.
    pub name: &'static str,
    /// A substring that identifies the reply (case-sensitive).
    pub signature: &'static str,
    pub cause: Cause,
    pub advice: &'static str,
}

/// The provider replies the diagnosis recognises (advice from the providers' postmaster
/// pages and the reference notes, section 5).
pub const KNOWN: &[Known] = &[
    Known {
        name: "yahoo-tss04",
        signature: "[TSS04]",
        cause: Cause::Reputation,
        advice: "Yahoo asks to stop sending from this IP for about 2 hours (unexpected volume or \
                 complaints): suspend the Yahoo queue for 2h instead of retrying, then lower the \
                 volume and check complaint rates.",
    },
    Known {
        name: "yahoo-ts01",
        signature: "[TS01]",
        cause: Cause::Reputation,
        advice: "Yahoo defers for user complaints: review list hygiene and complaint feedback \
                 before sending more.",
    },
    Known {
        name: "yahoo-ts02",
        signature: "[TS02]",
        cause: Cause::RateLimit,
        advice: "Yahoo sees unusual traffic patterns: slow down and submit the sending IPs for \
                 review.",
    },
    Known {
        name: "yahoo-ts03",
        signature: "[TS03]",
        cause: Cause::Reputation,
        advice: "Yahoo will keep deferring this IP: retrying will not succeed until sending \
                 practices change.",
    },
    Known {
        name: "gmail-4.7.28",
        signature: "4.7.28",
        cause: Cause::RateLimit,
        advice: "Gmail rate-limits this IP for unsolicited-looking mail: slow down, check \
                 authentication (SPF, DKIM, DMARC) and the spam rate in Postmaster Tools.",
    },
    Known {
        name: "gmail-4.7.0",
        signature: "very low reputation of the sending domain",
        cause: Cause::Reputation,
        advice: "Gmail distrusts the sending domain: fix the domain's reputation (authentication, \
                 complaints) before raising volume.",
    },
    Known {
        name: "gmail-4.2.1",
        signature: "receiving mail at a rate that prevents",
        cause: Cause::RateLimit,
        advice: "Gmail says these recipients receive mail too quickly: spread messages to the same \
                 recipient over time.",
    },
    Known {
        name: "microsoft-4.7.650",
        signature: "4.7.650",
        cause: Cause::RateLimit,
        advice: "Microsoft rate-limits this IP for its reputation: slow down (connections and \
                 messages per hour), warm the IP up, check SNDS and JMRP.",
    },
    Known {
        name: "microsoft-rp-001",
        signature: "RP-001",
        cause: Cause::RateLimit,
        advice: "Microsoft's hourly or daily volume limit for this IP: spread the volume over the \
                 day.",
    },
    Known {
        name: "microsoft-s3150",
        signature: "S3150",
        cause: Cause::Block,
        advice: "Microsoft blocks this IP, which is what a sender gets for not slowing down after \
                 4xx deferrals: slow down on 4xx and request delisting.",
    },
    Known {
        name: "greylist",
        signature: "reylist",
        cause: Cause::Greylisting,
        advice: "Greylisting defers first attempts on purpose: do not count it as an error (a \
                 flow-control rule with action ignore) and retry after a few minutes.",
    },
];

/// The known reply `text` contains, if any.
pub fn known(text: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| text.contains(k.signature))
}

/// The catalogue's meaning of a known reply.
pub fn meaning(known: &Known) -> &'static str {
    replies::find(known.name).map_or("", |e| e.meaning)
}

/// Failures of an episode by kind, for the pattern rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Failures {
    /// Connections refused or timed out (no greeting).
    pub connect: u64,
    /// The MTA's own errors.
    pub internal: u64,
    /// 4xx/5xx at the greeting.
    pub greeting: u64,
    /// 5xx 5.7.x (a block).
    pub blocked: u64,
    /// 5xx other than blocks (5.1.1 user unknown, policy): counted by flow control, but
    /// no sign of the destination's standing, so no part of the majority.
    pub bounced: u64,
    /// Every other failure (4xx, timeouts later in the session).
    pub other: u64,
}

impl Failures {
    pub fn total(&self) -> u64 {
        self.connect + self.internal + self.greeting + self.blocked + self.bounced + self.other
    }

    /// Counts one failed attempt; `blocked`: a 5.7.x permanent failure.
    pub fn count(&mut self, class: OutcomeClass, handshake: bool, blocked: bool) {
        match (class, handshake) {
            (OutcomeClass::Internal, _) => self.internal += 1,
            (OutcomeClass::Connect, _) | (OutcomeClass::Timeout, true) => self.connect += 1,
            (_, true) => self.greeting += 1,
            (OutcomeClass::Permfail, _) if blocked => self.blocked += 1,
            (OutcomeClass::Permfail, _) => self.bounced += 1,
            _ => self.other += 1,
        }
    }

    fn majority(&self) -> Option<Cause> {
        let half = (self.total() - self.bounced) / 2;
        [
            (self.connect, Cause::Outage),
            (self.internal, Cause::Mta),
            (self.greeting, Cause::ConnectionLimit),
            (self.blocked, Cause::Block),
        ]
        .into_iter()
        .find(|(n, _)| *n > half && *n > 0)
        .map(|(_, cause)| cause)
    }
}

/// The cause of an episode whose most frequent reply is `top_reply`.
pub fn cause_of(top_reply: &str, failures: &Failures) -> (Cause, Option<&'static Known>) {
    if let Some(k) = known(top_reply) {
        return (k.cause, Some(k));
    }
    if let Some(cause) = failures.majority() {
        return (cause, None);
    }
    (by_words(top_reply), None)
}

fn by_words(reply: &str) -> Cause {
    let text = reply.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if any(&["greylist", "graylist"]) {
        Cause::Greylisting
    } else if any(&[
        "too many connections",
        "connection limit",
        "connections from",
    ]) {
        Cause::ConnectionLimit
    } else if any(&["reputation", "spam", "complaint"]) {
        Cause::Reputation
    } else if any(&["rate", "too fast", "too many messages", "too much mail"]) {
        Cause::RateLimit
    } else if any(&["block", "deferred", "throttl"]) {
        Cause::Reputation
    } else {
        Cause::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_reply_is_in_the_catalogue_and_recognised() {
        for k in KNOWN {
            let entry = replies::find(k.name).unwrap_or_else(|| panic!("{}", k.name));
            assert_eq!(known(entry.text).map(|x| x.name), Some(k.name));
            assert!(!meaning(k).is_empty());
        }
    }

    #[test]
    fn causes_by_reply_then_pattern_then_words() {
        let none = Failures::default();
        let tss04 = "421 4.7.0 [TSS04] Messages from <ip> temporarily deferred";
        assert_eq!(cause_of(tss04, &none).0, Cause::Reputation);
        assert_eq!(cause_of("550 5.7.1 ... (S3150)", &none).0, Cause::Block);
        let connect = Failures {
            connect: 8,
            other: 2,
            ..Failures::default()
        };
        assert_eq!(
            cause_of("connect to mx: Connection refused", &connect).0,
            Cause::Outage
        );
        let internal = Failures {
            internal: 6,
            other: 5,
            ..Failures::default()
        };
        assert_eq!(
            cause_of("451 4.3.0 Internal error", &internal).0,
            Cause::Mta
        );
        // 19 of the MTA's own errors among 56 failures, 30 of them unknown-user bounces:
        // the bounces say nothing of the destination, so the MTA's errors are the majority.
        let diluted = Failures {
            internal: 19,
            bounced: 30,
            other: 7,
            ..Failures::default()
        };
        let dns = "Host or domain name not found. Name service error for * type=MX";
        assert_eq!(cause_of(dns, &diluted).0, Cause::Mta);
        assert_eq!(
            cause_of(
                dns,
                &Failures {
                    bounced: 0,
                    other: 37,
                    ..diluted
                }
            )
            .0,
            Cause::Unknown
        );
        let even = Failures {
            internal: 5,
            other: 5,
            ..Failures::default()
        };
        assert_eq!(
            cause_of("421 4.7.0 Too many connections", &even).0,
            Cause::ConnectionLimit
        );
        assert_eq!(
            cause_of("450 4.7.1 Rate limit exceeded", &none).0,
            Cause::RateLimit
        );
        assert_eq!(
            cause_of("421 4.7.0 [RL000010] Comcast block for spam", &none).0,
            Cause::Reputation
        );
        assert_eq!(cause_of("451 4.3.2 try later", &none).0, Cause::Unknown);
    }
}
