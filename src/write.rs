//! Writing a rendered tree to disk: each file atomically (a temporary file in the same folder, then
//! a rename), modes set before the rename, the manifest last. Every file is written, and the
//! filesystem flushed once, before the first rename, so a failure leaves every earlier file as it was.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::manifest::{Listed, ListedFile, Manifest};
use crate::render::{RenderedFile, Tree};

pub(crate) const MANIFEST: &str = "manifest.json";

#[derive(Debug)]
pub(crate) struct WriteError {
    pub(crate) path: PathBuf,
    pub(crate) error: std::io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write {}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for WriteError {}

/// What a write did.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) written: usize,
    /// Files that already held what the tree says; left untouched.
    pub(crate) unchanged: usize,
    /// Files an earlier manifest listed that this tree no longer has; left in place.
    pub(crate) stale: Vec<ListedFile>,
}

/// Where a rendered file goes under `root`: `root/<host>/<path without its leading />`.
pub(crate) fn destination(root: &Path, file: &RenderedFile) -> PathBuf {
    root.join(file.host.as_str())
        .join(file.path.trim_start_matches('/'))
}

pub(crate) fn write_tree(tree: &Tree, root: &Path) -> Result<Report, WriteError> {
    fs::create_dir_all(root).map_err(fail(root))?;
    let previous = read_listed(&root.join(MANIFEST));
    let mut folders = Folders::under(root).map_err(fail(root))?;
    let mut pending = Vec::new();
    let mut unchanged = 0;
    for file in &tree.files {
        let dest = destination(root, file);
        folders.prepare(&dest).map_err(fail(&dest))?;
        let existing = fs::symlink_metadata(&dest).ok();
        if let Some(meta) = &existing
            && meta.file_type().is_symlink()
        {
            return Err(fail(&dest)(in_the_way(&dest, meta)));
        }
        // A file that already says this keeps its time stamp: tools that watch the tree see
        // only what changed.
        if existing
            .is_some_and(|meta| holds(&dest, &meta, file.content.as_bytes(), file.meta.mode.0))
        {
            unchanged += 1;
        } else {
            pending.push((dest, file));
        }
    }
    let temps = write_temps(&pending, &folders.devices)?;
    for (i, (temp, (dest, _))) in temps.iter().zip(&pending).enumerate() {
        if let Err(error) = fs::rename(temp, dest) {
            temps[i..].iter().for_each(|t| _ = fs::remove_file(t));
            return Err(fail(dest)(error));
        }
    }
    // The renames become durable together.
    sync_filesystems(&folders.devices)?;
    let manifest = root.join(MANIFEST);
    let listing = Manifest::of(tree).to_json();
    let current = fs::symlink_metadata(&manifest).ok();
    if !current.is_some_and(|meta| holds(&manifest, &meta, listing.as_bytes(), 0o644)) {
        write_atomic(&manifest, listing.as_bytes(), 0o644).map_err(fail(&manifest))?;
    }
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
        written: pending.len(),
        unchanged,
        stale,
    })
}

fn fail(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError {
    let path = path.to_owned();
    move |error| WriteError { path, error }
}

/// Whether `dest`, of `meta`, is a regular file with exactly these bytes and permission bits.
fn holds(dest: &Path, meta: &fs::Metadata, bytes: &[u8], mode: u32) -> bool {
    meta.is_file()
        && meta.permissions().mode() & 0o7777 == mode
        && meta.len() == bytes.len() as u64
        && fs::read(dest).is_ok_and(|old| old == bytes)
}

/// A temporary file beside each pending destination, in order, all synced to disk; on failure,
/// none is left. Written a share per core: on a fast disk the kernel's work is the larger part.
fn write_temps(
    pending: &[(PathBuf, &RenderedFile)],
    devices: &BTreeMap<u64, PathBuf>,
) -> Result<Vec<PathBuf>, WriteError> {
    let written = crate::parallel::map(pending, |(dest, file)| {
        write_temp(dest, file.content.as_bytes(), file.meta.mode.0)
            .map(|(temp, _)| temp)
            .map_err(fail(dest))
    });
    let mut failure = None;
    let mut temps = Vec::with_capacity(written.len());
    for result in written {
        match result {
            Ok(temp) => temps.push(temp),
            Err(error) => _ = failure.get_or_insert(error),
        }
    }
    let failure = match failure {
        None => sync_filesystems(devices).err(),
        some => some,
    };
    match failure {
        None => Ok(temps),
        Some(error) => {
            temps.iter().for_each(|t| _ = fs::remove_file(t));
            Err(error)
        }
    }
}

/// Flushes each filesystem the tree's folders are on, once: one flush for a whole tree costs what a
/// single file's fsync does, where one per file made writing a thousand hosts take seconds.
fn sync_filesystems(devices: &BTreeMap<u64, PathBuf>) -> Result<(), WriteError> {
    use std::os::fd::AsRawFd as _;
    for folder in devices.values() {
        let handle = fs::File::open(folder).map_err(fail(folder))?;
        // SAFETY: syncfs only reads the descriptor, which `handle` keeps open for the call.
        if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
            return Err(fail(folder)(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn read_listed(path: &Path) -> Vec<ListedFile> {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<Listed>(&text).ok())
        .map(|listed| listed.files)
        .unwrap_or_default()
}

/// The folders of the output tree that are known to be real folders, not links, and the
/// filesystems they are on. A symlink planted inside the output folder could send a write
/// anywhere, so none is followed; each folder is looked at or made once, however many files it holds.
struct Folders {
    root: PathBuf,
    known: HashSet<PathBuf>,
    /// One folder on each filesystem, by device number.
    devices: BTreeMap<u64, PathBuf>,
}

impl Folders {
    fn under(root: &Path) -> std::io::Result<Self> {
        let device = fs::metadata(root)?.dev();
        Ok(Self {
            root: root.to_owned(),
            known: HashSet::from([root.to_owned()]),
            devices: BTreeMap::from([(device, root.to_owned())]),
        })
    }

    /// Makes `dest`'s folders, refusing a link anywhere from the root down.
    fn prepare(&mut self, dest: &Path) -> std::io::Result<()> {
        let parent = dest.parent().expect("a destination is under the root");
        let relative = parent
            .strip_prefix(&self.root)
            .expect("a destination is under the root");
        let mut at = self.root.clone();
        for part in relative.components() {
            at.push(part);
            if self.known.contains(&at) {
                continue;
            }
            // Made here, it is a folder and on its parent's filesystem; only one that was already
            // there needs a look.
            if let Err(error) = fs::create_dir(&at) {
                if error.kind() != std::io::ErrorKind::AlreadyExists {
                    return Err(error);
                }
                let meta = fs::symlink_metadata(&at)?;
                if !meta.is_dir() {
                    return Err(in_the_way(&at, &meta));
                }
                self.devices.entry(meta.dev()).or_insert_with(|| at.clone());
            }
            self.known.insert(at.clone());
        }
        Ok(())
    }
}

fn in_the_way(path: &Path, meta: &fs::Metadata) -> std::io::Error {
    if meta.file_type().is_symlink() {
        std::io::Error::other(format!(
            "{} is a symbolic link; sitewright does not write through links",
            path.display()
        ))
    } else {
        std::io::Error::other(format!("{} is a file where a folder goes", path.display()))
    }
}

/// Writes `bytes` to `dest` so that a reader sees either the old file or the new one, never part.
pub(crate) fn write_atomic(dest: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let (temp, file) = write_temp(dest, bytes, mode)?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    let result = file
        .sync_all()
        .and_then(|()| fs::rename(&temp, dest))
        .and_then(|()| fs::File::open(dir)?.sync_all());
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// This process's id, asked of the kernel once.
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// A new file beside `dest` holding `bytes` with `mode`, not yet synced, to be renamed over it.
fn write_temp(dest: &Path, bytes: &[u8], mode: u32) -> std::io::Result<(PathBuf, fs::File)> {
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
        let temp = dir.join(format!(".{name}.sitewright-{}-{nanos}-{count}", pid()));
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
        file.write_all(bytes)
    })();
    match result {
        Ok(()) => Ok((temp, file)),
        Err(error) => {
            let _ = fs::remove_file(&temp);
            Err(error)
        }
    }
}
