//! Hostile values in the spec's free-text fields, read back by the real parsers: PostgreSQL's own
//! configuration parser (postgresql.conf and pg_hba.conf), procps' sysctl; and the backup job run
//! against a real server as cron would run it. The values and the refusals are in `injection`.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::injection::{HOSTILE, render};
use crate::support::cron::read_crontab;
use crate::support::pg::{Binaries, Server, free_port, succeeded};
use crate::support::{fixture, temp_dir, yaml_quoted};

#[test]
fn postgresql_reads_back_every_hostile_value_exactly() {
    let pg = Binaries::of(16);
    let work = temp_dir();
    let data = work.path().join("data");
    pg.give(work.path());
    pg.initdb(&data);
    let base = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    for (i, value) in HOSTILE.iter().enumerate() {
        let dir = work.path().join(format!("case{i}"));
        fs::create_dir(&dir).unwrap();
        let spec = base
            .replace(
                "    command: rsync -a %p postgres@db2:/opt/postgresql_wal/%f",
                &format!("    command: {}", yaml_quoted(value)),
            )
            .replace(
                "    autovacuum: true\n",
                &format!(
                    "    autovacuum: true\n    log_line_prefix: {}\n",
                    yaml_quoted(value)
                ),
            );
        render(&spec, &dir).code(0);
        pg.give(&dir);
        let conf = dir.join("out/db1/etc/postgresql/16/main/postgresql.conf");
        for setting in ["log_line_prefix", "archive_command"] {
            let output = pg
                .command(pg.bin.join("postgres"))
                .arg(format!("--config-file={}", conf.display()))
                .arg("-D")
                .arg(&data)
                .arg("-c")
                .arg(format!("data_directory={}", data.display()))
                .args(["-C", setting])
                .output()
                .unwrap();
            succeeded(&output, &format!("postgres -C {setting} for {value:?}"));
            let read = String::from_utf8_lossy(&output.stdout);
            assert_eq!(
                read.strip_suffix('\n').unwrap_or(&read),
                *value,
                "{setting} = {value:?}"
            );
        }
    }
}

#[test]
fn sysctl_reads_back_text_values_and_refuses_what_would_break_the_line() {
    let base = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    for value in [
        "|/usr/lib/systemd/systemd-coredump %P %u %g",
        "core.%e.%p;{x}$y",
        "a\\b 'c' \"d\"",
    ] {
        let work = temp_dir();
        let spec = base.replace(
            "    vm.swappiness: 10",
            &format!(
                "    vm.swappiness: 10\n    kernel.core_pattern: {}",
                yaml_quoted(value)
            ),
        );
        render(&spec, work.path()).code(0);
        let file = work.path().join("out/db1/etc/sysctl.d/60-sitewright.conf");
        let output = Command::new("sysctl")
            .args(["--dry-run", "-p"])
            .arg(&file)
            .output()
            .unwrap();
        succeeded(&output, "sysctl --dry-run");
        let read = String::from_utf8_lossy(&output.stdout);
        assert!(
            read.lines()
                .any(|l| l == format!("kernel.core_pattern = {value}")),
            "procps read another value for {value:?}:\n{read}"
        );
    }
    for value in ["new\nline", "#comment", " padded", ";x"] {
        let work = temp_dir();
        let spec = base.replace(
            "    vm.swappiness: 10",
            &format!(
                "    vm.swappiness: 10\n    kernel.core_pattern: {}",
                yaml_quoted(value)
            ),
        );
        let line = spec
            .lines()
            .position(|l| l.contains("kernel.core_pattern"))
            .unwrap()
            + 1;
        render(&spec, work.path()).code(2).stderr_has(&format!(
            "site.yaml:{line}:26: error[SYS003]: `kernel.core_pattern` takes one line of text"
        ));
    }
}

#[test]
fn pg_hba_comments_hold_any_one_line_text_and_postgresql_reads_the_same_records() {
    let pg = Binaries::of(16);
    let work = temp_dir();
    let root = work.path();
    let (socket_dir, data, live) = (
        root.join("socket"),
        root.join("data"),
        root.join("pg_hba.conf"),
    );
    fs::create_dir(&socket_dir).unwrap();
    let base = fs::read_to_string(fixture("idr/site.yaml")).unwrap();
    let rendered = |comment: &str, dir: &Path| {
        fs::create_dir(dir).unwrap();
        let spec = base.replace(
            "comment: OMERO servers",
            &format!("comment: {}", yaml_quoted(comment)),
        );
        assert_ne!(
            spec, base,
            "the idr fixture no longer has the comment this test replaces"
        );
        (
            render(&spec, dir),
            dir.join("out/idr-database/var/lib/pgsql/16/data/pg_hba.conf"),
        )
    };
    let (outcome, plain) = rendered("OMERO servers", &root.join("plain"));
    outcome.code(0);
    // The server runs on a copy that each case overwrites: pg_hba_file_rules parses the file on
    // disk at every query, while connections keep the rules loaded at start.
    fs::write(&live, "local all all trust\n").unwrap();
    let (cert, key) = (root.join("server.crt"), root.join("server.key"));
    pg.give(root);
    pg.certificate(&cert, &key);
    pg.initdb(&data);
    // hostssl records are read as errors unless SSL is on.
    let server = Server::start(
        &pg,
        &data,
        free_port(),
        &socket_dir,
        &root.join("postgres.log"),
        &[
            ("hba_file", live.display().to_string()),
            ("ssl", "on".to_owned()),
            ("ssl_cert_file", cert.display().to_string()),
            ("ssl_key_file", key.display().to_string()),
        ],
    );
    let rules = || {
        server.sql(
            "select line_number, type, database, user_name, address, netmask, auth_method, \
             coalesce(error, '') from pg_hba_file_rules order by line_number",
        )
    };
    fs::copy(&plain, &live).unwrap();
    let expected = rules();
    assert_eq!(
        expected.lines().count(),
        3,
        "records of the idr primary:\n{expected}"
    );
    assert_eq!(server.hba_errors(), "");
    assert!(
        expected.contains("|hostssl|{idr}|{omero}|192.0.2.0|255.255.255.0|scram-sha-256|"),
        "{expected}"
    );
    for (i, value) in HOSTILE.iter().enumerate() {
        let (outcome, file) = rendered(value, &root.join(format!("case{i}")));
        if value.chars().any(char::is_control) {
            outcome
                .code(2)
                .stderr_has("error: expected text on one line, without control characters");
            continue;
        }
        outcome.code(0);
        fs::copy(&file, &live).unwrap();
        assert_eq!(rules(), expected, "comment {value:?}");
    }
}

/// The job as cron would run it, against a real server on a port that is not 5432: only the
/// program's path and the dump's directory are rewritten, and the socket's directory is given in
/// PGHOST, as /var/run/postgresql is libpq's default on the host.
#[test]
fn the_backup_job_dumps_a_server_on_a_port_other_than_5432() {
    // pg_dump refuses a server newer than itself: the server is of the client's major.
    let client = std::path::PathBuf::from(crate::support::installed("SITEWRIGHT_PG_CLIENT_BIN"));
    let version = Command::new(client.join("pg_dump"))
        .arg("--version")
        .output()
        .unwrap();
    succeeded(&version, "pg_dump --version");
    let major: u32 = String::from_utf8_lossy(&version.stdout)
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .expect("pg_dump (PostgreSQL) MAJOR.MINOR");
    let pg = Binaries::of(major);
    let work = temp_dir();
    let root = work.path();
    let (socket_dir, data, dumps) = (root.join("socket"), root.join("data"), root.join("dumps"));
    fs::create_dir(&socket_dir).unwrap();
    fs::create_dir(&dumps).unwrap();
    let port = free_port();
    let spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replace("  port: 5432\n", &format!("  port: {port}\n"))
        .replace("  version: 16\n", &format!("  version: {major}\n"));
    let out = root.join("rendered");
    fs::create_dir(&out).unwrap();
    render(&spec, &out).code(0);
    let text =
        fs::read_to_string(out.join("out/db1/etc/cron.d/sitewright-catmaid-pg-dump")).unwrap();
    let (_, jobs) = read_crontab(&text);
    let [job] = &jobs[..] else {
        panic!("one job: {text}")
    };
    let command = job
        .command
        .replacen(
            "pg_dump ",
            &format!("{} ", client.join("pg_dump").display()),
            1,
        )
        .replace("/opt/backup/psql/", &format!("{}/", dumps.display()));
    assert_ne!(command, job.command);
    pg.give(root);
    pg.initdb(&data);
    let server = Server::start(
        &pg,
        &data,
        port,
        &socket_dir,
        &root.join("postgres.log"),
        &[],
    );
    server.sql("create database catmaid");
    let output = pg
        .command("/bin/sh")
        .arg("-c")
        .arg(&command)
        .env("PGHOST", &socket_dir)
        .env("PGUSER", &pg.user)
        .output()
        .unwrap();
    succeeded(&output, &command);
    let dumped: Vec<_> = fs::read_dir(&dumps).unwrap().collect();
    assert_eq!(dumped.len(), 1, "{command}");
    let sql = fs::read_to_string(dumped[0].as_ref().unwrap().path()).unwrap();
    assert!(sql.contains("PostgreSQL database dump complete"), "{sql}");
}
