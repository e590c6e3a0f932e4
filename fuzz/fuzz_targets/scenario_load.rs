//! Feeds arbitrary bytes to the scenario loader, as `mtasim run` reads a file: it must
//! answer a scenario or an error, never panic. A loaded scenario must also build its
//! world (receivers, replies, flow-control policies) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtasim::mta::world::World;
use mtasim::scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(scenario) = scenario::load("fuzz.json", text, &[]) {
        let _ = World::build(&scenario);
    }
});
