//! Real PostgreSQL servers for the tests: run as the unprivileged user that
//! scripts/install-test-deps made (PostgreSQL refuses root), on 127.0.0.1, stopped when dropped.

use std::ffi::OsStr;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::{installed, running_as_root};

/// The server binaries of one major, and the user that runs them.
pub struct Binaries {
    pub major: u32,
    pub bin: PathBuf,
    pub user: String,
}

impl Binaries {
    #[track_caller]
    pub fn of(major: u32) -> Self {
        let bin = PathBuf::from(installed(&format!("SITEWRIGHT_PG{major}_BIN")));
        assert!(
            bin.join("postgres").exists(),
            "no PostgreSQL {major} server at {}: run scripts/test",
            bin.display()
        );
        Self {
            major,
            bin,
            user: installed("SITEWRIGHT_PG_USER"),
        }
    }

    /// `program` run as the server's user.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        as_user(&self.user, program)
    }

    /// Makes `path` (and everything under it) the server user's.
    pub fn give(&self, path: &Path) {
        if running_as_root() {
            let output = Command::new("chown")
                .args(["-R", &format!("{}:", self.user)])
                .arg(path)
                .output()
                .unwrap();
            succeeded(&output, "chown");
        }
    }

    pub fn initdb(&self, data: &Path) {
        let output = self
            .command(self.bin.join("initdb"))
            .arg("-D")
            .arg(data)
            .args(["-U", &self.user, "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .unwrap();
        succeeded(&output, "initdb");
    }

    /// Copies one rendered file of `host` in `tree` to `to`, owner-only and the server user's, as
    /// a deploy would; `path` is where the file goes on the host.
    pub fn deploy(&self, tree: &Path, host: &str, path: &Path, to: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let from = tree.join(host).join(path.strip_prefix("/").unwrap());
        fs::copy(&from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        fs::set_permissions(to, fs::Permissions::from_mode(0o600)).unwrap();
        self.give(to);
    }

    /// A self-signed certificate and key for 127.0.0.1, owned by the server's user.
    pub fn certificate(&self, cert: &Path, key: &Path) {
        let output = self
            .command(installed("SITEWRIGHT_OPENSSL"))
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(key)
            .arg("-out")
            .arg(cert)
            .output()
            .unwrap();
        succeeded(&output, "openssl req");
    }
}

pub fn as_user(user: &str, program: impl AsRef<OsStr>) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", user, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

#[track_caller]
pub fn succeeded(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A port on 127.0.0.1 that nothing listens on and that no other test in this run was given.
/// Taken below the kernel's ephemeral range (32768 and up on Linux), in turn: a port the kernel
/// handed out for `bind(0)` may meanwhile become the source port of any outgoing connection
/// (psql, a replica retrying its primary), and the server given it then fails to start with
/// "address already in use".
pub fn free_port() -> u16 {
    const FIRST: u16 = 20_000;
    const END: u16 = 32_000;
    static NEXT: std::sync::Mutex<u16> = std::sync::Mutex::new(0);
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    if *next == 0 {
        // Apart from the last run's ports, which may still linger in TIME_WAIT.
        *next = FIRST + (std::process::id() % u32::from(END - FIRST)) as u16;
    }
    for _ in FIRST..END {
        let port = *next;
        *next = if port + 1 >= END { FIRST } else { port + 1 };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 between {FIRST} and {END}");
}

/// Polls `check` until it is true or `seconds` pass.
pub fn wait_for(seconds: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        sleep(Duration::from_millis(200));
    }
    check()
}

/// A running server; `pg_ctl stop` when dropped. A test that fails while it runs (an assertion,
/// a query that fails, a wait that ends) prints the server's log: the drop does it while the
/// thread panics.
pub struct Server<'a> {
    pub pg: &'a Binaries,
    pub data: PathBuf,
    pub socket_dir: PathBuf,
    pub port: u16,
    pub log: PathBuf,
}

impl<'a> Server<'a> {
    /// Starts a server on `data` with `overrides` (`name`, value) given as `-c` options.
    #[track_caller]
    pub fn start(
        pg: &'a Binaries,
        data: &Path,
        port: u16,
        socket_dir: &Path,
        log: &Path,
        overrides: &[(&str, String)],
    ) -> Self {
        let options = overrides
            .iter()
            .chain(&[
                ("port", port.to_string()),
                ("unix_socket_directories", socket_dir.display().to_string()),
            ])
            .map(|(name, value)| format!("-c {name}={value}"))
            .collect::<Vec<_>>()
            .join(" ");
        let output = pg
            .command(pg.bin.join("pg_ctl"))
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(data)
            .arg("-l")
            .arg(log)
            .args(["-o", &options])
            .output()
            .unwrap();
        let server = Self {
            pg,
            data: data.to_owned(),
            socket_dir: socket_dir.to_owned(),
            port,
            log: log.to_owned(),
        };
        if !output.status.success() {
            panic!(
                "PostgreSQL {} did not start\n{}\n--- log\n{}",
                pg.major,
                String::from_utf8_lossy(&output.stderr),
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        server
    }

    /// Runs one query as the superuser over the Unix socket; the rows, `|`-separated.
    #[track_caller]
    pub fn sql(&self, query: &str) -> String {
        let output = self.try_sql(query);
        succeeded(&output, query);
        String::from_utf8(output.stdout)
            .unwrap()
            .trim_end()
            .to_owned()
    }

    pub fn try_sql(&self, query: &str) -> Output {
        self.psql().args(["-c", query]).output().expect("psql runs")
    }

    /// psql connected as the superuser over the Unix socket, unaligned and quiet.
    pub fn psql(&self) -> Command {
        let mut command = self.pg.command(installed("SITEWRIGHT_PSQL"));
        command
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                &self.pg.user,
                "-d",
                "postgres",
            ]);
        command
    }

    /// The settings PostgreSQL could not apply from its files, but for those the command line set.
    pub fn file_errors(&self, overridden: &[&str]) -> String {
        let skip = overridden
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(",");
        self.sql(&format!(
            "select sourcefile || ':' || sourceline || ' ' || name || ': ' || error \
             from pg_file_settings where error is not null and name not in ({skip})"
        ))
    }

    /// pg_hba.conf records that PostgreSQL could not read: an error, or (14+) a row of nulls.
    pub fn hba_errors(&self) -> String {
        self.sql(
            "select line_number || ': ' || coalesce(error, 'unreadable record') from pg_hba_file_rules \
             where error is not null or type is null",
        )
    }

    pub fn stop(&self) {
        let _ = self
            .pg
            .command(self.pg.bin.join("pg_ctl"))
            .args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
            .arg(&self.data)
            .output();
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server<'_> {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "{}",
                shown_log(&format!("PostgreSQL {}", self.pg.major), &self.log)
            );
        }
    }
}

/// The last 64 KiB of the log at `path`, headed by what wrote it, for a failed test's output.
pub fn shown_log(what: &str, path: &Path) -> String {
    const TAIL: usize = 64 * 1024;
    match fs::read(path) {
        Ok(bytes) => {
            let tail = &bytes[bytes.len().saturating_sub(TAIL)..];
            format!(
                "--- {what}: {}{}\n{}--- end of {}",
                path.display(),
                if tail.len() < bytes.len() {
                    " (its last 64 KiB)"
                } else {
                    ""
                },
                String::from_utf8_lossy(tail),
                path.display()
            )
        }
        Err(e) => format!("--- {what}: no log at {}: {e}", path.display()),
    }
}
