//! A machine of the ssh lab (tests/it/support/ssh.rs) for `sitewright diff --ssh --running`, which
//! asks the running programs what they run with: a rendered host's files at their real absolute
//! paths, and a real PostgreSQL and nginx started from them, seen by an sshd that an operator logs
//! in to. A private mount namespace per machine makes that possible on one test machine without
//! touching its own /etc: a holder process (`unshare`) owns the namespace, and sshd, PostgreSQL,
//! nginx and the test's own commands enter it with `nsenter`.
//!
//! In the namespace, `TREE/<dir>` is bind-mounted over each of [`TREE_DIRS`] and over any other
//! folder the tree has under /etc, e.g. /etc/sitewright, which the machine may lack (/etc is
//! first overlaid, read-only, with empty folders to mount on, so /etc itself cannot be written in
//! a machine, only the tree's folders); such a folder replaces the real one whole (certificates under /etc/ssl would hide the machine's CA bundle). A folder of the
//! machine's own is mounted over /run (so /var/run/postgresql, /run/nginx.pid and /run/sshd are
//! its own), /var/log/nginx, /var/log/postgresql and /var/lib/nginx. The rendered files are run
//! unchanged, so the servers listen where the spec says, which for PostgreSQL is
//! `listen_addresses = '*'` unless the spec forwards replication through nginx: to keep every
//! listener on loopback, the holder also owns a network namespace of its own (only `lo`, up),
//! which PostgreSQL and nginx run in. sshd does not: it listens on the machine's 127.0.0.N, and its
//! sessions reach the servers through their Unix sockets and files, as the product's ssh session
//! does.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::installed;
use super::nginx::debian_nginx_conf;
use super::pg::{Binaries, shown_log, succeeded, wait_for};
use super::ssh::{Host, descendants, sh_quoted};

/// The folders of a host that the machine takes from its rendered tree (made in the tree when
/// the render wrote nothing there), whatever the real machine holds.
pub const TREE_DIRS: &[&str] = &[
    "/etc/postgresql",
    "/var/lib/postgresql",
    "/etc/nginx",
    "/etc/sysctl.d",
    "/etc/cron.d",
    "/srv",
];

/// The machine's own folders over the real ones: run-time state that must not be shared with the
/// real machine or another machine (pid files, sockets, logs, nginx's temporary files).
const STATE_DIRS: &[&str] = &[
    "/run",
    "/var/log/nginx",
    "/var/log/postgresql",
    "/var/lib/nginx",
];

/// The Unix socket folder of PostgreSQL on Debian, and so of the machine's servers.
pub const PG_SOCKET_DIR: &str = "/var/run/postgresql";

/// How long a server may take to start or stop before the test fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The process that owns a machine's mount and network namespaces (`unshare … sleep`); killed
/// when dropped, after every process it holds the namespace for.
pub(super) struct Namespace {
    child: Child,
    /// The machine's own state folders, [`STATE_DIRS`] under it (`run`, `var/log/nginx`, …).
    state: PathBuf,
    /// The mount namespace, as /proc/PID/ns/mnt reads (`mnt:[4026532…]`): what a process in the
    /// machine shows, also once the holder is gone.
    mount: PathBuf,
}

impl Namespace {
    /// The namespaces of a machine whose folder is `dir`, showing `tree`; returns once every
    /// mount is made.
    #[track_caller]
    pub(super) fn new(dir: &Path, tree: &Path) -> Self {
        assert!(
            tree.is_dir(),
            "{}: the machine's tree is not a folder",
            tree.display()
        );
        let state = dir.join("state");
        for path in STATE_DIRS {
            fs::create_dir_all(state.join(&path[1..])).unwrap();
        }
        // What Debian's packages and init scripts make under /run: sshd's privilege separation
        // folder (root's, not writable by others, or sshd refuses it), a lock folder, and
        // PostgreSQL's socket folder, its user's with the setgid bit as postgresql-common makes it.
        let run = state.join("run");
        for (sub, mode) in [("sshd", 0o755), ("lock", 0o1777), ("postgresql", 0o2775)] {
            fs::create_dir_all(run.join(sub)).unwrap();
            fs::set_permissions(run.join(sub), fs::Permissions::from_mode(mode)).unwrap();
        }
        fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
        let mut mounts: Vec<(PathBuf, String)> = Vec::new();
        for path in STATE_DIRS {
            mounts.push((state.join(&path[1..]), (*path).to_owned()));
        }
        let mut from_tree: Vec<String> = TREE_DIRS.iter().map(|d| (*d).to_owned()).collect();
        if let Ok(entries) = fs::read_dir(tree.join("etc")) {
            for entry in entries {
                let entry = entry.unwrap();
                let path = format!("/etc/{}", entry.file_name().to_string_lossy());
                if entry.file_type().unwrap().is_dir() && !from_tree.contains(&path) {
                    from_tree.push(path);
                }
            }
        }
        from_tree.sort();
        // Outside /etc a folder to mount on cannot be made without changing the real machine.
        for target in STATE_DIRS.iter().copied().chain(TREE_DIRS.iter().copied()) {
            assert!(
                target.starts_with("/etc/") || Path::new(target).is_dir(),
                "{target} is not on this machine, and a machine of the ssh lab mounts its own over it: \
                 run scripts/install-test-deps (postgresql-common and nginx-common make them)"
            );
        }
        // Under /etc the machine mounts on folders of its own: a read-only overlay of /etc with an
        // empty folder for each of the tree's. So a folder the real machine lacks (/etc/sitewright)
        // is not made there, and a real one removed while the machine runs (benches/ssh.py makes
        // /etc/sitewright for its run, then removes it) does not take the mount on it along.
        let top = dir.join("etc-mount-points");
        for path in &from_tree {
            if let Some(relative) = path.strip_prefix("/etc/") {
                fs::create_dir_all(top.join(relative)).unwrap();
            }
        }
        let mut script = String::from("set -e\nip link set lo up\n");
        script.push_str(&format!(
            "mount -t overlay overlay -o ro,lowerdir={}:/etc /etc\n",
            top.display()
        ));
        for path in &from_tree {
            let source = tree.join(&path[1..]);
            fs::create_dir_all(&source).unwrap();
            mounts.push((source, path.clone()));
        }
        for (source, target) in &mounts {
            script.push_str(&format!(
                "mount --bind {} {}\n",
                sh_quoted(source),
                sh_quoted(Path::new(target))
            ));
        }
        script.push_str("echo ready\nexec sleep infinity\n");
        fs::write(dir.join("namespace.sh"), &script).unwrap();
        let mut child = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "--net",
                "--",
                "sh",
                "-c",
            ])
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(dir.join("namespace.log")).unwrap())
            .spawn()
            .expect("unshare runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line != "ready\n" {
            let status = child.wait().unwrap();
            panic!(
                "the machine's namespace was not made ({status}; unshare, mount and ip are util-linux's and \
                 iproute2's, which scripts/install-test-deps expects):\n{script}--- its stderr\n{}",
                fs::read_to_string(dir.join("namespace.log")).unwrap_or_default()
            );
        }
        let mount = fs::read_link(format!("/proc/{}/ns/mnt", child.id()))
            .expect("the holder's mount namespace");
        Self {
            child,
            state,
            mount,
        }
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The processes in the machine's mount namespace now, the holder's included.
    fn processes(&self) -> Vec<Process> {
        processes_in_namespace(&self.mount)
    }

    /// Stops the servers that run in the namespace and that the machine did not start (a
    /// PostgreSQL that Ansible started through ssh with pg_ctl, an nginx), as their services
    /// would: SIGINT to each postmaster (PostgreSQL's fast shutdown), SIGTERM to each nginx
    /// master (nginx's fast shutdown); waits up to [`SERVER_STOP`] for them and their children
    /// to exit. What is left is the drop's, which kills it. Returns the servers it signalled.
    fn stop_servers(&self) -> Vec<Process> {
        let processes = self.processes();
        let program = |pid: i32| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim_end().to_owned())
                .unwrap_or_default()
        };
        let mut servers = Vec::new();
        for process in &processes {
            let name = program(process.pid);
            let signal = match name.as_str() {
                "postgres" | "postmaster" => libc::SIGINT,
                "nginx" => libc::SIGTERM,
                _ => continue,
            };
            // A master: its parent is not a server of the same program (a forked backend's or
            // worker's is).
            if processes
                .iter()
                .any(|p| p.pid == process.parent && program(p.pid) == name)
            {
                continue;
            }
            process.signal(signal);
            servers.push(process.clone());
        }
        if !servers.is_empty() {
            let children: Vec<Process> = processes
                .iter()
                .filter(|p| servers.iter().any(|s| s.pid == p.parent))
                .cloned()
                .collect();
            wait_for(SERVER_STOP.as_secs(), || {
                servers.iter().chain(&children).all(|p| !p.alive())
            });
        }
        servers
    }
}

/// How long the servers a machine did not start have, when it is dropped, to stop on their own.
const SERVER_STOP: Duration = Duration::from_secs(5);

impl Drop for Namespace {
    fn drop(&mut self) {
        // Whatever still runs in the namespace (a server a test left, a session's child, a
        // daemon started over ssh, a server still on its way out) goes first, killed until none
        // is left (one may fork while the others are killed); then the holder. The namespace, and
        // its mounts, end with its last process. Waited for, so that the machine is gone when its
        // drop returns.
        let holder = self.child.id() as i32;
        let mut killed: Vec<Process> = Vec::new();
        let gone = wait_for(10, || {
            let left: Vec<Process> = self
                .processes()
                .into_iter()
                .filter(|p| p.pid != holder && p.alive())
                .collect();
            for process in &left {
                process.kill();
                if !killed.contains(process) {
                    killed.push(process.clone());
                }
            }
            left.is_empty()
        });
        let _ = self.child.kill();
        let _ = self.child.wait();
        let left: Vec<Process> = self
            .processes()
            .into_iter()
            .filter(Process::alive)
            .collect();
        if !gone || !left.is_empty() {
            eprintln!(
                "still running 10s after their machine was dropped: {:#?}",
                killed
                    .iter()
                    .chain(&left)
                    .filter(|p| p.alive())
                    .collect::<Vec<_>>()
            );
        }
    }
}

/// One process, by pid and start time (so that a pid used again is not taken for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: i32,
    /// Its parent's pid, when it was read.
    pub parent: i32,
    start: u64,
    zombie: bool,
    /// Its command line, for a failure's message.
    pub command: String,
}

impl Process {
    fn of(pid: i32) -> Option<Self> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid … starttime" (field 22); comm may hold spaces and parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let zombie = *fields.first()? == "Z";
        let parent = fields.get(1)?.parse().ok()?;
        let start = fields.get(19)?.parse().ok()?;
        let command = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .replace('\0', " ")
                    .trim_end()
                    .to_owned()
            })
            .unwrap_or_default();
        Some(Self {
            pid,
            parent,
            start,
            zombie,
            command,
        })
    }

    /// Whether this process (not another one given its pid since) still runs.
    /// A zombie (exited, not yet reaped by its parent) is not running.
    pub fn alive(&self) -> bool {
        Process::of(self.pid).is_some_and(|now| now.start == self.start && !now.zombie)
    }

    fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&self, signal: libc::c_int) {
        if self.alive() {
            // SAFETY: kill(2) of a pid whose start time was just checked.
            unsafe {
                libc::kill(self.pid, signal);
            }
        }
    }
}

/// Every process in the mount namespace `namespace` (as /proc/PID/ns/mnt reads).
fn processes_in_namespace(namespace: &Path) -> Vec<Process> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok_and(|n| n == namespace))
        .filter_map(Process::of)
        .collect()
}

fn chown(user: &str, path: &Path, recursive: bool) {
    let mut command = Command::new("chown");
    if recursive {
        command.arg("-R");
    }
    let output = command.arg(format!("{user}:")).arg(path).output().unwrap();
    succeeded(&output, &format!("chown {user} {}", path.display()));
}

/// A PostgreSQL server the machine started.
struct Postgres {
    pg: Binaries,
    data: String,
    port: u16,
    log: String,
}

/// A host of the ssh lab that is a machine: its rendered files at their real paths, PostgreSQL
/// and nginx run from them on demand, an sshd in the same mount namespace that the lab's
/// configuration logs in to as SITEWRIGHT_SSH_DEPLOY_USER. Derefs to its [`Host`] (name, address,
/// `ssh`, the sshd's log; its `root()` is the tree). When dropped, its servers are stopped, then
/// its sshd with every session, then the namespace's holder, with whatever else still ran there.
pub struct Machine<'lab> {
    host: Host<'lab>,
    namespace: Namespace,
    tree: PathBuf,
    pg_user: String,
    postgres: Mutex<Vec<Postgres>>,
    nginx: Mutex<Option<Child>>,
}

impl<'lab> std::ops::Deref for Machine<'lab> {
    type Target = Host<'lab>;

    fn deref(&self) -> &Host<'lab> {
        &self.host
    }
}

impl<'lab> Machine<'lab> {
    pub(super) fn new(host: Host<'lab>, namespace: Namespace, tree: &Path) -> Self {
        // The deploy user's sshd reads authorized_keys as that user: the lab's folders must let
        // it through (traverse, not list; the client's private key stays root's, 0600).
        let mut folder = Some(host.dir());
        while let Some(dir) = folder {
            let mode = fs::metadata(dir).unwrap().permissions().mode();
            fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o711)).unwrap();
            if dir == host.lab_dir() {
                break;
            }
            folder = dir.parent();
        }
        fs::set_permissions(
            host.dir().join("authorized_keys"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        Self {
            host,
            namespace,
            tree: tree.to_owned(),
            pg_user: installed("SITEWRIGHT_PG_USER"),
            postgres: Mutex::new(Vec::new()),
            nginx: Mutex::new(None),
        }
    }

    /// The rendered tree the machine shows at its real paths.
    pub fn tree(&self) -> &Path {
        &self.tree
    }

    /// The OS user PostgreSQL runs as (SITEWRIGHT_PG_USER unless [`Machine::with_pg_user`] said
    /// otherwise), and the name of its superuser role (the OS user's name, as Debian's is
    /// `postgres`, so that the rendered `local all all peer` lets it in): what an inventory's
    /// `postgres_user:` names.
    pub fn pg_user(&self) -> &str {
        &self.pg_user
    }

    /// PostgreSQL run as `user` instead, before [`Machine::start_postgres`]: `postgres`, say,
    /// which postgresql-common makes, so that the rendered files can be owned as the manifest
    /// says (postgres:postgres) and `diff --ssh` finds no owner changed. The test machine's own
    /// account then runs the test's server, in the machine's namespaces only.
    #[track_caller]
    pub fn with_pg_user(mut self, user: &str) -> Self {
        assert!(
            self.postgres.lock().unwrap().is_empty(),
            "{}: PostgreSQL already runs as {}",
            self.host.name(),
            self.pg_user
        );
        let known = Command::new("id").arg("-u").arg(user).output().unwrap();
        assert!(
            known.status.success(),
            "there is no user {user} on this machine: run scripts/install-test-deps (postgresql-common makes `postgres`)"
        );
        self.pg_user = user.to_owned();
        self
    }

    /// `program` inside the machine's namespaces (mount and network), as root.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let pid = self.namespace.pid();
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--mount=/proc/{pid}/ns/mnt"))
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .arg("--")
            .arg(program)
            .stdin(Stdio::null());
        command
    }

    /// `program` inside the machine's namespaces, as the PostgreSQL user.
    pub fn pg_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = self.command("runuser");
        command.args(["-u", &self.pg_user, "--"]).arg(program);
        command
    }

    /// Runs `command` (a shell command line) inside the machine as root and returns what it
    /// printed. It sees what an ssh session sees, and the servers' own network (`lo` only).
    pub fn run(&self, command: &str) -> Output {
        self.command("sh")
            .arg("-c")
            .arg(command)
            .output()
            .expect("nsenter runs")
    }

    /// The processes running in the machine's namespace now: the holder, sshd and its sessions,
    /// the servers. A test keeps them to prove that none outlives the machine.
    pub fn processes(&self) -> Vec<Process> {
        self.namespace.processes()
    }

    /// Where the machine's `path` (absolute, as on the host), in one of its own folders (/run,
    /// also as /var/run, and the logs), is on this machine. (A path in the tree is
    /// [`Host::path`]'s.)
    #[track_caller]
    pub fn state_path(&self, path: &str) -> PathBuf {
        // /var/run is a link to /run, on Debian as here.
        let path = path
            .strip_prefix("/var")
            .filter(|p| p.starts_with("/run"))
            .unwrap_or(path);
        assert!(
            STATE_DIRS
                .iter()
                .any(|d| path == *d || path.starts_with(&format!("{d}/"))),
            "{path} is in none of the machine's own folders {STATE_DIRS:?}"
        );
        self.namespace.state.join(&path[1..])
    }

    /// A self-signed certificate for `name` at the machine's `cert` and `key` (absolute paths on
    /// the host, in the tree), for a rendered server that names them; the key 0600, root's.
    #[track_caller]
    pub fn self_signed(&self, name: &str, cert: &str, key: &str) {
        let (cert, key) = (self.host.path(cert), self.host.path(key));
        for file in [&cert, &key] {
            fs::create_dir_all(file.parent().unwrap()).unwrap();
        }
        let output = Command::new(installed("SITEWRIGHT_OPENSSL"))
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", &format!("/CN={name}"), "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        succeeded(&output, "openssl req");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// Starts PostgreSQL `major` as Debian's pg_ctlcluster does, from the tree's
    /// /etc/postgresql/MAJOR/main/postgresql.conf: `pg_ctl start -D DATA -l
    /// /var/log/postgresql/postgresql-MAJOR-main.log -o "-c config_file=…"`, as [`Machine::pg_user`],
    /// on a data directory initdb made at the conf's data_directory (the files the render put
    /// there, standby.signal say, kept). The build's own socket folder is /tmp, Debian's is
    /// /var/run/postgresql: unless the conf names one, `-c unix_socket_directories=` gives
    /// Debian's (pg_settings then says its source is the command line). Returns when the server
    /// takes connections (read-only ones, for a replica); stopped when the machine is dropped.
    #[track_caller]
    pub fn start_postgres(&self, major: u32) {
        let pg = Binaries::of(major);
        let config_dir = format!("/etc/postgresql/{major}/main");
        let config = format!("{config_dir}/postgresql.conf");
        let text = fs::read_to_string(self.host.path(&config)).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: the tree has no PostgreSQL {major}",
                self.host.path(&config).display()
            )
        });
        let data = conf_value(&text, "data_directory")
            .unwrap_or_else(|| format!("/var/lib/postgresql/{major}/main"));
        let port: u16 = conf_value(&text, "port").map_or(5432, |p| {
            p.parse().unwrap_or_else(|_| panic!("{config}: port = {p}"))
        });
        assert!(
            TREE_DIRS.iter().any(|d| data.starts_with(&format!("{d}/"))),
            "{config}: data_directory {data} is in none of the machine's folders {TREE_DIRS:?}"
        );
        // Debian's socket folder and log folder are the server's user's: pg_ctl writes the log
        // as that user. (/var/log/nginx stays root's: nginx's master opens its logs as root.)
        chown(&self.pg_user, &self.state_path(PG_SOCKET_DIR), false);
        chown(
            &self.pg_user,
            &self.state_path("/var/log/postgresql"),
            false,
        );
        let data_in_tree = self.host.path(&data);
        if !data_in_tree.join("PG_VERSION").exists() {
            self.initdb(&pg, &data, &data_in_tree);
        }
        // What Debian's cluster has and the rendered conf may name: an ident file, a log folder.
        if let Some(ident) = conf_value(&text, "ident_file") {
            let path = self.host.path(&ident);
            if !path.exists() {
                fs::write(&path, "").unwrap();
            }
        }
        if let Some(logs) = conf_value(&text, "log_directory").filter(|d| d.starts_with('/')) {
            fs::create_dir_all(self.host.path(&logs)).unwrap();
        }
        // The rendered files are postgres's in the manifest; here they are the server's user's.
        chown(&self.pg_user, &self.host.path("/etc/postgresql"), true);
        chown(&self.pg_user, &self.host.path("/var/lib/postgresql"), true);
        let log = format!("/var/log/postgresql/postgresql-{major}-main.log");
        let mut options = format!("-c config_file={config}");
        if conf_value(&text, "unix_socket_directories").is_none() {
            options.push_str(&format!(" -c unix_socket_directories={PG_SOCKET_DIR}"));
        }
        let output = self
            .pg_command(pg.bin.join("pg_ctl"))
            .args([
                "start",
                "-w",
                "-t",
                &TIMEOUT.as_secs().to_string(),
                "-D",
                &data,
                "-l",
                &log,
            ])
            .args(["-o", &options])
            .output()
            .unwrap();
        let started = Postgres {
            pg,
            data,
            port,
            log,
        };
        if !output.status.success() {
            panic!(
                "PostgreSQL {major} did not start on {}\n{}\n{}",
                self.host.name(),
                String::from_utf8_lossy(&output.stderr),
                shown_log("PostgreSQL", &self.state_path(&started.log))
            );
        }
        self.postgres.lock().unwrap().push(started);
    }

    /// A fresh cluster at `data` (`data_in_tree` here), keeping what the render put there.
    #[track_caller]
    fn initdb(&self, pg: &Binaries, data: &str, data_in_tree: &Path) {
        // initdb wants an empty folder: the rendered files wait beside it.
        let aside = self
            .namespace
            .state
            .join(format!("rendered-data-{}", pg.major));
        fs::create_dir_all(&aside).unwrap();
        let mut kept = Vec::new();
        if let Ok(entries) = fs::read_dir(data_in_tree) {
            for entry in entries {
                let entry = entry.unwrap();
                let to = aside.join(entry.file_name());
                fs::rename(entry.path(), &to).unwrap();
                kept.push(entry.file_name());
            }
        }
        fs::create_dir_all(data_in_tree).unwrap();
        chown(&self.pg_user, &self.host.path("/var/lib/postgresql"), true);
        let output = self
            .pg_command(pg.bin.join("initdb"))
            .args([
                "-D",
                data,
                "-U",
                &self.pg_user,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .unwrap();
        succeeded(
            &output,
            &format!("initdb of {data} on {}", self.host.name()),
        );
        for name in kept {
            fs::rename(aside.join(&name), data_in_tree.join(&name)).unwrap();
        }
    }

    /// Runs one query as the superuser ([`Machine::pg_user`]) with psql inside the machine, over
    /// the Unix socket in /var/run/postgresql, on the port of the server started first; the rows,
    /// `|`-separated.
    #[track_caller]
    pub fn sql(&self, query: &str) -> String {
        let port = self
            .postgres
            .lock()
            .unwrap()
            .first()
            .unwrap_or_else(|| panic!("{}: no PostgreSQL started", self.host.name()))
            .port;
        let output = self
            .pg_command(installed("SITEWRIGHT_PSQL"))
            .args([
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                PG_SOCKET_DIR,
            ])
            .args(["-p", &port.to_string(), "-d", "postgres", "-c", query])
            .output()
            .expect("nsenter runs");
        succeeded(&output, &format!("{query} on {}", self.host.name()));
        String::from_utf8(output.stdout)
            .unwrap()
            .trim_end()
            .to_owned()
    }

    /// Starts the real nginx (SITEWRIGHT_NGINX) as root inside the machine on its own
    /// /etc/nginx/nginx.conf, as the service does; when the tree has none, Debian's
    /// ([`debian_nginx_conf`]) is written there first, with the real machine's mime.types. Pid
    /// file and logs are Debian's (/run/nginx.pid, /var/log/nginx), which are the machine's own,
    /// so a later `nginx -T` needs no options. `nginx -t` must pass first. Returns once nginx
    /// listens (it writes its pid file then); stopped when the machine is dropped.
    #[track_caller]
    pub fn start_nginx(&self) {
        let conf = self.host.path("/etc/nginx/nginx.conf");
        if !conf.exists() {
            fs::write(&conf, debian_nginx_conf()).unwrap();
        }
        for dir in ["conf.d", "sites-enabled", "modules-enabled"] {
            fs::create_dir_all(self.host.path("/etc/nginx").join(dir)).unwrap();
        }
        let mime = self.host.path("/etc/nginx/mime.types");
        if !mime.exists() {
            fs::copy("/etc/nginx/mime.types", &mime).unwrap_or_else(|e| {
                panic!("/etc/nginx/mime.types: {e}: run scripts/install-test-deps")
            });
        }
        let nginx = installed("SITEWRIGHT_NGINX");
        let test = self
            .command(&nginx)
            .arg("-t")
            .output()
            .expect("nsenter runs");
        succeeded(&test, &format!("nginx -t on {}", self.host.name()));
        let pid_file = self.state_path("/run/nginx.pid");
        let _ = fs::remove_file(&pid_file);
        // In the foreground, a child of the test; `-g` leaves the conf as it is for `nginx -T`.
        let child = self
            .command(&nginx)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(fs::File::create(self.namespace.state.join("nginx.stderr")).unwrap())
            .spawn()
            .expect("nsenter runs");
        let mut slot = self.nginx.lock().unwrap();
        *slot = Some(child);
        let child = slot.as_mut().unwrap();
        let started = Instant::now();
        while !pid_file.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "nginx exited ({status}) on {}\n{}\n{}",
                    self.host.name(),
                    fs::read_to_string(self.namespace.state.join("nginx.stderr"))
                        .unwrap_or_default(),
                    shown_log("nginx", &self.state_path("/var/log/nginx/error.log"))
                );
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "nginx did not start on {} within {TIMEOUT:?}",
                self.host.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops what the machine started, each server waited for.
    fn stop_servers(&self) {
        for server in self
            .postgres
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let stopped = self
                .pg_command(server.pg.bin.join("pg_ctl"))
                .args([
                    "stop",
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    &TIMEOUT.as_secs().to_string(),
                ])
                .args(["-D", &server.data])
                .output();
            if std::thread::panicking() || !stopped.is_ok_and(|o| o.status.success()) {
                eprintln!(
                    "{}",
                    shown_log(
                        &format!("PostgreSQL {} of {}", server.pg.major, self.host.name()),
                        &self.state_path(&server.log)
                    )
                );
            }
        }
        if let Some(mut child) = self.nginx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // SIGQUIT: nginx's graceful stop; the master waits for its workers.
            // SAFETY: kill(2) of our own child, not yet waited for.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGQUIT);
            }
            let gone = wait_for(20, || child.try_wait().is_ok_and(|s| s.is_some()));
            if !gone {
                for pid in descendants(child.id()) {
                    // SAFETY: kill(2) of a descendant of our own child, read just now from /proc.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            if std::thread::panicking() {
                eprintln!(
                    "{}",
                    shown_log(
                        &format!("nginx of {}", self.host.name()),
                        &self.state_path("/var/log/nginx/error.log")
                    )
                );
            }
        }
    }
}

impl Drop for Machine<'_> {
    fn drop(&mut self) {
        // The servers first, while sshd still runs: the machine's own, then those started
        // through ssh (by Ansible, say), which their own signals stop; then the fields: the host
        // (sshd and its sessions), then the namespace's holder with anything left in it, killed.
        self.stop_servers();
        let others = self.namespace.stop_servers();
        if std::thread::panicking() && !others.is_empty() {
            // Their logs, wherever Debian's packages write them in the machine.
            let mut logs = vec![self.state_path("/var/log/nginx/error.log")];
            if let Ok(entries) = fs::read_dir(self.state_path("/var/log/postgresql")) {
                logs.extend(entries.filter_map(|e| Some(e.ok()?.path())));
            }
            for log in logs.iter().filter(|l| l.is_file()) {
                eprintln!(
                    "{}",
                    shown_log(&format!("a server of {}", self.host.name()), log)
                );
            }
        }
    }
}

/// The value of `name` in a postgresql.conf text (its last setting, quotes and comment gone).
fn conf_value(text: &str, name: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.trim_start().split_once('=')?;
            (key.trim() == name).then_some(rest)
        })
        .map(|rest| {
            let rest = rest.trim();
            if let Some(quoted) = rest.strip_prefix('\'') {
                quoted.split('\'').next().unwrap_or("").to_owned()
            } else {
                rest.split(['#', ' ', '\t']).next().unwrap_or("").to_owned()
            }
        })
        .next_back()
}
