//! PowerMTA's `<domain>` directives as its directive reference lists them (PowerMTA is
//! closed source; the names and defaults are those of the user guide's domain directives,
//! as transcribed in boheyse/PMTA_Manager_FrontEnd `src/config/recipientDomainSettings.ts`,
//! and of widely circulated commented configurations). A directive outside this table in a
//! `<domain>` block is a typo (an error); one in it that mtasim does not read is reported
//! with the reason `not_modelled` gives.

use crate::mta_config::settings::{Setting, setting};
use crate::mta_config::units::{DAY, HOUR, MINUTE, Millis};

/// `never` for `backoff-to-normal-after` and `reenable-source-ip-after`: ten years, longer
/// than any simulation.
pub const NEVER: Millis = 3650 * DAY;

/// PowerMTA's defaults for what mtasim reads.
pub(super) const MAX_SMTP_OUT: u32 = 20;
pub(super) const BACKOFF_MAX_SMTP_OUT: u32 = 20;
pub(super) const RETRY_AFTER: Millis = 10 * MINUTE;
pub(super) const BACKOFF_RETRY_AFTER: Millis = HOUR;
pub(super) const BOUNCE_AFTER: Millis = 4 * DAY + 12 * HOUR;
pub(super) const CONNECT_TIMEOUT: Millis = 2 * MINUTE;
pub(super) const GREETING_TIMEOUT: Millis = 5 * MINUTE;

/// Directives that configure the whole MTA in mtasim: only `<domain *>`'s are imported.
pub(super) const MTA_WIDE: &[&str] = &[
    "max-msg-per-connection",
    "retry-after",
    "bounce-after",
    "connect-timeout",
    "smtp-greeting-timeout",
];

/// The directives mtasim reads into a destination's flow control.
pub(super) const READ: &[&str] = &[
    "max-smtp-out",
    "max-msg-rate",
    "backoff-max-smtp-out",
    "backoff-max-msg-rate",
    "backoff-retry-after",
    "backoff-to-normal-after",
    "backoff-to-normal-after-delivery",
    "smtp-pattern-list",
    "reenable-source-ip-after",
    "queue-to",
];

/// Every `<domain>` directive.
pub(super) const DOMAIN: &[Setting] = &[
    setting(
        "max-smtp-out",
        "20",
        "simultaneous connections of the queue",
    ),
    setting("backoff-max-smtp-out", "20", "the same in backoff mode"),
    setting(
        "max-msg-rate",
        "unlimited",
        "attempted recipients per period",
    ),
    setting(
        "backoff-max-msg-rate",
        "max-msg-rate",
        "the same in backoff mode (attempts count too)",
    ),
    setting("max-msg-per-hour", "", "older form of max-msg-rate"),
    setting(
        "backoff-max-msg-per-hour",
        "",
        "older form of backoff-max-msg-rate",
    ),
    setting(
        "max-connect-rate",
        "unlimited",
        "connections opened per period",
    ),
    setting(
        "backoff-max-connect-rate",
        "max-connect-rate",
        "the same in backoff mode",
    ),
    setting("max-data-volume-rate", "unlimited", "bytes sent per period"),
    setting(
        "backoff-max-data-volume-rate",
        "max-data-volume-rate",
        "the same in backoff mode",
    ),
    setting(
        "source-ip-max-msg-rate",
        "unlimited",
        "attempted recipients per period per source IP",
    ),
    setting(
        "source-ip-max-smtp-out",
        "unlimited",
        "connections per source IP",
    ),
    setting(
        "source-ip-max-connect-rate",
        "unlimited",
        "connections opened per period per source IP",
    ),
    setting(
        "source-ip-max-data-volume-rate",
        "unlimited",
        "bytes per period per source IP",
    ),
    setting(
        "max-smtp-out-per-source-ip",
        "",
        "older form of source-ip-max-smtp-out",
    ),
    setting(
        "max-msg-per-connection",
        "0",
        "messages per connection (0: no limit)",
    ),
    setting(
        "max-rcpt-per-transaction",
        "1000",
        "recipients per transaction",
    ),
    setting(
        "max-rcpt-per-message",
        "0",
        "recipients accepted per message",
    ),
    setting(
        "max-errors-per-connection",
        "unlimited",
        "recipient errors before the connection is broken",
    ),
    setting(
        "smtp-out-rampup-interval",
        "0",
        "least time before another connection opens",
    ),
    setting(
        "connection-idle-timeout",
        "0",
        "how long an idle connection waits for new mail",
    ),
    setting(
        "retry-after",
        "10m",
        "retry interval(s) of a queue in retry mode",
    ),
    setting("backoff-retry-after", "1h", "the same in backoff mode"),
    setting(
        "retry-recipients-after",
        "10m",
        "least time before a recipient that got a 4xx is retried",
    ),
    setting(
        "retry-after-dns-error",
        "1m",
        "retry interval after a DNS error",
    ),
    setting(
        "retry-upon-new-mail",
        "false",
        "new mail reschedules a queue in retry mode",
    ),
    setting("bounce-after", "4d12h", "age at which a message bounces"),
    setting("bounce-upon-no-mx", "false", "bounce at once without an MX"),
    setting(
        "bounce-upon-5xx-greeting",
        "true",
        "bounce the queue on a 5xx greeting",
    ),
    setting(
        "bounce-upon-transfer-failure",
        "false",
        "bounce when the transfer of the content fails",
    ),
    setting(
        "bounce-upon-pix-transfer-failure",
        "false",
        "the same behind a Cisco PIX",
    ),
    setting(
        "backoff-notify",
        "",
        "addresses told when a queue enters or leaves backoff",
    ),
    setting(
        "backoff-to-normal-after",
        "never",
        "backoff mode ends after this",
    ),
    setting(
        "backoff-to-normal-after-delivery",
        "false",
        "backoff mode ends at a delivery",
    ),
    setting(
        "backoff-upon-all-sources-disabled",
        "false",
        "backoff when every source IP is disabled",
    ),
    setting(
        "backoff-reroute-to-virtual-mta",
        "",
        "VirtualMTA that takes the queue in backoff",
    ),
    setting(
        "reroute-to-virtual-mta",
        "",
        "VirtualMTA (pool) that takes the mail",
    ),
    setting(
        "reenable-source-ip-after",
        "never",
        "when a disabled source IP comes back",
    ),
    setting(
        "disabled-source-ip-notify",
        "",
        "addresses told when a source IP is disabled",
    ),
    setting(
        "max-cold-virtual-mta-msg",
        "0/d",
        "messages sent through the -cold VirtualMTA",
    ),
    setting(
        "smtp-pattern-list",
        "",
        "the <smtp-pattern-list> applied to replies",
    ),
    setting(
        "smtp-421-means-mx-unavailable",
        "no",
        "a 421 breaks the connection and tries the next MX",
    ),
    setting(
        "smtp-553-means-invalid-mailbox",
        "yes",
        "a bare 553 to RCPT is 5.1.1",
    ),
    setting(
        "replace-smtp-421-service-response",
        "false",
        "hide a 421's text in bounces",
    ),
    setting(
        "smtp-data-termination-timeout",
        "10m",
        "wait for the reply to the final dot",
    ),
    setting(
        "assume-delivery-upon-data-termination-timeout",
        "false",
        "count that timeout as delivered",
    ),
    setting("connect-timeout", "2m", "TCP connect timeout"),
    setting("smtp-greeting-timeout", "5m", "wait for the 220 greeting"),
    setting("data-send-timeout", "3m", "wait to send a chunk of content"),
    setting("smtp-hosts", "", "deliver to these hosts instead of the MX"),
    setting("default-smtp-port", "25", "destination port"),
    setting(
        "route",
        "",
        "relay the domain's mail through another domain",
    ),
    setting(
        "queue-to",
        "",
        "put this domain's mail into another domain's queue",
    ),
    setting(
        "queue-priority",
        "50",
        "priority among queues for connection slots",
    ),
    setting(
        "delivery-priority",
        "",
        "priority of the queue's deliveries",
    ),
    setting(
        "allow-priority-interruption",
        "yes",
        "higher-priority queues may take its connections",
    ),
    setting(
        "allow-priority-interruption-during-transfer",
        "no",
        "even during a transfer",
    ),
    setting(
        "allow-cancel-during-transfer",
        "true",
        "a transfer may be cancelled at shutdown",
    ),
    setting("disable-mx-rollup", "false", "no MX rollup for the domain"),
    setting(
        "type",
        "smtp",
        "delivery type: smtp, pipe, file, discard, http-delivery",
    ),
    setting("use-starttls", "yes", "use STARTTLS when offered"),
    setting("require-starttls", "no", "deliver only over TLS"),
    setting("auth-username", "", "AUTH user"),
    setting("auth-password", "", "AUTH password"),
    setting(
        "use-unencrypted-plain-auth",
        "false",
        "AUTH PLAIN/LOGIN without TLS",
    ),
    setting("ignore-8bitmime", "false", "ignore 8BITMIME"),
    setting("ignore-chunking", "false", "ignore CHUNKING"),
    setting("ignore-pipelining", "false", "ignore PIPELINING"),
    setting("ignore-dsn", "false", "ignore DSN"),
    setting(
        "pix-bug-workaround",
        "true",
        "send the final dot alone behind a Cisco PIX",
    ),
    setting("dsn-format", "standard", "DSN layout"),
    setting(
        "deliver-local-dsn",
        "true",
        "send DSNs for this domain's mail",
    ),
    setting(
        "notify-of-delay-every",
        "4h",
        "how often delay DSNs are considered",
    ),
    setting(
        "bcc-upon-delivery",
        "",
        "BCC delivered mail to this address",
    ),
    setting(
        "disable-acct-records",
        "",
        "accounting record types not written",
    ),
    setting(
        "track-recipient-events",
        "false",
        "keep the last recipient events in memory",
    ),
    setting(
        "max-events-recorded",
        "10",
        "error events kept for pmta show",
    ),
    setting("log-resolution", "false", "log DNS lookups"),
    setting("log-transfer-failures", "false", "log failed transfers"),
    setting("log-disabled-ips", "false", "log disabled source IPs"),
    setting("check-spf-outbound", "false", "SPF-check outbound mail"),
    setting("dkim-sign", "false", "DKIM-sign the mail"),
    setting("dkim-add-body-limit", "false", "add l= to signatures"),
    setting("dkim-add-timestamp", "false", "add t= to signatures"),
    setting("dkim-algorithm", "rsa-sha256", "signing algorithm"),
    setting("dkim-body-canon", "relaxed", "body canonicalisation"),
    setting("dkim-headers-canon", "relaxed", "header canonicalisation"),
    setting("dkim-expire-after", "never", "signature expiry (x=)"),
    setting("dkim-query-method", "", "q= tag"),
    setting("dkim-headers", "", "headers signed"),
    setting("dkim-identity", "sender-or-from", "signing identity"),
    setting(
        "dkim-identity-fallback",
        "",
        "identity when the first has no key",
    ),
    setting(
        "dkim-disallow-adding-headers",
        "",
        "headers signed once more against replay",
    ),
    setting("include", "", "another configuration file"),
];

/// Why mtasim leaves out a real `<domain>` directive it does not read.
pub(super) fn not_modelled(name: &str) -> &'static str {
    match name {
        "max-connect-rate" | "backoff-max-connect-rate" => "mtasim has no connection-rate limit",
        "retry-recipients-after" => {
            "mtasim's backoff.retry_after is the one per-message floor; PowerMTA's per-recipient floor after a 4xx is not modelled"
        }
        "smtp-421-means-mx-unavailable" | "max-errors-per-connection" => {
            "mtasim's sessions deliver until their limit or the first failure"
        }
        "backoff-notify"
        | "backoff-reroute-to-virtual-mta"
        | "backoff-upon-all-sources-disabled" => "mtasim has one source and sends no notifications",
        "connection-idle-timeout" | "smtp-out-rampup-interval" => {
            "mtasim opens and closes sessions by demand and the rate limit"
        }
        _ => "not a delivery flow-control setting mtasim models",
    }
}
