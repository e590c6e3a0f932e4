//! Criterion benchmarks: the event queue alone (hold model) and whole scenarios on the
//! scale ladder (the state machine has its own, in crates/flow-control). `cargo bench`;
//! `cargo test` runs each once.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::Rng;

use mtasim::engine::{self, Model, Scheduler};
use mtasim::rng::{Stream, stream};
use mtasim::scenario;
use mtasim::sim::{self, RunOptions};
use mtasim::units::{Instant, Span};

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
            scheduler.after(Span::from_millis(delay), event);
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
                            scheduler.at(
                                Instant::from_millis(rng.random_range(0..2_000_000)),
                                i as u32,
                            );
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
                        black_box(engine::run(
                            &mut model,
                            &mut scheduler,
                            Instant::NEVER,
                            || true,
                        ));
                    },
                    BatchSize::LargeInput,
                );
            },
        );
    }
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

criterion_group!(benches, event_queue, scenarios);
criterion_main!(benches);
