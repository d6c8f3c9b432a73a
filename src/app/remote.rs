//! The live hosts themselves, read over the system's OpenSSH client for `diff --ssh` and `fetch`:
//! one `ssh` a host and a round (a shell script that prints each asked path's content, mode and
//! owner), through one multiplexed connection a host, hosts in parallel up to a bound, each with a
//! deadline. Nothing is ever written on a host; a host that cannot be read is reported with the
//! reason and leaves the others be.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::Failure;
use crate::diff::LiveFile;
use crate::live::LiveFiles;
use crate::plan::Mode;

/// How the hosts are reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ssh {
    /// An ssh_config file to use instead of ~/.ssh/config (`ssh -F`).
    pub(super) config: Option<PathBuf>,
    pub(super) inventory: Inventory,
    /// How many hosts are read at once.
    pub(super) jobs: usize,
    /// How long one host may take, connection included.
    pub(super) timeout: Duration,
}

/// Where each host of the spec is reached: by default `ssh NAME`, its name in the spec, which
/// ~/.ssh/config may map to an address, a user and a key, as Ansible uses an inventory's names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Inventory {
    hosts: BTreeMap<String, Target>,
}

/// One host's entry of the inventory file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    /// The ssh destination: `NAME`, `user@address` or an ssh_config Host.
    #[serde(default)]
    ssh: Option<String>,
    /// Read the files through `sudo -n` (never a password prompt), for files only root reads.
    #[serde(default)]
    sudo: bool,
    /// The folder that is the host's `/` (a mounted image or a container's root).
    #[serde(default)]
    root: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    hosts: BTreeMap<String, Target>,
}

impl Inventory {
    /// Reads an inventory file: `hosts: { NAME: { ssh: DEST, sudo: true, root: DIR } }`.
    pub(super) fn load(path: &Path) -> Result<Self, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| Failure::Read(path.to_owned(), e))?;
        let file: InventoryFile = serde_saphyr::from_str(&text)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        Ok(Self { hosts: file.hosts })
    }

    /// Names of the inventory that are no host of the spec.
    pub(super) fn unknown<'a>(&'a self, known: &[&str]) -> Vec<&'a str> {
        self.hosts
            .keys()
            .map(String::as_str)
            .filter(|name| !known.contains(name))
            .collect()
    }

    fn target(&self, host: &str) -> Target {
        self.hosts.get(host).cloned().unwrap_or_default()
    }
}

/// What was read of one host: each path's entry, or why the host could not be read.
type HostRead = Result<HashMap<String, Entry>, String>;

/// What one path on a host is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File {
        bytes: Vec<u8>,
        mode: u32,
        owner: String,
    },
    Missing,
    /// There, and not readable by the user ssh logs in as (without `sudo`).
    Denied,
    /// A folder, with the names of the files in it.
    Folder(Vec<String>),
    /// Neither a file nor a folder (a socket, a device).
    Other,
}

/// The paths read from each host, or why a host could not be read.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    hosts: BTreeMap<String, HostRead>,
}

impl Snapshot {
    /// The hosts that could not be read, with the reason.
    pub(super) fn failures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.hosts
            .iter()
            .filter_map(|(host, r)| r.as_ref().err().map(|e| (host.as_str(), e.as_str())))
    }

    pub(super) fn reached(&self, host: &str) -> bool {
        matches!(self.hosts.get(host), Some(Ok(_)))
    }

    fn entry(&self, host: &str, path: &str) -> Option<&Entry> {
        self.hosts.get(host)?.as_ref().ok()?.get(path)
    }

    /// The live file at `path` on `host` as `diff` compares it; `Err` when it is there but
    /// could not be read.
    pub(super) fn file(&self, host: &str, path: &str) -> Result<Option<LiveFile>, String> {
        match self.entry(host, path) {
            Some(Entry::File { bytes, mode, owner }) => Ok(Some(LiveFile {
                content: String::from_utf8_lossy(bytes).into_owned(),
                mode: Some(Mode(*mode)),
                owner: Some(owner.clone()),
            })),
            Some(Entry::Denied) => Err(format!(
                "{path} is not readable by the user ssh logs in as: give the host `sudo: true` in the inventory"
            )),
            Some(Entry::Folder(_)) | Some(Entry::Other) => {
                Err(format!("{path} is not a regular file"))
            }
            Some(Entry::Missing) | None => Ok(None),
        }
    }

    /// Each readable file of each host, for `fetch`.
    pub(super) fn files(&self) -> impl Iterator<Item = (&str, &str, &[u8], u32)> {
        self.hosts.iter().flat_map(|(host, entries)| {
            entries.iter().flat_map(move |entries| {
                entries.iter().filter_map(move |(path, entry)| match entry {
                    Entry::File { bytes, mode, .. } => {
                        Some((host.as_str(), path.as_str(), bytes.as_slice(), *mode))
                    }
                    _ => None,
                })
            })
        })
    }

    /// Paths of `wanted` this snapshot has not read yet, by host; a host that failed has none.
    fn unread(&self, wanted: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, Vec<String>> {
        wanted
            .iter()
            .filter_map(|(host, paths)| {
                let read = match self.hosts.get(host) {
                    Some(Ok(read)) => Some(read),
                    Some(Err(_)) => return None,
                    None => None,
                };
                let new: Vec<String> = paths
                    .iter()
                    .filter(|p| read.is_none_or(|r| !r.contains_key(*p)))
                    .cloned()
                    .collect();
                (!new.is_empty()).then(|| (host.clone(), new))
            })
            .collect()
    }
}

impl LiveFiles for Snapshot {
    fn read(&self, host: &str, path: &str) -> Option<String> {
        match self.entry(host, path)? {
            Entry::File { bytes, .. } => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }

    fn exists(&self, host: &str, path: &str) -> bool {
        !matches!(self.entry(host, path), None | Some(Entry::Missing))
    }

    fn list(&self, host: &str, dir: &str) -> Vec<String> {
        match self.entry(host, dir) {
            Some(Entry::Folder(names)) => names.clone(),
            _ => Vec::new(),
        }
    }
}

/// A snapshot's answers, with every path asked for written down: what a look at the live tree
/// needs that has not been read yet is the next round's.
pub(super) struct Asking<'a> {
    snapshot: &'a Snapshot,
    asked: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl LiveFiles for Asking<'_> {
    fn read(&self, host: &str, path: &str) -> Option<String> {
        self.note(host, path);
        self.snapshot.read(host, path)
    }

    fn exists(&self, host: &str, path: &str) -> bool {
        self.note(host, path);
        self.snapshot.exists(host, path)
    }

    fn list(&self, host: &str, dir: &str) -> Vec<String> {
        self.note(host, dir);
        self.snapshot.list(host, dir)
    }
}

impl Asking<'_> {
    fn note(&self, host: &str, path: &str) {
        self.asked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(host.to_owned())
            .or_default()
            .insert(path.to_owned());
    }
}

/// The most rounds a snapshot takes: the rendered files and the manifest, then what they name
/// (stale files, included folders), then what those hold.
const ROUNDS: usize = 4;

/// Reads `wanted` from each host, then whatever `look` asks of the live tree beyond it, round by
/// round, until it asks nothing new.
pub(super) fn snapshot(
    ssh: &Ssh,
    wanted: BTreeMap<String, BTreeSet<String>>,
    look: impl Fn(&Asking<'_>),
) -> Snapshot {
    let control = ControlDir::new();
    let mut snapshot = Snapshot::default();
    let mut wanted = wanted;
    // What the look asks of an empty tree (the folders and files it always reads) goes in the
    // first round too: each round is a session a host, which costs a server a tenth of a second.
    let asking = Asking {
        snapshot: &snapshot,
        asked: Mutex::new(BTreeMap::new()),
    };
    look(&asking);
    for (host, paths) in asking.asked.into_inner().unwrap_or_else(|p| p.into_inner()) {
        if let Some(known) = wanted.get_mut(&host) {
            known.extend(paths);
        }
    }
    for _ in 0..ROUNDS {
        let unread = snapshot.unread(&wanted);
        if unread.is_empty() {
            break;
        }
        let results = read_hosts(ssh, &control, &unread);
        for (host, result) in results {
            match (result, snapshot.hosts.get_mut(&host)) {
                (Ok(entries), Some(Ok(read))) => read.extend(entries),
                (result, _) => {
                    snapshot.hosts.insert(host, result);
                }
            }
        }
        let asking = Asking {
            snapshot: &snapshot,
            asked: Mutex::new(BTreeMap::new()),
        };
        look(&asking);
        let asked = asking.asked.into_inner().unwrap_or_else(|p| p.into_inner());
        for (host, paths) in asked {
            wanted.entry(host).or_default().extend(paths);
        }
    }
    snapshot
}

/// A private folder for the connections' control sockets, removed when dropped.
struct ControlDir(PathBuf);

impl ControlDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("sitewright-ssh-{}-{nanos}", std::process::id()));
        let _ = std::fs::create_dir(&dir);
        let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        Self(dir)
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One round: each host's `paths`, read by one `ssh` each, `ssh.jobs` at a time.
fn read_hosts(
    ssh: &Ssh,
    control: &ControlDir,
    paths: &BTreeMap<String, Vec<String>>,
) -> Vec<(String, HostRead)> {
    let queue = Mutex::new(paths.iter().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..ssh.jobs.clamp(1, paths.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                    let Some((host, paths)) = next else { break };
                    let deadline = Instant::now() + ssh.timeout;
                    let result = read_host(ssh, control, host, paths, deadline);
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((host.clone(), result));
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// What the host runs: for each path, a header line and, for a file, its bytes in base64 on the
/// next line (for a folder, its file names). Only reads: `test`, `stat`, `base64`, `printf`.
const SCRIPT: &str = r#"for p in "$@"; do
if [ -d "$p" ]; then printf 'L\t%s\n' "$p"; for f in "$p"/* "$p"/.[!.]*; do if [ -e "$f" ] && [ ! -d "$f" ]; then printf '%s\n' "${f##*/}"; fi; done | base64 -w0; printf '\n'
elif [ -f "$p" ]; then if [ -r "$p" ]; then printf 'F\t%s\t%s\n' "$p" "$(stat -c '%a %U:%G' "$p")"; base64 -w0 < "$p"; printf '\n'; else printf 'D\t%s\n' "$p"; fi
elif [ -e "$p" ]; then printf 'O\t%s\n' "$p"
else printf 'M\t%s\n' "$p"; fi
done"#;

/// `text` as one word of a POSIX shell command line.
fn shell_word(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn read_host(
    ssh: &Ssh,
    control: &ControlDir,
    host: &str,
    paths: &[String],
    deadline: Instant,
) -> HostRead {
    let target = ssh.inventory.target(host);
    let root = target.root.as_deref().unwrap_or("").trim_end_matches('/');
    let mut remote = String::new();
    if target.sudo {
        remote.push_str("sudo -n ");
    }
    remote.push_str("sh -c ");
    remote.push_str(&shell_word(SCRIPT));
    remote.push_str(" sitewright-read");
    for path in paths {
        remote.push(' ');
        remote.push_str(&shell_word(&format!("{root}{path}")));
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(format!("timed out after {}s", ssh.timeout.as_secs()));
    }
    let mut command = Command::new("ssh");
    if let Some(config) = &ssh.config {
        command.arg("-F").arg(config);
    }
    command
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ControlMaster=auto",
            "-o",
            "ControlPersist=5",
        ])
        .arg("-o")
        .arg(format!("ControlPath={}/%C", control.0.display()))
        .arg("-o")
        .arg(format!("ConnectTimeout={}", left.as_secs().max(1)))
        .arg("-T")
        .arg(target.ssh.as_deref().unwrap_or(host))
        .arg("--")
        .arg(remote);
    let errors = control.0.join(format!("{host}.stderr"));
    let stderr = std::fs::File::create(&errors).map_err(|e| e.to_string())?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("ssh has no output")?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {}s", ssh.timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let out = reader.join().unwrap_or_default();
    let said = std::fs::read_to_string(&errors).unwrap_or_default();
    if !status.success() {
        return Err(failure_reason(&said, status.code(), target.sudo));
    }
    parse(&out, root).ok_or_else(|| "the host's answer could not be read".to_owned())
}

/// Why `ssh` failed, in ssh's own words where it gave some.
fn failure_reason(stderr: &str, code: Option<i32>, sudo: bool) -> String {
    let last = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .unwrap_or("");
    if sudo && last.starts_with("sudo:") {
        return format!("sudo refused: {last}");
    }
    match (last.is_empty(), code) {
        (true, Some(code)) => format!("ssh exited with {code}"),
        (true, None) => "ssh was killed".to_owned(),
        (false, _) => last.trim_start_matches("ssh: ").to_owned(),
    }
}

/// The script's answer, paths given back without `root`.
fn parse(out: &[u8], root: &str) -> Option<HashMap<String, Entry>> {
    let text = std::str::from_utf8(out).ok()?;
    let mut lines = text.lines();
    let mut entries = HashMap::new();
    while let Some(line) = lines.next() {
        let mut fields = line.split('\t');
        let kind = fields.next()?;
        let path = fields.next()?;
        let path = path.strip_prefix(root).unwrap_or(path).to_owned();
        let entry = match kind {
            "F" => {
                let (mode, owner) = fields.next()?.split_once(' ')?;
                Entry::File {
                    mode: u32::from_str_radix(mode, 8).ok()?,
                    owner: owner.to_owned(),
                    bytes: base64_decode(lines.next()?)?,
                }
            }
            "L" => {
                let names = base64_decode(lines.next()?)?;
                Entry::Folder(
                    String::from_utf8_lossy(&names)
                        .lines()
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "D" => Entry::Denied,
            "O" => Entry::Other,
            "M" => Entry::Missing,
            _ => return None,
        };
        entries.insert(path, entry);
    }
    Some(entries)
}

/// Standard base64, as coreutils' `base64` writes it.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim_end().as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_coreutils_writes_it() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert_eq!(base64_decode("AP8K").unwrap(), [0, 255, 10]);
        assert!(base64_decode("YWJ").is_none());
        assert!(base64_decode("Y$==").is_none());
    }

    #[test]
    fn the_answer_is_read_back_without_the_root() {
        let out = b"F\t/r/etc/a.conf\t640 root:postgres\nYWJj\nM\t/r/etc/b\nD\t/r/etc/c\nL\t/r/etc/d\nYS5jb25mCmIuY29uZgo=\nO\t/r/run/s\n";
        let entries = parse(out, "/r").unwrap();
        assert_eq!(
            entries["/etc/a.conf"],
            Entry::File {
                bytes: b"abc".to_vec(),
                mode: 0o640,
                owner: "root:postgres".to_owned()
            }
        );
        assert_eq!(entries["/etc/b"], Entry::Missing);
        assert_eq!(entries["/etc/c"], Entry::Denied);
        assert_eq!(
            entries["/etc/d"],
            Entry::Folder(vec!["a.conf".to_owned(), "b.conf".to_owned()])
        );
        assert_eq!(entries["/run/s"], Entry::Other);
    }

    #[test]
    fn shell_words_keep_quotes_inside() {
        assert_eq!(shell_word("/etc/a b"), "'/etc/a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn ssh_failures_read_as_ssh_said_them() {
        assert_eq!(
            failure_reason(
                "ssh: connect to host 127.0.0.9 port 22: Connection refused\r\n",
                Some(255),
                false
            ),
            "connect to host 127.0.0.9 port 22: Connection refused"
        );
        assert_eq!(
            failure_reason("sudo: a password is required\n", Some(1), true),
            "sudo refused: sudo: a password is required"
        );
        assert_eq!(failure_reason("", Some(255), false), "ssh exited with 255");
    }
}
