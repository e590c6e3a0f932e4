//! Arbitrary bytes as a KumoMta log never panic the reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtasim::logs::{LogReader, ReadOptions};
use mtasim::MtaKind;

fuzz_target!(|data: &[u8]| {
    let inputs: Vec<(String, Box<dyn std::io::BufRead>, _)> =
        vec![("fuzz".to_string(), Box::new(std::io::Cursor::new(data.to_vec())), None)];
    let options = ReadOptions {
        format: Some(MtaKind::KumoMta),
        year: Some(2026),
        ..ReadOptions::default()
    };
    if let Ok(mut reader) = LogReader::from_readers(inputs, options) {
        while let Ok(Some(_)) = reader.next_outcome() {
            let _ = reader.record();
        }
    }
});
