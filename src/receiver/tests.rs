//! Behaviour tests of the receiver runtime and of configuration validation.

use serde_json::{Value, json};

use std::sync::Arc;

use super::*;
use crate::replies::{ReplyBook, ReplyId};
use crate::rng::stream;
use crate::units::{Instant, Span};
use crate::validate::Check;

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn ms(ms: u64) -> Span {
    Span::from_millis(ms)
}

/// An MTA with a 5-minute greeting timeout: still waiting when the greeting comes sooner.
fn still_waiting(connected: Instant, greeting: Instant) -> bool {
    greeting < connected + Span::from_mins(5)
}

fn config(json: Value) -> ReceiverConfig {
    serde_json::from_value(json).unwrap()
}

fn build(json: Value, stream_name: &str) -> (Receiver, ReplyBook) {
    let mut book = ReplyBook::new();
    let behaviour = Behaviour::compile(&config(json), &mut book).unwrap_or_else(|e| panic!("{e}"));
    (
        Receiver::new(Arc::new(behaviour), stream(1, stream_name)),
        book,
    )
}

/// What compiling a listed receiver checks: identity, then behaviour.
fn check(config: &ReceiverConfig) -> Check {
    config.validate_identity()?;
    Behaviour::compile(config, &mut ReplyBook::new()).map(drop)
}

/// What compiling a template checks: no identity, then behaviour.
fn check_template(config: &ReceiverConfig) -> Check {
    config.validate_anonymous()?;
    Behaviour::compile(config, &mut ReplyBook::new()).map(drop)
}

/// What compiling `generated_receivers` checks.
fn check_population(population: &GeneratedReceivers) -> Check {
    population.validate()?;
    Behaviour::compile(&population.template, &mut ReplyBook::new())
        .map(drop)
        .map_err(|e| e.within("template"))
}

fn receiver(json: Value) -> (Receiver, ReplyBook) {
    build(json, "receiver:test")
}

fn name(book: &ReplyBook, id: ReplyId) -> Option<&'static str> {
    book.get(id).name
}

/// A transaction for a message whose first attempt is now.
fn attempt(r: &mut Receiver, now: Instant) -> TransactionAnswer {
    r.transaction(now, now.as_millis(), now, 0)
}

#[test]
fn a_receiver_without_behaviour_accepts_everything() {
    let (mut r, book) = receiver(json!({}));
    assert_eq!(r.connect(at(0)), ConnectAnswer::Greeted { after: ms(100) });
    let answer = attempt(&mut r, at(100));
    assert_eq!(
        (answer.after, answer.kind, answer.close),
        (ms(300), ReplyKind::Accepted, false)
    );
    assert_eq!(name(&book, answer.reply), Some("accepted"));
    assert_eq!(r.sessions(), 1);
    assert_eq!(r.disconnect(at(400), still_waiting), None);
    assert_eq!(r.sessions(), 0);
    assert_eq!(
        (r.reputation(at(0)), r.tokens(at(0)), r.blocks()),
        (None, None, 0)
    );
}

/// Transactions every 100 ms for an hour (inclusive) against 60/min with `burst`.
fn accepted_in_an_hour(burst: u64, strict: bool) -> usize {
    let (mut r, _) = receiver(json!({
        "latency": "50ms",
        "rate_limit": { "rate": "60/min", "burst": burst, "strict": strict }
    }));
    (0..=HOUR)
        .step_by(100)
        .filter(|&t| attempt(&mut r, at(t)).kind == ReplyKind::Accepted)
        .count()
}

#[test]
fn rate_limit_accepts_the_rate_plus_the_burst() {
    for burst in [1, 10, 100] {
        assert_eq!(accepted_in_an_hour(burst, false), 3600 + burst as usize);
    }
}

#[test]
fn strict_rate_limit_locks_a_hammering_sender_out() {
    // The burst, one token refilled at 1 s, then every refused attempt adds debt.
    assert_eq!(accepted_in_an_hour(10, true), 11);
    assert!(accepted_in_an_hour(10, true) < accepted_in_an_hour(10, false));
}

#[test]
fn rate_limit_reply_and_tokens() {
    let (mut r, book) = receiver(json!({ "rate_limit": { "rate": "1/s", "reply": "yahoo-ts02" } }));
    assert_eq!(r.tokens(at(0)), Some(1.0));
    assert_eq!(attempt(&mut r, at(0)).kind, ReplyKind::Accepted);
    let refused = attempt(&mut r, at(500));
    assert_eq!(
        (refused.kind, name(&book, refused.reply)),
        (ReplyKind::Temporary, Some("yahoo-ts02"))
    );
    assert_eq!(r.tokens(at(500)), Some(0.5));
}

#[test]
fn only_accepted_transactions_take_tokens_unless_strict() {
    for (strict, tokens_left) in [(false, 1.0), (true, 0.0)] {
        let (mut r, _) = receiver(json!({
            "rate_limit": { "rate": "1/h", "strict": strict },
            "transient_errors": { "probability": 1.0 }
        }));
        assert_eq!(attempt(&mut r, at(0)).kind, ReplyKind::Temporary);
        assert_eq!(r.tokens(at(0)), Some(tokens_left));
    }
}

#[test]
fn reject_limit_greets_max_and_rejects_the_rest() {
    let (mut r, book) = receiver(json!({ "connection_limit": { "max": 5 } }));
    let answers: Vec<_> = (0..20).map(|_| r.connect(at(0))).collect();
    let greeted = answers
        .iter()
        .filter(|a| **a == ConnectAnswer::Greeted { after: ms(100) })
        .count();
    let rejected: Vec<_> = answers
        .iter()
        .filter_map(|a| match a {
            ConnectAnswer::Rejected { after, reply } if *after == ms(100) => Some(*reply),
            _ => None,
        })
        .collect();
    assert_eq!((greeted, rejected.len()), (5, 15));
    assert!(
        rejected
            .iter()
            .all(|&id| name(&book, id) == Some("generic-421"))
    );
    assert_eq!(r.sessions(), 5);
    assert_eq!(r.disconnect(at(1000), still_waiting), None);
    assert_eq!(r.sessions(), 4);
    assert_eq!(
        r.connect(at(1000)),
        ConnectAnswer::Greeted { after: ms(100) }
    );
    assert!(matches!(
        r.connect(at(1000)),
        ConnectAnswer::Rejected { .. }
    ));
}

#[test]
fn queue_limit_greets_waiting_connections_in_order() {
    let (mut r, _) = receiver(json!({
        "connection_limit": { "max": 2, "over_limit": "queue", "backlog": 3 }
    }));
    assert_eq!(r.connect(at(0)), ConnectAnswer::Greeted { after: ms(100) });
    assert_eq!(r.connect(at(0)), ConnectAnswer::Greeted { after: ms(100) });
    for ticket in 0..3 {
        assert_eq!(r.connect(at(10)), ConnectAnswer::Queued { ticket });
    }
    assert_eq!(
        r.connect(at(20)),
        ConnectAnswer::Silent,
        "a full backlog does not answer"
    );
    assert_eq!(r.waiting(), 3);
    r.abandon(1);
    assert_eq!(r.waiting(), 2);
    assert_eq!(
        r.disconnect(at(1000), still_waiting),
        Some(Greeted {
            ticket: 0,
            at: at(1100)
        })
    );
    assert_eq!(
        r.disconnect(at(2000), still_waiting),
        Some(Greeted {
            ticket: 2,
            at: at(2100)
        })
    );
    assert_eq!(r.sessions(), 2);
    assert_eq!(r.disconnect(at(3000), still_waiting), None);
    assert_eq!(r.sessions(), 1);
}

#[test]
fn a_queued_connection_past_its_greeting_timeout_is_not_greeted() {
    let (mut r, _) = receiver(json!({ "connection_limit": { "max": 1, "over_limit": "queue" } }));
    assert!(matches!(r.connect(at(0)), ConnectAnswer::Greeted { .. }));
    assert_eq!(r.connect(at(0)), ConnectAnswer::Queued { ticket: 0 });
    assert_eq!(r.connect(at(1)), ConnectAnswer::Queued { ticket: 1 });
    // The greeting would arrive at 5m exactly, when ticket 0's greeting timeout fires.
    assert_eq!(
        r.disconnect(at(5 * MINUTE - 100), still_waiting),
        Some(Greeted {
            ticket: 1,
            at: at(5 * MINUTE)
        })
    );
    assert_eq!(r.waiting(), 0);
}

#[test]
fn greylisting_defers_until_min_delay() {
    let (mut r, book) = receiver(json!({ "greylisting": { "min_delay": "5m" } }));
    let first = 1234;
    let deferred = r.transaction(at(first), 7, at(first), 0);
    assert_eq!(
        (deferred.kind, name(&book, deferred.reply)),
        (ReplyKind::Temporary, Some("greylist"))
    );
    assert_eq!(book.get(deferred.reply).code, 451);
    assert_eq!(
        r.transaction(at(first + 5 * MINUTE - 1), 7, at(first), 0)
            .kind,
        ReplyKind::Temporary
    );
    assert_eq!(
        r.transaction(at(first + 5 * MINUTE), 7, at(first), 0).kind,
        ReplyKind::Accepted
    );
}

#[test]
fn outages_affect_exactly_their_windows() {
    let (mut r, book) = receiver(json!({ "outages": [
        { "from": "1h", "to": "2h", "mode": "tempfail" },
        { "from": "3h", "to": "4h", "mode": "refuse" },
        { "from": "5h", "to": "6h", "mode": "timeout" }
    ] }));
    let deferred: Vec<u64> = (0..3 * HOUR)
        .step_by(MINUTE as usize)
        .filter(|&t| attempt(&mut r, at(t)).kind == ReplyKind::Temporary)
        .collect();
    assert_eq!(deferred.len(), 60);
    assert_eq!((deferred[0], deferred[59]), (HOUR, 2 * HOUR - MINUTE));
    assert_eq!(attempt(&mut r, at(HOUR - 1)).kind, ReplyKind::Accepted);
    let last = attempt(&mut r, at(2 * HOUR - 1));
    assert_eq!(
        (last.kind, name(&book, last.reply)),
        (ReplyKind::Temporary, Some("generic-451"))
    );
    assert_eq!(attempt(&mut r, at(2 * HOUR)).kind, ReplyKind::Accepted);

    assert!(matches!(
        r.connect(at(3 * HOUR - 1)),
        ConnectAnswer::Greeted { .. }
    ));
    assert_eq!(
        r.connect(at(3 * HOUR)),
        ConnectAnswer::Refused { after: ms(100) }
    );
    assert!(matches!(
        r.connect(at(4 * HOUR - 1)),
        ConnectAnswer::Refused { .. }
    ));
    assert!(matches!(
        r.connect(at(4 * HOUR)),
        ConnectAnswer::Greeted { .. }
    ));
    assert_eq!(r.connect(at(5 * HOUR)), ConnectAnswer::Silent);
    assert_eq!(
        r.sessions(),
        2,
        "refused and timed-out connections hold no slot"
    );
}

/// One token per hour, one attempt a minute tolerated after a deferral, and 1/16 of the
/// score lost per attempt beyond that: the first attempt is accepted, the next ones are
/// rate limited.
fn reputation_receiver() -> (Receiver, ReplyBook) {
    receiver(json!({
        "latency": "100ms",
        "rate_limit": { "rate": "1/h" },
        "reputation": {
            "initial": 0.5, "baseline": 0.75, "recovery_per_hour": 0.0,
            "penalty_per_ignored_deferral": 0.0625, "tolerated_rate": "1/min",
            "throttle_below": 0.5, "block_below": 0.2, "unblock_above": 0.4,
            "block_reply": "microsoft-s3150"
        }
    }))
}

#[test]
fn hammering_a_deferring_receiver_gets_blocked() {
    let (mut r, book) = reputation_receiver();
    let answers: Vec<_> = (0..=600).map(|s| attempt(&mut r, at(s * SECOND))).collect();
    assert_eq!(answers[0].kind, ReplyKind::Accepted);
    // At 1 s the first deferral; at 2 s the one tolerated attempt of the minute; from 3 s
    // every attempt ignores the deferral: 0.5 - 5/16 < 0.2 at 7 s.
    assert!(answers[1..7].iter().all(|a| a.kind == ReplyKind::Temporary));
    assert!(answers[7..].iter().all(|a| a.kind == ReplyKind::Permanent));
    assert_eq!(name(&book, answers[7].reply), Some("microsoft-s3150"));
    assert_eq!(r.blocks(), 1);
    assert!(r.blocked());
    assert_eq!(r.reputation_min(), Some(0.0));
}

#[test]
fn coming_back_at_the_tolerated_rate_costs_nothing() {
    let (mut r, _) = reputation_receiver();
    // Deferred at 1 s, then exactly one attempt a minute: never beyond the tolerated rate.
    for minute in 0..120 {
        attempt(&mut r, at(SECOND + minute * MINUTE));
    }
    assert_eq!(r.reputation(at(2 * HOUR)), Some(0.5));
    // Twice a minute: every second attempt ignores the deferral.
    for half in 0..10 {
        attempt(&mut r, at(2 * HOUR + half * 30 * SECOND));
    }
    assert_eq!(r.reputation(at(3 * HOUR)), Some(0.5 - 5.0 * 0.0625));
}

#[test]
fn hammering_after_a_throttle_reply_turns_it_into_a_block() {
    // At exactly block_below the throttle share is 1: the first attempt is throttled.
    let (mut r, book) = receiver(json!({ "reputation": {
        "initial": 0.25, "baseline": 0.75, "recovery_per_hour": 0.0,
        "penalty_per_ignored_deferral": 0.0625,
        "throttle_below": 0.5, "block_below": 0.25, "unblock_above": 0.4
    } }));
    let throttled = attempt(&mut r, at(0));
    assert_eq!(
        (throttled.kind, name(&book, throttled.reply)),
        (ReplyKind::Temporary, Some("generic-throttle"))
    );
    // The default tolerated rate (120/min, as deep) lets 120 quick attempts through
    // unpunished; the 121st ignores the deferral.
    for ms in 1..=120 {
        assert_eq!(attempt(&mut r, at(ms)).kind, ReplyKind::Temporary);
    }
    let blocked = attempt(&mut r, at(121));
    assert_eq!(
        (blocked.kind, name(&book, blocked.reply)),
        (ReplyKind::Permanent, Some("generic-block"))
    );
    assert_eq!(r.reputation(at(SECOND)), Some(0.1875));
    for s in 2..600 {
        assert_eq!(attempt(&mut r, at(s * SECOND)).kind, ReplyKind::Permanent);
    }
    assert_eq!(r.blocks(), 1);
}

#[test]
fn backing_off_avoids_the_block() {
    let (mut r, _) = reputation_receiver();
    let mut now = 0;
    let mut accepted = 0;
    while now < 24 * HOUR {
        let answer = attempt(&mut r, at(now));
        accepted += usize::from(answer.kind == ReplyKind::Accepted);
        now += answer.after.as_millis() + 5 * MINUTE;
    }
    assert_eq!(r.blocks(), 0);
    assert_eq!(r.reputation(at(now)), Some(0.5));
    assert_eq!(r.reputation_min(), Some(0.5));
    assert_eq!(accepted, 24);
}

#[test]
fn reputation_relaxes_toward_baseline_at_the_configured_rate() {
    let (r, _) = receiver(json!({ "reputation": {
        "initial": 0.25, "baseline": 0.75, "recovery_per_hour": 0.125
    } }));
    assert_eq!(r.reputation(at(0)), Some(0.25));
    assert_eq!(r.reputation(at(2 * HOUR)), Some(0.5));
    assert_eq!(r.reputation(at(4 * HOUR)), Some(0.75));
    assert_eq!(r.reputation(at(10 * HOUR)), Some(0.75));
    let (r, _) = receiver(json!({ "reputation": {
        "initial": 1.0, "baseline": 0.75, "recovery_per_hour": 0.125
    } }));
    assert_eq!(r.reputation(at(HOUR)), Some(0.875));
    assert_eq!(r.reputation(at(3 * HOUR)), Some(0.75));
}

#[test]
fn a_block_lifts_only_above_unblock_above() {
    let (mut r, _) = receiver(json!({ "reputation": {
        "initial": 0.125, "baseline": 1.0, "recovery_per_hour": 0.125,
        "throttle_below": 0.25, "block_below": 0.25, "unblock_above": 0.5
    } }));
    assert_eq!(attempt(&mut r, at(0)).kind, ReplyKind::Permanent);
    assert_eq!((r.blocks(), r.blocked()), (1, true));
    // 0.25 at 1 h: no longer below block_below, but not above unblock_above.
    assert_eq!(attempt(&mut r, at(HOUR)).kind, ReplyKind::Permanent);
    assert_eq!(r.reputation(at(3 * HOUR)), Some(0.5));
    assert_eq!(attempt(&mut r, at(3 * HOUR)).kind, ReplyKind::Permanent);
    assert_eq!(attempt(&mut r, at(3 * HOUR + 1)).kind, ReplyKind::Accepted);
    assert_eq!((r.blocks(), r.blocked()), (1, false));
    assert_eq!(r.reputation_min(), Some(0.125));
}

#[test]
fn throttling_refuses_its_share_in_the_band() {
    // Score 0.35 halfway between block_below 0.2 and throttle_below 0.5: half throttled.
    let (mut r, book) = receiver(json!({ "reputation": {
        "initial": 0.35, "baseline": 0.75, "recovery_per_hour": 0.0,
        "penalty_per_ignored_deferral": 0.0, "throttle_reply": "yahoo-ts01"
    } }));
    let answers: Vec<_> = (0..10_000)
        .map(|s| attempt(&mut r, at(s * SECOND)))
        .collect();
    let throttled = answers
        .iter()
        .filter(|a| a.kind == ReplyKind::Temporary)
        .count();
    // Binomial(10000, 0.5): standard deviation 50.
    assert!((4800..=5200).contains(&throttled), "{throttled}");
    assert!(
        answers
            .iter()
            .filter(|a| a.kind == ReplyKind::Temporary)
            .all(|a| name(&book, a.reply) == Some("yahoo-ts01"))
    );
}

#[test]
fn complaints_and_unknown_users_cost_reputation() {
    let (mut r, _) = receiver(json!({
        "complaint_rate": 1.0,
        "reputation": { "recovery_per_hour": 0.0, "penalty_per_complaint": 0.0625 }
    }));
    for s in 0..4 {
        assert_eq!(attempt(&mut r, at(s * SECOND)).kind, ReplyKind::Accepted);
    }
    assert_eq!(r.reputation(at(HOUR)), Some(0.75));
    let (mut r, book) = receiver(json!({
        "unknown_user_rate": 1.0,
        "reputation": { "recovery_per_hour": 0.0, "penalty_per_unknown_user": 0.125 }
    }));
    let answer = attempt(&mut r, at(0));
    assert_eq!(
        (answer.kind, name(&book, answer.reply)),
        (ReplyKind::Permanent, Some("user-unknown"))
    );
    assert_eq!(r.reputation(at(0)), Some(0.875));
}

#[test]
fn unknown_users_are_a_fixed_share_of_messages() {
    let (mut r, book) = receiver(json!({ "unknown_user_rate": 0.02 }));
    let unknown = |r: &mut Receiver, id: u64| {
        r.transaction(at(id * 10), id, at(id * 10), 0).kind == ReplyKind::Permanent
    };
    let first: Vec<bool> = (0..100_000).map(|id| unknown(&mut r, id)).collect();
    let count = first.iter().filter(|&&u| u).count();
    // Binomial(100000, 0.02): standard deviation 44.3; four of them.
    assert!((2000 - 177..=2000 + 177).contains(&count), "{count}");
    assert!((0..100_000).all(|id| unknown(&mut r, id) == first[id as usize]));
    let bounce = r.transaction(
        at(0),
        first.iter().position(|&u| u).unwrap() as u64,
        at(0),
        0,
    );
    assert_eq!(book.get(bounce.reply).enhanced.as_deref(), Some("5.1.1"));
    // Another receiver (another stream, another salt) picks other messages.
    let (mut other, _) = build(json!({ "unknown_user_rate": 0.02 }), "receiver:other");
    let differ = (0..100_000)
        .filter(|&id| unknown(&mut other, id) != first[id as usize])
        .count();
    assert!(differ > 3000, "{differ}");
}

#[test]
fn transient_errors_and_connection_message_limit() {
    let (mut r, book) = receiver(json!({ "transient_errors": { "probability": 1.0 } }));
    let answer = attempt(&mut r, at(0));
    assert_eq!(
        (answer.kind, name(&book, answer.reply)),
        (ReplyKind::Temporary, Some("generic-451"))
    );
    let (mut r, book) = receiver(json!({ "max_messages_per_connection": 3 }));
    for n in 0..3 {
        let answer = r.transaction(at(n.into()), n.into(), at(0), n);
        assert_eq!((answer.kind, answer.close), (ReplyKind::Accepted, false));
    }
    let closing = r.transaction(at(3), 3, at(0), 3);
    assert_eq!((closing.kind, closing.close), (ReplyKind::Temporary, true));
    assert_eq!(name(&book, closing.reply), Some("yahoo-max-per-connection"));
}

#[test]
fn a_session_is_spent_at_mail_from_without_a_draw() {
    let (mut r, book) = receiver(json!({ "max_messages_per_connection": 2 }));
    assert_eq!(r.session_spent(1), None);
    let spent = r.session_spent(2).unwrap();
    assert_eq!(
        (spent.stage, spent.close, spent.after),
        (Stage::Mail, true, Span::ZERO)
    );
    assert_eq!(name(&book, spent.reply), Some("yahoo-max-per-connection"));
    // The transaction's own check gives the same answer, after its latency.
    let twin = r.clone();
    let answer = r.transaction(at(0), 0, at(0), 2);
    assert_eq!(
        answer,
        TransactionAnswer {
            after: ms(300),
            ..spent
        }
    );
    assert_eq!(
        twin.session_spent(2),
        Some(spent),
        "session_spent draws nothing"
    );
}

#[test]
fn answers_carry_the_stage_the_receiver_gives_them_at() {
    let (mut r, book) = receiver(json!({
        "rate_limit": { "rate": "1/h", "burst": 1 },
        "greylisting": { "min_delay": "1m" },
        "unknown_user_rate": 0.5,
        "stages": { "rate_limit": "data" }
    }));
    let (mut accepted, mut greylisted, mut unknown) = (None, None, None);
    for message in 0..40 {
        let answer = r.transaction(at(2 * MINUTE), message, at(0), 0);
        match name(&book, answer.reply) {
            Some("accepted") => accepted = Some(answer.stage),
            Some("user-unknown") => unknown = Some(answer.stage),
            _ => {}
        }
        let fresh = r.transaction(at(2 * MINUTE), message, at(2 * MINUTE), 0);
        if name(&book, fresh.reply) == Some("greylist") {
            greylisted = Some(fresh.stage);
        }
    }
    assert_eq!(
        accepted,
        Some(Stage::Data),
        "acceptance is at the end of DATA"
    );
    assert_eq!(greylisted, Some(Stage::Rcpt));
    assert_eq!(unknown, Some(Stage::Rcpt));
    let limited = (1_000..)
        .map(|message| r.transaction(at(2 * MINUTE), message, at(0), 0))
        .find(|a| name(&book, a.reply) != Some("user-unknown"))
        .unwrap();
    assert_eq!(
        (name(&book, limited.reply), limited.stage),
        (Some("generic-rate-limit"), Stage::Data)
    );
    let (mut r, _) = receiver(json!({ "connection_limit": { "max": 1 } }));
    r.connect(at(0));
    assert!(matches!(r.connect(at(0)), ConnectAnswer::Rejected { .. }));
    let mail = json!({ "stages": { "rate_limit": "mail" } });
    let err = serde_json::from_value::<ReceiverConfig>(mail).unwrap_err();
    assert!(err.to_string().contains("unknown variant `mail`"), "{err}");
}

#[test]
fn deferral_episodes_defer_their_share_inside_their_windows_only() {
    let (mut r, book) = receiver(json!({
        "deferral_episodes": [
            { "from": "1h", "to": "2h", "probability": 0.25 },
            { "from": "3h", "to": "4h", "probability": 1.0, "reply": "yahoo-tss04" }
        ]
    }));
    let deferred = |r: &mut Receiver, from: u64, to: u64| {
        (from..to)
            .step_by(100)
            .filter(|&t| attempt(r, at(t)).kind == ReplyKind::Temporary)
            .count()
    };
    assert_eq!(deferred(&mut r, 0, HOUR), 0);
    // 36,000 transactions with p = 0.25: 9,000 expected, sd 82.
    let share = deferred(&mut r, HOUR, 2 * HOUR);
    assert!((8_750..=9_250).contains(&share), "{share}");
    assert_eq!(deferred(&mut r, 2 * HOUR, 3 * HOUR), 0);
    assert_eq!(deferred(&mut r, 3 * HOUR, 4 * HOUR), 36_000);
    assert_eq!(deferred(&mut r, 4 * HOUR, 5 * HOUR), 0);
    let inside = attempt(&mut r, at(3 * HOUR));
    assert_eq!(name(&book, inside.reply), Some("yahoo-tss04"));
    let (mut r, book) = receiver(json!({
        "deferral_episodes": [{ "from": "0s", "to": "1h", "probability": 1.0 }]
    }));
    let answer = attempt(&mut r, at(0));
    assert_eq!(name(&book, answer.reply), Some("generic-throttle"));
    assert_eq!(attempt(&mut r, at(HOUR)).kind, ReplyKind::Accepted);
}

#[test]
fn deferral_episodes_draw_nothing_outside_their_windows() {
    // The same stream with and without an episode later in time: identical answers before.
    let (mut plain, plain_book) = receiver(json!({ "transient_errors": { "probability": 0.3 } }));
    let (mut episodic, episodic_book) = receiver(json!({
        "transient_errors": { "probability": 0.3 },
        "deferral_episodes": [{ "from": "1h", "to": "2h", "probability": 0.5 }]
    }));
    for t in (0..HOUR).step_by(1000) {
        let (a, b) = (attempt(&mut plain, at(t)), attempt(&mut episodic, at(t)));
        assert_eq!((a.after, a.kind), (b.after, b.kind), "at {t}");
        assert_eq!(name(&plain_book, a.reply), name(&episodic_book, b.reply));
    }
}

#[test]
fn latency_is_sampled_per_answer() {
    let (mut r, _) = receiver(json!({
        "latency": { "uniform": { "min": "100ms", "max": "200ms" } },
        "connect_latency": { "exponential": { "mean": "50ms" } }
    }));
    let afters: Vec<u64> = (0..1000)
        .map(|t| attempt(&mut r, at(t)).after.as_millis())
        .collect();
    assert!(afters.iter().all(|a| (100..=200).contains(a)));
    assert!(afters.iter().any(|&a| a != afters[0]));
    assert!(matches!(r.connect(at(0)), ConnectAnswer::Greeted { .. }));
}

#[test]
fn the_design_example_parses_and_validates() {
    let yahoo = config(json!({
        "name": "yahoo", "domains": ["yahoo.com", "ymail.com"], "share": 0.2,
        "latency": { "lognormal": { "median": "400ms", "sigma": 0.6 } },
        "connect_latency": "100ms",
        "connection_limit": { "max": 10, "over_limit": "reject", "reply": "421 4.7.0 [TSS09] too many connections" },
        "rate_limit": { "rate": "1000/h", "burst": 100, "strict": false, "reply": "yahoo-ts02" },
        "reputation": { "initial": 0.8, "baseline": 0.8, "recovery_per_hour": 0.05,
                        "penalty_per_ignored_deferral": 0.002, "penalty_per_complaint": 0.05,
                        "penalty_per_unknown_user": 0.01, "throttle_below": 0.6,
                        "block_below": 0.2, "unblock_above": 0.4,
                        "throttle_reply": "yahoo-ts01", "block_reply": "microsoft-s3150" },
        "greylisting": { "min_delay": "5m" },
        "outages": [ { "from": "6h", "to": "8h", "mode": "timeout" } ],
        "transient_errors": { "probability": 0.01 },
        "unknown_user_rate": 0.02,
        "complaint_rate": 0.001,
        "max_messages_per_connection": 50
    }));
    assert_eq!(check(&yahoo), Ok(()));
    let round_trip: ReceiverConfig =
        serde_json::from_str(&serde_json::to_string(&yahoo).unwrap()).unwrap();
    assert_eq!(round_trip, yahoo);
    let generated: GeneratedReceivers = serde_json::from_value(json!({
        "count": 10000, "share": 0.3, "zipf_exponent": 1.1,
        "template": { "latency": { "fixed": "300ms" } }
    }))
    .unwrap();
    assert_eq!(check_population(&generated), Ok(()));
}

#[test]
fn unknown_fields_are_refused() {
    let err = serde_json::from_value::<ReceiverConfig>(json!({ "nmae": "x" })).unwrap_err();
    assert!(err.to_string().contains("unknown field `nmae`"), "{err}");
    let err = serde_json::from_value::<ReceiverConfig>(
        json!({ "reputation": { "baseline": 1, "floor": 0 } }),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `floor`"), "{err}");
}

/// A listed receiver named "r" on "r.example" with `extra` merged in.
fn listed(extra: Value) -> ReceiverConfig {
    let mut base = json!({ "name": "r", "domains": ["r.example"] });
    for (key, value) in extra.as_object().unwrap() {
        base[key] = value.clone();
    }
    config(base)
}

#[test]
fn validation_names_the_refused_value() {
    let cases = [
        (json!({ "name": " " }), "name"),
        (json!({ "domains": [] }), "domains"),
        (
            json!({ "domains": ["a.example", "A.example"] }),
            "domains[1]",
        ),
        (json!({ "domains": ["user@a.example"] }), "domains[0]"),
        (json!({ "share": -1.0 }), "share"),
        (
            json!({ "latency": { "uniform": { "min": "2s", "max": "1s" } } }),
            "latency.uniform.max",
        ),
        (
            json!({ "connection_limit": { "max": 0 } }),
            "connection_limit.max",
        ),
        (
            json!({ "connection_limit": { "max": 1, "backlog": 3 } }),
            "connection_limit.backlog",
        ),
        (
            json!({ "connection_limit": { "max": 1, "reply": "550 5.7.1 go away" } }),
            "connection_limit.reply",
        ),
        (
            json!({ "rate_limit": { "rate": "1/s", "burst": 0 } }),
            "rate_limit.burst",
        ),
        (
            json!({ "rate_limit": { "rate": "1/s", "reply": "microsoft-s3150" } }),
            "rate_limit.reply",
        ),
        (
            json!({ "rate_limit": { "rate": "1/s", "reply": "no-such-reply" } }),
            "rate_limit.reply",
        ),
        (
            json!({ "reputation": { "initial": 1.5 } }),
            "reputation.initial",
        ),
        (
            json!({ "reputation": { "block_below": 0.5, "unblock_above": 0.4 } }),
            "reputation.block_below",
        ),
        (
            json!({ "reputation": { "throttle_below": 0.1 } }),
            "reputation.throttle_below",
        ),
        (
            json!({ "reputation": { "baseline": 0.3 } }),
            "reputation.unblock_above",
        ),
        (
            json!({ "reputation": { "recovery_per_hour": -1.0 } }),
            "reputation.recovery_per_hour",
        ),
        (
            json!({ "reputation": { "block_reply": "accepted" } }),
            "reputation.block_reply",
        ),
        (
            json!({ "reputation": { "throttle_reply": "user-unknown" } }),
            "reputation.throttle_reply",
        ),
        (
            json!({ "greylisting": { "reply": "250 ok" } }),
            "greylisting.reply",
        ),
        (
            json!({ "outages": [ { "from": "1h", "to": "2h", "mode": "refuse" },
                                 { "from": "3h", "to": "3h", "mode": "refuse" } ] }),
            "outages[1].to",
        ),
        (
            json!({ "outages": [ { "from": "1h", "to": "2h", "mode": "refuse" },
                                 { "from": "90m", "to": "3h", "mode": "timeout" } ] }),
            "outages[1].from",
        ),
        (
            json!({ "outages": [ { "from": "1h", "to": "2h", "mode": "refuse", "reply": "generic-451" } ] }),
            "outages[0].reply",
        ),
        (
            json!({ "deferral_episodes": [ { "from": "2h", "to": "1h", "probability": 0.1 } ] }),
            "deferral_episodes[0].to",
        ),
        (
            json!({ "deferral_episodes": [ { "from": "1h", "to": "2h", "probability": 1.1 } ] }),
            "deferral_episodes[0].probability",
        ),
        (
            json!({ "deferral_episodes": [ { "from": "1h", "to": "2h", "probability": 0.1 },
                                           { "from": "90m", "to": "3h", "probability": 0.1 } ] }),
            "deferral_episodes[1].from",
        ),
        (
            json!({ "deferral_episodes": [ { "from": "1h", "to": "2h", "probability": 0.1,
                                             "reply": "user-unknown" } ] }),
            "deferral_episodes[0].reply",
        ),
        (
            json!({ "transient_errors": { "probability": 1.5 } }),
            "transient_errors.probability",
        ),
        (json!({ "unknown_user_rate": -0.1 }), "unknown_user_rate"),
        (json!({ "complaint_rate": 2.0 }), "complaint_rate"),
        (
            json!({ "max_messages_per_connection": 0 }),
            "max_messages_per_connection",
        ),
    ];
    for (extra, path) in cases {
        let err = check(&listed(extra.clone())).expect_err(&extra.to_string());
        assert_eq!(err.path, path, "{extra}: {err}");
    }
    let err = check(&config(json!({ "name": "r" }))).unwrap_err();
    assert_eq!(err.path, "domains");
    let err = check(&config(json!({ "domains": ["r.example"] }))).unwrap_err();
    assert_eq!(err.path, "name");
}

#[test]
fn templates_and_populations_are_validated() {
    assert_eq!(
        check_template(&config(json!({ "complaint_rate": 0.1 }))),
        Ok(())
    );
    assert_eq!(
        check_template(&config(json!({ "name": "x" })))
            .unwrap_err()
            .path,
        "name"
    );
    assert_eq!(
        check_template(&config(json!({ "share": 1.0 })))
            .unwrap_err()
            .path,
        "share"
    );
    let population = |extra: Value| -> GeneratedReceivers {
        let mut base = json!({ "count": 10, "share": 0.3 });
        for (key, value) in extra.as_object().unwrap() {
            base[key] = value.clone();
        }
        serde_json::from_value(base).unwrap()
    };
    assert_eq!(population(json!({})).zipf_exponent, 1.0);
    assert_eq!(
        population(json!({ "count": 0 }))
            .validate()
            .unwrap_err()
            .path,
        "count"
    );
    assert_eq!(
        population(json!({ "count": 1_000_001 }))
            .validate()
            .unwrap_err()
            .path,
        "count"
    );
    assert_eq!(
        population(json!({ "zipf_exponent": -1.0 }))
            .validate()
            .unwrap_err()
            .path,
        "zipf_exponent"
    );
    let bad_template =
        population(json!({ "template": { "rate_limit": { "rate": "1/s", "burst": 0 } } }));
    assert_eq!(
        check_population(&bad_template).unwrap_err().path,
        "template.rate_limit.burst"
    );
}

#[test]
fn construction_refuses_an_invalid_configuration() {
    let bad = config(json!({ "reputation": { "block_reply": "250 2.0.0 not a block" } }));
    let err = Behaviour::compile(&bad, &mut ReplyBook::new()).unwrap_err();
    assert_eq!(err.path, "reputation.block_reply");
}

#[test]
fn receivers_are_small() {
    // 100,000 of them must fit comfortably in memory.
    assert!(
        std::mem::size_of::<Receiver>() <= 512,
        "{}",
        std::mem::size_of::<Receiver>()
    );
}

#[test]
fn parse_errors_carry_the_json_path() {
    let text = r#"{ "latency": { "lognormal": { "median": "1s", "sigma": "wide" } } }"#;
    let mut de = serde_json::Deserializer::from_str(text);
    let err = serde_path_to_error::deserialize::<_, ReceiverConfig>(&mut de).unwrap_err();
    assert_eq!(err.path().to_string(), "latency.lognormal.sigma");
    let text = r#"{ "outages": [ { "from": "1h", "to": "2 fortnights", "mode": "refuse" } ] }"#;
    let mut de = serde_json::Deserializer::from_str(text);
    let err = serde_path_to_error::deserialize::<_, ReceiverConfig>(&mut de).unwrap_err();
    assert_eq!(err.path().to_string(), "outages[0].to");
}

#[test]
fn the_schema_describes_every_section() {
    let schema = serde_json::to_string(&schemars::schema_for!(GeneratedReceivers)).unwrap();
    for needle in [
        "lognormal",
        "over_limit",
        "deferral_memory",
        "tempfail",
        "deferral_episodes",
        "Default \\\"5m\\\"",
    ] {
        assert!(schema.contains(needle), "{needle} missing from the schema");
    }
}
