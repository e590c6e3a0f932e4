//! `generated_receivers`: the long tail of a big recipient list, as a Zipf law over
//! anonymous receivers that all behave like one template.
//!
//! Rank k (from 1) is named `gen-` followed by k in at least six digits (`gen-000001`), hosts
//! the one domain `<name>.example`, and gets weight `share` / (k^s · H) where
//! H = Σ_{j=1..count} j^-s, so the weights sum to `share`. Members are produced one at a
//! time and never copy the template: every member is built from the same configuration.

use super::config::{GENERATED_PREFIX, GeneratedReceivers};

/// One generated receiver's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedMember {
    /// 1 for the largest.
    pub rank: u32,
    pub name: String,
    /// Its one domain.
    pub domain: String,
    /// Relative weight, on the same scale as the receivers' `share`.
    pub weight: f64,
}

/// The name of rank `rank`.
pub fn generated_name(rank: u32) -> String {
    format!("{GENERATED_PREFIX}{rank:06}")
}

impl GeneratedReceivers {
    /// Every member, rank 1 first; its behaviour is `self.template`.
    pub fn members(&self) -> impl Iterator<Item = GeneratedMember> + '_ {
        let s = self.zipf_exponent;
        let harmonic: f64 = (1..=self.count).map(|k| (k as f64).powf(-s)).sum();
        let scale = self.share / harmonic;
        (1..=self.count).map(move |rank| {
            let name = generated_name(rank);
            GeneratedMember {
                rank,
                domain: format!("{name}.example"),
                name,
                weight: scale * (rank as f64).powf(-s),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::ReceiverConfig;

    fn population(count: u32, share: f64, zipf_exponent: f64) -> GeneratedReceivers {
        GeneratedReceivers {
            count,
            share,
            zipf_exponent,
            template: ReceiverConfig::default(),
        }
    }

    #[test]
    fn weights_follow_zipf_and_sum_to_share() {
        let generated = population(100_000, 0.3, 1.1);
        let members: Vec<_> = generated.members().collect();
        assert_eq!(members.len(), 100_000);
        let total: f64 = members.iter().map(|m| m.weight).sum();
        assert!((total - 0.3).abs() < 1e-12, "total {total}");
        let ratio = members[0].weight / members[1].weight;
        assert!((ratio - 2f64.powf(1.1)).abs() < 1e-12, "ratio {ratio}");
        assert_eq!(members[0].name, "gen-000001");
        assert_eq!(members[0].domain, "gen-000001.example");
        assert_eq!(members[99_999].name, "gen-100000");
    }

    #[test]
    fn exponent_zero_is_uniform() {
        let members: Vec<_> = population(4, 2.0, 0.0).members().collect();
        assert!(members.iter().all(|m| m.weight == 0.5));
    }
}
