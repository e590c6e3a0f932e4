//! The built-in catalogue: what large providers really answer, and what an MTA logs for
//! its own failures, by name, so scenarios can say `"yahoo-tss04"` instead of copying a
//! reply line.

use serde::Serialize;

use super::Reply;

/// One built-in reply: its name, code and the text the provider really sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CatalogueEntry {
    pub name: &'static str,
    pub code: u16,
    pub enhanced: Option<&'static str>,
    pub text: &'static str,
    /// What the provider means by it.
    pub meaning: &'static str,
}

impl CatalogueEntry {
    pub(super) fn reply(&self) -> Reply {
        Reply {
            code: self.code,
            enhanced: self.enhanced.map(str::to_string),
            text: self.text.to_string(),
            name: Some(self.name),
        }
    }
}

/// The built-in catalogue, for `mtasim replies`.
pub fn catalogue() -> &'static [CatalogueEntry] {
    CATALOGUE
}

/// The catalogue entry called `name`.
pub fn find(name: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|entry| entry.name == name)
}

/// Texts follow the providers' published or widely logged replies (see the reference notes,
/// section 5); the sending IP is the documentation address 203.0.113.7.
const CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        name: "accepted",
        code: 250,
        enhanced: Some("2.0.0"),
        text: "250 2.0.0 OK: queued",
        meaning: "the message was accepted",
    },
    CatalogueEntry {
        name: "gmail-4.7.28",
        code: 421,
        enhanced: Some("4.7.28"),
        text: "421-4.7.28 [203.0.113.7] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. Please visit https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email Senders Guidelines. - gsmtp",
        meaning: "Gmail: reputation-driven rate limit on the sending IP",
    },
    CatalogueEntry {
        name: "gmail-4.7.0",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421-4.7.0 [203.0.113.7] Our system has detected that this message is suspicious due to the very low reputation of the sending domain. To best protect our users from spam, the message has been blocked. Please visit https://support.google.com/mail/answer/188131 for more information. - gsmtp",
        meaning: "Gmail: low reputation of the sending domain",
    },
    CatalogueEntry {
        name: "gmail-4.2.1",
        code: 450,
        enhanced: Some("4.2.1"),
        text: "450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later point. If the user is able to receive mail at that time, your message will be delivered. For more information, please visit https://support.google.com/mail/?p=ReceivingRate - gsmtp",
        meaning: "Gmail: the recipient receives mail too quickly",
    },
    CatalogueEntry {
        name: "gmail-4.3.0",
        code: 451,
        enhanced: Some("4.3.0"),
        text: "451 4.3.0 Mail server temporarily rejected message. - gsmtp",
        meaning: "Gmail: generic transient failure",
    },
    CatalogueEntry {
        name: "yahoo-ts01",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421 4.7.0 [TS01] Messages from 203.0.113.7 temporarily deferred due to user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        meaning: "Yahoo: deferred for user complaints (reputation)",
    },
    CatalogueEntry {
        name: "yahoo-ts02",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421 4.7.0 [TS02] Messages from 203.0.113.7 temporarily deferred due to unusual traffic patterns from your server. Submit your sending IPs for review - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        meaning: "Yahoo: unusual traffic pattern (rate)",
    },
    CatalogueEntry {
        name: "yahoo-ts03",
        code: 421,
        enhanced: Some("4.7.1"),
        text: "421 4.7.1 [TS03] All messages from 203.0.113.7 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
        meaning: "Yahoo: volume characteristic of bulk; do not retry until practices change",
    },
    CatalogueEntry {
        name: "yahoo-tss04",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        meaning: "Yahoo: unexpected volume or complaints per IP; pause the IP for about 2 h",
    },
    CatalogueEntry {
        name: "yahoo-max-per-connection",
        code: 421,
        enhanced: None,
        text: "421 Max message per connection reached, closing transmission channel",
        meaning: "Yahoo: per-connection message limit; reconnect to continue",
    },
    CatalogueEntry {
        name: "microsoft-4.7.650",
        code: 451,
        enhanced: Some("4.7.650"),
        text: "451 4.7.650 The mail server [203.0.113.7] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://aka.ms/postmaster (S775)",
        meaning: "Microsoft: reputation-driven rate limit",
    },
    CatalogueEntry {
        name: "microsoft-rp-001",
        code: 421,
        enhanced: None,
        text: "421 RP-001 Unfortunately, some messages from 203.0.113.7 weren't sent. Please try again. We have limits for how many messages can be sent per hour and per day. You can also refer to https://aka.ms/postmaster",
        meaning: "Microsoft: hourly or daily volume limit (IP/domain reputation)",
    },
    CatalogueEntry {
        name: "microsoft-s3150",
        code: 550,
        enhanced: Some("5.7.1"),
        text: "550 5.7.1 Unfortunately, messages from [203.0.113.7] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to https://aka.ms/postmaster",
        meaning: "Microsoft: blocked; what a sender gets for not slowing down after 4xx",
    },
    CatalogueEntry {
        name: "greylist",
        code: 451,
        enhanced: Some("4.7.1"),
        text: "451 4.7.1 Greylisted, please try again later",
        meaning: "greylisting: the first attempt of a message is deferred",
    },
    CatalogueEntry {
        name: "user-unknown",
        code: 550,
        enhanced: Some("5.1.1"),
        text: "550 5.1.1 Recipient address rejected: User unknown",
        meaning: "the recipient does not exist (hard bounce)",
    },
    CatalogueEntry {
        name: "generic-421",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421 4.7.0 Too many connections, try again later",
        meaning: "connection limit reached",
    },
    CatalogueEntry {
        name: "generic-451",
        code: 451,
        enhanced: Some("4.3.0"),
        text: "451 4.3.0 Temporary failure, server busy, try again later",
        meaning: "generic transient failure",
    },
    CatalogueEntry {
        name: "generic-rate-limit",
        code: 450,
        enhanced: Some("4.7.1"),
        text: "450 4.7.1 Rate limit exceeded, try again later",
        meaning: "generic rate limit",
    },
    CatalogueEntry {
        name: "generic-throttle",
        code: 421,
        enhanced: Some("4.7.0"),
        text: "421 4.7.0 Temporarily deferred due to sender reputation, try again later",
        meaning: "generic reputation throttling",
    },
    CatalogueEntry {
        name: "generic-block",
        code: 554,
        enhanced: Some("5.7.1"),
        text: "554 5.7.1 Service unavailable; client host [203.0.113.7] blocked due to poor reputation",
        meaning: "generic reputation block",
    },
    CatalogueEntry {
        name: "mta-internal-error",
        code: 451,
        enhanced: Some("4.3.0"),
        text: "451 4.3.0 Internal error: temporary local problem, try again later",
        meaning: "the sending MTA's own failure (DNS, local resources), before any connection",
    },
    CatalogueEntry {
        name: "connection-refused",
        code: 421,
        enhanced: Some("4.4.1"),
        text: "connect to mx.example[203.0.113.9]:25: Connection refused",
        meaning: "TCP connection refused (what the MTA logs)",
    },
    CatalogueEntry {
        name: "connection-timeout",
        code: 421,
        enhanced: Some("4.4.1"),
        text: "connect to mx.example[203.0.113.9]:25: Connection timed out",
        meaning: "TCP connection not answered within the connect timeout (what the MTA logs)",
    },
    CatalogueEntry {
        name: "greeting-timeout",
        code: 421,
        enhanced: Some("4.4.2"),
        text: "conversation with mx.example[203.0.113.9] timed out while receiving the initial server greeting",
        meaning: "connected, but no greeting within the greeting timeout (what the MTA logs)",
    },
];
