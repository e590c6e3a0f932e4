//! PNG text laid out glyph by glyph with the embedded font's own metrics.
//!
//! plotters 0.3.7 rasterises bitmap text (its ab_glyph font backend) by putting each
//! glyph's bitmap at the truncated pen position, without the glyph's left side bearing, and
//! its top at a truncated offset from a baseline half the text size down. Truncation rounds
//! the negative offsets of tall glyphs and the positive ones of short glyphs in opposite
//! directions, so a period sat a pixel above the digits' baseline, and glyph gaps varied by
//! a pixel or more ("4·7·0"). [`Typeset`] wraps a bitmap backend and draws the charts' text
//! itself: pen positions from advances and kerning, each glyph rasterised at its subpixel
//! pen position (so its bearing counts), every glyph on one whole-pixel baseline. Shapes go
//! to the wrapped backend unchanged; the SVGs keep their text as text, which the browser
//! lays out.

use ab_glyph::{Font, Glyph, PxScale, ScaleFont, point};
use plotters_backend::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

use super::font;

/// A drawing backend that draws text in the charts' font with [`Line`]'s layout and
/// everything else with the backend it wraps.
pub struct Typeset<DB> {
    inner: DB,
}

impl<DB: DrawingBackend> Typeset<DB> {
    pub fn new(inner: DB) -> Self {
        Typeset { inner }
    }
}

/// One line of text at one size, laid out from the pen's start on the baseline.
struct Line {
    /// Each glyph at its pen position (x from the start, y 0 on the baseline).
    glyphs: Vec<Glyph>,
    /// The sum of advances and kerning: where the pen ends.
    width: f32,
    /// The font's ascent and descent (negative, below the baseline) at this size.
    ascent: f32,
    descent: f32,
}

impl Line {
    /// Lays out `text` at `size` pixels (the font's ascent to descent, as plotters sizes
    /// it), kerning each pair of glyphs.
    fn new(text: &str, size: f64) -> Line {
        let font = font::face().as_scaled(PxScale::from(size as f32));
        let mut glyphs = Vec::with_capacity(text.len());
        let mut pen = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(previous) = previous {
                pen += font.kern(previous, id);
            }
            glyphs.push(id.with_scale_and_position(font.scale(), point(pen, 0.0)));
            pen += font.h_advance(id);
            previous = Some(id);
        }
        Line {
            glyphs,
            width: pen,
            ascent: font.ascent(),
            descent: font.descent(),
        }
    }

    /// The line's box, ascent to descent by the pen's travel, in whole pixels.
    fn size(&self) -> (u32, u32) {
        (
            self.width.ceil() as u32,
            (self.ascent - self.descent).ceil() as u32,
        )
    }

    /// Where the pen starts relative to the anchor point: x, and the baseline's y, both on
    /// whole pixels so every line's stems and baseline are crisp.
    fn origin(&self, anchor: Pos) -> (f32, f32) {
        let x = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -self.width / 2.0,
            HPos::Right => -self.width,
        };
        let height = self.ascent - self.descent;
        let top = match anchor.v_pos {
            VPos::Top => 0.0,
            VPos::Center => -height / 2.0,
            VPos::Bottom => -height,
        };
        (x.round(), (top + self.ascent).round())
    }
}

/// Whether plotters' text in `style` is in the charts' font, which [`Typeset`] lays out.
fn ours<S: BackendTextStyle>(style: &S) -> bool {
    style.family().as_str() == font::FAMILY
}

impl<DB: DrawingBackend> DrawingBackend for Typeset<DB> {
    type ErrorType = DB::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        if !ours(style) {
            return self.inner.estimate_text_size(text, style);
        }
        Ok(Line::new(text, style.size()).size())
    }

    /// Rasterises each glyph at its subpixel pen position and blends its coverage into the
    /// wrapped backend, turned about the anchor as the style asks (axis titles).
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        if !ours(style) {
            return self.inner.draw_text(text, style, pos);
        }
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let line = Line::new(text, style.size());
        let (x, baseline) = line.origin(style.anchor());
        let turn = style.transform();
        let (width, height) = self.inner.get_size();
        for mut glyph in line.glyphs {
            glyph.position = point(x + glyph.position.x, baseline);
            let Some(outline) = font::face().outline_glyph(glyph) else {
                continue; // a space
            };
            let corner = outline.px_bounds().min;
            let mut drawn = Ok(());
            outline.draw(|dx, dy, coverage| {
                let (dx, dy) =
                    turn.transform(corner.x as i32 + dx as i32, corner.y as i32 + dy as i32);
                let (px, py) = (pos.0 + dx, pos.1 + dy);
                let inside = (0..width as i32).contains(&px) && (0..height as i32).contains(&py);
                if inside && coverage > 0.0 && drawn.is_ok() {
                    let ink = BackendColor {
                        alpha: color.alpha * f64::from(coverage.min(1.0)),
                        rgb: color.rgb,
                    };
                    drawn = self.inner.draw_pixel((px, py), ink);
                }
            });
            drawn?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ab_glyph::{Font, PxScale, ScaleFont};
    use plotters::prelude::*;
    use plotters::style::FontTransform;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    use super::Typeset;
    use crate::plot::font::{self, FAMILY};

    const WIDTH: u32 = 160;
    const HEIGHT: u32 = 160;
    /// Where the text's top left is anchored.
    const AT: (i32, i32) = (20, 30);

    /// Ink (0 white to 1 black) of `text` drawn in black at `size`, anchored at its top
    /// left at [`AT`] and turned by `turn`, row by row.
    fn ink(text: &str, size: u32, turn: FontTransform) -> Vec<Vec<f64>> {
        font::register();
        let mut pixels = vec![0; (WIDTH * HEIGHT * 3) as usize];
        {
            let root = Typeset::new(BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)))
                .into_drawing_area();
            root.fill(&WHITE).expect("filling");
            let style = (FAMILY, size)
                .into_font()
                .transform(turn)
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Top));
            root.draw(&Text::new(text, AT, style))
                .expect("drawing text");
            root.present().expect("presenting");
        }
        pixels
            .chunks(WIDTH as usize * 3)
            .map(|row| {
                row.chunks(3)
                    .map(|rgb| 1.0 - f64::from(rgb[0]) / 255.0)
                    .collect()
            })
            .collect()
    }

    /// The columns `from..to` and rows with at least half a pixel of ink, by column runs:
    /// one (first column, last column, last row) per glyph, left to right.
    fn glyph_inks(ink: &[Vec<f64>]) -> Vec<(usize, usize, usize)> {
        let inked = |x: usize| ink.iter().any(|row| row[x] >= 0.5);
        let mut glyphs = Vec::new();
        let mut x = 0;
        while x < WIDTH as usize {
            if !inked(x) {
                x += 1;
                continue;
            }
            let first = x;
            while x < WIDTH as usize && inked(x) {
                x += 1;
            }
            let last_row = (0..HEIGHT as usize)
                .filter(|&y| ink[y][first..x].iter().any(|&v| v >= 0.5))
                .max()
                .expect("an inked column has an inked row");
            glyphs.push((first, x - 1, last_row));
        }
        glyphs
    }

    /// The font's own answer: where each glyph's outline starts, from the anchor, by pen
    /// advances, kerning and left side bearings; and the baseline's depth (the ascent).
    fn font_metrics(text: &str, size: u32) -> (Vec<f32>, f32) {
        let font = font::face().as_scaled(PxScale::from(size as f32));
        let mut pen = 0.0;
        let mut previous = None;
        let mut starts = Vec::new();
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(previous) = previous {
                pen += font.kern(previous, id);
            }
            starts.push(AT.0 as f32 + pen + font.h_side_bearing(id));
            pen += font.h_advance(id);
            previous = Some(id);
        }
        (starts, AT.1 as f32 + font.ascent())
    }

    /// "4.7.0" at the sizes the charts use: every glyph's ink starts where the font's
    /// advances and bearings put it (plotters' own text dropped the bearing and truncated
    /// the pen, so the period sat 2 px early), and the period sits on the digits' baseline
    /// (plotters' raised it a pixel at odd sizes: "4·7·0").
    #[test]
    fn periods_sit_on_the_baseline_where_the_advances_put_them() {
        for size in [13, 14, 17, 24, 31] {
            let ink = ink("4.7.0", size, FontTransform::None);
            let glyphs = glyph_inks(&ink);
            assert_eq!(
                glyphs.len(),
                5,
                "size {size}: five separate glyphs, got {glyphs:?}"
            );
            let (starts, baseline) = font_metrics("4.7.0", size);
            for (i, ((first, _, _), start)) in glyphs.iter().zip(&starts).enumerate() {
                assert!(
                    (*first as f32 - start).abs() <= 1.0,
                    "size {size}: glyph {i} of 4.7.0 starts at column {first}, the font puts it at {start:.2}"
                );
            }
            // The last inked row of a glyph standing on the baseline is the row above it.
            let bottoms: Vec<usize> = glyphs.iter().map(|g| g.2).collect();
            let [four, dot, seven, dot2, _] = bottoms[..] else {
                unreachable!("five glyphs")
            };
            assert_eq!(
                (dot, seven, dot2),
                (four, four, four),
                "size {size}: bottoms of 4 . 7 . {bottoms:?}"
            );
            assert!(
                (four as f32 + 1.0 - baseline).abs() <= 1.0,
                "size {size}: baseline at row {}, the font's ascent puts it at {baseline:.2}",
                four + 1
            );
        }
    }

    /// An axis title turned a quarter is the same pixels as the level text, turned about
    /// the anchor.
    #[test]
    fn turned_text_is_level_text_turned() {
        let level = ink("4.7.0 (s)", 17, FontTransform::None);
        let turned = ink("4.7.0 (s)", 17, FontTransform::Rotate90);
        for (y, row) in level.iter().enumerate() {
            for (x, &v) in row.iter().enumerate() {
                let (dx, dy) = (x as i32 - AT.0, y as i32 - AT.1);
                // Rotate90 takes (dx, dy) to (-dy, dx).
                let (tx, ty) = (AT.0 - dy, AT.1 + dx);
                if v > 0.0 && (0..WIDTH as i32).contains(&tx) && (0..HEIGHT as i32).contains(&ty) {
                    assert_eq!(turned[ty as usize][tx as usize], v, "pixel {x},{y}");
                }
            }
        }
    }

    /// The size plotters lays charts out with is the line's: the pen's travel (advances and
    /// kerning: T and o kern 2.5 px closer at 17 px) by the font's ascent to descent.
    #[test]
    fn estimated_size_is_the_kerned_advances_and_the_line_height() {
        font::register();
        let mut pixels = vec![0; 3];
        let root =
            Typeset::new(BitMapBackend::with_buffer(&mut pixels, (1, 1))).into_drawing_area();
        let style = TextStyle::from((FAMILY, 17).into_font());
        let (width, height) = root
            .estimate_text_size("To 4.7.0", &style)
            .expect("estimating");
        let font = font::face().as_scaled(PxScale::from(17.0));
        let id = |c| font.glyph_id(c);
        let advances: f32 = "To 4.7.0".chars().map(|c| font.h_advance(id(c))).sum();
        let kerned = advances + font.kern(id('T'), id('o'));
        assert!(
            kerned < advances - 2.0,
            "T and o kern: {kerned} of {advances}"
        );
        assert_eq!((width, height), (kerned.ceil() as u32, 17));
    }
}
