//! TLS to PostgreSQL that is verified: with `postgres.ssl.ca`, a replica started from its rendered
//! files streams from its primary with `sslmode=verify-full` against a CA-signed server
//! certificate that names the address it connects to, and is refused when the certificate names
//! another host (its log says why, and the primary's pg_stat_replication stays empty). PostgreSQL
//! 16 (standby.signal) and 11 (recovery.conf, and a libpq that matches an IP address by the
//! certificate's common name only).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::pg::{Binaries, Server, free_port, succeeded, wait_for};
use crate::support::{Sitewright, installed, temp_dir};

const PASSWORD: &str = "verified-replication";

/// A primary and a replica on 127.0.0.1, SSL with the CA, every path under `work`.
fn spec(major: u32, work: &Path, port: u16) -> String {
    let w = work.display();
    format!(
        "site: tls-{major}
hosts:
  - {{ name: db1, address: 127.0.0.1, memory: 512MiB, cpus: 2, storage: ssd, roles: [postgres-primary] }}
  - {{ name: db2, address: 127.0.0.1, memory: 512MiB, cpus: 2, storage: ssd, roles: [postgres-replica] }}
postgres:
  version: {major}
  data_directory: {w}/data
  config_directory: /etc/postgresql/{major}/main
  port: {port}
  ssl:
    cert: {w}/server.crt
    key: {w}/server.key
    ca: {w}/ca.crt
  replication:
    user: replication_user
    password: {{ env: SW_TEST_REPLICATION_PASSWORD }}
    passfile: {w}/db2.pgpass
"
    )
}

/// Runs openssl as the server's user in `dir`.
fn openssl(pg: &Binaries, dir: &Path, args: &[&str]) {
    let output = pg
        .command(installed("SITEWRIGHT_OPENSSL"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    succeeded(&output, &format!("openssl {}", args.join(" ")));
}

/// A certificate and key for `subject` with `san`, signed by the CA in `dir`.
fn signed(pg: &Binaries, dir: &Path, name: &str, cn: &str, san: &str) {
    let ext = format!("{name}.ext");
    fs::write(dir.join(&ext), format!("subjectAltName = {san}\n")).unwrap();
    pg.give(&dir.join(&ext));
    let (key, csr, crt) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
    );
    let subject = format!("/CN={cn}");
    openssl(
        pg,
        dir,
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-keyout", &key,
            "-out", &csr,
        ],
    );
    openssl(
        pg,
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    );
    fs::set_permissions(dir.join(&key), fs::Permissions::from_mode(0o600)).unwrap();
}

/// Puts the certificate `name` where postgres.ssl says the server's is.
fn serve(pg: &Binaries, dir: &Path, name: &str) {
    for ext in ["crt", "key"] {
        let to = dir.join(format!("server.{ext}"));
        fs::copy(dir.join(format!("{name}.{ext}")), &to).unwrap();
        pg.give(&to);
    }
}

fn verified_replication(major: u32) {
    let pg = Binaries::of(major);
    let work = temp_dir();
    let w = work.path();
    let (primary_port, replica_port) = (free_port(), free_port());
    let spec_path = w.join("site.yaml");
    fs::write(&spec_path, spec(major, w, primary_port)).unwrap();
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
    let standby = if major >= 12 {
        conf("db2", "postgresql.conf")
    } else {
        tree.join("db2")
            .join(w.strip_prefix("/").unwrap())
            .join("data/recovery.conf")
    };
    let conninfo = fs::read_to_string(&standby).unwrap();
    assert!(
        conninfo.contains(&format!(
            "sslmode=verify-full sslrootcert={}/ca.crt",
            w.display()
        )),
        "{}:\n{conninfo}",
        standby.display()
    );

    for dir in ["socket1", "socket2"] {
        fs::create_dir(w.join(dir)).unwrap();
    }
    pg.give(w);
    openssl(
        &pg,
        w,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=sitewright test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    // The address the replica connects to, as 14+ match it (the IP SAN) and as 11 to 13 do
    // (the common name); and a certificate of the same CA for another name.
    signed(&pg, w, "right", "127.0.0.1", "IP:127.0.0.1");
    signed(&pg, w, "wrong", "db.example.org", "DNS:db.example.org");
    serve(&pg, w, "right");

    let (data1, data2) = (w.join("data1"), w.join("data2"));
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
    let start_primary = || {
        Server::start(
            &pg,
            &data1,
            primary_port,
            &w.join("socket1"),
            &w.join("primary.log"),
            &paths("db1", &data1),
        )
    };
    let primary = start_primary();
    assert_eq!(primary.file_errors(&["data_directory", "hba_file"]), "");
    primary.sql(&format!(
        "create role replication_user with replication login password '{PASSWORD}'"
    ));
    primary.sql("create table seen (x int)");
    // The replica's copy: the cleanly stopped primary's data directory.
    drop(primary);
    let copy = pg
        .command("cp")
        .arg("-a")
        .arg(&data1)
        .arg(&data2)
        .output()
        .unwrap();
    succeeded(&copy, "copy of the stopped primary");
    let primary = start_primary();

    let data_dir = w.join("data");
    let marker = if major >= 12 {
        "standby.signal"
    } else {
        "recovery.conf"
    };
    pg.deploy(&tree, "db2", &data_dir.join(marker), &data2.join(marker));
    let passfile = w.join("db2.pgpass");
    pg.deploy(&tree, "db2", &passfile, &passfile);
    let start_replica = || {
        Server::start(
            &pg,
            &data2,
            replica_port,
            &w.join("socket2"),
            &w.join("replica.log"),
            &paths("db2", &data2),
        )
    };

    let replica = start_replica();
    assert_eq!(
        replica.file_errors(&["data_directory", "hba_file", "port"]),
        ""
    );
    let streams = "select r.application_name || ' ' || r.state || ' ' || s.ssl from pg_stat_replication r join pg_stat_ssl s using (pid)";
    let mut seen = String::new();
    assert!(
        wait_for(60, || {
            seen = primary.sql(streams);
            seen == "db2 streaming true"
        }),
        "pg_stat_replication shows {seen:?}, not db2 streaming over SSL\n--- replica log\n{}",
        replica.log()
    );
    let receiver = replica.sql("select conninfo from pg_stat_wal_receiver");
    assert!(
        receiver.contains("sslmode=verify-full"),
        "the replica's connection: {receiver}"
    );
    primary.sql("insert into seen values (42)");
    assert!(
        wait_for(30, || replica.try_sql("select x from seen").stdout
            == b"42\n"),
        "the row written on the primary is not read on the replica"
    );
    drop(replica);

    // The same CA, a certificate for another name: verify-full refuses it.
    serve(&pg, w, "wrong");
    primary.sql("select pg_reload_conf()");
    assert!(
        wait_for(30, || primary
            .sql("select count(*) from pg_stat_replication")
            == "0"),
        "the stopped replica still streams"
    );
    let replica = start_replica();
    let refused = wait_for(60, || {
        replica
            .log()
            .contains("does not match host name \"127.0.0.1\"")
    });
    assert!(
        refused,
        "no verify-full failure in the replica's log\n{}",
        replica.log()
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        primary.sql("select count(*) from pg_stat_replication"),
        "0",
        "a replica streams from a server whose certificate names another host"
    );
    assert_eq!(replica.sql("select pg_is_in_recovery()"), "t");
}

#[test]
fn postgres_16_replica_verifies_the_primary_certificate() {
    verified_replication(16);
}

#[test]
fn postgres_11_replica_verifies_the_primary_certificate() {
    verified_replication(11);
}
