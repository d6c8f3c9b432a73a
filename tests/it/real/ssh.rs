//! `diff --ssh` and `fetch` against real OpenSSH servers on loopback (tests/it/support/ssh.rs),
//! one per host of the spec, each with its own file tree: identical, edited, missing, a host
//! down, a changed host key and a hung host, with the others still compared; no secret in any
//! output, and nothing written on a host.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::ssh::{Host, Lab};
use crate::support::{Outcome, Sitewright, temp_dir, tree};

/// A primary, its replica (with a replication password in its passfile) and a web host.
const SPEC: &str = r#"site: shop
hosts:
  - { name: db1, address: 192.0.2.11, memory: 8GiB, cpus: 4, storage: ssd, roles: [postgres-primary] }
  - { name: db2, address: 192.0.2.12, memory: 8GiB, cpus: 4, storage: ssd, roles: [postgres-replica] }
  - { name: web1, address: 192.0.2.21, memory: 8GiB, cpus: 4, storage: ssd, roles: [web] }
postgres:
  version: 17
  data_directory: /var/lib/postgresql/17/main
  config_directory: /etc/postgresql/17/main
  plain_text: accepted
  replication:
    user: replicator
    password: { env: SHOP_REPLICATION_PASSWORD }
nginx:
  version: "1.22"
  openssl: "3.0"
  https:
    server_name: shop.example.org
    tls: { certificate: /etc/ssl/certs/shop.pem, certificate_key: /etc/ssl/private/shop.key }
    upstream: { servers: [127.0.0.1:8000] }
django:
  version: "5.2"
  settings_file: /srv/shop/app/settings_production.py
  base_module: app.settings
  secret_key: { env: SHOP_SECRET_KEY }
  database: { name: shop, user: shop, password: { env: SHOP_DB_PASSWORD }, host: db1 }
"#;

/// The replication password: it must never be printed.
const PASSWORD: &str = "s3cret-Replication-4711";

/// A lab whose site spec is written, with the tree `render --with-secrets` makes for it.
struct Site {
    work: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let work = temp_dir();
        fs::write(work.path().join("site.yaml"), SPEC).unwrap();
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
        Self { work }
    }

    /// Deploys `host`'s rendered files into its tree, with their modes and owners.
    fn deploy(&self, host: &Host<'_>) {
        let manifest: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(self.work.path().join("tree/manifest.json")).unwrap(),
        )
        .unwrap();
        let files = tree(&self.work.path().join("tree").join(host.name()));
        for (path, bytes) in files {
            let on_host = format!("/{path}");
            let entry = manifest["files"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["host"] == host.name() && f["path"] == on_host.as_str());
            let mode = entry.map_or(0o644, |f| {
                u32::from_str_radix(f["mode"].as_str().unwrap(), 8).unwrap()
            });
            let written = host.write(&on_host, bytes, mode);
            if let Some(f) = entry {
                let owner = format!(
                    "{}:{}",
                    f["owner"].as_str().unwrap(),
                    f["group"].as_str().unwrap()
                );
                let status = std::process::Command::new("chown")
                    .arg(&owner)
                    .arg(&written)
                    .status()
                    .unwrap();
                assert!(status.success(), "chown {owner}");
            }
        }
    }

    /// Deploys each of `hosts` and gives each its tree as `/` in the inventory it returns.
    fn deploy_all(&self, hosts: &[&Host<'_>]) -> std::path::PathBuf {
        for host in hosts {
            self.deploy(host);
        }
        let roots: Vec<(&str, &Path)> = hosts.iter().map(|h| (h.name(), h.root())).collect();
        self.inventory(&roots)
    }

    /// An inventory that gives each host its tree as `/`.
    fn inventory(&self, hosts: &[(&str, &Path)]) -> std::path::PathBuf {
        let mut text = String::from("hosts:\n");
        for (name, root) in hosts {
            text.push_str(&format!("  {name}: {{ root: {} }}\n", root.display()));
        }
        let path = self.work.path().join("inventory.yaml");
        fs::write(&path, text).unwrap();
        path
    }

    fn diff(&self, lab: &Lab, inventory: &Path, extra: &[&str]) -> Outcome {
        Sitewright::new()
            .arg("diff")
            .arg(self.work.path().join("site.yaml"))
            .arg("--ssh")
            .arg("--ssh-config")
            .arg(lab.config_path())
            .arg("--inventory")
            .arg(inventory)
            .args(extra)
            .env("SHOP_REPLICATION_PASSWORD", PASSWORD)
            .run()
    }
}

/// Every file under each host's tree, with its bytes: what must not change.
fn trees(hosts: &[&Host<'_>]) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    hosts
        .iter()
        .map(|h| (h.name().to_owned(), tree(h.root())))
        .collect()
}

fn never_says_the_password(out: &Outcome) {
    assert!(
        !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
        "the password was printed"
    );
}

#[test]
fn identical_edited_and_missing_files_over_ssh_and_nothing_written_on_a_host() {
    let lab = Lab::new();
    let site = Site::new();
    let db1 = lab.host("db1", "127.0.0.21");
    let db2 = lab.host("db2", "127.0.0.22");
    let web1 = lab.host("web1", "127.0.0.23");
    let inventory = site.deploy_all(&[&db1, &db2, &web1]);
    let before = trees(&[&db1, &db2, &web1]);

    let same = site.diff(&lab, &inventory, &[]);
    same.code(0).stdout_has("no differences");
    never_says_the_password(&same);

    // Edited on db1, removed on web1: both shown, each for its host.
    let conf = db1.path("/etc/postgresql/17/main/postgresql.conf");
    let text = fs::read_to_string(&conf).unwrap();
    fs::write(&conf, text.replace("port = 5432", "port = 5433")).unwrap();
    fs::remove_file(web1.path("/etc/nginx/conf.d/shop.conf")).unwrap();
    let changed = site.diff(&lab, &inventory, &[]);
    changed
        .code(1)
        .stdout_has("-port = 5433")
        .stdout_has("+port = 5432")
        .stdout_has("web1/etc/nginx/conf.d/shop.conf");
    never_says_the_password(&changed);

    // The passfile's password, changed on the host, is compared by hash and never shown.
    let passfile = db2.path("/etc/postgresql/17/main/replication.pgpass");
    let text = fs::read_to_string(&passfile).unwrap();
    fs::write(&passfile, text.replace(PASSWORD, "another-password")).unwrap();
    let secret = site.diff(&lab, &inventory, &["--with-secrets"]);
    secret.code(1).stdout_has("secret changed");
    never_says_the_password(&secret);

    let mut after = trees(&[&db1, &db2, &web1]);
    // What the test itself changed, put back for the comparison.
    after.get_mut("db1").unwrap().insert(
        "etc/postgresql/17/main/postgresql.conf".to_owned(),
        before["db1"]["etc/postgresql/17/main/postgresql.conf"].clone(),
    );
    after.get_mut("web1").unwrap().insert(
        "etc/nginx/conf.d/shop.conf".to_owned(),
        before["web1"]["etc/nginx/conf.d/shop.conf"].clone(),
    );
    after.get_mut("db2").unwrap().insert(
        "etc/postgresql/17/main/replication.pgpass".to_owned(),
        before["db2"]["etc/postgresql/17/main/replication.pgpass"].clone(),
    );
    assert_eq!(before, after, "diff --ssh wrote on a host");
}

#[test]
fn a_host_down_a_changed_key_or_a_hung_host_is_reported_and_the_others_are_compared() {
    let lab = Lab::new();
    let site = Site::new();
    let db1 = lab.host("db1", "127.0.0.31");
    site.deploy(&db1);
    let conf = db1.path("/etc/postgresql/17/main/postgresql.conf");
    let text = fs::read_to_string(&conf).unwrap();
    fs::write(&conf, text.replace("port = 5432", "port = 5433")).unwrap();
    lab.down_host("db2", "127.0.0.32");
    let web1 = lab.wrong_key_host("web1", "127.0.0.33");
    site.deploy(&web1);
    let inventory = site.inventory(&[("db1", db1.root()), ("web1", web1.root())]);

    let out = site.diff(&lab, &inventory, &[]);
    out.code(2)
        .stderr_has("db2: not compared: ")
        .stderr_has("Connection refused")
        .stderr_has("web1: not compared: Host key verification failed")
        .stderr_has("the comparison is incomplete: 2 hosts could not be read")
        // db1 is compared all the same.
        .stdout_has("+port = 5432");
    never_says_the_password(&out);

    // A host that takes the connection and never answers costs its timeout, and no more hosts.
    // The timeout is every host's: long enough for the others on a loaded machine.
    let lab = Lab::new();
    let db1 = lab.host("db1", "127.0.0.34");
    site.deploy(&db1);
    let _hung = lab.silent_host("db2", "127.0.0.35");
    let web1 = lab.host("web1", "127.0.0.36");
    site.deploy(&web1);
    let inventory = site.inventory(&[("db1", db1.root()), ("web1", web1.root())]);
    let out = site.diff(&lab, &inventory, &["--timeout", "8"]);
    out.code(2)
        .stderr_has("db2: not compared: ")
        .stderr_has("timed out")
        .stdout_has("no differences");
}

#[test]
fn fetch_writes_the_live_layout_that_diff_live_reads() {
    let lab = Lab::new();
    let site = Site::new();
    let db1 = lab.host("db1", "127.0.0.41");
    let db2 = lab.host("db2", "127.0.0.42");
    let web1 = lab.host("web1", "127.0.0.43");
    let inventory = site.deploy_all(&[&db1, &db2, &web1]);
    let out_dir = site.work.path().join("fetched");
    Sitewright::new()
        .arg("fetch")
        .arg(site.work.path().join("site.yaml"))
        .arg("-o")
        .arg(&out_dir)
        .arg("--ssh-config")
        .arg(lab.config_path())
        .arg("--inventory")
        .arg(&inventory)
        .run()
        .code(0)
        .stdout_has("from 3 hosts");
    assert_eq!(
        fs::read(out_dir.join("db1/etc/postgresql/17/main/postgresql.conf")).unwrap(),
        fs::read(db1.path("/etc/postgresql/17/main/postgresql.conf")).unwrap()
    );
    Sitewright::new()
        .arg("diff")
        .arg(site.work.path().join("site.yaml"))
        .arg("--live")
        .arg(&out_dir)
        .env("SHOP_REPLICATION_PASSWORD", PASSWORD)
        .run()
        .code(0);
}

#[test]
fn a_file_only_root_reads_is_not_compared_without_sudo_and_a_refused_sudo_is_said() {
    let lab = Lab::new();
    let site = Site::new();
    let db1 = lab.host("db1", "127.0.0.51");
    site.deploy(&db1);
    // The unprivileged user must reach the tree; pg_hba.conf stays postgres's own, 0640.
    let mut folder = Some(db1.root());
    while let Some(dir) = folder {
        if dir == lab.dir().parent().unwrap() {
            break;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        folder = dir.parent();
    }
    let user = crate::support::installed("SITEWRIGHT_SSH_USER");
    let inventory = |sudo: bool| {
        let path = site.work.path().join("inventory.yaml");
        fs::write(
            &path,
            format!(
                "hosts:\n  db1: {{ ssh: {user}@db1, sudo: {sudo}, root: {} }}\n",
                db1.root().display()
            ),
        )
        .unwrap();
        path
    };
    let out = site.diff(&lab, &inventory(false), &["--host", "db1"]);
    out.code(2)
        .stderr_has("db1/etc/postgresql/17/main/pg_hba.conf: not compared: /etc/postgresql/17/main/pg_hba.conf is not readable by the user ssh logs in as: give the host `sudo: true` in the inventory")
        .stderr_has("the comparison is incomplete: 1 file could not be read");
    // postgresql.conf, which anyone may read, is compared all the same.
    assert!(!out.stdout.contains("postgresql.conf"), "{}", out.stdout);

    let refused = site.diff(&lab, &inventory(true), &["--host", "db1"]);
    refused
        .code(2)
        .stderr_has("db1: not compared: sudo refused: sudo: a password is required");
}
