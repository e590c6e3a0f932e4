//! The scenario file: what is simulated, parsed into typed configuration.
//!
//! [`parse`] turns JSON text (plus overrides) into a [`Scenario`]; [`compile`] checks what
//! it means and builds what the simulator runs on; [`load`] does both. Every failure is one
//! [`ScenarioError`] that names the JSON path and line:column of the problem.

mod compile;
mod load;
mod locate;
mod overrides;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use compile::{CompiledScenario, NamedReceiver, Population, Wave, compile};
pub use load::{OVERRIDE_ORIGIN, ScenarioError, load, load_file, parse, parse_file, schema};
pub use overrides::Override;

use crate::flow_control::FlowControlConfig;
use crate::mta::config::MtaConfig;
use crate::receiver::{GeneratedReceivers, ReceiverConfig};
use crate::units::Span;

/// The built-in default scenario, also shipped as `scenarios/default.json`.
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/default.json");

/// A complete simulation: the MTA, its flow control, the receivers and the traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Names the run and its output folder.
    pub name: String,
    /// What the scenario shows and what to look at.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The one seed every random stream derives from (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Simulated time to run.
    pub duration: Span,
    /// Interval between time-series samples (default 1m).
    #[serde(default = "default_sample_every")]
    pub sample_every: Span,
    #[serde(default)]
    pub mta: MtaConfig,
    #[serde(default)]
    pub flow_control: FlowControlConfig,
    /// Named receivers with their behaviour.
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    /// A population of anonymous receivers sharing a Zipf law.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_receivers: Option<GeneratedReceivers>,
    /// Written by `import-config`: what the MTA's configuration had that the scenario does
    /// not say exactly, for an export back to that MTA. Not part of the simulation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<crate::mta_config::ImportNotes>,
    /// Waves of messages injected uniformly over time.
    pub traffic: Vec<TrafficWave>,
}

fn default_sample_every() -> Span {
    Span::MINUTE
}

/// `messages` messages injected uniformly over `over`, starting at `start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrafficWave {
    #[serde(default)]
    pub start: Span,
    pub messages: u64,
    /// Spread of the wave; "0s" injects every message at `start`.
    #[serde(default)]
    pub over: Span,
}

impl Scenario {
    /// Messages injected over the whole run.
    pub fn total_messages(&self) -> u64 {
        self.traffic
            .iter()
            .map(|w| w.messages)
            .fold(0, u64::saturating_add)
    }
}
