//! transitions.csv's rows: every flow-control state change, with its reason in words.

use super::TransitionRecord;
use crate::flow_control::Transition;
use crate::mta::observe::Observer;
use crate::mta::world::{DestinationId, World};

/// Collects every transition of every destination.
#[derive(Debug, Default)]
pub struct TransitionLog {
    records: Vec<TransitionRecord>,
}

impl TransitionLog {
    pub fn into_records(self) -> Vec<TransitionRecord> {
        self.records
    }
}

impl Observer for TransitionLog {
    fn transition(&mut self, world: &World, d: DestinationId, transition: &Transition) {
        self.records.push(TransitionRecord {
            time: transition.at,
            destination: world.destination_name(d).to_owned(),
            from: transition.from,
            to: transition.to,
            reason: transition.reason.to_string(),
        });
    }
}
