//! Writing a rendered tree to disk: each file atomically (a temporary file in the same folder, then
//! a rename), modes set before the rename, the manifest last. Every file is written, and the
//! filesystem flushed once, before the first rename, so a failure leaves every earlier file as it was.
//! Stale files (an earlier render's, no longer rendered) are removed only once every new file is in
//! place, and before the manifest that stops listing them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::manifest::{HOST_MANIFEST, ListedFile, Manifest, listed};
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
    /// Files an earlier render wrote that this tree no longer has, removed.
    pub(crate) removed: Vec<Stale>,
    /// The same, left in place because the caller asked (`--keep-stale`).
    pub(crate) kept: Vec<Stale>,
}

/// A file an earlier render wrote under the output folder that this render does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stale {
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) dest: PathBuf,
}

/// Whose earlier files a render answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every host's: the whole spec was rendered, so a host it no longer has is stale too.
    EveryHost,
    /// Only the rendered hosts' (`--host`): the others' files are not this render's business.
    RenderedHosts,
}

/// What to do with stale files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnStale {
    Remove,
    Keep,
}

/// One file to put under the output folder: a rendered file, or a host's manifest.
pub(crate) struct Output<'a> {
    pub(crate) dest: PathBuf,
    pub(crate) bytes: Cow<'a, [u8]>,
    pub(crate) mode: u32,
}

/// Where a rendered file goes under `root`: `root/<host>/<path without its leading />`.
pub(crate) fn destination(root: &Path, file: &RenderedFile) -> PathBuf {
    root.join(file.host.as_str())
        .join(file.path.trim_start_matches('/'))
}

/// Everything a render writes under `root` but `manifest.json`: each rendered file, then each
/// host's manifest, which goes last so that it never lists a file not yet in place.
pub(crate) fn outputs<'a>(tree: &'a Tree, root: &Path) -> Vec<Output<'a>> {
    let files = tree.files.iter().map(|file| Output {
        dest: destination(root, file),
        bytes: Cow::Borrowed(file.content.as_bytes()),
        mode: file.meta.mode.0,
    });
    let manifests = Manifest::per_host(tree)
        .into_iter()
        .map(|(host, manifest)| Output {
            dest: root.join(host).join(HOST_MANIFEST.trim_start_matches('/')),
            bytes: Cow::Owned(manifest.to_json().into_bytes()),
            mode: 0o644,
        });
    files.chain(manifests).collect()
}

pub(crate) fn write_tree(
    tree: &Tree,
    root: &Path,
    scope: Scope,
    on_stale: OnStale,
) -> Result<Report, WriteError> {
    fs::create_dir_all(root).map_err(fail(root))?;
    // Read before this render rewrites the hosts' manifests.
    let stale = stale_files(tree, root, scope);
    let mut folders = Folders::under(root).map_err(fail(root))?;
    let mut pending = Vec::new();
    let mut unchanged = 0;
    let outputs = outputs(tree, root);
    for output in &outputs {
        let dest = &output.dest;
        folders.prepare(dest).map_err(fail(dest))?;
        let existing = fs::symlink_metadata(dest).ok();
        if let Some(meta) = &existing
            && meta.file_type().is_symlink()
        {
            return Err(fail(dest)(in_the_way(dest, meta)));
        }
        // A file that already says this keeps its time stamp: tools that watch the tree see
        // only what changed.
        if existing.is_some_and(|meta| holds(dest, &meta, &output.bytes, output.mode)) {
            unchanged += 1;
        } else {
            pending.push(output);
        }
    }
    let temps = write_temps(&pending, &folders.devices)?;
    for (i, (temp, output)) in temps.iter().zip(&pending).enumerate() {
        if let Err(error) = fs::rename(temp, &output.dest) {
            temps[i..].iter().for_each(|t| _ = fs::remove_file(t));
            return Err(fail(&output.dest)(error));
        }
    }
    // The renames become durable together.
    sync_filesystems(&folders.devices)?;
    let (removed, kept) = match on_stale {
        OnStale::Keep => (Vec::new(), stale),
        OnStale::Remove => {
            remove_stale(&stale, root)?;
            sync_filesystems(&folders.devices)?;
            (stale, Vec::new())
        }
    };
    // Last: until it is written, the earlier manifest still lists whatever a failure above left,
    // so the next render finds it again.
    let manifest = root.join(MANIFEST);
    let listing = Manifest::of(tree).to_json();
    let current = fs::symlink_metadata(&manifest).ok();
    if !current.is_some_and(|meta| holds(&manifest, &meta, listing.as_bytes(), 0o644)) {
        write_atomic(&manifest, listing.as_bytes(), 0o644).map_err(fail(&manifest))?;
    }
    Ok(Report {
        written: pending.len(),
        unchanged,
        removed,
        kept,
    })
}

/// Removes each stale file, then the folders that this left empty, up to (not including) `root`.
fn remove_stale(stale: &[Stale], root: &Path) -> Result<(), WriteError> {
    for file in stale {
        match fs::remove_file(&file.dest) {
            Ok(()) => {}
            // Gone since it was found: what removing it was for.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(fail(&file.dest)(error)),
        }
    }
    for file in stale {
        let mut folder = file.dest.parent();
        // remove_dir refuses a folder that is not empty, which ends the climb.
        while let Some(dir) = folder.filter(|dir| *dir != root && dir.starts_with(root)) {
            if fs::remove_dir(dir).is_err() {
                break;
            }
            folder = dir.parent();
        }
    }
    Ok(())
}

/// The files an earlier render wrote under `root` (listed by `root/manifest.json` or by a host
/// folder's own manifest) that `tree` no longer has, within `scope`. A file no manifest lists is
/// not sitewright's and is never stale.
pub(crate) fn stale_files(tree: &Tree, root: &Path, scope: Scope) -> Vec<Stale> {
    let hosts: BTreeSet<&str> = tree.files.iter().map(|f| f.host.as_str()).collect();
    let rendered: BTreeSet<(&str, &str)> = tree
        .files
        .iter()
        .map(|f| (f.host.as_str(), f.path.as_str()))
        .chain(hosts.iter().map(|host| (*host, HOST_MANIFEST)))
        .collect();
    let mut earlier: BTreeSet<ListedFile> = read_listed(&root.join(MANIFEST)).into_iter().collect();
    // Each host's manifest too: a `--host` render rewrites manifest.json without the other hosts,
    // whose own manifests still say what an earlier render put there.
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let host = entry.file_name().to_string_lossy().into_owned();
        if let Some(path) = listed_file(root, &host, HOST_MANIFEST) {
            earlier.extend(read_listed(&path).into_iter().filter(|f| f.host == host));
        }
    }
    let with_manifests: BTreeSet<String> = earlier.iter().map(|f| f.host.clone()).collect();
    earlier.extend(with_manifests.into_iter().map(|host| ListedFile {
        host,
        path: HOST_MANIFEST.to_owned(),
    }));
    earlier
        .into_iter()
        .filter(|f| scope == Scope::EveryHost || hosts.contains(f.host.as_str()))
        .filter(|f| !rendered.contains(&(f.host.as_str(), f.path.as_str())))
        .filter_map(|f| {
            let dest = listed_file(root, &f.host, &f.path)?;
            Some(Stale {
                host: f.host,
                path: f.path,
                dest,
            })
        })
        .collect()
}

/// `root/<host>/<path>` when that is a regular file reached through real folders, else none. A
/// listing is read from files anyone could have edited: a name that climbs out (`..`), or a link
/// on the way, is never followed, so nothing outside the tree is ever called stale or removed.
fn listed_file(root: &Path, host: &str, path: &str) -> Option<PathBuf> {
    if host.is_empty() || host.contains('/') {
        return None;
    }
    let relative = Path::new(host).join(path.strip_prefix('/')?);
    let mut at = root.to_owned();
    let mut parts = relative.components().peekable();
    while let Some(part) = parts.next() {
        let Component::Normal(name) = part else {
            return None;
        };
        at.push(name);
        let meta = fs::symlink_metadata(&at).ok()?;
        let wanted = if parts.peek().is_some() {
            meta.is_dir()
        } else {
            meta.is_file()
        };
        if !wanted {
            return None;
        }
    }
    Some(at)
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
    pending: &[&Output<'_>],
    devices: &BTreeMap<u64, PathBuf>,
) -> Result<Vec<PathBuf>, WriteError> {
    let written = crate::parallel::map(pending, |output| {
        write_temp(&output.dest, &output.bytes, output.mode)
            .map(|(temp, _)| temp)
            .map_err(fail(&output.dest))
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
        .map(|text| listed(&text))
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
