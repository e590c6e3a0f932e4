//! What the sending MTA did at each destination, read from its pace
//! ([`crate::calibrate::collect::pace`]): when it sent at its best pace, when it slowed down
//! with mail waiting (backoff, "dynamic flow control"), and when it stopped with mail
//! waiting (suspended). [`policy`] explains that conduct with a flow-control policy; replay
//! compares it with the twin's states.
//!
//! A log never says "backoff". It shows mail waiting (arrived, or due for a retry, and not
//! yet attempted) while the sender attempts far fewer messages than it has shown it can: a
//! step with mail waiting and fewer than [`SLOWED`] of the destination's best pace is
//! slowed; one with a flow-control hold logged, or part of a silence of at least
//! [`SILENCE`] steps with mail waiting, is paused. Steps without mail waiting say nothing
//! about the sender and are unknown. docs/CALIBRATION.md states the limits.

pub mod policy;

use super::collect::Pace;
use super::collect::pace::STEP;
use super::stats::quantile;
use crate::flow_control::State;

/// Fewer attempts than this share of the best pace, with mail waiting, is slowed.
const SLOWED: f64 = 0.35;
/// A best pace below this many attempts per step cannot tell slowed from normal.
const MIN_CAPACITY: f64 = 4.0;
/// Steps with active pace a best pace needs.
const MIN_ACTIVE: usize = 10;
/// Steps without an attempt, mail waiting, that make a pause (5 minutes).
const SILENCE: usize = 30;
/// Steps without evidence (no mail waiting) a period may span.
const GAP: usize = 12;

/// What a step shows of the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// No mail waiting (or only timeouts): nothing to tell.
    Unknown,
    Normal,
    Slowed,
    Paused,
}

/// A stretch of time the sender held a destination back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// ms since the log's origin.
    pub from: u64,
    pub to: u64,
    /// Suspended when mostly paused, else backoff.
    pub state: State,
    pub backoff_ms: u64,
    pub suspended_ms: u64,
    /// Holds logged in it.
    pub held: u64,
}

/// What the sender did at one destination.
#[derive(Debug, Clone, Default)]
pub struct Conduct {
    /// Attempts per step at its best pace (the 99th percentile of the steps with any), or
    /// 0 with too few such steps to tell.
    pub capacity: f64,
    /// The first step of `labels`.
    pub first: u32,
    pub labels: Vec<Label>,
    pub periods: Vec<Period>,
}

impl Conduct {
    /// Reads one destination's pace, in step order.
    pub fn read(pace: &[(u32, &Pace)]) -> Conduct {
        let (Some(&(first, _)), Some(&(last, _))) = (pace.first(), pace.last()) else {
            return Conduct::default();
        };
        let n = (last - first + 1) as usize;
        let mut steps = vec![Pace::default(); n];
        for (s, p) in pace {
            steps[(s - first) as usize] = **p;
        }
        let active: Vec<f64> = steps
            .iter()
            .filter(|p| p.started > 0)
            .map(|p| f64::from(p.started))
            .collect();
        let capacity = if active.len() >= MIN_ACTIVE {
            quantile(&active, 0.99)
        } else {
            0.0
        };
        let labels = labels(&steps, capacity);
        let periods = periods(&labels, &steps, first);
        Conduct {
            capacity,
            first,
            labels,
            periods,
        }
    }

    /// The label of step `s` (unknown outside the destination's traffic).
    pub fn label(&self, s: u32) -> Label {
        s.checked_sub(self.first)
            .and_then(|i| self.labels.get(i as usize))
            .copied()
            .unwrap_or(Label::Unknown)
    }

    /// Time in backoff over the whole log, in ms.
    pub fn backoff_ms(&self) -> u64 {
        self.periods.iter().map(|p| p.backoff_ms).sum()
    }

    /// Time suspended over the whole log, in ms.
    pub fn suspended_ms(&self) -> u64 {
        self.periods.iter().map(|p| p.suspended_ms).sum()
    }

    /// Every step inside a period with the state the sender held the destination in then
    /// (an unknown step bridged inside a period takes the state before it).
    pub fn held_steps(&self) -> impl Iterator<Item = (u32, State)> + '_ {
        self.periods.iter().flat_map(move |p| {
            let (from, to) = ((p.from / STEP) as u32, (p.to / STEP) as u32);
            let mut state = State::Backoff;
            (from..to).map(move |k| {
                match self.label(k) {
                    Label::Slowed => state = State::Backoff,
                    Label::Paused => state = State::Suspended,
                    _ => {}
                }
                (k, state)
            })
        })
    }

    /// Whether step `s` lies inside a period, or within `margin` steps before one starts.
    pub fn held_back(&self, s: u32, margin: u32) -> bool {
        let t = u64::from(s) * STEP;
        self.periods
            .iter()
            .any(|p| t + u64::from(margin) * STEP >= p.from && t < p.to)
    }
}

/// Each step's label: see the module documentation.
fn labels(steps: &[Pace], capacity: f64) -> Vec<Label> {
    let mut waiting: i64 = 0;
    let mut labels: Vec<Label> = steps
        .iter()
        .map(|p| {
            let before = waiting;
            waiting += i64::from(p.due) - i64::from(p.taken);
            let backlogged = before > 0 && waiting > 0;
            if p.held > 0 {
                Label::Paused
            } else if !backlogged || p.timeouts * 2 > p.started {
                Label::Unknown
            } else if f64::from(p.started) <= capacity * SLOWED || p.started == 0 {
                Label::Slowed
            } else {
                Label::Normal
            }
        })
        .collect();
    // Silences: runs of slowed steps without an attempt that are long or touch a hold.
    let mut i = 0;
    while i < labels.len() {
        if labels[i] != Label::Slowed || steps[i].started > 0 {
            i += 1;
            continue;
        }
        let end = (i..labels.len())
            .find(|&j| labels[j] != Label::Slowed || steps[j].started > 0)
            .unwrap_or(labels.len());
        let touches_hold =
            (i > 0 && labels[i - 1] == Label::Paused) || labels.get(end) == Some(&Label::Paused);
        if end - i >= SILENCE || touches_hold {
            labels[i..end].fill(Label::Paused);
        }
        i = end;
    }
    if capacity < MIN_CAPACITY {
        for l in &mut labels {
            if *l == Label::Slowed {
                *l = Label::Unknown;
            }
        }
    }
    labels
}

/// Runs of slowed and paused steps, across gaps of at most [`GAP`] unknown steps; a
/// normal step ends one.
fn periods(labels: &[Label], steps: &[Pace], first: u32) -> Vec<Period> {
    let mut out = Vec::new();
    let mut open: Option<(usize, usize, u64, u64, u64)> = None;
    let mut unknown = 0usize;
    let mut last_held_back = Label::Slowed;
    let close =
        |out: &mut Vec<Period>,
         (start, end, slowed, paused, held): (usize, usize, u64, u64, u64)| {
            out.push(Period {
                from: (u64::from(first) + start as u64) * STEP,
                to: (u64::from(first) + end as u64) * STEP,
                state: if paused > slowed {
                    State::Suspended
                } else {
                    State::Backoff
                },
                backoff_ms: slowed * STEP,
                suspended_ms: paused * STEP,
                held,
            });
        };
    for (i, label) in labels.iter().enumerate() {
        match label {
            Label::Slowed | Label::Paused => {
                let (start, mut slowed, mut paused, mut held) = match open {
                    Some((start, _, s, p, h)) => (start, s, p, h),
                    None => (i, 0, 0, 0),
                };
                // The unknown steps bridged belong to the state before them.
                let bridged = unknown as u64;
                if last_held_back == Label::Paused {
                    paused += bridged;
                } else {
                    slowed += bridged;
                }
                if *label == Label::Paused {
                    paused += 1;
                } else {
                    slowed += 1;
                }
                held += u64::from(steps[i].held);
                open = Some((start, i + 1, slowed, paused, held));
                last_held_back = *label;
                unknown = 0;
            }
            Label::Unknown => {
                if open.is_some() {
                    unknown += 1;
                    if unknown > GAP {
                        close(&mut out, open.take().unwrap());
                        unknown = 0;
                    }
                }
            }
            Label::Normal => {
                if let Some(p) = open.take() {
                    close(&mut out, (p.0, i, p.2, p.3, p.4));
                }
                unknown = 0;
            }
        }
    }
    if let Some(p) = open {
        close(&mut out, p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(started: u32, due: u32, taken: u32, held: u32) -> Pace {
        Pace {
            started,
            due,
            taken,
            held,
            ..Pace::default()
        }
    }

    #[test]
    fn slowed_and_paused_steps_are_read_from_mail_waiting() {
        // 20 steps at a pace of 20 attempts with nothing waiting; then 1,000 messages
        // arrive and wait: 10 steps at 2 attempts (slowed), 40 silent steps (paused), then
        // 20 steps at 20 again (normal).
        let mut steps: Vec<Pace> = (0..20).map(|_| pace(20, 20, 20, 0)).collect();
        steps.push(pace(2, 1000, 2, 0));
        steps.extend((0..9).map(|_| pace(2, 0, 2, 0)));
        steps.extend((0..40).map(|_| pace(0, 0, 0, 0)));
        steps.extend((0..20).map(|_| pace(20, 0, 20, 0)));
        let indexed: Vec<(u32, &Pace)> = steps
            .iter()
            .enumerate()
            .map(|(i, p)| (100 + i as u32, p))
            .collect();
        let c = Conduct::read(&indexed);
        assert_eq!(c.capacity, 20.0);
        assert_eq!(c.label(119), Label::Unknown);
        assert_eq!(
            c.label(120),
            Label::Unknown,
            "nothing waited before the burst"
        );
        assert_eq!(c.label(121), Label::Slowed);
        assert_eq!(c.label(130), Label::Paused);
        assert_eq!(c.label(170), Label::Normal);
        assert_eq!(
            c.periods,
            vec![Period {
                from: 121 * STEP,
                to: 170 * STEP,
                state: State::Suspended,
                backoff_ms: 9 * STEP,
                suspended_ms: 40 * STEP,
                held: 0,
            }]
        );
    }

    #[test]
    fn holds_and_the_silences_between_them_are_one_suspension() {
        // A hold every 30 steps with silence between (Postfix's dead site at queue runs),
        // mail waiting throughout: one suspension.
        let mut steps: Vec<Pace> = (0..15).map(|_| pace(20, 20, 20, 0)).collect();
        steps.push(pace(0, 500, 0, 0));
        for k in 0..61 {
            steps.push(pace(0, 0, 0, u32::from(k % 30 == 0) * 100));
        }
        let indexed: Vec<(u32, &Pace)> = steps
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u32, p))
            .collect();
        let c = Conduct::read(&indexed);
        assert_eq!(c.periods.len(), 1);
        let p = c.periods[0];
        assert_eq!(
            (p.from, p.to, p.state),
            (16 * STEP, 77 * STEP, State::Suspended)
        );
        assert_eq!((p.suspended_ms, p.held), (61 * STEP, 300));
    }
}
