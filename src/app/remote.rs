//! The live hosts themselves, read over the system's OpenSSH client for `diff --ssh` and `fetch`:
//! one `ssh` a host and a round (a shell script that prints each asked path's content, mode and
//! owner), through one multiplexed connection a host, hosts in parallel up to a bound, each with a
//! deadline. Nothing is ever written on a host; a host that cannot be read is reported with the
//! reason and leaves the others be.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::Failure;
use crate::diff::LiveFile;
use crate::live::LiveFiles;
use crate::plan::Mode;
use crate::running::{Answers, Output, Probe};

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

impl Ssh {
    /// Whether `host`'s files are read under a folder standing for its `/`, where what runs is
    /// not the host's.
    pub(super) fn has_root(&self, host: &str) -> bool {
        self.inventory.has_root(host)
    }
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
    /// The OS user PostgreSQL runs as, whom `psql` runs as for `--running` (through `sudo -n
    /// -u` unless ssh logs in as it): peer authentication makes it the server's superuser.
    #[serde(default)]
    postgres_user: Option<String>,
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

    /// Whether `host`'s files are read under a folder standing for its `/`.
    pub(super) fn has_root(&self, host: &str) -> bool {
        self.hosts.get(host).is_some_and(|t| t.root.is_some())
    }

    fn target(&self, host: &str) -> Target {
        self.hosts.get(host).cloned().unwrap_or_default()
    }
}

/// An answer's lines, without their newlines.
type Lines = Vec<Vec<u8>>;

/// What was read of one host: each path's entry, or why the host could not be read.
type HostRead = Result<HashMap<String, Entry>, String>;

/// What one path on a host is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File {
        bytes: Vec<u8>,
        mode: u32,
        owner: String,
        /// When it was last written, in seconds since the epoch.
        mtime: i64,
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
    /// What the programs running on each host answered (`diff --running`), or why they did not.
    answers: BTreeMap<String, Result<Answers, String>>,
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

    /// What the programs on `host` answered, when they were asked.
    pub(super) fn answers(&self, host: &str) -> Option<&Result<Answers, String>> {
        self.answers.get(host)
    }

    /// When the file at `path` on `host` was last written, in seconds since the epoch.
    pub(super) fn mtime(&self, host: &str, path: &str) -> Option<i64> {
        match self.entry(host, path)? {
            Entry::File { mtime, .. } => Some(*mtime),
            _ => None,
        }
    }

    fn entry(&self, host: &str, path: &str) -> Option<&Entry> {
        self.hosts.get(host)?.as_ref().ok()?.get(path)
    }

    /// The live file at `path` on `host` as `diff` compares it; `Err` when it is there but
    /// could not be read.
    pub(super) fn file(&self, host: &str, path: &str) -> Result<Option<LiveFile>, String> {
        match self.entry(host, path) {
            Some(Entry::File {
                bytes, mode, owner, ..
            }) => Ok(Some(LiveFile {
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
/// round, until it asks nothing new; then, when `ask` has a question for a host, asks it there
/// through the same session (`diff --running`).
pub(super) fn snapshot(
    ssh: &Ssh,
    wanted: BTreeMap<String, BTreeSet<String>>,
    look: impl Fn(&Asking<'_>),
    probes: &BTreeMap<String, Probe>,
) -> Snapshot {
    let mut sessions: BTreeMap<String, Session> = BTreeMap::new();
    let mut snapshot = Snapshot::default();
    let mut wanted = wanted;
    // What the look asks of an empty tree (the folders and files it always reads) goes in the
    // first round too, so that a host where nothing is stale is read in one exchange.
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
        let requests = unread
            .into_iter()
            .map(|(host, paths)| {
                let target = ssh.inventory.target(&host);
                let request = read_request(&target, &paths);
                (host, request)
            })
            .collect();
        for (host, result) in exchange(ssh, &mut sessions, requests) {
            let root = ssh.inventory.target(&host).root.unwrap_or_default();
            let result = result.and_then(|lines| {
                parse(&lines, root.trim_end_matches('/'))
                    .ok_or_else(|| "the host's answer could not be read".to_owned())
            });
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
    let questions: BTreeMap<String, String> = probes
        .iter()
        .filter(|(host, _)| snapshot.reached(host))
        .map(|(host, probe)| {
            (
                host.clone(),
                probe_request(&ssh.inventory.target(host), probe),
            )
        })
        .collect();
    for (host, result) in exchange(ssh, &mut sessions, questions) {
        let answers = result.and_then(|lines| {
            answers(&lines).ok_or_else(|| "the host's answer could not be read".to_owned())
        });
        snapshot.answers.insert(host, answers);
    }
    // Every shell is told to end before any is waited for: each takes a round trip to go.
    let closing: Vec<Child> = sessions.into_values().map(Session::close).collect();
    let deadline = Instant::now() + Duration::from_secs(2);
    for mut child in closing {
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    snapshot
}

/// Sends each host its request, through its session (opened on first use), `ssh.jobs` hosts at
/// a time; each host's answer lines, or why there are none. A host whose session failed is
/// left closed, and asked nothing more.
fn exchange(
    ssh: &Ssh,
    sessions: &mut BTreeMap<String, Session>,
    requests: BTreeMap<String, String>,
) -> Vec<(String, Result<Lines, String>)> {
    let mut work: Vec<(String, Option<Session>, String)> = requests
        .into_iter()
        .map(|(host, request)| {
            let session = sessions.remove(&host);
            (host, session, request)
        })
        .collect();
    work.reverse();
    let queue = Mutex::new(work);
    let done = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..ssh.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                    let Some((host, session, request)) = next else {
                        break;
                    };
                    let deadline = Instant::now() + ssh.timeout;
                    let outcome = match session {
                        Some(session) => Ok(session),
                        None => Session::open(ssh, &host, deadline),
                    }
                    .and_then(|mut session| {
                        match session.exchange(&request, deadline) {
                            Ok(lines) => Ok((session, lines)),
                            Err(e) => Err(session.failure(e, ssh.timeout)),
                        }
                    });
                    done.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((host, outcome));
                }
            });
        }
    });
    let mut out = Vec::new();
    for (host, outcome) in done.into_inner().unwrap_or_else(|p| p.into_inner()) {
        match outcome {
            Ok((session, lines)) => {
                sessions.insert(host.clone(), session);
                out.push((host, Ok(lines)));
            }
            Err(reason) => out.push((host, Err(reason))),
        }
    }
    out
}

/// The shell the host runs for the whole session: it reads requests from ssh's standard input,
/// one command a line, and answers each on standard output, ending it with a line `E`. It only
/// reads: the shell's own tests, `tar` (one for all the files of a request, with their mode,
/// owner and time) and `base64`; `--running` adds `psql`, `nginx -T` and reads of /proc/sys.
const SESSION: &str = r#"PATH=$PATH:/usr/sbin:/sbin
r() {
for p in "$@"; do
if [ -d "$p" ]; then printf 'L\t%s\n' "$p"; for f in "$p"/* "$p"/.[!.]*; do if [ -e "$f" ] && [ ! -d "$f" ]; then case ${f##*/} in *'
'*) ;; *) printf 'N\t%s\n' "${f##*/}";; esac; fi; done
elif [ -f "$p" ]; then if [ -r "$p" ]; then printf 'F\t%s\n' "$p"; else printf 'D\t%s\n' "$p"; fi
elif [ -e "$p" ]; then printf 'O\t%s\n' "$p"
else printf 'M\t%s\n' "$p"; fi
done
for p in "$@"; do shift; if [ -f "$p" ] && [ -r "$p" ]; then set -- "$@" "$p"; fi; done
if [ $# -gt 0 ]; then printf 'T\t'; tar -c -h -P -b 1 --no-recursion -f - "$@" </dev/null 2>/dev/null | base64 -w0; printf '\n'; fi
}
c() { t=$1; shift; o=$("$@" 2>&1 </dev/null); printf 'C\t%s\t%s\t' "$t" "$?"; printf '%s' "$o" | base64 -w0; printf '\n'; }
as() { u=$1; shift; if [ "$(id -un)" = "$u" ]; then "$@"; else sudo -n -u "$u" -- "$@"; fi; }
k() { for p in "$@"; do shift; set -- "$@" "/proc/sys/$p"; done; grep -sH '' "$@" </dev/null | while IFS= read -r l; do printf 'K\t%s\n' "${l#/proc/sys/}"; done; }
"#;

/// The request that reads `paths` (under the host's `root`, when it has one).
fn read_request(target: &Target, paths: &[String]) -> String {
    let root = target.root.as_deref().unwrap_or("").trim_end_matches('/');
    let mut request = "r".to_owned();
    for path in paths {
        request.push(' ');
        request.push_str(&shell_word(&format!("{root}{path}")));
    }
    request
}

/// The request that asks a host's programs what `probe` wants to know: `c` runs a command and
/// answers its exit code and output, `as` runs it as another user, `k` reads /proc/sys (with
/// one grep: the shell's `read` takes a byte at a time, and a /proc/sys file ends after the
/// first read).
fn probe_request(target: &Target, probe: &Probe) -> String {
    let words = |argv: &[String]| {
        argv.iter()
            .map(|w| shell_word(w))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut request = Vec::new();
    if let Some(postgres) = &probe.postgres {
        let user = target.postgres_user.as_deref().unwrap_or("postgres");
        request.push(format!(
            "c postgres as {} {}",
            shell_word(user),
            words(&postgres.psql())
        ));
    }
    if probe.nginx {
        request.push("c nginx nginx -T".to_owned());
    }
    if !probe.kernel.is_empty() {
        request.push(format!("k {}", words(&probe.kernel)));
    }
    request.join("\n")
}

/// A probe's answer: `C`, a program's name, its exit code and its output in base64; `K`, a
/// /proc/sys path, `:` and its value (a path the kernel does not have is not there).
fn answers(lines: &[Vec<u8>]) -> Option<Answers> {
    let mut out = Answers::default();
    for line in lines {
        let text = std::str::from_utf8(line).ok()?;
        let mut fields = text.splitn(4, '\t');
        match fields.next()? {
            "C" => {
                let program = fields.next()?;
                let code = fields.next()?.parse().ok()?;
                let output = base64_decode(fields.next().unwrap_or(""))?;
                let output = Some(Output {
                    code,
                    text: String::from_utf8_lossy(&output).into_owned(),
                });
                match program {
                    "postgres" => out.postgres = output,
                    "nginx" => out.nginx = output,
                    _ => return None,
                }
            }
            "K" => {
                let (path, value) = text["K\t".len()..].split_once(':')?;
                out.kernel.insert(path.to_owned(), value.to_owned());
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `text` as one word of a POSIX shell command line.
pub(super) fn shell_word(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// One host's ssh session: a shell there reading our requests, open for every round, so a host
/// costs one connection however many rounds it takes.
struct Session {
    child: Child,
    stdin: ChildStdin,
    output: Receiver<Vec<u8>>,
    buffer: Vec<u8>,
    errors: std::thread::JoinHandle<String>,
    sudo: bool,
}

impl Session {
    fn open(ssh: &Ssh, host: &str, deadline: Instant) -> Result<Self, String> {
        let target = ssh.inventory.target(host);
        let left = deadline.saturating_duration_since(Instant::now());
        let mut command = Command::new("ssh");
        if let Some(config) = &ssh.config {
            command.arg("-F").arg(config);
        }
        command
            .args(["-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("ConnectTimeout={}", left.as_secs().max(1)))
            .arg("-T")
            .arg(target.ssh.as_deref().unwrap_or(host))
            .arg("--")
            .arg(if target.sudo {
                "sudo -n sh -s"
            } else {
                "sh -s"
            });
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run ssh: {e}"))?;
        let (Some(stdin), Some(mut stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("ssh gave no pipes".to_owned());
        };
        let (sender, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut chunk = vec![0; 1 << 16];
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 || sender.send(chunk[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let errors = std::thread::spawn(move || {
            let mut said = String::new();
            let _ = stderr.read_to_string(&mut said);
            said
        });
        let mut session = Self {
            child,
            stdin,
            output,
            buffer: Vec::new(),
            errors,
            sudo: target.sudo,
        };
        match session.send(SESSION) {
            Ok(()) => Ok(session),
            Err(closed) => Err(session.failure(closed, ssh.timeout)),
        }
    }

    fn send(&mut self, text: &str) -> Result<(), Closed> {
        self.stdin
            .write_all(text.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|_| Closed::Ended)
    }

    /// Sends `request` and reads its answer: every line up to the `E` that ends it.
    fn exchange(&mut self, request: &str, deadline: Instant) -> Result<Lines, Closed> {
        self.send(&format!("{request}\nprintf 'E\\n'\n"))?;
        let mut lines = Vec::new();
        loop {
            let line = self.line(deadline)?;
            if line == b"E" {
                return Ok(lines);
            }
            lines.push(line);
        }
    }

    fn line(&mut self, deadline: Instant) -> Result<Vec<u8>, Closed> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                return Ok(line);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.buffer.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Timeout) => return Err(Closed::TimedOut),
                Err(RecvTimeoutError::Disconnected) => return Err(Closed::Ended),
            }
        }
    }

    /// Why the session ended, in ssh's (or sudo's) words; the session is gone after it.
    fn failure(mut self, closed: Closed, timeout: Duration) -> String {
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        if closed == Closed::TimedOut {
            return format!("timed out after {}s", timeout.as_secs());
        }
        let said = self.errors.join().unwrap_or_default();
        failure_reason(&said, status.and_then(|s| s.code()), self.sudo)
    }

    /// Tells the shell on the host to end (its standard input closes); the ssh to wait for.
    fn close(self) -> Child {
        let Self { child, stdin, .. } = self;
        drop(stdin);
        child
    }
}

/// How an exchange ended before its answer was whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// ssh exited: the connection, the login or the shell failed.
    Ended,
    TimedOut,
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

/// A request's answer, paths given back without `root`: a line a path (`F` a readable file,
/// `D` one that is not, `M` missing, `O` neither file nor folder, `L` a folder followed by an `N`
/// line a name in it), then `T` and the readable files as one tar archive in base64.
fn parse(lines: &[Vec<u8>], root: &str) -> Option<HashMap<String, Entry>> {
    let strip = |p: &str| p.strip_prefix(root).unwrap_or(p).to_owned();
    let mut entries = HashMap::new();
    let mut files: Vec<&str> = Vec::new();
    let mut archive = HashMap::new();
    let mut folder: Option<(String, Vec<String>)> = None;
    for line in lines {
        let text = std::str::from_utf8(line).ok()?;
        let (kind, rest) = text.split_once('\t')?;
        if kind != "N"
            && let Some((path, names)) = folder.take()
        {
            entries.insert(path, Entry::Folder(names));
        }
        match kind {
            "N" => folder.as_mut()?.1.push(rest.to_owned()),
            "L" => folder = Some((strip(rest), Vec::new())),
            "F" => files.push(rest),
            "D" => {
                entries.insert(strip(rest), Entry::Denied);
            }
            "O" => {
                entries.insert(strip(rest), Entry::Other);
            }
            "M" => {
                entries.insert(strip(rest), Entry::Missing);
            }
            "T" => archive = untar(&base64_decode(rest)?)?,
            _ => return None,
        }
    }
    if let Some((path, names)) = folder {
        entries.insert(path, Entry::Folder(names));
    }
    for path in files {
        // A file the archive lacks went, or became unreadable, between the look and the read.
        let entry = archive
            .remove(path.trim_start_matches('/'))
            .unwrap_or(Entry::Denied);
        entries.insert(strip(path), entry);
    }
    Some(entries)
}

/// The regular files of a tar archive (GNU's format, or POSIX ustar), by name without a leading
/// `/`: content, permission bits, `owner:group` (their ids where the host has no names) and
/// modification time.
fn untar(data: &[u8]) -> Option<HashMap<String, Entry>> {
    let text = |field: &[u8]| {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        String::from_utf8_lossy(&field[..end]).into_owned()
    };
    let number = |field: &[u8]| -> Option<u64> {
        let digits = text(field);
        let digits = digits.trim_matches(|c: char| c == ' ' || c == '\0');
        if digits.is_empty() {
            return Some(0);
        }
        u64::from_str_radix(digits, 8).ok()
    };
    let mut files = HashMap::new();
    let mut long_name: Option<String> = None;
    let mut at = 0;
    while let Some(header) = data.get(at..at + 512) {
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let size = usize::try_from(number(&header[124..136])?).ok()?;
        let body = data.get(at + 512..at + 512 + size)?;
        at += 512 + size.div_ceil(512) * 512;
        match header[156] {
            b'L' => {
                long_name = Some(text(body));
                continue;
            }
            b'0' | 0 => {}
            _ => {
                long_name = None;
                continue;
            }
        }
        let name = long_name.take().unwrap_or_else(|| {
            let name = text(&header[..100]);
            let prefix = text(&header[345..500]);
            if &header[257..263] == b"ustar\0" && !prefix.is_empty() {
                format!("{prefix}/{name}")
            } else {
                name
            }
        });
        let who = |name: &[u8], id: &[u8]| {
            let name = text(name);
            if name.is_empty() {
                number(id).map_or_else(String::new, |id| id.to_string())
            } else {
                name
            }
        };
        files.insert(
            name.trim_start_matches('/').to_owned(),
            Entry::File {
                bytes: body.to_vec(),
                mode: u32::try_from(number(&header[100..108])? & 0o7777).ok()?,
                owner: format!(
                    "{}:{}",
                    who(&header[265..297], &header[108..116]),
                    who(&header[297..329], &header[116..124])
                ),
                mtime: i64::try_from(number(&header[136..148])?).ok()?,
            },
        );
    }
    Some(files)
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

    /// A tar archive of `files` (path under a temporary root, content), as the host's GNU tar
    /// writes it, and the root.
    fn archive(files: &[(&str, &[u8])]) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let mut argv = Vec::new();
        for (path, content) in files {
            let at = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(&at, content).unwrap();
            std::fs::set_permissions(&at, std::os::unix::fs::PermissionsExt::from_mode(0o640))
                .unwrap();
            argv.push(at);
        }
        let out = Command::new("tar")
            .args(["-c", "-h", "-P", "-b", "1", "--no-recursion", "-f", "-"])
            .args(&argv)
            .output()
            .expect("tar runs");
        assert!(out.status.success());
        let encoded = Command::new("base64")
            .arg("-w0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(&out.stdout)?;
                child.wait_with_output()
            })
            .unwrap();
        (dir, String::from_utf8(encoded.stdout).unwrap())
    }

    #[test]
    fn the_answer_is_read_back_without_the_root() {
        let long = format!("/etc/{}/a.conf", "d".repeat(120));
        let (dir, tar) = archive(&[("/etc/a.conf", b"abc"), (&long, b"long\n")]);
        let root = dir.path().to_str().unwrap();
        let lines: Vec<Vec<u8>> = [
            format!("F\t{root}/etc/a.conf"),
            format!("F\t{root}{long}"),
            format!("M\t{root}/etc/b"),
            format!("D\t{root}/etc/c"),
            format!("L\t{root}/etc/d"),
            "N\ta.conf".to_owned(),
            "N\tb.conf".to_owned(),
            format!("O\t{root}/run/s"),
            format!("F\t{root}/etc/gone"),
            format!("T\t{tar}"),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect();
        let entries = parse(&lines, root).unwrap();
        let Entry::File {
            bytes,
            mode,
            owner,
            mtime,
        } = &entries["/etc/a.conf"]
        else {
            panic!("{:?}", entries["/etc/a.conf"]);
        };
        assert_eq!((bytes.as_slice(), *mode), (&b"abc"[..], 0o640));
        assert_eq!(owner, "root:root");
        assert!(*mtime > 1_700_000_000, "{mtime}");
        assert!(
            matches!(&entries[&long], Entry::File { bytes, .. } if bytes == b"long\n"),
            "a name past tar's 100 bytes comes through GNU's long-name entry"
        );
        assert_eq!(entries["/etc/b"], Entry::Missing);
        assert_eq!(entries["/etc/c"], Entry::Denied);
        assert_eq!(
            entries["/etc/d"],
            Entry::Folder(vec!["a.conf".to_owned(), "b.conf".to_owned()])
        );
        assert_eq!(entries["/run/s"], Entry::Other);
        assert_eq!(
            entries["/etc/gone"],
            Entry::Denied,
            "a file the archive lacks is not taken for missing"
        );
        assert!(parse(&[b"X\t/etc/a".to_vec()], "").is_none());
    }

    #[test]
    fn probe_answers_carry_each_programs_code_and_output() {
        let lines: Vec<Vec<u8>> = [
            "C\tpostgres\t0\tYWJj",
            "C\tnginx\t1\t",
            "K\tvm/swappiness:60",
            "K\tnet/ipv4/ip_local_port_range:32768\t60999",
        ]
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
        let answers = answers(&lines).unwrap();
        assert_eq!(answers.postgres.unwrap().text, "abc");
        assert_eq!(answers.nginx.unwrap().code, 1);
        assert_eq!(answers.kernel["vm/swappiness"], "60");
        assert_eq!(
            answers.kernel["net/ipv4/ip_local_port_range"],
            "32768\t60999"
        );
        assert!(!answers.kernel.contains_key("vm/nothing"));
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
