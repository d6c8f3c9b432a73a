//! PostgreSQL 16 boots from the rendered CATMAID primary's postgresql.conf and pg_hba.conf, with
//! only paths and ports overridden, reads both without an error, and takes the role defaults SQL;
//! and with one `hba:` record of the spec's, the postgres OS user still gets in by peer.

use std::fs;

use crate::support::pg::{Binaries, Server, as_user, free_port, succeeded};
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

/// The issue-17 defect, on a real server: one `hba:` record used to drop the local records, so
/// the nightly pg_dump (cron, as the postgres OS user, over the Unix socket) was refused. From
/// the rendered pg_hba.conf of the CATMAID fixture with one `hostssl` record added, the postgres
/// OS user gets in as postgres by peer and the cron line's pg_dump dumps the backup's database;
/// another OS user asking for the postgres role is refused, so it is peer that let it in.
/// The server runs as the test user but its superuser is named postgres (initdb -U), and psql
/// and pg_dump run as the host's postgres OS user, which peer maps to that role.
#[test]
fn one_hba_record_still_lets_the_postgres_os_user_in_by_peer() {
    // The server is of the client tools' major, since pg_dump refuses a newer server; the
    // rendered pg_hba.conf (for 16) holds nothing another major reads otherwise.
    let pg_dump = std::path::Path::new(&installed("SITEWRIGHT_PG_CLIENT_BIN")).join("pg_dump");
    let version = std::process::Command::new(&pg_dump)
        .arg("--version")
        .output()
        .unwrap();
    succeeded(&version, "pg_dump --version");
    // "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    let major: u32 = String::from_utf8_lossy(&version.stdout)
        .split_whitespace()
        .skip_while(|w| *w != "(PostgreSQL)")
        .nth(1)
        .and_then(|v| v.split('.').next()?.parse().ok())
        .expect("pg_dump --version names its version after (PostgreSQL)");
    let pg = Binaries::of(major);
    let work = temp_dir();
    let root = work.path();
    let spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replacen(
            "  settings:\n    autovacuum: true",
            "  hba:\n    - { type: hostssl, databases: [catmaid], users: [monitor], address: 192.0.2.0/24, method: scram-sha-256 }\n  settings:\n    autovacuum: true",
            1,
        );
    fs::write(root.join("site.yaml"), spec).unwrap();
    Sitewright::new()
        .in_dir(root)
        .args(["render", "site.yaml", "-o", "tree"])
        .run()
        .code(0);
    let hba_file = root.join("tree/db1/etc/postgresql/16/main/pg_hba.conf");
    let cron =
        fs::read_to_string(root.join("tree/db1/etc/cron.d/sitewright-catmaid-pg-dump")).unwrap();
    assert!(
        cron.contains(" postgres pg_dump -p 5432 --clean -T treenode_edge catmaid -f "),
        "{cron}"
    );
    let (cert, key, socket_dir, data, dumps) = (
        root.join("server.crt"),
        root.join("server.key"),
        root.join("socket"),
        root.join("data"),
        root.join("dumps"),
    );
    fs::create_dir(&socket_dir).unwrap();
    fs::create_dir(&dumps).unwrap();
    pg.give(root);
    // The postgres OS user reaches the socket, and writes the dump where cron's job would.
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&socket_dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&dumps, fs::Permissions::from_mode(0o777)).unwrap();
    }
    pg.certificate(&cert, &key);
    let initdb = pg
        .command(pg.bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
        .output()
        .unwrap();
    succeeded(&initdb, "initdb -U postgres");
    let server = Server::start(
        &pg,
        &data,
        free_port(),
        &socket_dir,
        &root.join("postgres.log"),
        &[
            ("hba_file", hba_file.display().to_string()),
            ("ssl", "on".to_owned()),
            ("ssl_cert_file", cert.display().to_string()),
            ("ssl_key_file", key.display().to_string()),
        ],
    );
    let port = server.port.to_string();
    let psql = |os_user: &str, query: &str| {
        as_user(os_user, installed("SITEWRIGHT_PSQL"))
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&socket_dir)
            .args(["-p", &port, "-U", "postgres", "-d", "postgres", "-c", query])
            .output()
            .unwrap()
    };
    let sql = |query: &str| {
        let output = psql("postgres", query);
        succeeded(&output, query);
        String::from_utf8(output.stdout)
            .unwrap()
            .trim_end()
            .to_owned()
    };

    assert_eq!(sql("select current_user"), "postgres");
    assert_eq!(
        sql(
            "select line_number || ': ' || coalesce(error, 'unreadable record') from pg_hba_file_rules where error is not null or type is null"
        ),
        "",
        "pg_hba.conf"
    );
    // The server reads the kept record first, the spec's after it, then the other local roles'.
    assert_eq!(
        sql(
            "select type || ' ' || array_to_string(database, ',') || ' ' || array_to_string(user_name, ',') || ' ' || coalesce(address, '-') || ' ' || auth_method from pg_hba_file_rules order by line_number limit 3"
        ),
        "local all postgres - peer\nhostssl catmaid monitor 192.0.2.0 scram-sha-256\nlocal all all - peer"
    );

    // The cron line's pg_dump, with the test server's socket, as the postgres OS user.
    sql("create database catmaid");
    let dump = dumps.join("catmaid.sql");
    let output = as_user("postgres", &pg_dump)
        .arg("-h")
        .arg(&socket_dir)
        .args([
            "-p",
            &port,
            "--clean",
            "-T",
            "treenode_edge",
            "catmaid",
            "-f",
        ])
        .arg(&dump)
        .output()
        .unwrap();
    succeeded(&output, "pg_dump as the postgres OS user");
    assert!(
        fs::read_to_string(&dump)
            .unwrap()
            .contains("PostgreSQL database dump"),
        "no dump written"
    );

    // Peer, not a record that trusts anyone: the server's own OS user is refused the postgres role.
    let other = psql(&pg.user, "select 1");
    assert!(!other.status.success(), "{} got in as postgres", pg.user);
    let refused = String::from_utf8_lossy(&other.stderr);
    assert!(
        refused.contains("Peer authentication failed for user \"postgres\""),
        "{refused}"
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

/// The include directives on every major, 11 to 18: the server starts from the rendered
/// postgresql.conf with its `include_dir` folder holding a file that sets work_mem, which the
/// rendered file sets too, and runs with the included value (`SHOW`, and pg_file_settings names
/// the included file as the one applied), as `diff --live` on the same files warns; an
/// include_if_exists file that is not there is skipped. With the folder gone, `diff` says it is
/// required, and the server refuses to start.
#[test]
fn every_major_reads_the_included_folder_last_and_refuses_to_start_without_it() {
    for major in 11..=18 {
        let pg = Binaries::of(major);
        let work = temp_dir();
        let root = work.path();
        let spec = format!(
            "site: s\nhosts:\n  - {{ name: db1, address: 127.0.0.1, memory: 1GiB, cpus: 2, storage: ssd, roles: [postgres-primary] }}\npostgres:\n  version: {major}\n  data_directory: /var/lib/postgresql/{major}/main\n  config_directory: /etc/postgresql/{major}/main\n  include_dir: conf.d\n  include_if_exists: [missing.conf]\n"
        );
        fs::write(root.join("site.yaml"), spec).unwrap();
        Sitewright::new()
            .in_dir(root)
            .args(["check", "site.yaml", "--deny-warnings"])
            .run()
            .code(0);
        Sitewright::new()
            .in_dir(root)
            .args(["render", "site.yaml", "-o", "tree"])
            .run()
            .code(0);
        let host = root.join("tree/db1");
        let conf_dir = host.join(format!("etc/postgresql/{major}/main"));
        let conf = conf_dir.join("postgresql.conf");
        let rendered = fs::read_to_string(&conf).unwrap();
        assert!(
            rendered.ends_with("include_dir = 'conf.d'\ninclude_if_exists = 'missing.conf'\n"),
            "{rendered}"
        );
        let ours = sitewright::pg_settings::read_conf(&rendered)["work_mem"].clone();
        assert_ne!(ours, "3MB");
        fs::create_dir(conf_dir.join("conf.d")).unwrap();
        fs::write(
            conf_dir.join("conf.d/50-local.conf"),
            "# by hand\nwork_mem = '3MB'\n",
        )
        .unwrap();
        let diff = |code: i32| {
            let out = Sitewright::new()
                .in_dir(root)
                .args(["diff", "site.yaml", "--live", "tree", "--host", "db1"])
                .run();
            out.code(code);
            out
        };
        let conf_path = format!("/etc/postgresql/{major}/main/postgresql.conf");
        diff(0).stdout_has(&format!(
            "warning: db1/etc/postgresql/{major}/main/conf.d/50-local.conf:2: sets work_mem = \
             '3MB', which {conf_path} sets to '{ours}'; PostgreSQL reads this file after it \
             (include_dir = 'conf.d'): its value wins, not the spec's\n"
        ));
        let (socket_dir, data) = (root.join("socket"), root.join("data"));
        fs::create_dir(&socket_dir).unwrap();
        pg.give(root);
        pg.initdb(&data);
        // Only paths, the port and the listen address are overridden.
        let overrides = [
            ("config_file", conf.display().to_string()),
            (
                "hba_file",
                conf_dir.join("pg_hba.conf").display().to_string(),
            ),
            ("data_directory", data.display().to_string()),
            ("listen_addresses", "127.0.0.1".to_owned()),
        ];
        let log = root.join("postgres.log");
        {
            let server = Server::start(&pg, &data, free_port(), &socket_dir, &log, &overrides);
            assert_eq!(
                server.file_errors(&["data_directory", "hba_file", "port", "listen_addresses"]),
                "",
                "PostgreSQL {major}"
            );
            assert_eq!(server.sql("show work_mem"), "3MB", "PostgreSQL {major}");
            assert_eq!(
                server.sql(
                    "select sourcefile || ':' || sourceline from pg_file_settings where name = 'work_mem' and applied"
                ),
                format!("{}:2", conf_dir.join("conf.d/50-local.conf").display()),
                "PostgreSQL {major}"
            );
            assert!(
                server.log().contains(&format!(
                    "skipping missing configuration file \"{}\"",
                    conf_dir.join("missing.conf").display()
                )),
                "PostgreSQL {major}: {}",
                server.log()
            );
        }

        // Without the folder: required, and the server does not start.
        fs::remove_dir_all(conf_dir.join("conf.d")).unwrap();
        diff(1).stdout_has(&format!(
            "required: db1/etc/postgresql/{major}/main/conf.d: {conf_path} includes this folder \
             (include_dir = 'conf.d'), and it is not there: PostgreSQL {major} will not start"
        ));
        let options = overrides
            .iter()
            .map(|(name, value)| format!("-c {name}={value}"))
            .chain([
                format!("-c port={}", free_port()),
                format!("-c unix_socket_directories={}", socket_dir.display()),
            ])
            .collect::<Vec<_>>()
            .join(" ");
        let refused_log = root.join("refused.log");
        let started = pg
            .command(pg.bin.join("pg_ctl"))
            .args(["start", "-w", "-t", "30", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(&refused_log)
            .args(["-o", &options])
            .output()
            .unwrap();
        let text = fs::read_to_string(&refused_log).unwrap_or_default();
        assert!(
            !started.status.success(),
            "PostgreSQL {major} started without its include_dir\n{text}"
        );
        assert!(
            text.contains(&format!(
                "could not open configuration directory \"{}\"",
                conf_dir.join("conf.d").display()
            )),
            "PostgreSQL {major}: {text}"
        );
    }
}
