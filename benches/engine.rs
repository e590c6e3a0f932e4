//! Criterion benchmarks: the event queue alone (hold model), the flow-control state machine,
//! and whole scenarios on the scale ladder. `cargo bench`; `cargo test` runs each once.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::Rng;

use mtasim::engine::{self, Model, Scheduler};
use mtasim::flow_control::config::FlowControlConfig;
use mtasim::flow_control::{Attempt, FlowControl, OutcomeClass, Policy, ReplyMatch};
use mtasim::rng::{Stream, stream};
use mtasim::scenario;
use mtasim::sim::{self, RunOptions};

/// The classic hold model: each event schedules one more at a random later time, so the
/// number of pending events stays constant.
struct Hold {
    rng: Stream,
    remaining: u64,
}

impl Model for Hold {
    type Event = u32;

    fn handle(&mut self, event: u32, scheduler: &mut Scheduler<u32>) {
        if self.remaining > 0 {
            self.remaining -= 1;
            let delay = self.rng.random_range(1..=2_000_000);
            scheduler.after(delay, event);
        }
    }
}

fn event_queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_queue_hold");
    // A million holds per iteration: ten samples give tight intervals in seconds.
    group.sample_size(10);
    const HOLDS: u64 = 1_000_000;
    for pending in [100u64, 10_000, 1_000_000] {
        group.throughput(Throughput::Elements(HOLDS));
        group.bench_with_input(
            BenchmarkId::from_parameter(pending),
            &pending,
            |b, &pending| {
                b.iter_batched(
                    || {
                        let mut rng = stream(1, "hold");
                        let mut scheduler = Scheduler::new();
                        for i in 0..pending {
                            scheduler.at(rng.random_range(0..2_000_000), i as u32);
                        }
                        (
                            Hold {
                                rng,
                                remaining: HOLDS,
                            },
                            scheduler,
                        )
                    },
                    |(mut model, mut scheduler)| {
                        black_box(engine::run(&mut model, &mut scheduler, u64::MAX, || true));
                    },
                    BatchSize::LargeInput,
                );
            },
        );
    }
    group.finish();
}

fn policy() -> Arc<Policy> {
    let config: FlowControlConfig = serde_json::from_str(
        r#"{ "max_rate": "600/min",
             "errors": { "window": "1m", "threshold": 10 },
             "rules": [ { "match": "\\[TSS04\\]", "action": "suspend", "duration": "2h" },
                        { "match": "4\\.7\\.28", "action": "backoff", "trigger": "2/1h", "duration": "30m" } ] }"#,
    )
    .expect("a valid flow-control section");
    Arc::new(Policy::new(&config).expect("a valid policy"))
}

fn flow_control(c: &mut Criterion) {
    let mut group = c.benchmark_group("flow_control");
    group.throughput(Throughput::Elements(1));
    let policy = policy();
    let delivered = Attempt {
        class: OutcomeClass::Delivered,
        matched: ReplyMatch::NONE,
        handshake: false,
    };
    group.bench_function("record_outcome", |b| {
        let mut flow = FlowControl::new(policy.clone(), 0);
        let mut now = 0;
        b.iter(|| {
            now += 100;
            black_box(flow.record(now, black_box(delivered)))
        });
    });
    group.bench_function("permit_check", |b| {
        let mut flow = FlowControl::new(policy.clone(), 0);
        let mut now = 0;
        b.iter(|| {
            now += 100;
            black_box(flow.permit(now, black_box(3)))
        });
    });
    group.bench_function("classify_reply_once", |b| {
        let reply = "421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred";
        b.iter(|| black_box(policy.classify(black_box(reply))));
    });
    group.finish();
}

/// The scale ladder: (messages, generated receivers).
const LADDER: [(u64, u64); 3] = [(10_000, 100), (100_000, 1_000), (1_000_000, 10_000)];

fn scenarios(c: &mut Criterion) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/scale.json"))
            .expect("scenarios/scale.json");
    let mut group = c.benchmark_group("scenario");
    group.sample_size(10);
    for (messages, receivers) in LADDER {
        let overrides = [
            format!("traffic.0.messages={messages}")
                .parse()
                .expect("override"),
            format!("generated_receivers.count={receivers}")
                .parse()
                .expect("override"),
        ];
        let scenario = scenario::load("scale.json", &text, &overrides).expect("a valid scenario");
        let events = sim::simulate(&scenario, RunOptions::default())
            .expect("runs")
            .stats
            .events;
        group.throughput(Throughput::Elements(messages));
        group.bench_function(
            BenchmarkId::new("messages", format!("{messages}-events-{events}")),
            |b| {
                b.iter(|| {
                    black_box(
                        sim::simulate(&scenario, RunOptions::default())
                            .expect("runs")
                            .stats
                            .events,
                    )
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, event_queue, flow_control, scenarios);
criterion_main!(benches);
