//! Hostile values in the spec's free-text fields: each is either written so that the real parser
//! reads back exactly the value — PostgreSQL's own configuration parser, procps' sysctl — or
//! refused when the spec is checked, at the field's line. (Python literals have their own test in
//! django.rs.) A sweep puts one hostile character at a time in every string field of the fixtures
//! and fails on any field that takes it without one of these read-backs.

use std::fs;
use std::path::Path;
use std::process::Command;

use sitewright::diagnostic::Severity;
use sitewright::load::load;
use sitewright::plan::plan;
use sitewright::render::{Renderer, Secrets};
use sitewright::source::Source;
use sitewright::templates::Overrides;

use crate::support::cron::{CronJob, read_crontab};
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

/// Every string value in a fixture's spec, by JSON pointer.
fn string_fields(value: &serde_json::Value, pointer: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(_) => out.push(pointer),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_fields(item, format!("{pointer}/{i}"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                string_fields(item, format!("{pointer}/{key}"), out);
            }
        }
        _ => {}
    }
}

/// `pointer` with its list indexes as `*`, the way the allow-list below names fields.
fn field_of(pointer: &str) -> String {
    pointer
        .split('/')
        .map(|part| {
            if part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() {
                "*"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The free-text fields that may hold a hostile value, each proven by a read-back through the
/// real parser: postgresql.conf, pg_hba.conf and sysctl (above) and Python's `ast` (django.rs).
const READ_BACK: &[&str] = &[
    "/postgres/archive/command",
    "/postgres/hba/*/comment",
    "/postgres/archive/restore_command",
    "/postgres/settings/",
    "/sysctl/settings/",
    "/django/",
];

/// One value per character the issue names as hostile, so that a field refusing one of them is
/// still tried with each of the others.
const SWEEP: &[&str] = &[
    "a\nb", "a\rb", "a\"b", "a'b", "a;b", "a{b", "a}b", "a#b", "a$b", "a\\b", "a\0b", "a%b", " ab",
    "ab ",
];

/// A spec with the string at `pointer` set to `value`, as pretty JSON (which is YAML) so that
/// the field is alone on its line, and that line.
fn with_value(spec: &serde_json::Value, pointer: &str, value: &str) -> (String, usize) {
    let mut broken = spec.clone();
    *broken.pointer_mut(pointer).unwrap() = serde_json::Value::from(value);
    let text = serde_json::to_string_pretty(&broken).unwrap();
    let encoded = serde_json::to_string(value).unwrap();
    let line = text
        .lines()
        .position(|l| l.trim_end_matches(',').ends_with(&encoded))
        .unwrap()
        + 1;
    (text, line)
}

#[test]
fn every_string_field_refuses_a_hostile_value_at_its_line_or_is_read_back() {
    let mut cases = Vec::new();
    for name in ["catmaid", "idr", "synapse"] {
        let text = fs::read_to_string(fixture(&format!("{name}/site.yaml"))).unwrap();
        // Read as sitewright reads it: `off` stays a string.
        let options = serde_saphyr::options! {
            strict_booleans: true,
            leading_zero_numbers_as_strings: true,
        };
        let spec: serde_json::Value = serde_saphyr::from_str_with_options(&text, options).unwrap();
        let mut fields = Vec::new();
        string_fields(&spec, String::new(), &mut fields);
        assert!(
            fields.len() >= 15,
            "{name}: only {} string fields",
            fields.len()
        );
        for pointer in fields {
            for value in SWEEP {
                cases.push((name, spec.clone(), pointer.clone(), *value));
            }
        }
    }
    let total = cases.len();
    // In-process, through the library's own stages: the binary's start-up (compiling the schema)
    // would make this sweep a few minutes long, and it adds nothing the corpus does not test.
    let renderer = Renderer::new(&Overrides::default());
    let mut accepted = std::collections::BTreeSet::new();
    for (name, spec, pointer, value) in cases {
        let (text, line) = with_value(&spec, &pointer, value);
        let diagnostics = match Source::from_bytes("site.yaml", text.into_bytes()) {
            Err(diagnostic) => vec![*diagnostic],
            Ok(source) => match load(&source) {
                Err(invalid) => invalid.diagnostics,
                Ok(loaded) => {
                    renderer
                        .render(&plan(&loaded.site), &Secrets::none())
                        .unwrap_or_else(|e| panic!("{name} {pointer} = {value:?}: {e}"));
                    accepted.insert(field_of(&pointer));
                    continue;
                }
            },
        };
        assert!(
            diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error && d.pos.line == line),
            "{name} {pointer} = {value:?} refused, but not at line {line}: {diagnostics:#?}"
        );
    }
    let unproven: Vec<_> = accepted
        .iter()
        .filter(|field| !READ_BACK.iter().any(|p| field.starts_with(p)))
        .collect();
    assert!(
        unproven.is_empty(),
        "fields that take a hostile value without a read-back test ({total} cases): {unproven:#?}"
    );
    // The sweep reaches the free-text fields too, or it proves nothing about them.
    for field in ["/postgres/archive/command", "/django/"] {
        assert!(
            accepted.iter().any(|a| a.starts_with(field)),
            "no hostile value was accepted under {field}: {accepted:#?}"
        );
    }
}

#[test]
fn cron_reads_the_backup_job_the_spec_describes() {
    let base = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    for (schedule, directory, tables, port) in [
        ("0 3 * * *", "/opt/backup/psql", "[treenode_edge]", 5432),
        (
            "*/15 2-4 1,15 * 1-5",
            "/srv/back-up_1.2/x",
            "[a, b_c]",
            5433,
        ),
        ("@daily", "/b", "[]", 5432),
    ] {
        let work = temp_dir();
        let fixture_backup = "    directory: /opt/backup/psql\n    schedule: \"0 3 * * *\"\n    exclude_tables: [treenode_edge]";
        assert!(base.contains(fixture_backup) && base.contains("  port: 5432\n"));
        let spec = base
            .replace(
                fixture_backup,
                &format!("    directory: {directory}\n    schedule: \"{schedule}\"\n    exclude_tables: {tables}"),
            )
            .replace("  port: 5432\n", &format!("  port: {port}\n"));
        let outcome = render(&spec, work.path());
        if schedule.starts_with('@') {
            // A nickname is not five fields; the pattern names what is.
            outcome.code(2).stderr_has("cron's five fields");
            continue;
        }
        outcome.code(0);
        let text = fs::read_to_string(
            work.path()
                .join("out/db1/etc/cron.d/sitewright-catmaid-pg-dump"),
        )
        .unwrap();
        let (settings, jobs) = read_crontab(&text);
        assert_eq!(settings, [("SHELL".to_owned(), "/bin/sh".to_owned())]);
        let excludes: String = tables
            .trim_matches(['[', ']'])
            .split(", ")
            .filter(|t| !t.is_empty())
            .map(|t| format!(" -T {t}"))
            .collect();
        assert_eq!(
            jobs,
            [CronJob {
                schedule: schedule.to_owned(),
                user: "postgres".to_owned(),
                command: format!(
                    "pg_dump -p {port} --clean{excludes} catmaid -f \"{directory}/catmaid_$(date +%Y%m%d%H%M).sql\""
                ),
                stdin: None,
            }],
            "{text}"
        );
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
