//! Criterion benchmarks of the log readers (lines per second of Postfix, KumoMTA and
//! PowerMTA logs written by the synthetic stream) and of the Postfix writer. `cargo bench
//! --bench logs`; `cargo test` runs each once.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use mtasim::MtaKind;
use mtasim::logs::destinations::Providers;
use mtasim::logs::write::synthetic::{Event, Synthetic};
use mtasim::logs::write::{
    EventLog, EximWriter, KumoWriter, PmtaWriter, PostfixStyle, PostfixWriter,
};
use mtasim::logs::{LogReader, ReadOptions, UnixMillis};

const START: UnixMillis = UnixMillis(1_781_395_200_000);

fn replay(synthetic: &Synthetic, writer: &mut dyn EventLog) {
    synthetic.run(&Providers::builtin(), |event| {
        match event {
            Event::Arrival(a) => writer.arrival(a),
            Event::Attempt(a) => writer.attempt(a),
            Event::Expiry(e) => writer.expiry(e),
            Event::Removal(r) => writer.removal(r),
        }
        .expect("writing to memory")
    });
    writer.flush().expect("writing to memory");
}

fn log(format: MtaKind, messages: u32) -> &'static [u8] {
    let synthetic = Synthetic::standard(messages, 1);
    let mut out = Vec::new();
    {
        let mut writer: Box<dyn EventLog + '_> = match format {
            MtaKind::Postfix => {
                Box::new(PostfixWriter::new(&mut out, START, PostfixStyle::default()))
            }
            MtaKind::KumoMta => Box::new(KumoWriter::new(&mut out, START)),
            MtaKind::Pmta => Box::new(PmtaWriter::new(&mut out, START).expect("memory")),
            MtaKind::Exim => Box::new(EximWriter::new(&mut out, START)),
        };
        replay(&synthetic, writer.as_mut());
    }
    Box::leak(out.into_boxed_slice())
}

/// Reads a whole log, returning the outcome count.
fn read(log: &'static [u8]) -> u64 {
    let inputs: Vec<(String, Box<dyn std::io::BufRead + Send>, _)> =
        vec![("bench".to_string(), Box::new(log), None)];
    let options = ReadOptions {
        year: Some(2026),
        ..ReadOptions::default()
    };
    let mut reader = LogReader::from_readers(inputs, options).expect("a log");
    let mut n = 0;
    while let Some(o) = reader.next_outcome().expect("a readable log") {
        n += black_box(o).line & 1;
    }
    n
}

fn readers(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_log");
    group.sample_size(10);
    for (name, format) in [
        ("postfix", MtaKind::Postfix),
        ("kumomta", MtaKind::KumoMta),
        ("pmta", MtaKind::Pmta),
        ("exim", MtaKind::Exim),
    ] {
        let log = log(format, 40_000);
        let lines = log.iter().filter(|&&b| b == b'\n').count() as u64;
        group.throughput(Throughput::Elements(lines));
        group.bench_function(name, |b| b.iter(|| read(log)));
    }
    group.finish();
}

fn writers(c: &mut Criterion) {
    let mut group = c.benchmark_group("write_log");
    group.sample_size(10);
    let synthetic = Synthetic::standard(10_000, 1);
    let lines = log(MtaKind::Postfix, 10_000)
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64;
    group.throughput(Throughput::Elements(lines));
    group.bench_function("postfix", |b| {
        let mut out = Vec::with_capacity(8 << 20);
        b.iter(|| {
            out.clear();
            let mut writer = PostfixWriter::new(&mut out, START, PostfixStyle::default());
            replay(&synthetic, &mut writer);
        })
    });
    group.finish();
}

criterion_group!(benches, readers, writers);
criterion_main!(benches);
