//! Merging shards: the folders `mtasim sweep --shard I/N` wrote, checked to be the N shards
//! of one sweep, each once, with no run missing or repeated — then the whole sweep's rows,
//! which go through exactly the code an unsharded sweep's do.

use std::path::{Path, PathBuf};

use super::rank::RunRow;
use super::report::{RowsError, read_sweep_csv};
use super::{Manifest, ManifestError, Shard, Sweep};

/// Why shard folders do not merge.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no shard folders given")]
    Nothing,
    #[error(
        "{}: no such folder: that shard failed or has not finished (a shard's folder appears only when it succeeds); rerun it, then merge",
        .dir.display()
    )]
    NoFolder { dir: PathBuf },
    #[error("{}: {file}: {message}", .dir.display())]
    Unreadable {
        dir: PathBuf,
        file: &'static str,
        message: String,
    },
    #[error("{}: sweep.json: {error}", .dir.display())]
    Manifest { dir: PathBuf, error: ManifestError },
    #[error("{}: sweep.json: is a whole sweep, not a shard", .dir.display())]
    NotAShard { dir: PathBuf },
    #[error("{}: is a shard of another sweep than {}", .dir.display(), .first.display())]
    OtherSweep { dir: PathBuf, first: PathBuf },
    #[error("{}: shard {shard} is given twice", .dir.display())]
    Twice { dir: PathBuf, shard: Shard },
    #[error("{}: sweep.csv: {error}", .dir.display())]
    Rows { dir: PathBuf, error: RowsError },
    #[error("{}: sweep.csv: run {run} does not belong to shard {shard}", .dir.display())]
    Foreign {
        dir: PathBuf,
        run: usize,
        shard: Shard,
    },
    #[error("{}: sweep.csv: run {run} appears twice", .dir.display())]
    Repeated { dir: PathBuf, run: usize },
    #[error(
        "{} missing ({missing} of {runs} runs): give every shard's folder; rerun a shard that failed with the same sweep and --shard I/{count}",
        shard_list(.shards, *.count)
    )]
    MissingShards {
        shards: Vec<usize>,
        count: usize,
        missing: usize,
        runs: usize,
    },
    #[error("{}: sweep.csv: run {run} of shard {shard} is missing; rerun the shard", .dir.display())]
    Incomplete {
        dir: PathBuf,
        run: usize,
        shard: Shard,
    },
}

/// "shard 3/8 is", "shards 1/8, 3/8 are".
fn shard_list(shards: &[usize], count: usize) -> String {
    let names: Vec<String> = shards.iter().map(|i| format!("{i}/{count}")).collect();
    match names.as_slice() {
        [one] => format!("shard {one} is"),
        _ => format!("shards {} are", names.join(", ")),
    }
}

/// Reads every shard folder and returns the sweep with all its rows in run order.
pub fn merge(dirs: &[PathBuf]) -> Result<(Sweep, Vec<RunRow>), MergeError> {
    let manifests = dirs
        .iter()
        .map(|dir| read_manifest(dir).map(|m| (dir, m)))
        .collect::<Result<Vec<_>, _>>()?;
    let (first_dir, first) = manifests.first().ok_or(MergeError::Nothing)?;
    let sweep = Sweep::from_manifest(first).map_err(|error| MergeError::Manifest {
        dir: first_dir.to_path_buf(),
        error,
    })?;
    let mut rows: Vec<Option<RunRow>> = vec![None; sweep.run_count()];
    let mut seen: Vec<(usize, PathBuf)> = Vec::new();
    for (dir, manifest) in &manifests {
        let dir = dir.to_path_buf();
        let shard = manifest.shard.expect("read_manifest checked");
        if (&manifest.plan, &manifest.scenario, manifest.runs)
            != (&first.plan, &first.scenario, first.runs)
            || Some(shard.count) != first.shard.map(|s| s.count)
        {
            let first = first_dir.to_path_buf();
            return Err(MergeError::OtherSweep { dir, first });
        }
        if seen.iter().any(|(index, _)| *index == shard.index) {
            return Err(MergeError::Twice { dir, shard });
        }
        seen.push((shard.index, dir.clone()));
        let text = read(&dir, "sweep.csv")?;
        let read = read_sweep_csv(&sweep, &text);
        for row in read.map_err(|error| MergeError::Rows {
            dir: dir.clone(),
            error,
        })? {
            let run = row.config * sweep.plan.replications as usize + row.replication as usize;
            if run % shard.count != shard.index {
                return Err(MergeError::Foreign { dir, run, shard });
            }
            if rows[run].replace(row).is_some() {
                return Err(MergeError::Repeated { dir, run });
            }
        }
    }
    check_complete(
        &rows,
        &seen,
        first.shard.expect("read_manifest checked").count,
    )?;
    Ok((sweep, rows.into_iter().flatten().collect()))
}

/// Every shard given, and every run in its shard's rows: else the shards, or the first
/// run, that are missing.
fn check_complete(
    rows: &[Option<RunRow>],
    seen: &[(usize, PathBuf)],
    count: usize,
) -> Result<(), MergeError> {
    let absent: Vec<usize> = (0..count)
        .filter(|i| seen.iter().all(|(index, _)| index != i))
        .collect();
    if !absent.is_empty() {
        return Err(MergeError::MissingShards {
            shards: absent,
            count,
            missing: rows.iter().filter(|r| r.is_none()).count(),
            runs: rows.len(),
        });
    }
    match rows.iter().position(Option::is_none) {
        Some(run) => {
            let shard = Shard {
                index: run % count,
                count,
            };
            let (_, dir) = seen.iter().find(|(i, _)| *i == shard.index).expect("seen");
            Err(MergeError::Incomplete {
                dir: dir.clone(),
                run,
                shard,
            })
        }
        None => Ok(()),
    }
}

fn read(dir: &Path, file: &'static str) -> Result<String, MergeError> {
    std::fs::read_to_string(dir.join(file)).map_err(|e| MergeError::Unreadable {
        dir: dir.to_path_buf(),
        file,
        message: e.to_string(),
    })
}

/// A shard's sweep.json.
fn read_manifest(dir: &Path) -> Result<Manifest, MergeError> {
    if !dir.exists() {
        return Err(MergeError::NoFolder {
            dir: dir.to_path_buf(),
        });
    }
    let text = read(dir, "sweep.json")?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| MergeError::Unreadable {
        dir: dir.to_path_buf(),
        file: "sweep.json",
        message: e.to_string(),
    })?;
    if manifest.shard.is_none() {
        return Err(MergeError::NotAShard {
            dir: dir.to_path_buf(),
        });
    }
    Ok(manifest)
}
