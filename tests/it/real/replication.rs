//! Real streaming replication on every PostgreSQL major from 11 to 18, each server started from
//! the files sitewright renders for it: the primary from its postgresql.conf and pg_hba.conf, nginx
//! from its stream block, the replica from its postgresql.conf, standby marker (recovery.conf on
//! 11, standby.signal on 12+) and passfile. Only paths and ports are overridden. A failure prints
//! the logs of both servers and nginx (their drops do it).

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::nginx::{Build, Layout, Nginx};
use crate::support::pg::{Binaries, Server, free_port, succeeded, wait_for};
use crate::support::{Sitewright, installed, temp_dir};

const PASSWORD: &str = "repl:pass\\word";

/// A two-host site on 127.0.0.1 whose paths all live under `work`.
fn spec(major: u32, work: &Path, primary_port: u16, public_port: u16) -> String {
    let w = work.display();
    let trigger = if major <= 15 {
        format!("\n    promote_trigger_file: {w}/promote.now")
    } else {
        String::new()
    };
    format!(
        "site: replication-{major}
hosts:
  - name: db1
    address: 127.0.0.1
    memory: 512MiB
    cpus: 2
    storage: ssd
    roles: [postgres-primary]
  - name: db2
    address: 127.0.0.1
    memory: 512MiB
    cpus: 2
    storage: ssd
    roles: [postgres-replica]
postgres:
  version: {major}
  data_directory: {w}/data
  config_directory: /etc/postgresql/{major}/main
  port: {primary_port}
  ssl:
    cert: {w}/server.crt
    key: {w}/server.key
  replication:
    user: replication_user
    password: {{ env: SW_TEST_REPLICATION_PASSWORD }}
    public_port: {public_port}
    wal_keep: 256MB
    passfile: {w}/db2.pgpass{trigger}
  archive:
    command: cp %p {w}/archive/%f
    restore_command: cp {w}/archive/%f %p
  replica_statement_timeout: 30s
  hba:
    - {{ type: local, databases: [all], users: [all], method: peer, comment: \"local roles; peer maps the OS user\" }}
    - {{ type: hostnossl, databases: [all], users: [all], address: 0.0.0.0/0, method: reject, comment: no TCP without SSL }}
    - {{ type: hostssl, databases: [app, template1], users: [app_user, +app_group], address: 192.0.2.0/24, method: scram-sha-256 }}
    - {{ type: hostssl, databases: [all], users: [monitor], address: samenet, method: md5 }}
nginx:
  version: \"1.22\"
  openssl: \"3.0\"
"
    )
}

fn replicate(major: u32) {
    let pg = Binaries::of(major);
    let work = temp_dir();
    let w = work.path();
    let (primary_port, replica_port, public_port) = (free_port(), free_port(), free_port());
    let spec_path = w.join("site.yaml");
    fs::write(&spec_path, spec(major, w, primary_port, public_port)).unwrap();
    let tree = w.join("tree");
    Sitewright::new()
        .args(["render", "--with-secrets"])
        .arg(&spec_path)
        .arg("-o")
        .arg(&tree)
        .env("SW_TEST_REPLICATION_PASSWORD", PASSWORD)
        .run()
        .code(0);
    let conf = |host: &str, file: &str| {
        tree.join(host)
            .join(format!("etc/postgresql/{major}/main/{file}"))
    };
    for dir in ["archive", "socket1", "socket2"] {
        fs::create_dir(w.join(dir)).unwrap();
    }
    let (data1, data2) = (w.join("data1"), w.join("data2"));
    pg.give(w);
    pg.certificate(&w.join("server.crt"), &w.join("server.key"));
    pg.initdb(&data1);

    let paths = |host: &str, data: &PathBuf| {
        vec![
            (
                "config_file",
                conf(host, "postgresql.conf").display().to_string(),
            ),
            ("hba_file", conf(host, "pg_hba.conf").display().to_string()),
            ("data_directory", data.display().to_string()),
        ]
    };
    let primary = Server::start(
        &pg,
        &data1,
        primary_port,
        &w.join("socket1"),
        &w.join("primary.log"),
        &paths("db1", &data1),
    );
    assert_eq!(
        primary.file_errors(&["data_directory", "hba_file"]),
        "",
        "primary postgresql.conf"
    );
    assert_eq!(primary.hba_errors(), "", "primary pg_hba.conf");
    // The spec's four records in order, then the derived replication record (one: the replica's
    // address and nginx's loopback are the same here).
    assert_eq!(
        primary.sql("select type || ' ' || array_to_string(database, ',') || ' ' || array_to_string(user_name, ',') || ' ' || coalesce(address, '-') || ' ' || auth_method from pg_hba_file_rules order by line_number"),
        "local all all - peer\nhostnossl all all 0.0.0.0 reject\nhostssl app,template1 app_user,+app_group 192.0.2.0 scram-sha-256\nhostssl all monitor samenet md5\nhostssl replication replication_user 127.0.0.1 scram-sha-256"
    );
    primary.sql(&format!(
        "create role replication_user with replication login password '{}'",
        PASSWORD.replace('\'', "''")
    ));
    primary.sql("create table seen (x int)");

    let build = Build::debian12();
    let layout = Layout::new(
        &w.join("nginx"),
        &build,
        &[
            tree.join("db1/etc/nginx/modules-enabled/50-mod-stream.conf"),
            tree.join("db1/etc/nginx/sitewright-stream.conf"),
        ],
        &[],
    );
    let _nginx = Nginx::start(&layout, &build, &[public_port]);

    // The replica's copy of the primary: through nginx with pg_basebackup where Debian's client
    // can (up to its own major), else a copy of the cleanly stopped primary's data directory.
    let passfile = w.join("db2.pgpass");
    pg.deploy(&tree, "db2", &passfile, &passfile);
    let client = PathBuf::from(installed("SITEWRIGHT_PG_CLIENT_BIN"));
    let client_major: u32 = client
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let primary = if major <= client_major {
        let backup = pg
            .command(client.join("pg_basebackup"))
            .env("PGPASSFILE", &passfile)
            .arg("-d")
            .arg(format!(
                "host=127.0.0.1 port={public_port} user=replication_user sslmode=require"
            ))
            .arg("-D")
            .arg(&data2)
            .args(["-X", "stream", "-c", "fast"])
            .output()
            .unwrap();
        succeeded(&backup, "pg_basebackup through nginx");
        primary
    } else {
        drop(primary);
        let copy = pg
            .command("cp")
            .arg("-a")
            .arg(&data1)
            .arg(&data2)
            .output()
            .unwrap();
        succeeded(&copy, "copy of the stopped primary");
        Server::start(
            &pg,
            &data1,
            primary_port,
            &w.join("socket1"),
            &w.join("primary.log"),
            &paths("db1", &data1),
        )
    };
    let data_dir = PathBuf::from(format!("{}/data", w.display()));
    let marker = if major >= 12 {
        "standby.signal"
    } else {
        "recovery.conf"
    };
    assert!(
        !tree
            .join("db2")
            .join(data_dir.strip_prefix("/").unwrap())
            .join(if major >= 12 {
                "recovery.conf"
            } else {
                "standby.signal"
            })
            .exists(),
        "only one standby marker is rendered"
    );
    pg.deploy(&tree, "db2", &data_dir.join(marker), &data2.join(marker));

    let replica = Server::start(
        &pg,
        &data2,
        replica_port,
        &w.join("socket2"),
        &w.join("replica.log"),
        &paths("db2", &data2),
    );
    assert_eq!(
        replica.file_errors(&["data_directory", "hba_file", "port"]),
        "",
        "replica postgresql.conf"
    );
    assert_eq!(replica.sql("select pg_is_in_recovery()"), "t");
    assert_eq!(replica.sql("show statement_timeout"), "30s");

    let mut seen = String::new();
    let streaming = wait_for(60, || {
        seen = primary.sql("select r.application_name || ' ' || r.state || ' ' || s.ssl from pg_stat_replication r join pg_stat_ssl s using (pid)");
        seen == "db2 streaming true"
    });
    assert!(
        streaming,
        "pg_stat_replication shows {seen:?}, not db2 streaming over SSL"
    );
    let auth = primary.sql("select rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname = 'replication_user'");
    assert_eq!(auth, "t", "the replication password is stored as SCRAM");

    primary.sql("insert into seen values (42)");
    assert!(
        wait_for(30, || replica.try_sql("select x from seen").stdout
            == b"42\n"),
        "the row written on the primary is not read on the replica"
    );

    // The segment that pg_switch_wal closes is archived whole before the promotion. Promoted, the
    // replica turns standby mode off and reads its last record again, trying restore_command first
    // (PostgreSQL's StartupXLOG on 11 to 14, FinishWalRecovery from 15): a copy that archive_command
    // (`cp`) is still writing is then a segment of the wrong size, which is FATAL outside standby
    // mode, and the replica shuts down. That was the PostgreSQL 11 flake: the old wait here took
    // any file in the archive (the base backup's segment) for the switched one.
    let switched = primary.sql("select pg_walfile_name(pg_switch_wal())");
    let mut archived = String::new();
    assert!(
        wait_for(60, || {
            archived = primary.sql("select coalesce(last_archived_wal, '') from pg_stat_archiver");
            archived >= switched
        }),
        "archive_command did not archive {switched} (pg_stat_archiver: last archived {archived:?})"
    );
    let segment: u64 = primary
        .sql("select pg_size_bytes(current_setting('wal_segment_size'))")
        .parse()
        .unwrap();
    let copy = w.join("archive").join(&switched);
    assert_eq!(
        fs::metadata(&copy).map(|m| m.len()).ok(),
        Some(segment),
        "{} is not a whole segment",
        copy.display()
    );

    if major <= 15 {
        let touch = pg
            .command("touch")
            .arg(w.join("promote.now"))
            .output()
            .unwrap();
        succeeded(&touch, "touch the trigger file");
    } else {
        let promote = pg
            .command(pg.bin.join("pg_ctl"))
            .args(["promote", "-w", "-D"])
            .arg(&data2)
            .output()
            .unwrap();
        succeeded(&promote, "pg_ctl promote");
    }
    assert!(
        wait_for(60, || replica.sql("select pg_is_in_recovery()") == "f"),
        "the replica was not promoted"
    );
    replica.sql("insert into seen values (43)");
    assert_eq!(replica.sql("select count(*) from seen"), "2");
}

#[test]
fn postgres_11_replicates() {
    replicate(11);
}

#[test]
fn postgres_12_replicates() {
    replicate(12);
}

#[test]
fn postgres_13_replicates() {
    replicate(13);
}

#[test]
fn postgres_14_replicates() {
    replicate(14);
}

#[test]
fn postgres_15_replicates() {
    replicate(15);
}

#[test]
fn postgres_16_replicates() {
    replicate(16);
}

#[test]
fn postgres_17_replicates() {
    replicate(17);
}

#[test]
fn postgres_18_replicates() {
    replicate(18);
}
