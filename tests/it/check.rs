//! `sitewright check`: every mistake reported at once, each at its line and column with the source
//! line under it, and the exit codes of DESIGN.md. The exact reports are cases under
//! tests/cases/check/ (tests/cases/README.md); here are the edits of the CATMAID fixture, which
//! name lines of a file that changes, and the sweeps over hundreds of specs.

use std::fs;

use crate::support::{Sitewright, fixture};

/// A small valid spec; each case below breaks one thing in it.
const BASE: &str = "\
site: demo
hosts:
  - name: db1
    address: 192.0.2.11
    memory: 8GiB
    cpus: 4
    storage: ssd
    roles: [postgres-primary]
  - name: db2
    address: 192.0.2.12
    memory: 8GiB
    cpus: 4
    storage: ssd
    roles: [postgres-replica]
postgres:
  version: 16
  data_directory: /var/lib/postgresql/16/main
  replication:
    user: replicator
    password: { env: REPLICATION_PASSWORD }
    wal_keep: 1GB
  settings:
    max_connections: 100
  plain_text: accepted
sysctl:
  settings:
    vm.swappiness: 10
";

/// `check site.yaml` on `spec`, to be given what it must print.
fn check(spec: &str) -> Sitewright {
    Sitewright::new()
        .write("site.yaml", spec)
        .args(["check", "site.yaml"])
}

/// What check prints on stdout for the CATMAID fixture and an edit of it that stays valid.
fn catmaid_ok(warnings: &str) -> String {
    format!("site.yaml: ok: 3 hosts, 14 files; 0 errors, {warnings}\n")
}

#[test]
fn the_base_spec_is_valid() {
    check(BASE)
        .stdout("site.yaml: ok: 2 hosts, 8 files; 0 errors, 0 warnings\n")
        .check();
}

#[test]
fn the_catmaid_fixture_is_valid() {
    Sitewright::new()
        .args(["check", "fixtures/catmaid/site.yaml"])
        .stdout("fixtures/catmaid/site.yaml: ok: 3 hosts, 14 files; 0 errors, 0 warnings\n")
        .check();
}

/// Each kind of mistake, with the exact report a user sees: tests/cases/check/.
#[test]
fn cases() {
    crate::support::cases::run_group("check", |_| Vec::new());
}

#[test]
fn conn_max_age_is_whole_seconds() {
    let line = catmaid_line("conn_max_age: 60s");
    catmaid_with("conn_max_age: 60s", "conn_max_age: 1500ms")
        .status(1)
        .stderr_contains(format!(
            "site.yaml:{line}:19: error[DJ002]: CONN_MAX_AGE is a whole number of seconds\n"
        ))
        .check();
}

/// The CATMAID fixture with `from` replaced by `to`, to be checked; `from` must be there.
fn catmaid_with(from: &str, to: &str) -> Sitewright {
    let spec = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    assert!(
        spec.contains(from),
        "{from:?} is not in the CATMAID fixture"
    );
    check(&spec.replacen(from, to, 1))
}

#[test]
fn nginx_values_that_would_break_out_of_their_token_are_refused_where_they_are() {
    catmaid_with("server_name: catmaid.example.org", "server_name: \"catmaid.example.org; return 200\"")
        .status(1)
        .stderr_contains("error: expected a DNS name of lower-case letters, digits, `-` and `.`, such as catmaid.example.org, found a string `\"catmaid.example.org; return 200\"`")
        .check();
    catmaid_with("folder: /srv/catmaid/static", "folder: /srv/$host/static")
        .status(1)
        .stderr_contains("error: expected an absolute path of letters, digits and `._+@-`, such as /etc/ssl/server.crt, found a string `/srv/$host/static`")
        .check();
}

#[test]
fn the_old_tls_profile_is_refused_with_the_reason() {
    catmaid_with("profile: intermediate", "profile: old")
        .status(1)
        .stderr_contains(
            "error[NGX004]: Mozilla's server-side TLS guidelines 6.0 removed the old profile: it needs TLS 1.0 and 1.1, which current browsers and OpenSSL 3 refuse; use intermediate (TLS 1.2 and 1.3)",
        )
        .check();
}

#[test]
fn proxy_buffers_beyond_a_tenth_of_memory_are_a_warning() {
    catmaid_with("expected_connections: 100", "expected_connections: 10000")
        .stdout(catmaid_ok("1 warning"))
        .stderr_contains("warning[NGX007]: proxy buffers of 2MB per connection for 10000 connections take 20000MB, more than a tenth of web1's 16GB")
        .check();
}

/// The line of the CATMAID fixture that holds `text`.
fn catmaid_line(text: &str) -> usize {
    let spec = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    spec.lines().position(|l| l.contains(text)).unwrap() + 1
}

#[test]
fn proxy_buffers_that_leave_no_busy_buffers_size_are_an_error_at_their_value() {
    let line = catmaid_line("proxy_buffers: { count: 512, size: 4kB }");
    catmaid_with(
        "proxy_buffers: { count: 512, size: 4kB }",
        "proxy_buffers: { count: 16, size: 4kB }",
    )
    .status(1)
    .stderr_contains(format!(
        "site.yaml:{line}:29: error[NGX009]: nginx needs proxy_busy_buffers_size at least proxy_buffer_size (64kB) and at most all proxy_buffers but one (15 × 4kB = 60kB), so no value fits: write `count: 17` or more in proxy_buffers, or `proxy_buffer_size: 60kB` or less\n"
    ))
    .check();
    // proxy_buffers left to the default: the proxy_buffer_size that outgrows them is at fault.
    let line = catmaid_line("proxy_buffer_size: 64kB");
    catmaid_with(
        "    proxy_buffer_size: 64kB\n    proxy_buffers: { count: 512, size: 4kB }\n",
        "    proxy_buffer_size: 256kB\n",
    )
    .status(1)
    .stderr_contains(format!(
        "site.yaml:{line}:24: error[NGX009]: nginx needs proxy_busy_buffers_size at least proxy_buffer_size (256kB) and at most all proxy_buffers but one (31 × 4kB = 124kB), so no value fits: write `count: 65` or more in proxy_buffers, or `proxy_buffer_size: 124kB` or less\n"
    ))
    .check();
    catmaid_with("proxy_buffer_size: 64kB", "proxy_buffer_size: 2GB")
        .status(1)
        .stderr_contains(format!(
            "site.yaml:{line}:24: error[NGX009]: nginx refuses a proxy buffer larger than proxy_max_temp_file_size, 1GB by default: write 1GB or less, not 2GB\n"
        ))
        .check();
}

#[test]
fn an_nginx_and_openssl_pair_no_build_has_is_a_warning_at_openssl() {
    // Debian 12's nginx 1.22 is built with OpenSSL 3.0 and refuses the group written for 3.5.
    let line = catmaid_line("openssl: \"3.0\"");
    catmaid_with("openssl: \"3.0\"", "openssl: \"3.5\"")
        .stdout(catmaid_ok("1 warning"))
        .stderr_contains(format!(
            "site.yaml:{line}:12: warning[NGX010]: no known distribution builds nginx 1.22 with OpenSSL 3.5; `nginx -V` on the hosts says which OpenSSL theirs uses, and the TLS groups written follow this value (known builds: Debian 11: 1.18 with 1.1; Debian 12: 1.22 with 3.0; Debian 13: 1.26 with 3.5; Ubuntu 20.04: 1.18 with 1.1; Ubuntu 22.04: 1.18 with 3.0; Ubuntu 24.04: 1.24 with 3.0; RHEL 9: 1.20, 1.22 or 1.24 with 3.0)\n"
        ))
        .check();
    // Compared by major.minor: a patch release is the same build.
    catmaid_with("version: \"1.22\"", "version: \"1.22.1\"")
        .stdout(catmaid_ok("0 warnings"))
        .check();
}

#[test]
fn ocsp_stapling_needs_a_resolver_and_a_resolver_alone_is_quiet() {
    let line = catmaid_line("profile: intermediate") + 1;
    catmaid_with(
        "      profile: intermediate\n",
        "      profile: intermediate\n      ocsp_stapling: true\n      trusted_certificate: /etc/ssl/certs/chain.pem\n",
    )
    .status(1)
    .stderr_contains(format!(
        "site.yaml:{line}:22: error[NGX011]: OCSP stapling looks up the responder's name, and nginx has no resolver unless told: add `resolver: [ADDRESS]`, the DNS servers to ask\n"
    ))
    .check();
    catmaid_with(
        "      profile: intermediate\n",
        "      profile: intermediate\n      ocsp_stapling: true\n      trusted_certificate: /etc/ssl/certs/chain.pem\n      resolver: [192.0.2.53]\n",
    )
    .stdout(catmaid_ok("0 warnings"))
    .check();
    catmaid_with(
        "      profile: intermediate\n",
        "      profile: intermediate\n      resolver: [192.0.2.53]\n",
    )
    .stdout(catmaid_ok("0 warnings"))
    .check();
}

#[test]
fn django_versions_sitewright_does_not_know_are_reported_at_the_version() {
    let line = catmaid_line("version: \"5.2\"");
    catmaid_with("version: \"5.2\"", "version: \"1.0\"")
        .status(1)
        .stderr_contains(format!(
            "site.yaml:{line}:12: error[DJ010]: sitewright writes settings for Django 3.2 and later, not 1.0: upgrade Django, or write this version's settings by hand\n"
        ))
        .check();
    catmaid_with("version: \"5.2\"", "version: \"6.1\"")
        .stdout(catmaid_ok("1 warning"))
        .stderr_contains(format!(
            "site.yaml:{line}:12: warning[DJ011]: Django 6.1 is newer than 6.0, the newest whose settings sitewright knows: run `manage.py check --deploy` on what it writes\n"
        ))
        .check();
    // The edges, by major.minor: 3.2 and any 6.0 release are known.
    for known in ["3.2", "6.0.3"] {
        catmaid_with("version: \"5.2\"", &format!("version: \"{known}\""))
            .stdout(catmaid_ok("0 warnings"))
            .check();
    }
}

/// The rule ids `load` reports for `spec`, in-process: the sweeps below check hundreds of specs.
fn rule_ids(spec: &str) -> Vec<&'static str> {
    let source = sitewright::source::Source::from_bytes("site.yaml", spec.as_bytes().to_vec())
        .unwrap_or_else(|d| panic!("{d:?}"));
    match sitewright::load::load(&source) {
        Ok(loaded) => loaded.warnings.iter().filter_map(|d| d.rule).collect(),
        Err(invalid) => invalid.diagnostics.iter().filter_map(|d| d.rule).collect(),
    }
}

/// Every setting a typed field writes is refused by hand, site-wide and in a host's own
/// settings, on every major whose server has it; a major without it says so instead (PG012).
#[test]
fn every_setting_a_typed_field_writes_is_refused_by_hand_on_every_major() {
    use sitewright::plan::postgres::conf::{REPLICA_TYPED_SETTINGS, TYPED_SETTINGS};
    let with_timeout = BASE.replace(
        "    wal_keep: 1GB\n",
        "    wal_keep: 1GB\n  replica_statement_timeout: 5s\n",
    );
    for major in 11..=18 {
        let table = sitewright::pg_settings::table(major).unwrap();
        let base = with_timeout
            .replace("  version: 16", &format!("  version: {major}"))
            .replace("/16/main", &format!("/{major}/main"));
        for (name, _) in TYPED_SETTINGS.iter().chain(REPLICA_TYPED_SETTINGS) {
            // The include directives are in no table: their fields write them on every major.
            let expected = if table.get(name).is_some() || name.starts_with("include") {
                "PG006"
            } else {
                "PG012"
            };
            let site_wide = base.replacen("    max_connections: 100", &format!("    {name}: x"), 1);
            let per_host = base.replacen(
                "    roles: [postgres-replica]",
                &format!("    roles: [postgres-replica]\n    postgres_settings: {{ {name}: x }}"),
                1,
            );
            for spec in [site_wide, per_host] {
                let ids = rule_ids(&spec);
                assert!(ids.contains(&expected), "{major} {name}: {ids:?}\n{spec}");
            }
        }
        // The primary's own statement_timeout stays the user's.
        let primary = base.replacen(
            "    roles: [postgres-primary]",
            "    roles: [postgres-primary]\n    postgres_settings: { statement_timeout: 30s }",
            1,
        );
        assert!(!rule_ids(&primary).contains(&"PG006"), "{major}");
    }
}

/// The line (1-based) of the first line of `spec` that contains `text`.
fn line_of(spec: &str, text: &str) -> usize {
    spec.lines().position(|l| l.contains(text)).unwrap() + 1
}

#[test]
fn the_old_static_root_key_says_what_to_write_instead() {
    let spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replacen(
            "folder: /srv/catmaid/static",
            "root: /srv/catmaid/static",
            1,
        );
    let line = line_of(&spec, "root: /srv/catmaid/static");
    check(&spec)
        .status(1)
        .stderr_contains(format!(
        "site.yaml:{line}:9: error: `root` is now `folder`, since it always worked as nginx's `alias`, not `root`: the folder itself is served at `url`, so with `url: /static/`, /static/app.css is FOLDER/app.css; write `folder: /srv/catmaid/static` if that folder is the one to serve\n"
        ))
        // One error, not a generic one beside it.
        .never_prints("missing key")
        .never_prints("unknown key")
        .stderr_contains("site.yaml: 1 error, 0 warnings\n")
        .check();
}

#[test]
fn a_static_folder_that_holds_private_files_is_refused_at_its_value() {
    let base = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    let cases = [
        (
            "/srv/catmaid",
            "nginx would serve everything under /srv/catmaid/ at /static/, and it holds the Django project's folder (of django.settings_file) /srv/catmaid/django/projects/mysite: serve a folder of public files only",
        ),
        (
            "/srv/catmaid/django/projects/mysite",
            "nginx would serve everything under /srv/catmaid/django/projects/mysite/ at /static/, and it holds the Django project's folder (of django.settings_file) /srv/catmaid/django/projects/mysite: serve a folder of public files only",
        ),
        (
            "/etc/nginx/ssl",
            "nginx would serve everything under /etc/nginx/ssl/ at /static/, and it holds a TLS private key /etc/nginx/ssl/server.key: serve a folder of public files only",
        ),
        (
            "/etc/ssl/postgresql",
            "nginx would serve everything under /etc/ssl/postgresql/ at /static/, and it holds PostgreSQL's TLS private key /etc/ssl/postgresql/private/server.key: serve a folder of public files only",
        ),
        (
            "/var/lib/postgresql/16/main/pg_wal",
            "/var/lib/postgresql/16/main/pg_wal is inside PostgreSQL's data directory /var/lib/postgresql/16/main: nginx would serve its files at /static/; serve a folder of public files only",
        ),
        (
            "/etc/postgresql",
            "nginx would serve everything under /etc/postgresql/ at /static/, and it holds PostgreSQL's configuration directory /etc/postgresql/16/main: serve a folder of public files only",
        ),
    ];
    for (folder, message) in cases {
        let spec = base.replacen(
            "folder: /srv/catmaid/static",
            &format!("folder: {folder}"),
            1,
        );
        let line = line_of(&spec, &format!("folder: {folder}"));
        check(&spec)
            .status(1)
            .stderr_contains(format!(
                "site.yaml:{line}:17: error[NGX014]: {message}; see site.yaml:"
            ))
            .check();
    }
    // The static folder of a project laid out as Django's startproject does is inside the
    // project's base folder, not a parent of the settings module's folder: allowed.
    let spec = base.replacen(
        "folder: /srv/catmaid/static",
        "folder: /srv/catmaid/django/static",
        1,
    );
    check(&spec).stdout(catmaid_ok("0 warnings")).check();
    // `/` holds everything, and is not an absolute path of the schema's kind.
    let spec = base.replacen("folder: /srv/catmaid/static", "folder: /", 1);
    let line = spec.lines().position(|l| l.trim() == "folder: /").unwrap() + 1;
    check(&spec)
        .status(1)
        .stderr_contains(format!(
            "site.yaml:{line}:17: error: expected an absolute path"
        ))
        .check();
}

#[test]
fn extra_may_not_set_what_a_typed_field_or_the_site_decides() {
    let base = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    let spec = base.replacen(
        "  extra:\n",
        "  extra:\n    DEBUG: true\n    ALLOWED_HOSTS: ['*']\n    SECURE_HSTS_SECONDS: 3600\n    SESSION_COOKIE_SECURE: false\n    CACHES: {}\n    SILENCED_SYSTEM_CHECKS: [security.W004]\n    LOGGING: { version: 1 }\n",
        1,
    );
    let at = |key: &str| line_of(&spec, &format!("    {key}:"));
    let mut run = check(&spec).status(1);
    for (key, message) in [
        (
            "DEBUG",
            "sitewright writes DEBUG itself: False on a production site, since DEBUG shows code and settings to anyone who causes an error; remove it from extra",
        ),
        (
            "ALLOWED_HOSTS",
            "ALLOWED_HOSTS is written from `django.allowed_hosts`, with the server names nginx serves the application under always added: set it there, not in extra",
        ),
        (
            "SECURE_HSTS_SECONDS",
            "SECURE_HSTS_SECONDS is written from `nginx.https.tls.hsts.max_age`, so that Django says what nginx's Strict-Transport-Security header says: set it there, not in extra",
        ),
        (
            "SESSION_COOKIE_SECURE",
            "sitewright writes SESSION_COOKIE_SECURE itself: the site is served over nginx's TLS, and this is what `manage.py check --deploy` asks of such a site; remove it from extra",
        ),
        (
            "CACHES",
            "CACHES is written from `django.cache`, with the backend's name as the Django version knows it: set it there, not in extra",
        ),
        (
            "SILENCED_SYSTEM_CHECKS",
            "SILENCED_SYSTEM_CHECKS is written from `nginx.https.tls.hsts`, which silences only the deploy checks of the HSTS choices made there on purpose, so that `check --deploy` still speaks of everything else: set it there, not in extra",
        ),
    ] {
        run = run.stderr_contains(format!(
            "site.yaml:{}:5: error[DJ009]: {message}\n",
            at(key)
        ));
    }
    // LOGGING has no typed field: extra may replace it.
    run.stderr_contains("site.yaml: 6 errors, 0 warnings\n")
        .check();
}

#[test]
fn secure_proxy_ssl_header_is_refused_with_what_is_wrong_with_its_value() {
    let base = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    let with = |value: &str| {
        base.replacen(
            "  extra:\n",
            &format!("  extra:\n    SECURE_PROXY_SSL_HEADER: {value}\n"),
            1,
        )
    };
    let decided = "error[DJ009]: sitewright writes SECURE_PROXY_SSL_HEADER itself: (\"HTTP_X_FORWARDED_PROTO\", \"https\") exactly behind nginx.https, which overwrites X-Forwarded-Proto on every request (a client can forge any other header, and another value makes Django redirect forever), and none without it, where nothing overwrites a header; remove it from extra\n";
    let https_line = line_of(&base, "  https:");

    // The right value: only that sitewright writes it already.
    let spec = with("{ tuple: [HTTP_X_FORWARDED_PROTO, https] }");
    let line = line_of(&spec, "SECURE_PROXY_SSL_HEADER");
    check(&spec)
        .status(1)
        .stderr_contains(format!("site.yaml:{line}:5: {decided}"))
        .stderr_contains("site.yaml: 1 error, 0 warnings\n")
        .check();

    // Inverted: Django would redirect forever.
    let spec = with("{ tuple: [HTTP_X_FORWARDED_PROTO, http] }");
    check(&spec)
        .status(1)
        .stderr_contains(format!("site.yaml:{line}:5: {decided}"))
        .stderr_contains(format!(
            "site.yaml:{line}:30: error[DJ006]: nginx sends X-Forwarded-Proto `https` for every HTTPS request, so with `http` Django takes each for plain HTTP and redirects it to HTTPS forever; the one value that is right is (\"HTTP_X_FORWARDED_PROTO\", \"https\"); see site.yaml:{https_line}:3\n"
        ))
        .check();

    // A header a client can forge.
    let spec = with("{ tuple: [HTTP_X_FORWARDED_SSL, \"on\"] }");
    check(&spec).status(1).stderr_contains(format!(
        "site.yaml:{line}:30: error[DJ006]: Django would trust a header that nginx does not overwrite: only X-Forwarded-Proto (HTTP_X_FORWARDED_PROTO) is set by nginx on every request; the one value that is right is (\"HTTP_X_FORWARDED_PROTO\", \"https\"); see site.yaml:{https_line}:3\n"
    )).check();

    // Not a pair.
    let spec = with("HTTP_X_FORWARDED_PROTO");
    check(&spec).status(1).stderr_contains(format!(
        "site.yaml:{line}:30: error[DJ006]: SECURE_PROXY_SSL_HEADER is a pair of the header and the value that means HTTPS: the one that is right is (\"HTTP_X_FORWARDED_PROTO\", \"https\")"
    )).check();
}
