//! What the integration modules share: the mtasim binary cargo built for these tests, the
//! repository's files, a library scenario, and a command's output as text.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mtasim::scenario::{self, CompiledScenario, Override};

/// A path in the repository (`scenarios/default.json`, `tests/golden`).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A `mtasim` command, to add arguments to.
pub fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtasim"))
}

/// Runs `mtasim ARGS` in `dir` and returns what it did.
pub fn mtasim(args: &[impl AsRef<OsStr>], dir: &Path) -> Output {
    command().args(args).current_dir(dir).output().unwrap()
}

/// Runs `mtasim ARGS` in `dir` with `stdin` on its standard input.
pub fn mtasim_with_stdin(args: &[&str], dir: &Path, stdin: &[u8]) -> Output {
    let mut child = command()
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `mtasim ARGS` in `dir`; the test fails with mtasim's stderr unless it succeeds.
pub fn mtasim_ok(args: &[impl AsRef<OsStr>], dir: &Path) -> Output {
    let output = mtasim(args, dir);
    assert!(
        output.status.success(),
        "mtasim {:?}: {}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        stderr(&output)
    );
    output
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every file of a folder with its bytes, sorted by name.
pub fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// The names in a folder, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `scenarios/<name>.json` compiled with `--set` overrides.
pub fn library_scenario(name: &str, sets: &[&str]) -> CompiledScenario {
    let path = repo(&format!("scenarios/{name}.json"));
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    scenario::load_file(&path, &overrides).unwrap()
}

/// A port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `mtasim ARGS` in the repository's root (for arguments that are absolute paths).
pub fn mtasim_at_root(args: &[impl AsRef<OsStr>]) -> Output {
    mtasim(args, &repo(""))
}
