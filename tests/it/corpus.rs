//! A corpus of bad input: for each spec, the exact report `sitewright check` prints (every line,
//! excerpts included) and its exit code, and that `sitewright render` refuses the same spec with
//! exit 2 and writes nothing. Each spec is saved as site.yaml in a fresh directory and named
//! relatively, so the reports do not depend on where the test runs.
//!
//! Most cases are a table; the ones that need raw bytes or generated text are tests
//! of their own below the tables.

use std::fs;
use std::path::Path;

use crate::support::{Outcome, Sitewright, fixture, temp_dir, tree};

/// A small valid spec with every section the edits below break: one host that is the PostgreSQL
/// primary and the web front end, pg_hba.conf records, nginx's HTTPS server, sysctl and Django.
const BASE: &str = "\
site: demo
hosts:
  - name: app1
    address: 192.0.2.10
    memory: 16GiB
    cpus: 4
    storage: ssd
    roles: [postgres-primary, web]
postgres:
  version: 17
  data_directory: /var/lib/postgresql/17/main
  port: 5432
  hba:
    - type: host
      databases: [demo]
      users: [demo]
      address: 192.0.2.0/24
      method: scram-sha-256
  settings:
    max_connections: 100
nginx:
  version: \"1.26\"
  openssl: \"3.5\"
  https:
    server_name: app.example.org
    listen: { port: 443, redirect_port: 80 }
    tls:
      certificate: /etc/ssl/certs/app.pem
      certificate_key: /etc/ssl/private/app.key
    upstream:
      servers: [127.0.0.1:8000]
    static_locations:
      - url: /static/
        folder: /srv/demo/static
sysctl:
  priority: 60
  settings:
    vm.swappiness: 10
    vm.dirty_bytes: 1GB
django:
  version: \"5.2\"
  settings_file: /srv/demo/settings_production.py
  secret_key: { env: DJANGO_SECRET_KEY }
  allowed_hosts: [app.example.org]
  database:
    name: demo
    user: demo
    password: { env: DEMO_DB_PASSWORD }
    conn_max_age: 60s
";

/// `BASE` with `from` replaced by `to` (which must be there exactly once).
fn broken(from: &str, to: &str) -> String {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "{from:?} is not in BASE once"
    );
    BASE.replacen(from, to, 1)
}

/// Runs sitewright with `args` in `dir`.
fn sitewright(dir: &Path, args: &[&str]) -> Outcome {
    Sitewright::new().in_dir(dir).args(args).run()
}

/// What `render` prints for a spec that `check` reports as `check_stderr`: the same problems and,
/// in place of check's summary line, that nothing was written.
fn render_stderr(check_stderr: &str) -> String {
    let body = check_stderr
        .strip_suffix('\n')
        .expect("a report ends with a newline");
    let (problems, summary) = match body.rsplit_once('\n') {
        Some((problems, summary)) => (format!("{problems}\n"), summary),
        None => (String::new(), body),
    };
    let errors = summary
        .strip_prefix("site.yaml: ")
        .and_then(|counts| counts.split(", ").next())
        .unwrap_or_else(|| panic!("{summary:?} is not a summary line"));
    format!("{problems}sitewright: site.yaml: {errors}; nothing was written\n")
}

/// Saves `spec` as site.yaml in a fresh directory and runs `check site.yaml` and
/// `render site.yaml -o out` there. Returns how the runs differ from what is expected, if they do:
/// check exits `code` with exactly `stderr` and prints nothing else; render exits 2, prints the
/// same problems and then that nothing was written, and `out` is not created.
fn mismatch(spec: &[u8], stderr: &str, code: i32) -> Option<String> {
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), spec).unwrap();
    let mut problems = Vec::new();

    let check = sitewright(dir.path(), &["check", "site.yaml"]);
    if check.code != code {
        problems.push(format!("`check` exited {}, not {code}", check.code));
    }
    if check.stderr != stderr {
        problems.push(format!(
            "`check` stderr\n--- expected\n{stderr}--- actual\n{}",
            check.stderr
        ));
    }
    if !check.stdout.is_empty() {
        problems.push(format!("`check` stdout is not empty:\n{}", check.stdout));
    }

    let render = sitewright(dir.path(), &["render", "site.yaml", "-o", "out"]);
    let expected = render_stderr(stderr);
    if render.code != 2 {
        problems.push(format!("`render` exited {}, not 2", render.code));
    }
    if render.stderr != expected {
        problems.push(format!(
            "`render` stderr\n--- expected\n{expected}--- actual\n{}",
            render.stderr
        ));
    }
    if !render.stdout.is_empty() {
        problems.push(format!("`render` stdout is not empty:\n{}", render.stdout));
    }
    if dir.path().join("out").exists() {
        problems.push("`render` created out/".to_owned());
    }
    (!problems.is_empty()).then(|| problems.join("\n"))
}

/// Asserts that `spec` gets exactly `stderr` and exit `code` from check, and nothing from render.
#[track_caller]
fn assert_refused(spec: &[u8], stderr: &str, code: i32) {
    if let Some(problems) = mismatch(spec, stderr, code) {
        panic!("{problems}");
    }
}

/// Runs every case, collects the ones that differ, and fails once with all of them.
#[track_caller]
fn assert_all<'a>(cases: impl IntoIterator<Item = (&'a str, Vec<u8>, &'a str, i32)>) {
    let mut count = 0;
    let failures: Vec<String> = cases
        .into_iter()
        .inspect(|_| count += 1)
        .filter_map(|(name, spec, stderr, code)| {
            mismatch(&spec, stderr, code).map(|problems| format!("== {name}\n{problems}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {count} cases differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Whole documents, malformed YAML first: (name, spec, what check prints, check's exit code).
const DOCUMENTS: &[(&str, &str, &str, i32)] = &[
    (
        "a tab in the indentation",
        "site: demo\nhosts:\n\t- name: db1\n",
        "\
site.yaml:3:2: error: invalid YAML: tabs disallowed within this context (block indentation); indent with spaces
  |
3 |     - name: db1
  |     ^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unclosed double quote",
        "site: \"demo\nhosts: []\n",
        "\
site.yaml:2:1: error: invalid YAML: invalid indentation in multiline quoted scalar (is a quote left open?)
  |
2 | hosts: []
  | ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unclosed single quote",
        "site: 'demo\nhosts: []\n",
        "\
site.yaml:2:1: error: invalid YAML: invalid indentation in multiline quoted scalar (is a quote left open?)
  |
2 | hosts: []
  | ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unclosed bracket",
        "site: demo\nhosts: [a, b\n",
        "\
site.yaml:2:8: error: invalid YAML: unclosed bracket '['
  |
2 | hosts: [a, b
  |        ^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unclosed brace",
        "site: demo\npostgres: { version: 16\n",
        "\
site.yaml:2:11: error: invalid YAML: unclosed bracket '{'
  |
2 | postgres: { version: 16
  |           ^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a list item's key indented one space short",
        "site: demo\nhosts:\n  - name: db1\n   address: 192.0.2.1\n",
        "\
site.yaml:4:4: error: invalid YAML: while parsing a block collection, did not find expected '-' indicator
  |
4 |    address: 192.0.2.1
  |    ^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a key indented under a plain value",
        "site: demo\n  hosts: []\n",
        "\
site.yaml:2:8: error: invalid YAML: mapping values are not allowed in this context
  |
2 |   hosts: []
  |        ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a stray colon in a value",
        "site: demo\nhosts: a: b\n",
        "\
site.yaml:2:9: error: invalid YAML: mapping values are not allowed in this context
  |
2 | hosts: a: b
  |         ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a stray colon with no key",
        "site: demo\n: x\n",
        "\
site.yaml:2:1: error: keys must be plain strings
  |
2 | : x
  | ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an empty file",
        "",
        "\
site.yaml:1:1: error: the spec is empty: it needs at least `site:` and `hosts:`
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "blank lines only",
        "\n\n   \n",
        "\
site.yaml:1:1: error: the spec is empty: it needs at least `site:` and `hosts:`
  |
1 | 
  | ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "comments only",
        "# nothing here\n# at all\n",
        "\
site.yaml:1:1: error: the spec is empty: it needs at least `site:` and `hosts:`
  |
1 | # nothing here
  | ^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a list at the top level",
        "- db1\n- db2\n",
        "\
site.yaml:1:1: error: expected a mapping, found a list
  |
1 | - db1
  | ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a string at the top level",
        "just a string\n",
        "\
site.yaml:1:1: error: expected a mapping, found a string `just a string`
  |
1 | just a string
  | ^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an integer at the top level",
        "42\n",
        "\
site.yaml:1:1: error: expected a mapping, found an integer `42`
  |
1 | 42
  | ^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "null at the top level",
        "~\n",
        "\
site.yaml:1:1: error: expected a mapping, found nothing
  |
1 | ~
  | ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a duplicate top-level key",
        "site: a\nsite: b\nhosts: []\n",
        "\
site.yaml:2:1: error: invalid YAML: duplicate key `site`: a key may appear once in a mapping
  |
2 | site: b
  | ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "two YAML documents",
        "site: a\n---\nsite: b\n",
        "\
site.yaml:3:1: error: invalid YAML: a second YAML document (after `---`): a spec is one document
  |
3 | site: b
  | ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an alias to an anchor that does not exist",
        "site: demo\nhosts: *hosts\n",
        "\
site.yaml:2:8: error: invalid YAML: alias references unknown anchor
  |
2 | hosts: *hosts
  |        ^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a complex key",
        "? [a, b]\n: x\nsite: demo\n",
        "\
site.yaml:1:3: error: keys must be plain strings
  |
1 | ? [a, b]
  |   ^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an anchor whose alias is inside it",
        "a: &a [*a]\n",
        "\
site.yaml:1:8: error: invalid YAML: an alias refers to its own anchor, so it would never end
  |
1 | a: &a [*a]
  |        ^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unknown escape in a closed quote",
        "site: \"\\q\"\nhosts: []\n",
        "\
site.yaml:1:7: error: invalid YAML: while parsing a quoted scalar, found unknown escape character (is a quote left open?)
  |
1 | site: \"\\q\"
  |       ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a document start marker only",
        "---\n",
        "\
site.yaml:1:4: error: expected a mapping, found nothing
  |
1 | ---
  |    ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
];

/// Mistakes in `BASE`: (name, the text replaced, its replacement, what check prints, check's exit
/// code).
const EDITS: &[(&str, &str, &str, &str, i32)] = &[
    (
        "a duplicate key in postgres",
        "  port: 5432\n",
        "  port: 5432\n  port: 5433\n",
        "\
site.yaml:13:3: error: invalid YAML: duplicate key `port`: a key may appear once in a mapping
   |
13 |   port: 5433
   |   ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a duplicate key in a host",
        "    cpus: 4\n",
        "    cpus: 4\n    cpus: 8\n",
        "\
site.yaml:7:5: error: invalid YAML: duplicate key `cpus`: a key may appear once in a mapping
  |
7 |     cpus: 8
  |     ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a duplicate key hides the other mistakes",
        "    cpus: 4\n",
        "    cpus: 0\n    cpus: 1\n",
        "\
site.yaml:7:5: error: invalid YAML: duplicate key `cpus`: a key may appear once in a mapping
  |
7 |     cpus: 1
  |     ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unknown top-level key with a suggestion",
        "sysctl:\n",
        "sysclt:\n",
        "\
site.yaml:35:1: error: unknown key `sysclt`; did you mean `sysctl`?
   |
35 | sysclt:
   | ^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unknown top-level key without a suggestion",
        "sysctl:\n",
        "banana:\n",
        "\
site.yaml:35:1: error: unknown key `banana`; expected one of: django, hosts, nginx, postgres, site, sysctl
   |
35 | banana:
   | ^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unknown key in a host",
        "    storage: ssd\n",
        "    storage: ssd\n    adress: 192.0.2.1\n",
        "\
site.yaml:8:5: error: unknown key `adress`; did you mean `address`?
  |
8 |     adress: 192.0.2.1
  |     ^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unknown key in postgres",
        "  version: 17",
        "  verison: 17",
        "\
site.yaml:10:3: error: unknown key `verison`; did you mean `version`?
   |
10 |   verison: 17
   |   ^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a transposed key in postgres gets no suggestion",
        "  port: 5432",
        "  prot: 5432",
        "\
site.yaml:12:3: error: unknown key `prot`; expected one of: archive, backup, config_directory, data_directory, hba, plain_text, port, replica_statement_timeout, replication, settings, ssl, version, workload
   |
12 |   prot: 5432
   |   ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unknown key in nginx.https",
        "    server_name: app.example.org\n",
        "    server_name: app.example.org\n    sever_name: x\n",
        "\
site.yaml:26:5: error: unknown key `sever_name`; did you mean `server_name`?
   |
26 |     sever_name: x
   |     ^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unknown key in a flow mapping",
        "    listen: { port: 443, redirect_port: 80 }",
        "    listen: { port: 443, redirect_prot: 80 }",
        "\
site.yaml:26:26: error: unknown key `redirect_prot`; did you mean `redirect_port`?
   |
26 |     listen: { port: 443, redirect_prot: 80 }
   |                          ^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unknown key in django",
        "  allowed_hosts: [app.example.org]",
        "  alowed_hosts: [app.example.org]",
        "\
site.yaml:44:3: error: unknown key `alowed_hosts`; did you mean `allowed_hosts`?
   |
44 |   alowed_hosts: [app.example.org]
   |   ^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unknown key in django.database",
        "    conn_max_age: 60s",
        "    con_max_age: 60s",
        "\
site.yaml:49:5: error: unknown key `con_max_age`; did you mean `conn_max_age`?
   |
49 |     con_max_age: 60s
   |     ^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a missing site",
        "site: demo\n",
        "",
        "\
site.yaml:1:1: error: missing key `site` (The site's name: used in file names and comments of the rendered files)
  |
1 | hosts:
  | ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a host without a name",
        "  - name: app1\n    address",
        "  - address",
        "\
site.yaml:3:5: error: missing key `name` (Short host name: lower-case letters, digits and `-`. It names the host's folder in the rendered tree)
  |
3 |   - address: 192.0.2.10
  |     ^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "nginx.https without tls",
        "    tls:\n      certificate: /etc/ssl/certs/app.pem\n      certificate_key: /etc/ssl/private/app.key\n",
        "",
        "\
site.yaml:24:3: error: missing key `tls` (Certificate, key and profile)
   |
24 |   https:
   |   ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "django without a secret_key",
        "  secret_key: { env: DJANGO_SECRET_KEY }\n",
        "",
        "\
site.yaml:40:1: error: missing key `secret_key` (Django's SECRET_KEY: read at run time from the environment or a file, never written)
   |
40 | django:
   | ^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a quoted number where an integer belongs",
        "    cpus: 4",
        "    cpus: \"4\"",
        "\
site.yaml:6:11: error: expected an integer, found a string `\"4\"`
  |
6 |     cpus: \"4\"
  |           ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a word where a port belongs",
        "  port: 5432",
        "  port: five",
        "\
site.yaml:12:9: error: expected an integer, found a string `five`
   |
12 |   port: five
   |         ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a fraction where an integer belongs",
        "    cpus: 4",
        "    cpus: 4.5",
        "\
site.yaml:6:11: error: expected an integer, found a number `4.5`
  |
6 |     cpus: 4.5
  |           ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an integer where a string belongs",
        "site: demo",
        "site: 42",
        "\
site.yaml:1:7: error: expected a string, found an integer `42`; write it in quotes: \"42\"
  |
1 | site: 42
  |       ^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an integer host name",
        "  - name: app1",
        "  - name: 1",
        "\
site.yaml:3:11: error: expected a string, found an integer `1`; write it in quotes: \"1\"
  |
3 |   - name: 1
  |           ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a list where a mapping belongs",
        "  port: 5432\n",
        "  port: 5432\n  replication: [a, b]\n",
        "\
site.yaml:13:16: error: expected a mapping, found a list
   |
13 |   replication: [a, b]
   |                ^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a list for a whole section",
        "sysctl:\n  priority: 60\n  settings:\n    vm.swappiness: 10\n    vm.dirty_bytes: 1GB\n",
        "sysctl: [vm.swappiness]\n",
        "\
site.yaml:35:9: error: expected a mapping, found a list
   |
35 | sysctl: [vm.swappiness]
   |         ^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a mapping where a list belongs",
        "    roles: [postgres-primary, web]",
        "    roles: { primary: true }",
        "\
site.yaml:8:12: error: expected a list, found a mapping
  |
8 |     roles: { primary: true }
  |            ^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an empty mapping for hosts and a misspelt key",
        "hosts:\n",
        "hosts: {}\nhostz:\n",
        "\
site.yaml:2:8: error: expected a list, found a mapping
  |
2 | hosts: {}
  |        ^
site.yaml:3:1: error: unknown key `hostz`; did you mean `hosts`?
  |
3 | hostz:
  | ^^^^^
site.yaml: 2 errors, 0 warnings
",
        1,
    ),
    (
        "a boolean where a string belongs",
        "site: demo",
        "site: true",
        "\
site.yaml:1:7: error: expected a string, found a boolean `true`
  |
1 | site: true
  |       ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a boolean server name",
        "    server_name: app.example.org",
        "    server_name: false",
        "\
site.yaml:25:18: error: expected a string, found a boolean `false`
   |
25 |     server_name: false
   |                  ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "nothing where a string belongs",
        "site: demo",
        "site:",
        "\
site.yaml:1:5: error: expected a string, found nothing
  |
1 | site:
  |     ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "cpus 0",
        "    cpus: 4",
        "    cpus: 0",
        "\
site.yaml:6:11: error: must be at least 1, found an integer `0`
  |
6 |     cpus: 0
  |           ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "negative cpus",
        "    cpus: 4",
        "    cpus: -1",
        "\
site.yaml:6:11: error: must be at least 1, found an integer `-1`
  |
6 |     cpus: -1
  |           ^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "port 0",
        "  port: 5432",
        "  port: 0",
        "\
site.yaml:12:9: error: must be at least 1, found an integer `0`
   |
12 |   port: 0
   |         ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "port 70000",
        "  port: 5432",
        "  port: 70000",
        "\
site.yaml:12:9: error: must be at most 65535, found an integer `70000`
   |
12 |   port: 70000
   |         ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "PostgreSQL 10",
        "  version: 17",
        "  version: 10",
        "\
site.yaml:10:12: error: must be at least 11, found an integer `10`
   |
10 |   version: 10
   |            ^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "PostgreSQL 19",
        "  version: 17",
        "  version: 19",
        "\
site.yaml:10:12: error: must be at most 18, found an integer `19`
   |
10 |   version: 19
   |            ^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "sysctl priority 5",
        "  priority: 60",
        "  priority: 5",
        "\
site.yaml:36:13: error: must be at least 10, found an integer `5`
   |
36 |   priority: 5
   |             ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "sysctl priority 100",
        "  priority: 60",
        "  priority: 100",
        "\
site.yaml:36:13: error: must be at most 99, found an integer `100`
   |
36 |   priority: 100
   |             ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an integer of 30 digits",
        "    cpus: 4",
        "    cpus: 123456789012345678901234567890",
        "\
site.yaml:6:11: error: must be at most 4096, found a number `123456789012345678901234567890`
  |
6 |     cpus: 123456789012345678901234567890
  |           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a number beyond a 64-bit float",
        "    cpus: 4",
        "    cpus: 1e400",
        "\
site.yaml:6:11: error: invalid YAML: `1e400` is not a finite number
  |
6 |     cpus: 1e400
  |           ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "not-a-number where an integer belongs",
        "    cpus: 4",
        "    cpus: .nan",
        "\
site.yaml:6:11: error: invalid YAML: `.nan` is not a finite number
  |
6 |     cpus: .nan
  |           ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a port of 2^64",
        "  port: 5432",
        "  port: 18446744073709551616",
        "\
site.yaml:12:9: error: must be at most 65535, found a number `18446744073709551616`
   |
12 |   port: 18446744073709551616
   |         ^^^^^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a byte size beyond 2^64 bytes",
        "    memory: 16GiB",
        "    memory: 99999999999999TB",
        "\
site.yaml:5:13: error: too large: at most 2^64 - 1 bytes or microseconds
  |
5 |     memory: 99999999999999TB
  |             ^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a kernel byte size beyond 2^64 bytes",
        "    vm.dirty_bytes: 1GB",
        "    vm.dirty_bytes: 99999999999999TB",
        "\
site.yaml:39:21: error[SYS003]: `vm.dirty_bytes`: too large: at most 2^64 - 1 bytes or microseconds
   |
39 |     vm.dirty_bytes: 99999999999999TB
   |                     ^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a byte size whose number overflows",
        "    memory: 16GiB",
        "    memory: 999999999999999999999999GB",
        "\
site.yaml:5:13: error: expected a byte size such as 512kB, 256MB, 1GB or 1GiB (kB, MB, GB and TB are powers of 1024)
  |
5 |     memory: 999999999999999999999999GB
  |             ^^^^^^^^^^^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a unit in lower case",
        "    memory: 16GiB",
        "    memory: 1gb",
        "\
site.yaml:5:13: error: expected a byte size such as 512kB, 256MB, 1GB or 1GiB (kB, MB, GB and TB are powers of 1024), found a string `1gb`
  |
5 |     memory: 1gb
  |             ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a kernel size in lower case",
        "    vm.dirty_bytes: 1GB",
        "    vm.dirty_bytes: 1gb",
        "\
site.yaml:39:21: error[SYS003]: `vm.dirty_bytes`: expected a byte size such as 512kB, 256MB, 1GB or 1GiB (kB, MB, GB and TB are powers of 1024)
   |
39 |     vm.dirty_bytes: 1gb
   |                     ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a duration spelt out",
        "    conn_max_age: 60s",
        "    conn_max_age: 5 minutes",
        "\
site.yaml:49:19: error: expected a duration such as 200ms, 60s, 5min, 2h or 1d, found a string `5 minutes`
   |
49 |     conn_max_age: 5 minutes
   |                   ^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a fractional byte size",
        "    memory: 16GiB",
        "    memory: 1.5GB",
        "\
site.yaml:5:13: error: expected a byte size such as 512kB, 256MB, 1GB or 1GiB (kB, MB, GB and TB are powers of 1024), found a string `1.5GB`
  |
5 |     memory: 1.5GB
  |             ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a percentage where a byte size belongs",
        "    memory: 16GiB",
        "    memory: 10%",
        "\
site.yaml:5:13: error: expected a byte size such as 512kB, 256MB, 1GB or 1GiB (kB, MB, GB and TB are powers of 1024), found a string `10%`
  |
5 |     memory: 10%
  |             ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a percentage for vm.dirty_bytes",
        "    vm.dirty_bytes: 1GB",
        "    vm.dirty_bytes: 10%",
        "\
site.yaml:39:21: error[SYS003]: `vm.dirty_bytes`: expected a byte size such as 512kB, 256MB, 1GB or 1GiB (kB, MB, GB and TB are powers of 1024)
   |
39 |     vm.dirty_bytes: 10%
   |                     ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "full-width digits",
        "    memory: 16GiB",
        "    memory: １６GiB",
        "\
site.yaml:5:13: error: expected a byte size such as 512kB, 256MB, 1GB or 1GiB (kB, MB, GB and TB are powers of 1024), found a string `１６GiB`
  |
5 |     memory: １６GiB
  |             ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an IPv4 octet over 255",
        "    address: 192.0.2.10",
        "    address: 300.1.1.1",
        "\
site.yaml:4:14: error: expected an IPv4 or IPv6 address such as 192.0.2.11, found a string `300.1.1.1`
  |
4 |     address: 300.1.1.1
  |              ^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an IPv6 address with non-hex digits",
        "    address: 192.0.2.10",
        "    address: \"::zz\"",
        "\
site.yaml:4:14: error: expected an IPv4 or IPv6 address such as 192.0.2.11, found a string `\"::zz\"`
  |
4 |     address: \"::zz\"
  |              ^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unquoted IPv6 address with non-hex digits",
        "    address: 192.0.2.10",
        "    address: ::zz",
        "\
site.yaml:4:14: error: expected an IPv4 or IPv6 address such as 192.0.2.11, found a string `::zz`
  |
4 |     address: ::zz
  |              ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an upstream port over 65535",
        "      servers: [127.0.0.1:8000]",
        "      servers: [127.0.0.1:99999]",
        "\
site.yaml:31:17: error: expected an address and a port such as 127.0.0.1:8000, found a string `127.0.0.1:99999`
   |
31 |       servers: [127.0.0.1:99999]
   |                 ^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a version of four parts",
        "  version: \"1.26\"",
        "  version: \"1.2.3.4\"",
        "\
site.yaml:22:12: error: expected a version such as \"1.22\" or \"3.0.2\" (quote it so YAML keeps it a string), found a string `\"1.2.3.4\"`
   |
22 |   version: \"1.2.3.4\"
   |            ^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unquoted nginx version",
        "  version: \"1.26\"",
        "  version: 1.20",
        "\
site.yaml:22:12: error: expected a string, found a number `1.20`; write it in quotes: \"1.20\"
   |
22 |   version: 1.20
   |            ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an unquoted Django version",
        "  version: \"5.2\"",
        "  version: 5.2",
        "\
site.yaml:41:12: error: expected a string, found a number `5.2`; write it in quotes: \"5.2\"
   |
41 |   version: 5.2
   |            ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a host name that climbs out of the tree",
        "  - name: app1",
        "  - name: ../etc",
        "\
site.yaml:3:11: error: expected a host name of lower-case letters, digits and `-`, such as db1, found a string `../etc`
  |
3 |   - name: ../etc
  |           ^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an upper-case host name",
        "  - name: app1",
        "  - name: DB1",
        "\
site.yaml:3:11: error: expected a host name of lower-case letters, digits and `-`, such as db1, found a string `DB1`
  |
3 |   - name: DB1
  |           ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a host name with an underscore",
        "  - name: app1",
        "  - name: a_b",
        "\
site.yaml:3:11: error: expected a host name of lower-case letters, digits and `-`, such as db1, found a string `a_b`
  |
3 |   - name: a_b
  |           ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a host name with a zero-width space",
        "  - name: app1",
        "  - name: app1\u{200b}",
        "\
site.yaml:3:11: error: expected a host name of lower-case letters, digits and `-`, such as db1, found a string `app1\u{200b}`
  |
3 |   - name: app1\u{200b}
  |           ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a site name with an accent",
        "site: demo",
        "site: démo",
        "\
site.yaml:1:7: error: expected a site name of lower-case letters, digits and `-`, starting with a letter, found a string `démo`
  |
1 | site: démo
  |       ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a relative path",
        "  data_directory: /var/lib/postgresql/17/main",
        "  data_directory: var/lib/postgresql/17/main",
        "\
site.yaml:11:19: error: expected an absolute path of letters, digits and `._+@-`, such as /etc/ssl/server.crt, found a string `var/lib/postgresql/17/main`
   |
11 |   data_directory: var/lib/postgresql/17/main
   |                   ^^^^^^^^^^^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a path with ..",
        "  data_directory: /var/lib/postgresql/17/main",
        "  data_directory: /var/lib/../../etc",
        "\
site.yaml:11:19: error: a path must not have `.` or `..` segments, found a string `/var/lib/../../etc`
   |
11 |   data_directory: /var/lib/../../etc
   |                   ^^^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a path with a space",
        "  data_directory: /var/lib/postgresql/17/main",
        "  data_directory: /var/lib/my data",
        "\
site.yaml:11:19: error: expected an absolute path of letters, digits and `._+@-`, such as /etc/ssl/server.crt, found a string `/var/lib/my data`
   |
11 |   data_directory: /var/lib/my data
   |                   ^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a path with $",
        "  data_directory: /var/lib/postgresql/17/main",
        "  data_directory: /var/lib/$PGDATA",
        "\
site.yaml:11:19: error: expected an absolute path of letters, digits and `._+@-`, such as /etc/ssl/server.crt, found a string `/var/lib/$PGDATA`
   |
11 |   data_directory: /var/lib/$PGDATA
   |                   ^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an inline database password",
        "    password: { env: DEMO_DB_PASSWORD }",
        "    password: s3cr3t-Passw0rd",
        "\
site.yaml:48:15: error[SEC001]: a secret must be `{ env: NAME }` or `{ file: PATH }`, never the value itself: the spec is committed
   |
48 |     password: <redacted>
   |               ^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an inline quoted secret key",
        "  secret_key: { env: DJANGO_SECRET_KEY }",
        "  secret_key: \"django-insecure-abc123\"",
        "\
site.yaml:43:15: error[SEC001]: a secret must be `{ env: NAME }` or `{ file: PATH }`, never the value itself: the spec is committed
   |
43 |   secret_key: <redacted>
   |               ^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an env reference that is not a variable name",
        "  secret_key: { env: DJANGO_SECRET_KEY }",
        "  secret_key: { env: 1BAD }",
        "\
site.yaml:43:22: error[SEC001]: `env:` takes an environment variable name of letters, digits and `_`, not starting with a digit, such as DB_PASSWORD
   |
43 |   secret_key: { env: <redacted>
   |                      ^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a secret reference with a value beside it",
        "  secret_key: { env: DJANGO_SECRET_KEY }",
        "  secret_key: { env: A, value: hunter2 }",
        "\
site.yaml:43:15: error[SEC001]: a secret must be `{ env: NAME }` or `{ file: PATH }`, never the value itself: the spec is committed
   |
43 |   secret_key: <redacted>
   |               ^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "yes where a boolean belongs",
        "      certificate_key: /etc/ssl/private/app.key\n",
        "      certificate_key: /etc/ssl/private/app.key\n      ocsp_stapling: yes\n",
        "\
site.yaml:30:22: error: expected a boolean (true or false), found a string `yes`
   |
30 |       ocsp_stapling: yes
   |                      ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "on where a boolean belongs",
        "      certificate_key: /etc/ssl/private/app.key\n",
        "      certificate_key: /etc/ssl/private/app.key\n      hsts: { preload: on }\n",
        "\
site.yaml:30:24: error: expected a boolean (true or false), found a string `on`
   |
30 |       hsts: { preload: on }
   |                        ^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an alias that repeats a role",
        "    roles: [postgres-primary, web]",
        "    roles: &r [postgres-primary, web]\n  - name: app2\n    address: 192.0.2.11\n    memory: 16GiB\n    cpus: 4\n    storage: ssd\n    roles: *r",
        "\
site.yaml:14:12: error[PG003]: a second postgres-primary: a site has exactly one
   |
14 |     roles: *r
   |            ^^
site.yaml:15:1: error[PG030]: Django on app2 reaches PostgreSQL over the network in plain text: add postgres.ssl (the server's cert and key, and the `ca` that signed them), or write `plain_text: accepted` under postgres if that is what the site wants
   |
15 | postgres:
   | ^^^^^^^^
site.yaml: 2 errors, 0 warnings
",
        1,
    ),
    (
        "an unknown tag",
        "site: demo",
        "site: !env DEMO",
        "\
site.yaml:1:12: error: expected a site name of lower-case letters, digits and `-`, starting with a letter, found a string `DEMO`
  |
1 | site: !env DEMO
  |            ^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "an integer key in settings",
        "    max_connections: 100",
        "    1: 100",
        "\
site.yaml:20:5: error: invalid key `1`: names must match ``
   |
20 |     1: 100
   |     ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a null key in settings",
        "    max_connections: 100",
        "    ~: 100",
        "\
site.yaml:20:5: error: keys must be plain strings
   |
20 |     ~: 100
   |     ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a BEL character after a value",
        "site: demo",
        "site: demo\u{7}",
        "\
site.yaml:1:7: error: invalid YAML: unexpected character: `\\u{7}'
  |
1 | site: demo\u{7}
  |       ^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a form feed after a value",
        "    cpus: 4",
        "    cpus: 4\u{c}",
        "\
site.yaml:6:11: error: invalid YAML: unexpected character: `\\u{c}'
  |
6 |     cpus: 4\u{c}
  |           ^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a pg_hba address with host bits set",
        "      address: 192.0.2.0/24",
        "      address: 192.0.2.7/24",
        "\
site.yaml:17:16: error: expected a CIDR block with its host bits zero (192.0.2.0/24, 192.0.2.7/32, ::1/128), or all, samehost, samenet, found a string `192.0.2.7/24`
   |
17 |       address: 192.0.2.7/24
   |                ^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
    (
        "a pg_hba address with no prefix length",
        "      address: 192.0.2.0/24",
        "      address: 192.0.2.0",
        "\
site.yaml:17:16: error: expected a CIDR block with its host bits zero (192.0.2.0/24, 192.0.2.7/32, ::1/128), or all, samehost, samenet, found a string `192.0.2.0`
   |
17 |       address: 192.0.2.0
   |                ^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
        1,
    ),
];

#[test]
fn the_base_spec_is_valid() {
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), BASE).unwrap();
    sitewright(dir.path(), &["check", "site.yaml"])
        .code(0)
        .stderr_is("");
    assert_eq!(
        sitewright(dir.path(), &["check", "site.yaml"]).stdout,
        "site.yaml: ok: 1 hosts, 6 files; 0 errors, 0 warnings\n"
    );
}

#[test]
fn malformed_and_misshapen_documents_get_their_exact_reports() {
    assert_all(
        DOCUMENTS
            .iter()
            .map(|&(name, spec, stderr, code)| (name, spec.as_bytes().to_vec(), stderr, code)),
    );
}

#[test]
fn mistakes_in_a_valid_spec_get_their_exact_reports() {
    assert_all(EDITS.iter().map(|&(name, from, to, stderr, code)| {
        (name, broken(from, to).into_bytes(), stderr, code)
    }));
}

#[test]
fn several_mistakes_are_reported_together_in_source_order() {
    let spec = [
        ("    cpus: 4", "    cpus: 0"),
        ("    storage: ssd", "    storrage: ssd"),
        ("  port: 5432", "  port: 70000"),
        ("  version: \"1.26\"", "  version: 1.20"),
        (
            "      certificate_key: /etc/ssl/private/app.key\n",
            "      certificate_key: /etc/ssl/private/app.key\n      ocsp_stapling: yes\n",
        ),
        (
            "    password: { env: DEMO_DB_PASSWORD }",
            "    password: hunter2",
        ),
    ]
    .iter()
    .fold(BASE.to_owned(), |spec, (from, to)| {
        assert_eq!(spec.matches(from).count(), 1, "{from:?}");
        spec.replacen(from, to, 1)
    });
    assert_refused(
        spec.as_bytes(),
        "\
site.yaml:6:11: error: must be at least 1, found an integer `0`
  |
6 |     cpus: 0
  |           ^
site.yaml:7:5: error: unknown key `storrage`; did you mean `storage`?
  |
7 |     storrage: ssd
  |     ^^^^^^^^
site.yaml:12:9: error: must be at most 65535, found an integer `70000`
   |
12 |   port: 70000
   |         ^^^^^
site.yaml:22:12: error: expected a string, found a number `1.20`; write it in quotes: \"1.20\"
   |
22 |   version: 1.20
   |            ^^^^
site.yaml:30:22: error: expected a boolean (true or false), found a string `yes`
   |
30 |       ocsp_stapling: yes
   |                      ^^^
site.yaml:49:15: error[SEC001]: a secret must be `{ env: NAME }` or `{ file: PATH }`, never the value itself: the spec is committed
   |
49 |     password: <redacted>
   |               ^^^^^^^^^^
site.yaml: 6 errors, 0 warnings
",
        1,
    );
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let block: String = (1..300)
        .map(|depth| format!("{}k{depth}:\n", "  ".repeat(depth)))
        .collect();
    assert_all([
        (
            "200 unclosed `[`",
            format!("site: {}\n", "[".repeat(200)).into_bytes(),
            "\
site.yaml:1:206: error: invalid YAML: unclosed bracket '['
  |
1 | …[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
  |                                   ^
site.yaml: 1 error, 0 warnings
",
            1,
        ),
        (
            "200 `[` closed again",
            format!("site: {}{}\n", "[".repeat(200), "]".repeat(200)).into_bytes(),
            "\
site.yaml:1:70: error: invalid YAML: nested more than 64 levels deep; a site spec needs a handful
  |
1 | …[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[…
  |                                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
            1,
        ),
        (
            "200 flow mappings",
            format!("site: {}1{}\n", "{a: ".repeat(200), "}".repeat(200)).into_bytes(),
            "\
site.yaml:1:259: error: invalid YAML: nested more than 64 levels deep; a site spec needs a handful
  |
1 | … {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a:…
  |                                   ^^
site.yaml: 1 error, 0 warnings
",
            1,
        ),
        (
            "5000 `[` closed again",
            format!("site: {}{}\n", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
            "\
site.yaml:1:262: error: invalid YAML: nested more than 64 levels deep; a site spec needs a handful
  |
1 | …[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[…
  |                                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
            1,
        ),
        (
            "300 block mappings",
            format!("site: demo\nx:\n{block}{}v: 1\n", "  ".repeat(300)).into_bytes(),
            "\
site.yaml:66:129: error: invalid YAML: nested more than 64 levels deep; a site spec needs a handful
   |
66 | …                                 k64:
   |                                   ^^^
site.yaml: 1 error, 0 warnings
",
            1,
        ),
        (
            "300 block sequence markers on one line",
            format!("site: {}x\n", "- ".repeat(300)).into_bytes(),
            "\
site.yaml:1:7: error: invalid YAML: block sequence entries are not allowed in this context
  |
1 | site: - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - …
  |       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
site.yaml: 1 error, 0 warnings
",
            1,
        ),
    ]);
}

/// A "billion laughs": a0 is one string and each level a list of nine aliases of the level before,
/// so a9 expands to 9^9 (387 million) strings from a spec of 500 bytes.
fn alias_bomb() -> String {
    let mut spec = String::from("a0: &a0 [\"lol\"]\n");
    for level in 1..=9 {
        let aliases = vec![format!("*a{}", level - 1); 9].join(", ");
        spec.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
    }
    spec
}

#[test]
fn an_alias_bomb_is_refused_before_it_expands() {
    // Expanded, the bomb would not fit in memory: that the run ends with this report shows the
    // cap on alias expansion holds. How fast it ends is measured in benches/, not here.
    assert_refused(
        alias_bomb().as_bytes(),
        "\
site.yaml:6:25: error: invalid YAML: aliases expand to more than 100,000 values; a site spec needs far fewer
  |
6 | a5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]
  |                         ^^^
site.yaml: 1 error, 0 warnings
",
        1,
    );
}

/// A spec of `len` bytes: `BASE` padded with comment lines.
fn padded_to(len: usize) -> String {
    let mut spec = BASE.to_owned();
    while spec.len() < len {
        spec.push_str(&format!("# {}\n", "x".repeat(77)));
    }
    spec.truncate(len - 1);
    spec.push('\n');
    spec
}

#[test]
fn a_spec_over_4_mib_is_refused_naming_the_limit() {
    for len in [5 * 1024 * 1024, 4 * 1024 * 1024 + 1] {
        assert_refused(
            padded_to(len).as_bytes(),
            &format!(
                "site.yaml:1:1: error: the spec is {len} bytes; specs are limited to 4194304 bytes (4 MiB)\nsite.yaml: 1 error, 0 warnings\n"
            ),
            1,
        );
    }
}

#[test]
fn a_spec_of_exactly_4_mib_is_read() {
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), padded_to(4 * 1024 * 1024)).unwrap();
    sitewright(dir.path(), &["check", "site.yaml"])
        .code(0)
        .stdout_has("site.yaml: ok: 1 hosts, 6 files; 0 errors, 0 warnings");
}

/// `BASE` as bytes with `from` replaced by `to`.
fn bytes_with(from: &str, to: &[u8]) -> Vec<u8> {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "{from:?} is not in BASE once"
    );
    let at = BASE.find(from).unwrap();
    [
        &BASE.as_bytes()[..at],
        to,
        &BASE.as_bytes()[at + from.len()..],
    ]
    .concat()
}

#[test]
fn bytes_that_are_not_utf8_or_are_nul_are_refused_at_their_line_and_column() {
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(BASE.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    assert_all([
        (
            "a byte 0xff in a value",
            bytes_with("site: demo", b"site: d\xffmo"),
            "\
site.yaml:1:8: error: the spec is not valid UTF-8: save it as UTF-8
site.yaml: 1 error, 0 warnings
",
            1,
        ),
        (
            "a Latin-1 é in a comment",
            bytes_with("    cpus: 4", b"    cpus: 4 # caf\xe9"),
            "\
site.yaml:6:18: error: the spec is not valid UTF-8: save it as UTF-8
site.yaml: 1 error, 0 warnings
",
            1,
        ),
        (
            "UTF-16 with its byte-order mark",
            utf16,
            "\
site.yaml:1:1: error: the spec is not valid UTF-8: save it as UTF-8
site.yaml: 1 error, 0 warnings
",
            1,
        ),
        (
            "a NUL in a value",
            bytes_with("site: demo", b"site: de\0mo"),
            "\
site.yaml:1:9: error: the spec contains a NUL byte
site.yaml: 1 error, 0 warnings
",
            1,
        ),
        (
            "a NUL at the end of a line",
            bytes_with("    cpus: 4", b"    cpus: 4\0"),
            "\
site.yaml:6:12: error: the spec contains a NUL byte
site.yaml: 1 error, 0 warnings
",
            1,
        ),
    ]);
}

/// Checks and renders a spec that must be valid; returns the rendered tree.
fn accepted(spec: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), spec).unwrap();
    let check = sitewright(dir.path(), &["check", "site.yaml"]);
    check.code(0).stderr_is("");
    assert_eq!(
        check.stdout,
        "site.yaml: ok: 3 hosts, 14 files; 0 errors, 0 warnings\n"
    );
    sitewright(dir.path(), &["render", "site.yaml", "-o", "out"])
        .code(0)
        .stderr_is("");
    tree(&dir.path().join("out"))
}

#[test]
fn a_byte_order_mark_is_accepted_and_changes_nothing() {
    let plain = fs::read(fixture("catmaid/site.yaml")).unwrap();
    let with_bom = [b"\xef\xbb\xbf".as_slice(), &plain].concat();
    assert!(
        accepted(&with_bom) == accepted(&plain),
        "the BOM changed the rendered tree"
    );
}

#[test]
fn crlf_line_endings_are_accepted_and_change_nothing() {
    let plain = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    let crlf = plain.replace('\n', "\r\n");
    assert!(
        accepted(crlf.as_bytes()) == accepted(plain.as_bytes()),
        "CRLF line endings changed the rendered tree"
    );
    // A mistake is reported at the same place, and no `\r` reaches the excerpt.
    assert_refused(
        broken("    cpus: 4", "    cpus: 0")
            .replace('\n', "\r\n")
            .as_bytes(),
        "\
site.yaml:6:11: error: must be at least 1, found an integer `0`
  |
6 |     cpus: 0
  |           ^
site.yaml: 1 error, 0 warnings
",
        1,
    );
}
