//! PostgreSQL 16 boots from the rendered CATMAID primary's postgresql.conf and pg_hba.conf, with
//! only paths and ports overridden, and reads both without an error.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{Sitewright, fixture, installed, running_as_root, temp_dir};

/// A PostgreSQL server run by the unprivileged user, stopped when dropped.
struct Server {
    bin: PathBuf,
    user: String,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    started: bool,
}

impl Server {
    /// Runs `program` as the server's user (PostgreSQL refuses to run as root).
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        as_user(&self.user, program)
    }

    #[track_caller]
    fn sql(&self, query: &str) -> String {
        let output = self
            .command(installed("SITEWRIGHT_PSQL"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                &self.user,
                "-d",
                "postgres",
                "-c",
                query,
            ])
            .output()
            .expect("psql runs");
        succeeded(&output, query);
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.started {
            let _ = self
                .command(self.bin.join("pg_ctl"))
                .args(["stop", "-m", "fast", "-w", "-D"])
                .arg(&self.data)
                .output();
        }
    }
}

fn as_user(user: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", user, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

#[track_caller]
fn succeeded(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn give_to(user: &str, path: &Path) {
    if running_as_root() {
        let output = Command::new("chown")
            .args(["-R", &format!("{user}:")])
            .arg(path)
            .output()
            .unwrap();
        succeeded(&output, "chown");
    }
}

#[test]
fn postgres_16_boots_from_the_rendered_primary_files() {
    let bin = PathBuf::from(installed("SITEWRIGHT_PG16_BIN"));
    let user = installed("SITEWRIGHT_PG_USER");
    assert!(
        bin.join("postgres").exists(),
        "no PostgreSQL 16 at {}: run scripts/test",
        bin.display()
    );
    let work = temp_dir();
    let root = work.path();
    let tree = root.join("tree");
    Sitewright::new()
        .arg("render")
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(&tree)
        .run()
        .code(0);
    let conf_dir = tree.join("db1/etc/postgresql/16/main");
    let (cert, key, socket_dir, data) = (
        root.join("server.crt"),
        root.join("server.key"),
        root.join("socket"),
        root.join("data"),
    );
    fs::create_dir(&socket_dir).unwrap();
    give_to(&user, root);
    let openssl = as_user(&user, installed("SITEWRIGHT_OPENSSL"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    succeeded(&openssl, "openssl req");
    let initdb = as_user(&user, bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", &user, "-E", "UTF8", "--locale=C"])
        .output()
        .unwrap();
    succeeded(&initdb, "initdb");

    let mut server = Server {
        bin: bin.clone(),
        user: user.clone(),
        data: data.clone(),
        socket_dir: socket_dir.clone(),
        port: free_port(),
        started: false,
    };
    // Only paths and the port are overridden; every other value is the rendered file's.
    let overrides = [
        ("config_file", conf_dir.join("postgresql.conf")),
        ("hba_file", conf_dir.join("pg_hba.conf")),
        ("data_directory", data.clone()),
        ("ssl_cert_file", cert),
        ("ssl_key_file", key),
        ("unix_socket_directories", socket_dir),
        ("port", PathBuf::from(server.port.to_string())),
    ]
    .iter()
    .map(|(name, value)| format!("-c {name}={}", value.display()))
    .collect::<Vec<_>>()
    .join(" ");
    let start = server
        .command(bin.join("pg_ctl"))
        .args(["start", "-w", "-t", "60", "-D"])
        .arg(&data)
        .arg("-l")
        .arg(root.join("postgres.log"))
        .args(["-o", &overrides])
        .output()
        .unwrap();
    server.started = true;
    if !start.status.success() {
        panic!(
            "PostgreSQL 16 did not start from the rendered files\n{}",
            fs::read_to_string(root.join("postgres.log")).unwrap_or_default()
        );
    }

    // A restart-only setting whose file value differs from the running one reads "could not be
    // applied": expected for exactly the ones the command line overrode, an error for any other.
    let file_errors = server.sql(
        "select name || ': ' || error from pg_file_settings where error is not null order by name",
    );
    assert_eq!(
        file_errors,
        "data_directory: setting could not be applied\nhba_file: setting could not be applied\nport: setting could not be applied\n",
        "postgresql.conf settings PostgreSQL could not apply"
    );
    let from_file: i64 = server
        .sql(&format!(
            "select count(*) from pg_file_settings where sourcefile = '{}'",
            conf_dir.join("postgresql.conf").display()
        ))
        .trim()
        .parse()
        .unwrap();
    assert!(
        from_file >= 15,
        "PostgreSQL read only {from_file} settings from the rendered file"
    );

    let hba = server.sql(
        "select line_number || ' ' || coalesce(type, '(null)') || ' ' || coalesce(error, '') from pg_hba_file_rules",
    );
    let rules: Vec<&str> = hba.lines().collect();
    assert_eq!(rules.len(), 6, "six records, read as:\n{hba}");
    assert!(
        rules
            .iter()
            .all(|r| !r.contains("(null)") && r.split(' ').nth(2).unwrap_or("").is_empty()),
        "pg_hba.conf rules with errors:\n{hba}"
    );

    for (setting, expected) in [
        ("wal_level", "replica"),
        ("max_wal_senders", "10"),
        ("wal_keep_size", "1GB"),
        ("listen_addresses", "127.0.0.1"),
        ("password_encryption", "scram-sha-256"),
        ("ssl", "on"),
        ("archive_mode", "on"),
        ("default_transaction_isolation", "read committed"),
    ] {
        assert_eq!(
            server.sql(&format!("show {setting}")).trim(),
            expected,
            "{setting}"
        );
    }

    // The record for Django through nginx's stream port: SSL and scram-sha-256 over 127.0.0.1.
    server.sql("create role catmaid_user login password 'test-only-password'");
    server.sql("create database catmaid owner catmaid_user");
    let tcp = |sslmode: &str| {
        server
            .command(installed("SITEWRIGHT_PSQL"))
            .env("PGPASSWORD", "test-only-password")
            .args([
                "-X",
                "-A",
                "-t",
                "-c",
                "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
            ])
            .arg(format!(
                "host=127.0.0.1 port={} user=catmaid_user dbname=catmaid sslmode={sslmode}",
                server.port
            ))
            .output()
            .unwrap()
    };
    let over_ssl = tcp("require");
    succeeded(&over_ssl, "an SSL connection as catmaid_user");
    assert_eq!(String::from_utf8_lossy(&over_ssl.stdout).trim(), "t");
    let plain = tcp("disable");
    assert!(
        !plain.status.success(),
        "hostssl records must refuse a connection without SSL"
    );
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("no pg_hba.conf entry"),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
}
