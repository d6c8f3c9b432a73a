//! PostgreSQL 16 boots from the rendered CATMAID primary's postgresql.conf and pg_hba.conf, with
//! only paths and ports overridden, reads both without an error, and takes the role defaults SQL.

use std::fs;

use crate::support::pg::{Binaries, Server, free_port, succeeded};
use crate::support::{Sitewright, fixture, installed, temp_dir};

#[test]
fn postgres_16_boots_from_the_rendered_catmaid_primary() {
    let pg = Binaries::of(16);
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
    pg.give(root);
    pg.certificate(&cert, &key);
    pg.initdb(&data);

    // Only paths and the port are overridden; every other value is the rendered file's.
    let overrides = [
        (
            "config_file",
            conf_dir.join("postgresql.conf").display().to_string(),
        ),
        (
            "hba_file",
            conf_dir.join("pg_hba.conf").display().to_string(),
        ),
        ("data_directory", data.display().to_string()),
        ("ssl_cert_file", cert.display().to_string()),
        ("ssl_key_file", key.display().to_string()),
    ];
    let server = Server::start(
        &pg,
        &data,
        free_port(),
        &socket_dir,
        &root.join("postgres.log"),
        &overrides,
    );

    // A restart-only setting whose file value differs from the running one reads "could not be
    // applied": expected for exactly the ones the command line overrode, an error for any other.
    assert_eq!(
        server.file_errors(&["data_directory", "hba_file", "port"]),
        "",
        "postgresql.conf"
    );
    let from_file: i64 = server
        .sql(&format!(
            "select count(*) from pg_file_settings where sourcefile = '{}'",
            conf_dir.join("postgresql.conf").display()
        ))
        .parse()
        .unwrap();
    assert!(
        from_file >= 30,
        "PostgreSQL read only {from_file} settings from the rendered file"
    );
    assert_eq!(server.hba_errors(), "", "pg_hba.conf");
    assert_eq!(server.sql("select count(*) from pg_hba_file_rules"), "6");

    for (setting, expected) in [
        ("wal_level", "replica"),
        ("max_wal_senders", "10"),
        ("wal_keep_size", "1GB"),
        ("listen_addresses", "127.0.0.1"),
        ("password_encryption", "scram-sha-256"),
        ("ssl", "on"),
        ("archive_mode", "on"),
        ("shared_buffers", "16GB"),
        ("work_mem", "77672kB"),
        ("max_connections", "200"),
        ("jit", "off"),
    ] {
        assert_eq!(
            server.sql(&format!("show {setting}")),
            expected,
            "{setting}"
        );
    }

    // The role defaults SQL runs, and the role then has them.
    server.sql("create role catmaid_user login password 'test-only-password'");
    server.sql("create database catmaid owner catmaid_user");
    let apply = server
        .psql()
        .arg("-f")
        .arg(conf_dir.join("sitewright-role-defaults.sql"))
        .output()
        .unwrap();
    succeeded(&apply, "psql -f sitewright-role-defaults.sql");
    assert_eq!(
        server.sql("select array_to_string(setconfig, ';') from pg_db_role_setting join pg_roles on oid = setrole where rolname = 'catmaid_user'"),
        "client_encoding=UTF8;default_transaction_isolation=read committed;TimeZone=UTC"
    );

    // The record for Django through nginx's stream port: SSL and scram-sha-256 over 127.0.0.1.
    let tcp = |sslmode: &str| {
        pg.command(installed("SITEWRIGHT_PSQL"))
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

/// Every claim the settings tables make that a name is another major's only: each major's real
/// server refuses every name its table lacks and another major's has, but for the names
/// data/postgres/other-names.tsv lists, which it accepts; an alias sets the setting it names,
/// and a hidden setting takes the values listed and no other on/off word.
#[test]
fn each_major_accepts_exactly_the_other_names_its_tables_say() {
    use sitewright::pg_settings::{other_names, table};
    let all: std::collections::BTreeSet<String> = (11..=18)
        .flat_map(|m| table(m).unwrap().names().map(str::to_ascii_lowercase))
        .collect();
    for major in 11..=18 {
        let mine = table(major).unwrap();
        let missing: Vec<&String> = all.iter().filter(|n| mine.get(n).is_none()).collect();
        let others: Vec<_> = other_names().iter().filter(|o| o.major == major).collect();
        let pg = Binaries::of(major);
        let work = temp_dir();
        let root = work.path();
        let (socket_dir, data) = (root.join("socket"), root.join("data"));
        fs::create_dir(&socket_dir).unwrap();
        pg.give(root);
        pg.initdb(&data);
        // Each alias set by its old name only, to see which setting it reaches.
        let overrides: Vec<(&str, String)> = others
            .iter()
            .filter(|o| o.alias_of.is_some())
            .map(|o| (o.name, o.accepts[0].to_owned()))
            .collect();
        let server = Server::start(
            &pg,
            &data,
            free_port(),
            &socket_dir,
            &root.join("postgres.log"),
            &overrides,
        );
        let list = missing
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(",");
        let accepted = server.sql(&format!(
            "select string_agg(n, ',' order by n) from unnest(array[{list}]::text[]) n \
             where current_setting(n, true) is not null"
        ));
        let mut expected: Vec<String> = others.iter().map(|o| o.name.to_owned()).collect();
        expected.sort();
        assert_eq!(
            accepted,
            expected.join(","),
            "PostgreSQL {major}: names its table lacks that the server accepts"
        );
        for other in &others {
            match other.alias_of {
                Some(new) => assert_eq!(
                    server.sql(&format!(
                        "select source || ' ' || setting from pg_settings where name = '{new}'"
                    )),
                    format!("command line {}", other.accepts[0]),
                    "PostgreSQL {major}: {} sets {new}",
                    other.name
                ),
                None => {
                    for word in ["on", "off"] {
                        let takes = server
                            .try_sql(&format!(
                                "select set_config('{}', '{word}', false)",
                                other.name
                            ))
                            .status
                            .success();
                        assert_eq!(
                            takes,
                            other.accepts.contains(&word),
                            "PostgreSQL {major}: {} = {word}",
                            other.name
                        );
                    }
                }
            }
        }
    }
}
