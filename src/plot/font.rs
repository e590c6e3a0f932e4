//! The one font every chart uses, embedded so no system font library is needed.

use std::sync::{LazyLock, Once};

use ab_glyph::FontRef;
use plotters::style::FontStyle;

/// DejaVu Sans (Bitstream Vera licence, see assets/fonts/LICENSE-DejaVu.txt).
const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name charts ask for.
pub const FAMILY: &str = "sans-serif";

/// Registers the embedded font with plotters once per process; call before drawing.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_err() {
            unreachable!("the embedded font is a valid TrueType file");
        }
    });
}

/// The embedded font's outlines and metrics, for laying out PNG text glyph by glyph.
pub fn face() -> &'static FontRef<'static> {
    static FACE: LazyLock<FontRef<'static>> =
        LazyLock::new(|| match FontRef::try_from_slice(DEJAVU_SANS) {
            Ok(face) => face,
            Err(_) => unreachable!("the embedded font is a valid TrueType file"),
        });
    &FACE
}
