//! The import skeleton every dialect shares: read the files in order, find (or add) a
//! receiver for each domain the configuration names, build the flow control and MTA
//! settings, and finish the scenario: described, validated, the warnings in file order.

use super::diag::{ConfigError, Place, Report, Text};
use super::mapping::{description, validated};
use super::{Imported, Source};
use crate::MtaKind;
use crate::flow_control::config::FlowControlConfig;
use crate::mta::config::MtaConfig;
use crate::receiver::ReceiverConfig;
use crate::scenario::Scenario;

/// One MTA's configuration language.
pub(super) trait Dialect {
    /// What the files say, merged as the MTA merges them.
    type Config: Default;
    const KIND: MtaKind;

    /// Reads one file into `config`.
    fn read(text: &Text, config: &mut Self::Config, report: &mut Report)
    -> Result<(), ConfigError>;

    /// The domains the configuration gives settings of their own, where it names them.
    fn domains(config: &Self::Config) -> Result<Vec<(String, Place)>, ConfigError>;

    /// The flow control and MTA settings for the receivers of `into`.
    fn build(
        config: &Self::Config,
        into: &Scenario,
        report: &mut Report,
    ) -> Result<(FlowControlConfig, MtaConfig), ConfigError>;
}

/// What to do with a domain the configuration names but no receiver has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingDomains {
    /// Report it and leave its settings out (the user chose the scenario with `--into`).
    Report,
    /// Give it a generic receiver (said in a warning), so that its settings are kept.
    AddReceiver,
}

/// The share of traffic a generic receiver gets (relative to the scenario's shares).
const GENERIC_SHARE: f64 = 0.05;

pub(super) fn import<D: Dialect>(
    sources: &[Source],
    into: &Scenario,
    missing: MissingDomains,
) -> Result<Imported, ConfigError> {
    let mut report = Report::default();
    let mut config = D::Config::default();
    for source in sources {
        D::read(
            &Text::new(&source.name, &source.text),
            &mut config,
            &mut report,
        )?;
    }
    let mut scenario = into.clone();
    if missing == MissingDomains::AddReceiver {
        add_receivers(&mut scenario, D::domains(&config)?, &mut report);
    }
    let (flow_control, mta) = D::build(&config, &scenario, &mut report)?;
    scenario.flow_control = flow_control;
    scenario.mta = mta;
    scenario.description = description(D::KIND, sources, into);
    Ok(report.finish(D::KIND, validated(scenario, sources)?))
}

/// Gives every named domain that no receiver has a generic receiver: one per known
/// provider (its domains together, named after it, as MX rollup groups them), else one per
/// domain, named after the domain.
fn add_receivers(scenario: &mut Scenario, domains: Vec<(String, Place)>, report: &mut Report) {
    for (domain, place) in domains {
        let domain = domain.to_ascii_lowercase();
        let has = |s: &Scenario| {
            s.receivers
                .iter()
                .any(|r| r.domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)))
        };
        if has(scenario) {
            continue;
        }
        let name = crate::providers::BUILTIN
            .iter()
            .find(|p| p.domains.iter().any(|(d, _)| *d == domain))
            .map_or(domain.clone(), |p| p.name.to_string());
        match scenario
            .receivers
            .iter_mut()
            .find(|r| r.name.as_deref() == Some(name.as_str()))
        {
            Some(receiver) => receiver.domains.push(domain.clone()),
            None => scenario.receivers.push(ReceiverConfig {
                name: Some(name.clone()),
                domains: vec![domain.clone()],
                share: Some(GENERIC_SHARE),
                ..ReceiverConfig::default()
            }),
        }
        report.approximate(
            place,
            &domain,
            format!(
                "no receiver of the default scenario has this domain: added a generic receiver {name} for it (share {GENERIC_SHARE}, default latency, no limits) so its settings are kept; import --into a scenario with a receiver for it to model its behaviour"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::DEFAULT_SCENARIO;

    #[test]
    fn named_domains_get_a_generic_receiver_grouped_by_provider() {
        let mut scenario = crate::scenario::parse("d", DEFAULT_SCENARIO, &[]).unwrap();
        let before = scenario.receivers.len();
        let mut report = Report::default();
        let at = Place::default();
        add_receivers(
            &mut scenario,
            vec![
                ("orange.fr".into(), at.clone()),
                ("Wanadoo.fr".into(), at.clone()),
                ("corp.example".into(), at.clone()),
                ("gmail.com".into(), at),
            ],
            &mut report,
        );
        let added: Vec<(Option<&str>, &[String])> = scenario.receivers[before..]
            .iter()
            .map(|r| (r.name.as_deref(), r.domains.as_slice()))
            .collect();
        assert_eq!(
            added,
            [
                (
                    Some("orange"),
                    &["orange.fr".into(), "wanadoo.fr".into()][..]
                ),
                (Some("corp.example"), &["corp.example".into()][..]),
            ]
        );
        assert_eq!(report.warnings.len(), 3);
        assert!(crate::scenario::compile(&scenario).is_ok());
    }
}
