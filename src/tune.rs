//! `mtasim tune`'s judgement between its steps (calibrate, replay, sweep, export): which
//! destinations of the log had trouble, the default grid over the flow-control settings
//! that matter there, the numbers that compare the log, the twin and the recommended policy,
//! and where a recommendation goes beyond what the log can tell.

use crate::MtaKind;
use crate::calibrate::replay::{OTHER, Replay, Side};
use crate::flow_control::config::{Action, KeyKind};
use crate::scenario::Scenario;
use crate::sweep::plan::{Constraint, Parameter};
use crate::units::Span;

/// The twin's fit score below which tuning on it is refused (unless accepted): issue 26's
/// bound for a faithful twin.
pub const FIT_FLOOR: f64 = 0.9;

/// Deferrals per recipient from which a destination counts as troubled.
const DEFERRAL_SHARE: f64 = 0.05;

/// A recommendation that sends this much faster than the log's fastest bin at a troubled
/// destination is outside the evidence.
const FASTER: f64 = 1.1;

/// The groups of `r` (indices into `r.groups`) where the log shows trouble — deferrals on
/// at least 5 % of recipients, expiries, or time held back — most recipients lost first.
pub fn troubled(r: &Replay) -> Vec<usize> {
    let mut out: Vec<usize> = (0..r.groups.len())
        .filter(|&g| r.groups[g] != OTHER)
        .filter(|&g| {
            let log = &r.observed[g];
            log.deferred as f64 >= DEFERRAL_SHARE * log.recipients as f64
                || log.expired > 0
                || !(log.backoff + log.suspended).is_zero()
        })
        .collect();
    out.sort_by_key(|&g| {
        let log = &r.observed[g];
        (
            std::cmp::Reverse(log.expired + log.bounced),
            std::cmp::Reverse(log.deferred),
        )
    });
    out
}

/// The default grid: the flow-control settings the target MTA can be told, around the
/// twin's own values (which stay among the choices), including the suspension length where
/// the MTA has one. Settings no MTA has (mtasim's error-count threshold) are not varied: a
/// recommendation must survive its export. Every other setting stays the twin's.
///
/// At each `troubled` destination whose twin receiver has a rate limit, sending just under
/// it (80 % or 95 %) is tried too: every MTA here can cap a destination's rate.
pub fn default_grid(twin: &Scenario, target: MtaKind, troubled: &[&str]) -> Vec<Parameter> {
    let fc = &twin.flow_control;
    let c = fc.concurrency.max;
    let mut grid = vec![format!(
        "flow_control.concurrency.max={}",
        choices(vec![(c / 2).max(1), c, 2 * c])
    )];
    match target {
        MtaKind::Postfix => {
            let cohorts = choices(vec![fc.concurrency.failed_cohort_limit, 1]);
            grid.push(format!(
                "flow_control.concurrency.failed_cohort_limit={cohorts}"
            ));
            let dead = choices(vec![
                fc.concurrency.dead_backoff,
                Span::from_mins(5),
                Span::from_mins(30),
            ]);
            grid.push(format!("flow_control.concurrency.dead_backoff={dead}"));
        }
        MtaKind::KumoMta => {
            if let Some(rate) = fc.max_rate {
                let h = rate.per_hour();
                let per_hour = choices(vec![
                    (h / 2.0).round().max(1.0) as u64,
                    h.round() as u64,
                    (2.0 * h).round() as u64,
                ]);
                grid.push(format!(
                    "flow_control.max_rate={}/h",
                    per_hour.replace(',', "/h,")
                ));
            }
            for (i, rule) in fc.rules.iter().enumerate() {
                if rule.action == Action::Suspend {
                    let lengths = choices(vec![rule.duration, Span::from_mins(15), Span::HOUR]);
                    grid.push(format!("flow_control.rules.{i}.duration={lengths}"));
                }
            }
        }
        // Exim's configuration is not modelled: the concurrency alone.
        MtaKind::Exim => {}
        MtaKind::Pmta => {
            grid.push("flow_control.backoff.concurrency=1,2,5".into());
            grid.push("flow_control.backoff.max_rate=600/h,3600/h".into());
            let normal = choices(vec![
                fc.backoff.to_normal_after,
                Span::from_mins(15),
                Span::HOUR,
            ]);
            grid.push(format!("flow_control.backoff.to_normal_after={normal}"));
        }
    }
    if fc.key == KeyKind::Receiver {
        for receiver in &twin.receivers {
            let Some(name) = receiver.name.as_deref().filter(|n| troubled.contains(n)) else {
                continue;
            };
            if let Some(limit) = &receiver.rate_limit {
                let h = limit.rate.per_hour();
                let under = choices(vec![(0.8 * h).round() as u64, (0.95 * h).round() as u64]);
                grid.push(format!(
                    "flow_control.overrides.{name}.max_rate={}/h",
                    under.replace(',', "/h,")
                ));
            }
        }
    }
    grid.iter()
        .map(|text| text.parse().expect("the default grid parses"))
        .collect()
}

/// The scenario the sweep starts from: the twin, its initial concurrency lowered to the
/// smallest concurrency limit the grid tries (a limit below the start would be refused).
/// With the twin's positive feedback the window refills within a cohort, so only the first
/// seconds of a destination change.
pub fn sweep_base(twin: &Scenario, grid: &[Parameter]) -> Scenario {
    let mut base = twin.clone();
    let smallest = grid
        .iter()
        .filter(|p| p.path == "flow_control.concurrency.max")
        .flat_map(|p| p.values.iter().filter_map(|v| v.as_u64()))
        .min();
    if let Some(limit) = smallest.and_then(|l| u32::try_from(l).ok()) {
        let c = &mut base.flow_control.concurrency;
        c.initial = c.initial.min(limit);
    }
    base
}

/// Values as a `--vary` list, in order, each once.
fn choices<T: PartialOrd + PartialEq + std::fmt::Display>(mut values: Vec<T>) -> String {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.dedup();
    let text: Vec<String> = values.iter().map(T::to_string).collect();
    text.join(",")
}

/// The default constraints: no blocks, and no more mail lost than the twin loses (5 %
/// slack on expiries, half a point on the delivered share, for the runs' own noise). A
/// policy that looks fast by delivering less must not win.
pub fn default_requirements(twin: &Replay) -> Vec<Constraint> {
    let totals = &twin.fit.totals.metrics;
    let delivered = totals["delivered"].simulated;
    let recipients = totals["recipients"].simulated.max(1.0);
    let expired = totals["expired"].simulated;
    let share = ((delivered / recipients - 0.005).max(0.0) * 1000.0).floor() / 1000.0;
    [
        "blocks=0".to_string(),
        format!("expired<={}", (expired * 1.05).ceil()),
        format!("delivered_share>={share}"),
    ]
    .iter()
    .map(|text| text.parse().expect("the default constraints parse"))
    .collect()
}

/// The numbers the tuning report shows for one side of one destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Numbers {
    pub delivered: u64,
    pub latency_p50_s: f64,
    pub latency_p95_s: f64,
    pub deferred: u64,
    /// (delivered + deferred + bounced) / delivered: every attempt that got an answer, the
    /// log's and the simulation's alike.
    pub attempts_per_delivered: f64,
    pub backoff: Span,
    pub suspended: Span,
    pub expired: u64,
}

impl Numbers {
    pub fn of(side: &Side) -> Numbers {
        let attempts = side.delivered + side.deferred + side.bounced;
        Numbers {
            delivered: side.delivered,
            latency_p50_s: side.latency.quantile(0.5) as f64 / 1000.0,
            latency_p95_s: side.latency.quantile(0.95) as f64 / 1000.0,
            deferred: side.deferred,
            attempts_per_delivered: if side.delivered == 0 {
                f64::NAN
            } else {
                attempts as f64 / side.delivered as f64
            },
            backoff: side.backoff,
            suspended: side.suspended,
            expired: side.expired,
        }
    }
}

/// The most attempts (answered: delivered, deferred, bounced) `side` made in one bin while
/// the log shows the destination deferring.
fn peak_while_throttled(side: &Side, log: &Side) -> u64 {
    side.curves
        .iter()
        .zip(&log.curves)
        .filter(|(_, l)| l[1] > 0)
        .map(|(c, _)| c[0] + c[1] + c[2])
        .max()
        .unwrap_or(0)
}

/// Why the recommended policy at this destination is outside the evidence, if it is: while
/// the destination throttled, it sends faster than the log ever did then — and a log of
/// gentler sending cannot show how the receiver answers harder sending.
pub fn outside_evidence(name: &str, log: &Side, recommended: &Side, bin: Span) -> Option<String> {
    let was = peak_while_throttled(log, log);
    let will = peak_while_throttled(recommended, log);
    (will as f64 > FASTER * was as f64).then(|| {
        format!(
            "{name}: while it throttled, the recommendation sends up to {will} attempts per {bin} where the log never sent more than {was}: this is outside the evidence (how the receiver answers harder sending cannot be learned from a log of gentler sending)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(deferred: u64, curves: Vec<[u64; 4]>) -> Side {
        Side {
            deferred,
            curves,
            ..Side::default()
        }
    }

    #[test]
    fn faster_than_the_log_while_it_throttled_is_outside_the_evidence() {
        let bin = Span::from_mins(5);
        // The log sent 300 a bin while accepted, then 50 a bin while deferred.
        let log = side(0, vec![[300, 0, 0, 0], [40, 10, 0, 0], [45, 5, 0, 0]]);
        // 55 is the log's 50 times 1.1: inside; the calm bin does not count.
        let close = side(0, vec![[900, 0, 0, 0], [50, 5, 0, 0], [40, 0, 0, 0]]);
        assert_eq!(outside_evidence("gmx", &log, &close, bin), None);
        let faster = side(0, vec![[100, 0, 0, 0], [200, 100, 0, 0], [40, 0, 0, 0]]);
        let said = outside_evidence("gmx", &log, &faster, bin).unwrap();
        assert!(
            said.starts_with("gmx: while it throttled, the recommendation sends up to 300 attempts per 5m where the log never sent more than 50"),
            "{said}"
        );
        // A destination that never deferred says nothing about its limits either way.
        let calm = side(0, vec![[100, 0, 0, 0], [100, 0, 0, 0], [100, 0, 0, 0]]);
        assert_eq!(outside_evidence("gmx", &calm, &faster, bin), None);
    }

    #[test]
    fn attempts_per_delivered_counts_every_answer() {
        let s = Side {
            delivered: 80,
            deferred: 30,
            bounced: 10,
            ..Side::default()
        };
        assert_eq!(Numbers::of(&s).attempts_per_delivered, 1.5);
        assert!(
            Numbers::of(&Side::default())
                .attempts_per_delivered
                .is_nan()
        );
    }

    #[test]
    fn the_default_grid_varies_what_the_target_mta_can_be_told() {
        let mut twin: Scenario = serde_json::from_str(crate::scenario::DEFAULT_SCENARIO).unwrap();
        twin.flow_control.concurrency.max = 10;
        twin.flow_control.concurrency.failed_cohort_limit = 0;
        twin.flow_control.concurrency.dead_backoff = Span::from_mins(5);
        twin.flow_control.rules.clear();
        twin.flow_control.max_rate = None;
        let grid = |twin: &Scenario, kind| {
            default_grid(twin, kind, &[])
                .iter()
                .map(|p| format!("{}={}", p.path, p.values.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            grid(&twin, MtaKind::Postfix),
            [
                "flow_control.concurrency.max=3",
                "flow_control.concurrency.failed_cohort_limit=2",
                "flow_control.concurrency.dead_backoff=2"
            ]
        );
        assert_eq!(
            grid(&twin, MtaKind::KumoMta),
            ["flow_control.concurrency.max=3"]
        );
        twin.flow_control.rules =
            serde_json::from_str(r#"[{"match": "TSS04", "action": "suspend", "duration": "30m"}]"#)
                .unwrap();
        assert_eq!(
            grid(&twin, MtaKind::KumoMta),
            [
                "flow_control.concurrency.max=3",
                "flow_control.rules.0.duration=3"
            ]
        );
        assert_eq!(grid(&twin, MtaKind::Pmta).len(), 4);
        assert_eq!(choices(vec![10, 5, 20, 10]), "5,10,20");
    }
}
