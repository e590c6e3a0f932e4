//! How long a receiver takes to answer: a fixed duration or a distribution, sampled in
//! whole milliseconds.

use std::fmt;

use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::rng::Stream;
use crate::units::Span;
use crate::validate::{Check, Invalid};

/// A response time: a duration string (`"300ms"`, fixed) or one distribution object.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Latency {
    /// Always this long.
    Fixed(Span),
    /// Drawn from a distribution for every answer.
    Distribution(LatencyDistribution),
}

/// `{"fixed": "300ms"}`, `{"lognormal": {"median": "400ms", "sigma": 0.6}}`,
/// `{"uniform": {"min": "100ms", "max": "1s"}}` or `{"exponential": {"mean": "200ms"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LatencyDistribution {
    Fixed(Span),
    Lognormal(Lognormal),
    Uniform(Uniform),
    Exponential(Exponential),
}

/// Log-normal: half the answers are faster than `median`; `sigma` is the standard deviation
/// of the logarithm (0.6 gives a p99 about four times the median).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lognormal {
    pub median: Span,
    pub sigma: f64,
}

/// Uniform between `min` and `max` inclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Uniform {
    pub min: Span,
    pub max: Span,
}

/// Exponential with the given `mean`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exponential {
    pub mean: Span,
}

/// Hand-written so that a string goes to the duration parser and an object to the
/// distribution, each with its own precise error (an untagged enum would only say that
/// nothing matched).
impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LatencyVisitor;

        impl<'de> Visitor<'de> for LatencyVisitor {
            type Value = Latency;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration such as \"300ms\", or one of {\"fixed\": \"300ms\"}, \
                     {\"lognormal\": {\"median\": \"400ms\", \"sigma\": 0.6}}, \
                     {\"uniform\": {\"min\": \"100ms\", \"max\": \"1s\"}}, \
                     {\"exponential\": {\"mean\": \"200ms\"}}",
                )
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Latency, E> {
                text.parse().map(Latency::Fixed).map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Latency, A::Error> {
                LatencyDistribution::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Latency::Distribution)
            }
        }

        d.deserialize_any(LatencyVisitor)
    }
}

impl Latency {
    /// Refuses parameters that cannot be sampled; `path` is where this latency sits.
    pub fn validate(&self, path: &str) -> Check {
        let Latency::Distribution(dist) = self else {
            return Ok(());
        };
        match dist {
            LatencyDistribution::Fixed(_) => Ok(()),
            LatencyDistribution::Lognormal(l) if l.median.as_millis() == 0 => Err(Invalid::new(
                format!("{path}.lognormal.median"),
                "the median must be greater than zero",
            )),
            LatencyDistribution::Lognormal(l) if !(l.sigma.is_finite() && l.sigma >= 0.0) => {
                Err(Invalid::new(
                    format!("{path}.lognormal.sigma"),
                    format!("sigma must be a finite number >= 0, got {}", l.sigma),
                ))
            }
            LatencyDistribution::Uniform(u) if u.min > u.max => Err(Invalid::new(
                format!("{path}.uniform.max"),
                format!("max ({}) is below min ({})", u.max, u.min),
            )),
            LatencyDistribution::Exponential(e) if e.mean.as_millis() == 0 => Err(Invalid::new(
                format!("{path}.exponential.mean"),
                "the mean must be greater than zero",
            )),
            _ => Ok(()),
        }
    }
}

/// A latency ready to sample: parameters converted once.
#[derive(Debug, Clone)]
pub(crate) enum LatencyModel {
    Fixed(u64),
    Lognormal(LogNormal<f64>),
    Uniform(u64, u64),
    Exponential(Exp<f64>),
}

impl LatencyModel {
    /// Converts a validated latency; `None` stands for `default`.
    pub(crate) fn new(latency: Option<&Latency>, default: Span) -> Result<Self, String> {
        let Some(latency) = latency else {
            return Ok(LatencyModel::Fixed(default.as_millis()));
        };
        let dist = match latency {
            Latency::Fixed(d) => return Ok(LatencyModel::Fixed(d.as_millis())),
            Latency::Distribution(dist) => dist,
        };
        Ok(match dist {
            LatencyDistribution::Fixed(d) => LatencyModel::Fixed(d.as_millis()),
            LatencyDistribution::Lognormal(l) => LatencyModel::Lognormal(
                LogNormal::new((l.median.as_millis() as f64).ln(), l.sigma)
                    .map_err(|e| e.to_string())?,
            ),
            LatencyDistribution::Uniform(u) => {
                LatencyModel::Uniform(u.min.as_millis(), u.max.as_millis())
            }
            LatencyDistribution::Exponential(e) => LatencyModel::Exponential(
                Exp::new(1.0 / e.mean.as_millis() as f64).map_err(|e| e.to_string())?,
            ),
        })
    }

    /// One answer time, rounded to the millisecond and capped at a day, so that a heavy
    /// tail cannot stall a session for the rest of the run.
    pub(crate) fn sample(&self, rng: &mut Stream) -> Span {
        let ms = match self {
            LatencyModel::Fixed(ms) => return Span::from_millis(*ms),
            LatencyModel::Uniform(min, max) => {
                return Span::from_millis(rng.random_range(*min..=*max));
            }
            LatencyModel::Lognormal(d) => d.sample(rng),
            LatencyModel::Exponential(d) => d.sample(rng),
        };
        Span::from_millis(ms.round() as u64).min(Span::DAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn parse(json: &str) -> Result<Latency, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn every_form_parses() {
        assert_eq!(
            parse(r#""300ms""#),
            Ok(Latency::Fixed(Span::from_millis(300)))
        );
        assert_eq!(
            parse(r#"{"fixed": "1s"}"#),
            Ok(Latency::Distribution(LatencyDistribution::Fixed(
                Span::SECOND
            )))
        );
        let lognormal = parse(r#"{"lognormal": {"median": "400ms", "sigma": 0.6}}"#).unwrap();
        assert_eq!(
            lognormal,
            Latency::Distribution(LatencyDistribution::Lognormal(Lognormal {
                median: Span::from_millis(400),
                sigma: 0.6
            }))
        );
        assert!(parse(r#"{"uniform": {"min": "100ms", "max": "1s"}}"#).is_ok());
        assert!(parse(r#"{"exponential": {"mean": "200ms"}}"#).is_ok());
        let json = serde_json::to_string(&lognormal).unwrap();
        assert_eq!(parse(&json), Ok(lognormal));
        assert_eq!(
            serde_json::to_string(&Latency::Fixed(Span::from_millis(300))).unwrap(),
            r#""300ms""#
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(
            parse(r#""300 parsecs""#)
                .unwrap_err()
                .contains("invalid duration")
        );
        assert!(
            parse(r#"{"gaussian": {}}"#)
                .unwrap_err()
                .contains("unknown variant `gaussian`")
        );
        assert!(
            parse(r#"{"lognormal": {"median": "1s", "sigma": 1, "mean": "1s"}}"#)
                .unwrap_err()
                .contains("unknown field `mean`")
        );
        assert!(parse("12").unwrap_err().contains("a duration such as"));
    }

    #[test]
    fn bad_parameters_are_refused_with_paths() {
        let bad = parse(r#"{"uniform": {"min": "2s", "max": "1s"}}"#).unwrap();
        assert_eq!(
            bad.validate("latency").unwrap_err().path,
            "latency.uniform.max"
        );
        let bad = parse(r#"{"lognormal": {"median": "0s", "sigma": 1}}"#).unwrap();
        assert_eq!(
            bad.validate("latency").unwrap_err().path,
            "latency.lognormal.median"
        );
        let bad = parse(r#"{"lognormal": {"median": "1s", "sigma": -1}}"#).unwrap();
        assert_eq!(bad.validate("l").unwrap_err().path, "l.lognormal.sigma");
        let bad = parse(r#"{"exponential": {"mean": "0s"}}"#).unwrap();
        assert_eq!(bad.validate("l").unwrap_err().path, "l.exponential.mean");
    }

    #[test]
    fn samples_follow_the_distribution() {
        let mut rng = stream(1, "latency");
        let fixed = LatencyModel::new(None, Span::from_millis(300)).unwrap();
        assert_eq!(fixed.sample(&mut rng), Span::from_millis(300));
        let uniform = LatencyModel::new(
            Some(&parse(r#"{"uniform": {"min": "100ms", "max": "200ms"}}"#).unwrap()),
            Span::ZERO,
        )
        .unwrap();
        assert!((0..1000).all(|_| (100..=200).contains(&uniform.sample(&mut rng).as_millis())));
        let lognormal = LatencyModel::new(
            Some(&parse(r#"{"lognormal": {"median": "400ms", "sigma": 0.6}}"#).unwrap()),
            Span::ZERO,
        )
        .unwrap();
        let mut samples: Vec<u64> = (0..10_001)
            .map(|_| lognormal.sample(&mut rng).as_millis())
            .collect();
        samples.sort_unstable();
        let median = samples[5000];
        assert!((380..=420).contains(&median), "median {median}");
    }
}
