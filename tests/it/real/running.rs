//! `diff --ssh --running` against what really runs: machines of the ssh lab
//! (tests/it/support/machine.rs), each a host's rendered files at their real paths with
//! PostgreSQL 17 and nginx run from them, logged in to as the deploy user an operator is. From a
//! site that runs as its files say, each drift is made as it happens on a host (a file deployed
//! and not reloaded, a restart still owed, ALTER SYSTEM, a pg_hba.conf the server would refuse, a
//! replica promoted, nginx that does not read our file or fails its test, a kernel value not
//! applied, a server that cannot be asked) and must be said, with what to run, and go once the
//! host converges. No secret is printed, and nothing is written on a host.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::ssh::{Lab, Machine};
use crate::support::{Outcome, Sitewright, installed, temp_dir};

/// The port the spec gives PostgreSQL: not the default, so a psql that ignores it fails.
const PG_PORT: u16 = 5434;

/// The replication password: never printed.
const PASSWORD: &str = "running-Replication-0815";

const CONF: &str = "/etc/postgresql/17/main/postgresql.conf";
const HBA: &str = "/etc/postgresql/17/main/pg_hba.conf";

/// A primary, its replica and a web host; the kernel's vm.swappiness as `swappiness`.
fn spec(swappiness: &str) -> String {
    format!(
        "site: shop
hosts:
  - {{ name: db1, address: 127.0.0.81, memory: 512MiB, cpus: 2, storage: ssd, roles: [postgres-primary] }}
  - {{ name: db2, address: 127.0.0.82, memory: 512MiB, cpus: 2, storage: ssd, roles: [postgres-replica] }}
  - {{ name: web1, address: 127.0.0.83, memory: 512MiB, cpus: 2, storage: ssd, roles: [web] }}
postgres:
  version: 17
  data_directory: /var/lib/postgresql/17/main
  config_directory: /etc/postgresql/17/main
  port: {PG_PORT}
  plain_text: accepted
  replication:
    user: replicator
    password: {{ env: SHOP_REPLICATION_PASSWORD }}
nginx:
  version: \"1.22\"
  openssl: \"3.0\"
  https:
    server_name: shop.example.org
    tls: {{ certificate: /etc/nginx/tls/shop.pem, certificate_key: /etc/nginx/tls/shop.key }}
    upstream: {{ servers: [127.0.0.1:8000] }}
django:
  version: \"5.2\"
  settings_file: /srv/shop/app/settings_production.py
  base_module: app.settings
  secret_key: {{ env: SHOP_SECRET_KEY }}
  database: {{ name: shop, user: shop, password: {{ env: SHOP_DB_PASSWORD }}, host: db1 }}
sysctl:
  settings: {{ vm.swappiness: {swappiness} }}
"
    )
}

/// The site's spec and its tree as deployed (`render --with-secrets`), and the inventory that
/// reaches the machines: sudo for the files only root reads, psql as `postgres`.
struct Site {
    work: tempfile::TempDir,
}

impl Site {
    fn new(swappiness: &str) -> Self {
        let work = temp_dir();
        fs::write(work.path().join("site.yaml"), spec(swappiness)).unwrap();
        Sitewright::new()
            .arg("render")
            .arg(work.path().join("site.yaml"))
            .arg("-o")
            .arg(work.path().join("tree"))
            .arg("--with-secrets")
            .env("SHOP_REPLICATION_PASSWORD", PASSWORD)
            .env("SHOP_SECRET_KEY", "unused")
            .env("SHOP_DB_PASSWORD", "unused")
            .run()
            .code(0);
        fs::write(
            work.path().join("inventory.yaml"),
            "hosts:\n  db1: { sudo: true, postgres_user: postgres }\n  db2: { sudo: true, postgres_user: postgres }\n  web1: { sudo: true }\n",
        )
        .unwrap();
        Self { work }
    }

    fn tree(&self, host: &str) -> PathBuf {
        self.work.path().join("tree").join(host)
    }

    /// `diff SPEC --ssh --running` of `spec` (the site's own unless another is written), with
    /// its secrets read and compared; no secret in what it prints.
    fn diff(&self, lab: &Lab, spec: Option<&str>) -> Outcome {
        let path = match spec {
            Some(text) => {
                let path = self.work.path().join("other.yaml");
                fs::write(&path, text).unwrap();
                path
            }
            None => self.work.path().join("site.yaml"),
        };
        let outcome = Sitewright::new()
            .arg("diff")
            .arg(path)
            .args(["--ssh", "--running", "--with-secrets", "--timeout", "30"])
            .arg("--ssh-config")
            .arg(lab.config_path())
            .arg("--inventory")
            .arg(self.work.path().join("inventory.yaml"))
            .env("SHOP_REPLICATION_PASSWORD", PASSWORD)
            .env("SHOP_SECRET_KEY", "unused")
            .env("SHOP_DB_PASSWORD", "unused")
            .run();
        outcome.neither_has(PASSWORD);
        outcome
    }
}

/// The kernel's vm.swappiness now: the machines share this machine's kernel, which no test
/// changes.
fn swappiness() -> String {
    fs::read_to_string("/proc/sys/vm/swappiness")
        .unwrap()
        .trim()
        .to_owned()
}

/// Rewrites the live file at `path` on `machine` with `content` (its mode and owner kept), so
/// that it is newer than what the server read.
fn rewrite(machine: &Machine<'_>, path: &str, content: &str) {
    // The server's load time and a file's time are in whole seconds: a second apart, a file
    // written after a reload is newer than it.
    sleep(Duration::from_millis(1100));
    fs::write(machine.path(path), content).unwrap();
}

/// Asks the server to read its files again and waits until a new session sees it did.
fn reload(machine: &Machine<'_>) {
    let before = machine.sql("select extract(epoch from pg_conf_load_time())");
    machine.sql("select pg_reload_conf()");
    let deadline = Instant::now() + Duration::from_secs(20);
    while machine.sql("select extract(epoch from pg_conf_load_time())") == before {
        assert!(Instant::now() < deadline, "the server did not reload");
        sleep(Duration::from_millis(50));
    }
}

/// The lines of `outcome`'s output that say something needs doing.
fn required(outcome: &Outcome) -> Vec<&str> {
    outcome
        .stdout
        .lines()
        .filter(|l| l.starts_with("required: "))
        .collect()
}

#[test]
fn each_drift_in_what_runs_is_said_with_what_to_run_and_goes_once_the_host_converges() {
    let site = Site::new(&swappiness());
    let lab = Lab::new();
    let db1 = lab
        .machine("db1", "127.0.0.81", &site.tree("db1"))
        .with_pg_user("postgres");
    let db2 = lab
        .machine("db2", "127.0.0.82", &site.tree("db2"))
        .with_pg_user("postgres");
    let web1 = lab.machine("web1", "127.0.0.83", &site.tree("web1"));
    std::thread::scope(|scope| {
        scope.spawn(|| db1.start_postgres(17));
        scope.spawn(|| db2.start_postgres(17));
        scope.spawn(|| {
            web1.self_signed(
                "shop.example.org",
                "/etc/nginx/tls/shop.pem",
                "/etc/nginx/tls/shop.key",
            );
            web1.start_nginx();
        });
    });
    let conf = fs::read_to_string(db1.path(CONF)).unwrap();
    let hba = fs::read_to_string(db1.path(HBA)).unwrap();

    // As deployed and started: the files are the spec's, and so is what runs.
    site.diff(&lab, None)
        .code(0)
        .stdout_has("no differences in 12 files")
        .neither_has("not compared");

    // A file deployed and not reloaded: the file is right, the server is not.
    rewrite(&db1, CONF, &conf);
    let outcome = site.diff(&lab, None);
    outcome.code(1).neither_has("--- a/");
    assert_eq!(
        required(&outcome),
        [format!(
            "required: db1{CONF}: changed after the server last read its configuration, so it does not run what the file says yet: run `systemctl reload postgresql` (or `SELECT pg_reload_conf()`)"
        )],
        "{}",
        outcome.stdout
    );
    reload(&db1);
    site.diff(&lab, None).code(0);

    // A restart still owed: a setting that needs one changed in the file and was reloaded.
    rewrite(
        &db1,
        CONF,
        &conf.replace("max_connections = 200", "max_connections = 150"),
    );
    reload(&db1);
    let outcome = site.diff(&lab, None);
    outcome
        .code(1)
        .stdout_has("-max_connections = 150")
        .stdout_has(&format!(
            "required: db1{CONF}: max_connections changed in the configuration and the server runs the old value until it restarts (pending_restart): run `systemctl restart postgresql`"
        ));
    rewrite(&db1, CONF, &conf);
    reload(&db1);
    site.diff(&lab, None).code(0);

    // ALTER SYSTEM wins over the file.
    db1.sql("alter system set work_mem = '8MB'");
    reload(&db1);
    let written = conf
        .lines()
        .find_map(|l| l.strip_prefix("work_mem = "))
        .and_then(|v| v.split_whitespace().next())
        .expect("the rendered file sets work_mem")
        .to_owned();
    site.diff(&lab, None).code(1).stdout_has(&format!(
        "required: db1{CONF}: work_mem runs as 8192 from ALTER SYSTEM (postgresql.auto.conf), which wins over the file's {written}: run `ALTER SYSTEM RESET work_mem` and reload"
    ));
    db1.sql("alter system reset work_mem");
    reload(&db1);
    site.diff(&lab, None).code(0);

    // A pg_hba.conf the server would refuse at its next reload.
    rewrite(
        &db1,
        HBA,
        &format!("{hba}host\tall\tall\t127.0.0.1/32\tmd6\n"),
    );
    let outcome = site.diff(&lab, None);
    let line = hba.lines().count() + 1;
    outcome
        .code(1)
        .stdout_has("-host\tall\tall\t127.0.0.1/32\tmd6")
        .stdout_has(&format!(
            "required: db1{HBA}: line {line}: invalid authentication method \"md6\": a reload is refused and the server keeps its old rules"
        ));
    rewrite(&db1, HBA, &hba);
    reload(&db1);
    site.diff(&lab, None).code(0);

    // The kernel runs another value than the file sets.
    let kernel = swappiness();
    let other = if kernel == "10" { "11" } else { "10" };
    site.diff(&lab, Some(&spec(other)))
        .code(1)
        .stdout_has(&format!(
            "required: db1/etc/sysctl.d/60-sitewright.conf: vm.swappiness is {kernel} in the running kernel and {other} in the file: run `sysctl -p /etc/sysctl.d/60-sitewright.conf (or sysctl --system)`"
        ));

    // nginx does not read our file: its nginx.conf no longer includes conf.d.
    let nginx_conf = fs::read_to_string(web1.path("/etc/nginx/nginx.conf")).unwrap();
    let include = "include /etc/nginx/conf.d/*.conf;";
    assert!(nginx_conf.contains(include), "{nginx_conf}");
    fs::write(
        web1.path("/etc/nginx/nginx.conf"),
        nginx_conf.replace(include, ""),
    )
    .unwrap();
    site.diff(&lab, None).code(1).stdout_has(
        "required: web1/etc/nginx/conf.d/shop.conf: nginx does not read this file: no `include` of its configuration reaches it (`nginx -T` does not list it)",
    );
    fs::write(web1.path("/etc/nginx/nginx.conf"), &nginx_conf).unwrap();
    // ... and a file that fails nginx's test.
    let shop = fs::read_to_string(web1.path("/etc/nginx/conf.d/shop.conf")).unwrap();
    fs::write(
        web1.path("/etc/nginx/conf.d/shop.conf"),
        format!("{shop}ssl_protocol TLSv1.2;\n"),
    )
    .unwrap();
    site.diff(&lab, None)
        .code(1)
        .stdout_has("-ssl_protocol TLSv1.2;")
        .stdout_has("required: web1/etc/nginx/conf.d/shop.conf: `nginx -T` fails on the host ([emerg] unknown directive \"ssl_protocol\" in /etc/nginx/conf.d/shop.conf:")
        .stdout_has("): a reload is refused and nginx keeps running its old configuration");
    fs::write(web1.path("/etc/nginx/conf.d/shop.conf"), &shop).unwrap();
    site.diff(&lab, None).code(0);

    // The replica promoted: the spec still makes it one, and standby.signal is gone.
    db2.sql("select pg_promote()");
    let outcome = site.diff(&lab, None);
    outcome
        .code(1)
        .stdout_has("+++ b/db2/var/lib/postgresql/17/main/standby.signal")
        .stdout_has(&format!(
            "required: db2{CONF}: the spec makes this host a replica and its server is out of recovery: it has been promoted."
        ));

    // A server that cannot be asked: said for its host, the others compared, exit 2.
    let stopped = db2
        .pg_command(Path::new(&installed("SITEWRIGHT_PG17_BIN")).join("pg_ctl"))
        .args(["stop", "-m", "fast", "-D", "/var/lib/postgresql/17/main"])
        .output()
        .unwrap();
    assert!(stopped.status.success(), "{stopped:?}");
    site.diff(&lab, None)
        .code(2)
        .stderr_has("sitewright: db2: what runs was not compared: psql: ")
        .stdout_has("+++ b/db2/var/lib/postgresql/17/main/standby.signal")
        .neither_has("db1: what runs was not compared");

    // Nothing was written on a host by all those diffs: the trees hold what the test put there.
    assert_eq!(fs::read_to_string(db1.path(CONF)).unwrap(), conf);
    assert_eq!(fs::read_to_string(db1.path(HBA)).unwrap(), hba);
}

/// A primary alone, of PostgreSQL `major`, on Debian's paths.
fn primary_spec(major: u32) -> String {
    format!(
        "site: shop
hosts:
  - {{ name: db1, address: 127.0.0.84, memory: 512MiB, cpus: 2, storage: ssd, roles: [postgres-primary] }}
postgres:
  version: {major}
  data_directory: /var/lib/postgresql/{major}/main
  config_directory: /etc/postgresql/{major}/main
  port: {PG_PORT}
"
    )
}

#[test]
fn every_major_from_11_to_18_answers_what_running_asks() {
    for major in 11..=18 {
        let work = temp_dir();
        fs::write(work.path().join("site.yaml"), primary_spec(major)).unwrap();
        Sitewright::new()
            .arg("render")
            .arg(work.path().join("site.yaml"))
            .arg("-o")
            .arg(work.path().join("tree"))
            .run()
            .code(0);
        fs::write(
            work.path().join("inventory.yaml"),
            "hosts:\n  db1: { sudo: true, postgres_user: postgres }\n",
        )
        .unwrap();
        let lab = Lab::new();
        let db1 = lab
            .machine("db1", "127.0.0.84", &work.path().join("tree/db1"))
            .with_pg_user("postgres");
        db1.start_postgres(major);
        let diff = || {
            Sitewright::new()
                .arg("diff")
                .arg(work.path().join("site.yaml"))
                .args(["--ssh", "--running", "--timeout", "30"])
                .arg("--ssh-config")
                .arg(lab.config_path())
                .arg("--inventory")
                .arg(work.path().join("inventory.yaml"))
                .run()
        };
        let clean = diff();
        assert_eq!(
            (clean.code, clean.stderr.as_str()),
            (0, ""),
            "PostgreSQL {major}:\n{}",
            clean.stdout
        );
        // The server's answer is read on every major: a drift in it is found.
        db1.sql("alter system set work_mem = '8MB'");
        reload(&db1);
        diff().code(1).stdout_has(&format!(
            "required: db1/etc/postgresql/{major}/main/postgresql.conf: work_mem runs as 8192 from ALTER SYSTEM (postgresql.auto.conf)"
        ));
    }
}
