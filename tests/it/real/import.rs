//! `sitewright import` on the files Debian's postgresql-common writes (issue 20): the real
//! `pg_createcluster 15 main`, with its defaults, makes a cluster inside a machine of the ssh lab
//! (tests/it/support/machine.rs), so its files land in the machine's tree and the real machine's
//! /etc/postgresql and /var/lib/postgresql stay as they were. Its config files, and no file of
//! the data directory, are the `--live` layout that `import --keep-live` reads. The spec it
//! writes passes `check`; every setting of Debian's postgresql.conf is rendered with the same
//! value or named in a `note:` line of the report, none dropped silently; the same holds for
//! each record of Debian's pg_hba.conf; each setting the report says the spec adds is rendered
//! with the value it says; and the rendered postgresql.conf runs on the real PostgreSQL 15 with
//! no error in pg_file_settings.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::support::ssh::Lab;
use crate::support::{Outcome, Sitewright, temp_dir};

/// The major of Debian 12's PostgreSQL, the one pg_createcluster makes here.
const MAJOR: u32 = 15;

/// Where Debian keeps the cluster's config files.
const CONFIG_DIR: &str = "/etc/postgresql/15/main";

/// The folders pg_createcluster writes to on a real host: the machine shows its own.
const REAL_FOLDERS: &[&str] = &[
    "/etc/postgresql",
    "/var/lib/postgresql",
    "/var/log/postgresql",
    "/run/postgresql",
];

/// A path's mode (its kind too), owner, group and, for a file, its bytes.
type Entry = (u32, u32, u32, Option<Vec<u8>>);

/// Each path under `root`, `root` included, as an [`Entry`].
fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let bytes = if meta.is_file() {
            Some(fs::read(&path).unwrap())
        } else {
            None
        };
        if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        }
        out.insert(
            path.display().to_string(),
            (meta.mode(), meta.uid(), meta.gid(), bytes),
        );
    }
    out
}

fn real_folders() -> BTreeMap<String, Entry> {
    REAL_FOLDERS
        .iter()
        .flat_map(|dir| snapshot(Path::new(dir)))
        .collect()
}

/// Copies the folder `from` to `to`, files and folders (config files only: no links).
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Each `name = value` (or `name value`) of a postgresql.conf text, unquoted, as the server reads
/// it, the last line of a name winning; include_dir and the other directives too, by name.
fn settings(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let end = l.find(|c: char| c == '=' || c.is_whitespace())?;
            let name = &l[..end];
            let rest = l[end..].trim_start().trim_start_matches('=').trim();
            let value = if let Some(quoted) = rest.strip_prefix('\'') {
                quoted[..quoted.rfind('\'')?].replace("''", "'")
            } else {
                rest.split_whitespace().next().unwrap_or("").to_owned()
            };
            Some((name.to_lowercase(), value))
        })
        .collect()
}

/// Whether two values are the same to PostgreSQL, as far as a text can tell.
fn same(a: &str, b: &str) -> bool {
    let norm = |v: &str| match v.to_ascii_lowercase().as_str() {
        "on" | "true" => "on".to_owned(),
        "off" | "false" => "off".to_owned(),
        other => other.to_owned(),
    };
    norm(a) == norm(b)
}

/// The `note:` lines of the import's report about host `host`.
fn notes<'a>(stderr: &'a str, host: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| {
            l.strip_prefix("note: ")
                .and_then(|l| l.strip_prefix(host))
                .is_some_and(|l| l.starts_with(['/', ':']))
        })
        .collect()
}

/// Debian's cluster, imported: what each step left.
struct Imported {
    _work: tempfile::TempDir,
    /// The `--live` layout: `live/db1/etc/postgresql/15/main/…`, an empty data directory.
    live: PathBuf,
    spec: PathBuf,
    import: Outcome,
    /// `sitewright render spec -o rendered`.
    rendered: PathBuf,
}

impl Imported {
    fn live_file(&self, name: &str) -> String {
        fs::read_to_string(self.live.join(format!("db1{CONFIG_DIR}/{name}"))).unwrap()
    }

    fn rendered_file(&self, name: &str) -> String {
        let path = self.rendered.join(format!("db1{CONFIG_DIR}/{name}"));
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn spec_text(&self) -> String {
        fs::read_to_string(&self.spec).unwrap()
    }
}

/// Runs the real pg_createcluster in a machine at `address`, copies its config files to a
/// `--live` layout, imports it with `--keep-live`, checks the spec and renders it.
#[track_caller]
fn import_debians_cluster(address: &str) -> Imported {
    import_debians_cluster_with(address, &[])
}

/// [`import_debians_cluster`] with `extra` files in the live tree beside it (`HOST/path`, text).
#[track_caller]
fn import_debians_cluster_with(address: &str, extra: &[(&str, String)]) -> Imported {
    let work = temp_dir();
    let before = real_folders();
    let tree = work.path().join("debian");
    fs::create_dir_all(&tree).unwrap();
    let started = Instant::now();
    {
        let lab = Lab::new();
        let machine = lab.machine("debian", address, &tree);
        // What postgresql-common's packaging makes on a real host (tmpfiles.d and postinst): the
        // socket folder is postgres's, setgid, so that pg_createcluster picks it over /tmp; the log
        // folder is root's, group postgres, sticky.
        let output = machine.run(&format!(
            "set -e
             chown postgres:postgres /var/run/postgresql && chmod 2775 /var/run/postgresql
             chown root:postgres /var/log/postgresql && chmod 1775 /var/log/postgresql
             dpkg-query -W postgresql-common postgresql-{MAJOR}
             pg_createcluster {MAJOR} main"
        ));
        assert!(
            output.status.success(),
            "pg_createcluster {MAJOR} main failed in the machine ({})\n--- stdout\n{}--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!(
            "pg_createcluster {MAJOR} main in {:?}:\n{}",
            started.elapsed(),
            String::from_utf8_lossy(&output.stdout)
        );
    }
    assert!(
        real_folders() == before,
        "the real machine's {REAL_FOLDERS:?} changed: pg_createcluster ran outside the machine"
    );
    let config = tree.join(&CONFIG_DIR[1..]);
    for name in [
        "postgresql.conf",
        "pg_hba.conf",
        "pg_ident.conf",
        "start.conf",
    ] {
        assert!(
            config.join(name).is_file(),
            "pg_createcluster wrote no {}",
            config.join(name).display()
        );
    }
    assert_eq!(
        fs::read_to_string(tree.join("var/lib/postgresql/15/main/PG_VERSION")).unwrap(),
        format!("{MAJOR}\n"),
        "pg_createcluster made the data directory in the machine's tree"
    );

    // The live layout: the config folder whole, the data directory empty (no standby.signal).
    let live = work.path().join("live");
    copy_dir(&config, &live.join(format!("db1{CONFIG_DIR}")));
    fs::create_dir_all(live.join("db1/var/lib/postgresql/15/main")).unwrap();
    for (path, text) in extra {
        let to = live.join(path);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::write(&to, text).unwrap();
    }

    let spec = work.path().join("site.yaml");
    let started = Instant::now();
    let import = Sitewright::new()
        .arg("import")
        .arg(&live)
        .arg("-o")
        .arg(&spec)
        .arg("--keep-live")
        .run();
    eprintln!("import in {:?}", started.elapsed());
    assert!(
        matches!(import.code, 0 | 1),
        "import exited {}\n--- stdout\n{}--- stderr\n{}",
        import.code,
        import.stdout,
        import.stderr
    );
    import.stderr_has(&format!("sitewright: wrote {}", spec.display()));
    let checked = Sitewright::new().arg("check").arg(&spec).run();
    assert!(
        checked.code == 0,
        "`sitewright check` refuses the imported spec (exit {}):\n--- spec\n{}--- stdout\n{}--- stderr\n{}--- import's stderr\n{}",
        checked.code,
        fs::read_to_string(&spec).unwrap(),
        checked.stdout,
        checked.stderr,
        import.stderr
    );
    let rendered = work.path().join("rendered");
    Sitewright::new()
        .arg("render")
        .arg(&spec)
        .arg("-o")
        .arg(&rendered)
        .run()
        .code(0);
    Imported {
        _work: work,
        live,
        spec,
        import,
        rendered,
    }
}

#[test]
fn debians_postgresql_conf_is_imported_every_setting_kept_or_named_and_its_render_runs() {
    let imported = import_debians_cluster("127.0.0.91");
    let live = settings(&imported.live_file("postgresql.conf"));
    let rendered = settings(&imported.rendered_file("postgresql.conf"));
    let notes = notes(&imported.import.stderr, "db1");
    // Debian's own lines, so that a parse that found nothing proves nothing.
    for name in [
        "data_directory",
        "hba_file",
        "ident_file",
        "port",
        "max_connections",
        "unix_socket_directories",
        "ssl",
        "shared_buffers",
        "cluster_name",
        "include_dir",
    ] {
        assert!(
            live.contains_key(name),
            "Debian's postgresql.conf has no {name}: {live:?}"
        );
    }
    let mut kept = Vec::new();
    let mut named = Vec::new();
    let mut dropped = Vec::new();
    for (name, value) in &live {
        if rendered.get(name).is_some_and(|r| same(r, value)) {
            kept.push(name.as_str());
        } else if let Some(note) = notes.iter().find(|l| l.contains(name.as_str())) {
            named.push(format!("{name}: {note}"));
        } else {
            dropped.push(format!(
                "{name} = {value:?} (rendered: {:?})",
                rendered.get(name)
            ));
        }
    }
    eprintln!(
        "Debian's postgresql.conf: {} settings, {} rendered the same, {} named in the report:\n{}",
        live.len(),
        kept.len(),
        named.len(),
        named.join("\n")
    );
    assert!(
        dropped.is_empty(),
        "settings of Debian's postgresql.conf neither rendered the same nor named in a `note:` line:\n{}\n--- import's stderr\n{}--- spec\n{}",
        dropped.join("\n"),
        imported.import.stderr,
        imported.spec_text()
    );

    // The host after the render is applied: its live config files, the rendered ones over them
    // (conf.d, which include_dir names, and Debian's pg_ident.conf stay), a fresh data directory.
    let host = imported.rendered.parent().unwrap().join("applied");
    copy_dir(&imported.live.join("db1"), &host);
    copy_dir(&imported.rendered.join("db1"), &host);
    let lab = Lab::new();
    let machine = lab
        .machine("db1", "127.0.0.92", &host)
        .with_pg_user("postgres");
    let started = Instant::now();
    machine.start_postgres(MAJOR);
    eprintln!(
        "PostgreSQL {MAJOR} (initdb included) on the rendered files in {:?}",
        started.elapsed()
    );
    assert_eq!(
        machine.sql(
            "select coalesce(string_agg(sourcefile || ':' || sourceline || ' ' || name || ': ' || error, E'\\n'), '') \
             from pg_file_settings where error is not null"
        ),
        "",
        "pg_file_settings has errors"
    );
    assert_eq!(
        machine.sql(
            "select coalesce(string_agg(line_number || ': ' || error, E'\\n'), '') \
             from pg_hba_file_rules where error is not null"
        ),
        "",
        "pg_hba_file_rules has errors"
    );
    // Every line of the rendered file is read from it and applied (none overridden or refused).
    let conf = format!("{CONFIG_DIR}/postgresql.conf");
    assert_eq!(
        machine.sql(&format!(
            "select coalesce(string_agg(name, ', ' order by name), '') from pg_file_settings \
             where sourcefile = '{conf}' and not applied"
        )),
        "",
        "settings of the rendered file the server did not apply"
    );
    assert_eq!(machine.sql("show config_file"), conf);
    for (name, value) in [
        ("ssl", "on"),
        ("cluster_name", "15/main"),
        ("unix_socket_directories", "/var/run/postgresql"),
        ("ident_file", "/etc/postgresql/15/main/pg_ident.conf"),
    ] {
        if live.get(name).is_some_and(|v| same(v, value)) {
            assert_eq!(machine.sql(&format!("show {name}")), value, "{name}");
        }
    }
}

/// The records of a pg_hba.conf text, their fields joined by one space.
fn hba_records(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn debians_pg_hba_records_are_kept_or_named_in_the_report() {
    let imported = import_debians_cluster("127.0.0.93");
    let live = hba_records(&imported.live_file("pg_hba.conf"));
    assert!(
        live.iter().any(|r| r.starts_with("host ")),
        "Debian's pg_hba.conf has host records: {live:?}"
    );
    let rendered = hba_records(&imported.rendered_file("pg_hba.conf"));
    let about_hba: Vec<&str> = notes(&imported.import.stderr, "db1")
        .into_iter()
        .filter(|l| l.contains("pg_hba"))
        .collect();
    let dropped: Vec<&String> = live
        .iter()
        .filter(|record| {
            let fields: Vec<&str> = record.split(' ').collect();
            // A note names a record by its text, or by its address (a host record's fourth field).
            let named = about_hba.iter().any(|note| {
                note.contains(record.as_str())
                    || (fields[0] != "local" && fields.len() > 3 && note.contains(fields[3]))
            });
            !rendered.contains(record) && !named
        })
        .collect();
    assert!(
        dropped.is_empty(),
        "records of Debian's pg_hba.conf neither rendered nor named in a `note:` line:\n{}\n--- rendered pg_hba.conf records\n{}\n--- import's stderr\n{}--- spec\n{}",
        dropped
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        rendered.join("\n"),
        imported.import.stderr,
        imported.spec_text()
    );
}

#[test]
fn the_settings_the_report_says_the_spec_adds_are_rendered_with_the_values_it_says() {
    let imported = import_debians_cluster("127.0.0.94");
    let rendered = settings(&imported.rendered_file("postgresql.conf"));
    let prefix = format!("note: db1{CONFIG_DIR}/postgresql.conf: the spec adds ");
    let added: Vec<(&str, &str)> = imported
        .import
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str())?.split_once(" = "))
        .collect();
    assert!(
        !added.is_empty(),
        "the report names no setting the spec adds:\n{}",
        imported.import.stderr
    );
    let wrong: Vec<String> = added
        .iter()
        .filter(|(name, value)| !rendered.get(*name).is_some_and(|r| same(r, value)))
        .map(|(name, value)| {
            format!(
                "the report says the spec adds {name} = {value}; the render writes {:?}",
                rendered.get(*name)
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{}\n--- rendered postgresql.conf\n{}--- spec\n{}",
        wrong.join("\n"),
        imported.rendered_file("postgresql.conf"),
        imported.spec_text()
    );
}

/// A hand-written TLS server in front of an application, as an operator writes it.
const APP_SERVER: &str = "# The application, by hand.
server {
    listen 443 ssl;
    server_name app.example.org;
    ssl_certificate /etc/ssl/certs/app.example.org.pem;
    ssl_certificate_key /etc/ssl/private/app.example.org.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 50m;

    location /static/ {
        alias /srv/app/static/;
    }

    location / {
        proxy_pass http://127.0.0.1:8000;
        proxy_set_header Host $host;
    }
}
";

/// The application's settings module, by hand, with its secrets written in it.
const APP_SETTINGS: &str = "\"\"\"Production settings of the app, by hand.\"\"\"
from app.settings import *

DEBUG = False
SECRET_KEY = 'not-the-real-key-4f1c'
ALLOWED_HOSTS = ['app.example.org']
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'app',
        'USER': 'app',
        'PASSWORD': 'hunter2-9c1e',
        'HOST': 'localhost',
        'PORT': '5432',
    }
}
";

/// Debian's own nginx files (Debian 13's nginx-common: nginx.conf and the default site, enabled)
/// beside a hand-written TLS server and a Django settings module on web1, with Debian's
/// PostgreSQL cluster on db1: the TLS server is imported as the spec's `nginx.https`, the default
/// site is named as not imported, no secret is copied, the spec passes `check`, and the real
/// nginx accepts the rendered server (`nginx -t`, the build the spec's version names).
#[test]
fn debians_default_nginx_site_and_a_hand_written_tls_server_are_imported_and_nginx_accepts_the_render()
 {
    let default_site = fs::read_to_string(crate::support::installed(
        "SITEWRIGHT_DEBIAN_NGINX_DEFAULT_SITE",
    ))
    .unwrap();
    assert!(
        default_site.contains("listen 80 default_server;"),
        "Debian's default site:\n{default_site}"
    );
    let nginx_conf = Path::new(&crate::support::installed(
        "SITEWRIGHT_DEBIAN_NGINX_DEFAULT_SITE",
    ))
    .ancestors()
    .nth(2)
    .unwrap()
    .join("nginx.conf");
    let nginx_conf =
        fs::read_to_string(&nginx_conf).unwrap_or_else(|e| panic!("{}: {e}", nginx_conf.display()));
    let imported = import_debians_cluster_with(
        "127.0.0.92",
        &[
            ("web1/etc/nginx/nginx.conf", nginx_conf),
            (
                "web1/etc/nginx/sites-available/default",
                default_site.clone(),
            ),
            ("web1/etc/nginx/sites-enabled/default", default_site),
            ("web1/etc/nginx/conf.d/app.conf", APP_SERVER.to_owned()),
            (
                "web1/srv/app/app/settings_production.py",
                APP_SETTINGS.to_owned(),
            ),
        ],
    );
    let spec = imported.spec_text();
    let report = &imported.import.stderr;
    for secret in ["not-the-real-key-4f1c", "hunter2-9c1e"] {
        assert!(
            !spec.contains(secret)
                && !report.contains(secret)
                && !imported.import.stdout.contains(secret),
            "{secret} was copied:\n{spec}\n{report}"
        );
    }
    for expected in [
        "server_name: app.example.org",
        "certificate: /etc/ssl/certs/app.example.org.pem",
        "certificate_key: /etc/ssl/private/app.example.org.key",
        "\"127.0.0.1:8000\"",
        "client_max_body_size: 50MB",
        "settings_file: /srv/app/app/settings_production.py",
        "base_module: app.settings",
    ] {
        assert!(
            spec.contains(expected),
            "the spec lacks `{expected}`:\n{spec}\n{report}"
        );
    }
    assert!(
        report.contains("web1/etc/nginx/sites-enabled/default"),
        "the default site is not named in the report:\n{report}"
    );
    assert!(
        spec.contains("- web"),
        "web1 is the spec's web host:\n{spec}"
    );
    // The rendered server, on loopback with a certificate of the test's, through the real nginx
    // of the version the spec names.
    let build = if spec.contains("version: \"1.26\"") {
        crate::support::nginx::Build::debian13()
    } else {
        crate::support::nginx::Build::debian12()
    };
    let web1 = imported.rendered.join("web1");
    let files: Vec<(String, String)> = crate::support::tree(&web1)
        .into_iter()
        .filter(|(path, _)| path.starts_with("etc/nginx/"))
        .map(|(path, bytes)| (format!("/{path}"), String::from_utf8(bytes).unwrap()))
        .collect();
    assert!(
        files
            .iter()
            .any(|(p, _)| p.ends_with("/conf.d/live.conf") || p.contains("/conf.d/")),
        "no nginx server rendered for web1: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    let work = temp_dir();
    let (cert, key) = (
        work.path().join("server.crt"),
        work.path().join("server.key"),
    );
    let openssl = std::process::Command::new(crate::support::installed("SITEWRIGHT_OPENSSL"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(openssl.status.success(), "openssl req failed");
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let (layout, _) = crate::support::nginx::Layout::on_loopback(
        &work.path().join("nginx"),
        &build,
        &borrowed,
        &cert,
        &key,
    );
    let test = layout.test(&build);
    assert!(
        test.status.success(),
        "nginx -t refuses the imported spec's render:\n{}\n--- spec\n{spec}",
        String::from_utf8_lossy(&test.stderr)
    );
}
