//! `mtasim serve`: the scenario's receivers as real SMTP servers on loopback, so that a
//! real MTA can be tested against them — and, with `--submit`, the scenario's traffic
//! played into that MTA, so one scenario is a whole lab.
//!
//! The receivers are the simulator's own: each served receiver is a [`Receiver`] built from
//! the scenario's compiled [`Behaviour`], called through the same sans-IO methods the model
//! calls (connect, MAIL, a transaction per recipient, disconnect), with the lab's wall
//! clock (optionally sped up) as its time. The server's clock and I/O stay here; nothing
//! of the model changes.
//!
//! One file per concern: [`listen`] (addresses and accept loops), [`session`] (one SMTP
//! conversation), [`lab`] (the shared receivers behind a lock each), [`reply`] (replies on
//! the wire), [`submit`] (the traffic), [`record`] and [`outputs`] (what the lab saw).
//!
//! [`Receiver`]: crate::receiver::Receiver
//! [`Behaviour`]: crate::receiver::Behaviour

pub mod clock;
pub mod lab;
pub mod listen;
pub mod outputs;
pub mod record;
pub mod reply;
pub mod routes;
pub mod session;
pub mod submit;

use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

pub use clock::Clock;
pub use listen::{Layout, LayoutError, is_loopback};
pub use session::Limits;
pub use submit::SubmitOptions;

use lab::Lab;
use listen::Door;
use outputs::{Submitted, Tick};
use record::Journal;
use submit::{Submissions, Traffic};

use crate::mta::world::World;
use crate::output::OutputFolder;
use crate::scenario::CompiledScenario;
use crate::units::{Instant, Span};

/// Most receivers served at once (each holds a listening socket).
pub const MAX_RECEIVERS: usize = 4096;

/// How to serve.
#[derive(Debug, Clone)]
pub struct Options {
    pub layout: Layout,
    /// Scenario time per wall-clock time (1: real time).
    pub time_scale: f64,
    /// Stop after this much wall-clock time; `None`: at Ctrl-C only.
    pub run_for: Option<Duration>,
    pub limits: Limits,
    /// Connections open at once over all receivers; beyond, a 421 at once.
    pub max_connections: usize,
    pub submit: Option<SubmitOptions>,
}

/// Why serving did not start or finish.
#[derive(Debug)]
pub enum ServeError {
    /// Bad input (a layout that cannot hold the receivers, an address in use): nothing
    /// was written.
    Input(String),
    /// The system failed us (outputs could not be written).
    Io(String),
}

/// A receiver as it is announced at start.
#[derive(Debug, Clone)]
pub struct Listening {
    pub name: String,
    pub address: SocketAddr,
    pub domains: Vec<String>,
}

/// How a lab ended.
#[derive(Debug, Clone)]
pub struct Served {
    pub out: PathBuf,
    pub summary: outputs::Summary,
    /// Stopped by Ctrl-C rather than by `run_for`.
    pub interrupted: bool,
}

/// Serves `compiled`'s receivers until `options.run_for` passes or Ctrl-C, then writes
/// the outputs into `out` (atomically). `ready` is told where the receivers listen once
/// every socket is bound, before the clock starts.
pub fn serve(
    compiled: &CompiledScenario,
    options: Options,
    out: &Path,
    ready: impl FnOnce(&[Listening]),
) -> Result<Served, ServeError> {
    let mut world = World::build(compiled);
    let receivers = world.receivers.len();
    if receivers > MAX_RECEIVERS {
        return Err(ServeError::Input(format!(
            "the scenario has {receivers} receivers; mtasim serve serves at most {MAX_RECEIVERS}"
        )));
    }
    let addresses = options
        .layout
        .plan(receivers)
        .map_err(|e| ServeError::Input(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::Io(format!("cannot start the server: {e}")))?;
    runtime.block_on(async {
        let mut listeners = Vec::with_capacity(receivers);
        for (r, &address) in addresses.iter().enumerate() {
            let name = &world.receiver_names[r];
            listeners.push(
                listen::bind(address, name)
                    .await
                    .map_err(ServeError::Input)?,
            );
        }
        let bound: Vec<SocketAddr> = listeners
            .iter()
            .map(|l| l.local_addr().expect("bound"))
            .collect();
        let folder = OutputFolder::create(out)
            .map_err(|e| ServeError::Io(format!("cannot create {}: {e}", out.display())))?;
        let journal = std::fs::File::create(folder.path().join("deliveries.jsonl"))
            .map_err(|e| ServeError::Io(format!("cannot create deliveries.jsonl: {e}")))?;
        let receivers_only = std::mem::take(&mut world.receivers);
        let clock = Clock::start(options.time_scale);
        let lab = Arc::new(Lab::new(
            &world,
            receivers_only,
            &bound,
            clock,
            Journal::new(journal),
            (&compiled.scenario.name, compiled.scenario.seed),
        ));
        let listening: Vec<Listening> = lab
            .desks
            .iter()
            .map(|d| Listening {
                name: d.name.clone(),
                address: d.address,
                domains: d.domains.clone(),
            })
            .collect();
        ready(&listening);
        let (stop_tx, stop) = watch::channel(false);
        let door = Arc::new(Door {
            lab: lab.clone(),
            limits: Arc::new(options.limits.clone()),
            open: Arc::new(AtomicUsize::new(0)),
            max_connections: options.max_connections,
        });
        let mut loops = tokio::task::JoinSet::new();
        for (d, listener) in listeners.into_iter().enumerate() {
            loops.spawn(listen::accept(door.clone(), d, listener, stop.clone()));
        }
        let submissions = Arc::new(Mutex::new(Submissions::default()));
        let mut background = tokio::task::JoinSet::new();
        if let Some(submit) = options.submit.clone() {
            let traffic = Traffic::new(compiled, world);
            let tag = format!("{}-{}", compiled.scenario.seed, unix_millis());
            background.spawn(submit::submit(
                clock,
                traffic,
                submit,
                submissions.clone(),
                tag,
            ));
        }
        let ticks = Arc::new(Mutex::new(Vec::new()));
        background.spawn(sample(
            lab.clone(),
            compiled.scenario.sample_every,
            submissions.clone(),
            ticks.clone(),
        ));
        let interrupted = wait(options.run_for).await;
        let _ = stop_tx.send(true);
        background.shutdown().await;
        while loops.join_next().await.is_some() {}
        let submitted = lock(&submissions).clone();
        let (last, snapshots) = Tick::take(&lab, lab.clock.now(), Submitted::of(&submitted));
        let mut ticks = std::mem::take(&mut *lock(&ticks));
        ticks.push(last.clone());
        let summary = outputs::summary(
            &lab,
            &last,
            &snapshots,
            options.submit.is_some().then_some(&submitted),
        );
        write(&lab, &summary, &ticks, folder.path())
            .map_err(|e| ServeError::Io(format!("cannot write the outputs: {e}")))?;
        let out = folder
            .commit()
            .map_err(|e| ServeError::Io(format!("cannot write {}: {e}", out.display())))?;
        Ok(Served {
            out,
            summary,
            interrupted,
        })
    })
}

/// Waits for `run_for` or Ctrl-C; true if Ctrl-C came first.
async fn wait(run_for: Option<Duration>) -> bool {
    let timer = async {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = timer => false,
        signal = tokio::signal::ctrl_c() => signal.is_ok(),
    }
}

/// Takes a sample at every multiple of `every` (scenario time) from 0.
async fn sample(
    lab: Arc<Lab>,
    every: Span,
    submissions: Arc<Mutex<Submissions>>,
    ticks: Arc<Mutex<Vec<Tick>>>,
) {
    let mut at = Instant::ZERO;
    loop {
        tokio::time::sleep_until(lab.clock.moment(at).into()).await;
        let submitted = Submitted::of(&lock(&submissions));
        let (tick, _) = Tick::take(&lab, at, submitted);
        lock(&ticks).push(tick);
        at += every;
    }
}

fn write(lab: &Lab, summary: &outputs::Summary, ticks: &[Tick], dir: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(summary).map_err(std::io::Error::from)?;
    std::fs::write(dir.join("summary.json"), text + "\n")?;
    let mut timeseries = BufWriter::new(std::fs::File::create(dir.join("timeseries.csv"))?);
    outputs::write_timeseries(lab, ticks, &mut timeseries)?;
    timeseries.flush()?;
    outputs::write_report(lab, summary, ticks, dir)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
