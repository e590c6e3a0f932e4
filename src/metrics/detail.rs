//! Which destinations are reported one by one (their own summary entry and time series):
//! every named receiver's, and the largest few of a generated population; the rest are
//! summed, so the outputs do not grow with the population. A presentation choice, made
//! here and not in the model.

use crate::mta::world::{DestinationId, World};

/// Generated receivers (by rank) whose destinations are reported one by one.
pub const GENERATED_DETAIL: u32 = 10;

/// The reported destinations. The world builds destinations in receiver order (named
/// receivers first, then the generated population by rank), so they are the first few
/// destinations, and where a destination is counted is arithmetic, not one more array
/// read (a cache miss per event at 10^6 destinations).
#[derive(Debug, Clone)]
pub struct Detail {
    /// The reported destinations, in destination order: `0..reported.len()`.
    reported: Vec<DestinationId>,
}

impl Detail {
    /// Named receivers' destinations and those of the first [`GENERATED_DETAIL`] generated
    /// receivers.
    pub fn choose(world: &World) -> Detail {
        let limit = world.named_receivers + GENERATED_DETAIL;
        let reported: Vec<DestinationId> = world
            .destination_ids()
            .take_while(|&d| world.destination(d).receiver.0 < limit)
            .collect();
        debug_assert!(
            world
                .destination_ids()
                .skip(reported.len())
                .all(|d| world.destination(d).receiver.0 >= limit),
            "destinations follow receiver order"
        );
        Detail { reported }
    }

    /// The reported destinations, in order.
    pub fn reported(&self) -> &[DestinationId] {
        &self.reported
    }

    /// Where `d` is counted: its own position among the reported, or the one after the
    /// last for every other destination.
    #[inline]
    pub fn group(&self, d: DestinationId) -> usize {
        d.index().min(self.reported.len())
    }

    /// Groups: one per reported destination, then the others.
    pub fn groups(&self) -> usize {
        self.reported.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two named receivers (one with three domains) and 30 generated ones, keyed `key`.
    fn world(key: &str) -> World {
        let text = format!(
            r#"{{"name": "t", "duration": "1h", "flow_control": {{"key": "{key}"}},
                "receivers": [{{"name": "a", "domains": ["a1.example", "a2.example", "a3.example"]}},
                              {{"name": "b", "domains": ["b.example"]}}],
                "generated_receivers": {{"count": 30, "share": 0.5}},
                "traffic": [{{"messages": 1}}]}}"#
        );
        World::build(&crate::scenario::load("t", &text, &[]).unwrap())
    }

    #[test]
    fn the_reported_are_every_destination_of_the_named_and_largest_generated() {
        for (key, reported) in [("receiver", 2 + 10), ("domain", 4 + 10)] {
            let world = world(key);
            let detail = Detail::choose(&world);
            assert_eq!(detail.reported().len(), reported, "{key}");
            assert_eq!(detail.groups(), reported + 1);
            for d in world.destination_ids() {
                let named_or_largest = world.destination(d).receiver.0 < 2 + GENERATED_DETAIL;
                let group = detail.group(d);
                if named_or_largest {
                    assert_eq!(detail.reported()[group], d, "{key} {d:?}");
                } else {
                    assert_eq!(group, reported, "{key} {d:?}");
                }
            }
        }
    }
}
