//! The ssh lab's machines (tests/it/support/machine.rs) proven on their own, before the tests of
//! `diff --ssh --running` rely on them: a spec rendered by the real binary runs on a primary, a
//! replica and a web host, each a mount namespace with the rendered files at their real paths;
//! over ssh, as the deploy user an operator is, psql (through sudo, over /var/run/postgresql),
//! `nginx -T` and /proc/sys answer as they would on the hosts; the real machine's own folders are
//! untouched, and nothing the machines ran outlives them. Two machines of one host run side by
//! side, each with its own network, /run and /etc.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use crate::support::ansible::{Ansible, handlers_run, recap};
use crate::support::machine::Process;
use crate::support::ssh::{Lab, Machine};
use crate::support::{Sitewright, installed, temp_dir, tree};

/// The port the spec gives PostgreSQL: not the default, so that a client that ignores it fails.
const PG_PORT: u16 = 5434;

/// A primary, its replica and a web host (nginx https, Django) at the machines' addresses, with
/// a sysctl setting. It is a spec an operator writes: the machines run it unchanged, each server
/// in its machine's own network (PostgreSQL's `listen_addresses = '*'` and nginx's port 443 stay
/// there). 512MiB hosts, so that shared_buffers (128MB) is small.
fn spec() -> String {
    format!(
        "site: shop
hosts:
  - {{ name: db1, address: 127.0.0.71, memory: 512MiB, cpus: 2, storage: ssd, roles: [postgres-primary] }}
  - {{ name: db2, address: 127.0.0.72, memory: 512MiB, cpus: 2, storage: ssd, roles: [postgres-replica] }}
  - {{ name: web1, address: 127.0.0.73, memory: 512MiB, cpus: 2, storage: ssd, roles: [web] }}
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
  settings: {{ vm.swappiness: 10 }}
"
    )
}

/// `spec()` rendered with its secrets into `work/tree`, one folder per host.
fn render(work: &Path) -> std::path::PathBuf {
    fs::write(work.join("site.yaml"), spec()).unwrap();
    let out = work.join("tree");
    Sitewright::new()
        .arg("render")
        .arg(work.join("site.yaml"))
        .arg("-o")
        .arg(&out)
        .arg("--with-secrets")
        .env("SHOP_REPLICATION_PASSWORD", "machine-replication")
        .env("SHOP_SECRET_KEY", "machine-secret-key")
        .env("SHOP_DB_PASSWORD", "machine-db-password")
        .run()
        .code(0);
    out
}

#[track_caller]
fn stdout_of(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({})\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// One query as `--running` asks it: over ssh as the deploy user, psql through sudo as the
/// server's OS user, over the default socket folder, on the spec's port.
#[track_caller]
fn psql_over_ssh(machine: &Machine<'_>, query: &str) -> String {
    let command = format!(
        "sudo -n -u {user} psql -X -A -t -p {PG_PORT} -d postgres -c \"{query}\"",
        user = machine.pg_user()
    );
    stdout_of(
        &machine.ssh(&command),
        &format!("{command} on {}", machine.name()),
    )
    .trim_end()
    .to_owned()
}

/// What the real machine holds in the folders the machines show their trees in, and in the state
/// folders they run in: what they must leave as it was.
fn real_folders() -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    [
        "/etc/nginx",
        "/etc/postgresql",
        "/etc/sysctl.d",
        "/etc/cron.d",
        "/srv",
        "/var/log/nginx",
        "/var/lib/nginx",
        "/run/postgresql",
    ]
    .into_iter()
    .map(|dir| (dir.to_owned(), tree(Path::new(dir))))
    .collect()
}

/// The command lines of the processes whose command line names `marker`.
fn pgrep(marker: &str) -> String {
    let output = Command::new("pgrep")
        .args(["-a", "-f", marker])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_primary_a_replica_and_a_web_host_run_their_rendered_files_and_answer_over_ssh() {
    let before = real_folders();
    let work = temp_dir();
    let rendered = render(work.path());
    let lab = Lab::new();
    let lab_dir = lab.dir().to_owned();
    let started = Instant::now();
    let db1 = lab.machine("db1", "127.0.0.71", &rendered.join("db1"));
    let db2 = lab.machine("db2", "127.0.0.72", &rendered.join("db2"));
    let web1 = lab.machine("web1", "127.0.0.73", &rendered.join("web1"));
    eprintln!("3 machines (namespace and sshd) in {:?}", started.elapsed());
    let servers = Instant::now();
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
    eprintln!(
        "2 PostgreSQL 17 (initdb included) and nginx in {:?}",
        servers.elapsed()
    );
    let asked = Instant::now();

    // The login is the deploy user's, with sudo and no password.
    let deploy = installed("SITEWRIGHT_SSH_DEPLOY_USER");
    assert_eq!(
        stdout_of(&db1.ssh("id -un; sudo -n id -un"), "id"),
        format!("{deploy}\nroot\n")
    );
    assert_eq!(db1.pg_user(), installed("SITEWRIGHT_PG_USER"));

    // PostgreSQL: the primary is not in recovery, the replica (its standby.signal rendered) is.
    assert_eq!(psql_over_ssh(&db1, "select pg_is_in_recovery()"), "f");
    assert_eq!(psql_over_ssh(&db2, "select pg_is_in_recovery()"), "t");
    assert!(
        db2.path("/var/lib/postgresql/17/main/standby.signal")
            .is_file(),
        "the rendered standby.signal was kept"
    );
    for machine in [&db1, &db2] {
        let conf = "/etc/postgresql/17/main/postgresql.conf";
        assert_eq!(
            psql_over_ssh(machine, "select count(*) from pg_file_settings where error is not null"),
            "0",
            "{}: {}",
            machine.name(),
            machine.sql("select sourcefile, sourceline, name, error from pg_file_settings where error is not null")
        );
        assert_eq!(
            psql_over_ssh(
                machine,
                "select count(*) from pg_hba_file_rules where error is not null"
            ),
            "0"
        );
        // Settings the spec sets come from the rendered file, at its real path.
        assert_eq!(
            psql_over_ssh(
                machine,
                "select setting, sourcefile from pg_settings where name = 'max_connections'"
            ),
            format!("200|{conf}")
        );
        assert_eq!(
            psql_over_ssh(
                machine,
                "select setting from pg_settings where name = 'port'"
            ),
            PG_PORT.to_string()
        );
        assert_eq!(
            psql_over_ssh(
                machine,
                "select setting, source from pg_settings where name = 'unix_socket_directories'"
            ),
            "/var/run/postgresql|command line"
        );
        assert_eq!(
            psql_over_ssh(machine, "select pg_conf_load_time() is not null"),
            "t"
        );
        // The file the server read is the rendered one, and the test's own psql sees the same.
        assert_eq!(
            stdout_of(&machine.ssh(&format!("cat {conf}")), "cat postgresql.conf"),
            fs::read_to_string(machine.tree().join(&conf[1..])).unwrap()
        );
        assert_eq!(machine.sql("show config_file"), conf);
        assert_eq!(
            machine.sql("show data_directory"),
            "/var/lib/postgresql/17/main"
        );
        assert_eq!(machine.sql("select current_user"), machine.pg_user());
    }

    // nginx: `nginx -T` through sudo prints the rendered site at its real path.
    let site = fs::read_to_string(web1.path("/etc/nginx/conf.d/shop.conf")).unwrap();
    let dump = stdout_of(&web1.ssh("sudo -n nginx -T 2>/dev/null"), "sudo nginx -T");
    assert!(
        dump.contains(&format!(
            "# configuration file /etc/nginx/conf.d/shop.conf:\n{site}"
        )),
        "nginx -T lacks the rendered site:\n{dump}"
    );
    assert!(
        dump.contains("# configuration file /etc/nginx/nginx.conf:\n"),
        "{dump}"
    );
    // It serves https on the spec's port 443 in the machine's network: the app is not there.
    let code = stdout_of(
        &web1.run(
            "curl -sk -o /dev/null -w '%{http_code}' --resolve shop.example.org:443:127.0.0.1 \
             https://shop.example.org/",
        ),
        "curl",
    );
    assert_eq!(code, "502", "nginx answers https with the upstream down");
    // The Django settings and the sysctl file are where the spec puts them; /proc/sys is read.
    assert_eq!(
        stdout_of(
            &web1.ssh("cat /srv/shop/app/settings_production.py"),
            "cat settings"
        ),
        fs::read_to_string(web1.path("/srv/shop/app/settings_production.py")).unwrap()
    );
    assert!(
        stdout_of(
            &web1.ssh("cat /etc/sysctl.d/60-sitewright.conf"),
            "cat sysctl"
        )
        .contains("vm.swappiness = 10"),
    );
    let swappiness = stdout_of(&db1.ssh("cat /proc/sys/vm/swappiness"), "cat swappiness");
    assert!(swappiness.trim().parse::<u32>().is_ok(), "{swappiness:?}");
    // The host's manifest is at its path too, whether the real machine has an /etc/sitewright
    // to mount on or not (it has none, but benches/ssh.py makes one, empty, for its run).
    assert_eq!(
        stdout_of(
            &db2.ssh("cat /etc/sitewright/manifest.json"),
            "cat manifest"
        ),
        fs::read_to_string(db2.path("/etc/sitewright/manifest.json")).unwrap()
    );
    // Each machine shows its own tree: the primary has no standby.signal, the web host no
    // PostgreSQL and no nginx on the database hosts.
    let listing = stdout_of(
        &db1.ssh("sudo -n ls /var/lib/postgresql/17/main"),
        "ls data",
    );
    assert!(!listing.contains("standby.signal"), "{listing}");
    assert_eq!(stdout_of(&web1.ssh("ls -A /etc/postgresql"), "ls"), "");
    assert_eq!(stdout_of(&db1.ssh("ls -A /etc/nginx"), "ls"), "");
    eprintln!("the checks over ssh in {:?}", asked.elapsed());

    // Outside the machines, nothing changed.
    assert_eq!(
        before,
        real_folders(),
        "a machine changed the real machine's folders"
    );

    let processes: Vec<Process> = [&db1, &db2, &web1]
        .iter()
        .flat_map(|m| m.processes())
        .collect();
    for program in ["postgres", "nginx", "sshd"] {
        assert!(
            processes.iter().any(|p| p.command.contains(program)),
            "no {program} among the machines' processes: {processes:#?}"
        );
    }
    let stopping = Instant::now();
    drop((db1, db2, web1));
    eprintln!("3 machines stopped in {:?}", stopping.elapsed());
    let left: Vec<&Process> = processes.iter().filter(|p| p.alive()).collect();
    assert!(left.is_empty(), "left running after the drop: {left:#?}");
    assert_eq!(
        pgrep(&lab_dir.display().to_string()),
        "",
        "a process of the lab is left"
    );
    assert_eq!(
        before,
        real_folders(),
        "a machine changed the real machine's folders"
    );
    drop(lab);
}

#[test]
fn two_web_machines_run_side_by_side_each_with_its_own_port_443_pid_file_and_etc() {
    let work = temp_dir();
    let rendered = render(work.path());
    let lab = Lab::new();
    // The same host's tree twice: both listen on 443, each in its own machine's network, and
    // each has its own /run/nginx.pid.
    let copy = work.path().join("copy");
    let status = Command::new("cp")
        .arg("-a")
        .arg(rendered.join("web1"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    // A folder under /etc that no machine has: it is mounted on all the same (through the
    // overlay of /etc that gives it a folder to mount on), and never made on the real machine.
    let probe = "/etc/sitewright-machine-probe";
    fs::create_dir_all(copy.join(&probe[1..])).unwrap();
    fs::write(copy.join(&probe[1..]).join("file"), "only on webb\n").unwrap();
    assert!(!Path::new(probe).exists());
    let a = lab.machine("weba", "127.0.0.74", &rendered.join("web1"));
    let b = lab.machine("webb", "127.0.0.75", &copy);
    for machine in [&a, &b] {
        machine.self_signed(
            "shop.example.org",
            "/etc/nginx/tls/shop.pem",
            "/etc/nginx/tls/shop.key",
        );
        machine.start_nginx();
    }
    let pids: Vec<String> = [&a, &b]
        .iter()
        .map(|m| stdout_of(&m.ssh("cat /run/nginx.pid"), "cat pid"))
        .collect();
    assert_ne!(pids[0], pids[1]);
    for machine in [&a, &b] {
        let pid = fs::read_to_string(machine.state_path("/run/nginx.pid")).unwrap();
        assert!(pids.contains(&pid));
        stdout_of(&machine.ssh("sudo -n nginx -t"), "nginx -t");
    }
    assert_eq!(
        stdout_of(&b.ssh(&format!("cat {probe}/file")), "cat probe"),
        "only on webb\n"
    );
    assert!(!a.ssh(&format!("test -e {probe}")).status.success());
    assert!(
        !Path::new(probe).exists(),
        "{probe} was made on the real machine"
    );
    // The overlaid /etc is read-only; the tree's folders mounted on it are not.
    assert!(
        !b.run("touch /etc/sitewright-machine-write")
            .status
            .success()
    );
    stdout_of(
        &b.run(&format!("touch {probe}/written")),
        "touch in the tree",
    );
    assert!(copy.join(&probe[1..]).join("written").is_file());
    assert!(
        !Path::new("/run/nginx.pid").exists(),
        "the real /run got a pid file"
    );
}

#[test]
fn a_primary_run_as_postgres_has_its_files_as_the_manifest_says() {
    let work = temp_dir();
    let rendered = render(work.path());
    let lab = Lab::new();
    // The rendered files are postgres:postgres in the manifest: run as `postgres`, the server
    // owns them as a host's would, and `diff --ssh` sees no owner changed.
    let db1 = lab
        .machine("db1", "127.0.0.76", &rendered.join("db1"))
        .with_pg_user("postgres");
    db1.start_postgres(17);
    assert_eq!(psql_over_ssh(&db1, "select current_user"), "postgres");
    assert_eq!(psql_over_ssh(&db1, "select pg_is_in_recovery()"), "f");
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(rendered.join("manifest.json")).unwrap()).unwrap();
    let files: Vec<&serde_json::Value> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["host"] == "db1" && f["path"].as_str().unwrap().starts_with("/etc/postgresql/")
        })
        .collect();
    assert!(!files.is_empty());
    for file in files {
        let path = file["path"].as_str().unwrap();
        let seen = stdout_of(
            &db1.ssh(&format!("sudo -n stat -c '%U:%G %a' {path}")),
            path,
        );
        let mode = u32::from_str_radix(file["mode"].as_str().unwrap(), 8).unwrap();
        assert_eq!(
            seen,
            format!(
                "{}:{} {mode:o}\n",
                file["owner"].as_str().unwrap(),
                file["group"].as_str().unwrap()
            ),
            "{path}"
        );
    }
}

/// The test's own export: its inventory names the machines at addresses where nothing answers, so
/// that only the runner's connection variables (given after it) reach them.
const LAB_INVENTORY: &str = "all:
  children:
    lab:
      hosts:
        ansa:
          ansible_host: 192.0.2.1
        ansb:
          ansible_host: 192.0.2.2
      vars:
        ansible_user: nobody
";

/// Through the runner's connection: a ping, a command become postgres, a check of the variables
/// the test gave, a daemon left running (its handler notified), and a PostgreSQL cluster made and
/// started by pg_ctl as postgres, as a role would, on the socket only (an ssh session shares the
/// real machine's network).
const LAB_PLAYBOOK: &str = "---
- name: Lab self-test
  hosts: lab
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:

    - name: Who runs as postgres
      ansible.builtin.command: id -un
      become_user: postgres
      register: whoami

    - name: Check the login and the variables
      ansible.builtin.assert:
        that:
          - whoami.stdout == 'postgres'
          - lab_marker.host == inventory_hostname
          - lab_marker.list == [1, 2]
          - lab_extra == 'from -e'

    - name: Start a daemon
      ansible.builtin.shell: setsid sleep {{ sleep_seconds }} </dev/null >/dev/null 2>&1 &
      changed_when: true
      notify: Daemon started

    - name: PostgreSQL folders
      ansible.builtin.file:
        path: '{{ item }}'
        state: directory
        owner: postgres
        mode: '0700'
      loop: [/var/lib/postgresql/lab, /var/lib/postgresql/log]

    - name: initdb
      ansible.builtin.command:
        cmd: '{{ pg_bin }}/initdb -D /var/lib/postgresql/lab -U postgres --no-sync'
        creates: /var/lib/postgresql/lab/PG_VERSION
      become_user: postgres

    - name: pg_ctl start
      ansible.builtin.command: >-
        {{ pg_bin }}/pg_ctl start -w -D /var/lib/postgresql/lab -l /var/lib/postgresql/log/pg.log
        -o \"-c listen_addresses='' -c unix_socket_directories=/var/lib/postgresql/lab\"
      become_user: postgres
      changed_when: true

  handlers:
    - name: Daemon started
      ansible.builtin.debug:
        msg: '{{ inventory_hostname }} runs sleep {{ sleep_seconds }}'
";

#[test]
fn ansible_reaches_two_machines_becomes_postgres_and_nothing_it_started_outlives_them() {
    let work = temp_dir();
    let export = work.path().join("export");
    fs::create_dir_all(&export).unwrap();
    fs::write(export.join("inventory.yml"), LAB_INVENTORY).unwrap();
    fs::write(export.join("site.yml"), LAB_PLAYBOOK).unwrap();
    let lab = Lab::new();
    let lab_dir = lab.dir().to_owned();
    let names = ["ansa", "ansb"];
    let trees: Vec<_> = names.iter().map(|n| work.path().join(n)).collect();
    for tree in &trees {
        fs::create_dir_all(tree).unwrap();
    }
    let a = lab.machine("ansa", "127.0.0.77", &trees[0]);
    let b = lab.machine("ansb", "127.0.0.78", &trees[1]);
    // Daemons the test can tell apart from any other process of the machine.
    let sleeps: Vec<u32> = (0..2u32)
        .map(|i| 90_000 + (std::process::id() % 1000) * 2 + i)
        .collect();
    let mut ansible = Ansible::new(&lab, &export)
        .machine(&a)
        .machine(&b)
        .inventory("inventory.yml");
    for (i, name) in names.iter().enumerate() {
        ansible = ansible
            .host_var(name, "sleep_seconds", sleeps[i])
            .host_var(
                name,
                "lab_marker",
                serde_json::json!({ "host": name, "list": [1, 2] }),
            )
            .host_var(name, "pg_bin", installed("SITEWRIGHT_PG17_BIN"));
    }
    let started = Instant::now();
    let output = ansible
        .playbook("site.yml")
        .extra_var("lab_extra", "from -e")
        .args(["--forks", "2"])
        .env("ANSIBLE_TIMEOUT", "30")
        .run_ok();
    eprintln!("the playbook on 2 machines in {:?}", started.elapsed());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected: BTreeMap<String, u64> = [
        ("ok", 8),
        ("changed", 5),
        ("unreachable", 0),
        ("failed", 0),
        ("skipped", 0),
        ("rescued", 0),
        ("ignored", 0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let recap = recap(&output);
    assert_eq!(
        recap.keys().collect::<Vec<_>>(),
        names.iter().collect::<Vec<_>>(),
        "{stdout}"
    );
    for name in names {
        assert_eq!(recap[name], expected, "{name}:\n{stdout}");
    }
    assert_eq!(handlers_run(&output), ["Daemon started"], "{stdout}");
    // Each machine runs its own daemon and its own PostgreSQL, started over ssh, not by the test.
    for (i, machine) in [&a, &b].into_iter().enumerate() {
        let processes = machine.processes();
        let daemon = format!("sleep {}", sleeps[i]);
        assert!(
            processes.iter().any(|p| p.command == daemon),
            "{}: no {daemon} among {processes:#?}",
            machine.name()
        );
        assert!(
            !processes
                .iter()
                .any(|p| p.command == format!("sleep {}", sleeps[1 - i])),
            "{}: the other machine's daemon runs here",
            machine.name()
        );
        let postmaster = processes
            .iter()
            .filter(|p| p.command.contains("-D /var/lib/postgresql/lab"))
            .count();
        assert_eq!(postmaster, 1, "{}: {processes:#?}", machine.name());
        let owner = stdout_of(
            &machine.run("stat -c %U /var/lib/postgresql/lab/postmaster.pid"),
            "stat",
        );
        assert_eq!(owner, "postgres\n");
    }
    // The connection is the runner's: the deploy user at the machines' addresses.
    let connection: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(ansible.connection_path()).unwrap()).unwrap();
    assert_eq!(
        connection["all"]["hosts"]["ansb"]["ansible_host"],
        "127.0.0.78"
    );
    assert!(
        a.log().contains(&format!(
            "Accepted publickey for {}",
            installed("SITEWRIGHT_SSH_DEPLOY_USER")
        )),
        "{}",
        a.log()
    );

    let processes: Vec<Process> = [&a, &b].iter().flat_map(|m| m.processes()).collect();
    let stopping = Instant::now();
    drop((a, b));
    eprintln!("2 machines stopped in {:?}", stopping.elapsed());
    let left: Vec<&Process> = processes.iter().filter(|p| p.alive()).collect();
    assert!(left.is_empty(), "left running after the drop: {left:#?}");
    for sleep in &sleeps {
        assert_eq!(pgrep(&format!("sleep {sleep}")), "", "a daemon is left");
    }
    // PostgreSQL was asked to stop (SIGINT: fast shutdown), and did, before anything was killed.
    for tree in &trees {
        let log = fs::read_to_string(tree.join("var/lib/postgresql/log/pg.log")).unwrap();
        assert!(
            log.contains("received fast shutdown request")
                && log.contains("database system is shut down"),
            "{}:\n{log}",
            tree.display()
        );
    }
    let runner_dir = ansible.connection_path().parent().unwrap().to_owned();
    drop(ansible);
    assert!(
        wait_for_nothing_naming(&runner_dir),
        "an ssh master of the runner is left: {}",
        pgrep(&runner_dir.display().to_string())
    );
    assert_eq!(
        pgrep(&lab_dir.display().to_string()),
        "",
        "a process of the lab is left"
    );
    drop(lab);
}

/// Whether, within 5 seconds, no process names `dir` in its command line.
fn wait_for_nothing_naming(dir: &Path) -> bool {
    crate::support::pg::wait_for(5, || pgrep(&dir.display().to_string()).is_empty())
}
