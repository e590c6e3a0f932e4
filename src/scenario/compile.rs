//! Compiling a scenario: every check of its meaning in one pass, and everything the
//! simulator runs on built once — flow-control policies (each override merged and its
//! regexes compiled once), receiver behaviours, the MTA's retry policy, every reply
//! interned. What comes out cannot be refused later: building the world from it cannot
//! fail.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Scenario, ScenarioError, TrafficWave};
use crate::flow_control::Policies;
use crate::mta::config::Mta;
use crate::receiver::{Behaviour, GeneratedReceivers, ReceiverConfig};
use crate::replies::ReplyBook;
use crate::units::{Instant, Span};
use crate::validate::{self, Check, Invalid};

/// A scenario checked and compiled.
#[derive(Debug, Clone)]
pub struct CompiledScenario {
    /// What was compiled. Its `seed` is read when the world is built, so a replication
    /// changes it here and nothing else.
    pub scenario: Scenario,
    pub mta: Mta,
    pub policies: Policies,
    /// Every reply a receiver or the MTA can give in this scenario.
    pub replies: ReplyBook,
    /// The named receivers, in file order.
    pub receivers: Vec<NamedReceiver>,
    /// The generated population, if any.
    pub population: Option<Population>,
    pub traffic: Vec<Wave>,
}

/// A receiver of `receivers`, compiled.
#[derive(Debug, Clone)]
pub struct NamedReceiver {
    pub name: String,
    pub domains: Vec<String>,
    /// Relative weight of the mail addressed to it.
    pub weight: f64,
    pub behaviour: Arc<Behaviour>,
}

/// `generated_receivers`, compiled: one behaviour shared by every member.
#[derive(Debug, Clone)]
pub struct Population {
    pub members: GeneratedReceivers,
    pub behaviour: Arc<Behaviour>,
}

/// A traffic wave in simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wave {
    pub start: Instant,
    pub messages: u64,
    pub over: Span,
}

impl CompiledScenario {
    /// The end of the run.
    pub fn end(&self) -> Instant {
        Instant::ZERO + self.scenario.duration
    }
}

/// Checks `scenario` and compiles it. Errors name the JSON path of the first problem (the
/// loader adds the file and line:column).
pub fn compile(scenario: &Scenario) -> Result<CompiledScenario, ScenarioError> {
    compile_checked(scenario).map_err(|Invalid { path, message }| ScenarioError {
        origin: format!("scenario {:?}", scenario.name),
        position: None,
        path,
        message,
        set_by: None,
    })
}

fn compile_checked(scenario: &Scenario) -> Result<CompiledScenario, Invalid> {
    check_run(scenario)?;
    let mut replies = ReplyBook::new();
    let mta = scenario
        .mta
        .compile(&mut replies)
        .map_err(|e| e.within("mta"))?;
    let policies =
        Policies::compile(&scenario.flow_control).map_err(|e| e.within("flow_control"))?;
    let receivers = compile_receivers(&scenario.receivers, &mut replies)?;
    let population = scenario
        .generated_receivers
        .as_ref()
        .map(|generated| compile_population(generated, &mut replies))
        .transpose()
        .map_err(|e| e.within("generated_receivers"))?;
    check_shares(scenario)?;
    let traffic = compile_traffic(scenario)?;
    Ok(CompiledScenario {
        scenario: scenario.clone(),
        mta,
        policies,
        replies,
        receivers,
        population,
        traffic,
    })
}

/// The name (used as a folder name), the run's length and its sample interval.
fn check_run(scenario: &Scenario) -> Check {
    if scenario.name.trim().is_empty() {
        return Err(Invalid::new("name", "must not be empty"));
    }
    if scenario.name.contains(['/', '\\']) || scenario.name.starts_with('.') {
        return Err(Invalid::new(
            "name",
            "is used as a folder name: no slashes and no leading dot",
        ));
    }
    validate::positive("duration", scenario.duration.as_millis(), "duration")?;
    validate::positive(
        "sample_every",
        scenario.sample_every.as_millis(),
        "sample_every",
    )
}

/// Each receiver's identity and behaviour; names and domains unique across receivers.
fn compile_receivers(
    configs: &[ReceiverConfig],
    replies: &mut ReplyBook,
) -> Result<Vec<NamedReceiver>, Invalid> {
    let mut names = HashSet::new();
    let mut domains = HashSet::new();
    let mut receivers = Vec::with_capacity(configs.len());
    for (i, config) in configs.iter().enumerate() {
        let at = format!("receivers[{i}]");
        config.validate_identity().map_err(|e| e.within(&at))?;
        let behaviour = Behaviour::compile(config, replies).map_err(|e| e.within(&at))?;
        let name = config.name.clone().unwrap_or_default();
        if !names.insert(name.clone()) {
            return Err(Invalid::new(
                format!("{at}.name"),
                format!("duplicate receiver name {name:?}"),
            ));
        }
        for (j, domain) in config.domains.iter().enumerate() {
            if !domains.insert(domain.as_str()) {
                return Err(Invalid::new(
                    format!("{at}.domains[{j}]"),
                    format!("domain {domain:?} belongs to two receivers"),
                ));
            }
        }
        receivers.push(NamedReceiver {
            name,
            domains: config.domains.clone(),
            weight: config.weight(),
            behaviour: Arc::new(behaviour),
        });
    }
    Ok(receivers)
}

fn compile_population(
    generated: &GeneratedReceivers,
    replies: &mut ReplyBook,
) -> Result<Population, Invalid> {
    generated.validate()?;
    let behaviour =
        Behaviour::compile(&generated.template, replies).map_err(|e| e.within("template"))?;
    Ok(Population {
        members: generated.clone(),
        behaviour: Arc::new(behaviour),
    })
}

/// At least one receiver, and shares that add up to something.
fn check_shares(scenario: &Scenario) -> Check {
    if scenario.receivers.is_empty() && scenario.generated_receivers.is_none() {
        return Err(Invalid::new(
            "receivers",
            "a scenario needs at least one receiver",
        ));
    }
    let generated = scenario
        .generated_receivers
        .as_ref()
        .map_or(0.0, |g| g.share);
    let total: f64 = scenario.receivers.iter().map(|r| r.weight()).sum::<f64>() + generated;
    if !(total.is_finite() && total > 0.0) {
        return Err(Invalid::new(
            "receivers",
            "receiver shares must sum to more than 0",
        ));
    }
    Ok(())
}

fn compile_traffic(scenario: &Scenario) -> Result<Vec<Wave>, Invalid> {
    if scenario.traffic.is_empty() {
        return Err(Invalid::new(
            "traffic",
            "a scenario needs at least one traffic wave",
        ));
    }
    scenario
        .traffic
        .iter()
        .enumerate()
        .map(
            |(
                i,
                TrafficWave {
                    start,
                    messages,
                    over,
                },
            )| {
                if *start >= scenario.duration {
                    return Err(Invalid::new(
                        format!("traffic[{i}].start"),
                        "starts after the end of the run (`duration`)",
                    ));
                }
                Ok(Wave {
                    start: Instant::ZERO + *start,
                    messages: *messages,
                    over: *over,
                })
            },
        )
        .collect()
}
