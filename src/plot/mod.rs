//! Charts drawn with plotters: pure-Rust text from an embedded font, PNG and SVG.

pub mod font;
