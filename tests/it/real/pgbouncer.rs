//! PgBouncer 1.18 runs from the rendered pgbouncer.ini and userlist.txt, unchanged, in front of a
//! PostgreSQL 16 started from the rendered postgresql.conf and pg_hba.conf (issue 22, item 4):
//! psql and Django 5.2's ORM log in through it with SCRAM over TLS, and it logs in to the server
//! with the same SCRAM secret over TLS verified against the CA; the console shows the spec's pool
//! and sizes; a RELOAD applies new pool sizes in the same process, as `diff` says, while a new
//! port waits for a restart, as `diff` must say.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::pg::{Binaries, Server, free_port, succeeded, wait_for};
use crate::support::pgbouncer::{BOUNCER_USER, Pgbouncer, id_of};
use crate::support::{Sitewright, django_project, installed, running_as_root, temp_dir};

const PASSWORD_VAR: &str = "SW_TEST_POOLED_PASSWORD";
const PASSWORD: &str = "pooled through pgbouncer";
const SECRET_KEY: &str = "3f9a1c7e5b2d8046af13c9e7b5d20864ce1f3a9b7d5c2e0486af1c3e9b7d5a2f0c8e6";
/// Debian's socket folder, which the rendered unix_socket_dir names.
const DEBIAN_SOCKET_DIR: &str = "/var/run/postgresql";
const SETTINGS: &str = "/srv/pooled/settings_production.py";

/// The ports and sizes a spec is rendered with.
#[derive(Clone, Copy)]
struct Sizes {
    pg_port: u16,
    port: u16,
    default_pool_size: u32,
    pool_size: u32,
}

/// The primary and PgBouncer's host, both on 127.0.0.1; every path of theirs under `w`.
fn spec(w: &Path, s: Sizes) -> String {
    let w = w.display();
    format!(
        r#"site: pooled
hosts:
  - {{ name: db1, address: 127.0.0.1, memory: 1GiB, cpus: 2, storage: ssd, roles: [postgres-primary] }}
  - {{ name: web1, address: 127.0.0.1, memory: 1GiB, cpus: 2, storage: ssd, roles: [web] }}
postgres:
  version: 16
  data_directory: {w}/pg/data
  config_directory: {w}/pg/conf
  port: {pg_port}
  ssl: {{ cert: {w}/pg/server.crt, key: {w}/pg/server.key, ca: {w}/ca.crt }}
pgbouncer:
  hosts: [web1]
  port: {port}
  pool_mode: transaction
  default_pool_size: {default_pool_size}
  databases: [ {{ name: pooled, pool_size: {pool_size} }} ]
  users: [ {{ name: pooled_user, password: {{ env: {PASSWORD_VAR} }} }} ]
  tls: {{ cert: {w}/bouncer/server.crt, key: {w}/bouncer/server.key, ca: {w}/ca.crt }}
  config_directory: {w}/bouncer
nginx:
  version: "1.22"
  openssl: "3.0"
  https:
    server_name: pooled.example.org
    tls:
      certificate: /etc/nginx/ssl/server.crt
      certificate_key: /etc/nginx/ssl/server.key
      profile: intermediate
    upstream:
      servers: [127.0.0.1:8000]
      protocol: asgi
django:
  version: "5.2"
  settings_file: {SETTINGS}
  secret_key: {{ env: DJANGO_SECRET_KEY }}
  database:
    name: pooled
    user: pooled_user
    password: {{ env: {PASSWORD_VAR} }}
    pgbouncer: true
"#,
        pg_port = s.pg_port,
        port = s.port,
        default_pool_size = s.default_pool_size,
        pool_size = s.pool_size,
    )
}

#[track_caller]
fn run(command: &mut Command, what: &str) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    succeeded(&output, what);
    output
}

fn chown(user: &str, path: &Path) {
    if running_as_root() {
        run(
            Command::new("chown")
                .args(["-R", &format!("{user}:")])
                .arg(path),
            "chown",
        );
    }
}

/// A CA in `w`, and for each folder a certificate it signed for 127.0.0.1 (`server.crt`,
/// `server.key`, owner-only).
fn certificates(w: &Path, folders: &[&Path]) {
    let openssl = installed("SITEWRIGHT_OPENSSL");
    let openssl = |dir: &Path, args: &[&str]| {
        run(
            Command::new(&openssl).current_dir(dir).args(args),
            &format!("openssl {}", args.join(" ")),
        );
    };
    openssl(
        w,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=sitewright test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    fs::set_permissions(w.join("ca.crt"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(w.join("san.ext"), "subjectAltName = IP:127.0.0.1\n").unwrap();
    for dir in folders {
        let (key, csr, crt) = (
            dir.join("server.key"),
            dir.join("server.csr"),
            dir.join("server.crt"),
        );
        let (key, csr, crt) = (
            key.to_str().unwrap(),
            csr.to_str().unwrap(),
            crt.to_str().unwrap(),
        );
        openssl(
            w,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                key,
                "-out",
                csr,
            ],
        );
        openssl(
            w,
            &[
                "x509",
                "-req",
                "-in",
                csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "san.ext",
                "-out",
                crt,
            ],
        );
        fs::set_permissions(key, fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// `sitewright render --with-secrets` of `spec` into `tree`.
fn render(spec_path: &Path, tree: &Path) {
    Sitewright::new()
        .args(["render", "--with-secrets"])
        .arg(spec_path)
        .arg("-o")
        .arg(tree)
        .env(PASSWORD_VAR, PASSWORD)
        .run()
        .code(0);
}

/// `sitewright diff --with-secrets SPEC --live LIVE`: its stdout, which must report differences.
fn diff(spec_path: &Path, live: &Path) -> String {
    let outcome = Sitewright::new()
        .args(["diff", "--with-secrets"])
        .arg(spec_path)
        .arg("--live")
        .arg(live)
        .env(PASSWORD_VAR, PASSWORD)
        .run();
    outcome.code(1);
    outcome.stdout
}

/// A rendered file of `host` in `tree`, by its path on the host.
fn rendered(tree: &Path, host: &str, path: &Path) -> PathBuf {
    tree.join(host).join(path.strip_prefix("/").unwrap())
}

/// psql through PgBouncer over TCP as pooled_user, each `-c` in turn.
fn through(port: u16, password: &str, sslmode: &str, commands: &[&str]) -> Output {
    let mut command = Command::new(installed("SITEWRIGHT_PSQL"));
    command
        .args(["-X", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1"])
        .arg(format!(
            "host=127.0.0.1 port={port} user=pooled_user dbname=pooled sslmode={sslmode}"
        ))
        .env("PGPASSWORD", password)
        .env("PGPASSFILE", "/dev/null");
    for c in commands {
        command.args(["-c", c]);
    }
    command.output().expect("psql runs")
}

/// The site deployed from its first render: PostgreSQL and PgBouncer running.
struct Pooled<'a> {
    w: PathBuf,
    sizes: Sizes,
    tree: PathBuf,
    bouncer_dir: PathBuf,
    /// Stopped before the server, so that it does not see its server connections fail.
    bouncer: Pgbouncer,
    server: Server<'a>,
    _work: tempfile::TempDir,
}

impl Pooled<'_> {
    fn ini(&self) -> PathBuf {
        self.bouncer_dir.join("pgbouncer.ini")
    }
}

fn deploy(pg: &Binaries) -> Pooled<'_> {
    let work = temp_dir();
    let w = work.path().to_owned();
    // PostgreSQL's user and PgBouncer's each reach their folder, and both the CA certificate.
    fs::set_permissions(&w, fs::Permissions::from_mode(0o755)).unwrap();
    let (pg_dir, bouncer_dir) = (w.join("pg"), w.join("bouncer"));
    for dir in [&pg_dir, &bouncer_dir] {
        fs::create_dir(dir).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
    }
    for dir in ["conf", "socket"] {
        fs::create_dir(pg_dir.join(dir)).unwrap();
    }
    certificates(&w, &[&pg_dir, &bouncer_dir]);
    pg.give(&pg_dir);

    let sizes = Sizes {
        pg_port: free_port(),
        port: free_port(),
        default_pool_size: 3,
        pool_size: 4,
    };
    let spec_path = w.join("site.yaml");
    fs::write(&spec_path, spec(&w, sizes)).unwrap();
    let tree = w.join("tree");
    render(&spec_path, &tree);

    // PostgreSQL from the rendered files, where the spec puts them. On the command line: the
    // harness's port (the spec's) and socket folder, and listen_addresses, which the render
    // leaves at '*' (another host reaches PgBouncer's server at its address) and the tests keep
    // to 127.0.0.1.
    let conf = pg_dir.join("conf");
    for file in ["postgresql.conf", "pg_hba.conf"] {
        pg.deploy(&tree, "db1", &conf.join(file), &conf.join(file));
    }
    let data = pg_dir.join("data");
    pg.initdb(&data);
    let server = Server::start(
        pg,
        &data,
        sizes.pg_port,
        &pg_dir.join("socket"),
        &pg_dir.join("postgres.log"),
        &[
            (
                "config_file",
                conf.join("postgresql.conf").display().to_string(),
            ),
            ("listen_addresses", "127.0.0.1".to_owned()),
        ],
    );
    assert_eq!(server.file_errors(&["listen_addresses"]), "");
    assert_eq!(server.hba_errors(), "");
    assert_eq!(
        server.sql(
            "select type || ' ' || array_to_string(database, ',') || ' ' || array_to_string(user_name, ',') || ' ' || address || ' ' || auth_method from pg_hba_file_rules where type <> 'local'"
        ),
        "hostssl pooled pooled_user 127.0.0.1 scram-sha-256",
        "pg_hba.conf's record for PgBouncer's host"
    );

    // The role holds the very secret of userlist.txt: PgBouncer logs in to the server with it.
    let userlist =
        fs::read_to_string(rendered(&tree, "web1", &bouncer_dir.join("userlist.txt"))).unwrap();
    let secret = userlist
        .lines()
        .find_map(|l| l.strip_prefix("\"pooled_user\" \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no entry for pooled_user in userlist.txt:\n{userlist}"));
    assert!(secret.starts_with("SCRAM-SHA-256$4096:"), "{secret}");
    server.sql(&format!(
        "create role pooled_user login password '{secret}'"
    ));
    assert_eq!(
        server.sql("select rolpassword from pg_authid where rolname = 'pooled_user'"),
        secret
    );
    server.sql("create database pooled owner pooled_user");

    // PgBouncer from the rendered files, copied where the spec's config_directory puts them.
    for file in ["pgbouncer.ini", "userlist.txt"] {
        let to = bouncer_dir.join(file);
        fs::copy(rendered(&tree, "web1", &to), &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Only unix_socket_dir may need to differ: Debian's folder, when it is there and PgBouncer's
    // user's; else a folder of the test's.
    let debian = Path::new(DEBIAN_SOCKET_DIR);
    let socket_dir =
        if debian.is_dir() && debian.metadata().unwrap().uid() == id_of(BOUNCER_USER, "-u") {
            debian.to_owned()
        } else {
            let dir = bouncer_dir.join("socket");
            fs::create_dir(&dir).unwrap();
            let ini = fs::read_to_string(bouncer_dir.join("pgbouncer.ini")).unwrap();
            let line = format!("unix_socket_dir = {DEBIAN_SOCKET_DIR}\n");
            assert!(ini.contains(&line), "{ini}");
            fs::write(
                bouncer_dir.join("pgbouncer.ini"),
                ini.replace(&line, &format!("unix_socket_dir = {}\n", dir.display())),
            )
            .unwrap();
            dir
        };
    chown(BOUNCER_USER, &bouncer_dir);
    let changed: Vec<String> = {
        let ours = fs::read_to_string(bouncer_dir.join("pgbouncer.ini")).unwrap();
        let theirs =
            fs::read_to_string(rendered(&tree, "web1", &bouncer_dir.join("pgbouncer.ini")))
                .unwrap();
        ours.lines()
            .zip(theirs.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.split(" = ").next().unwrap().to_owned())
            .collect()
    };
    if socket_dir == debian {
        assert_eq!(
            changed,
            Vec::<String>::new(),
            "the rendered pgbouncer.ini runs as it is"
        );
    } else {
        assert_eq!(changed, ["unix_socket_dir"]);
    }
    assert_eq!(
        fs::read(bouncer_dir.join("userlist.txt")).unwrap(),
        fs::read(rendered(&tree, "web1", &bouncer_dir.join("userlist.txt"))).unwrap()
    );

    let mut bouncer = Pgbouncer::start(
        &bouncer_dir.join("pgbouncer.ini"),
        &socket_dir,
        &w.join("pgbouncer.log"),
    );
    let accepts = wait_for(30, || {
        bouncer.child.try_wait().unwrap().is_none()
            && bouncer
                .try_console(sizes.port, "SHOW VERSION")
                .status
                .success()
    });
    bouncer.assert_running();
    assert!(
        accepts,
        "pgbouncer does not accept connections\n{}",
        bouncer.log()
    );

    Pooled {
        w,
        sizes,
        tree,
        bouncer_dir,
        bouncer,
        server,
        _work: work,
    }
}

#[test]
fn pgbouncer_pools_psql_and_django_through_the_rendered_files() {
    let pg = Binaries::of(16);
    let mut site = deploy(&pg);
    let Sizes { pg_port, port, .. } = site.sizes;

    // psql through PgBouncer: TLS to PgBouncer (\conninfo), SCRAM with the password, and on to
    // the server (its port) over TLS (pg_stat_ssl of the server connection PgBouncer opened).
    let output = through(
        port,
        PASSWORD,
        "require",
        &[
            "\\conninfo",
            "select current_user, inet_server_port(), ssl from pg_stat_ssl where pid = pg_backend_pid()",
        ],
    );
    succeeded(&output, "psql through PgBouncer");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(&format!(
            "You are connected to database \"pooled\" as user \"pooled_user\" on host \"127.0.0.1\" at port \"{port}\".\nSSL connection (protocol: TLSv1."
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("\npooled_user|{pg_port}|t\n")),
        "{text}"
    );
    assert_eq!(
        site.server.sql(
            "select a.usename || ' ' || a.client_addr || ' ' || s.ssl from pg_stat_activity a join pg_stat_ssl s using (pid) where a.usename = 'pooled_user'"
        ),
        "pooled_user 127.0.0.1/32 true",
        "PgBouncer's server connection, kept in the pool"
    );

    // Another password is refused, and so is a client without TLS.
    let wrong = through(port, "not the password", "require", &["select 1"]);
    assert!(!wrong.status.success(), "a wrong password logged in");
    let refused = String::from_utf8_lossy(&wrong.stderr);
    assert!(refused.contains("SASL authentication failed"), "{refused}");
    let plain = through(port, PASSWORD, "disable", &["select 1"]);
    assert!(!plain.status.success(), "a client without TLS got in");
    let refused = String::from_utf8_lossy(&plain.stderr);
    assert!(refused.contains("FATAL:  SSL required"), "{refused}");

    // The console: the spec's pool, mode and sizes.
    let bouncer = &site.bouncer;
    assert_eq!(
        bouncer.row(
            port,
            "SHOW POOLS",
            ("database", "pooled"),
            &["user", "pool_mode"]
        ),
        ["pooled_user", "transaction"]
    );
    assert_eq!(bouncer.config(port, "pool_mode"), "transaction");
    assert_eq!(bouncer.config(port, "default_pool_size"), "3");
    assert_eq!(
        bouncer.row(
            port,
            "SHOW DATABASES",
            ("name", "pooled"),
            &["host", "port", "database", "pool_size"]
        ),
        ["127.0.0.1", &pg_port.to_string(), "pooled", "4"]
    );

    // Django 5.2 with the rendered settings module: its ORM connects to PgBouncer's port with
    // verify-full against the CA, and its query runs on the server, through the pool.
    let project = site.w.join("project");
    django_project(&project);
    fs::copy(
        rendered(&site.tree, "web1", Path::new(SETTINGS)),
        project.join("mysite/pooled.py"),
    )
    .unwrap();
    let queries = || -> u64 {
        bouncer.row(
            port,
            "SHOW STATS",
            ("database", "pooled"),
            &["total_query_count"],
        )[0]
        .parse()
        .unwrap()
    };
    let before = queries();
    let script = "import django\ndjango.setup()\nfrom django.db import connection\nwith connection.cursor() as cursor:\n    cursor.execute(\"select current_user, inet_server_port(), ssl from pg_stat_ssl where pid = pg_backend_pid()\")\n    row = cursor.fetchone()\ninfo = connection.connection.info\nprint(*row, info.host, info.port, connection.connection.pgconn.ssl_in_use)\n";
    let output = Command::new(installed("SITEWRIGHT_DJANGO52_PYTHON"))
        .args(["-c", script])
        .current_dir(&project)
        .env("PYTHONPATH", &project)
        .env("DJANGO_SETTINGS_MODULE", "mysite.pooled")
        .env("DJANGO_SECRET_KEY", SECRET_KEY)
        .env(PASSWORD_VAR, PASSWORD)
        .env("PGPASSFILE", "/dev/null")
        .output()
        .expect("the venv's python runs");
    succeeded(&output, "Django's query through PgBouncer");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("pooled_user {pg_port} True 127.0.0.1 {port} True"),
        "the server's port on the server side, PgBouncer's on Django's, TLS on both"
    );
    let mut after = before;
    assert!(
        wait_for(30, || {
            after = queries();
            after > before
        }),
        "PgBouncer's query count for pooled stays at {before}: Django's query did not go through it"
    );

    // New pool sizes: diff asks for a reload; RELOAD applies them in the same process.
    let pid = site.bouncer.child.id();
    let resized = Sizes {
        default_pool_size: 5,
        pool_size: 6,
        ..site.sizes
    };
    let spec2 = site.w.join("site2.yaml");
    fs::write(&spec2, spec(&site.w, resized)).unwrap();
    let ini = site.ini();
    let summary = diff(&spec2, &site.tree);
    assert!(
        summary.ends_with(&format!(
            "\n1 of 7 files differ on 1 host:\n  web1:\n    1. systemctl reload pgbouncer\n       for {} (reload for [databases] pooled, default_pool_size)\n",
            ini.display()
        )),
        "{summary}"
    );
    let tree2 = site.w.join("tree2");
    render(&spec2, &tree2);
    let new_ini = fs::read_to_string(rendered(&tree2, "web1", &ini)).unwrap();
    let running = fs::read_to_string(&ini).unwrap();
    let old_ini = fs::read_to_string(rendered(&site.tree, "web1", &ini)).unwrap();
    // What the test changed on this machine (unix_socket_dir, if anything) is kept.
    fs::write(&ini, rewritten(&old_ini, &running, &new_ini)).unwrap();
    let bouncer = &mut site.bouncer;
    succeeded(&bouncer.try_console(port, "RELOAD"), "RELOAD");
    bouncer.assert_running();
    assert_eq!(bouncer.child.id(), pid);
    assert_eq!(bouncer.config(port, "default_pool_size"), "5");
    assert_eq!(
        bouncer.row(port, "SHOW DATABASES", ("name", "pooled"), &["pool_size"]),
        ["6"]
    );
    succeeded(
        &through(port, PASSWORD, "require", &["select 1"]),
        "psql through PgBouncer after RELOAD",
    );
}

/// `new` with the lines in which `running` differs from `old` taken from `running`: the
/// machine's own values carried over a new render.
fn rewritten(old: &str, running: &str, new: &str) -> String {
    let mut out = String::new();
    for line in new.lines() {
        let key = line.split(" = ").next().unwrap();
        let ours = old
            .lines()
            .zip(running.lines())
            .find(|(a, b)| a != b && a.split(" = ").next() == Some(key))
            .map(|(_, b)| b);
        out.push_str(ours.unwrap_or(line));
        out.push('\n');
    }
    out
}

/// A new port, on the real program: RELOAD keeps PgBouncer on its old port, so `diff` must ask
/// for a restart, and before Django's, which restarts onto the new port.
#[test]
fn a_new_pgbouncer_port_needs_a_restart() {
    let pg = Binaries::of(16);
    let mut site = deploy(&pg);
    let old_port = site.sizes.port;
    let moved = Sizes {
        port: free_port(),
        ..site.sizes
    };
    let spec2 = site.w.join("site2.yaml");
    fs::write(&spec2, spec(&site.w, moved)).unwrap();
    let ini = site.ini();
    let summary = diff(&spec2, &site.tree);
    let tree2 = site.w.join("tree2");
    render(&spec2, &tree2);
    let new_ini = fs::read_to_string(rendered(&tree2, "web1", &ini)).unwrap();
    assert!(
        new_ini.contains(&format!("\nlisten_port = {}\n", moved.port)),
        "{new_ini}"
    );
    let running = fs::read_to_string(&ini).unwrap();
    let old_ini = fs::read_to_string(rendered(&site.tree, "web1", &ini)).unwrap();
    fs::write(&ini, rewritten(&old_ini, &running, &new_ini)).unwrap();
    let bouncer = &mut site.bouncer;
    succeeded(&bouncer.try_console(old_port, "RELOAD"), "RELOAD");
    bouncer.assert_running();
    // Still on the old port, not on the new one: the new value waits for a restart.
    succeeded(
        &through(old_port, PASSWORD, "require", &["select 1"]),
        "psql through PgBouncer's old port after RELOAD",
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", moved.port)).is_err(),
        "PgBouncer listens on the new port after a RELOAD"
    );
    // PgBouncer first: Django restarts onto the new port, where PgBouncer must listen by then.
    assert!(
        summary.contains(&format!(
            "    1. systemctl restart pgbouncer\n       for {} (restart for listen_port)\n    2. systemctl restart django\n",
            ini.display()
        )),
        "diff does not ask for a restart of PgBouncer for a new listen_port, before Django's:\n{summary}"
    );
}
