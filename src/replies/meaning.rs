//! What a receiver's reply says it is doing to the sender: greylisting, a rate limit, a
//! connection limit, a reputation throttle, a block. Known provider replies are recognised
//! by a signature (Yahoo's `[TSS04]`, Gmail's `4.7.28`, Microsoft's `S3150`), each with what
//! to do about it; any other reply by its words.
//!
//! Every reader of replies asks here: the diagnosis for an episode's cause, calibration for
//! which deferrals a rate limit or greylisting explains. So a reply means the same thing to
//! both.

use serde::Serialize;

use super::catalogue::find;

/// What a reply says the receiver is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
    /// It throttles this sender for its standing (volume, complaints, content).
    Reputation,
    /// It limits the message rate.
    RateLimit,
    /// It limits concurrent connections.
    ConnectionLimit,
    /// It defers first attempts on purpose.
    Greylisting,
    /// It refuses this sender.
    Block,
    /// The reply does not say.
    Unknown,
}

/// A provider reply recognised by its signature, with what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownReply {
    /// The catalogue entry's name (`mtasim replies`).
    pub name: &'static str,
    /// A substring that identifies the reply (case-sensitive).
    pub signature: &'static str,
    pub signal: Signal,
    pub advice: &'static str,
}

impl KnownReply {
    /// The catalogue's meaning of the reply.
    pub fn meaning(&self) -> &'static str {
        find(self.name).map_or("", |e| e.meaning)
    }
}

/// The provider replies recognised by signature (advice from the providers' postmaster
/// pages and the reference notes, section 5).
pub const KNOWN: &[KnownReply] = &[
    KnownReply {
        name: "yahoo-tss04",
        signature: "[TSS04]",
        signal: Signal::Reputation,
        advice: "Yahoo asks to stop sending from this IP for about 2 hours (unexpected volume or \
                 complaints): suspend the Yahoo queue for 2h instead of retrying, then lower the \
                 volume and check complaint rates.",
    },
    KnownReply {
        name: "yahoo-ts01",
        signature: "[TS01]",
        signal: Signal::Reputation,
        advice: "Yahoo defers for user complaints: review list hygiene and complaint feedback \
                 before sending more.",
    },
    KnownReply {
        name: "yahoo-ts02",
        signature: "[TS02]",
        signal: Signal::RateLimit,
        advice: "Yahoo sees unusual traffic patterns: slow down and submit the sending IPs for \
                 review.",
    },
    KnownReply {
        name: "yahoo-ts03",
        signature: "[TS03]",
        signal: Signal::Reputation,
        advice: "Yahoo will keep deferring this IP: retrying will not succeed until sending \
                 practices change.",
    },
    KnownReply {
        name: "gmail-4.7.28",
        signature: "4.7.28",
        signal: Signal::RateLimit,
        advice: "Gmail rate-limits this IP for unsolicited-looking mail: slow down, check \
                 authentication (SPF, DKIM, DMARC) and the spam rate in Postmaster Tools.",
    },
    KnownReply {
        name: "gmail-4.7.0",
        signature: "very low reputation of the sending domain",
        signal: Signal::Reputation,
        advice: "Gmail distrusts the sending domain: fix the domain's reputation (authentication, \
                 complaints) before raising volume.",
    },
    KnownReply {
        name: "gmail-4.2.1",
        signature: "receiving mail at a rate that prevents",
        signal: Signal::RateLimit,
        advice: "Gmail says these recipients receive mail too quickly: spread messages to the same \
                 recipient over time.",
    },
    KnownReply {
        name: "microsoft-4.7.650",
        signature: "4.7.650",
        signal: Signal::RateLimit,
        advice: "Microsoft rate-limits this IP for its reputation: slow down (connections and \
                 messages per hour), warm the IP up, check SNDS and JMRP.",
    },
    KnownReply {
        name: "microsoft-rp-001",
        signature: "RP-001",
        signal: Signal::RateLimit,
        advice: "Microsoft's hourly or daily volume limit for this IP: spread the volume over the \
                 day.",
    },
    KnownReply {
        name: "microsoft-s3150",
        signature: "S3150",
        signal: Signal::Block,
        advice: "Microsoft blocks this IP, which is what a sender gets for not slowing down after \
                 4xx deferrals: slow down on 4xx and request delisting.",
    },
    KnownReply {
        name: "greylist",
        signature: "reylist",
        signal: Signal::Greylisting,
        advice: "Greylisting defers first attempts on purpose: do not count it as an error (a \
                 flow-control rule with action ignore) and retry after a few minutes.",
    },
];

/// The known provider reply `text` contains, if any.
pub fn known(text: &str) -> Option<&'static KnownReply> {
    KNOWN.iter().find(|k| text.contains(k.signature))
}

/// Words (lower case) and what they say, checked in this order: the first group with a
/// word in the reply decides. "rate" alone is not a word here: it is in "generated",
/// "separate" and "corporate".
const WORDS: &[(Signal, &[&str])] = &[
    (Signal::Greylisting, &["greylist", "graylist"]),
    (
        Signal::ConnectionLimit,
        &[
            "too many connections",
            "connection limit",
            "connections from",
        ],
    ),
    (Signal::Reputation, &["reputation", "spam", "complaint"]),
    (
        Signal::RateLimit,
        &[
            "rate limit",
            "ratelimit",
            "rate-limit",
            "rate exceeded",
            "unusual rate",
            "sending rate",
            "message rate",
            "at a rate",
            "too fast",
            "too many messages",
            "too much mail",
        ],
    ),
    (Signal::Reputation, &["block", "deferred", "throttl"]),
];

impl Signal {
    /// What the words of `reply` say, ignoring known provider signatures.
    pub fn of_words(reply: &str) -> Signal {
        let text = reply.to_ascii_lowercase();
        WORDS
            .iter()
            .find(|(_, words)| words.iter().any(|w| text.contains(w)))
            .map_or(Signal::Unknown, |(signal, _)| *signal)
    }

    /// What `reply` says: a known provider reply's signal, else its words.
    pub fn of(reply: &str) -> Signal {
        known(reply).map_or_else(|| Signal::of_words(reply), |k| k.signal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies::catalogue;

    #[test]
    fn every_known_reply_is_in_the_catalogue_and_recognised() {
        for k in KNOWN {
            let entry = find(k.name).unwrap_or_else(|| panic!("{}", k.name));
            assert_eq!(known(entry.text).map(|x| x.name), Some(k.name));
            assert!(!k.meaning().is_empty());
            assert_eq!(Signal::of(entry.text), k.signal);
        }
    }

    #[test]
    fn signals_of_the_catalogue() {
        let of = |name| Signal::of(find(name).unwrap().text);
        assert_eq!(of("yahoo-tss04"), Signal::Reputation);
        assert_eq!(of("yahoo-ts02"), Signal::RateLimit);
        assert_eq!(of("gmail-4.7.28"), Signal::RateLimit);
        assert_eq!(of("microsoft-s3150"), Signal::Block);
        assert_eq!(of("greylist"), Signal::Greylisting);
        assert_eq!(of("generic-rate-limit"), Signal::RateLimit);
        assert_eq!(of("user-unknown"), Signal::Unknown);
        assert!(catalogue().len() > KNOWN.len());
    }

    #[test]
    fn signals_by_words() {
        let w = Signal::of_words;
        assert_eq!(
            w("451 4.7.1 Greylisted, please try again later"),
            Signal::Greylisting
        );
        assert_eq!(
            w("421 4.7.0 Too many connections from your IP"),
            Signal::ConnectionLimit
        );
        assert_eq!(w("450 4.7.1 Rate limit exceeded"), Signal::RateLimit);
        assert_eq!(w("421 Sending rate too high, slow down"), Signal::RateLimit);
        assert_eq!(
            w("421 4.7.0 [RL000010] Comcast block for spam"),
            Signal::Reputation
        );
        assert_eq!(w("451 4.3.2 try later"), Signal::Unknown);
        // "rate" inside another word says nothing.
        assert_eq!(
            w("451 4.3.0 Error: a separate message was generated"),
            Signal::Unknown
        );
    }
}
