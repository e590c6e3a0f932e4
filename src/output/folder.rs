//! An output folder written atomically: files go into a hidden sibling folder that
//! replaces the real one only when the run has finished, so a failed or interrupted run
//! leaves the previous outputs (or none), never a mix.

use std::io;
use std::path::{Path, PathBuf};

pub struct OutputFolder {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl OutputFolder {
    /// Prepares a staging folder next to `target` (which need not exist yet).
    pub fn create(target: &Path) -> io::Result<Self> {
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let name = target
            .file_name()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the output path has no folder name",
                )
            })?
            .to_string_lossy();
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir(&staging)?;
        Ok(OutputFolder {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where to write the files before [`commit`](Self::commit).
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Replaces the target folder with the staged one.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let previous = self.staging.with_extension("previous");
        if self.target.exists() {
            std::fs::rename(&self.target, &previous)?;
        }
        std::fs::rename(&self.staging, &self.target)?;
        self.committed = true;
        if previous.exists() {
            std::fs::remove_dir_all(&previous)?;
        }
        Ok(self.target.clone())
    }
}

impl Drop for OutputFolder {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_previous_folder_only_on_commit() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("run");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old.txt"), "old").unwrap();

        let abandoned = OutputFolder::create(&target).unwrap();
        std::fs::write(abandoned.path().join("new.txt"), "new").unwrap();
        drop(abandoned);
        assert!(target.join("old.txt").exists());
        assert_eq!(
            std::fs::read_dir(root.path()).unwrap().count(),
            1,
            "staging removed"
        );

        let folder = OutputFolder::create(&target).unwrap();
        std::fs::write(folder.path().join("new.txt"), "new").unwrap();
        folder.commit().unwrap();
        assert!(!target.join("old.txt").exists());
        assert!(target.join("new.txt").exists());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
