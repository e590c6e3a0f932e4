use super::diag::ConfigError;
use super::{Exported, Imported, Provenance, Source};
use crate::scenario::Scenario;
pub fn import(_sources: &[Source], _into: &Scenario) -> Result<Imported, ConfigError> { todo!() }
pub fn export(_scenario: &Scenario, _provenance: &Provenance) -> Exported { todo!() }
