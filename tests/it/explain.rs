//! `explain` on rendered files, and `check`'s grouping, counts, JSON and --deny-warnings.

use std::fs;

use crate::support::{Sitewright, fixture, temp_dir};

fn explain(args: &[&str]) -> crate::support::Outcome {
    Sitewright::new()
        .arg("explain")
        .arg(fixture("catmaid/site.yaml"))
        .args(args)
        .run()
}

#[test]
fn a_derived_setting_says_how_it_was_derived() {
    let out = explain(&[
        "--host",
        "db1",
        "/etc/postgresql/16/main/postgresql.conf",
        "shared_buffers",
    ]);
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "db1:/etc/postgresql/16/main/postgresql.conf (template postgres/postgresql.conf.pgconf)"
    );
    assert!(
        lines[1].ends_with("  shared_buffers = 16GB  # 25% of 64GB"),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with("      from ")
            && lines[2]
                .ends_with("/fixtures/catmaid/site.yaml:11:13 (hosts[0].memory): 25% of 64GB"),
        "{}",
        out.stdout
    );
    assert_eq!(lines[3], "      a change takes a restart");
    assert_eq!(lines.len(), 4);
}

#[test]
fn a_value_left_to_its_default_says_so_and_a_named_default_gives_its_reason() {
    let out = explain(&[
        "--host",
        "db1",
        "/etc/postgresql/16/main/postgresql.conf",
        "max_connections",
    ]);
    out.code(0)
        .stdout_has("      from postgres.workload (its default; not in ");
    explain(&[
        "--host",
        "db1",
        "/etc/postgresql/16/main/postgresql.conf",
        "checkpoint_completion_target",
    ])
    .code(0)
    .stdout_has(
        "      default: PGTune's value for every workload\n      a change takes a reload\n",
    );
}

#[test]
fn a_value_from_the_spec_names_its_line() {
    let spec = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    let line = spec.lines().position(|l| l == "  port: 5432").unwrap() + 1;
    explain(&[
        "--host",
        "db1",
        "/etc/postgresql/16/main/postgresql.conf",
        "port",
    ])
    .code(0)
    .stdout_has(&format!("site.yaml:{line}:9 (postgres.port)\n"));
}

#[test]
fn a_version_rule_says_which_version() {
    explain(&[
        "--host",
        "web1",
        "/etc/nginx/conf.d/catmaid.conf",
        "ssl_ecdh_curve",
    ])
    .code(0)
    .stdout_has("(nginx.openssl): no X25519MLKEM768 before OpenSSL 3.5\n");
    let pg11 = Sitewright::new()
        .arg("explain")
        .arg(fixture("catmaid-pg11/site.yaml"))
        .args([
            "--host",
            "db2",
            "/var/lib/postgresql/11/main/recovery.conf",
            "trigger_file",
        ])
        .run();
    pg11.code(0).stdout_has(
        "(postgres.replication.promote_trigger_file): PostgreSQL 11 calls it trigger_file\n",
    );
}

#[test]
fn the_busy_buffers_size_says_how_it_was_derived() {
    explain(&[
        "--host",
        "web1",
        "/etc/nginx/conf.d/catmaid.conf",
        "proxy_busy_buffers_size",
    ])
    .code(0)
    .stdout_has("proxy_busy_buffers_size 128k;\n")
    .stdout_has("(nginx.https.proxy_buffers): twice the larger of proxy_buffer_size and one of proxy_buffers, as nginx derives it\n");
    let spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replace("count: 512, size: 4kB", "count: 20, size: 4kB");
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), spec).unwrap();
    Sitewright::new()
        .in_dir(dir.path())
        .args(["explain", "site.yaml", "--host", "web1"])
        .args(["/etc/nginx/conf.d/catmaid.conf", "proxy_busy_buffers_size"])
        .run()
        .code(0)
        .stdout_has("proxy_busy_buffers_size 76k;\n")
        .stdout_has("all proxy_buffers but one, the most nginx accepts (twice proxy_buffer_size, its default, is more)\n");
}

#[test]
fn every_line_of_a_file_is_explained_and_unknown_keys_are_refused() {
    let out = explain(&["--host", "db1", "/etc/sysctl.d/60-sitewright.conf"]);
    out.code(0)
        .stdout_has("vm.dirty_bytes = 1073741824\n      from ")
        .stdout_has("(sysctl.settings.vm.dirty_bytes): 1GB in bytes\n");
    explain(&[
        "--host",
        "db1",
        "/etc/sysctl.d/60-sitewright.conf",
        "vm.nothing",
    ])
    .code(2)
    .stderr_has("no line of /etc/sysctl.d/60-sitewright.conf on db1 sets `vm.nothing`");
    explain(&["--host", "db1", "/etc/nope.conf"])
        .code(2)
        .stderr_has("db1 has no rendered file /etc/nope.conf; its files are ");
}

fn check(spec: &str, extra: &[&str]) -> crate::support::Outcome {
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), spec).unwrap();
    Sitewright::new()
        .in_dir(dir.path())
        .args(["check", "site.yaml"])
        .args(extra)
        .run()
}

#[test]
fn problems_are_grouped_by_host_and_counted() {
    let spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replace(
            "    roles: [postgres-replica]\n",
            "    roles: [postgres-replica]\n    postgres_settings: { max_connections: 50 }\n",
        )
        .replace("expected_connections: 100", "expected_connections: 10000");
    let out = check(&spec, &[]);
    out.code(1);
    let warning = out
        .stderr
        .find("warning[NGX007]")
        .expect("the site-wide warning");
    let group = out.stderr.find("host db2:\n").expect("db2's group");
    let error = out
        .stderr
        .find("error[PG017]: max_connections is 50 on standby db2 but 200 on its primary db1")
        .expect("the standby rule");
    assert!(warning < group && group < error, "{}", out.stderr);
    assert!(
        out.stderr.ends_with("site.yaml: 1 error, 1 warning\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("; see site.yaml:"),
        "the primary's place is named too:\n{}",
        out.stderr
    );
}

#[test]
fn warnings_fail_only_when_denied_and_json_is_for_ci() {
    let spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replace("expected_connections: 100", "expected_connections: 10000");
    check(&spec, &[])
        .code(0)
        .stdout_has("ok: 3 hosts, 14 files; 0 errors, 1 warning");
    check(&spec, &["--deny-warnings"]).code(1);
    let json = check(&spec, &["--format", "json"]);
    json.code(0);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["errors"], 0);
    assert_eq!(report["warnings"], 1);
    let d = &report["diagnostics"][0];
    assert_eq!(d["id"], "NGX007");
    assert_eq!(d["severity"], "warning");
    assert_eq!(d["file"], "site.yaml");
    assert!(d["line"].as_u64().unwrap() > 0 && d["column"].as_u64().unwrap() > 0);
    assert_eq!(json.stderr, "", "JSON mode prints nothing else");
}

#[test]
fn the_caching_proxy_says_why_it_retries_once_and_hides_its_version() {
    let idr = |key: &str| {
        Sitewright::new()
            .arg("explain")
            .arg(fixture("idr/site.yaml"))
            .args([
                "--host",
                "idr-proxy",
                "/etc/nginx/conf.d/idr-cache.conf",
                key,
            ])
            .run()
    };
    idr("proxy_next_upstream_tries")
        .code(0)
        .stdout_has("proxy_next_upstream_tries 2;\n")
        .stdout_has("the first backend and one retry");
    idr("proxy_next_upstream_timeout")
        .code(0)
        .stdout_has("proxy_next_upstream_timeout 10m;\n")
        .stdout_has("no retry once it has run out");
    idr("server_tokens")
        .code(0)
        .stdout_has("server_tokens off;\n")
        .stdout_has("do not tell which nginx version runs");
    explain(&[
        "--host",
        "web1",
        "/etc/nginx/conf.d/catmaid.conf",
        "server_tokens",
    ])
    .code(0)
    .stdout_has("server_tokens off;\n");
}

/// The replica's and Django's TLS to the primary come from `postgres.ssl.ca`, and say what the
/// primary's certificate must name.
#[test]
fn verified_tls_names_the_ca_it_comes_from() {
    let spec = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    let line = spec
        .lines()
        .position(|l| l.starts_with("    ca: "))
        .unwrap()
        + 1;
    explain(&[
        "--host",
        "db2",
        "/etc/postgresql/16/main/postgresql.conf",
        "primary_conninfo",
    ])
    .code(0)
    .stdout_has(&format!(
        "site.yaml:{line}:9 (postgres.ssl.ca): verified against postgres.ssl.ca: the primary's certificate must name 192.0.2.11; the password is in the passfile, not here\n"
    ));
    explain(&[
        "--host",
        "web1",
        "/srv/catmaid/django/projects/mysite/settings_production.py",
        "OPTIONS",
    ])
    .code(0)
    .stdout_has(&format!(
        "site.yaml:{line}:9 (postgres.ssl.ca): SSL to a remote database, its certificate verified against the CA\n"
    ));
}

/// Values the spec leaves out are sitewright's defaults, named as such: never credited to the
/// nearest line the spec does have (once `server_name`, the first key of `nginx.https`).
#[test]
fn left_out_values_and_constants_are_named_defaults() {
    let spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replace("    access_log: off\n", "")
        .replace("    proxy_buffers: { count: 512, size: 4kB }\n", "");
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), spec).unwrap();
    let explain = |key: &str| {
        Sitewright::new()
            .in_dir(dir.path())
            .args(["explain", "site.yaml", "--host", "web1"])
            .args(["/etc/nginx/conf.d/catmaid.conf", key])
            .run()
    };
    let access = explain("access_log");
    access.code(0).stdout_has(
        "access_log off;\n      default: no access log, the default of nginx.https.access_log",
    );
    let buffers = explain("proxy_buffers");
    buffers.code(0).stdout_has(
        "proxy_buffers 32 4k;\n      default: 32 of 4k, the default of nginx.https.proxy_buffers",
    );
    for out in [&access, &buffers] {
        assert!(!out.stdout.contains("server_name"), "{}", out.stdout);
    }
    explain("proxy_busy_buffers_size")
        .code(0)
        .stdout_has("proxy_busy_buffers_size 124k;\n      derived: all proxy_buffers but one");
    explain("keepalive").code(0).stdout_has(
        "keepalive 16;\n      default: 16 idle connections kept open to the servers, so that a request skips the TCP handshake\n",
    );
}

/// Every line of an nginx file that is not a comment or a brace names where its values come from;
/// only the lines that open a block are the template's own text.
#[test]
fn every_nginx_line_names_its_facts() {
    for (spec, host, path) in [
        (
            "catmaid/site.yaml",
            "web1",
            "/etc/nginx/conf.d/catmaid.conf",
        ),
        (
            "catmaid/site.yaml",
            "db1",
            "/etc/nginx/sitewright-stream.conf",
        ),
        (
            "idr/site.yaml",
            "idr-proxy",
            "/etc/nginx/conf.d/idr-cache.conf",
        ),
    ] {
        let out = Sitewright::new()
            .arg("explain")
            .arg(fixture(spec))
            .args(["--host", host, path])
            .run();
        out.code(0);
        let lines: Vec<&str> = out.stdout.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if *line == "      the template's own text" {
                let text = lines[i - 1].trim_start().split_once("  ").unwrap().1.trim();
                assert!(
                    ["server {", "location / {", "stream {"].contains(&text),
                    "{path}: `{text}` has no fact\n{}",
                    out.stdout
                );
            }
        }
    }
}

const SETTINGS: &str = "/srv/catmaid/django/projects/mysite/settings_production.py";

/// Every line of the Django settings module that writes a value says where the value came from;
/// only the module's own code (its imports, the secret-file helper, the dicts' braces) does not.
#[test]
fn every_line_of_the_django_module_is_explained() {
    let out = explain(&["--host", "web1", SETTINGS]);
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().skip(1).collect();
    let own_text: Vec<&str> = lines
        .windows(2)
        .filter(|pair| pair[1] == "      the template's own text")
        .map(|pair| pair[0].trim_start().split_once("  ").unwrap().1.trim())
        .collect();
    assert_eq!(
        own_text,
        [
            "import os",
            "import pathlib",
            "return pathlib.Path(path).read_text().rstrip(\"\\n\")",
            "DATABASES = {",
            "},",
        ],
        "{}",
        out.stdout
    );
    out.stdout_has("\"NAME\": \"catmaid\",\n      from ")
        .stdout_has("(django.database.name)\n")
        .stdout_has("\"PASSWORD\": os.environ[\"CATMAID_DB_PASSWORD\"],\n      from ")
        .stdout_has("(django.database.password): read when Django starts\n")
        .stdout_has("\"ENGINE\": \"django.db.backends.postgresql\",\n      default: ")
        .stdout_has("DEBUG = False\n      default: a production site: ");
}

/// A setting sitewright writes the same on every site is a named default, with its reason; one
/// the Django version decides is a version rule that names the version.
#[test]
fn django_defaults_and_version_rules_say_which_they_are() {
    let spec = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    let version = spec
        .lines()
        .position(|l| l == "  version: \"5.2\"")
        .unwrap()
        + 1;
    explain(&["--host", "web1", SETTINGS, "X_FRAME_OPTIONS"])
        .code(0)
        .stdout_has("X_FRAME_OPTIONS = \"DENY\"\n      default: DENY: no other site may frame the site's pages, so none can trick a click on them (security.W019)\n");
    explain(&["--host", "web1", SETTINGS, "CONN_HEALTH_CHECKS"])
        .code(0)
        .stdout_has("\"CONN_HEALTH_CHECKS\": True,\n      version rule, from ")
        .stdout_has(&format!(
            "site.yaml:{version}:12 (django.version): from Django 4.1, with persistent connections"
        ));
    let spec = spec
        .replace("  version: \"5.2\"", "  version: \"4.0\"")
        .replace(
            "  base_module: mysite.settings\n",
            "  base_module: mysite.settings\n  cache: { backend: memcached, location: \"10.0.0.5:11211\" }\n",
        );
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), spec).unwrap();
    Sitewright::new()
        .in_dir(dir.path())
        .args(["explain", "site.yaml", "--host", "web1", SETTINGS, "CACHES"])
        .run()
        .code(0)
        .stdout_has("CACHES = {\"default\": {\"BACKEND\": \"django.core.cache.backends.memcached.MemcachedCache\", \"LOCATION\": \"10.0.0.5:11211\"}}\n")
        .stdout_has(&format!(
            "      version rule, from site.yaml:{version}:12 (django.version): MemcachedCache before Django 4.1, which removed it\n"
        ))
        .stdout_has("(django.cache.location)\n");
}

/// An overridden template is explained as it lays the file out: a value it takes from the plan
/// keeps its origin wherever the template moved it, and text the template writes itself is said
/// to be the template's, never credited to a spec line.
#[test]
fn an_overridden_template_is_explained_as_it_lays_the_file_out() {
    let dir = temp_dir();
    let templates = dir.path().join("templates");
    fs::create_dir_all(templates.join("postgres")).unwrap();
    fs::write(
        templates.join("postgres/postgresql.conf.pgconf"),
        "# my own layout\nshared_buffers = 1GB\n{% for s in settings|reverse %}{{ s.name|ident }} = {{ s.value }}\n{% endfor %}",
    )
    .unwrap();
    let out = Sitewright::new()
        .arg("explain")
        .arg(fixture("catmaid/site.yaml"))
        .args(["--host", "db1", "/etc/postgresql/16/main/postgresql.conf"])
        .arg("--templates")
        .arg(&templates)
        .run();
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    // The hard-coded line is the template's; the template's first loop line is the last setting.
    assert_eq!(lines[1], "   2  shared_buffers = 1GB", "{}", out.stdout);
    assert_eq!(lines[2], "      the template's own text", "{}", out.stdout);
    assert_eq!(lines[3], "   3  autovacuum = on", "{}", out.stdout);
    assert!(
        lines[4].ends_with("(postgres.settings.autovacuum)"),
        "{}",
        out.stdout
    );
    let shared = lines
        .iter()
        .position(|l| l.ends_with("  shared_buffers = 16GB"))
        .expect("the derived shared_buffers is still written");
    assert!(
        lines[shared + 1].ends_with("(hosts[0].memory): 25% of 64GB"),
        "{}",
        out.stdout
    );
}
