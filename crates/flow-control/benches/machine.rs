//! Criterion benchmarks of the state machine's hot calls: what an MTA pays per delivery.
//! `cargo bench -p mta-flow-control`; `cargo test` runs each once.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use mta_flow_control::{
    Attempt, FlowControl, FlowControlConfig, Instant, OutcomeClass, Policy, ReplyMatch, Span,
};

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
    let step = Span::from_millis(100);
    group.bench_function("record_outcome", |b| {
        let mut flow = FlowControl::new(policy.clone(), Instant::ZERO);
        let mut now = Instant::ZERO;
        b.iter(|| {
            now += step;
            black_box(flow.record(now, black_box(delivered)))
        });
    });
    group.bench_function("permit_check", |b| {
        let mut flow = FlowControl::new(policy.clone(), Instant::ZERO);
        let mut now = Instant::ZERO;
        b.iter(|| {
            now += step;
            black_box(flow.permit(now, black_box(3)))
        });
    });
    group.bench_function("classify_reply_once", |b| {
        let reply = "421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred";
        b.iter(|| black_box(policy.classify(black_box(reply))));
    });
    group.finish();
}

criterion_group!(benches, flow_control);
criterion_main!(benches);
