//! Where the receivers listen: one loopback address each (127.0.0.2, 127.0.0.3, ... on one
//! port), or consecutive ports of one loopback address. Only loopback is accepted: `serve`
//! is a test harness, never a relay, and its traffic never leaves the machine.
//!
//! Each receiver's accept loop hands connections to sessions and closes its listening
//! socket during an outage in `refuse` mode, so that connecting fails as it does against a
//! host that is down ("Connection refused"), and listens again when the outage ends.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::lab::Lab;
use super::session::{self, Limits};

/// The first address of the per-receiver layout: 127.0.0.1 is left to the MTA under test.
pub const FIRST_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// How the receivers' listening sockets are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Receiver i on 127.0.0.2 + i, all on `port` (0: a free port for each).
    Addresses { port: u16 },
    /// Receiver i on `ip`, port `first` + i (0: a free port for each).
    Ports { ip: IpAddr, first: u16 },
}

/// Why a layout cannot hold the receivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The address is not in 127.0.0.0/8 or ::1.
    NotLoopback(IpAddr),
    /// Too many receivers for the addresses or ports left.
    TooMany { receivers: usize, room: usize },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::NotLoopback(ip) => write!(
                f,
                "{ip} is not a loopback address: mtasim serve only listens on 127.0.0.0/8 or ::1"
            ),
            LayoutError::TooMany { receivers, room } => write!(
                f,
                "{receivers} receivers, but only {room} addresses or ports are left from the first one"
            ),
        }
    }
}

/// Whether `ip` is a loopback address (127.0.0.0/8, ::1, or ::ffff:127.x.y.z).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl Layout {
    /// The listening address of each of `receivers` receivers.
    pub fn plan(self, receivers: usize) -> Result<Vec<SocketAddr>, LayoutError> {
        match self {
            Layout::Addresses { port } => {
                let first = u32::from(FIRST_ADDRESS);
                // Up to 127.255.255.254: the broadcast address of 127/8 is left out.
                let room = (u32::from(Ipv4Addr::new(127, 255, 255, 254)) - first + 1) as usize;
                check_room(receivers, room)?;
                Ok((0..receivers as u32)
                    .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(first + i)), port))
                    .collect())
            }
            Layout::Ports { ip, first } => {
                if !is_loopback(ip) {
                    return Err(LayoutError::NotLoopback(ip));
                }
                if first == 0 {
                    return Ok(vec![SocketAddr::new(ip, 0); receivers]);
                }
                check_room(receivers, usize::from(u16::MAX - first) + 1)?;
                Ok((0..receivers as u16)
                    .map(|i| SocketAddr::new(ip, first + i))
                    .collect())
            }
        }
    }
}

/// Binds receiver `name`'s listening socket; the error names the address.
pub async fn bind(address: SocketAddr, name: &str) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address} for receiver {name:?}: {e}"))
}

/// What every accept loop shares.
pub struct Door {
    pub lab: Arc<Lab>,
    pub limits: Arc<Limits>,
    /// Connections open over all receivers, and the most allowed.
    pub open: Arc<AtomicUsize>,
    pub max_connections: usize,
}

/// Accepts receiver `d`'s connections until `stop`, then ends its sessions and returns.
pub async fn accept(
    door: Arc<Door>,
    d: usize,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let address = listener
        .local_addr()
        .expect("a bound socket has an address");
    let refusals: Vec<_> = door.lab.desks[d].refusals.clone();
    let mut listener = Some(listener);
    let mut sessions = JoinSet::new();
    loop {
        let now = door.lab.clock.now();
        if let Some(&(_, end)) = refusals.iter().find(|(from, to)| *from <= now && now < *to) {
            listener = None;
            tokio::select! {
                _ = tokio::time::sleep_until(door.lab.clock.moment(end).into()) => {}
                _ = stop.changed() => break,
            }
            continue;
        }
        let Some(open) = &listener else {
            tokio::select! {
                relistened = TcpListener::bind(address) => listener = relistened.ok(),
                _ = stop.changed() => break,
            }
            if listener.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            continue;
        };
        let next_refusal = refusals
            .iter()
            .map(|&(from, _)| from)
            .find(|&from| from > now);
        let wake = next_refusal.map(|at| door.lab.clock.moment(at));
        tokio::select! {
            accepted = open.accept() => match accepted {
                Ok((stream, peer)) => {
                    let door = door.clone();
                    sessions.spawn(async move { welcome(door, d, stream, peer).await });
                }
                // Out of file descriptors, most likely: let sessions end, then go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            _ = tokio::time::sleep_until(wake.unwrap_or_else(far_future).into()), if wake.is_some() => {}
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    sessions.shutdown().await;
}

fn far_future() -> std::time::Instant {
    std::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Serves one connection, unless the server is full: then a 421 and goodbye.
async fn welcome(door: Arc<Door>, d: usize, mut stream: tokio::net::TcpStream, peer: SocketAddr) {
    let open = door.open.fetch_add(1, Ordering::SeqCst);
    let _open = Opened(&door.open);
    if open >= door.max_connections {
        let _ = stream
            .write_all(b"421 4.7.0 mtasim serve: too many connections, try again later\r\n")
            .await;
        return;
    }
    session::handle(door.lab.clone(), d, door.limits.clone(), stream, peer).await;
}

/// One open connection, counted until it ends.
struct Opened<'a>(&'a AtomicUsize);

impl Drop for Opened<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn check_room(receivers: usize, room: usize) -> Result<(), LayoutError> {
    if receivers > room {
        return Err(LayoutError::TooMany { receivers, room });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_get_consecutive_addresses_or_ports() {
        let plan = Layout::Addresses { port: 2525 }.plan(3).unwrap();
        let text: Vec<String> = plan.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["127.0.0.2:2525", "127.0.0.3:2525", "127.0.0.4:2525"]);
        let plan = Layout::Addresses { port: 25 }.plan(300).unwrap();
        assert_eq!(plan[299].to_string(), "127.0.1.45:25");
        let ports = Layout::Ports {
            ip: "::1".parse().unwrap(),
            first: 2525,
        };
        let text: Vec<String> = ports
            .plan(2)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(text, ["[::1]:2525", "[::1]:2526"]);
    }

    #[test]
    fn only_loopback_and_only_what_fits() {
        let outside = Layout::Ports {
            ip: "10.0.0.1".parse().unwrap(),
            first: 2525,
        };
        assert_eq!(
            outside.plan(1),
            Err(LayoutError::NotLoopback("10.0.0.1".parse().unwrap()))
        );
        assert!(
            outside
                .plan(1)
                .unwrap_err()
                .to_string()
                .contains("not a loopback address")
        );
        let high = Layout::Ports {
            ip: "127.0.0.1".parse().unwrap(),
            first: 65535,
        };
        assert_eq!(high.plan(1).unwrap().len(), 1);
        assert_eq!(
            high.plan(2),
            Err(LayoutError::TooMany {
                receivers: 2,
                room: 1
            })
        );
        assert!(is_loopback("::ffff:127.0.0.9".parse().unwrap()));
        assert!(!is_loopback("::2".parse().unwrap()));
    }
}
