//! Ready-to-paste routing for the MTA under test: each receiver's domains to its loopback
//! listener, as a Postfix transport map, a KumoMTA policy snippet or PowerMTA `<domain>`
//! blocks.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::Listening;

/// An MTA whose routing can be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    Postfix,
    Kumomta,
    Pmta,
}

impl Routes {
    pub fn parse(text: &str) -> Option<Routes> {
        match text {
            "postfix" => Some(Routes::Postfix),
            "kumomta" => Some(Routes::Kumomta),
            "pmta" => Some(Routes::Pmta),
            _ => None,
        }
    }

    /// The routing of every receiver's domains, or why this MTA cannot be routed so.
    pub fn render(self, receivers: &[Listening]) -> Result<String, String> {
        match self {
            Routes::Postfix => Ok(postfix(receivers)),
            Routes::Kumomta => kumomta(receivers),
            Routes::Pmta => Ok(pmta(receivers)),
        }
    }
}

/// An address as SMTP writes an IP literal: `[127.0.0.2]`, `[IPv6:::1]`.
fn literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

/// Postfix's next hop: `smtp:[127.0.0.2]:2525` (brackets: no MX lookup).
fn postfix(receivers: &[Listening]) -> String {
    let mut out = String::from(
        "# Postfix transport map: save as /etc/postfix/transport, run `postmap \
         /etc/postfix/transport`,\n# and set `transport_maps = hash:/etc/postfix/transport` in \
         main.cf.\n",
    );
    for r in receivers {
        let hop = match r.address.ip() {
            IpAddr::V4(v4) => format!("[{v4}]:{}", r.address.port()),
            IpAddr::V6(v6) => format!("[ipv6:{v6}]:{}", r.address.port()),
        };
        for domain in &r.domains {
            let _ = writeln!(out, "{domain:<30} smtp:{hop}");
        }
    }
    out
}

/// KumoMTA: the queue's MX list is the receiver's address; the port is the egress path's.
fn kumomta(receivers: &[Listening]) -> Result<String, String> {
    let port = receivers.first().map_or(25, |r| r.address.port());
    if receivers.iter().any(|r| r.address.port() != port) {
        return Err(
            "KumoMTA sets the SMTP port per egress path, not per queue: serve each receiver on \
             its own address with one --port (omit --listen) to route it"
                .into(),
        );
    }
    let mut out = String::from(
        "-- KumoMTA policy: each domain's queue delivers to its mtasim receiver.\n\
         local MTASIM_ROUTES = {\n",
    );
    for r in receivers {
        for domain in &r.domains {
            let _ = writeln!(out, "  ['{domain}'] = '{}',", literal(r.address.ip()));
        }
    }
    let _ = write!(
        out,
        "}}\n\nkumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)\n  \
         local mx = MTASIM_ROUTES[domain]\n  if mx then\n    return kumo.make_queue_config {{\n      \
         protocol = {{ smtp = {{ mx_list = {{ mx }} }} }},\n    }}\n  end\n  \
         return kumo.make_queue_config {{}}\nend)\n\n\
         kumo.on('get_egress_path_config', function(routing_domain, egress_source, site_name)\n  \
         return kumo.make_egress_path {{ smtp_port = {port} }}\nend)\n"
    );
    Ok(out)
}

/// PowerMTA: a `<domain>` block routing each domain to the receiver.
fn pmta(receivers: &[Listening]) -> String {
    let mut out = String::from("# PowerMTA: add to /etc/pmta/config\n");
    for r in receivers {
        for domain in &r.domains {
            let _ = writeln!(
                out,
                "<domain {domain}>\n    route {}\n</domain>",
                hostport(r.address)
            );
        }
    }
    out
}

fn hostport(address: SocketAddr) -> String {
    format!("[{}]:{}", address.ip(), address.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> Vec<Listening> {
        vec![
            Listening {
                name: "gmail".into(),
                address: "127.0.0.2:2525".parse().unwrap(),
                domains: vec!["gmail.com".into(), "googlemail.com".into()],
            },
            Listening {
                name: "yahoo".into(),
                address: "127.0.0.3:2525".parse().unwrap(),
                domains: vec!["yahoo.com".into()],
            },
        ]
    }

    #[test]
    fn postfix_gets_a_transport_map_line_per_domain() {
        let text = Routes::Postfix.render(&lab()).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["googlemail.com", "smtp:[127.0.0.2]:2525"]
        );
        assert!(lines[2].ends_with("smtp:[127.0.0.3]:2525"));
    }

    #[test]
    fn kumomta_gets_mx_lists_and_one_port() {
        let text = Routes::Kumomta.render(&lab()).unwrap();
        assert!(text.contains("['yahoo.com'] = '[127.0.0.3]',"), "{text}");
        assert!(text.contains("smtp_port = 2525"));
        let mut ports = lab();
        ports[1].address = "127.0.0.1:2526".parse().unwrap();
        assert!(
            Routes::Kumomta
                .render(&ports)
                .unwrap_err()
                .contains("per egress path")
        );
    }

    #[test]
    fn pmta_gets_a_domain_block_per_domain() {
        let text = Routes::Pmta.render(&lab()).unwrap();
        assert!(
            text.contains("<domain gmail.com>\n    route [127.0.0.2]:2525\n</domain>"),
            "{text}"
        );
        assert_eq!(text.matches("<domain ").count(), 3);
        let mut v6 = lab();
        v6[0].address = "[::1]:2525".parse().unwrap();
        assert!(
            Routes::Pmta
                .render(&v6)
                .unwrap()
                .contains("route [::1]:2525")
        );
        assert!(
            Routes::Postfix
                .render(&v6)
                .unwrap()
                .contains("smtp:[ipv6:::1]:2525")
        );
    }
}
