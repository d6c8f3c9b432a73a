//! Hostile values in the spec's free-text fields: each is either written so that the real parser
//! reads back exactly the value — PostgreSQL's own configuration parser, procps' sysctl, Python's
//! literals; those read-backs are in `real::injection` and `real::django` — or refused when the
//! spec is checked, at the field's line. A sweep puts one hostile character at a time in every
//! string field of the fixtures and fails on any field that takes it without one of these
//! read-backs. The cron line of the backup job is read here as cron reads it.

use std::fs;
use std::path::Path;

use sitewright::diagnostic::Severity;
use sitewright::load::load;
use sitewright::plan::plan;
use sitewright::render::{Renderer, Secrets};
use sitewright::source::Source;
use sitewright::templates::Overrides;

use crate::support::cron::{CronJob, read_crontab};
use crate::support::{Sitewright, fixture, temp_dir};

/// Values that break out of a naive quoting, each on its own.
pub(crate) const HOSTILE: &[&str] = &[
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

pub(crate) fn render(spec: &str, dir: &Path) -> crate::support::Outcome {
    fs::write(dir.join("site.yaml"), spec).unwrap();
    Sitewright::new()
        .in_dir(dir)
        .args(["render", "site.yaml", "-o", "out"])
        .run()
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
/// real parser: postgresql.conf, pg_hba.conf and sysctl (`real::injection`) and Python's `ast`
/// (`real::django`).
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
