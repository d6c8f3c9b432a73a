//! The Django part judged by what its import renders back: each fixture's spec, with its
//! `django` and `postgres.backup` replaced by the imported ones, must render the golden settings
//! module, cron entry and role defaults byte for byte.

use std::collections::BTreeMap;

use super::super::testing::{fixture, render};
use super::super::{HostTree, Known, Map, Node, Note, Part};
use crate::yaml::document;

fn known(addresses: &[(&str, &str)], primary: &str) -> Known {
    Known {
        addresses: addresses
            .iter()
            .map(|(h, a)| ((*h).to_owned(), (*a).to_owned()))
            .collect(),
        primary: Some(primary.to_owned()),
        postgres_port: Some(5432),
    }
}

/// The value `part` gives at `path`.
fn value<'a>(part: &'a Part, path: &[&str]) -> Option<&'a Node> {
    part.values
        .iter()
        .find(|(p, _)| p.as_slice() == path)
        .map(|(_, v)| v)
}

/// `text` without the block that starts at the line `header` and runs to the next line indented
/// no deeper than it; gives the text and the line the block was at.
fn cut(text: &str, header: &str) -> (String, usize) {
    let indent = header.len() - header.trim_start().len();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == header)
        .unwrap_or_else(|| panic!("no `{header}` in the spec"));
    let end = lines[start + 1..]
        .iter()
        .position(|l| !l.trim().is_empty() && l.len() - l.trim_start().len() <= indent)
        .map_or(lines.len(), |n| start + 1 + n);
    let kept: Vec<&str> = lines[..start]
        .iter()
        .chain(&lines[end..])
        .copied()
        .collect();
    (kept.join("\n") + "\n", start)
}

/// The fixture's spec with its `django` and `postgres.backup` replaced by `part`'s.
fn spec_with(name: &str, part: &Part) -> String {
    let path = format!("{}/fixtures/{name}/site.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let (mut text, _) = cut(&text, "django:");
    if let Some(backup) = value(part, &["postgres", "backup"]) {
        let (without, at) = cut(&text, "  backup:");
        let mut wrapper = Map::new();
        wrapper.set("backup", backup.clone());
        let block: String = document(&wrapper)
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect();
        let mut lines: Vec<String> = without.lines().map(|l| format!("{l}\n")).collect();
        lines.insert(at, block);
        text = lines.concat();
    }
    let mut top = Map::new();
    top.set(
        "django",
        value(part, &["django"]).expect("a django section").clone(),
    );
    text + &document(&top)
}

/// Imports fixture `name`, renders the spec with the import's sections, and compares `files`
/// (host, path) with the golden tree; gives the part and its notes.
fn round_trip(name: &str, known: &Known, files: &[(&str, &str)]) -> (Part, Vec<Note>, String) {
    let hosts = fixture(name);
    let mut notes = Vec::new();
    let part = super::import(&hosts, known, &mut notes);
    let spec = spec_with(name, &part);
    let rendered = render(&spec).unwrap_or_else(|e| panic!("{name}: {e}\n{spec}"));
    let golden: BTreeMap<(String, String), &str> = hosts
        .iter()
        .flat_map(|h| {
            h.files
                .iter()
                .map(|(p, t)| ((h.name.clone(), p.clone()), t.as_str()))
        })
        .collect();
    for (host, path) in files {
        let key = ((*host).to_owned(), (*path).to_owned());
        let want = golden
            .get(&key)
            .unwrap_or_else(|| panic!("{name}: no golden {host}{path}"));
        let got = rendered
            .get(&key)
            .unwrap_or_else(|| panic!("{name}: {host}{path} not rendered\n{spec}"));
        assert_eq!(got, want, "{name}: {host}{path}\n{spec}");
        assert!(
            part.read.contains(&key),
            "{name}: {host}{path} not marked read"
        );
    }
    (part, notes, spec)
}

const CATMAID_SETTINGS: &str = "/srv/catmaid/django/projects/mysite/settings_production.py";
const CATMAID_CRON: &str = "/etc/cron.d/sitewright-catmaid-pg-dump";

#[test]
fn catmaid_round_trips_its_settings_backup_and_role_defaults() {
    let k = known(&[("db1", "192.0.2.11"), ("db2", "192.0.2.12")], "db1");
    let (part, notes, spec) = round_trip(
        "catmaid",
        &k,
        &[
            ("web1", CATMAID_SETTINGS),
            ("db1", CATMAID_CRON),
            (
                "db1",
                "/etc/postgresql/16/main/sitewright-role-defaults.sql",
            ),
        ],
    );
    assert_eq!(notes, Vec::new(), "{spec}");
    assert!(
        spec.contains("  version: \"5.2\"  # the file does not say it;"),
        "{spec}"
    );
    // web1 has nginx files: the nginx part gives it web.
    assert!(part.roles.is_empty());
    assert!(
        spec.contains("secret_key:\n    env: DJANGO_SECRET_KEY\n"),
        "{spec}"
    );
    assert!(
        spec.contains("password:\n      env: CATMAID_DB_PASSWORD\n"),
        "{spec}"
    );
    assert!(
        spec.contains("STATIC_EXTENSION_FILES:\n      tuple:\n        - test.js\n"),
        "{spec}"
    );
    assert!(
        spec.contains("exclude_tables:\n      - treenode_edge\n"),
        "{spec}"
    );
}

#[test]
fn catmaid_pg11_round_trips_its_settings_backup_and_role_defaults() {
    let k = known(&[("db1", "192.0.2.11"), ("db2", "192.0.2.12")], "db1");
    let (_, notes, spec) = round_trip(
        "catmaid-pg11",
        &k,
        &[
            ("web1", CATMAID_SETTINGS),
            ("db1", CATMAID_CRON),
            (
                "db1",
                "/etc/postgresql/11/main/sitewright-role-defaults.sql",
            ),
        ],
    );
    assert_eq!(notes, Vec::new(), "{spec}");
}

#[test]
fn research_round_trips_its_settings_and_role_defaults_with_the_host_by_name() {
    let k = known(&[("db1", "192.0.2.31"), ("db2", "192.0.2.32")], "db1");
    let (part, notes, spec) = round_trip(
        "research",
        &k,
        &[
            ("web1", "/srv/research/app/research/settings_production.py"),
            (
                "db1",
                "/etc/postgresql/17/main/sitewright-role-defaults.sql",
            ),
        ],
    );
    assert_eq!(notes, Vec::new(), "{spec}");
    assert!(value(&part, &["postgres", "backup"]).is_none());
    assert!(
        spec.contains("    host: db1  # HOST 192.0.2.31 is db1's address\n"),
        "{spec}"
    );
    assert!(spec.contains("env: RESEARCH_DB_PASSWORD"), "{spec}");
    assert!(!spec.contains("extra:"), "{spec}");
}

#[test]
fn a_hand_written_module_keeps_its_literals_names_its_code_and_copies_no_secret() {
    let module = r#"from mysite.settings import *
import os

SECRET_KEY = 'abc'
DEBUG = False
ALLOWED_HOSTS = ["app.example.org", ".example.org"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "shop",
        "USER": "shop_user",
        'PASSWORD': 'hunter2',
        "HOST": "192.0.2.5",
        "PORT": 5432,
        "CONN_MAX_AGE": 30,
    },
}
MEDIA_ROOT = os.environ["MEDIA_ROOT"]
STATIC_ROOT = get_static_root()
LOG_PREFIX = f"{MEDIA_ROOT}/log"
TIME_ZONE = 'Europe/Berlin'
PAGE_SIZES = (10, 20, 50)
FEATURES = {"tiles": True, "names": ["a\tb", 'c\'d']}
"#;
    let mut host = HostTree {
        name: "web1".to_owned(),
        ..HostTree::default()
    };
    host.files
        .insert("/srv/shop/shop/settings.py".to_owned(), module.to_owned());
    let k = known(&[("db1", "192.0.2.5")], "db1");
    let mut notes = Vec::new();
    let part = super::import(std::slice::from_ref(&host), &k, &mut notes);
    let mut top = Map::new();
    top.set("django", value(&part, &["django"]).unwrap().clone());
    let section = document(&top);
    assert!(!section.contains("abc"), "{section}");
    assert!(!section.contains("hunter2"), "{section}");
    assert!(section.contains("env: DJANGO_SECRET_KEY"), "{section}");
    assert!(section.contains("env: SHOP_DB_PASSWORD"), "{section}");
    for text in [
        "line 18: MEDIA_ROOT is not a plain literal the spec can hold (a read of the environment or a file at run time): not imported",
        "line 19: STATIC_ROOT is not a plain literal (a call of `get_static_root`): not imported",
        "line 20: LOG_PREFIX is not a plain literal (an f-string, which is computed when the module runs): not imported",
    ] {
        assert!(
            notes
                .iter()
                .any(|n| n.text == text && n.at == "web1/srv/shop/shop/settings.py"),
            "no note `{text}` in {notes:#?}"
        );
    }
    assert!(
        notes.iter().any(|n| n
            .text
            .starts_with("line 4: SECRET_KEY is written in the file itself")),
        "{notes:#?}"
    );
    assert!(
        notes.iter().any(|n| n
            .text
            .starts_with("line 7: the database password is written in the file itself")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .all(|n| !n.text.contains("abc") && !n.text.contains("hunter2"))
    );
    // A Django host without nginx: the web role is this part's to give, and nginx.https missing.
    assert_eq!(part.roles.get("web1"), Some(&vec!["web"]));
    assert!(
        notes
            .iter()
            .any(|n| n.at == "web1" && n.text.contains("needs nginx.https")),
        "{notes:#?}"
    );

    // The spec with it loads, and renders the literals kept.
    let spec = format!(
        "site: shop\nhosts:\n  - {{ name: db1, address: 192.0.2.5, memory: 8GiB, cpus: 2, storage: ssd, roles: [postgres-primary] }}\n  - {{ name: web1, address: 192.0.2.6, memory: 4GiB, cpus: 2, storage: ssd, roles: [web] }}\npostgres:\n  version: 16\n  data_directory: /var/lib/postgresql/16/main\n  plain_text: accepted\nnginx:\n  version: \"1.26\"\n  openssl: \"3.5\"\n  https:\n    server_name: app.example.org\n    tls: {{ certificate: /etc/ssl/app.pem, certificate_key: /etc/ssl/app.key }}\n    upstream: {{ servers: [127.0.0.1:8000] }}\n{section}"
    );
    let rendered = render(&spec).unwrap_or_else(|e| panic!("{e}\n{spec}"));
    let settings = &rendered[&("web1".to_owned(), "/srv/shop/shop/settings.py".to_owned())];
    for line in [
        "from mysite.settings import *",
        "ALLOWED_HOSTS = [\"app.example.org\", \".example.org\"]",
        "SECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]",
        "\"PASSWORD\": os.environ[\"SHOP_DB_PASSWORD\"],",
        "\"CONN_MAX_AGE\": 30,",
        "TIME_ZONE = \"Europe/Berlin\"",
        "PAGE_SIZES = (10, 20, 50)",
        "FEATURES = {\"names\": [\"a\\tb\", \"c'd\"], \"tiles\": True}",
    ] {
        assert!(settings.contains(line), "no `{line}` in\n{settings}");
    }
    assert!(!settings.contains("MEDIA_ROOT") && !settings.contains("STATIC_ROOT"));
}

#[test]
fn a_secret_read_from_a_file_stays_a_file_and_an_unknown_database_host_is_said() {
    let module = "SECRET_KEY = _secret_file('/etc/app/key')\nDATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'app', 'USER': 'app', 'PASSWORD': _secret_file(\"/etc/app/db\"), 'HOST': '198.51.100.9', 'PORT': 5432}}\n";
    let host = HostTree {
        name: "web1".to_owned(),
        files: [("/srv/app/settings.py".to_owned(), module.to_owned())].into(),
        ..HostTree::default()
    };
    let mut notes = Vec::new();
    let part = super::import(
        std::slice::from_ref(&host),
        &known(&[("db1", "192.0.2.5")], "db1"),
        &mut notes,
    );
    let mut top = Map::new();
    top.set("django", value(&part, &["django"]).unwrap().clone());
    let section = document(&top);
    assert!(
        section.contains("secret_key:\n    file: /etc/app/key\n"),
        "{section}"
    );
    assert!(
        section.contains("password:\n      file: /etc/app/db\n"),
        "{section}"
    );
    assert!(!section.contains("host:"), "{section}");
    assert!(
        notes
            .iter()
            .any(|n| n.text.contains("HOST 198.51.100.9 is not the address")),
        "{notes:#?}"
    );
}

/// The research spec with `django` replaced by `section` and db2 given `roles`.
fn research_with(section: &str, db2_roles: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/research/site.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let (text, _) = cut(&text, "django:");
    let marker = "    roles: [postgres-replica]\n";
    assert!(text.contains(marker));
    text.replacen(marker, &format!("    roles: {db2_roles}\n"), 1) + section
}

/// Renders `spec`, imports its render as live files, and renders the spec again with the
/// imported `django`: every settings module must come back byte for byte.
fn render_import_render(spec: &str) -> (Vec<Note>, String) {
    let first = render(spec).unwrap_or_else(|e| panic!("{e}\n{spec}"));
    let mut trees: BTreeMap<String, HostTree> = BTreeMap::new();
    for ((host, path), text) in &first {
        let tree = trees.entry(host.clone()).or_insert_with(|| HostTree {
            name: host.clone(),
            ..HostTree::default()
        });
        tree.files.insert(path.clone(), text.clone());
    }
    let hosts: Vec<HostTree> = trees.into_values().collect();
    let k = known(&[("db1", "192.0.2.31"), ("db2", "192.0.2.32")], "db1");
    let mut notes = Vec::new();
    let part = super::import(&hosts, &k, &mut notes);
    let mut top = Map::new();
    top.set("django", value(&part, &["django"]).unwrap().clone());
    let section = document(&top);
    let (without, _) = cut(spec, "django:");
    let again = render(&(without + &section)).unwrap_or_else(|e| panic!("{e}\n{section}"));
    let mut compared = 0;
    for ((host, path), text) in &first {
        if path.ends_with(".py") || path.ends_with("role-defaults.sql") {
            assert_eq!(
                again.get(&(host.clone(), path.clone())),
                Some(text),
                "{host}{path}\n{section}"
            );
            assert!(
                part.read.contains(&(host.clone(), path.clone())),
                "{host}{path}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 2, "{compared} files compared");
    (notes, section)
}

#[test]
fn every_field_the_module_writes_round_trips_before_django_4_1() {
    let spec = research_with(
        r#"django:
  version: "3.2"
  settings_file: /srv/research/app/research/settings_production.py
  base_module: research.settings
  allowed_hosts: [.research.example.org, api.example.org]
  secret_key: { file: /etc/research/secret_key }
  database:
    name: research
    user: research
    password: { env: RESEARCH_DB_PASSWORD }
    conn_max_age: 0s
    replicas: [db2]
  cache: { backend: memcached, location: "127.0.0.1:11211", max_value_length: 10MB }
  session_engine: cached_db
  email: { smtp: "192.0.2.25:587" }
  extra:
    TIME_ZONE: Europe/Berlin
    FLAGS: { a: [1, -2, "x\"y"], b: { tuple: [] }, c: false }
"#,
        "[postgres-replica]",
    );
    let (notes, section) = render_import_render(&spec);
    assert_eq!(notes, Vec::new(), "{section}");
    assert!(section.contains("version: \"3.2\""), "{section}");
}

#[test]
fn a_read_only_instance_and_redis_round_trip_from_django_4_1() {
    let spec = research_with(
        r#"django:
  version: "5.2"
  settings_file: /srv/research/app/research/settings_production.py
  base_module: research.settings
  secret_key: { env: DJANGO_SECRET_KEY }
  database:
    name: research
    user: research
    password: { file: /etc/research/db_password }
    host: db1
    conn_max_age: 5min
  cache: { backend: redis, location: "10.0.0.5:6379" }
  email: dummy
"#,
        "[postgres-replica, web]",
    );
    let (notes, section) = render_import_render(&spec);
    // db2's module is the read-only instance's: the spec derives it from the same section.
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].text.starts_with("a read-only instance"),
        "{notes:#?}"
    );
    assert!(section.contains("conn_max_age: 300s"), "{section}");
}

#[test]
fn a_read_only_instance_names_its_own_replica_over_loopback() {
    let spec = research_with(
        r#"django:
  version: "5.2"
  settings_file: /srv/research/app/research/settings_production.py
  base_module: research.settings
  secret_key: { env: DJANGO_SECRET_KEY }
  database:
    name: research
    user: research
    password: { env: RESEARCH_DB_PASSWORD }
    replicas: [db2]
  email: dummy
"#,
        "[postgres-replica, web]",
    );
    let (_, section) = render_import_render(&spec);
    assert!(section.contains("replicas:\n      - db2"), "{section}");
}

#[test]
fn no_file_and_no_truncation_of_one_makes_the_import_panic() {
    let k = known(&[("db1", "192.0.2.11"), ("db2", "192.0.2.12")], "db1");
    for name in ["catmaid", "catmaid-pg11", "research", "idr", "synapse"] {
        for host in fixture(name) {
            for (path, text) in &host.files {
                // Every file read as a settings module, a cron entry and role defaults.
                let mut files = BTreeMap::new();
                for as_path in [
                    "/srv/app/settings.py",
                    "/etc/cron.d/x",
                    "/etc/postgresql/16/main/sitewright-role-defaults.sql",
                ] {
                    files.insert(as_path.to_owned(), format!("DATABASES = {{}}\n{text}"));
                }
                let tree = HostTree {
                    name: "db1".to_owned(),
                    files,
                    ..HostTree::default()
                };
                let _ = super::import(&[tree], &k, &mut Vec::new());
                if path.ends_with(".py") || path.contains("cron") || path.ends_with(".sql") {
                    for end in (0..=text.len()).filter(|e| text.is_char_boundary(*e)) {
                        let mut cut = host.clone();
                        cut.files.insert(path.clone(), text[..end].to_owned());
                        let _ = super::import(&[cut], &k, &mut Vec::new());
                    }
                }
            }
        }
    }
}

#[test]
fn the_default_database_s_root_certificate_is_postgres_ssl_ca() {
    let text = "DATABASES = {\"default\": {\"HOST\": \"192.0.2.11\", \"OPTIONS\": {\"sslmode\": \"verify-full\", \"sslrootcert\": \"/etc/ssl/ca.crt\"}}}\n";
    let host = HostTree {
        name: "web1".to_owned(),
        ..HostTree::default()
    };
    let m = super::Module {
        host: &host,
        path: "/srv/app/settings.py",
        lines: super::python::statements(text),
    };
    assert_eq!(
        super::root_certificate(&m).as_deref(),
        Some("/etc/ssl/ca.crt")
    );
    let require = text.replace("verify-full", "require");
    let m = super::Module {
        lines: super::python::statements(&require),
        ..m
    };
    assert_eq!(super::root_certificate(&m), None);
}

/// A mirror with a name of its own shows the HTTPS server's name among its allowed hosts, which
/// the main web host hides (the spec allows it anyway): the spec's allowed_hosts keep it.
#[test]
fn a_mirror_shows_the_allowed_host_its_main_web_host_hides() {
    let mut hosts = fixture("research");
    let path = "/srv/research/app/research/settings_production.py";
    let Some(mut web2) = hosts.iter().find(|h| h.name == "web1").cloned() else {
        panic!("no web1");
    };
    web2.name = "web2".to_owned();
    if let Some(text) = web2.files.get_mut(path) {
        *text = text
            .replace(
                "ALLOWED_HOSTS = [\"research.example.org\"]",
                "ALLOWED_HOSTS = [\"mirror.example.org\", \"research.example.org\", \".example.org\"]",
            )
            .replace(
                "CSRF_TRUSTED_ORIGINS = [\"https://research.example.org\"]",
                "CSRF_TRUSTED_ORIGINS = [\"https://mirror.example.org\"]",
            );
    }
    hosts.push(web2);
    let k = known(&[("db1", "192.0.2.31"), ("db2", "192.0.2.32")], "db1");
    let part = super::import(&hosts, &k, &mut Vec::new());
    let Some(Node::Map(django)) = value(&part, &["django"]) else {
        panic!("no django section: {:?}", part.values);
    };
    assert_eq!(
        django.get("allowed_hosts"),
        Some(&Node::Seq(vec![
            Node::text("research.example.org"),
            Node::text(".example.org")
        ]))
    );
}
