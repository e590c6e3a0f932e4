//! The `--plan` file: every plan setting as JSON, and what a sweep writes into its manifest
//! with every value expanded.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{Objective, Parameter, PlanError, PlanParts, Problem, Setting, parse_pareto};
use crate::sweep::values::parse_values;
use crate::units::Span;

/// The `--plan` file (see the README's "Tuning with sweeps"); every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Path -> values: a JSON list of values, or a VALUES text (`"5..50:5"`). In file order.
    #[serde(default)]
    pub vary: Vary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replications: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimize: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximize: Option<String>,
    #[serde(default)]
    pub require: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadlines: Option<Vec<Span>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pareto: Option<Vec<String>>,
}

impl PlanFile {
    /// Checks and types the file's fields; errors name the field.
    pub fn parts(&self) -> Result<PlanParts, PlanError> {
        let parameters = self
            .vary
            .0
            .iter()
            .map(|(path, values)| {
                let bad = |problem| PlanError {
                    setting: Setting::Vary,
                    at: format!(".{path}"),
                    problem,
                };
                let values = match values {
                    VaryValues::List(list) if list.is_empty() => {
                        return Err(bad(Problem::EmptyList(path.clone())));
                    }
                    VaryValues::List(list) => list.clone(),
                    VaryValues::Text(text) => parse_values(text).map_err(|error| {
                        bad(Problem::Values {
                            path: path.clone(),
                            error,
                        })
                    })?,
                };
                Ok(Parameter {
                    path: path.clone(),
                    values,
                })
            })
            .collect::<Result<_, PlanError>>()?;
        if self.minimize.is_some() && self.maximize.is_some() {
            return Err(PlanError::new(Setting::Objective, Problem::BothObjectives));
        }
        let objective = Objective::named(self.minimize.as_deref(), self.maximize.as_deref())?;
        let constraints = self
            .require
            .iter()
            .enumerate()
            .map(|(i, c)| {
                c.parse().map_err(|e: PlanError| PlanError {
                    at: format!("[{i}]"),
                    ..e
                })
            })
            .collect::<Result<_, PlanError>>()?;
        let pareto = match &self.pareto {
            Some(axes) => Some(parse_pareto(&axes.join(","))?),
            None => None,
        };
        Ok(PlanParts {
            parameters,
            replications: self.replications,
            samples: self.samples,
            seed: self.seed,
            objective,
            constraints,
            deadlines: self.deadlines.clone(),
            pareto,
        })
    }
}

/// A parameter's values in a plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VaryValues {
    List(Vec<Value>),
    Text(String),
}

/// `vary`: an object whose key order is kept, because it orders the grid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vary(pub Vec<(String, VaryValues)>);

impl Serialize for Vary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (path, values) in &self.0 {
            map.serialize_entry(path, values)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Vary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Vary;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of path: values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vary, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Vary(entries))
            }
        }
        d.deserialize_map(Ordered)
    }
}
