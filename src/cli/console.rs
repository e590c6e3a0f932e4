//! Standard output and error for the commands' messages, through which the command line's
//! `println!`, `print!` and `eprintln!` write (see the macros in `cli`).
//!
//! std's macros panic when the reader has gone (`mtasim replies | head`: "failed printing
//! to stdout: Broken pipe"). Here a stream that fails stops being written to, and the
//! command goes on to its own end and exit code: its outputs are written all the same, and
//! `mtasim validate *.json | head -1` still exits 2 when a later file is invalid.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static OUT_GONE: AtomicBool = AtomicBool::new(false);
static ERR_GONE: AtomicBool = AtomicBool::new(false);

/// Writes to standard output, unless its reader has gone; another failure (a full disk)
/// is said once on standard error.
pub fn out(text: fmt::Arguments) {
    if let Err(e) = write(&mut io::stdout().lock(), &OUT_GONE, text)
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        err(format_args!("error: writing to standard output: {e}\n"));
    }
}

/// Writes to standard error, unless its reader has gone.
pub fn err(text: fmt::Arguments) {
    let _ = write(&mut io::stderr().lock(), &ERR_GONE, text);
}

/// Writes `text` unless the stream has gone; a failure marks it gone.
fn write(stream: &mut impl Write, gone: &AtomicBool, text: fmt::Arguments) -> io::Result<()> {
    if gone.load(Ordering::Relaxed) {
        return Ok(());
    }
    let written = stream.write_fmt(text).and_then(|()| stream.flush());
    if written.is_err() {
        gone.store(true, Ordering::Relaxed);
    }
    written
}
