//! The flow-control policy that explains the sender's conduct, pooled over destinations
//! (an MTA has one policy; its rules name the replies they react to):
//! - a pause preceded, at every destination it struck, by one reply that otherwise never
//!   came without one is a reply rule (KumoMTA's automation, PowerMTA's patterns): suspend
//!   for the pauses' length;
//! - a pause with holds logged after handshake failures is Postfix's dead site: suspended
//!   for the pauses' length after failed cohorts;
//! - a slowdown is the error threshold: the window and count that every slowdown reached
//!   and no stretch of normal sending did; the slowed pace is the backoff's rate and
//!   concurrency, its length after the last trigger `to_normal_after`;
//! - errors that never slowed the sender are a sender that never backs off.
//!
//! Where two policies explain the log equally well, the simpler one is taken and a note
//! says so. docs/CALIBRATION.md states the limits.

use rustc_hash::FxHashMap;

use super::{Conduct, Label};
use crate::calibrate::collect::pace::STEP;
use crate::calibrate::collect::{Evidence, Pace};
use crate::calibrate::fit::Notes;
use crate::calibrate::stats::{median, quantile};
use crate::flow_control::config::{Action, RuleConfig, Since, Trigger};
use crate::flow_control::{Feedback, FlowControlConfig, State};
use crate::logs::Sym;
use crate::units::{Rate, Span};

/// Error windows tried, in steps: 30 s to an hour.
const WINDOWS: [u32; 8] = [3, 6, 12, 30, 60, 90, 180, 360];
/// The window MTAs default to (a minute), preferred when it explains the log.
const DEFAULT_WINDOW: u32 = 6;
/// A reply that came without a pause following more than this share of the time is not a
/// rule.
const RULE_MISSES: f64 = 0.2;
/// Steps before a period's first in which its trigger may lie.
const LOOKBACK: u32 = 3;

/// One destination as the policy sees it.
pub struct Seen<'a> {
    pub conduct: &'a Conduct,
    pub pace: &'a [(u32, &'a Pace)],
    /// Seconds a session takes there (connect and transaction), for turning a pace into
    /// connections.
    pub session_s: f64,
}

/// The policy learned, with what it rests on.
pub struct Learned {
    pub config: FlowControlConfig,
    /// The normal concurrency seen (None: never saturated).
    pub concurrency: Option<u32>,
}

/// A slowdown or pause as the policy uses it.
struct Entry {
    dest: usize,
    step: u32,
    state: State,
    /// Counted failures in the steps leading to it, by reply.
    replies: Vec<(Sym, u32)>,
    handshake: bool,
    held: u64,
}

/// Learns the policy from every destination's conduct.
pub fn learn(e: &Evidence, seen: &[Seen], names: &[String], notes: &mut Notes) -> Learned {
    let replies = replies_by_step(e);
    let errors: Vec<Vec<u32>> = seen.iter().map(errors_per_step).collect();
    let entries = entries(seen, &replies);
    let mut config = FlowControlConfig::default();
    let concurrency = normal_concurrency(seen, notes);
    let c = concurrency.unwrap_or(config.concurrency.max);
    config.concurrency.initial = c;
    config.concurrency.max = c;
    config.concurrency.negative_feedback = Feedback::Constant(0.0);
    config.concurrency.failed_cohort_limit = 0;
    config.suspend.after_backoffs = 0;
    let (rules, explained) = reply_rules(e, seen, &entries, &replies, names, notes);
    config.rules = rules;
    let dead = dead_site(seen, &entries, &explained, notes);
    if let Some(pause) = dead {
        config.concurrency.initial = c.min(5);
        config.concurrency.negative_feedback = Feedback::Constant(1.0);
        config.concurrency.failed_cohort_limit = 1;
        config.concurrency.dead_backoff = pause;
    }
    let slowdowns: Vec<&Entry> = entries
        .iter()
        .enumerate()
        .filter(|(i, en)| !explained[*i] && en.state == State::Backoff)
        .map(|(_, en)| en)
        .collect();
    match threshold(seen, &errors, &slowdowns, notes) {
        Some((window, count)) => {
            config.errors.window = Span::from_millis(u64::from(window) * STEP);
            config.errors.threshold = count;
            config.backoff = backoff(seen, &errors, (window, count), c, notes);
        }
        None => {
            config.errors.threshold = 0;
            config.backoff = quiet_backoff(c);
            blind(seen, &errors, notes);
        }
    }
    Learned {
        config,
        concurrency,
    }
}

/// Counted failures per step of each destination's pace, from its first step.
fn errors_per_step(s: &Seen) -> Vec<u32> {
    let first = s.conduct.first;
    let mut out = vec![0; s.conduct.labels.len()];
    for (step, p) in s.pace {
        if let Some(slot) = out.get_mut((step - first) as usize) {
            *slot = p.errors;
        }
    }
    out
}

/// The counted failures' replies per (destination, step).
fn replies_by_step(e: &Evidence) -> FxHashMap<(u32, u32), Vec<(Sym, u32)>> {
    let mut out: FxHashMap<(u32, u32), Vec<(Sym, u32)>> = FxHashMap::default();
    for (&(d, s, reply), &n) in &e.pace_replies {
        out.entry((d, s)).or_default().push((reply, n));
    }
    for list in out.values_mut() {
        list.sort_by_key(|(r, _)| r.index());
    }
    out
}

/// Every period's start with the failures just before it (its step and [`LOOKBACK`]
/// before: mail counts as waiting only after a while, so a period shows a little after the
/// failure that started it).
fn entries(seen: &[Seen], replies: &FxHashMap<(u32, u32), Vec<(Sym, u32)>>) -> Vec<Entry> {
    let mut out = Vec::new();
    for (d, s) in seen.iter().enumerate() {
        for p in &s.conduct.periods {
            let step = (p.from / STEP) as u32;
            let mut by_reply: FxHashMap<Sym, u32> = FxHashMap::default();
            let mut handshake = 0;
            let mut total = 0;
            for k in step.saturating_sub(LOOKBACK)..=step {
                for (r, n) in replies.get(&(d as u32, k)).into_iter().flatten() {
                    *by_reply.entry(*r).or_insert(0) += n;
                }
                if let Some((_, pace)) = s.pace.iter().find(|(x, _)| *x == k) {
                    handshake += pace.handshake_errors;
                    total += pace.errors;
                }
            }
            let mut replies: Vec<(Sym, u32)> = by_reply.into_iter().collect();
            replies.sort_by_key(|(r, _)| r.index());
            out.push(Entry {
                dest: d,
                step,
                state: p.state,
                replies,
                handshake: total > 0 && handshake * 2 >= total,
                held: p.held,
            });
        }
    }
    out
}

/// The concurrency the sender held when mail was waiting and it sent at its normal pace:
/// Postfix's session time, else the pace times a session's length; the most over the
/// destinations that showed it.
fn normal_concurrency(seen: &[Seen], notes: &mut Notes) -> Option<u32> {
    let mut best: Option<(u32, String)> = None;
    for s in seen {
        let normal: Vec<&Pace> = s
            .pace
            .iter()
            .filter(|(k, _)| s.conduct.label(*k) == Label::Normal)
            .map(|(_, p)| *p)
            .collect();
        if normal.len() < 6 {
            continue;
        }
        let busy: Vec<f64> = normal
            .iter()
            .map(|p| p.busy_ms as f64 / STEP as f64)
            .collect();
        let (held, how) = if busy.iter().any(|b| *b > 0.0) {
            (quantile(&busy, 0.9), "sessions open (Postfix delays c + d)")
        } else {
            let pace: Vec<f64> = normal.iter().map(|p| f64::from(p.started)).collect();
            (
                quantile(&pace, 0.9) / (STEP as f64 / 1000.0) * s.session_s,
                "attempts per second times a session's length",
            )
        };
        let held = held.round().max(1.0) as u32;
        if best.as_ref().is_none_or(|(b, _)| held > *b) {
            best = Some((held, how.to_string()));
        }
    }
    match &best {
        Some((c, how)) => notes.say(format!(
            "flow_control.concurrency: {c} connections, initial and max: the {how} while mail waited and the sender kept its normal pace"
        )),
        None => notes.fallback(
            "flow_control.concurrency: the default, because the sender never had mail waiting at its normal pace (a log of light traffic shows what the traffic needed, not the limit)"
                .into(),
        ),
    }
    best.map(|(c, _)| c)
}

/// Rules: a reply that preceded pauses (or slowdowns), and otherwise hardly ever came while
/// the sender sent normally. Returns them and which entries they explain.
fn reply_rules(
    e: &Evidence,
    seen: &[Seen],
    entries: &[Entry],
    replies: &FxHashMap<(u32, u32), Vec<(Sym, u32)>>,
    names: &[String],
    notes: &mut Notes,
) -> (Vec<RuleConfig>, Vec<bool>) {
    let mut explained = vec![false; entries.len()];
    let mut candidates: Vec<Sym> = entries
        .iter()
        .filter(|en| en.state == State::Suspended && !en.handshake)
        .flat_map(|en| en.replies.iter().map(|(r, _)| *r))
        .collect();
    candidates.sort_by_key(|r| r.index());
    candidates.dedup();
    let mut rules = Vec::new();
    for reply in candidates {
        let hits: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(i, en)| !explained[*i] && en.replies.iter().any(|(r, _)| *r == reply))
            .map(|(i, _)| i)
            .collect();
        let misses = replies
            .iter()
            .filter(|((d, k), list)| {
                list.iter().any(|(r, _)| *r == reply)
                    && !seen[*d as usize].conduct.held_back(*k, LOOKBACK)
                    && seen[*d as usize].conduct.label(*k) != Label::Unknown
            })
            .count();
        if hits.is_empty() || misses as f64 > RULE_MISSES * (hits.len() + misses) as f64 {
            continue;
        }
        let suspended = hits
            .iter()
            .filter(|&&i| entries[i].state == State::Suspended)
            .count();
        let action = if suspended * 2 >= hits.len() {
            Action::Suspend
        } else {
            Action::Backoff
        };
        let duration = pause_length(seen, entries, &hits);
        let pattern = signature(e.text(reply));
        let dests: Vec<&str> = {
            let mut d: Vec<&str> = hits
                .iter()
                .map(|&i| names[entries[i].dest].as_str())
                .collect();
            d.sort();
            d.dedup();
            d
        };
        notes.say(format!(
            "flow_control.rules: {} for {duration} on /{pattern}/: the reply \"{}\" came just before {} of the sender's pauses at {} and {misses} times without one",
            if action == Action::Suspend { "suspend" } else { "backoff" },
            e.text(reply),
            hits.len(),
            dests.join(", ")
        ));
        for i in hits {
            explained[i] = true;
        }
        rules.push(RuleConfig {
            pattern,
            action,
            trigger: Trigger::Immediate,
            duration,
            set: None,
        });
    }
    (rules, explained)
}

/// A regex for a reply: its bracketed provider code (`[TSS04]`) when it has one, else its
/// first words up to anything that varies (a masked or numbered token).
pub fn signature(text: &str) -> String {
    let code = text.split_ascii_whitespace().find(|w| {
        let inner = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        w.starts_with('[')
            && w.ends_with(']')
            && inner.len() >= 3
            && inner.chars().any(|c| c.is_ascii_digit())
            && inner.chars().any(|c| c.is_ascii_alphabetic())
    });
    if let Some(code) = code {
        return regex::escape(code);
    }
    let mut key = String::new();
    let key = crate::logs::classify::reply_key(text, &mut key);
    let words: Vec<&str> = key
        .split_ascii_whitespace()
        .skip_while(|w| {
            w.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        })
        .take_while(|w| !w.contains(|c: char| c == '*' || c.is_ascii_digit()))
        .take(6)
        .collect();
    if words.is_empty() {
        return regex::escape(text.trim());
    }
    regex::escape(&words.join(" "))
}

/// The length of the pauses of `hits`: within their periods, the time from the start or a
/// probe (a step with attempts: the sender trying again) to the next probe; a period
/// without one is one pause.
fn pause_length(seen: &[Seen], entries: &[Entry], hits: &[usize]) -> Span {
    let mut pauses: Vec<f64> = Vec::new();
    for &i in hits {
        let s = &seen[entries[i].dest];
        let Some(p) = s
            .conduct
            .periods
            .iter()
            .find(|p| p.from / STEP == u64::from(entries[i].step))
        else {
            continue;
        };
        let (from, to) = ((p.from / STEP) as u32, (p.to / STEP) as u32);
        let probes: Vec<u32> = s
            .pace
            .iter()
            .filter(|(k, pace)| (from + 1..to).contains(k) && pace.started > 0)
            .map(|(k, _)| *k)
            .collect();
        let mut last = from;
        for k in probes.iter().chain(std::iter::once(&to)) {
            if k - last > 1 {
                pauses.push(f64::from(k - last));
            }
            last = *k;
        }
    }
    let steps = median(&mut pauses).max(1.0);
    Span::from_millis((steps * STEP as f64).round() as u64)
}

/// Postfix's dead site: pauses with holds logged after handshake failures. Returns the
/// dead-site backoff (the pauses' median length).
fn dead_site(
    seen: &[Seen],
    entries: &[Entry],
    explained: &[bool],
    notes: &mut Notes,
) -> Option<Span> {
    let hits: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(i, en)| {
            !explained[*i] && en.state == State::Suspended && en.handshake && en.held > 0
        })
        .map(|(i, _)| i)
        .collect();
    if hits.is_empty() {
        return None;
    }
    let pause = pause_length(seen, entries, &hits);
    notes.say(format!(
        "flow_control.concurrency: a dead site (failed_cohort_limit 1, dead_backoff {pause}): {} pauses with \"delivery temporarily suspended\" holds followed handshake failures; {pause} is their median length",
        hits.len()
    ));
    Some(pause)
}

/// Errors in the `window` steps ending at step `k` (inclusive).
fn window_count(errors: &[u32], k: usize, window: u32) -> u32 {
    let from = (k + 1).saturating_sub(window as usize);
    errors[from..=k].iter().sum()
}

/// The error threshold: a window and count that every slowdown reached and no normal
/// stretch did. None when nothing slowed the sender down.
fn threshold(
    seen: &[Seen],
    errors: &[Vec<u32>],
    slowdowns: &[&Entry],
    notes: &mut Notes,
) -> Option<(u32, u32)> {
    if slowdowns.is_empty() {
        return None;
    }
    let mut fits: Vec<(u32, u32, u32)> = Vec::new();
    for window in WINDOWS {
        let reached = slowdowns
            .iter()
            .map(|en| {
                let s = &seen[en.dest];
                let k = (en.step - s.conduct.first) as usize;
                window_count(&errors[en.dest], k, window)
            })
            .min()
            .unwrap_or(0);
        let quiet = quiet_max(seen, errors, window);
        fits.push((window, quiet, reached));
    }
    let consistent: Vec<&(u32, u32, u32)> = fits.iter().filter(|(_, q, r)| r > q).collect();
    let chosen = consistent
        .iter()
        .find(|(w, _, _)| *w == DEFAULT_WINDOW)
        .or_else(|| {
            consistent.iter().max_by(|a, b| {
                let ratio = |f: &&&(u32, u32, u32)| f64::from(f.2) / f64::from(f.1 + 1);
                ratio(a).total_cmp(&ratio(b))
            })
        })
        .copied()
        .copied();
    let Some((window, quiet, reached)) = chosen else {
        let (window, quiet, reached) = fits[1];
        let count = reached.max(1);
        notes.fallback(format!(
            "flow_control.errors: {count} within {}: no window separates the {} slowdowns from normal sending (up to {quiet} errors a window without slowing down), so the fewest errors one slowdown followed",
            Span::from_millis(u64::from(window) * STEP),
            slowdowns.len()
        ));
        return Some((window, count));
    };
    // The slowdowns' counts overshoot the threshold by the failures that ended after it
    // fired; normal sending's undershoots it. Without normal errors to bound it, the
    // count reached less a tenth.
    let count = if quiet == 0 {
        (f64::from(reached) * 0.9).round() as u32
    } else {
        (f64::from(quiet + 1) * f64::from(reached)).sqrt().round() as u32
    }
    .clamp(quiet + 1, reached);
    let others = consistent.len().saturating_sub(1);
    notes.say(format!(
        "flow_control.errors: threshold {count} within {}: each of the {} slowdowns followed at least {reached} errors in that window, and normal sending saw at most {quiet}{}",
        Span::from_millis(u64::from(window) * STEP),
        slowdowns.len(),
        if others > 0 {
            format!(" ({others} other windows explain the log as well; the minute MTAs default to, or the clearest, is taken)")
        } else {
            String::new()
        }
    ));
    Some((window, count))
}

/// The most errors within `window` that did not slow the sender down: over the steps
/// after which it went on sending normally.
fn quiet_max(seen: &[Seen], errors: &[Vec<u32>], window: u32) -> u32 {
    let mut most = 0;
    for (d, s) in seen.iter().enumerate() {
        let c = s.conduct;
        for k in 0..errors[d].len() {
            if errors[d][k] == 0 {
                continue;
            }
            let next = c.first + k as u32 + 1;
            if c.held_back(next, 1) || c.held_back(next - 1, 0) {
                continue;
            }
            most = most.max(window_count(&errors[d], k, window));
        }
    }
    most
}

/// Backoff's limits from the slowed steps: their pace and sessions, the least wait before
/// a retry, and how long after the last trigger the sender went back to normal.
fn backoff(
    seen: &[Seen],
    errors: &[Vec<u32>],
    (window, count): (u32, u32),
    normal: u32,
    notes: &mut Notes,
) -> crate::flow_control::config::BackoffConfig {
    let mut config = crate::flow_control::config::BackoffConfig::default();
    let (mut started, mut steps, mut busy, mut sessions) = (0u64, 0u64, Vec::new(), 0.0f64);
    let (mut slowed_waits, mut normal_waits) = (Vec::new(), Vec::new());
    for s in seen {
        for (k, p) in s.pace {
            match s.conduct.label(*k) {
                Label::Slowed => {
                    started += u64::from(p.started);
                    steps += 1;
                    busy.push(p.busy_ms as f64 / STEP as f64);
                    sessions = sessions.max(s.session_s);
                    if p.retry_wait != u32::MAX {
                        slowed_waits.push(f64::from(p.retry_wait));
                    }
                }
                Label::Normal | Label::Unknown if p.retry_wait != u32::MAX => {
                    normal_waits.push(f64::from(p.retry_wait));
                }
                _ => {}
            }
        }
    }
    let per_hour = (started as f64 / steps.max(1) as f64 * 3_600_000.0 / STEP as f64).round();
    let per_hour = per_hour.max(1.0) as u64;
    config.max_rate = Some(Rate::new(per_hour, Span::HOUR));
    let held = if busy.iter().any(|b| *b > 0.0) {
        quantile(&busy, 0.9)
    } else {
        per_hour as f64 / 3600.0 * sessions
    };
    config.concurrency = (held.ceil() as u32).clamp(1, normal);
    let slowed_wait = median(&mut slowed_waits);
    let normal_wait = median(&mut normal_waits);
    config.retry_after = if slowed_waits.len() >= 5 && slowed_wait > 1.5 * normal_wait {
        Span::from_secs(slowed_wait.round() as u64)
    } else {
        Span::ZERO
    };
    (config.to_normal_after, config.to_normal_after_from) =
        to_normal_after(seen, errors, (window, count));
    let since = match config.to_normal_after_from {
        Since::Error => {
            "error (errors went on in backoff, and it ended a steady while after the last)"
        }
        Since::Trigger => "trigger",
    };
    notes.say(format!(
        "flow_control.backoff: {per_hour}/h over {} connections, retries no sooner than {}, normal again {} after the last {since}: the sender's pace over its {steps} slowed steps with mail waiting (the least wait before a retry there, against {} when not slowed; the median time from a slowdown's last trigger or error to its end)",
        config.concurrency,
        config.retry_after,
        config.to_normal_after,
        Span::from_secs(normal_wait.round() as u64)
    ));
    config
}

/// How long after its last trigger, or after its last error, each slowdown ended (the
/// medians): counted from the error when errors went on in backoff and the end came a
/// steady while after the last of them (PowerMTA's quiet period), else from the trigger.
fn to_normal_after(
    seen: &[Seen],
    errors: &[Vec<u32>],
    (window, count): (u32, u32),
) -> (Span, Since) {
    let (mut after_trigger, mut after_error): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for (d, s) in seen.iter().enumerate() {
        let c = s.conduct;
        for p in c.periods.iter().filter(|p| p.state == State::Backoff) {
            let (from, to) = ((p.from / STEP) as u32, (p.to / STEP) as u32);
            let erring = |k: &u32| {
                let i = (k - c.first) as usize;
                i < errors[d].len() && errors[d][i] > 0
            };
            let last_error = (from..to).filter(erring).max().unwrap_or(from);
            let last_trigger = (from..to)
                .filter(|k| {
                    erring(k) && window_count(&errors[d], (k - c.first) as usize, window) >= count
                })
                .max()
                .unwrap_or(from);
            after_trigger.push(f64::from(to - last_trigger.min(to)) * STEP as f64);
            after_error.push(f64::from(to - last_error.min(to)) * STEP as f64);
        }
    }
    let (trigger, error) = (median(&mut after_trigger), median(&mut after_error));
    let (ms, since) = if error < trigger / 2.0 {
        (error, Since::Error)
    } else {
        (trigger, Since::Trigger)
    };
    let ms = ms.max(60_000.0);
    (Span::from_secs((ms / 1000.0).round() as u64), since)
}

/// A backoff that never holds anything back: the state a suspension ends in, for a sender
/// that has no backoff of its own.
fn quiet_backoff(concurrency: u32) -> crate::flow_control::config::BackoffConfig {
    crate::flow_control::config::BackoffConfig {
        concurrency,
        max_rate: None,
        retry_after: Span::ZERO,
        to_normal_after: Span::SECOND,
        ..Default::default()
    }
}

/// A sender that never slowed down: says how many errors it took without backing off.
fn blind(seen: &[Seen], errors: &[Vec<u32>], notes: &mut Notes) {
    let most = quiet_max(seen, errors, DEFAULT_WINDOW);
    let total: u64 = errors.iter().flatten().map(|&n| u64::from(n)).sum();
    notes.say(format!(
        "flow_control.errors: threshold 0 (never backs off): the sender never slowed down with mail waiting, through {total} errors and up to {most} within a minute (the log cannot rule out a threshold above {most})"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_the_provider_code_or_the_first_fixed_words() {
        assert_eq!(
            signature("421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred"),
            r"\[TSS04\]"
        );
        assert_eq!(
            signature(
                "421 4.7.0 Temporary reject due to policy restrictions, see https://postmaster.gmx.net"
            ),
            "Temporary reject due to policy restrictions,"
        );
        assert_eq!(
            signature("450 4.7.1 Client host rejected: 203.0.113.7 try later"),
            "Client host rejected:"
        );
        assert_eq!(window_count(&[1, 2, 3, 4], 3, 2), 7);
        assert_eq!(window_count(&[1, 2, 3, 4], 1, 6), 3);
    }
}
