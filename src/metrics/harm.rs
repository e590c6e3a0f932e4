//! What went wrong in a run, worst first: the verdict and the lines every summary and
//! report leads with. Harm is ranked by messages the sending lost (blocked, rejected,
//! bounced by a rule, expired), then messages still queued at the end, blocks, time
//! suspended and in backoff, then bounces for recipients that do not exist, and deferrals.
//! Unknown users come late because they are the list's, not the sender's conduct or
//! standing, and every destination has its share: ranked first, they buried the three
//! destinations in backoff of `reputation-few-domains` under ten that only had them.

use std::cmp::Reverse;

use super::{DestinationSummary, Summary};
use crate::replies::BounceReason;
use crate::units::human_seconds;

/// A destination's harm as one comparable key: larger is worse.
pub fn key(d: &DestinationSummary) -> (u64, u64, u64, u64, u64, u64) {
    let stalled = d.time_in_state_s.suspended + d.time_in_state_s.backoff;
    let unknown = unknown_users(d);
    (
        d.bounced - unknown + d.expired,
        d.queued,
        d.blocks,
        stalled.max(0.0).round() as u64,
        unknown,
        d.deferrals,
    )
}

/// Bounces for recipients that do not exist (550 5.1.1).
fn unknown_users(d: &DestinationSummary) -> u64 {
    let name = BounceReason::UserUnknown.name();
    d.bounces_by_reason
        .get(name)
        .copied()
        .unwrap_or(0)
        .min(d.bounced)
}

/// Whether anything went wrong at `d`: a message lost or left queued, a block, backoff or
/// suspension.
pub fn is_harmed(d: &DestinationSummary) -> bool {
    let (lost, queued, blocks, stalled, unknown, _) = key(d);
    lost + queued + blocks + stalled + unknown + d.backoff_entries + d.suspensions > 0
}

/// The destinations listed one by one that had any harm, worst first (ties by name).
pub fn ranked(summary: &Summary) -> Vec<(&str, &DestinationSummary)> {
    let mut harmed: Vec<(&str, &DestinationSummary)> = summary
        .destinations
        .iter()
        .filter(|(_, d)| is_harmed(d))
        .map(|(name, d)| (name.as_str(), d))
        .collect();
    harmed.sort_by_key(|(name, d)| (Reverse(key(d)), *name));
    harmed
}

/// Every destination listed one by one, worst first, then the unharmed by name.
pub fn ordered(summary: &Summary) -> Vec<&str> {
    let mut names: Vec<&str> = ranked(summary).into_iter().map(|(n, _)| n).collect();
    names.extend(
        summary
            .destinations
            .iter()
            .filter(|(_, d)| !is_harmed(d))
            .map(|(n, _)| n.as_str()),
    );
    names
}

/// "1 message", "2 messages".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn percent(n: u64, of: u64) -> String {
    if of == 0 {
        return "0%".into();
    }
    let p = 100.0 * n as f64 / of as f64;
    if p > 0.0 && p < 0.1 {
        "<0.1%".into()
    } else {
        format!("{p:.1}%")
    }
}

/// "blocked 59563, user_unknown 12": bounces by reason, most first.
pub fn reasons(d: &DestinationSummary) -> String {
    let mut by: Vec<(&String, &u64)> = d.bounces_by_reason.iter().collect();
    by.sort_by_key(|(reason, n)| (Reverse(**n), *reason));
    by.iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What went wrong at `d`, its non-zero parts only: "59563 lost (59563 bounced: blocked
/// 59563), blocked 1 time, 2h in backoff".
pub fn describe(d: &DestinationSummary) -> String {
    let mut parts = Vec::new();
    let lost = d.bounced + d.expired;
    if lost > 0 {
        let mut how = Vec::new();
        if d.bounced > 0 {
            how.push(format!("{} bounced: {}", d.bounced, reasons(d)));
        }
        if d.expired > 0 {
            how.push(format!("{} expired", d.expired));
        }
        parts.push(format!("{lost} lost ({})", how.join("; ")));
    }
    if d.queued > 0 {
        parts.push(format!("{} still queued", d.queued));
    }
    if d.blocks > 0 {
        parts.push(format!("blocked {}", plural(d.blocks, "time", "times")));
    }
    let t = &d.time_in_state_s;
    if t.suspended > 0.0 || d.suspensions > 0 {
        parts.push(format!(
            "{} suspended ({})",
            human_seconds(t.suspended),
            plural(d.suspensions, "suspension", "suspensions")
        ));
    }
    if t.backoff > 0.0 || d.backoff_entries > 0 {
        parts.push(format!(
            "{} in backoff ({})",
            human_seconds(t.backoff),
            plural(d.backoff_entries, "entry", "entries")
        ));
    }
    if let Some(r) = d.reputation.filter(|_| d.blocks > 0) {
        parts.push(format!("reputation down to {:.2}", r.min));
    }
    parts.join(", ")
}

/// The worst destination in the verdict: its losses and whether it was blocked or held.
fn brief(d: &DestinationSummary) -> String {
    let mut parts = vec![format!("{} lost", d.bounced + d.expired)];
    if d.queued > 0 {
        parts.push(format!("{} still queued", d.queued));
    }
    if d.blocks > 0 {
        parts.push(format!("blocked {}", plural(d.blocks, "time", "times")));
    }
    let held = d.time_in_state_s.suspended + d.time_in_state_s.backoff;
    if held > 0.0 {
        parts.push(format!("{} in backoff or suspended", human_seconds(held)));
    }
    parts.join(", ")
}

/// The one-line verdict: how many messages were lost and why, or that none was.
pub fn verdict(summary: &Summary) -> String {
    let t = &summary.totals;
    let lost = t.bounced + t.expired;
    let worst = ranked(summary).into_iter().next();
    let stalled: Vec<&str> = summary
        .destinations
        .iter()
        .filter(|(_, d)| d.backoff_entries + d.suspensions > 0)
        .map(|(n, _)| n.as_str())
        .collect();
    if lost == 0 && t.queued == 0 {
        let messages = plural(t.injected, "message", "messages");
        return match stalled.len() {
            0 => format!("All {messages} delivered; no destination entered backoff."),
            n => format!(
                "All {messages} delivered; flow control held back {} ({}).",
                plural(n as u64, "destination", "destinations"),
                stalled.join(", ")
            ),
        };
    }
    let mut text = if lost > 0 {
        let mut how = Vec::new();
        if t.bounced > 0 {
            how.push(format!("{} bounced ({})", t.bounced, reasons(t)));
        }
        if t.expired > 0 {
            how.push(format!("{} expired", t.expired));
        }
        format!(
            "{lost} of {} lost ({}): {}",
            plural(t.injected, "message", "messages"),
            percent(lost, t.injected),
            how.join(", ")
        )
    } else {
        "No message lost".to_string()
    };
    if t.queued > 0 {
        text += &format!(
            "; {} still queued at the end ({})",
            t.queued,
            percent(t.queued, t.injected)
        );
    }
    if let Some((name, d)) = worst {
        text += &format!("; worst: {name} ({})", brief(d));
    }
    text.push('.');
    text
}
