//! Lines in backend pixels, made safe to stroke: clipped to their plotting area, and split
//! where they turn back on themselves.
//!
//! plotters' bitmap backend turns a wide polyline into a polygon whose inner corners have
//! no miter limit: where a dense series jumps up and straight down again, a corner's
//! vertex lands far outside the line (hundreds of pixels for a spike one pixel wide), and
//! the line seems to escape its panel. A polyline that never turns by more than 90° has
//! corners at most √2 half-widths from the line, so splitting at sharper turns bounds every
//! stroke to the line itself; clipping first keeps the line inside the plotting area.

/// A pixel position on the backend, as plotters gives it: x right, y down.
pub type BackendCoord = (i32, i32);

/// A plotting area in backend pixels, both ends included: plotters maps the ends of an
/// axis range onto the first pixel and the one just past the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

impl PixelRect {
    /// From a plotting area's pixel ranges.
    pub fn from_ranges((x, y): (std::ops::Range<i32>, std::ops::Range<i32>)) -> Self {
        PixelRect {
            left: x.start,
            top: y.start,
            right: x.end,
            bottom: y.end,
        }
    }

    #[cfg(test)]
    pub fn contains(&self, (x, y): BackendCoord) -> bool {
        (self.left..=self.right).contains(&x) && (self.top..=self.bottom).contains(&y)
    }
}

/// The pieces of `points` to stroke: inside `area`, with no turn sharper than 90°, each of
/// at least two distinct points; dashed into `(dash, gap)` pixel lengths when given.
pub fn pieces(
    points: &[BackendCoord],
    area: PixelRect,
    dash: Option<(u32, u32)>,
) -> Vec<Vec<BackendCoord>> {
    let gentle = clip(points, area)
        .into_iter()
        .flat_map(|run| split_sharp_turns(&run));
    match dash {
        None => gentle.collect(),
        Some((on, off)) => gentle.flat_map(|run| dashes(&run, on, off)).collect(),
    }
}

/// The runs of the polyline that lie inside `area` (a segment crossing the edge is cut
/// there), each of at least two points.
pub fn clip(points: &[BackendCoord], area: PixelRect) -> Vec<Vec<BackendCoord>> {
    let mut runs: Vec<Vec<BackendCoord>> = Vec::new();
    let mut current: Vec<BackendCoord> = Vec::new();
    for pair in points.windows(2) {
        match clip_segment(pair[0], pair[1], area) {
            Some((a, b)) => {
                if current.last() != Some(&a) {
                    flush(&mut runs, &mut current);
                    current.push(a);
                }
                current.push(b);
                // Cut short at the far end: the line leaves the area here.
                if b != pair[1] {
                    flush(&mut runs, &mut current);
                }
            }
            None => flush(&mut runs, &mut current),
        }
    }
    flush(&mut runs, &mut current);
    runs
}

fn flush(runs: &mut Vec<Vec<BackendCoord>>, current: &mut Vec<BackendCoord>) {
    if current.len() >= 2 {
        runs.push(std::mem::take(current));
    } else {
        current.clear();
    }
}

/// Liang–Barsky: the part of segment `a`–`b` inside `area`, rounded to pixels.
fn clip_segment(
    a: BackendCoord,
    b: BackendCoord,
    area: PixelRect,
) -> Option<(BackendCoord, BackendCoord)> {
    let (x0, y0) = (f64::from(a.0), f64::from(a.1));
    let (dx, dy) = (f64::from(b.0) - x0, f64::from(b.1) - y0);
    let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
    let edges = [
        (-dx, x0 - f64::from(area.left)),
        (dx, f64::from(area.right) - x0),
        (-dy, y0 - f64::from(area.top)),
        (dy, f64::from(area.bottom) - y0),
    ];
    for (p, q) in edges {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| {
        let x = (x0 + t * dx).round() as i32;
        let y = (y0 + t * dy).round() as i32;
        (
            x.clamp(area.left, area.right),
            y.clamp(area.top, area.bottom),
        )
    };
    let (start, end) = (
        if t0 == 0.0 { a } else { at(t0) },
        if t1 == 1.0 { b } else { at(t1) },
    );
    Some((start, end))
}

/// Splits a run where it turns by more than 90°, repeating the corner in both pieces so
/// the line stays connected; repeated points are dropped first.
pub fn split_sharp_turns(run: &[BackendCoord]) -> Vec<Vec<BackendCoord>> {
    let mut points: Vec<BackendCoord> = Vec::with_capacity(run.len());
    for &p in run {
        if points.last() != Some(&p) {
            points.push(p);
        }
    }
    if points.len() < 2 {
        return Vec::new();
    }
    let mut pieces = Vec::new();
    let mut current = vec![points[0], points[1]];
    for window in points.windows(3) {
        let (a, b, c) = (window[0], window[1], window[2]);
        let incoming = (i64::from(b.0 - a.0), i64::from(b.1 - a.1));
        let outgoing = (i64::from(c.0 - b.0), i64::from(c.1 - b.1));
        if incoming.0 * outgoing.0 + incoming.1 * outgoing.1 < 0 {
            pieces.push(std::mem::replace(&mut current, vec![b]));
        }
        current.push(c);
    }
    pieces.push(current);
    pieces
}

/// Dashes of `on` pixels every `on + off` pixels along the run.
fn dashes(run: &[BackendCoord], on: u32, off: u32) -> Vec<Vec<BackendCoord>> {
    let (on, period) = (f64::from(on.max(1)), f64::from(on.max(1) + off));
    let mut out = Vec::new();
    let mut current: Vec<BackendCoord> = Vec::new();
    // Distance along the run at the start of the current segment.
    let mut travelled = 0.0;
    for pair in run.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (dx, dy) = (f64::from(b.0 - a.0), f64::from(b.1 - a.1));
        let length = dx.hypot(dy);
        if length == 0.0 {
            continue;
        }
        let at = |d: f64| {
            let t = (d - travelled) / length;
            (
                (f64::from(a.0) + t * dx).round() as i32,
                (f64::from(a.1) + t * dy).round() as i32,
            )
        };
        let end = travelled + length;
        let mut d = travelled;
        while d < end {
            let phase = d % period;
            if phase < on {
                if current.is_empty() {
                    current.push(at(d));
                }
                let stop = (d - phase + on).min(end);
                current.push(if stop == end { b } else { at(stop) });
                if stop < end {
                    flush(&mut out, &mut current);
                }
                d = stop;
            } else {
                flush(&mut out, &mut current);
                d = (d - phase + period).min(end);
            }
        }
        travelled = end;
    }
    flush(&mut out, &mut current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA: PixelRect = PixelRect {
        left: 10,
        top: 10,
        right: 109,
        bottom: 59,
    };

    #[test]
    fn lines_inside_are_kept_whole() {
        let line = vec![(10, 59), (50, 20), (109, 10)];
        assert_eq!(clip(&line, AREA), vec![line]);
    }

    #[test]
    fn a_line_through_the_top_is_cut_at_the_edge() {
        // Up from y 50 to y -30 and back down: leaves at y 10, comes back at y 10.
        let line = vec![(20, 50), (60, -30), (100, 50)];
        assert_eq!(
            clip(&line, AREA),
            vec![vec![(20, 50), (40, 10)], vec![(80, 10), (100, 50)]]
        );
    }

    #[test]
    fn segments_wholly_outside_are_dropped() {
        assert!(clip(&[(0, 0), (200, 0)], AREA).is_empty());
        assert!(clip(&[(0, 100), (5, 20)], AREA).is_empty());
    }

    #[test]
    fn a_spike_is_split_at_its_tip_and_its_foot() {
        // Flat, up, straight down, flat: only the tip turns by more than 90°.
        let line = vec![(10, 50), (20, 50), (21, 12), (22, 50), (40, 50)];
        assert_eq!(
            split_sharp_turns(&line),
            vec![
                vec![(10, 50), (20, 50), (21, 12)],
                vec![(21, 12), (22, 50), (40, 50)],
            ]
        );
    }

    #[test]
    fn turns_up_to_90_degrees_stay_joined_and_repeats_go() {
        let line = vec![(10, 50), (20, 50), (20, 50), (20, 40), (30, 40)];
        assert_eq!(
            split_sharp_turns(&line),
            vec![vec![(10, 50), (20, 50), (20, 40), (30, 40)]]
        );
    }

    #[test]
    fn dashes_follow_the_line_with_their_gaps() {
        let line = vec![(10, 20), (40, 20)];
        assert_eq!(
            dashes(&line, 8, 5),
            vec![
                vec![(10, 20), (18, 20)],
                vec![(23, 20), (31, 20)],
                vec![(36, 20), (40, 20)],
            ]
        );
    }

    #[test]
    fn pieces_never_leave_the_area() {
        let zigzag: Vec<BackendCoord> = (0..200)
            .map(|i| (i, if i % 2 == 0 { 70 } else { -5 }))
            .collect();
        let drawn = pieces(&zigzag, AREA, None);
        assert!(!drawn.is_empty());
        assert!(drawn.iter().flatten().all(|&p| AREA.contains(p)));
        assert!(drawn.iter().all(|piece| piece.len() >= 2));
    }
}
