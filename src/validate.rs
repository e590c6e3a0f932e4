//! The one shape a refused configuration value takes, wherever it was found: an
//! [`Invalid`] with the JSON path of the offending value, which the scenario loader turns
//! into line:column. Each section checks itself with paths relative to the section and the
//! caller prefixes its own place ([`Invalid::within`]).

pub use mta_flow_control::validate::{Check, Invalid, join_path, positive};

/// Refuses a probability outside [0, 1] (NaN included).
pub fn probability(path: &str, p: f64) -> Check {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(Invalid::new(
            path,
            format!("must be a probability in [0, 1], got {p}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities() {
        assert!(probability("p", 0.0).is_ok());
        assert!(probability("p", 1.0).is_ok());
        assert!(probability("p", 1.01).is_err());
        assert!(probability("p", -0.1).is_err());
        assert!(probability("p", f64::NAN).is_err());
    }
}
