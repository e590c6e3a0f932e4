//! Writes a synthetic Postfix maillog, or reads logs and counts outcomes per recipient
//! domain the way pflogsumm's "Host/Domain Summary" does — for the comparison in
//! docs/PERFORMANCE.md.
//!
//! ```text
//! cargo run --release --example maillog -- write maillog 500000
//! cargo run --release --example maillog -- count maillog
//! ```

use std::io::{BufWriter, Write};
use std::time::Instant;

use mtasim::logs::destinations::Providers;
use mtasim::logs::write::synthetic::{Event, Synthetic};
use mtasim::logs::write::{PostfixStyle, PostfixWriter};
use mtasim::logs::{Kind, LogReader, ReadOptions, UnixMillis};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("write") if args.len() == 3 => write(&args[1], args[2].parse()?),
        Some("count") if args.len() >= 2 => count(&args[1..]),
        _ => Err("usage: maillog write FILE MESSAGES | maillog count FILE...".into()),
    }
}

fn write(path: &str, messages: u32) -> Result<(), Box<dyn std::error::Error>> {
    let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    // 2026-06-14T00:00:00Z
    let mut writer =
        PostfixWriter::new(out, UnixMillis(1_781_395_200_000), PostfixStyle::default());
    let mut synthetic = Synthetic::standard(messages, 1);
    synthetic.span = mtasim::units::Span::from_hours(20);
    let mut result = Ok(());
    synthetic.run(&Providers::builtin(), |event| {
        let r = match event {
            Event::Arrival(a) => writer.arrival(a),
            Event::Attempt(a) => writer.attempt(a),
            Event::Expiry(e) => writer.expiry(e),
            Event::Removal(r) => writer.removal(r),
        };
        if result.is_ok() {
            result = r;
        }
    });
    result?;
    writer.finish()?.flush()?;
    Ok(())
}

#[derive(Default)]
struct Counts {
    delivered: u64,
    deferred: u64,
    bounced: u64,
    expired: u64,
}

fn count(paths: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let options = ReadOptions {
        year: Some(2026),
        ..ReadOptions::default()
    };
    let mut reader = LogReader::open(paths, options)?;
    let mut by_domain: Vec<Counts> = Vec::new();
    while let Some(o) = reader.next_outcome()? {
        if by_domain.len() <= o.domain.index() {
            by_domain.resize_with(o.domain.index() + 1, Counts::default);
        }
        let c = &mut by_domain[o.domain.index()];
        match o.kind {
            Kind::Delivered => c.delivered += 1,
            Kind::Deferred | Kind::Held => c.deferred += 1,
            Kind::Bounced => c.bounced += 1,
            Kind::Expired => c.expired += 1,
            _ => {}
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = reader.stats();
    let symbols = reader.symbols();
    let mut rows: Vec<(&str, &Counts)> = by_domain
        .iter()
        .enumerate()
        .filter(|(_, c)| c.delivered + c.deferred + c.bounced + c.expired > 0)
        .map(|(i, c)| (symbols.text(symbols.nth(i)), c))
        .filter(|(d, _)| !d.is_empty())
        .collect();
    rows.sort_by_key(|(d, _)| *d);
    println!(
        "{:<20} {:>10} {:>10} {:>10} {:>10}",
        "domain", "delivered", "deferred", "bounced", "expired"
    );
    for (domain, c) in rows {
        println!(
            "{domain:<20} {:>10} {:>10} {:>10} {:>10}",
            c.delivered, c.deferred, c.bounced, c.expired
        );
    }
    println!(
        "lines read {}, parsed {}, skipped {}, malformed {}; {:.3} s, {:.2} M lines/s",
        stats.read,
        stats.parsed,
        stats.skipped,
        stats.malformed,
        elapsed,
        stats.read as f64 / elapsed / 1e6
    );
    Ok(())
}
