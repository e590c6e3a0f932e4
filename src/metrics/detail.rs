//! Which destinations are reported one by one (their own summary entry and time series):
//! every named receiver's, and the largest few of a generated population; the rest are
//! summed, so the outputs do not grow with the population. A presentation choice, made
//! here and not in the model.

use crate::mta::world::{DestinationId, World};

/// Generated receivers (by rank) whose destinations are reported one by one.
pub const GENERATED_DETAIL: u32 = 10;

/// The reported destinations, and for each destination where it is counted.
#[derive(Debug, Clone)]
pub struct Detail {
    /// The reported destinations, in destination order.
    reported: Vec<DestinationId>,
    /// Per destination: its position in `reported`, or `reported.len()` for the rest.
    group: Box<[u32]>,
}

impl Detail {
    /// Named receivers' destinations and those of the first [`GENERATED_DETAIL`] generated
    /// receivers.
    pub fn choose(world: &World) -> Detail {
        let limit = world.named_receivers + GENERATED_DETAIL;
        let reported: Vec<DestinationId> = world
            .destination_ids()
            .filter(|&d| world.destination(d).receiver.0 < limit)
            .collect();
        let mut group = vec![reported.len() as u32; world.destinations.len()];
        for (i, d) in reported.iter().enumerate() {
            group[d.index()] = i as u32;
        }
        Detail {
            reported,
            group: group.into(),
        }
    }

    /// The reported destinations, in order.
    pub fn reported(&self) -> &[DestinationId] {
        &self.reported
    }

    /// Where `d` is counted: its own position among the reported, or the one after the
    /// last for every other destination.
    #[inline]
    pub fn group(&self, d: DestinationId) -> usize {
        self.group[d.index()] as usize
    }

    /// Groups: one per reported destination, then the others.
    pub fn groups(&self) -> usize {
        self.reported.len() + 1
    }
}
