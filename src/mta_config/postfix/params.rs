//! Postfix's parameters. [`POSTCONF`] is postconf(5)'s whole list, name and default, one a
//! line (generated from vdukhovni/postfix `proto/postconf.proto`, 958 parameters); the
//! `transport_*` entries there are templates for every master.cf service's own form
//! (`<service>_destination_concurrency_limit`). A main.cf name that is none of these, and
//! that no other value refers to as `$name` (a user-defined macro), is a typo. The consts
//! below are the parameters mtasim reads, with the defaults it falls back to.

use crate::mta_config::settings::nearest;

/// postconf(5): `name<TAB>default` lines.
const POSTCONF: &str = include_str!("postconf.tsv");

/// Every parameter postconf(5) documents, with its default.
pub(super) fn documented() -> impl Iterator<Item = (&'static str, &'static str)> {
    POSTCONF.lines().filter_map(|line| line.split_once('\t'))
}

/// The suffixes of postconf(5)'s per-service templates (`transport_<suffix>`).
fn templates() -> impl Iterator<Item = &'static str> {
    documented()
        .map(|(name, _)| name)
        .filter(|name| !matches!(*name, "transport_maps" | "transport_retry_time"))
        .filter_map(|name| name.strip_prefix("transport_"))
}

/// Whether `name` is a Postfix parameter: documented, or a service's form of a template.
pub(super) fn is_parameter(name: &str) -> bool {
    documented().any(|(n, _)| n == name)
        || templates().any(|suffix| {
            name.len() > suffix.len() + 1
                && name.ends_with(suffix)
                && name.as_bytes()[name.len() - suffix.len() - 1] == b'_'
        })
}

/// The parameter nearest to `name`, for "did you mean": a documented one, or the
/// service's form of a template when `name` starts with a service name.
pub(super) fn nearest_parameter(name: &str) -> Option<String> {
    let service = name.split('_').next().unwrap_or_default();
    let forms: Vec<String> = templates().map(|t| format!("{service}_{t}")).collect();
    let candidates = documented()
        .map(|(n, _)| n)
        .chain(forms.iter().map(String::as_str));
    nearest(name, candidates).map(str::to_string)
}

/// The per-transport queue-manager parameters: suffix after `<transport>`, the global
/// parameter it defaults to, and Postfix's default (mail_params.h).
pub(super) const INITIAL: (&str, &str, &str) = (
    "_initial_destination_concurrency",
    "initial_destination_concurrency",
    "5",
);
pub(super) const LIMIT: (&str, &str, &str) = (
    "_destination_concurrency_limit",
    "default_destination_concurrency_limit",
    "20",
);
pub(super) const POSITIVE: (&str, &str, &str) = (
    "_destination_concurrency_positive_feedback",
    "default_destination_concurrency_positive_feedback",
    "1",
);
pub(super) const NEGATIVE: (&str, &str, &str) = (
    "_destination_concurrency_negative_feedback",
    "default_destination_concurrency_negative_feedback",
    "1",
);
pub(super) const COHORTS: (&str, &str, &str) = (
    "_destination_concurrency_failed_cohort_limit",
    "default_destination_concurrency_failed_cohort_limit",
    "1",
);
pub(super) const RATE_DELAY: (&str, &str, &str) = (
    "_destination_rate_delay",
    "default_destination_rate_delay",
    "0s",
);
pub(super) const RECIPIENTS: (&str, &str, &str) = (
    "_destination_recipient_limit",
    "default_destination_recipient_limit",
    "50",
);
pub(super) const TRANSPORT_DELAY: (&str, &str, &str) = (
    "_transport_rate_delay",
    "default_transport_rate_delay",
    "0s",
);
pub(super) const PER_TRANSPORT: [(&str, &str, &str); 8] = [
    INITIAL,
    LIMIT,
    POSITIVE,
    NEGATIVE,
    COHORTS,
    RATE_DELAY,
    RECIPIENTS,
    TRANSPORT_DELAY,
];

/// Global parameters and their defaults.
pub(super) const GLOBALS: &[(&str, &str)] = &[
    ("minimal_backoff_time", "300s"),
    ("maximal_backoff_time", "4000s"),
    ("maximal_queue_lifetime", "5d"),
    ("bounce_queue_lifetime", "5d"),
    ("queue_run_delay", "300s"),
    ("default_transport", "smtp"),
    ("transport_maps", ""),
    ("default_process_limit", "100"),
    ("smtp_connect_timeout", "30s"),
    ("smtp_helo_timeout", "300s"),
    ("smtp_connection_reuse_count_limit", "0"),
    ("smtp_connection_cache_time_limit", "2s"),
    ("transport_retry_time", "60s"),
];

/// Delivery-agent (smtp client) parameters a `-o` may set for one transport.
pub(super) const CLIENT_PARAMS: &[&str] = &[
    "smtp_connect_timeout",
    "smtp_helo_timeout",
    "smtp_connection_reuse_count_limit",
    "smtp_connection_cache_time_limit",
];
