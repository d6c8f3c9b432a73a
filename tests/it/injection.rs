//! Hostile values in the spec's free-text fields: each is either written so that the real parser
//! reads back exactly the value — PostgreSQL's own configuration parser, procps' sysctl — or
//! refused when the spec is checked, at the field's line. (Python literals have their own test in
//! django.rs; every nginx, pg_hba and cron field is a name, an address or a path whose pattern
//! refuses such values, which check.rs and corpus.rs show.)

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::pg::{Binaries, Server, free_port, succeeded};
use crate::support::{Sitewright, fixture, temp_dir, yaml_quoted};

/// Values that break out of a naive quoting, each on its own.
const HOSTILE: &[&str] = &[
    "it's",
    "say \"hi\"",
    "a;b",
    "{braces}",
    "#not a comment",
    "$HOME ${x}",
    "back\\slash",
    "\\n",
    "50%",
    " leading",
    "trailing ",
    "tab\there",
    "é 中 😀",
    "new\nline",
    "carriage\rreturn",
    "%p '\"%f\"' && rm -rf /; #",
    "''",
    "\\'; DROP TABLE x; --",
    "esc\u{1b}[31m bell\u{7}",
];

fn render(spec: &str, dir: &Path) -> crate::support::Outcome {
    fs::write(dir.join("site.yaml"), spec).unwrap();
    Sitewright::new()
        .in_dir(dir)
        .args(["render", "site.yaml", "-o", "out"])
        .run()
}

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
fn a_nul_or_a_line_break_that_a_file_cannot_hold_is_refused_at_its_field() {
    let base = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    let work = temp_dir();
    let spec = base.replace(
        "    command: rsync -a %p postgres@db2:/opt/postgresql_wal/%f",
        "    command: \"cp %p /x/%f\\0; reboot\"",
    );
    let line = spec.lines().position(|l| l.contains("reboot")).unwrap() + 1;
    render(&spec, work.path())
        .code(2)
        .stderr_has(&format!("site.yaml:{line}:14: error: expected text without NUL characters, which no configuration file can hold"));
    assert!(!work.path().join("out").exists());

    let spec = base.replace(
        "  settings:\n    autovacuum: true",
        "  hba:\n    - { type: local, databases: [all], users: [all], method: peer, comment: \"x\\nhost all all 0.0.0.0/0 trust\" }\n  settings:\n    autovacuum: true",
    );
    render(&spec, work.path())
        .code(2)
        .stderr_has("error: expected text on one line, without control characters");
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
