//! Real OpenSSH servers on loopback, one per host of a spec, for the tests of `sitewright diff
//! --ssh` (issue 19), which reads each host's managed files through the system's OpenSSH client.
//! A [`Lab`] is a temporary folder holding a client key and an ssh configuration (`ssh -F`); each
//! [`Host`] is Debian's sshd, run as root on its own address 127.0.0.N (every 127.0.0.0/8 address
//! routes to `lo` on Linux with no set-up) and a free port, with its own file tree standing for its
//! `/`. Hosts that fail as real ones do are there too: nothing listening, a changed host key, a
//! host that accepts and never answers. A [`Machine`] (tests/it/support/machine.rs) is a host whose
//! rendered files sit at their real paths in a mount namespace of its own, with PostgreSQL and
//! nginx running from them, for `diff --ssh --running`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use super::machine::Machine;
use super::machine::Namespace;
use super::pg::free_port;
use super::{installed, running_as_root, temp_dir};

/// How long an sshd may take to say it listens before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A temporary folder with a client key pair (ed25519, no passphrase), an ssh configuration that
/// names every host made here (`ssh -F`[`Lab::config_path`]), the `known_hosts` file that
/// configuration trusts, and the hosts' own folders. Removed when dropped; drop it after its hosts
/// (declare it first), as the borrow of [`Host`] enforces.
pub struct Lab {
    dir: tempfile::TempDir,
    ssh: PathBuf,
    sshd: PathBuf,
    keygen: PathBuf,
    /// Names given so far: a second `Host NAME` block would be silently ignored by ssh.
    names: Mutex<BTreeSet<String>>,
}

impl Lab {
    /// A lab with its client key pair, an empty configuration and empty `known_hosts`. Needs root
    /// (every sshd runs as root, and the client logs in as root).
    #[track_caller]
    pub fn new() -> Self {
        assert!(
            running_as_root(),
            "the ssh tests run sshd as root: run them as root"
        );
        let lab = Self {
            dir: temp_dir(),
            ssh: installed("SITEWRIGHT_SSH").into(),
            sshd: installed("SITEWRIGHT_SSHD").into(),
            keygen: installed("SITEWRIGHT_SSH_KEYGEN").into(),
            names: Mutex::new(BTreeSet::new()),
        };
        // sshd will not start without its privilege separation directory, which the ssh
        // service's init script makes and a reboot (an empty /run) removes.
        fs::create_dir_all("/run/sshd").expect("/run/sshd, sshd's privilege separation directory");
        lab.keygen(&lab.key_path(), "sitewright-test-client");
        fs::create_dir_all(lab.dir.path().join("hosts")).unwrap();
        fs::write(lab.known_hosts_path(), "").unwrap();
        fs::write(
            lab.config_path(),
            "# Written by the tests' ssh lab (tests/it/support/ssh.rs), one block per host.\n",
        )
        .unwrap();
        let bin = lab.dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        let wrapper = bin.join("ssh");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\n# The system's ssh pointed at the lab's configuration; each call's arguments are logged.\n\
                 printf '%s\\n' \"$*\" >>{log}\nexec {ssh} -F {config} \"$@\"\n",
                log = sh_quoted(&lab.calls_path()),
                ssh = sh_quoted(&lab.ssh),
                config = sh_quoted(&lab.config_path()),
            ),
        )
        .unwrap();
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        lab
    }

    /// The lab's folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The client configuration naming every host of the lab: `ssh -F` it.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// The client's private key (its public half is `<this>.pub`), which every host accepts.
    pub fn key_path(&self) -> PathBuf {
        self.dir.path().join("id_ed25519")
    }

    /// The only host keys the client trusts (`UserKnownHostsFile`; the global file is not read).
    pub fn known_hosts_path(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// The system's ssh client (SITEWRIGHT_SSH).
    pub fn ssh_binary(&self) -> &Path {
        &self.ssh
    }

    /// `ssh -F <config> NAME`: the client as a run through the lab's configuration makes it; add
    /// options and the remote command.
    pub fn ssh_command(&self, name: &str) -> Command {
        let mut command = Command::new(&self.ssh);
        command
            .arg("-F")
            .arg(self.config_path())
            .arg(name)
            .stdin(Stdio::null());
        command
    }

    /// Runs `command` (a remote shell command line) on host `name` through the lab's
    /// configuration, as the real client would, and returns what it printed.
    pub fn ssh(&self, name: &str, command: &str) -> Output {
        self.ssh_command(name)
            .arg(command)
            .output()
            .expect("the ssh client runs")
    }

    /// A folder holding an `ssh` that runs the system's client with `-F <config>` and logs its
    /// arguments (see [`Lab::ssh_calls`]): put it first on PATH for a program that runs plain
    /// `ssh` (see [`Lab::path_with_ssh`]).
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// The PATH of this process with [`Lab::bin_dir`] first: give it as `PATH` to a run of
    /// sitewright so that its `ssh` reaches the lab's hosts.
    pub fn path_with_ssh(&self) -> OsString {
        let mut dirs = vec![self.bin_dir()];
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).expect("a PATH")
    }

    /// The arguments of every call of the [`Lab::bin_dir`] `ssh` so far, one line each, in order.
    pub fn ssh_calls(&self) -> Vec<String> {
        fs::read_to_string(self.calls_path())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn calls_path(&self) -> PathBuf {
        self.dir.path().join("ssh-calls.log")
    }

    /// Starts host `name`: a host key, an empty file tree ([`Host::root`]) and an sshd on
    /// `address` (127.0.0.N) and a free port that accepts the lab's key for root; the lab's
    /// configuration gets a `Host name` block and `known_hosts` the host's key. Returns once the
    /// server listens; the server is killed when the [`Host`] is dropped.
    #[track_caller]
    pub fn host(&self, name: &str, address: &str) -> Host<'_> {
        check_address(address);
        self.claim(name);
        let host = self.start(name, address, None, None);
        let public = fs::read_to_string(host.dir.join("host_key.pub")).unwrap();
        self.register(name, address, host.port, "root", Some(&public));
        host
    }

    /// Starts machine `name` on `address` from `tree`, the host's folder of `sitewright render`'s
    /// output: its files at their real paths in a mount namespace of its own, where its sshd,
    /// and the PostgreSQL and nginx the test starts, run (see [`Machine`]). The lab's
    /// configuration logs in to it as SITEWRIGHT_SSH_DEPLOY_USER, who has sudo without a password.
    #[track_caller]
    pub fn machine(&self, name: &str, address: &str, tree: &Path) -> Machine<'_> {
        check_address(address);
        self.claim(name);
        let dir = self.dir.path().join("hosts").join(name);
        fs::create_dir_all(&dir).unwrap();
        let namespace = Namespace::new(&dir, tree);
        let host = self.start(name, address, Some(namespace.pid()), Some(tree));
        let user = installed("SITEWRIGHT_SSH_DEPLOY_USER");
        let public = fs::read_to_string(host.dir.join("host_key.pub")).unwrap();
        self.register(name, address, host.port, &user, Some(&public));
        Machine::new(host, namespace, tree)
    }

    /// A configuration entry `name` for `address` and a port where nothing listens: the client
    /// fails with "Connection refused". Returns the port.
    #[track_caller]
    pub fn down_host(&self, name: &str, address: &str) -> u16 {
        check_address(address);
        self.claim(name);
        let port = free_port();
        assert!(
            TcpListener::bind((address, port)).is_ok(),
            "{address}:{port} is taken"
        );
        self.register(name, address, port, "root", None);
        port
    }

    /// A running sshd like [`Lab::host`]'s, but `known_hosts` holds another key for it: the
    /// client fails with "Host key verification failed" (a reinstalled host, or a man in the
    /// middle).
    #[track_caller]
    pub fn wrong_key_host(&self, name: &str, address: &str) -> Host<'_> {
        check_address(address);
        self.claim(name);
        let host = self.start(name, address, None, None);
        let other = host.dir.join("other_key");
        self.keygen(&other, "not-this-host");
        let public = fs::read_to_string(other.with_extension("pub")).unwrap();
        self.register(name, address, host.port, "root", Some(&public));
        host
    }

    /// A configuration entry `name` for a listener on `address` that takes connections and never
    /// says a word: a hung host. The kernel completes each TCP handshake on the listener's behalf,
    /// so the client is connected and waits for the server's banner, which never comes: only the
    /// client's own timeout (ConnectTimeout covers the banner exchange) ends the wait. Listens as
    /// long as the returned value lives.
    #[track_caller]
    pub fn silent_host(&self, name: &str, address: &str) -> Silent {
        check_address(address);
        self.claim(name);
        let listener = loop {
            if let Ok(listener) = TcpListener::bind((address, free_port())) {
                break listener;
            }
        };
        let silent = Silent { listener };
        self.register(name, address, silent.port(), "root", None);
        silent
    }

    /// A key pair at `path` and `path.pub`: ed25519, no passphrase.
    #[track_caller]
    fn keygen(&self, path: &Path, comment: &str) {
        let output = Command::new(&self.keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .expect("ssh-keygen runs");
        assert!(
            output.status.success(),
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Claims `name`, which must be new to the lab and a plain word that ssh_config takes as is.
    #[track_caller]
    fn claim(&self, name: &str) {
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "host name {name:?}: letters, digits, '.', '_' and '-' only"
        );
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        assert!(names.insert(name.to_owned()), "host {name:?} made twice");
    }

    /// An sshd for host `name` (claimed) on `address`, listening; not yet in the configuration.
    /// With `namespace`, sshd runs in that process's mount namespace and `root` is the tree the
    /// namespace shows at the real paths; else `root` is a fresh folder.
    #[track_caller]
    fn start(
        &self,
        name: &str,
        address: &str,
        namespace: Option<u32>,
        root: Option<&Path>,
    ) -> Host<'_> {
        let dir = self.dir.path().join("hosts").join(name);
        let root = root.map_or_else(|| dir.join("root"), Path::to_path_buf);
        fs::create_dir_all(&root).unwrap();
        self.keygen(&dir.join("host_key"), name);
        fs::copy(
            self.key_path().with_extension("pub"),
            dir.join("authorized_keys"),
        )
        .unwrap();
        // A port free on 127.0.0.1 may be held on this address by something else: try another.
        let mut failures = Vec::new();
        for _ in 0..5 {
            let port = free_port();
            match self.spawn(&dir, address, port, namespace) {
                Ok(child) => {
                    return Host {
                        lab: self,
                        name: name.to_owned(),
                        address: address.to_owned(),
                        port,
                        dir,
                        root,
                        child,
                    };
                }
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "sshd for {name} did not start on {address}\n{}",
            failures.join("\n---\n")
        );
    }

    /// Writes `dir/sshd_config` for `address:port` and runs sshd on it (in the mount namespace of
    /// process `namespace`, if given) until it says it listens; Err(why, with its log) when it
    /// exits or stays silent first.
    fn spawn(
        &self,
        dir: &Path,
        address: &str,
        port: u16,
        namespace: Option<u32>,
    ) -> Result<Child, String> {
        let config = dir.join("sshd_config");
        let log = dir.join("sshd.log");
        fs::write(&config, sshd_config(dir, address, port)).unwrap();
        let mut command = match namespace {
            // nsenter joins the namespace and execs sshd itself (no fork for a mount namespace),
            // so the child is the listener.
            Some(pid) => {
                let mut command = Command::new("nsenter");
                command
                    .arg(format!("--mount=/proc/{pid}/ns/mnt"))
                    .arg("--")
                    .arg(&self.sshd);
                command
            }
            None => Command::new(&self.sshd),
        };
        let mut child = command
            // -D: in the foreground, a child of the test; -e: the log to stderr (the log file).
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("sshd runs");
        let listening = format!("Server listening on {address} port {port}.");
        let started = Instant::now();
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            if text.contains(&listening) {
                return Ok(child);
            }
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("sshd exited ({status}):\n{text}"));
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "sshd did not listen within {START_TIMEOUT:?}:\n{text}"
                ));
            }
            sleep(Duration::from_millis(5));
        }
    }

    /// Adds host `name` at `address:port`, logged in to as `user`, to the configuration, and
    /// `host_key` (a public key line) for it to `known_hosts` when given.
    fn register(&self, name: &str, address: &str, port: u16, user: &str, host_key: Option<&str>) {
        let block = format!(
            "\nHost {name}\n    HostName {address}\n    Port {port}\n    User {user}\n    \
             IdentityFile \"{key}\"\n    IdentitiesOnly yes\n    UserKnownHostsFile \"{known}\"\n    \
             GlobalKnownHostsFile /dev/null\n    StrictHostKeyChecking yes\n    BatchMode yes\n",
            key = self.key_path().display(),
            known = self.known_hosts_path().display(),
        );
        // One lock for both files, so that hosts started on many threads do not interleave.
        let _names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        append(&self.config_path(), &block);
        if let Some(key) = host_key {
            // "ssh-ed25519 AAAA… comment": the known_hosts line drops the comment.
            let key = key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            append(
                &self.known_hosts_path(),
                &format!("[{address}]:{port} {key}\n"),
            );
        }
    }
}

/// sshd's configuration for one host: listens on `address:port` only, takes the lab's key for
/// root and nothing else, and keeps its pid file and keys in `dir`.
fn sshd_config(dir: &Path, address: &str, port: u16) -> String {
    let d = dir.display();
    format!(
        "# Written by the tests' ssh lab (tests/it/support/ssh.rs).\n\
         ListenAddress {address}:{port}\n\
         HostKey \"{d}/host_key\"\n\
         PidFile \"{d}/sshd.pid\"\n\
         AuthorizedKeysFile \"{d}/authorized_keys\"\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         # The lab lives under /tmp, which everyone may write to: strict modes would refuse the keys.\n\
         StrictModes no\n\
         # Many connections at once (a run in parallel, multiplexed sessions) must not be dropped.\n\
         MaxStartups 200\n\
         MaxSessions 200\n\
         MaxAuthTries 6\n\
         # Plain X25519: the default's post-quantum half (sntrup761) costs a slow machine a tenth of\n\
         # a second of CPU per connection on each side, which twenty hosts at once multiply.\n\
         KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         Subsystem sftp internal-sftp\n"
    )
}

/// Fails unless `address` is 127.0.0.N: the lab never listens anywhere but loopback.
#[track_caller]
fn check_address(address: &str) {
    let ip: Ipv4Addr = address
        .parse()
        .unwrap_or_else(|_| panic!("{address:?} is not an IPv4 address"));
    let [a, b, c, d] = ip.octets();
    assert!(
        (a, b, c) == (127, 0, 0) && d != 0 && d != 255,
        "{address}: the ssh lab listens on 127.0.0.N only"
    );
}

fn append(path: &Path, text: &str) {
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// `path` in single quotes for sh.
pub(super) fn sh_quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// A running sshd for one host of a [`Lab`], with its own file tree; killed, with every session
/// it has open, when dropped. A test that fails while it runs prints the server's log.
pub struct Host<'lab> {
    lab: &'lab Lab,
    name: String,
    address: String,
    port: u16,
    dir: PathBuf,
    root: PathBuf,
    child: Child,
}

impl Host<'_> {
    /// The host's own folder in the lab (its sshd's keys, configuration and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lab's folder.
    pub fn lab_dir(&self) -> &Path {
        self.lab.dir()
    }
}

impl Host<'_> {
    /// The name of its `Host` block in the lab's configuration.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its address, 127.0.0.N.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The port its sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder that stands for the host's `/`: the host's `/etc/x` is `root()/etc/x` (the
    /// server runs on this machine, so a remote command names the file by that path).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the host's `path` (absolute, as on the host) is in its tree.
    #[track_caller]
    pub fn path(&self, path: &str) -> PathBuf {
        let relative = path
            .strip_prefix('/')
            .unwrap_or_else(|| panic!("{path:?}: a path on the host is absolute"));
        assert!(
            !Path::new(relative)
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir)),
            "{path:?}: no '..' in a host's path"
        );
        self.root.join(relative)
    }

    /// Puts a file at the host's `path` (absolute, as on the host) with `contents` and `mode`
    /// (0o644, say), making its folders; returns where it is on this machine.
    #[track_caller]
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let file = self.path(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, contents).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    /// Runs `command` on this host through the lab's configuration (see [`Lab::ssh`]).
    pub fn ssh(&self, command: &str) -> Output {
        self.lab.ssh(&self.name, command)
    }

    /// What its sshd has logged so far (connections, logins, refusals).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Host<'_> {
    fn drop(&mut self) {
        // The listener forks a process per connection (which leaves its process group), and that
        // one a process for the session: find them all before the listener goes, and end them
        // with it, so that no session outlives its host (a multiplexing master, say).
        let sessions = descendants(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in sessions {
            // SAFETY: kill(2) of a pid read just now from /proc as a descendant of this sshd.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "--- sshd log of {} ({}:{})\n{}",
                self.name,
                self.address,
                self.port,
                self.log()
            );
        }
    }
}

/// The processes descending from `ancestor` (children, theirs, …), by /proc's parent links.
pub(super) fn descendants(ancestor: u32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    // (pid, parent) of every process; /proc/PID/stat is "pid (comm) state ppid …", and comm may
    // hold spaces and parentheses.
    let links: Vec<(i32, i32)> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let parent = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, parent))
        })
        .collect();
    let mut found = Vec::new();
    let mut pending = vec![i32::try_from(ancestor).expect("a pid")];
    while let Some(parent) = pending.pop() {
        for &(pid, _) in links.iter().filter(|(_, p)| *p == parent) {
            found.push(pid);
            pending.push(pid);
        }
    }
    found
}

/// A listener that accepts connections and never sends a banner (see [`Lab::silent_host`]);
/// closed when dropped.
pub struct Silent {
    listener: TcpListener,
}

impl Silent {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }
}
