//! KumoMTA's settings as its documentation and code define them (KumoCorp/kumomta
//! `crates/kumo-api-types/src/egress_path.rs` and `shaping.rs`, `crates/rfc5321/src/
//! client_types.rs`, `crates/kumod/src/queue/config.rs`, `assets/policy-extras/queue.lua`):
//! every name a shaping table, a provider table, an automation rule or the queue helper
//! accepts, with its default. A name outside these tables is a typo (an error); a name in
//! them that mtasim does not read is reported with the reason `not_modelled` gives.

use crate::mta_config::settings::{Setting, setting};
use crate::mta_config::units::{DAY, MINUTE, Millis, SECOND};

/// KumoMTA's defaults for what mtasim reads.
pub(super) const CONNECTION_LIMIT: u32 = 32;
pub(super) const MAX_DELIVERIES_PER_CONNECTION: u32 = 1024;
pub(super) const IDLE_TIMEOUT: Millis = 5 * SECOND;
pub(super) const CONNECT_TIMEOUT: Millis = 60 * SECOND;
pub(super) const BANNER_TIMEOUT: Millis = 60 * SECOND;
pub(super) const RETRY_INTERVAL: Millis = 20 * MINUTE;
pub(super) const MAX_AGE: Millis = 7 * DAY;

/// The egress path options a `default`, domain, provider or source table may set.
pub(super) const EGRESS: &[Setting] = &[
    setting(
        "connection_limit",
        "32",
        "concurrent connections per egress path (source x site)",
    ),
    setting(
        "additional_connection_limits",
        "{}",
        "named connection limits shared across paths",
    ),
    setting("enable_tls", "Opportunistic", "STARTTLS policy"),
    setting("enable_mta_sts", "true", "honour MTA-STS policies"),
    setting("enable_dane", "false", "honour DANE TLSA records"),
    setting("enable_pipelining", "true", "use PIPELINING when offered"),
    setting("enable_rset", "true", "RSET between transactions"),
    setting("tls_prefer_openssl", "false", "TLS library choice"),
    setting("tls_certificate", "", "client certificate"),
    setting("tls_private_key", "", "client certificate key"),
    setting("openssl_cipher_list", "", "OpenSSL ciphers"),
    setting("openssl_cipher_suites", "", "OpenSSL TLS 1.3 suites"),
    setting("openssl_options", "", "OpenSSL options"),
    setting("rustls_cipher_suites", "[]", "rustls suites"),
    setting("connect_timeout", "60s", "TCP connect timeout"),
    setting("banner_timeout", "60s", "wait for the 220 greeting"),
    setting("ehlo_timeout", "300s", "EHLO reply timeout"),
    setting("mail_from_timeout", "300s", "MAIL FROM reply timeout"),
    setting("rcpt_to_timeout", "300s", "RCPT TO reply timeout"),
    setting("data_timeout", "300s", "DATA reply timeout"),
    setting("data_dot_timeout", "300s", "final-dot reply timeout"),
    setting("rset_timeout", "5s", "RSET reply timeout"),
    setting(
        "idle_timeout",
        "5s",
        "how long an idle connection waits for more mail",
    ),
    setting("starttls_timeout", "5s", "STARTTLS reply timeout"),
    setting("auth_timeout", "60s", "AUTH reply timeout"),
    setting(
        "system_shutdown_timeout",
        "",
        "grace for sessions at shutdown",
    ),
    setting("max_ready", "1024", "messages held in the ready queue"),
    setting(
        "consecutive_connection_failures_before_delay",
        "100",
        "exhausted host lists before the ready queue is delayed",
    ),
    setting("smtp_port", "25", "destination port"),
    setting("smtp_auth_plain_username", "", "AUTH PLAIN user"),
    setting("smtp_auth_plain_password", "", "AUTH PLAIN password"),
    setting(
        "allow_smtp_auth_plain_without_tls",
        "false",
        "AUTH PLAIN in clear text",
    ),
    setting(
        "allow_smtp_auth_plain_without_valid_certificate",
        "false",
        "AUTH PLAIN with a bad certificate",
    ),
    setting(
        "max_message_rate",
        "",
        "messages per period per path (GCRA throttle)",
    ),
    setting(
        "additional_message_rate_throttles",
        "{}",
        "named message throttles shared across paths",
    ),
    setting(
        "source_selection_rate",
        "",
        "how often this source is picked",
    ),
    setting(
        "additional_source_selection_rates",
        "{}",
        "named source selection throttles",
    ),
    setting("max_connection_rate", "", "new connections per period"),
    setting(
        "max_deliveries_per_connection",
        "1024",
        "messages per connection",
    ),
    setting(
        "max_recipients_per_batch",
        "100",
        "recipients per transaction",
    ),
    setting(
        "prohibited_hosts",
        "loopback and private ranges",
        "hosts never connected to",
    ),
    setting("skip_hosts", "[]", "MX hosts passed over"),
    setting(
        "ip_lookup_strategy",
        "Ipv4AndIpv6",
        "address families looked up",
    ),
    setting("ehlo_domain", "", "name said in EHLO"),
    setting(
        "aggressive_connection_opening",
        "false",
        "open connections ahead of demand",
    ),
    setting(
        "refresh_interval",
        "60s",
        "how often the path's configuration is re-evaluated",
    ),
    setting(
        "refresh_strategy",
        "Ttl",
        "how a configuration change is noticed",
    ),
    setting(
        "dispatcher_wakeup_strategy",
        "Aggressive",
        "dispatcher scheduling",
    ),
    setting(
        "maintainer_wakeup_strategy",
        "Aggressive",
        "maintainer scheduling",
    ),
    setting("provider_name", "", "provider the path reports under"),
    setting(
        "remember_broken_tls",
        "",
        "how long a failed TLS handshake is remembered",
    ),
    setting(
        "opportunistic_tls_reconnect_on_failed_handshake",
        "false",
        "retry in clear text after a TLS failure",
    ),
    setting("use_lmtp", "false", "speak LMTP"),
    setting(
        "reconnect_strategy",
        "ConnectNextHost",
        "what a 421 or I/O error mid-session does",
    ),
    setting("readyq_pool_name", "", "thread pool of the ready queue"),
    setting(
        "low_memory_reduction_policy",
        "ShrinkDataAndMeta",
        "memory policy under pressure",
    ),
    setting(
        "no_memory_reduction_policy",
        "ShrinkDataAndMeta",
        "memory policy when out of memory",
    ),
    setting(
        "try_next_host_on_transport_error",
        "false",
        "next MX host after a transport error",
    ),
    setting(
        "dispatcher_progress_watchdog_timeout",
        "",
        "dispatcher stall detection",
    ),
];

/// The keys of a shaping table that are not egress options.
pub(super) const TABLE: &[Setting] = &[
    setting(
        "mx_rollup",
        "true",
        "apply the table to the domain's MX site, not the domain alone",
    ),
    setting(
        "replace_base",
        "false",
        "discard what earlier files said for this table",
    ),
    setting("automation", "[]", "traffic shaping automation rules"),
    setting("sources", "{}", "per egress source overrides"),
];

/// The keys of a `[provider."name"]` table besides the egress options.
pub(super) const PROVIDER: &[Setting] = &[
    setting(
        "match",
        "[]",
        "MXSuffix, DomainSuffix or HostName rules naming its sites",
    ),
    setting(
        "provider_connection_limit",
        "",
        "connections shared by every site it matches",
    ),
    setting(
        "provider_max_message_rate",
        "",
        "message rate shared by every site it matches",
    ),
    setting(
        "replace_base",
        "false",
        "discard what earlier files said for this provider",
    ),
    setting("automation", "[]", "traffic shaping automation rules"),
    setting("sources", "{}", "per egress source overrides"),
];

/// The fields of an automation rule.
pub(super) const RULE: &[Setting] = &[
    setting(
        "regex",
        "",
        "pattern(s) matched against the one-line response",
    ),
    setting("action", "", "Suspend, SetConfig, Bounce, ... or a list"),
    setting(
        "trigger",
        "Immediate",
        "Immediate or {Threshold=\"N/period\"}",
    ),
    setting(
        "duration",
        "",
        "how long the action lasts after the last match",
    ),
    setting(
        "match_internal",
        "false",
        "also match KumoMTA's own internal responses",
    ),
];

/// The queue helper's `[queue.<name>]` options (`QueueConfig`).
pub(super) const QUEUE: &[Setting] = &[
    setting(
        "retry_interval",
        "20m",
        "first retry delay, doubling per attempt",
    ),
    setting("max_retry_interval", "", "cap on the retry delay"),
    setting("max_age", "7d", "age at which a message expires"),
    setting("egress_pool", "", "egress pool of the queue"),
    setting("max_message_rate", "", "scheduled-to-ready promotion rate"),
    setting("protocol", "Smtp", "how the queue delivers"),
    setting("reap_interval", "10m", "how long an empty queue lingers"),
    setting(
        "refresh_interval",
        "1m",
        "how often the queue's configuration is re-evaluated",
    ),
    setting("timerwheel_tick_interval", "", "timer resolution"),
    setting("strategy", "TimerWheel", "scheduled-queue data structure"),
    setting(
        "refresh_strategy",
        "Ttl",
        "how a configuration change is noticed",
    ),
    setting("provider_name", "", "provider the queue reports under"),
    setting("shrink_policy", "[]", "memory reduction steps"),
];

/// The queue helper's top-level keys: a file with any of them is a `queue.toml`.
pub(super) const QUEUE_KEYS: &[&str] = &[
    "queue",
    "tenant",
    "scheduling_header",
    "tenant_header",
    "remove_tenant_header",
    "campaign_header",
    "remove_campaign_header",
    "default_tenant",
];

/// Why mtasim leaves out a real egress option it does not read.
pub(super) fn not_modelled(name: &str) -> &'static str {
    match name {
        "max_connection_rate" => "mtasim has no connection-rate limit",
        "consecutive_connection_failures_before_delay" => {
            "mtasim's dead-destination detection counts failed pseudo-cohorts (Postfix's); KumoMTA's delay of the ready queue after N exhausted host lists is not modelled"
        }
        _ => "not a delivery flow-control setting mtasim models",
    }
}

/// Every name an egress table accepts: the egress options and the table keys.
pub(super) fn table_names() -> impl Iterator<Item = &'static str> {
    EGRESS.iter().chain(TABLE).map(|s| s.name)
}

/// Every name a provider table accepts.
pub(super) fn provider_names() -> impl Iterator<Item = &'static str> {
    EGRESS.iter().chain(PROVIDER).map(|s| s.name)
}
