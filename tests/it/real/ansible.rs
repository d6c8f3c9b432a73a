//! The Ansible export run by ansible-core over ssh against two machines of the ssh lab, as an
//! operator runs it against real hosts: the first run brings up a primary (initdb, its roles, its
//! nginx stream forward) and a replica (pg_basebackup through that forward, with the replication
//! role's SCRAM password) streaming from the files sitewright rendered; a second run changes
//! nothing; a spec change reloads only what changed and restarts only when PostgreSQL says a
//! setting waits for it; a promoted replica is not demoted; `--check --diff` shows no secret.
//!
//! The machines share this machine's kernel, so what real hosts would not share is given apart
//! by the inventory, through the roles' own variables: the replica's server gets its own port
//! (`postgresql_server_options`, `postgresql_port`), as both servers listen on 127.0.0.1; the
//! replica's address in the spec is 127.0.0.1, the address the primary's nginx sees it connect
//! from; and sysctl runs with `--dry-run`, since the kernel is this machine's.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support::ansible::{Ansible, handlers_run, recap};
use crate::support::nginx::debian_nginx_conf;
use crate::support::pg::{free_port, succeeded, wait_for};
use crate::support::ssh::{Lab, Machine};
use crate::support::{Sitewright, installed, temp_dir, tree};

/// Debian 12's own server, whose programs (pg_basebackup, pg_controldata among them) are where the
/// postgresql role looks by default.
const MAJOR: u32 = 15;
const PASSWORD: &str = "r3pl:ic\\a'tion";

fn spec(port: u16, public_port: u16, work_mem: &str, shared_buffers: &str) -> String {
    format!(
        "site: lab
hosts:
  - {{ name: db1, address: 127.0.0.81, memory: 512MiB, cpus: 2, storage: ssd, roles: [postgres-primary] }}
  - {{ name: db2, address: 127.0.0.1, memory: 512MiB, cpus: 2, storage: ssd, roles: [postgres-replica] }}
postgres:
  version: {MAJOR}
  data_directory: /var/lib/postgresql/{MAJOR}/main
  config_directory: /etc/postgresql/{MAJOR}/main
  port: {port}
  plain_text: accepted
  replication:
    user: replicator
    password: {{ env: LAB_REPLICATION_PASSWORD }}
    public_port: {public_port}
  backup:
    database: postgres
    directory: /srv/backup
  settings:
    work_mem: {work_mem}
    shared_buffers: {shared_buffers}
nginx:
  version: \"1.22\"
  openssl: \"3.0\"
sysctl:
  roles: [postgres-primary, postgres-replica]
  settings:
    vm.swappiness: 10
"
    )
}

/// The export of `spec` into `dir`, with the secret in the vault file Ansible loads.
fn export(work: &Path, spec_text: &str, dir: &Path, password: &str) {
    let spec = work.join("site.yaml");
    fs::write(&spec, spec_text).unwrap();
    Sitewright::new()
        .args(["export", "ansible"])
        .arg(&spec)
        .arg("-o")
        .arg(dir)
        .env("LAB_REPLICATION_PASSWORD", PASSWORD)
        .run()
        .code(0);
    fs::write(
        dir.join("group_vars/all/vault.yml"),
        format!(
            "sitewright_secrets:\n  lab_replication_password: {}\n",
            serde_json::to_string(password).unwrap()
        ),
    )
    .unwrap();
}

/// One query as postgres over the machine's socket, on `port`; the rows.
#[track_caller]
fn sql(machine: &Machine<'_>, port: u16, query: &str) -> String {
    let output = machine
        .command("runuser")
        .args(["-u", "postgres", "--"])
        .arg(installed("SITEWRIGHT_PSQL"))
        .args(["-XAtq", "-h", "/var/run/postgresql", "-p"])
        .arg(port.to_string())
        .args(["-d", "postgres", "-c", query])
        .output()
        .unwrap();
    succeeded(&output, &format!("{query} on {}", machine.name()));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stdout(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_exported_playbook_brings_up_a_streaming_replica_changes_nothing_again_and_never_demotes_a_promoted_one()
 {
    let work = temp_dir();
    let dir = work.path().join("ansible");
    let (port, public_port, replica_port) = (free_port(), free_port(), free_port());
    export(
        work.path(),
        &spec(port, public_port, "1MB", "128MB"),
        &dir,
        PASSWORD,
    );
    let lab = Lab::new();
    // Each machine's tree: the folders it takes from it, and the host's own nginx.conf, which
    // includes sitewright's stream file at main level as the file's header asks.
    let trees: Vec<_> = ["db1", "db2"]
        .iter()
        .map(|name| {
            let tree = work.path().join("trees").join(name);
            for dir in [
                "etc/postgresql",
                "var/lib/postgresql",
                "etc/nginx/conf.d",
                "etc/nginx/sites-enabled",
                "etc/nginx/modules-enabled",
                "etc/sysctl.d",
                "etc/cron.d",
                "etc/sitewright",
                "srv",
            ] {
                fs::create_dir_all(tree.join(dir)).unwrap();
            }
            fs::write(
                tree.join("etc/nginx/nginx.conf"),
                debian_nginx_conf() + "include /etc/nginx/sitewright-stream.conf;\n",
            )
            .unwrap();
            fs::copy("/etc/nginx/mime.types", tree.join("etc/nginx/mime.types")).unwrap();
            tree
        })
        .collect();
    let db1 = lab.machine("db1", "127.0.0.81", &trees[0]);
    let db2 = lab.machine("db2", "127.0.0.82", &trees[1]);
    let mut ansible = Ansible::new(&lab, &dir)
        .machine(&db1)
        .machine(&db2)
        .inventory("inventory.yml");
    for (host, server_port) in [("db1", port), ("db2", replica_port)] {
        ansible = ansible
            .host_var(host, "postgresql_control", "pg_ctl")
            .host_var(host, "postgresql_port", server_port)
            .host_var(
                host,
                "postgresql_server_options",
                format!("-c port={server_port} -c unix_socket_directories=/var/run/postgresql"),
            )
            .host_var(host, "nginx_control", "signal")
            .host_var(host, "nginx_binary", installed("SITEWRIGHT_NGINX"))
            .host_var(host, "nginx_check_script", "/srv/sitewright/nginx-check")
            .host_var(host, "sysctl_dry_run", true);
    }
    let run = |extra: &[&str]| {
        ansible
            .playbook("site.yml")
            .args(extra.iter().copied())
            .run()
    };

    // First run: the primary is created and forwarded, the replica copied and streaming.
    let first = run(&[]);
    assert!(first.status.success(), "the first run:\n{}", stdout(&first));
    eprintln!("the first run:\n{}", stdout(&first));
    assert!(
        wait_for(30, || sql(
            &db2,
            replica_port,
            "select status from pg_stat_wal_receiver"
        ) == "streaming"),
        "db2 does not stream from db1:\n{}",
        stdout(&first)
    );
    assert_eq!(
        sql(
            &db1,
            port,
            "select rolreplication and rolcanlogin from pg_roles where rolname = 'replicator'"
        ),
        "t"
    );
    sql(&db1, port, "create table lab_marker as select 42 as answer");
    assert!(
        wait_for(30, || sql(
            &db2,
            replica_port,
            "select to_regclass('lab_marker') is not null"
        ) == "t"),
        "the primary's write never reached the replica"
    );
    assert_eq!(sql(&db2, replica_port, "select pg_is_in_recovery()"), "t");
    let installed_files = tree(&trees[1]);
    assert!(
        installed_files.contains_key("var/lib/postgresql/15/main/standby.signal"),
        "no standby.signal on db2"
    );
    use std::os::unix::fs::PermissionsExt;
    let data = fs::metadata(trees[0].join("var/lib/postgresql/15/main")).unwrap();
    assert_eq!(
        data.permissions().mode() & 0o7777,
        0o700,
        "db1's data directory"
    );
    assert!(
        trees[0].join("srv/backup").is_dir(),
        "the backup folder is not made"
    );

    // Second run: nothing to do.
    let second = run(&[]);
    assert!(
        second.status.success(),
        "the second run:\n{}",
        stdout(&second)
    );
    eprintln!("the second run:\n{}", stdout(&second));
    let counts = recap(&second);
    for host in ["db1", "db2"] {
        assert_eq!(
            counts[host]["changed"],
            0,
            "{host} changed again:\n{}",
            stdout(&second)
        );
    }

    // A reload-only change: reloaded, not restarted, and nginx left alone.
    let started = |m: &Machine<'_>, p: u16| sql(m, p, "select pg_postmaster_start_time()");
    let before = (started(&db1, port), started(&db2, replica_port));
    export(
        work.path(),
        &spec(port, public_port, "2MB", "128MB"),
        &dir,
        PASSWORD,
    );
    let reload = run(&[]);
    assert!(
        reload.status.success(),
        "the run after work_mem:\n{}",
        stdout(&reload)
    );
    let handlers = handlers_run(&reload);
    assert!(
        handlers
            .iter()
            .any(|h| h == "postgresql : Reload PostgreSQL (pg_ctl)"),
        "no reload: {handlers:?}"
    );
    assert!(
        !handlers
            .iter()
            .any(|h| h.contains("Restart") || h.contains("nginx")),
        "more than a reload: {handlers:?}"
    );
    assert_eq!(sql(&db1, port, "show work_mem"), "2MB");
    assert_eq!(sql(&db2, replica_port, "show work_mem"), "2MB");
    assert_eq!(
        (started(&db1, port), started(&db2, replica_port)),
        before,
        "a server restarted for a reload-only change"
    );

    // A change that waits for a restart: restarted once PostgreSQL says so.
    export(
        work.path(),
        &spec(port, public_port, "2MB", "160MB"),
        &dir,
        PASSWORD,
    );
    let restart = run(&[]);
    assert!(
        restart.status.success(),
        "the run after shared_buffers:\n{}",
        stdout(&restart)
    );
    let handlers = handlers_run(&restart);
    assert!(
        handlers
            .iter()
            .any(|h| h
                == "postgresql : Restart PostgreSQL for the settings that wait for it (pg_ctl)"),
        "no restart: {handlers:?}"
    );
    assert_eq!(sql(&db1, port, "show shared_buffers"), "160MB");
    assert_ne!(started(&db1, port), before.0, "db1 was not restarted");

    // --check --diff with another password: the file's change is not shown, nor either secret.
    export(
        work.path(),
        &spec(port, public_port, "2MB", "160MB"),
        &dir,
        "an0ther-s3cret",
    );
    let check = run(&["--check", "--diff"]);
    let shown = stdout(&check);
    assert!(check.status.success(), "--check --diff:\n{shown}");
    assert!(
        !shown.contains("r3pl") && !shown.contains("an0ther"),
        "a secret is shown:\n{shown}"
    );
    export(
        work.path(),
        &spec(port, public_port, "2MB", "160MB"),
        &dir,
        PASSWORD,
    );

    // db2 promoted: the play stops for it, and it stays a primary.
    sql(&db2, replica_port, "select pg_promote()");
    assert!(
        wait_for(30, || sql(&db2, replica_port, "select pg_is_in_recovery()")
            == "f"),
        "db2 was not promoted"
    );
    // A check run says so too, as the run would.
    let checked = run(&["--check"]);
    let shown = stdout(&checked);
    assert!(
        !checked.status.success() && shown.contains("it has been promoted"),
        "--check passed on a promoted replica:\n{shown}"
    );
    assert_eq!(recap(&checked)["db1"]["failed"], 0, "{shown}");
    let promoted = run(&[]);
    let shown = stdout(&promoted);
    assert!(
        !promoted.status.success(),
        "the run on a promoted replica passed:\n{shown}"
    );
    let counts = recap(&promoted);
    assert_eq!(counts["db2"]["failed"], 1, "{shown}");
    assert_eq!(counts["db1"]["failed"], 0, "{shown}");
    assert!(shown.contains("it has been promoted"), "{shown}");
    assert!(
        !trees[1]
            .join("var/lib/postgresql/15/main/standby.signal")
            .exists(),
        "standby.signal was written on the promoted replica"
    );
    assert_eq!(sql(&db2, replica_port, "select pg_is_in_recovery()"), "f");
}
