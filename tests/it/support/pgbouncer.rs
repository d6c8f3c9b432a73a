//! The real pgbouncer for the tests that run what sitewright renders for it: in the foreground
//! as PgBouncer's user, its console over the Unix socket, stopped when dropped.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::pg::{as_user, shown_log, succeeded};
use crate::support::{installed, running_as_root};

/// PgBouncer's user on Debian, which the rendered files are meant for; PgBouncer refuses root.
pub const BOUNCER_USER: &str = "postgres";

pub fn id_of(user: &str, flag: &str) -> u32 {
    let output = Command::new("id")
        .args([flag, user])
        .output()
        .expect("id runs");
    succeeded(&output, "id");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

/// The real pgbouncer, in the foreground as PgBouncer's user, its output in a log; stopped when
/// dropped, its log printed when the test fails.
pub struct Pgbouncer {
    pub child: Child,
    pub log: PathBuf,
    pub socket_dir: PathBuf,
}

impl Pgbouncer {
    pub fn start(ini: &Path, socket_dir: &Path, log: &Path) -> Self {
        let out = fs::File::create(log).unwrap();
        let mut command = Command::new(installed("SITEWRIGHT_PGBOUNCER"));
        command
            .arg(ini)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        if running_as_root() {
            command
                .uid(id_of(BOUNCER_USER, "-u"))
                .gid(id_of(BOUNCER_USER, "-g"));
        }
        Self {
            child: command.spawn().expect("pgbouncer starts"),
            log: log.to_owned(),
            socket_dir: socket_dir.to_owned(),
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process is the one started, still running.
    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("pgbouncer exited ({status})\n{}", self.log());
        }
    }

    /// psql on the admin console over the Unix socket, as PgBouncer's own OS user, which
    /// PgBouncer lets in as `pgbouncer` without a password.
    pub fn try_console(&self, port: u16, command: &str) -> Output {
        as_user(BOUNCER_USER, installed("SITEWRIGHT_PSQL"))
            .args([
                "-X",
                "-A",
                "-P",
                "footer=off",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
            ])
            .arg(&self.socket_dir)
            .args([
                "-p",
                &port.to_string(),
                "-U",
                "pgbouncer",
                "-d",
                "pgbouncer",
            ])
            .args(["-c", command])
            .env("PGPASSFILE", "/dev/null")
            .output()
            .expect("psql runs")
    }

    /// A SHOW command's rows, each a map from column to value.
    #[track_caller]
    pub fn show(&self, port: u16, command: &str) -> Vec<Vec<(String, String)>> {
        let output = self.try_console(port, command);
        succeeded(&output, command);
        let text = String::from_utf8(output.stdout).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('|').collect();
        lines
            .map(|line| {
                header
                    .iter()
                    .zip(line.split('|'))
                    .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
                    .collect()
            })
            .collect()
    }

    /// The row of `command` whose `key` column is `value`, with the columns `columns` asked.
    #[track_caller]
    pub fn row(
        &self,
        port: u16,
        command: &str,
        key: (&str, &str),
        columns: &[&str],
    ) -> Vec<String> {
        let rows = self.show(port, command);
        let row = rows
            .iter()
            .find(|r| r.iter().any(|(k, v)| k == key.0 && v == key.1))
            .unwrap_or_else(|| panic!("{command}: no row with {} {}: {rows:?}", key.0, key.1));
        columns
            .iter()
            .map(|c| {
                row.iter()
                    .find(|(k, _)| k == c)
                    .unwrap_or_else(|| panic!("{command}: no column {c}: {row:?}"))
                    .1
                    .clone()
            })
            .collect()
    }

    pub fn config(&self, port: u16, key: &str) -> String {
        self.row(port, "SHOW CONFIG", ("key", key), &["value"])
            .remove(0)
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGINT: PgBouncer's safe shutdown, which removes its Unix socket.
            let pid = self.child.id() as libc::pid_t;
            unsafe { libc::kill(pid, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", shown_log("pgbouncer", &self.log));
        }
    }
}
