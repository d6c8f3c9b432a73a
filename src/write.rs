//! Writing a rendered tree to disk: each file atomically (a temporary file in the same folder, then
//! a rename), modes set before the rename, the manifest last.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::manifest::{Listed, ListedFile, Manifest};
use crate::render::{RenderedFile, Tree};

pub const MANIFEST: &str = "manifest.json";

#[derive(Debug)]
pub struct WriteError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write {}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for WriteError {}

/// What a write did.
#[derive(Debug, Default)]
pub struct Report {
    pub written: usize,
    /// Files an earlier manifest listed that this tree no longer has; left in place.
    pub stale: Vec<ListedFile>,
}

/// Where a rendered file goes under `root`: `root/<host>/<path without its leading />`.
pub fn destination(root: &Path, file: &RenderedFile) -> PathBuf {
    root.join(file.host.as_str())
        .join(file.path.trim_start_matches('/'))
}

pub fn write_tree(tree: &Tree, root: &Path) -> Result<Report, WriteError> {
    let fail = |path: &Path| {
        let path = path.to_owned();
        move |error| WriteError { path, error }
    };
    fs::create_dir_all(root).map_err(fail(root))?;
    let previous = read_listed(&root.join(MANIFEST));
    for file in &tree.files {
        let dest = destination(root, file);
        refuse_symlinks(root, &dest).map_err(fail(&dest))?;
        let parent = dest.parent().expect("a destination is under the root");
        fs::create_dir_all(parent).map_err(fail(parent))?;
        write_atomic(&dest, file.content.as_bytes(), file.meta.mode.0).map_err(fail(&dest))?;
    }
    let manifest = root.join(MANIFEST);
    write_atomic(&manifest, Manifest::of(tree).to_json().as_bytes(), 0o644)
        .map_err(fail(&manifest))?;
    let current: BTreeSet<(&str, &str)> = tree
        .files
        .iter()
        .map(|f| (f.host.as_str(), f.path.as_str()))
        .collect();
    let stale = previous
        .into_iter()
        .filter(|f| !current.contains(&(f.host.as_str(), f.path.as_str())))
        .collect();
    Ok(Report {
        written: tree.files.len(),
        stale,
    })
}

fn read_listed(path: &Path) -> Vec<ListedFile> {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<Listed>(&text).ok())
        .map(|listed| listed.files)
        .unwrap_or_default()
}

/// A symlink planted inside the output folder could send a write anywhere: refuse to follow one.
fn refuse_symlinks(root: &Path, dest: &Path) -> std::io::Result<()> {
    let relative = dest
        .strip_prefix(root)
        .expect("a destination is under the root");
    let mut at = root.to_path_buf();
    for part in relative.components() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(std::io::Error::other(format!(
                    "{} is a symbolic link; sitewright does not write through links",
                    at.display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes `bytes` to `dest` so that a reader sees either the old file or the new one, never part.
pub fn write_atomic(dest: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = dest.parent().unwrap_or(Path::new("."));
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    // A name no earlier run can have left: the process, the time and a counter. A file of that name
    // is never someone else's, so the one this call made is the only one it removes.
    let (temp, mut file) = loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(
            ".{name}.sitewright-{}-{nanos}-{count}",
            std::process::id()
        ));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
        {
            Ok(file) => break (temp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let result = (|| {
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, dest)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}
