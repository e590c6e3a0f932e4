//! Property tests: random valid scenarios run to their end, and every run's results must
//! be consistent. The model's own invariants (src/mta/invariants.rs: clock, concurrency
//! and connection caps, nothing started while suspended, one record per permit, one
//! place per message, no early retry) are checked as it runs, since tests build with
//! debug assertions; a broken one panics and proptest shrinks the scenario.
//!
//! Cases: 1000 for the invariants, 64 for determinism, 256 for each loader property by
//! default (a few seconds in all); for a long
//! run, `PROPTEST_CASES=5000 cargo test --test integration properties::`.

use std::collections::BTreeMap;

use mtasim::metrics::{DestinationSummary, Sample};
use mtasim::output;
use mtasim::replies::catalogue;
use mtasim::scenario;
use mtasim::sim::{RunOptions, RunResult, simulate};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Scenarios are built from many choices; do not give up on rejections.
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

fn ms(n: u64) -> String {
    format!("{n}ms")
}

fn secs(n: u64) -> String {
    format!("{n}s")
}

fn replies(low: u16, high: u16) -> Vec<&'static str> {
    catalogue()
        .iter()
        .filter(|e| (low..high).contains(&e.code))
        .map(|e| e.name)
        .collect()
}

fn temporary_reply() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        select(replies(400, 500)).prop_map(String::from),
        Just("452 4.2.2 mailbox busy [LITERAL]".to_string()),
    ])
}

fn latency() -> impl Strategy<Value = Value> {
    prop_oneof![
        (1u64..2_000).prop_map(|m| json!(ms(m))),
        (1u64..2_000).prop_map(|m| json!({ "fixed": ms(m) })),
        (1u64..2_000, 0.0f64..1.5)
            .prop_map(|(m, s)| json!({ "lognormal": { "median": ms(m), "sigma": s } })),
        (0u64..1_000, 0u64..3_000)
            .prop_map(|(a, b)| json!({ "uniform": { "min": ms(a.min(b)), "max": ms(a.max(b)) } })),
        (1u64..2_000).prop_map(|m| json!({ "exponential": { "mean": ms(m) } })),
    ]
}

fn connection_limit() -> impl Strategy<Value = Value> {
    prop_oneof![
        (1u32..6, temporary_reply()).prop_map(|(max, reply)| {
            let mut v = json!({ "max": max, "over_limit": "reject" });
            if let Some(reply) = reply {
                v["reply"] = json!(reply);
            }
            v
        }),
        (1u32..6, proptest::option::of(0u32..5)).prop_map(|(max, backlog)| {
            let mut v = json!({ "max": max, "over_limit": "queue" });
            if let Some(backlog) = backlog {
                v["backlog"] = json!(backlog);
            }
            v
        }),
    ]
}

fn rate(low: u64, high: u64) -> impl Strategy<Value = String> {
    (low..high, select(vec!["s", "min", "h"])).prop_map(|(n, unit)| format!("{n}/{unit}"))
}

fn rate_limit() -> impl Strategy<Value = Value> {
    (
        rate(1, 600),
        proptest::option::of(1u64..50),
        any::<bool>(),
        temporary_reply(),
    )
        .prop_map(|(rate, burst, strict, reply)| {
            let mut v = json!({ "rate": rate, "strict": strict });
            if let Some(burst) = burst {
                v["burst"] = json!(burst);
            }
            if let Some(reply) = reply {
                v["reply"] = json!(reply);
            }
            v
        })
}

fn reputation() -> impl Strategy<Value = Value> {
    // block < unblock < baseline, block <= throttle.
    (
        0.0f64..0.3,
        0.05f64..0.3,
        0.05f64..0.4,
        0.0f64..0.5,
        0.0f64..1.0,
        (0.0f64..0.05, 0.0f64..0.2, 0.0f64..0.1),
        (
            select(replies(400, 500)),
            select(replies(500, 600)),
            1u64..600,
        ),
    )
        .prop_map(
            |(
                block,
                gap,
                gap2,
                throttle_extra,
                initial,
                penalties,
                (throttle_reply, block_reply, memory),
            )| {
                let unblock = block + gap;
                let baseline = (unblock + gap2).min(1.0);
                let throttle = (block + throttle_extra).min(1.0);
                json!({
                    "initial": initial,
                    "baseline": baseline,
                    "recovery_per_hour": 0.05,
                    "penalty_per_ignored_deferral": penalties.0,
                    "penalty_per_complaint": penalties.1,
                    "penalty_per_unknown_user": penalties.2,
                    "throttle_below": throttle,
                    "block_below": block,
                    "unblock_above": unblock,
                    "deferral_memory": secs(memory),
                    "throttle_reply": throttle_reply,
                    "block_reply": block_reply,
                })
            },
        )
}

/// Zero to two non-overlapping outages within `hours` hours.
fn outages(hours: u64) -> impl Strategy<Value = Value> {
    let end = hours * 3_600;
    let outage = move |low: u64, high: u64| {
        (low..high, 1u64..(high - low).max(2), select(vec!["refuse", "timeout", "tempfail"]))
            .prop_map(move |(from, len, mode)| {
                json!({ "from": secs(from), "to": secs((from + len).min(high).max(from + 1)), "mode": mode })
            })
    };
    prop_oneof![
        Just(json!([])),
        outage(0, end).prop_map(|o| json!([o])),
        (outage(0, end / 2), outage(end / 2 + 1, end)).prop_map(|(a, b)| json!([a, b])),
    ]
}

/// Behaviour fields shared by named receivers and the generated template.
fn behaviour(hours: u64) -> impl Strategy<Value = serde_json::Map<String, Value>> {
    (
        (
            proptest::option::weighted(0.3, latency()),
            proptest::option::weighted(0.3, latency()),
            proptest::option::weighted(0.3, connection_limit()),
            proptest::option::weighted(0.3, rate_limit()),
            proptest::option::weighted(0.3, reputation()),
        ),
        (
            proptest::option::weighted(0.3, (1u64..1_800, temporary_reply())),
            outages(hours),
            proptest::option::weighted(0.3, (0.0f64..0.5, temporary_reply())),
            prop_oneof![Just(0.0), 0.0f64..0.2],
            prop_oneof![Just(0.0), 0.0f64..0.05],
            proptest::option::weighted(0.3, 1u32..20),
        ),
    )
        .prop_map(
            |(
                (latency, connect_latency, connection_limit, rate_limit, reputation),
                (greylisting, outages, transient, unknown, complaints, per_connection),
            )| {
                let mut r = serde_json::Map::new();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        r.insert(k.to_string(), v);
                    }
                };
                put("latency", latency);
                put("connect_latency", connect_latency);
                put("connection_limit", connection_limit);
                put("rate_limit", rate_limit);
                put("reputation", reputation);
                put(
                    "greylisting",
                    greylisting.map(|(delay, reply)| {
                        let mut g = json!({ "min_delay": secs(delay) });
                        if let Some(reply) = reply {
                            g["reply"] = json!(reply);
                        }
                        g
                    }),
                );
                put("outages", Some(outages));
                put(
                    "transient_errors",
                    transient.map(|(p, reply)| {
                        let mut t = json!({ "probability": p });
                        if let Some(reply) = reply {
                            t["reply"] = json!(reply);
                        }
                        t
                    }),
                );
                put("unknown_user_rate", Some(json!(unknown)));
                put("complaint_rate", Some(json!(complaints)));
                put(
                    "max_messages_per_connection",
                    per_connection.map(|n| json!(n)),
                );
                r
            },
        )
}

fn receivers(hours: u64) -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec(
        (
            behaviour(hours),
            1usize..4,
            prop_oneof![Just(None), Just(Some(0.0)), (0.01f64..5.0).prop_map(Some)],
        ),
        1..=6,
    )
    .prop_map(|list| {
        let any_share = list.iter().any(|(_, _, s)| s != &Some(0.0));
        list.into_iter()
            .enumerate()
            .map(|(i, (mut r, domains, share))| {
                r.insert("name".into(), json!(format!("r{i}")));
                let domains: Vec<String> =
                    (0..domains).map(|j| format!("d{j}.r{i}.example")).collect();
                r.insert("domains".into(), json!(domains));
                // Keep the shares' sum above 0.
                let share = if any_share { share } else { Some(1.0) };
                if let Some(share) = share {
                    r.insert("share".into(), json!(share));
                }
                Value::Object(r)
            })
            .collect()
    })
}

fn feedback() -> impl Strategy<Value = String> {
    select(vec![
        "1",
        "1/concurrency",
        "1/sqrt(concurrency)",
        "0.5",
        "0.1",
    ])
    .prop_map(String::from)
}

/// A rule matching part of a catalogue reply (or a tag), with any action and trigger.
fn rule() -> impl Strategy<Value = Value> {
    let patterns = vec![
        r"\[TSS04\]",
        r"\[TS0[1-3]\]",
        r"4\.7\.28",
        r"4\.7\.650",
        r"S3150",
        "Greylisted",
        "(?i)too many connections",
        "timed out",
        "Connection refused",
        "Internal error",
        "^4",
    ];
    (
        prop_oneof![
            select(patterns).prop_map(String::from),
            (0..catalogue().len(), 4usize..24).prop_map(|(i, n)| {
                let text = catalogue()[i].text;
                regex::escape(&text[..n.min(text.len())])
            }),
        ],
        select(vec!["backoff", "suspend", "bounce", "ignore", "set"]),
        prop_oneof![Just(None), (1u32..5, 10u64..3_600).prop_map(Some)],
        1u64..7_200,
        (
            proptest::option::of(1u32..4),
            proptest::option::of(rate(1, 100)),
        ),
    )
        .prop_map(|(pattern, action, trigger, duration, (conc, max_rate))| {
            let mut r = json!({ "match": pattern, "action": action, "duration": secs(duration) });
            if let Some((n, period)) = trigger {
                r["trigger"] = json!(format!("{n}/{period}s"));
            }
            if action == "set" {
                let mut set = json!({});
                let conc = if max_rate.is_none() {
                    conc.or(Some(1))
                } else {
                    conc
                };
                if let Some(c) = conc {
                    set["concurrency"] = json!(c);
                }
                if let Some(rate) = max_rate {
                    set["max_rate"] = json!(rate);
                }
                r["set"] = set;
            }
            r
        })
}

fn flow_control() -> impl Strategy<Value = Value> {
    let classes = [
        "delivered",
        "tempfail",
        "permfail",
        "connect",
        "timeout",
        "internal",
    ];
    (
        (
            select(vec!["receiver", "domain"]),
            (1u32..5, 0u32..20, feedback(), feedback(), 0u32..3, 1u64..900),
            proptest::option::of(rate(1, 2_000)),
            (1u64..600, 0u32..12, proptest::sample::subsequence(classes.to_vec(), 1..=6)),
        ),
        (
            (1u32..4, proptest::option::of(rate(1, 200)), 0u64..3_600, 1u64..7_200, any::<bool>()),
            (any::<bool>(), 1u32..5, 1u64..1_800),
            (0u32..4, 1u64..21_600, 1u64..7_200, 1u32..4),
            proptest::collection::vec(rule(), 0..4),
        ),
    )
        .prop_map(
            |(
                (key, (initial, extra, positive, negative, cohorts, dead), max_rate, (window, threshold, count)),
                (
                    (b_conc, b_rate, retry_after, to_normal, after_delivery),
                    (ramp, steps, ramp_interval),
                    (after, within, duration, factor),
                    rules,
                ),
            )| {
                let mut fc = json!({
                    "key": key,
                    "concurrency": {
                        "initial": initial, "max": initial + extra,
                        "positive_feedback": positive, "negative_feedback": negative,
                        "failed_cohort_limit": cohorts, "dead_backoff": secs(dead),
                    },
                    "errors": { "window": secs(window), "threshold": threshold, "count": count },
                    "backoff": {
                        "concurrency": b_conc, "retry_after": secs(retry_after),
                        "to_normal_after": secs(to_normal),
                        "to_normal_after_delivery": after_delivery,
                        "recovery": if ramp { "ramp" } else { "snap" },
                        "ramp_steps": steps, "ramp_interval": secs(ramp_interval),
                    },
                    "suspend": {
                        "after_backoffs": after, "within": secs(within),
                        "duration": secs(duration), "max_duration": secs(duration * u64::from(factor)),
                    },
                    "rules": rules,
                });
                if let Some(rate) = max_rate {
                    fc["max_rate"] = json!(rate);
                }
                if let Some(rate) = b_rate {
                    fc["backoff"]["max_rate"] = json!(rate);
                }
                fc
            },
        )
}

fn mta() -> impl Strategy<Value = Value> {
    (
        (1u32..40, 1u64..60, 1u64..600, 1u32..60, 0u64..10_000),
        (0.0f64..0.1, proptest::option::of((0u64..3_600, 1u64..3_600, 0.0f64..1.0))),
        (
            select(vec!["exponential", "intervals", "postfix"]),
            1u64..1_800,
            1.0f64..3.0,
            0u64..7_200,
            proptest::collection::vec(1u64..3_600, 1..4),
            select(vec!["none", "full", "equal", "decorrelated"]),
            600u64..21_600,
        ),
    )
        .prop_map(
            |(
                (max_connections, connect, greeting, per_connection, idle),
                (probability, window),
                (schedule, initial, factor, extra, intervals, jitter, max_age),
            )| {
                let windows: Vec<Value> = window
                    .map(|(from, len, p)| json!({ "from": secs(from), "to": secs(from + len), "probability": p }))
                    .into_iter()
                    .collect();
                json!({
                    "max_connections": max_connections,
                    "connect_timeout": secs(connect),
                    "greeting_timeout": secs(greeting),
                    "max_deliveries_per_connection": per_connection,
                    "session_idle_timeout": ms(idle),
                    "internal_errors": { "probability": probability, "windows": windows },
                    "retry": {
                        "schedule": schedule, "initial": secs(initial), "factor": factor,
                        "max": secs(initial + extra),
                        "intervals": intervals.into_iter().map(secs).collect::<Vec<_>>(),
                        "jitter": jitter, "max_age": secs(max_age),
                    },
                })
            },
        )
}

/// Up to three waves, a few hundred messages in all, within `hours` hours.
fn traffic(hours: u64) -> impl Strategy<Value = Value> {
    let end = hours * 3_600;
    proptest::collection::vec((0..end, 0u64..200, 0..end), 1..=3).prop_map(|waves| {
        json!(
            waves
                .into_iter()
                .map(|(start, messages, over)| json!({
                    "start": secs(start), "messages": messages, "over": secs(over)
                }))
                .collect::<Vec<_>>()
        )
    })
}

/// A random valid scenario, as JSON.
fn scenario() -> impl Strategy<Value = Value> {
    (1u64..=6)
        .prop_flat_map(|hours| {
            (
                Just(hours),
                (any::<u64>(), 30u64..3_600),
                mta(),
                flow_control(),
                receivers(hours),
                proptest::option::of((1u32..30, 0.0f64..2.0, behaviour(hours))),
                traffic(hours),
            )
        })
        .prop_map(
            |(hours, (seed, sample_every), mta, flow_control, receivers, generated, traffic)| {
                let mut s = json!({
                    "name": "prop",
                    "seed": seed,
                    "duration": format!("{hours}h"),
                    "sample_every": secs(sample_every),
                    "mta": mta,
                    "flow_control": flow_control,
                    "receivers": receivers,
                    "traffic": traffic,
                });
                if let Some((count, share, template)) = generated {
                    s["generated_receivers"] = json!({
                        "count": count, "share": share, "zipf_exponent": 1.1,
                        "template": Value::Object(template),
                    });
                }
                s
            },
        )
}

fn run(value: &Value) -> RunResult {
    let text = serde_json::to_string_pretty(value).unwrap();
    let scenario = scenario::load("prop.json", &text, &[])
        .unwrap_or_else(|e| panic!("generated an invalid scenario: {e}\n{text}"));
    simulate(&scenario, RunOptions::default()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn conserved(name: &str, d: &DestinationSummary) {
    assert_eq!(
        d.injected,
        d.delivered + d.bounced + d.expired + d.queued,
        "conservation for {name}"
    );
    // Every attempt ends in a delivery, a bounce or a deferral (expiry follows a deferral
    // or happens in the queue, without an attempt).
    assert_eq!(
        d.attempts,
        d.delivered + d.bounced + d.deferrals,
        "attempts of {name}"
    );
    assert_eq!(
        d.bounced,
        d.bounces_by_reason.values().sum::<u64>(),
        "{name}"
    );
    assert_eq!(
        d.deferrals,
        d.deferrals_by_reply.values().sum::<u64>(),
        "{name}"
    );
    assert!(d.dfc_held_messages <= d.dfc_holds, "{name}");
}

/// Interval counts summed over a destination's rows (or the `*` rows: `None`).
fn interval_sums(samples: &[Sample], destination: Option<u32>) -> [u64; 4] {
    samples
        .iter()
        .filter(|s| s.destination == destination)
        .fold([0; 4], |acc, s| {
            let c = s.counts;
            [
                acc[0] + c.delivered,
                acc[1] + c.deferred,
                acc[2] + c.bounced,
                acc[3] + c.attempts,
            ]
        })
}

fn counts(d: &DestinationSummary) -> [u64; 4] {
    [d.delivered, d.deferrals, d.bounced, d.attempts]
}

/// Everything a finished run must satisfy.
fn check(value: &Value, result: &RunResult) {
    let summary = &result.summary;
    let end = (summary.duration_s * 1000.0).round() as u64;

    // Conservation: totals, each destination, the rest, and their sums.
    conserved("totals", &summary.totals);
    let mut sum = [0u64; 7];
    let mut add = |d: &DestinationSummary| {
        for (s, v) in sum.iter_mut().zip([
            d.injected,
            d.delivered,
            d.bounced,
            d.expired,
            d.queued,
            d.attempts,
            d.deferrals,
        ]) {
            *s += v;
        }
    };
    for (name, d) in &summary.destinations {
        conserved(name, d);
        add(d);
        let t = d.time_in_state_s;
        let time = t.normal + t.backoff + t.suspended;
        assert!(
            (time - summary.duration_s).abs() < 1e-6,
            "{name}: time in states {time} s != duration {} s",
            summary.duration_s
        );
        assert!(d.latency_s.max <= summary.duration_s, "{name}");
    }
    if let Some(other) = &summary.other_destinations {
        conserved("other_destinations", &other.summary);
        add(&other.summary);
    }
    let t = &summary.totals;
    assert_eq!(
        sum,
        [
            t.injected,
            t.delivered,
            t.bounced,
            t.expired,
            t.queued,
            t.attempts,
            t.deferrals
        ],
        "destinations and other_destinations add up to the totals"
    );
    // Waves inject uniformly over `over`: message n at start + over * n / messages, if
    // that is not after the end.
    let seconds = |v: &Value| {
        v.as_str()
            .unwrap()
            .trim_end_matches('s')
            .parse::<u64>()
            .unwrap()
    };
    let injected: u64 = value["traffic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let (start, over) = (seconds(&w["start"]) * 1000, seconds(&w["over"]) * 1000);
            let messages = w["messages"].as_u64().unwrap();
            (0..messages)
                .filter(|n| start + over * n / messages <= end)
                .count() as u64
        })
        .sum();
    assert_eq!(t.injected, injected, "messages injected by the end");

    // The time series: intervals sum to the totals (the last sample is taken at the end,
    // after every event), times ordered, depths consistent.
    assert_eq!(interval_sums(&result.samples, None), counts(t), "`*` rows");
    for (i, name) in result.destinations.iter().enumerate() {
        assert_eq!(
            interval_sums(&result.samples, Some(i as u32)),
            counts(&summary.destinations[name]),
            "rows of {name}"
        );
    }
    let totals: Vec<&Sample> = result
        .samples
        .iter()
        .filter(|s| s.destination.is_none())
        .collect();
    assert_eq!(totals.first().map(|s| s.time.as_millis()), Some(0));
    assert_eq!(totals.last().map(|s| s.time.as_millis()), Some(end));
    assert!(result.samples.windows(2).all(|w| w[0].time <= w[1].time));
    let last = totals.last().unwrap();
    assert_eq!(last.ready + last.waiting + last.in_flight, t.queued);
    let max_connections = value["mta"]["max_connections"].as_u64().unwrap();
    let max_concurrency = value["flow_control"]["concurrency"]["max"]
        .as_u64()
        .unwrap();
    let destinations = summary.destinations.len() as u64
        + summary.other_destinations.as_ref().map_or(0, |o| o.count);
    let mut by_time: BTreeMap<u64, [u64; 3]> = BTreeMap::new();
    for s in &result.samples {
        match s.destination {
            Some(i) => {
                let name = &result.destinations[i as usize];
                assert!(
                    s.in_flight <= max_concurrency,
                    "{name} in flight at {}",
                    s.time.as_millis()
                );
                assert!(s.concurrency_limit.unwrap() as u64 <= max_concurrency);
                let depths = by_time.entry(s.time.as_millis()).or_default();
                depths[0] += s.ready;
                depths[1] += s.waiting;
                depths[2] += s.in_flight;
            }
            None => {
                assert!(
                    s.in_flight <= max_connections,
                    "in flight at {}",
                    s.time.as_millis()
                );
                assert!(s.in_backoff + s.suspended <= destinations);
                let parts = by_time
                    .get(&s.time.as_millis())
                    .copied()
                    .unwrap_or_default();
                let whole = [s.ready, s.waiting, s.in_flight];
                if summary.other_destinations.is_none() {
                    assert_eq!(
                        parts,
                        whole,
                        "destination rows add up to `*` at {}",
                        s.time.as_millis()
                    );
                } else {
                    assert!(parts.iter().zip(whole).all(|(p, w)| *p <= w));
                }
            }
        }
    }

    // Transitions: in time order, within the run, and matching the counters.
    assert!(
        result
            .transitions
            .windows(2)
            .all(|w| w[0].time <= w[1].time)
    );
    assert!(result.transitions.iter().all(|t| t.time.as_millis() <= end));
    for (name, d) in &summary.destinations {
        let mine = result.transitions.iter().filter(|t| &t.destination == name);
        let into = |state: &str| mine.clone().filter(|t| t.to.to_string() == state).count() as u64;
        assert_eq!(into("backoff"), d.backoff_entries, "{name} backoff entries");
        assert_eq!(into("suspended"), d.suspensions, "{name} suspensions");
        assert!(mine.clone().all(|t| t.from != t.to), "{name}");
    }
}

/// The generator is not vacuous: among 200 scenarios (a fixed seed), runs deliver,
/// bounce, expire, hold messages for flow control, back off, suspend, and have
/// destinations summed in `other_destinations`.
#[test]
fn generated_scenarios_exercise_the_model() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = scenario();
    let mut seen = [0u32; 7];
    for _ in 0..200 {
        let value = strategy.new_tree(&mut runner).unwrap().current();
        let result = run(&value);
        let t = &result.summary.totals;
        for (n, hit) in seen.iter_mut().zip([
            t.delivered > 0,
            t.bounced > 0,
            t.expired > 0,
            t.dfc_holds > 0,
            t.backoff_entries > 0,
            t.suspensions > 0,
            result.summary.other_destinations.is_some(),
        ]) {
            *n += u32::from(hit);
        }
    }
    assert!(
        seen.iter().all(|&n| n >= 10),
        "runs with delivered, bounced, expired, holds, backoffs, suspensions, others: {seen:?}"
    );
}

/// The three data files as bytes.
fn files(result: &RunResult) -> [Vec<u8>; 3] {
    let summary = serde_json::to_vec_pretty(&result.summary).unwrap();
    let mut timeseries = Vec::new();
    output::write_timeseries(result, &mut timeseries).unwrap();
    let mut transitions = Vec::new();
    output::write_transitions(result, &mut transitions).unwrap();
    [summary, timeseries, transitions]
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn random_scenarios_keep_every_invariant(value in scenario()) {
        let result = run(&value);
        check(&value, &result);
    }
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn random_scenarios_are_deterministic(value in scenario()) {
        let a = files(&run(&value));
        let b = files(&run(&value));
        prop_assert!(a == b, "two runs of the same scenario differ");
    }
}

// The loader never panics: arbitrary bytes, arbitrary JSON, and valid scenarios with one
// value replaced by anything (which reaches far deeper into validation). What loads must
// also build its world. (`fuzz/` has the cargo-fuzz target for long runs.)

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            ".*",
            "-?[0-9]{1,25}(ms|s|m|h|d|/s|/min|/h|/1h)?",
            Just("1h 30m".to_string()),
            Just("yahoo-ts01".to_string()),
            Just("(a+)+$".to_string()),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a value in `v` (object keys and array indices).
fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                prefix.push(k.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                prefix.push(i.to_string());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn replace(v: &mut Value, path: &[String], with: Value) {
    match path.split_first() {
        None => *v = with,
        Some((step, rest)) => {
            let child = match v {
                Value::Object(map) => map.get_mut(step),
                Value::Array(list) => step.parse().ok().and_then(|i: usize| list.get_mut(i)),
                _ => None,
            };
            if let Some(child) = child {
                replace(child, rest, with);
            }
        }
    }
}

fn load_never_panics(text: &str) {
    if let Ok(scenario) = scenario::load("fuzz.json", text, &[]) {
        let _ = mtasim::mta::world::World::build(&scenario);
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_the_loader(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        load_never_panics(&String::from_utf8_lossy(&bytes));
        // And through a file, as `mtasim run` reads it (UTF-8 checked there).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, &bytes).unwrap();
        let _ = scenario::load_file(&path, &[]);
    }

    #[test]
    fn arbitrary_json_never_panics_the_loader(value in any_json()) {
        load_never_panics(&value.to_string());
    }

    #[test]
    fn a_valid_scenario_with_one_value_replaced_never_panics_the_loader(
        value in scenario(),
        pick in any::<proptest::sample::Index>(),
        with in any_json(),
        delete in any::<bool>(),
    ) {
        let mut all = Vec::new();
        paths(&value, &mut Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        let mut mutated = value.clone();
        if delete && path.len() > 1 {
            // Remove the field or item instead.
            let (last, parent) = path.split_last().unwrap();
            let mut node = &mut mutated;
            for step in parent {
                node = match node {
                    Value::Object(map) => map.get_mut(step).unwrap(),
                    Value::Array(list) => &mut list[step.parse::<usize>().unwrap()],
                    _ => unreachable!(),
                };
            }
            match node {
                Value::Object(map) => { map.remove(last); }
                Value::Array(list) => { list.remove(last.parse::<usize>().unwrap()); }
                _ => unreachable!(),
            }
        } else {
            replace(&mut mutated, &path, with.clone());
        }
        let text = serde_json::to_string_pretty(&mutated).unwrap();
        load_never_panics(&text);
        // What still loads must run without breaking an invariant; the run is cut at
        // the engine's first poll (65,536 events), as Ctrl-C would.
        if let Ok(scenario) = scenario::load("fuzz.json", &text, &[]) {
            let options = RunOptions {
                max_messages: 5_000,
                keep_going: Box::new(|| false),
                ..RunOptions::default()
            };
            if let Err(e @ mtasim::sim::SimError::Internal(_)) = simulate(&scenario, options) {
                panic!("{e}\n{text}");
            }
        }
        // The same change as a --set override of the valid scenario.
        if !path.is_empty() && !delete {
            let text = serde_json::to_string_pretty(&value).unwrap();
            if let Ok(o) = format!("{}={}", path.join("."), with).parse::<scenario::Override>()
                && let Ok(scenario) = scenario::load("fuzz.json", &text, &[o])
            {
                let _ = mtasim::mta::world::World::build(&scenario);
            }
        }
    }
}
