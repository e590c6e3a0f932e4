//! Writing an exported configuration: `#` comments (all three formats use them), the
//! header with the origin and the settings that have no equivalent, and the settings
//! each preceded by where it came from.

use super::{Exported, ImportNotes, Provenance};
use crate::MtaKind;
use crate::flow_control::config::FlowControlConfig;
use crate::metrics::harm::plural;
use crate::mta::config::Jitter;

/// A scenario setting the target MTA cannot say, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The `--set` path of the setting.
    pub path: String,
    pub why: String,
}

/// Collects what does not translate while an exporter walks the scenario.
#[derive(Debug, Default)]
pub struct Gaps(pub Vec<Unsupported>);

impl Gaps {
    /// An override whose key is no receiver of the scenario, so it has no domain to be
    /// written for.
    pub fn no_receiver(&mut self, at: &str) {
        self.add(
            at,
            "names no receiver of the scenario, so there is no domain to write it for",
        );
    }

    /// mtasim's error-count threshold, which no supported MTA has; `instead` says what the
    /// MTA reacts to.
    pub fn error_threshold(&mut self, kind: MtaKind, fc: &FlowControlConfig, instead: &str) {
        if fc.errors.threshold != 0 {
            self.add(
                "flow_control.errors",
                format!(
                    "{} has no error-count threshold ({} in {}){instead}",
                    kind.title(),
                    fc.errors.threshold,
                    fc.errors.window
                ),
            );
        }
    }

    /// A jittered retry, for an MTA that retries on its schedule exactly.
    pub fn no_jitter(&mut self, kind: MtaKind, jitter: Jitter) {
        if jitter != Jitter::None {
            self.add(
                "mta.retry.jitter",
                format!("{} does not jitter retries ({jitter:?})", kind.title()),
            );
        }
    }

    pub fn add(&mut self, path: impl Into<String>, why: impl Into<String>) {
        self.0.push(Unsupported {
            path: path.into(),
            why: why.into(),
        });
    }
}

/// One output file being written.
#[derive(Debug, Default)]
pub struct Doc {
    text: String,
}

impl Doc {
    pub fn line(&mut self, line: impl AsRef<str>) {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    pub fn comment(&mut self, text: impl AsRef<str>) {
        for line in text.as_ref().lines() {
            self.line(format!("# {line}").trim_end());
        }
    }

    pub fn blank(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.text.push('\n');
        }
    }

    /// A setting preceded by comments on where it came from (`path`, see
    /// [`Provenance::origin`]), indented like the setting.
    pub fn setting(&mut self, provenance: &Provenance, path: &str, indent: &str, line: String) {
        for note in provenance.origin(path) {
            self.line(format!("{indent}# {note}"));
        }
        self.line(format!("{indent}{line}"));
    }

    /// Whether `text` is already written.
    pub fn has(&self, text: &str) -> bool {
        self.text.contains(text)
    }

    pub fn text(self) -> String {
        self.text
    }
}

/// The header every exported file starts with.
/// `imported`: the scenario's import notes, whose left-out settings are listed too.
pub fn header(
    format: MtaKind,
    provenance: &Provenance,
    gaps: &Gaps,
    imported: Option<&ImportNotes>,
) -> String {
    let mut doc = Doc::default();
    doc.comment(format!(
        "{} configuration written by mtasim export-config from {}.",
        format.title(),
        provenance.source
    ));
    if let Some(sweep) = &provenance.sweep {
        for line in sweep.describe() {
            doc.comment(line);
        }
    }
    if gaps.0.is_empty() {
        doc.comment(format!(
            "Every flow-control setting of the scenario has a {} equivalent.",
            format.title()
        ));
    } else {
        doc.comment(format!(
            "{} without a {} equivalent, not written below:",
            plural(gaps.0.len() as u64, "scenario setting", "scenario settings"),
            format.title()
        ));
        for gap in &gaps.0 {
            doc.comment(format!("  {}: {}", gap.path, gap.why));
            for note in provenance.sweep.iter().flat_map(|s| s.about(&gap.path)) {
                doc.comment(format!("    ({note})"));
            }
        }
    }
    if let Some(notes) = imported.filter(|n| !n.left_out.is_empty()) {
        doc.comment(format!(
            "{} of the imported {} configuration left out on import, not written:",
            plural(notes.left_out.len() as u64, "setting", "settings"),
            notes.from.title()
        ));
        for line in &notes.left_out {
            doc.comment(format!("  {line}"));
        }
    }
    doc.blank();
    doc.text()
}

/// The exported files, each with the header, and their combination into one text: the
/// sections one after the other, each under a `# ==== name ====` line; `commented` names
/// the sections that the combined text carries as comments (so that it stays one valid
/// file of the first section's kind).
pub fn assemble(
    header: String,
    sections: Vec<(&'static str, String)>,
    commented: &[&str],
    unsupported: usize,
) -> Exported {
    let mut combined = header.clone();
    for (name, body) in &sections {
        if sections.len() > 1 {
            combined += &format!("# ==== {name} ====\n");
        }
        if commented.contains(name) {
            for line in body.lines() {
                combined += format!("# {line}").trim_end();
                combined.push('\n');
            }
        } else {
            combined += body;
        }
        if !combined.ends_with("\n\n") {
            combined.push('\n');
        }
    }
    let combined = combined.trim_end().to_string() + "\n";
    let files = sections
        .into_iter()
        .map(|(name, body)| {
            (
                name,
                format!("{header}{body}").trim_end().to_string() + "\n",
            )
        })
        .collect();
    Exported {
        files,
        combined,
        unsupported,
    }
}
