//! Which input an output folder holds the outputs of, so no command silently replaces
//! another input's outputs.
//!
//! Default folders are named after the input (`output/<scenario name>`,
//! `output/<scenario name>-sweep`, `output/<log name>-diagnosis`), and two inputs often
//! share a name (every real log is `maillog`; an imported scenario keeps its base's name).
//! Every folder mtasim writes records its inputs in `.mtasim-input`. A default folder that
//! holds another input's outputs is refused, naming `--out`; an `--out` folder may be
//! replaced by any outputs (the user named it), but never a folder mtasim did not write.

use std::path::Path;

use super::Failure;
use crate::scenario;

/// The file in each output folder that names its inputs.
pub const INPUT_MARK: &str = ".mtasim-input";

/// What a command writes (its outputs, "run", "sweep", ...) from which input files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    what: &'static str,
    /// Absolute paths, "standard input", or "the built-in default scenario".
    files: Vec<String>,
}

impl Inputs {
    /// The `what` of `files` (`-` is standard input); `None` for the built-in default
    /// scenario.
    pub fn new<'a>(what: &'static str, files: impl IntoIterator<Item = &'a Path>) -> Self {
        let files = files
            .into_iter()
            .map(|path| {
                if path.as_os_str() == "-" {
                    "standard input".to_string()
                } else {
                    std::fs::canonicalize(path)
                        .unwrap_or_else(|_| path.to_path_buf())
                        .display()
                        .to_string()
                }
            })
            .collect();
        Inputs { what, files }
    }

    /// The `what` of a scenario file, or of the built-in default scenario (`None`, or a
    /// file with its very text: `scenarios/default.json`), then of the `more` files.
    pub fn scenario<'a>(
        what: &'static str,
        scenario: Option<&'a Path>,
        more: impl IntoIterator<Item = &'a Path>,
    ) -> Self {
        let builtin = scenario.is_none_or(|path| {
            std::fs::read_to_string(path).is_ok_and(|text| text == scenario::DEFAULT_SCENARIO)
        });
        let mut inputs = Inputs::new(what, scenario.filter(|_| !builtin).into_iter().chain(more));
        if builtin {
            inputs
                .files
                .insert(0, "the built-in default scenario".into());
        }
        inputs
    }

    /// The marker's text: what, then one input a line.
    fn text(&self) -> String {
        let mut text = format!("{}\n", self.what);
        for file in &self.files {
            text += &format!("{file}\n");
        }
        text
    }

    fn parse(text: &str) -> Option<Inputs> {
        let mut lines = text.lines();
        let what = match lines.next()? {
            "run" => "run",
            "sweep" => "sweep",
            "replay" => "replay",
            "diagnosis" => "diagnosis",
            _ => return None,
        };
        Some(Inputs {
            what,
            files: lines.map(str::to_string).collect(),
        })
    }

    /// "the run of /home/me/a.json", "the replay of maillog, mine.json".
    fn describe(&self) -> String {
        format!("the {} of {}", self.what, self.files.join(", "))
    }

    /// The inputs `folder`'s marker names, if it has one.
    pub fn of(folder: &Path) -> Option<Inputs> {
        let text = std::fs::read_to_string(folder.join(INPUT_MARK)).ok()?;
        Inputs::parse(&text)
    }

    /// Refuses, before anything runs, to replace `target` when it holds another input's
    /// outputs and the folder is a default one (`chosen` false: no `--out`), or when it
    /// holds files mtasim did not write.
    pub fn check(&self, target: &Path, chosen: bool) -> Result<(), Failure> {
        let Ok(mut entries) = std::fs::read_dir(target) else {
            return Ok(()); // not there yet: nothing to replace
        };
        if entries.next().is_none() {
            return Ok(());
        }
        match Inputs::of(target) {
            Some(previous) if chosen || previous == *self => Ok(()),
            Some(previous) => Err(Failure::Input(format!(
                "{} holds {}; give --out DIR to write {} beside it (or remove the folder)",
                target.display(),
                previous.describe(),
                self.describe()
            ))),
            // Outputs written before the marker existed: a default folder is mtasim's.
            None if !chosen => Ok(()),
            None => Err(Failure::Input(format!(
                "--out {}: the folder holds files mtasim did not write (no {INPUT_MARK}), \
                 which would be replaced; give a new or empty folder (or remove it)",
                target.display()
            ))),
        }
    }

    /// Records the inputs in the folder being written.
    pub fn mark(&self, folder: &Path) -> Result<(), Failure> {
        std::fs::write(folder.join(INPUT_MARK), self.text())
            .map_err(|e| Failure::Internal(format!("writing {INPUT_MARK}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_scenario_file_is_the_built_in_default() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/default.json");
        let builtin = Inputs::scenario("run", None, []);
        assert_eq!(Inputs::scenario("run", Some(&file), []), builtin);
        assert_eq!(builtin.text(), "run\nthe built-in default scenario\n");
    }

    #[test]
    fn the_marker_reads_back_as_the_same_inputs() {
        let inputs = Inputs::new("replay", [Path::new("-"), Path::new("no/such.json")]);
        assert_eq!(inputs.text(), "replay\nstandard input\nno/such.json\n");
        assert_eq!(Inputs::parse(&inputs.text()), Some(inputs));
        assert_eq!(Inputs::parse("something else\n/a\n"), None);
    }

    #[test]
    fn only_a_default_folder_of_another_input_or_a_foreign_folder_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("out");
        let a = Inputs::new("run", [Path::new("a.json")]);
        let b = Inputs::new("run", [Path::new("b.json")]);
        for chosen in [false, true] {
            assert!(a.check(&folder, chosen).is_ok(), "missing");
        }
        std::fs::create_dir(&folder).unwrap();
        for chosen in [false, true] {
            assert!(a.check(&folder, chosen).is_ok(), "empty");
        }
        std::fs::write(folder.join("notes.txt"), "mine").unwrap();
        assert!(
            a.check(&folder, false).is_ok(),
            "a default folder without a marker"
        );
        assert!(matches!(a.check(&folder, true), Err(Failure::Input(_))));
        a.mark(&folder).unwrap();
        assert!(a.check(&folder, false).is_ok());
        assert!(b.check(&folder, true).is_ok(), "--out names it");
        let Err(Failure::Input(refusal)) = b.check(&folder, false) else {
            panic!("another input's default folder is refused")
        };
        assert!(
            refusal.contains("holds the run of a.json; give --out DIR to write the run of b.json")
        );
    }
}
