//! The lab's clock: wall-clock time since the server started, as the simulator's
//! [`Instant`], optionally running faster than the wall clock (`--time-scale`), so that a
//! scenario written in minutes can be served in seconds.

use std::time::Duration;

use crate::units::{Instant, Span};

/// Scenario time read off the wall clock: `scale` scenario milliseconds per wall
/// millisecond, from the moment the clock was started.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
    scale: f64,
}

impl Clock {
    /// A clock at scenario time 0 now. `scale` must be finite and positive.
    pub fn start(scale: f64) -> Clock {
        assert!(scale.is_finite() && scale > 0.0, "time scale {scale}");
        Clock {
            origin: std::time::Instant::now(),
            scale,
        }
    }

    /// Scenario time now.
    pub fn now(&self) -> Instant {
        self.at(std::time::Instant::now())
    }

    /// Scenario time at wall-clock `moment` (time 0 before the start).
    pub fn at(&self, moment: std::time::Instant) -> Instant {
        let wall = moment.saturating_duration_since(self.origin);
        Instant::from_millis((wall.as_secs_f64() * 1000.0 * self.scale) as u64)
    }

    /// The wall-clock time a scenario span takes.
    pub fn wall(&self, span: Span) -> Duration {
        Duration::from_secs_f64(span.as_millis() as f64 / 1000.0 / self.scale)
    }

    /// The wall-clock moment of scenario time `at`.
    pub fn moment(&self, at: Instant) -> std::time::Instant {
        self.origin + self.wall(at - Instant::ZERO)
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_time_runs_faster_than_the_wall_clock() {
        let clock = Clock::start(60.0);
        let later = clock.origin + Duration::from_millis(1500);
        assert_eq!(clock.at(later), Instant::from_millis(90_000));
        assert_eq!(clock.wall(Span::MINUTE), Duration::from_secs(1));
        assert_eq!(clock.moment(Instant::from_millis(90_000)), later);
        if let Some(before) = clock.origin.checked_sub(Duration::from_secs(1)) {
            assert_eq!(clock.at(before), Instant::ZERO);
        }
    }
}
