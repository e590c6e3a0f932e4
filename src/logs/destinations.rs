//! Destinations the way MTAs group them: by the receiving system (MX rollup), from a
//! provider table users can extend, else by the relay host's registrable domain, else by
//! the recipient domain — and the inverse the log writers need, a realistic MX host and
//! address for a simulated receiver.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::flow_control::config::KeyKind;
use crate::providers::host_has_suffix;

use super::symbols::{Sym, Symbols};

/// One provider: its name (the destination) and the MX host suffixes that belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    /// Host suffixes without a leading dot: `yahoodns.net` matches `yahoodns.net` and
    /// every host under it.
    pub suffixes: Vec<String>,
    /// A real MX host of the provider, for the log writers.
    pub mx: String,
}

/// The provider table: built-in entries, then the user's (which win on the same name or a
/// longer suffix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Providers {
    entries: Vec<Provider>,
}

/// Why a provider file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProvidersError {
    #[error("cannot read provider file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "provider file {path}:{line}:{column}: {message} (expected {{\"name\": [\"mx.suffix.example\", ...], ...}})"
    )]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("provider file {path}: provider {name:?} has an empty suffix")]
    EmptySuffix { path: String, name: String },
}

impl Default for Providers {
    fn default() -> Self {
        Providers::builtin()
    }
}

fn normalise_suffix(s: &str) -> String {
    s.trim()
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

impl Providers {
    /// The built-in table alone ([`crate::providers::BUILTIN`]).
    pub fn builtin() -> Providers {
        Providers {
            entries: crate::providers::BUILTIN
                .iter()
                .map(|p| Provider {
                    name: p.name.to_string(),
                    suffixes: p.suffixes.iter().map(|s| s.to_string()).collect(),
                    mx: p.mx.to_string(),
                })
                .collect(),
        }
    }

    /// The built-in table extended by a JSON object `{"name": ["suffix", ...]}`; a name
    /// already in the table gets the given suffixes added (its MX stays), a new name's MX
    /// for the writers is `mx.<first suffix>`.
    pub fn with_json(mut self, path: &str, text: &str) -> Result<Providers, ProvidersError> {
        let user: BTreeMap<String, Vec<String>> =
            serde_json::from_str(text).map_err(|e| ProvidersError::Parse {
                path: path.to_string(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        for (name, suffixes) in user {
            let suffixes: Vec<String> = suffixes.iter().map(|s| normalise_suffix(s)).collect();
            if suffixes.iter().any(String::is_empty) {
                return Err(ProvidersError::EmptySuffix {
                    path: path.to_string(),
                    name,
                });
            }
            match self.entries.iter_mut().find(|p| p.name == name) {
                Some(p) => p.suffixes.extend(suffixes),
                None => self.entries.push(Provider {
                    mx: suffixes
                        .first()
                        .map_or_else(String::new, |s| format!("mx.{s}")),
                    name,
                    suffixes,
                }),
            }
        }
        Ok(self)
    }

    /// The built-in table extended by a user file (see [`Providers::with_json`]).
    pub fn with_file(self, path: &Path) -> Result<Providers, ProvidersError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ProvidersError::Read {
            path: shown.clone(),
            source,
        })?;
        self.with_json(&shown, &text)
    }

    /// The provider whose longest suffix matches `host` (lowercase, no trailing dot).
    pub fn provider_of(&self, host: &str) -> Option<&Provider> {
        let mut best: Option<(&Provider, usize)> = None;
        for p in &self.entries {
            for s in &p.suffixes {
                if host_has_suffix(host, s) && best.is_none_or(|(_, len)| s.len() >= len) {
                    best = Some((p, s.len()));
                }
            }
        }
        best.map(|(p, _)| p)
    }

    /// The provider named `name`.
    pub fn named(&self, name: &str) -> Option<&Provider> {
        self.entries.iter().find(|p| p.name == name)
    }

    pub fn entries(&self) -> &[Provider] {
        &self.entries
    }
}

/// Second-level labels under which registrations happen one level deeper (`co.uk`,
/// `com.au`, ...): the common two-part public suffixes.
const TWO_PART_SECOND: &[&str] = &[
    "co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go", "gen", "ltd", "plc", "me",
    "mil", "nom", "biz", "info",
];

/// The label a host is registered under: `mx1.bigmail.example` -> `bigmail`,
/// `mx.orange.fr` -> `orange`, `mail.example.co.uk` -> `example`; a single label or an IP
/// literal is returned whole.
pub fn registrable_label(host: &str) -> &str {
    if host.parse::<IpAddr>().is_ok() {
        return host;
    }
    let mut labels = host.rsplit('.');
    let Some(tld) = labels.next() else {
        return host;
    };
    let Some(second) = labels.next() else {
        return host;
    };
    if tld.len() == 2 && TWO_PART_SECOND.contains(&second) {
        return labels.next().unwrap_or(second);
    }
    second
}

/// A relay host for a simulated receiver, realistic enough that reading it back names the
/// receiver again: the provider's real MX when the table has a provider of that name,
/// else `mx.<name>.<top-level domain of its first domain>` (`bigmail` with
/// `bigmail.example` -> `mx.bigmail.example`). The round trip holds for provider names and
/// for names that are one DNS label (letters, digits, hyphens).
pub fn relay_host(providers: &Providers, receiver: &str, first_domain: &str) -> String {
    if let Some(p) = providers.named(receiver).filter(|p| !p.mx.is_empty()) {
        return p.mx.clone();
    }
    let tld = first_domain.rsplit('.').next().filter(|t| !t.is_empty());
    format!("mx.{receiver}.{}", tld.unwrap_or("example"))
}

/// A deterministic address for a receiver's MX, in the documentation ranges 192.0.2.0/24
/// and 198.51.100.0/24 (FNV-1a of the name picks one of 508 hosts).
pub fn relay_ip(receiver: &str) -> IpAddr {
    let mut h: u32 = 0x811c_9dc5;
    for b in receiver.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    let n = h % 508;
    let (net, host) = if n < 254 {
        ([192, 0, 2], n + 1)
    } else {
        ([198, 51, 100], n - 253)
    };
    IpAddr::V4(Ipv4Addr::new(net[0], net[1], net[2], host as u8))
}

/// Resolves the destination of each outcome, caching per relay host and learning each
/// recipient domain's destination for lines that have no relay.
#[derive(Debug)]
pub struct Resolver {
    providers: Providers,
    key: KeyKind,
    /// Per host symbol: its destination (`NONE`: not computed yet).
    of_host: Vec<Sym>,
    /// Per domain symbol: the destination last seen for it.
    learned: Vec<Sym>,
    scratch: String,
}

impl Resolver {
    pub fn new(providers: Providers, key: KeyKind) -> Resolver {
        Resolver {
            providers,
            key,
            of_host: Vec::new(),
            learned: Vec::new(),
            scratch: String::new(),
        }
    }

    /// The destination of an outcome for `domain` delivered through `host` (`NONE`: no
    /// relay host known).
    pub fn destination(&mut self, symbols: &mut Symbols, domain: Sym, host: Sym) -> Sym {
        if self.key == KeyKind::Domain {
            return domain;
        }
        if host.is_none() {
            return match self.learned.get(domain.index()) {
                Some(&d) if !d.is_none() => d,
                _ => domain,
            };
        }
        let dest = self.of_host(symbols, host);
        if !domain.is_none() {
            if self.learned.len() <= domain.index() {
                self.learned.resize(domain.index() + 1, Sym::NONE);
            }
            self.learned[domain.index()] = dest;
        }
        dest
    }

    fn of_host(&mut self, symbols: &mut Symbols, host: Sym) -> Sym {
        if let Some(&d) = self.of_host.get(host.index())
            && !d.is_none()
        {
            return d;
        }
        self.scratch.clear();
        self.scratch.push_str(symbols.text(host));
        self.scratch.make_ascii_lowercase();
        let name = match self.providers.provider_of(&self.scratch) {
            Some(p) => p.name.as_str(),
            None => registrable_label(&self.scratch),
        };
        let dest = symbols.intern(name);
        if self.of_host.len() <= host.index() {
            self.of_host.resize(host.index() + 1, Sym::NONE);
        }
        self.of_host[host.index()] = dest;
        dest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(host: &str) -> String {
        let p = Providers::builtin();
        match p.provider_of(host) {
            Some(p) => p.name.clone(),
            None => registrable_label(host).to_string(),
        }
    }

    #[test]
    fn providers_and_labels() {
        assert_eq!(dest("mta7.am0.yahoodns.net"), "yahoo");
        assert_eq!(dest("mx-aol.mail.gm0.yahoodns.net"), "yahoo");
        assert_eq!(dest("gmail-smtp-in.l.google.com"), "gmail");
        assert_eq!(dest("alt1.aspmx.l.google.com"), "gmail");
        assert_eq!(dest("hotmail-com.olc.protection.outlook.com"), "microsoft");
        assert_eq!(dest("contoso-com.mail.protection.outlook.com"), "microsoft");
        assert_eq!(dest("mx01.mail.icloud.com"), "apple");
        assert_eq!(dest("mx1.bigmail.example"), "bigmail");
        assert_eq!(dest("mx.orange.fr"), "orange");
        assert_eq!(dest("mail.example.co.uk"), "example");
        assert_eq!(dest("mx.example.com.au"), "example");
        assert_eq!(dest("localhost"), "localhost");
        assert_eq!(dest("2001:db8::1"), "2001:db8::1");
        assert_eq!(dest("notgoogle.com"), "notgoogle");
    }

    #[test]
    fn user_file_extends_and_overrides() {
        let p = Providers::builtin()
            .with_json(
                "p.json",
                r#"{"bigcorp": [".bigcorp-mx.net"], "gmail": ["gsuite.example"]}"#,
            )
            .unwrap();
        assert_eq!(p.provider_of("in1.bigcorp-mx.net").unwrap().name, "bigcorp");
        assert_eq!(p.provider_of("mx.gsuite.example").unwrap().name, "gmail");
        assert_eq!(p.named("bigcorp").unwrap().mx, "mx.bigcorp-mx.net");
        let e = Providers::builtin()
            .with_json("p.json", "{\"x\": 3}")
            .unwrap_err();
        assert!(e.to_string().starts_with("provider file p.json:1:"), "{e}");
        let e = Providers::builtin()
            .with_json("p.json", r#"{"x": ["."]}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "provider file p.json: provider \"x\" has an empty suffix"
        );
    }

    #[test]
    fn relay_hosts_read_back_as_the_receiver() {
        let p = Providers::builtin();
        for (name, domain) in [
            ("gmail", "gmail.com"),
            ("yahoo", "yahoo.com"),
            ("microsoft", "outlook.com"),
            ("orange", "orange.fr"),
            ("web.de", "web.de"),
            ("att", "att.net"),
            ("bigmail", "bigmail.example"),
            ("gen-000001", "gen-000001.example"),
            ("corp-mx", "corp.example"),
            ("bt", "btinternet.com"),
        ] {
            let host = relay_host(&p, name, domain);
            assert_eq!(dest(&host), name, "{host}");
        }
        assert_eq!(
            relay_host(&p, "bigmail", "bigmail.example"),
            "mx.bigmail.example"
        );
        assert_eq!(relay_ip("gmail"), relay_ip("gmail"));
        assert_ne!(relay_ip("gmail"), relay_ip("yahoo"));
    }

    #[test]
    fn resolver_learns_domains() {
        let mut s = Symbols::default();
        let mut r = Resolver::new(Providers::builtin(), KeyKind::Receiver);
        let domain = s.intern("aol.com");
        let host = s.intern("MX-AOL.mail.gm0.yahoodns.net");
        assert_eq!(r.destination(&mut s, domain, Sym::NONE), domain);
        let yahoo = r.destination(&mut s, domain, host);
        assert_eq!(s.text(yahoo), "yahoo");
        assert_eq!(r.destination(&mut s, domain, Sym::NONE), yahoo);
        let mut r = Resolver::new(Providers::builtin(), KeyKind::Domain);
        assert_eq!(r.destination(&mut s, domain, host), domain);
    }
}
