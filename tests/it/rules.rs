//! Every rule of `check`: a spec that trips it, and the fixture it was made from, which does not.
//! No rule is exempt: a rule that no spec can trip is not a rule (see the retired ids in
//! src/rules.rs), and what the retired PG021 and PG022 guarded is tested on the rendered files here.

use std::fs;

use sitewright::rules::Rule;

use crate::support::{Sitewright, fixture, temp_dir};

/// The rule ids `check --format json` reports for `spec`.
fn ids(spec: &str) -> Vec<String> {
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), spec).unwrap();
    let outcome = Sitewright::new()
        .in_dir(dir.path())
        .args(["check", "site.yaml", "--format", "json"])
        .run();
    let report: serde_json::Value = serde_json::from_str(&outcome.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}{}", outcome.stdout, outcome.stderr));
    let errors = report["errors"].as_u64().unwrap();
    assert_eq!(outcome.code, i32::from(errors > 0), "{}", outcome.stdout);
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect()
}

fn spec(name: &str) -> String {
    fs::read_to_string(fixture(&format!("{name}/site.yaml"))).unwrap()
}

const HBA_AT: &str = "  settings:\n    autovacuum: true";
/// A PgBouncer on catmaid's web host, for the PgBouncer rules' cases: inserted before `django:`
/// by their second edit.
const PGBOUNCER: &str = "pgbouncer:\n  hosts: [web1]\n  databases: [{ name: catmaid }]\n  users: [{ name: catmaid_user, password: { env: CATMAID_DB_PASSWORD } }]\n  tls: { cert: /etc/pgbouncer/server.crt, key: /etc/pgbouncer/server.key }\n";

/// The synapse fixture's whole `postgres:` section, which its hosts' roles need (PG002).
const SYNAPSE_POSTGRES: &str = "postgres:\n  version: 17\n  data_directory: /var/lib/postgresql/17/main\n  config_directory: /etc/postgresql/17/main\n  workload: oltp\n  ssl:\n    cert: /etc/ssl/certs/synapse-db.pem\n    key: /etc/ssl/private/synapse-db.key\n    ca: /etc/ssl/certs/synapse-ca.pem\n  replication:\n    user: replicator\n    password: { env: SYNAPSE_REPLICATION_PASSWORD }\n    wal_keep: 4GB\n  settings:\n    max_connections: 500\n\n";

/// Each rule, the fixture, and the edit that trips it.
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "DJ001",
        "catmaid",
        "    name: catmaid\n    user:",
        "    name: catmaid\n    host: web1\n    user:",
    ),
    (
        "DJ002",
        "catmaid",
        "conn_max_age: 60s",
        "conn_max_age: 1500ms",
    ),
    (
        "DJ003",
        "catmaid",
        "    roles: [postgres-replica]\n",
        "    roles: [postgres-replica, web]\n    server_name: mirror.example.org\n",
    ),
    (
        "DJ004",
        "catmaid",
        "    conn_max_age: 60s",
        "    conn_max_age: 60s\n    replicas: [web1]",
    ),
    (
        "DJ005",
        "catmaid",
        "  extra:\n",
        "  extra:\n    ODD: { __tuple__: [1] }\n",
    ),
    (
        "DJ006",
        "catmaid",
        "  extra:\n",
        "  extra:\n    SECURE_PROXY_SSL_HEADER: { tuple: [HTTP_X_FORWARDED_SSL, \"on\"] }\n",
    ),
    (
        "DJ006",
        "catmaid",
        "  extra:\n",
        "  extra:\n    SECURE_PROXY_SSL_HEADER: { tuple: [HTTP_X_FORWARDED_PROTO, http] }\n",
    ),
    (
        "DJ009",
        "catmaid",
        "  extra:\n",
        "  extra:\n    SECRET_KEY: not-here\n",
    ),
    (
        "DJ009",
        "catmaid",
        "  extra:\n",
        "  extra:\n    DEBUG: true\n",
    ),
    (
        "DJ009",
        "catmaid",
        "  extra:\n",
        "  extra:\n    SECURE_HSTS_SECONDS: 3600\n",
    ),
    ("DJ010", "catmaid", "version: \"5.2\"", "version: \"1.0\""),
    ("DJ011", "catmaid", "version: \"5.2\"", "version: \"6.1\""),
    (
        "HBA001",
        "catmaid",
        HBA_AT,
        "  hba:\n    - { type: host, databases: [all], users: [all], address: 192.0.2.0/24, method: scram-sha-256 }\n    - { type: hostssl, databases: [catmaid], users: [catmaid_user], address: 192.0.2.20/32, method: scram-sha-256 }\n  settings:\n    autovacuum: true",
    ),
    (
        "HBA002",
        "catmaid",
        HBA_AT,
        "  hba:\n    - { type: host, databases: [all], users: [all], address: 192.0.2.0/24, method: trust }\n  settings:\n    autovacuum: true",
    ),
    (
        "HBA003",
        "catmaid",
        HBA_AT,
        "  hba:\n    - { type: hostssl, databases: [all], users: [monitor], address: 192.0.2.0/24, method: md5 }\n  settings:\n    autovacuum: true",
    ),
    (
        "HBA004",
        "catmaid",
        HBA_AT,
        "  hba:\n    - { type: hostssl, databases: [all], users: [monitor], address: 0.0.0.0/0, method: scram-sha-256 }\n  settings:\n    autovacuum: true",
    ),
    (
        "HBA005",
        "catmaid",
        HBA_AT,
        "  hba_local: replace\n  hba:\n    - { type: hostssl, databases: [catmaid], users: [monitor], address: 192.0.2.0/24, method: scram-sha-256 }\n  settings:\n    autovacuum: true",
    ),
    ("PGB001", "catmaid", "hosts: [web1]", "hosts: [web9]"),
    (
        "PGB002",
        "catmaid",
        "    roles: [postgres-primary]",
        "    roles: [postgres-replica]",
    ),
    (
        "PGB003",
        "catmaid",
        "  hosts: [web1]\n",
        "  hosts: [web1]\n  default_pool_size: 200\n",
    ),
    (
        "PGB004",
        "catmaid",
        "    conn_max_age: 60s\n",
        "    conn_max_age: 60s\n    pgbouncer: true\n",
    ),
    (
        "PGB005",
        "catmaid",
        "  replication:\n    user: replication_user",
        "  hba: [{ type: hostssl, databases: [catmaid], users: [all], address: 127.0.0.1/32, method: reject }]\n  replication:\n    user: replication_user",
    ),
    (
        "PGB006",
        "catmaid",
        "  users: [{ name: catmaid_user, password: { env: CATMAID_DB_PASSWORD } }]",
        "  users: [{ name: catmaid_user }]",
    ),
    (
        "PGB007",
        "catmaid",
        "    conn_max_age: 60s\n",
        "    conn_max_age: 0s\n    pgbouncer: true\n",
    ),
    (
        "PGB008",
        "catmaid",
        "  hosts: [web1]\n  databases",
        "  hosts: [db1]\n  databases",
    ),
    (
        "NET001",
        "catmaid",
        "listen: { port: 443, redirect_port: 80 }",
        "listen: { port: 443, redirect_port: 443 }",
    ),
    (
        "NGX001",
        "catmaid",
        "  openssl: \"3.0\"\n",
        "  openssl: \"3.0\"\n  stream: [{ listen: 7432, to: \"127.0.0.1:6379\" }]\n",
    ),
    (
        "NGX002",
        "synapse",
        "    wal_keep: 4GB",
        "    wal_keep: 4GB\n    public_port: 7432",
    ),
    (
        "NGX003",
        "synapse",
        "sysctl:",
        "nginx:\n  version: \"1.22\"\n  openssl: \"3.0\"\n\nsysctl:",
    ),
    ("NGX004", "catmaid", "profile: intermediate", "profile: old"),
    (
        "NGX005",
        "catmaid",
        "openssl: \"3.0\"",
        "openssl: \"1.1.0\"",
    ),
    (
        "NGX006",
        "catmaid",
        "      profile: intermediate",
        "      profile: intermediate\n      ocsp_stapling: true",
    ),
    (
        "NGX007",
        "catmaid",
        "expected_connections: 100",
        "expected_connections: 10000",
    ),
    (
        "NGX008",
        "catmaid",
        "version: \"1.22\"",
        "version: \"1.14\"",
    ),
    (
        "NGX009",
        "catmaid",
        "proxy_buffers: { count: 512, size: 4kB }",
        "proxy_buffers: { count: 16, size: 4kB }",
    ),
    ("NGX010", "catmaid", "openssl: \"3.0\"", "openssl: \"3.5\""),
    (
        "NGX011",
        "catmaid",
        "      profile: intermediate",
        "      profile: intermediate\n      ocsp_stapling: true\n      trusted_certificate: /etc/ssl/certs/chain.pem",
    ),
    (
        "NGX012",
        "catmaid",
        "hsts: { max_age: 730d,",
        "hsts: { max_age: 30d,",
    ),
    (
        "NGX013",
        "idr",
        "    session_cookie: sessionid\n",
        "    session_cookie: sessionid\n    harmless_cookies: [_ga, sessionid]\n",
    ),
    (
        "NGX014",
        "catmaid",
        "folder: /srv/catmaid/static",
        "folder: /srv/catmaid",
    ),
    (
        "NGX014",
        "catmaid",
        "folder: /srv/catmaid/tiles",
        "folder: /etc/nginx",
    ),
    (
        "NGX015",
        "catmaid",
        "    access_log: off\n",
        "    locations:\n      - url: /downloads/\n    access_log: off\n",
    ),
    (
        "NGX016",
        "catmaid",
        "    access_log: off\n",
        "    directives: [{ name: client_max_body_sise, args: [1m] }]\n    access_log: off\n",
    ),
    (
        "NGX017",
        "catmaid",
        "    access_log: off\n",
        "    directives: [{ name: gzip_vary, args: [maybe] }]\n    access_log: off\n",
    ),
    (
        "NGX018",
        "catmaid",
        "    access_log: off\n",
        "    directives: [{ name: server_tokens, args: [on] }]\n    access_log: off\n",
    ),
    (
        "NGX019",
        "catmaid",
        "    access_log: off\n",
        "    directives: [{ name: proxy_buffer_size, args: [8k] }]\n    access_log: off\n",
    ),
    (
        "NGX020",
        "idr",
        "  layout: rhel\n",
        "  layout: rhel\n  stream_directives: [{ name: tcp_nodelay, args: [on] }]\n",
    ),
    (
        "NGX021",
        "catmaid",
        "    access_log: off\n",
        "    directives: [{ name: http2_max_requests, args: [1000] }]\n    access_log: off\n",
    ),
    (
        "PG001",
        "catmaid",
        "    roles: [postgres-replica]",
        "    roles: [postgres-replica, postgres-primary]",
    ),
    ("PG002", "synapse", SYNAPSE_POSTGRES, ""),
    (
        "PG003",
        "catmaid",
        "    roles: [postgres-replica]",
        "    roles: [postgres-primary]",
    ),
    (
        "PG004",
        "synapse",
        "  replication:\n    user: replicator\n    password: { env: SYNAPSE_REPLICATION_PASSWORD }\n    wal_keep: 4GB\n",
        "",
    ),
    ("PG005", "catmaid", "public_port: 7432", "public_port: 5432"),
    (
        "PG006",
        "catmaid",
        HBA_AT,
        "  settings:\n    autovacuum: true\n    port: 5433",
    ),
    (
        "PG007",
        "catmaid",
        "    user: catmaid_user",
        "    user: all",
    ),
    (
        "PG008",
        "catmaid",
        "    wal_keep: 1GB",
        "    wal_keep: 1GB\n    promote_trigger_file: /var/lib/postgresql/promote",
    ),
    (
        "PG009",
        "catmaid-pg11",
        HBA_AT,
        "  hba:\n    - { type: hostgssenc, databases: [all], users: [all], address: 192.0.2.0/24, method: scram-sha-256 }\n  settings:\n    autovacuum: true",
    ),
    (
        "PG010",
        "catmaid",
        HBA_AT,
        "  hba:\n    - { type: local, databases: [all], users: [all], address: 192.0.2.0/24, method: peer }\n  settings:\n    autovacuum: true",
    ),
    (
        "PG011",
        "catmaid",
        "  settings:\n",
        "  replica_statement_timeout: 1500us\n  settings:\n",
    ),
    (
        "PG012",
        "catmaid",
        HBA_AT,
        "  settings:\n    autovacuum: true\n    shared_bufers: 1GB",
    ),
    (
        "PG013",
        "catmaid",
        HBA_AT,
        "  settings:\n    autovacuum: true\n    work_mem: 64mb",
    ),
    (
        "PG015",
        "catmaid",
        HBA_AT,
        "  hba:\n    - { type: local, databases: [all], users: [all], method: peer }\n    - { type: hostssl, databases: [replication], users: [all], address: 0.0.0.0/0, method: reject }\n  settings:\n    autovacuum: true",
    ),
    (
        "PG016",
        "catmaid",
        HBA_AT,
        "  hba:\n    - { type: local, databases: [all], users: [all], method: peer }\n    - { type: host, databases: [replication], users: [replication_user], address: 192.0.2.12/32, method: scram-sha-256 }\n  settings:\n    autovacuum: true",
    ),
    (
        "PG017",
        "catmaid",
        "    roles: [postgres-replica]\n",
        "    roles: [postgres-replica]\n    postgres_settings: { max_connections: 50 }\n",
    ),
    (
        "PG018",
        "catmaid",
        HBA_AT,
        "  settings:\n    autovacuum: true\n    max_wal_senders: 1",
    ),
    (
        "PG019",
        "catmaid",
        HBA_AT,
        "  settings:\n    autovacuum: true\n    wal_level: minimal",
    ),
    (
        "PG020",
        "idr",
        "    roles: [postgres-replica]\n",
        "    roles: [postgres-replica]\n    postgres_settings: { hot_standby: false }\n",
    ),
    (
        "PG023",
        "synapse",
        "    wal_keep: 4GB\n",
        "    wal_keep: 512MB\n",
    ),
    (
        "PG024",
        "catmaid",
        HBA_AT,
        "  settings:\n    autovacuum: true\n    shared_buffers: 40GB",
    ),
    (
        "PG025",
        "catmaid",
        HBA_AT,
        "  settings:\n    autovacuum: true\n    work_mem: 1GB",
    ),
    (
        "PG026",
        "catmaid",
        "  ssl:\n    cert: /etc/ssl/postgresql/cert/server.crt\n    key: /etc/ssl/postgresql/private/server.key\n    ca: /etc/ssl/postgresql/cert/catmaid-ca.crt\n",
        "  plain_text: accepted\n  hba:\n    - { type: local, databases: [all], users: [all], method: peer }\n    - { type: hostssl, databases: [catmaid], users: [catmaid_user], address: 192.0.2.20/32, method: scram-sha-256 }\n",
    ),
    (
        "PG027",
        "catmaid",
        HBA_AT,
        "  settings:\n    autovacuum: true\n    default_with_oids: false",
    ),
    (
        "PG028",
        "catmaid",
        HBA_AT,
        "  settings:\n    autovacuum: true\n    wal_level: minimal\n    max_wal_senders: 2",
    ),
    (
        "PG029",
        "catmaid",
        "    ca: /etc/ssl/postgresql/cert/catmaid-ca.crt\n",
        "",
    ),
    (
        "PG030",
        "catmaid",
        "  ssl:\n    cert: /etc/ssl/postgresql/cert/server.crt\n    key: /etc/ssl/postgresql/private/server.key\n    ca: /etc/ssl/postgresql/cert/catmaid-ca.crt\n",
        "",
    ),
    (
        "PG031",
        "catmaid",
        HBA_AT,
        "  include_dir: conf.d\n  include: [conf.d/extra.conf]\n  settings:\n    autovacuum: true",
    ),
    (
        "PG032",
        "catmaid",
        HBA_AT,
        "  include: [pg_hba.conf]\n  settings:\n    autovacuum: true",
    ),
    (
        "PG032",
        "catmaid",
        HBA_AT,
        "  include_dir: /etc/postgresql/16/main\n  settings:\n    autovacuum: true",
    ),
    (
        "PG033",
        "catmaid",
        HBA_AT,
        "  include_dir: /var/lib/postgresql/16/main/conf.d\n  settings:\n    autovacuum: true",
    ),
    (
        "SEC001",
        "catmaid",
        "password: { env: CATMAID_DB_PASSWORD }",
        "password: hunter2",
    ),
    ("SITE001", "catmaid", "  - name: db2", "  - name: db1"),
    (
        "SITE002",
        "catmaid",
        "    roles: [web]",
        "    roles: [web, web]",
    ),
    (
        "SITE003",
        "catmaid",
        "    address: 192.0.2.12",
        "    address: 192.0.2.11",
    ),
    (
        "SYS001",
        "catmaid",
        "    vm.swappiness: 10",
        "    vm.swappiness: 10\n    vm.dirty_ratio: 4",
    ),
    (
        "SYS002",
        "catmaid",
        "    vm.swappiness: 10",
        "    vm.swapiness: 10",
    ),
    (
        "SYS003",
        "catmaid",
        "    vm.swappiness: 10",
        "    vm.swappiness: 1GB",
    ),
    (
        "SYS004",
        "catmaid",
        "    vm.swappiness: 10",
        "    vm.swappiness: 10\n    kernel.shmmax: 1GB",
    ),
    (
        "WEB001",
        "idr",
        "    roles: [proxy]",
        "    roles: [proxy, web]",
    ),
    (
        "WEB002",
        "idr",
        "    roles: [proxy]",
        "    roles: [proxy, web]",
    ),
    (
        "WEB003",
        "catmaid",
        "    roles: [web]",
        "    roles: [web, proxy]",
    ),
];

#[test]
fn every_rule_trips_on_its_case_and_not_on_the_fixture() {
    let mut clean: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (id, name, from, to) in CASES {
        // The PgBouncer rules edit a site with PgBouncer, but for the one about its absence.
        let pgbouncer = id.starts_with("PGB") && *id != "PGB007";
        let base = if pgbouncer {
            spec(name).replacen("django:\n", &format!("{PGBOUNCER}django:\n"), 1)
        } else {
            spec(name)
        };
        let key = if pgbouncer {
            "catmaid with PgBouncer"
        } else {
            name
        };
        let base_ids = clean.entry(key).or_insert_with(|| ids(&base));
        assert!(
            base_ids.is_empty() || !pgbouncer,
            "{key} is not clean: {base_ids:?}"
        );
        assert!(
            !base_ids.iter().any(|i| i == id),
            "fixture {name} trips {id}"
        );
        assert!(
            base.contains(from),
            "{id}: {from:?} is not in fixture {name}"
        );
        let mut broken = base.replacen(from, to, 1);
        // The two rules that need a second edit.
        match *id {
            "SYS004" => {
                broken = broken.replacen(
                    HBA_AT,
                    "  settings:\n    autovacuum: true\n    shared_memory_type: sysv",
                    1,
                );
            }
            "DJ003" => broken = broken.replacen("  base_module: mysite.settings\n", "", 1),
            // Django through a PgBouncer on another host, which has no TLS.
            "PGB008" => {
                broken = broken
                    .replacen("  tls: { cert: /etc/pgbouncer/server.crt, key: /etc/pgbouncer/server.key }\n", "", 1)
                    .replacen("    conn_max_age: 60s\n", "    conn_max_age: 0s\n    pgbouncer: true\n", 1);
            }
            _ => {}
        }
        let found = ids(&broken);
        assert!(
            found.iter().any(|i| i == id),
            "{id} did not trip; found {found:?}"
        );
    }
}

/// Every variant of the registry has a case above, with no exception: a rule that cannot be
/// tripped from a spec is retired, not excused.
#[test]
fn every_rule_has_a_case() {
    let missing: Vec<&str> = Rule::ALL
        .iter()
        .map(|rule| rule.as_str())
        .filter(|id| !CASES.iter().any(|(case, ..)| case == id))
        .collect();
    assert!(missing.is_empty(), "rules without a case: {missing:?}");
}

/// What the retired PG021 and PG022 checked, on the files `render` writes for every major, with
/// and without nginx's forward: a replica connects to the primary's address on the forwarded port
/// (else PostgreSQL's), and with a forward every server listens on loopback only.
#[test]
fn replicas_connect_where_the_primary_listens() {
    for major in 11..=18 {
        for public_port in [None, Some(7432)] {
            // The forward is nginx's, so it comes with an `nginx:` section (NGX002).
            let forward = public_port.map_or(String::new(), |p| {
                format!("    public_port: {p}\nnginx:\n  version: \"1.22\"\n  openssl: \"3.0\"\n")
            });
            let spec = format!(
                "site: s\nhosts:\n  - {{ name: a, address: 192.0.2.1, memory: 8GiB, cpus: 4, storage: ssd, roles: [postgres-primary] }}\n  - {{ name: b, address: 192.0.2.2, memory: 8GiB, cpus: 4, storage: ssd, roles: [postgres-replica] }}\npostgres:\n  version: {major}\n  data_directory: /d\n  config_directory: /c\n  port: 5433\n  ssl: {{ cert: /c.pem, key: /k.pem, ca: /ca.pem }}\n  replication:\n    user: r\n    password: {{ env: P }}\n{forward}"
            );
            let dir = temp_dir();
            fs::write(dir.path().join("site.yaml"), &spec).unwrap();
            Sitewright::new()
                .in_dir(dir.path())
                .args(["render", "site.yaml", "-o", "out"])
                .run()
                .code(0);
            // On 11 the standby's settings are in recovery.conf, in the data directory.
            let read = |path: &str| {
                fs::read_to_string(dir.path().join("out").join(path)).unwrap_or_default()
            };
            let port = public_port.unwrap_or(5433);
            let standby = read("b/c/postgresql.conf") + &read("b/d/recovery.conf");
            assert!(
                standby.contains(&format!("primary_conninfo = 'host=192.0.2.1 port={port} ")),
                "{major}, forward {public_port:?}: {standby}"
            );
            let listen = if public_port.is_some() {
                "'127.0.0.1'"
            } else {
                "'*'"
            };
            for host in ["a", "b"] {
                let conf = read(&format!("{host}/c/postgresql.conf"));
                let line = conf.lines().find(|l| l.starts_with("listen_addresses "));
                // The value, without the comment that says why.
                let value = line.map(|l| l.split("  #").next().unwrap_or(l));
                assert_eq!(
                    value,
                    Some(format!("listen_addresses = {listen}").as_str()),
                    "{major}, forward {public_port:?}, host {host}: {conf}"
                );
            }
        }
    }
}

#[test]
fn explain_shows_every_rule() {
    for rule in Rule::ALL {
        Sitewright::new()
            .args(["explain", rule.as_str()])
            .run()
            .code(0)
            .stdout_has(&format!(
                "{rule} ({}): {}\n\n{}",
                rule.severity(),
                rule.summary(),
                rule.explanation()
            ));
    }
    Sitewright::new()
        .args(["explain", "PG999"])
        .run()
        .code(2)
        .stderr_has("`PG999` is neither a rule id (such as PG017) nor a spec file");
}

/// One `hba:` record adds to the local records the site needs instead of dropping them: the
/// rendered pg_hba.conf still lets postgres in over the socket by peer first (the nightly pg_dump
/// the fixture's `backup:` writes logs in by it), and the other local roles after the spec's
/// record; `check --deny-warnings` is quiet about it.
#[test]
fn one_hba_record_keeps_the_local_records() {
    let spec = spec("catmaid").replacen(
        HBA_AT,
        "  hba:\n    - { type: hostssl, databases: [catmaid], users: [monitor], address: 192.0.2.0/24, method: scram-sha-256 }\n  settings:\n    autovacuum: true",
        1,
    );
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), &spec).unwrap();
    Sitewright::new()
        .in_dir(dir.path())
        .args(["check", "site.yaml", "--deny-warnings"])
        .run()
        .code(0);
    Sitewright::new()
        .in_dir(dir.path())
        .args(["render", "site.yaml", "-o", "out"])
        .run()
        .code(0);
    let hba = fs::read_to_string(
        dir.path()
            .join("out/db1/etc/postgresql/16/main/pg_hba.conf"),
    )
    .unwrap();
    let records: Vec<&str> = hba.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        records[..3],
        [
            "local\tall\tpostgres\tpeer",
            "hostssl\tcatmaid\tmonitor\t192.0.2.0/24\tscram-sha-256",
            "local\tall\tall\tpeer",
        ],
        "{hba}"
    );
    assert!(
        records[3..].iter().all(|r| !r.starts_with("local")),
        "{hba}"
    );
}
