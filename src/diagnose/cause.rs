//! Why a destination went into backoff: the provider replies the catalogue knows (with what
//! to do about them), and otherwise the pattern of the episode's failures.
//!
//! In order, the first that applies:
//! 1. the episode's most frequent reply contains the signature of a known provider reply
//!    ([`replies::KNOWN`]: Yahoo TSS04/TS01/TS02/TS03, Gmail 4.7.28/4.7.0/4.2.1, Microsoft
//!    4.7.650/RP-001/S3150, greylisting): that reply's signal and advice;
//! 2. more than half of the failures other than bounces (5xx but blocks) are of one kind:
//!    connect failures and timeouts at connect -> outage; the MTA's own errors (DNS, local
//!    resources, `KumoMTA internal`) -> mta; rejects at the greeting -> connection limit;
//!    5xx 5.7.x -> block;
//! 3. what the words of the most frequent reply say ([`Signal::of_words`]);
//! 4. else unknown.

use serde::Serialize;

use crate::flow_control::OutcomeClass;
use crate::replies::{self, KnownReply, Signal};

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

impl From<Signal> for Cause {
    fn from(signal: Signal) -> Cause {
        match signal {
            Signal::Reputation => Cause::Reputation,
            Signal::RateLimit => Cause::RateLimit,
            Signal::ConnectionLimit => Cause::ConnectionLimit,
            Signal::Greylisting => Cause::Greylisting,
            Signal::Block => Cause::Block,
            Signal::Unknown => Cause::Unknown,
        }
    }
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

    /// What to look at for an episode of this cause when its reply is not a provider
    /// reply with advice of its own.
    pub fn advice(self) -> &'static str {
        match self {
            Cause::Reputation => {
                "The receiver throttles for the sender's reputation: slow down there, and check \
                 complaints, list hygiene and authentication before sending more."
            }
            Cause::RateLimit => {
                "The receiver limits how fast it accepts: keep the destination's rate under that \
                 limit (flow_control.overrides) rather than retrying into it."
            }
            Cause::ConnectionLimit => {
                "The receiver refuses more sessions: lower the destination's concurrency."
            }
            Cause::Outage => {
                "Connections failed: check the receiver's MX and network from the MTA; backoff \
                 only waits the outage out."
            }
            Cause::Greylisting => {
                "Greylisting: a retry after a few minutes passes; nothing to fix."
            }
            Cause::Block => {
                "The receiver blocks this sender (5.7.x): stop sending there and request delisting \
                 through the receiver's postmaster site."
            }
            Cause::Mta => {
                "The MTA's own errors (DNS, resources): look at the MTA itself, not the receivers."
            }
            Cause::Unknown => "Read the top reply: its words say what the receiver wants.",
        }
    }
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

    /// Counts `n` failed attempts alike; `blocked`: a 5.7.x permanent failure.
    pub fn count(&mut self, class: OutcomeClass, handshake: bool, blocked: bool, n: u64) {
        *match (class, handshake) {
            (OutcomeClass::Internal, _) => &mut self.internal,
            (OutcomeClass::Connect, _) | (OutcomeClass::Timeout, true) => &mut self.connect,
            (_, true) => &mut self.greeting,
            (OutcomeClass::Permfail, _) if blocked => &mut self.blocked,
            (OutcomeClass::Permfail, _) => &mut self.bounced,
            _ => &mut self.other,
        } += n;
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
pub fn cause_of(top_reply: &str, failures: &Failures) -> (Cause, Option<&'static KnownReply>) {
    if let Some(k) = replies::known(top_reply) {
        return (k.signal.into(), Some(k));
    }
    if let Some(cause) = failures.majority() {
        return (cause, None);
    }
    (Signal::of_words(top_reply).into(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

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
