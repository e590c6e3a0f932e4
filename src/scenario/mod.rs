//! The scenario file: what is simulated, parsed into typed configuration.
//!
//! [`load`] turns JSON text (plus `--set` overrides) into a [`Scenario`] or one
//! [`ScenarioError`] that names the JSON path and line:column of the problem.

mod load;
mod locate;
mod overrides;

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use load::{ScenarioError, load, load_file, schema};
pub use overrides::Override;

use crate::flow_control::FlowControlConfig;
use crate::mta::config::MtaConfig;
use crate::receiver::{GeneratedReceivers, ReceiverConfig};
use crate::units::Span;
use crate::validate::{self, Check, Invalid};

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
    /// Refuses a scenario that parsed but makes no sense, naming the first problem.
    pub fn validate(&self) -> Check {
        if self.name.trim().is_empty() {
            return Err(Invalid::new("name", "must not be empty"));
        }
        if self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            return Err(Invalid::new(
                "name",
                "is used as a folder name: no slashes and no leading dot",
            ));
        }
        validate::positive("duration", self.duration.as_millis(), "duration")?;
        validate::positive(
            "sample_every",
            self.sample_every.as_millis(),
            "sample_every",
        )?;
        self.mta.validate().map_err(|e| e.within("mta"))?;
        crate::flow_control::Policies::compile(&self.flow_control)
            .map(drop)
            .map_err(|e| e.within("flow_control"))?;
        self.validate_receivers()?;
        self.validate_traffic()
    }

    fn validate_receivers(&self) -> Check {
        let mut names = HashSet::new();
        let mut domains = HashSet::new();
        for (i, receiver) in self.receivers.iter().enumerate() {
            let at = format!("receivers[{i}]");
            receiver.validate().map_err(|e| e.within(&at))?;
            let name = receiver.name.as_deref().unwrap_or_default();
            if !names.insert(name) {
                return Err(Invalid::new(
                    format!("{at}.name"),
                    format!("duplicate receiver name {name:?}"),
                ));
            }
            for (j, domain) in receiver.domains.iter().enumerate() {
                if !domains.insert(domain.as_str()) {
                    return Err(Invalid::new(
                        format!("{at}.domains[{j}]"),
                        format!("domain {domain:?} belongs to two receivers"),
                    ));
                }
            }
        }
        let generated_share = match &self.generated_receivers {
            Some(generated) => {
                generated
                    .validate()
                    .map_err(|e| e.within("generated_receivers"))?;
                generated.share
            }
            None => 0.0,
        };
        let total: f64 = self.receivers.iter().map(|r| r.weight()).sum::<f64>() + generated_share;
        if self.receivers.is_empty() && self.generated_receivers.is_none() {
            return Err(Invalid::new(
                "receivers",
                "a scenario needs at least one receiver",
            ));
        }
        if !(total.is_finite() && total > 0.0) {
            return Err(Invalid::new(
                "receivers",
                "receiver shares must sum to more than 0",
            ));
        }
        Ok(())
    }

    fn validate_traffic(&self) -> Check {
        if self.traffic.is_empty() {
            return Err(Invalid::new(
                "traffic",
                "a scenario needs at least one traffic wave",
            ));
        }
        for (i, wave) in self.traffic.iter().enumerate() {
            if wave.start >= self.duration {
                return Err(Invalid::new(
                    format!("traffic[{i}].start"),
                    "starts after the end of the run (`duration`)",
                ));
            }
        }
        Ok(())
    }

    /// Messages injected over the whole run.
    pub fn total_messages(&self) -> u64 {
        self.traffic
            .iter()
            .map(|w| w.messages)
            .fold(0, u64::saturating_add)
    }
}
