//! The mailbox providers mtasim knows by name, in one table: the MX host suffixes that
//! identify each (how a log line's relay host finds its destination, and how a KumoMTA
//! `provider` table's `MXSuffix` rule is checked without DNS), and the provider's own mail
//! domains with a real MX host of each (how a scenario's receiver domains meet those
//! rules). Keeping both directions in one entry is what makes a log line and a shaping
//! rule for the same provider land on the same destination.
//!
//! Sources: KumoMTA's `assets/policy-extras/shaping.toml` and `assets/community/shaping.toml`
//! provider blocks (google, yahoo, outlook/office365, apple, mimecast, gmx/web.de, orange)
//! and the providers' published MX hosts.

/// One provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    /// Its name: the destination a relay host of it rolls up to.
    pub name: &'static str,
    /// A real MX host of it, the one the log writers name.
    pub mx: &'static str,
    /// Host suffixes without a leading dot: `yahoodns.net` matches `yahoodns.net` and every
    /// host under it.
    pub suffixes: &'static [&'static str],
    /// Its mail domains, each with the MX host it publishes.
    pub domains: &'static [(&'static str, &'static str)],
}

const GMAIL_MX: &str = "gmail-smtp-in.l.google.com";
const YAHOO_MX: &str = "mta5.am0.yahoodns.net";
const ICLOUD_MX: &str = "mx01.mail.icloud.com";
const ATT_MX: &str = "ff-ip4-mx-vip1.prodigy.net";
const GMX_MX: &str = "mx00.emig.gmx.net";
const ORANGE_MX: &str = "smtp-in.orange.fr";

/// The built-in providers.
pub const BUILTIN: &[Provider] = &[
    Provider {
        name: "gmail",
        mx: GMAIL_MX,
        suffixes: &["google.com", "googlemail.com"],
        domains: &[("gmail.com", GMAIL_MX), ("googlemail.com", GMAIL_MX)],
    },
    Provider {
        name: "yahoo",
        mx: YAHOO_MX,
        suffixes: &["yahoodns.net"],
        domains: &[
            ("yahoo.com", YAHOO_MX),
            ("ymail.com", YAHOO_MX),
            ("rocketmail.com", YAHOO_MX),
            ("aol.com", "mx-aol.mail.gm0.yahoodns.net"),
        ],
    },
    Provider {
        name: "microsoft",
        mx: "hotmail-com.olc.protection.outlook.com",
        suffixes: &[
            "protection.outlook.com",
            "outlook.com",
            "hotmail.com",
            "mx.microsoft",
        ],
        domains: &[
            ("outlook.com", "outlook-com.olc.protection.outlook.com"),
            ("hotmail.com", "hotmail-com.olc.protection.outlook.com"),
            ("live.com", "live-com.olc.protection.outlook.com"),
            ("msn.com", "msn-com.olc.protection.outlook.com"),
        ],
    },
    Provider {
        name: "apple",
        mx: ICLOUD_MX,
        suffixes: &["icloud.com", "mail.me.com"],
        domains: &[
            ("icloud.com", ICLOUD_MX),
            ("me.com", ICLOUD_MX),
            ("mac.com", ICLOUD_MX),
        ],
    },
    Provider {
        name: "comcast",
        mx: "mx1a1.comcast.net",
        suffixes: &["comcast.net"],
        domains: &[("comcast.net", "mx1a1.comcast.net")],
    },
    Provider {
        name: "att",
        mx: ATT_MX,
        suffixes: &["prodigy.net", "att.net"],
        domains: &[
            ("att.net", ATT_MX),
            ("sbcglobal.net", ATT_MX),
            ("bellsouth.net", ATT_MX),
        ],
    },
    Provider {
        name: "gmx",
        mx: GMX_MX,
        suffixes: &["gmx.net", "gmx.com", "gmx.de"],
        domains: &[
            ("gmx.net", GMX_MX),
            ("gmx.de", GMX_MX),
            ("gmx.com", "mx00.gmx.com"),
        ],
    },
    Provider {
        name: "web.de",
        mx: "mx-ha03.web.de",
        suffixes: &["web.de"],
        domains: &[("web.de", "mx-ha03.web.de")],
    },
    Provider {
        name: "orange",
        mx: ORANGE_MX,
        suffixes: &["orange.fr", "wanadoo.fr"],
        domains: &[("orange.fr", ORANGE_MX), ("wanadoo.fr", ORANGE_MX)],
    },
    Provider {
        name: "mail.ru",
        mx: "mxs.mail.ru",
        suffixes: &["mail.ru"],
        domains: &[("mail.ru", "mxs.mail.ru")],
    },
    Provider {
        name: "yandex",
        mx: "mx.yandex.net",
        suffixes: &["yandex.net", "yandex.ru"],
        domains: &[("yandex.ru", "mx.yandex.ru")],
    },
    Provider {
        name: "zoho",
        mx: "mx.zoho.com",
        suffixes: &["zoho.com", "zoho.eu", "zohomail.com"],
        domains: &[("zoho.com", "mx.zoho.com")],
    },
    Provider {
        name: "proofpoint",
        mx: "mx0a-00000001.pphosted.com",
        suffixes: &["pphosted.com", "ppe-hosted.com"],
        domains: &[],
    },
    Provider {
        name: "mimecast",
        mx: "eu-smtp-inbound-1.mimecast.com",
        suffixes: &["mimecast.com", "mimecast.co.za", "mimecast-offshore.com"],
        domains: &[],
    },
    Provider {
        name: "barracuda",
        mx: "d12345a.ess.barracudanetworks.com",
        suffixes: &["barracudanetworks.com"],
        domains: &[],
    },
    Provider {
        name: "kpn",
        mx: "mx.kpnmail.nl",
        suffixes: &["kpnmail.nl"],
        domains: &[],
    },
];

/// The MX host a known provider's mail `domain` publishes (case-insensitive).
pub fn mx_of_domain(domain: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .flat_map(|p| p.domains.iter())
        .find(|(d, _)| d.eq_ignore_ascii_case(domain))
        .map(|&(_, mx)| mx)
}

/// Whether `host` is `suffix` or a host under it (both lower case, no trailing dot).
pub fn host_has_suffix(host: &str, suffix: &str) -> bool {
    host == suffix
        || (host.len() > suffix.len()
            && host.ends_with(suffix)
            && host.as_bytes()[host.len() - suffix.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The provider whose longest suffix matches `host`.
    fn owner(host: &str) -> Option<&'static str> {
        BUILTIN
            .iter()
            .flat_map(|p| p.suffixes.iter().map(move |s| (p.name, *s)))
            .filter(|(_, s)| host_has_suffix(host, s))
            .max_by_key(|(_, s)| s.len())
            .map(|(name, _)| name)
    }

    #[test]
    fn every_mx_host_in_the_table_rolls_up_to_its_own_provider() {
        for p in BUILTIN {
            assert_eq!(owner(p.mx), Some(p.name), "{}", p.mx);
            for (domain, mx) in p.domains {
                assert_eq!(owner(mx), Some(p.name), "{domain} -> {mx}");
                assert_eq!(mx_of_domain(domain), Some(*mx));
            }
        }
    }

    #[test]
    fn a_mail_domain_belongs_to_one_provider() {
        let mut seen = std::collections::BTreeSet::new();
        for (domain, _) in BUILTIN.iter().flat_map(|p| p.domains.iter()) {
            assert!(seen.insert(*domain), "{domain} twice");
        }
        assert_eq!(mx_of_domain("GMX.de"), Some(GMX_MX));
        assert_eq!(mx_of_domain("bigmail.example"), None);
    }

    #[test]
    fn suffixes_match_whole_labels() {
        assert!(host_has_suffix("mx.gmx.net", "gmx.net"));
        assert!(host_has_suffix("gmx.net", "gmx.net"));
        assert!(!host_has_suffix("notgmx.net", "gmx.net"));
    }
}
