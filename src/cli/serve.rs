//! `mtasim serve`: the scenario's receivers as SMTP servers on loopback for a real MTA,
//! and with `--submit` its traffic played into that MTA.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::{Failure, OverrideArgs, check_out, load_scenario};
use crate::serve::routes::Routes;
use crate::serve::{self, Layout, Limits, Listening, Options, ServeError, SubmitOptions};
use crate::units::{Span, human_seconds};

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Scenario file (JSON; `-` reads standard input).
    pub scenario: PathBuf,
    /// Serve the receivers on consecutive ports of this loopback address, from --port,
    /// instead of one address each (127.0.0.2, 127.0.0.3, ...) on --port.
    #[arg(long, value_name = "IP")]
    pub listen: Option<IpAddr>,
    /// The receivers' port (0: a free port for each).
    #[arg(long, default_value_t = 2525)]
    pub port: u16,
    /// Also submit the scenario's traffic, each message at its time, to the MTA under test
    /// listening at HOST:PORT (loopback only).
    #[arg(long, value_name = "HOST:PORT")]
    pub submit: Option<String>,
    /// Envelope sender of the submitted messages ("" sends them with the null sender, so
    /// the MTA sends no bounces).
    #[arg(long, value_name = "ADDRESS", default_value = "mtasim@mtasim.invalid")]
    pub submit_from: String,
    /// Connections the submitter keeps open to the MTA.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub submit_connections: usize,
    /// Stop after this much wall-clock time ("90s", "2h") [default: at Ctrl-C].
    #[arg(long = "for", value_name = "DURATION")]
    pub run_for: Option<Span>,
    /// Run the scenario's clock this many times faster than the wall clock: its
    /// latencies, rate limits, greylisting delays, outages and traffic alike (60: a
    /// scenario minute per second).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub time_scale: f64,
    /// Print routing for the MTA under test: a Postfix transport map (postfix), a KumoMTA
    /// policy snippet (kumomta) or PowerMTA domain blocks (pmta).
    #[arg(long, value_name = "MTA", value_parser = parse_routes)]
    pub routes: Option<Routes>,
    /// Disconnect a client silent this long (wall clock), with a 421.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub idle_timeout: Span,
    /// Largest message accepted, in bytes (advertised with SIZE; larger ones get 552).
    #[arg(long, value_name = "BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_message_size: u64,
    /// Connections open at once over all receivers; more are answered 421 at once.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Output folder, written when the server stops [default: output/<scenario name>-serve].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_routes(text: &str) -> Result<Routes, String> {
    Routes::parse(text).ok_or_else(|| format!("unknown MTA {text:?}: postfix, kumomta or pmta"))
}

pub fn serve(args: &ServeArgs) -> Result<(), Failure> {
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    let options = options(args)?;
    let compiled = load_scenario(Some(&args.scenario), &args.overrides.set)?;
    let target = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("output").join(format!("{}-serve", compiled.scenario.name))
    });
    let quiet = args.quiet;
    let announce = |receivers: &[Listening]| {
        if !quiet {
            announce(args, &compiled.scenario.name, receivers, &target);
        }
    };
    let served = serve::serve(&compiled, options, &target, announce).map_err(|e| match e {
        ServeError::Input(message) => Failure::Input(message),
        ServeError::Io(message) => Failure::Internal(message),
    })?;
    if !quiet {
        report(&served);
    }
    Ok(())
}

/// The options, every flag checked before anything starts.
fn options(args: &ServeArgs) -> Result<Options, Failure> {
    let bad = |m: String| Failure::Input(m);
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        return Err(bad(format!(
            "--time-scale {}: must be a number greater than 0",
            args.time_scale
        )));
    }
    if args.idle_timeout < Span::SECOND / 10 {
        return Err(bad("--idle-timeout: must be at least 100ms".into()));
    }
    if args.submit_connections == 0 || args.max_connections == 0 {
        return Err(bad(
            "--submit-connections and --max-connections: must be at least 1".into(),
        ));
    }
    let layout = match args.listen {
        Some(ip) if !serve::is_loopback(ip) => {
            return Err(bad(format!(
                "--listen {ip}: not a loopback address; mtasim serve only listens on \
                 127.0.0.0/8 or ::1 (it is a test harness, never a relay)"
            )));
        }
        Some(ip) => Layout::Ports {
            ip,
            first: args.port,
        },
        None => Layout::Addresses { port: args.port },
    };
    if args.routes == Some(Routes::Kumomta) && (args.listen.is_some() || args.port == 0) {
        return Err(bad(
            "--routes kumomta: KumoMTA sets the SMTP port per egress path, so every receiver \
             needs the same port: omit --listen and give a --port other than 0"
                .into(),
        ));
    }
    let submit = args
        .submit
        .as_deref()
        .map(|target| {
            Ok::<_, Failure>(SubmitOptions {
                target: loopback_target(target)?,
                sender: args.submit_from.clone(),
                connections: args.submit_connections,
            })
        })
        .transpose()?;
    Ok(Options {
        layout,
        time_scale: args.time_scale,
        run_for: args.run_for.map(|s| Duration::from_millis(s.as_millis())),
        limits: Limits {
            idle_timeout: Duration::from_millis(args.idle_timeout.as_millis()),
            max_message_size: args.max_message_size,
        },
        max_connections: args.max_connections,
        submit,
    })
}

/// `--submit HOST:PORT`, which must resolve to loopback only.
fn loopback_target(text: &str) -> Result<SocketAddr, Failure> {
    let addresses: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| Failure::Input(format!("--submit {text}: {e} (expected HOST:PORT)")))?
        .collect();
    match addresses.first() {
        Some(first) if addresses.iter().all(|a| serve::is_loopback(a.ip())) => Ok(*first),
        _ => Err(Failure::Input(format!(
            "--submit {text}: not a loopback address; mtasim serve only submits to an MTA on \
             127.0.0.0/8 or ::1"
        ))),
    }
}

fn announce(args: &ServeArgs, name: &str, receivers: &[Listening], out: &std::path::Path) {
    let until = match args.run_for {
        Some(d) => format!("for {d} or until Ctrl-C"),
        None => "until Ctrl-C".into(),
    };
    println!(
        "mtasim serve: {} receivers of {name:?} at {}x the wall clock, {until}; outputs to {} when it stops",
        receivers.len(),
        args.time_scale,
        out.display()
    );
    let width = receivers.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in receivers {
        println!(
            "  {:<width$}  {:<21}  {}",
            r.name,
            r.address.to_string(),
            r.domains.join(" ")
        );
    }
    if let Some(submit) = &args.submit {
        println!("  submitting the scenario's traffic to {submit}");
    }
    if let Some(routes) = args.routes {
        match routes.render(receivers) {
            Ok(text) => print!("\n{text}\n"),
            Err(e) => eprintln!("warning: --routes: {e}"),
        }
    }
}

fn report(served: &serve::Served) {
    let summary = &served.summary;
    let t = &summary.totals;
    println!(
        "served {} of scenario time{}: {} connections ({} rejected at the greeting), {} transactions: \
         {} accepted, {} deferred, {} rejected",
        human_seconds(summary.served_s),
        if served.interrupted {
            " (stopped by Ctrl-C)"
        } else {
            ""
        },
        t.connections,
        t.greeting_rejects,
        t.transactions,
        t.accepted,
        t.deferrals,
        t.rejections
    );
    for (name, d) in &summary.destinations {
        let c = &d.counters;
        println!(
            "  {name}: {} accepted, {} deferred, {} rejected, peak {} sessions",
            c.accepted, c.deferrals, c.rejections, c.peak_sessions
        );
    }
    if let Some(s) = &summary.submitted {
        println!(
            "  submitted {} messages: {} accepted by the MTA, {} refused, {} failed",
            s.messages, s.accepted, s.refused, s.failed
        );
    }
    println!("  outputs: {}", served.out.display());
}
