//! `--submit`: the scenario's traffic played into the MTA under test over SMTP, each
//! message at its scenario time on the lab's clock, addressed to the receivers' domains.
//! The messages, their order and their domains are the simulator's: the same waves, the
//! same picks from the seed's "traffic" stream, so a run of the scenario and a served lab
//! carry the same mail.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_proto::Response;
use smtp_proto::response::parser::ResponseReceiver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::clock::Clock;
use crate::mta::world::{DomainId, World};
use crate::rng::{Stream, stream};
use crate::scenario::{CompiledScenario, Wave};
use crate::units::{Instant, Span};

/// How long the submitter waits for the MTA to connect or answer.
const PATIENCE: Duration = Duration::from_secs(120);
/// Messages due but not yet taken by a connection, at most.
const BACKLOG: usize = 1024;

/// Where and how to submit.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// The MTA's SMTP listener (loopback).
    pub target: SocketAddr,
    /// The envelope sender (empty: the null sender `<>`, so the MTA sends no bounces).
    pub sender: String,
    /// Connections kept open to the MTA, each submitting one message at a time.
    pub connections: usize,
}

/// What the submitter did, cumulative.
#[derive(Debug, Clone, Default)]
pub struct Submissions {
    /// Messages that came due and were offered to the MTA.
    pub submitted: u64,
    /// Answered 250 at the end of DATA.
    pub accepted: u64,
    /// Answered 4xx or 5xx (at MAIL, RCPT or DATA).
    pub refused: u64,
    /// Not submitted: no connection, or the connection broke.
    pub failed: u64,
    /// The MTA's refusals by reply (code and first line).
    pub refusals_by_reply: BTreeMap<String, u64>,
}

/// One message of the traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub at: Instant,
    /// Its number, from 0, in arrival order (the simulator's message id).
    pub id: u64,
    pub domain: String,
}

/// The scenario's traffic in arrival order: the waves' messages at the simulator's times,
/// each message's domain drawn as the simulator draws it.
pub struct Traffic {
    world: World,
    rng: Stream,
    waves: Vec<Wave>,
    sent: Vec<u64>,
    /// The waves' next arrival events, by (time, sequence), as the engine orders them.
    events: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    sequence: u64,
    due: VecDeque<Instant>,
    next_id: u64,
}

impl Traffic {
    /// The traffic of `compiled`, picking domains among `world`'s (whose receivers are
    /// not needed).
    pub fn new(compiled: &CompiledScenario, world: World) -> Traffic {
        let waves = compiled.traffic.clone();
        let mut events = BinaryHeap::new();
        let mut sequence = 0;
        for (i, wave) in waves.iter().enumerate() {
            if wave.messages > 0 {
                events.push(Reverse((wave.start, sequence, i)));
                sequence += 1;
            }
        }
        Traffic {
            world,
            rng: stream(compiled.scenario.seed, "traffic"),
            sent: vec![0; waves.len()],
            waves,
            events,
            sequence,
            due: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Every message of the wave whose arrival event comes next, as one batch.
    fn next_batch(&mut self) -> bool {
        let Some(Reverse((now, _, i))) = self.events.pop() else {
            return false;
        };
        let wave = self.waves[i];
        let due_at = |n: u64| {
            let share =
                u128::from(wave.over.as_millis()) * u128::from(n) / u128::from(wave.messages);
            wave.start + Span::from_millis(share as u64)
        };
        while self.sent[i] < wave.messages && due_at(self.sent[i]) <= now {
            self.sent[i] += 1;
            self.due.push_back(now);
        }
        if self.sent[i] < wave.messages {
            self.events
                .push(Reverse((due_at(self.sent[i]), self.sequence, i)));
            self.sequence += 1;
        }
        true
    }
}

impl Iterator for Traffic {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        while self.due.is_empty() {
            if !self.next_batch() {
                return None;
            }
        }
        let at = self.due.pop_front()?;
        let domain: DomainId = self.world.pick_domain(&mut self.rng);
        let id = self.next_id;
        self.next_id += 1;
        Some(Planned {
            at,
            id,
            domain: self.world.domain_names[domain.index()].to_string(),
        })
    }
}

/// Submits `traffic` to the MTA on `clock`'s time until it is all offered; `tag` makes
/// the Message-IDs unique to this lab.
pub async fn submit(
    clock: Clock,
    traffic: Traffic,
    options: SubmitOptions,
    tally: Arc<Mutex<Submissions>>,
    tag: String,
) {
    let (send, receive) = mpsc::channel::<Planned>(BACKLOG);
    let receive = Arc::new(tokio::sync::Mutex::new(receive));
    let mut workers = tokio::task::JoinSet::new();
    let options = Arc::new(options);
    for _ in 0..options.connections.max(1) {
        let (receive, options, tally, tag) =
            (receive.clone(), options.clone(), tally.clone(), tag.clone());
        workers.spawn(async move {
            let mut client = None;
            loop {
                let next = receive.lock().await.recv().await;
                let Some(message) = next else { break };
                let outcome = deliver(&mut client, &options, &message, &tag).await;
                tally
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .count(outcome);
            }
            if let Some(mut client) = client {
                client.quit().await;
            }
        });
    }
    for message in traffic {
        tokio::time::sleep_until(clock.moment(message.at).into()).await;
        if send.send(message).await.is_err() {
            break;
        }
    }
    drop(send);
    while workers.join_next().await.is_some() {}
}

/// How one submission ended.
enum Outcome {
    Accepted,
    Refused(String),
    Failed,
}

impl Submissions {
    fn count(&mut self, outcome: Outcome) {
        self.submitted += 1;
        match outcome {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Refused(reply) => {
                self.refused += 1;
                *self.refusals_by_reply.entry(reply).or_default() += 1;
            }
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// Submits one message on the open connection, or a new one; a connection that broke
/// before the message was answered is replaced once.
async fn deliver(
    client: &mut Option<Client>,
    options: &SubmitOptions,
    message: &Planned,
    tag: &str,
) -> Outcome {
    for _ in 0..2 {
        let fresh = client.is_none();
        if fresh {
            *client = Client::connect(options.target).await.ok();
        }
        let Some(open) = client.as_mut() else {
            return Outcome::Failed;
        };
        match open.send(&options.sender, message, tag).await {
            Ok(Ok(())) => return Outcome::Accepted,
            Ok(Err(reply)) => return Outcome::Refused(reply),
            Err(_) => {
                *client = None;
                if fresh {
                    return Outcome::Failed;
                }
            }
        }
    }
    Outcome::Failed
}

/// An SMTP client connection to the MTA under test.
struct Client {
    stream: TcpStream,
    input: Vec<u8>,
    responses: ResponseReceiver,
}

impl Client {
    async fn connect(target: SocketAddr) -> io::Result<Client> {
        let stream = tokio::time::timeout(PATIENCE, TcpStream::connect(target))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let _ = stream.set_nodelay(true);
        let mut client = Client {
            stream,
            input: Vec::with_capacity(1024),
            responses: ResponseReceiver::default(),
        };
        expect(client.reply().await?, 2)?;
        client.stream.write_all(b"EHLO mtasim-submit\r\n").await?;
        if client.reply().await?.code / 100 != 2 {
            client.stream.write_all(b"HELO mtasim-submit\r\n").await?;
            expect(client.reply().await?, 2)?;
        }
        Ok(client)
    }

    /// One reply, multi-line ones whole.
    async fn reply(&mut self) -> io::Result<Response<String>> {
        loop {
            if !self.input.is_empty() {
                let mut bytes = self.input.iter();
                match self.responses.parse(&mut bytes) {
                    Ok(response) => {
                        let used = self.input.len() - bytes.len();
                        self.input.drain(..used);
                        self.responses.reset();
                        return Ok(response);
                    }
                    Err(smtp_proto::Error::NeedsMoreData { .. }) => self.input.clear(),
                    Err(e) => {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                    }
                }
            }
            let mut chunk = [0u8; 1024];
            let n = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }

    async fn command(&mut self, line: &str) -> io::Result<Response<String>> {
        self.stream.write_all(line.as_bytes()).await?;
        self.reply().await
    }

    /// MAIL, RCPT, DATA and the message: `Ok(Err(reply))` when the MTA refused it.
    async fn send(
        &mut self,
        sender: &str,
        message: &Planned,
        tag: &str,
    ) -> io::Result<Result<(), String>> {
        let recipient = format!("m{}@{}", message.id, message.domain);
        let steps = [
            format!("MAIL FROM:<{sender}>\r\n"),
            format!("RCPT TO:<{recipient}>\r\n"),
            "DATA\r\n".to_string(),
        ];
        for (i, step) in steps.iter().enumerate() {
            let response = self.command(step).await?;
            let wanted = if i == 2 { 3 } else { 2 };
            if response.code / 100 != wanted {
                self.command("RSET\r\n").await?;
                return Ok(Err(describe(&response)));
            }
        }
        let body = format!(
            "Message-ID: {}\r\nFrom: <{sender}>\r\nTo: <{recipient}>\r\n\
             Subject: mtasim message {}\r\n\r\nSubmitted by mtasim serve at scenario time {} s.\r\n.\r\n",
            message_id(message.id, tag),
            message.id,
            message.at.as_secs_f64()
        );
        let response = self.command(&body).await?;
        Ok(if response.code / 100 == 2 {
            Ok(())
        } else {
            Err(describe(&response))
        })
    }

    async fn quit(&mut self) {
        let _ = self.command("QUIT\r\n").await;
    }
}

/// The Message-ID the submitter gives message `id` of the lab tagged `tag`.
pub fn message_id(id: u64, tag: &str) -> String {
    format!("<{id}.{tag}@mtasim.invalid>")
}

fn expect(response: Response<String>, class: u16) -> io::Result<()> {
    if response.code / 100 == class {
        return Ok(());
    }
    Err(io::Error::other(describe(&response)))
}

/// A reply as the tally keys it: its code, enhanced code and first line.
fn describe(response: &Response<String>) -> String {
    let first = response.message.lines().next().unwrap_or("");
    match response.esc {
        [0, 0, 0] => format!("{} {first}", response.code),
        [class, subject, detail] => format!("{} {class}.{subject}.{detail} {first}", response.code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    fn traffic(overrides: &[&str]) -> Vec<Planned> {
        let overrides: Vec<_> = overrides.iter().map(|o| o.parse().unwrap()).collect();
        let compiled = scenario::load("<test>", scenario::DEFAULT_SCENARIO, &overrides).unwrap();
        let world = World::build(&compiled);
        Traffic::new(&compiled, world).collect()
    }

    #[test]
    fn messages_arrive_evenly_over_their_wave() {
        let planned =
            traffic(&["traffic=[{\"start\": \"10s\", \"messages\": 4, \"over\": \"2s\"}]"]);
        let times: Vec<u64> = planned.iter().map(|p| p.at.as_millis()).collect();
        assert_eq!(times, [10_000, 10_500, 11_000, 11_500]);
        assert_eq!(
            planned.iter().map(|p| p.id).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn the_picks_are_the_simulators() {
        let overrides = ["traffic=[{\"start\": \"0s\", \"messages\": 300, \"over\": \"1m\"}]"];
        let planned = traffic(&overrides);
        let parsed: Vec<_> = overrides.iter().map(|o| o.parse().unwrap()).collect();
        let compiled = scenario::load("<test>", scenario::DEFAULT_SCENARIO, &parsed).unwrap();
        let world = World::build(&compiled);
        let mut rng = stream(compiled.scenario.seed, "traffic");
        for p in &planned {
            let domain = world.pick_domain(&mut rng);
            assert_eq!(p.domain, world.domain_names[domain.index()]);
        }
        let result = crate::sim::simulate(&compiled, Default::default()).unwrap();
        for named in &compiled.receivers {
            let injected = result.summary.destinations[&named.name].injected;
            let planned_here = planned
                .iter()
                .filter(|p| named.domains.contains(&p.domain))
                .count();
            assert_eq!(planned_here as u64, injected, "{}", named.name);
        }
    }
}
