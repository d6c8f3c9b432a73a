//! The pgbouncer role of the Ansible export, run by ansible-core into a temporary root: the
//! userlist.txt its filter computes (SCRAM verifiers, ASCII and non-ASCII passwords, with the
//! salt sitewright derives) and the pgbouncer.ini it places are what `render --with-secrets`
//! writes, byte for byte, with their modes and owners; a second run changes nothing; and
//! ansible-lint finds nothing in the project at its production profile. The postgresql role's
//! role creation, run against a real PostgreSQL, stores for each role PgBouncer logs in as the
//! very secret userlist.txt holds, changes nothing the second time, and each role logs in over
//! TCP with its password (scram-sha-256).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::export::pgbouncer_spec;
use crate::support::ansible::assert_lint_clean;
use crate::support::pg::{Binaries, Server, free_port, succeeded};
use crate::support::{Sitewright, installed, temp_dir, tree};

/// Each secret of the auth_file site with its password: quotes and a backslash, a soft hyphen
/// (which SASLprep maps to nothing), a ligature (NFKC makes it "fi") and a character unassigned
/// in Unicode 3.2 (PostgreSQL hashes that password's bytes as they are).
const PASSWORDS: &[(&str, &str)] = &[
    (
        "CATMAID_DB_PASSWORD",
        "s3cret \"quoted\" back\\slash: 'odd'",
    ),
    ("REPORTER_PASSWORD", "I\u{00AD}X \u{FB01}x"),
    ("AUDITOR_PASSWORD", "a\u{1F100}"),
    ("DJANGO_SECRET_KEY", "django-s3cret"),
];

fn playbook(dir: &Path, root: &Path) -> Output {
    let home = root.join(".ansible");
    Command::new(installed("SITEWRIGHT_ANSIBLE_PLAYBOOK"))
        .current_dir(dir)
        .env("ANSIBLE_HOME", &home)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_REMOTE_TEMP", home.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .args(["-i", "inventory.yml", "-c", "local"])
        .arg("-e")
        .arg(format!(
            "ansible_python_interpreter={}",
            installed("SITEWRIGHT_ANSIBLE_PYTHON")
        ))
        .arg("-e")
        .arg(format!(
            "sitewright_root={}/{{{{ inventory_hostname }}}}",
            root.display()
        ))
        .arg("site.yml")
        .output()
        .expect("ansible-playbook runs")
}

fn recap(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.split("PLAY RECAP").nth(1).unwrap_or(&text).to_owned()
}

/// `sitewright ARGS` with the passwords in its environment.
fn sitewright(args: &[&str]) -> Sitewright {
    PASSWORDS
        .iter()
        .fold(Sitewright::new(), |s, (name, value)| s.env(name, value))
        .args(args)
}

/// The auth_file spec written to `spec`, exported to `export` with the passwords in its vault,
/// and rendered with them to `rendered`.
fn export_and_render(spec: &Path, export: &Path, rendered: &Path) {
    fs::write(spec, pgbouncer_spec(false)).unwrap();
    Sitewright::new()
        .args(["export", "ansible"])
        .arg(spec)
        .arg("-o")
        .arg(export)
        .run()
        .code(0);
    let mut vault = String::from("sitewright_secrets:\n");
    for (name, value) in PASSWORDS {
        vault.push_str(&format!(
            "  {}: {}\n",
            name.to_ascii_lowercase(),
            serde_json::to_string(value).unwrap()
        ));
    }
    fs::write(export.join("group_vars/all/vault.yml"), vault).unwrap();
    sitewright(&["render", "--with-secrets"])
        .arg(spec)
        .arg("-o")
        .arg(rendered)
        .run()
        .code(0);
}

#[test]
fn ansible_places_pgbouncer_files_equal_to_render_with_secrets() {
    let work = temp_dir();
    let w = work.path();
    let (spec, export, root, rendered) = (
        w.join("site.yaml"),
        w.join("ansible"),
        w.join("root"),
        w.join("rendered"),
    );
    export_and_render(&spec, &export, &rendered);

    let first = playbook(&export, &root);
    succeeded(&first, "the first ansible-playbook run");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    for (_, value) in PASSWORDS {
        assert!(!all.contains(value), "a password was printed:\n{all}");
    }
    let deployed = tree(&root);
    let expected = tree(&rendered);
    let mut verifiers = 0;
    for host in ["db1", "web1"] {
        for (file, mode) in [("pgbouncer.ini", "0640"), ("userlist.txt", "0600")] {
            let name = format!("{host}/etc/pgbouncer/{file}");
            let want = expected
                .get(&name)
                .unwrap_or_else(|| panic!("render wrote no {name}"));
            assert!(
                deployed.get(&name) == Some(want),
                "{name}: Ansible wrote other bytes than render --with-secrets:\n--- render\n{}\n--- ansible\n{}",
                String::from_utf8_lossy(want),
                deployed
                    .get(&name)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default()
            );
            let path = root.join(&name);
            let meta = fs::metadata(&path).unwrap();
            assert_eq!(
                format!("{:04o}", meta.permissions().mode() & 0o7777),
                mode,
                "{name}"
            );
            let owner = Command::new("stat")
                .args(["-c", "%U:%G"])
                .arg(&path)
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&owner.stdout).trim(),
                "postgres:postgres",
                "{name}"
            );
            verifiers += String::from_utf8_lossy(want)
                .matches("\"SCRAM-SHA-256$4096:")
                .count();
        }
    }
    // Three users on each of the two hosts, each line a verifier (no placeholder).
    assert_eq!(verifiers, 6);

    let second = playbook(&export, &root);
    succeeded(&second, "the second run");
    let recap_text = recap(&second);
    for host in ["db1", "web1"] {
        assert!(
            recap_text
                .lines()
                .any(|l| l.starts_with(host) && l.contains("changed=0")),
            "{host} changed on the second run:\n{recap_text}"
        );
    }
}

/// ansible-lint, offline, at its strictest profile, on the export of both PgBouncer sites.
#[test]
fn ansible_lint_reports_nothing_in_the_pgbouncer_role() {
    let work = temp_dir();
    for auth_query in [false, true] {
        let dir = work.path().join(format!("auth-query-{auth_query}"));
        fs::create_dir(&dir).unwrap();
        let spec = dir.join("site.yaml");
        fs::write(&spec, pgbouncer_spec(auth_query)).unwrap();
        let project = dir.join("project");
        Sitewright::new()
            .args(["export", "ansible"])
            .arg(&spec)
            .arg("-o")
            .arg(&project)
            .run()
            .code(0);
        assert!(project.join("roles/pgbouncer/tasks/main.yml").is_file());
        assert_lint_clean(
            &project,
            &dir.join("home"),
            &format!("the export (auth_query {auth_query})"),
        );
    }
}

/// The exported postgresql role's `roles.yml`, run by ansible-playbook (`-c local`, no become)
/// with db1's host variables and the vault against a real PostgreSQL 15: each role PgBouncer
/// logs in as stores exactly the SCRAM secret of `render --with-secrets`'s userlist.txt (the
/// non-ASCII passwords too, which SASLprep prepares), a second run changes nothing, the
/// databases PgBouncer serves exist, and each role logs in over 127.0.0.1 with its password.
#[test]
fn the_postgresql_role_gives_pgbouncers_roles_the_secrets_of_userlist_txt() {
    let work = temp_dir();
    let w = work.path();
    let (spec, export, rendered) = (w.join("site.yaml"), w.join("ansible"), w.join("rendered"));
    export_and_render(&spec, &export, &rendered);
    let userlist = fs::read_to_string(rendered.join("db1/etc/pgbouncer/userlist.txt")).unwrap();
    let secrets: Vec<(String, String)> = userlist
        .lines()
        .filter(|l| l.starts_with('"'))
        .map(|l| {
            let fields: Vec<&str> = l.split('"').collect();
            (fields[1].to_owned(), fields[3].to_owned())
        })
        .collect();
    assert_eq!(secrets.len(), 3, "{userlist}");

    let pg = Binaries::of(15);
    let root = w.join("pg");
    let (data, socket_dir) = (root.join("data"), root.join("socket"));
    fs::create_dir_all(&socket_dir).unwrap();
    let hba = root.join("pg_hba.conf");
    fs::write(
        &hba,
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    pg.give(&root);
    pg.initdb(&data);
    let port = free_port();
    let server = Server::start(
        &pg,
        &data,
        port,
        &socket_dir,
        &root.join("postgres.log"),
        &[
            ("hba_file", hba.display().to_string()),
            ("listen_addresses", "127.0.0.1".to_owned()),
        ],
    );

    // The role's tasks file, as the role includes it, from a play beside site.yml (so that the
    // project's filter_plugins/ load), with psql as the superuser over the server's socket.
    let psql_argv = serde_json::json!([
        installed("SITEWRIGHT_PSQL"),
        "-X",
        "-A",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        socket_dir,
        "-p",
        port.to_string(),
        "-U",
        pg.user,
        "-d",
        "postgres",
    ]);
    fs::write(
        export.join("roles-only.yml"),
        format!(
            "---\n- name: Roles\n  hosts: localhost\n  gather_facts: false\n  vars_files: [host_vars/db1.yml, group_vars/all/vault.yml]\n  vars:\n    postgresql_user: root\n    postgresql_psql_argv: {psql_argv}\n  tasks:\n    - name: The postgresql role's roles and databases\n      ansible.builtin.include_tasks: roles/postgresql/tasks/roles.yml\n"
        ),
    )
    .unwrap();
    let run = || {
        let home = w.join(".ansible");
        Command::new(installed("SITEWRIGHT_ANSIBLE_PLAYBOOK"))
            .current_dir(&export)
            .env("ANSIBLE_HOME", &home)
            .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LIBRARY", export.join("roles/postgresql/library"))
            .args(["-i", "localhost,", "-c", "local"])
            .arg("-e")
            .arg(format!(
                "ansible_python_interpreter={}",
                installed("SITEWRIGHT_ANSIBLE_PYTHON")
            ))
            // The tasks become the server's user on a host; here root runs psql as it.
            .args(["-e", "ansible_become=false", "roles-only.yml"])
            .output()
            .expect("ansible-playbook runs")
    };
    let first = run();
    succeeded(&first, "the first run of the role's roles.yml");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    for (_, value) in PASSWORDS {
        assert!(!all.contains(value), "a password was printed:\n{all}");
    }
    assert!(
        !all.contains("SCRAM-SHA-256$"),
        "a secret was printed:\n{all}"
    );
    for (user, secret) in &secrets {
        let stored = server.sql(&format!(
            "select rolpassword from pg_authid where rolname = '{user}' and rolcanlogin"
        ));
        assert_eq!(
            &stored, secret,
            "{user}'s stored secret is not userlist.txt's"
        );
    }
    assert_eq!(
        server.sql(
            "select datname from pg_database where datname in ('catmaid', 'reports') order by 1"
        ),
        "catmaid\nreports"
    );
    assert_eq!(
        server.sql("select pg_get_userbyid(datdba) from pg_database where datname = 'catmaid'"),
        "catmaid_user"
    );

    let second = run();
    succeeded(&second, "the second run");
    let recap_text = recap(&second);
    assert!(
        recap_text
            .lines()
            .any(|l| l.starts_with("localhost") && l.contains("changed=0")),
        "the second run changed something:\n{recap_text}"
    );

    for (user, env) in [
        ("catmaid_user", "CATMAID_DB_PASSWORD"),
        ("reporter", "REPORTER_PASSWORD"),
        ("auditor", "AUDITOR_PASSWORD"),
    ] {
        let password = PASSWORDS.iter().find(|(n, _)| *n == env).unwrap().1;
        let login = Command::new(installed("SITEWRIGHT_PSQL"))
            .env("PGPASSWORD", password)
            .args(["-X", "-A", "-t", "-c", "select current_user"])
            .arg(format!(
                "host=127.0.0.1 port={port} user={user} dbname=postgres sslmode=disable"
            ))
            .output()
            .unwrap();
        succeeded(&login, &format!("{user}'s login over 127.0.0.1"));
        assert_eq!(String::from_utf8_lossy(&login.stdout).trim(), user);
    }
    drop(server);
}
