//! `sitewright diff`: exit 0 on an unchanged tree, 1 and the hunk after an edit, new and mode
//! changes shown, secrets masked on both sides and compared by hash, and each host's steps in
//! the order to run them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Sitewright, fixture, temp_dir};

fn render_into(out: &Path, secret: Option<&str>) {
    let mut run = Sitewright::new().arg("render");
    if let Some(secret) = secret {
        run = run
            .arg("--with-secrets")
            .env("CATMAID_REPLICATION_PASSWORD", secret);
    }
    run.arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(out)
        .run()
        .code(0);
}

fn diff_live(live: &Path) -> crate::support::Outcome {
    Sitewright::new()
        .arg("diff")
        .arg(fixture("catmaid/site.yaml"))
        .arg("--live")
        .arg(live)
        .run()
}

#[test]
fn an_unchanged_tree_has_no_differences() {
    let live = temp_dir();
    render_into(live.path(), None);
    diff_live(live.path())
        .code(0)
        .stdout_has("no differences in 14 files");
}

#[test]
fn an_edited_live_file_shows_its_hunk_and_what_it_needs() {
    let live = temp_dir();
    render_into(live.path(), None);
    let conf = live
        .path()
        .join("db1/etc/postgresql/16/main/postgresql.conf");
    let text = fs::read_to_string(&conf).unwrap();
    fs::write(
        &conf,
        text.replace("max_connections = 200", "max_connections = 300"),
    )
    .unwrap();
    let outcome = diff_live(live.path());
    outcome.code(1);
    assert!(
        outcome.stdout.starts_with(
            "--- a/db1/etc/postgresql/16/main/postgresql.conf\n+++ b/db1/etc/postgresql/16/main/postgresql.conf\n@@ "
        ),
        "{}",
        outcome.stdout
    );
    outcome
        .stdout_has("\n-max_connections = 300  # what a web workload expects\n+max_connections = 200  # what a web workload expects\n")
        .stdout_has("1 of 14 files differ on 1 host:\n  db1:\n    1. systemctl restart postgresql\n       for /etc/postgresql/16/main/postgresql.conf (restart for max_connections)\n");
    assert!(
        !outcome.stdout.contains("\x1b["),
        "no colour when not on a terminal"
    );
}

#[test]
fn settings_that_need_only_a_reload_ask_for_a_reload() {
    let live = temp_dir();
    render_into(live.path(), None);
    let conf = live
        .path()
        .join("db2/etc/postgresql/16/main/postgresql.conf");
    let text = fs::read_to_string(&conf).unwrap();
    let edited = text
        .replace("autovacuum = on", "autovacuum = off")
        .replace("work_mem = 40329kB", "work_mem = 4MB");
    assert_ne!(edited, text);
    fs::write(&conf, edited).unwrap();
    diff_live(live.path())
        .code(1)
        .stdout_has("  db2:\n    1. systemctl reload postgresql\n       for /etc/postgresql/16/main/postgresql.conf (reload for autovacuum, work_mem)\n");
}

#[test]
fn colour_is_used_when_asked_and_never_when_refused() {
    let live = temp_dir();
    render_into(live.path(), None);
    let conf = live.path().join("db1/etc/sysctl.d/60-sitewright.conf");
    fs::write(&conf, "vm.swappiness = 60\n").unwrap();
    let coloured = Sitewright::new()
        .arg("diff")
        .arg(fixture("catmaid/site.yaml"))
        .arg("--live")
        .arg(live.path())
        .arg("--color=always")
        .run();
    coloured
        .code(1)
        .stdout_has("\x1b[31m-vm.swappiness = 60\x1b[0m");
    let plain = Sitewright::new()
        .arg("diff")
        .arg(fixture("catmaid/site.yaml"))
        .arg("--live")
        .arg(live.path())
        .arg("--color=never")
        .run();
    plain.code(1).stdout_has("\n-vm.swappiness = 60\n");
    assert!(!plain.stdout.contains("\x1b["));
}

#[test]
fn a_missing_live_file_is_new_and_a_mode_change_is_shown() {
    let live = temp_dir();
    render_into(live.path(), None);
    fs::remove_file(live.path().join("web1/etc/nginx/conf.d/catmaid.conf")).unwrap();
    let hba = live.path().join("db1/etc/postgresql/16/main/pg_hba.conf");
    fs::set_permissions(&hba, fs::Permissions::from_mode(0o644)).unwrap();
    let outcome = diff_live(live.path());
    outcome
        .code(1)
        .stdout_has("--- /dev/null\n+++ b/web1/etc/nginx/conf.d/catmaid.conf\n")
        .stdout_has("+    listen 443 ssl http2;\n")
        .stdout_has("mode db1/etc/postgresql/16/main/pg_hba.conf: 0644 -> 0640\n")
        .stdout_has("  db1:\n    nothing to run for /etc/postgresql/16/main/pg_hba.conf (only its mode or owner changed)\n")
        .stdout_has("  web1:\n    1. nginx -t && systemctl reload nginx\n       for /etc/nginx/conf.d/catmaid.conf\n");
}

#[test]
fn secrets_are_masked_on_both_sides() {
    let live = temp_dir();
    render_into(live.path(), Some("s3cret-on-the-host"));
    diff_live(live.path()).code(0).neither_has("s3cret");
    let passfile = live
        .path()
        .join("db2/etc/postgresql/16/main/replication.pgpass");
    fs::write(
        &passfile,
        "192.0.2.99:7432:replication:replication_user:0ld-s3cret\n",
    )
    .unwrap();
    diff_live(live.path())
        .code(1)
        .neither_has("s3cret")
        .stdout_has("-192.0.2.99:7432:replication:replication_user:********\n")
        .stdout_has("+192.0.2.11:7432:replication:replication_user:********\n");
}

/// Gives every file of `live` the owner the manifest names, as a deploy does.
fn own_as_deployed(live: &Path) {
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(live.join("manifest.json")).unwrap()).unwrap();
    for file in manifest["files"].as_array().unwrap() {
        let path = live
            .join(file["host"].as_str().unwrap())
            .join(file["path"].as_str().unwrap().trim_start_matches('/'));
        let owner = format!(
            "{}:{}",
            file["owner"].as_str().unwrap(),
            file["group"].as_str().unwrap()
        );
        let status = std::process::Command::new("chown")
            .arg(&owner)
            .arg(&path)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "chown {owner}: the test command makes the postgres user"
        );
    }
}

#[test]
fn one_host_against_its_own_root() {
    let live = temp_dir();
    render_into(live.path(), None);
    own_as_deployed(live.path());
    Sitewright::new()
        .arg("diff")
        .arg(fixture("catmaid/site.yaml"))
        .arg("--live-root")
        .arg(live.path().join("db1"))
        .args(["--host", "db1"])
        .run()
        .code(0)
        .stdout_has("no differences in 7 files");
    Sitewright::new()
        .arg("diff")
        .arg(fixture("catmaid/site.yaml"))
        .arg("--live-root")
        .arg(live.path().join("db1"))
        .run()
        .code(2)
        .stderr_has("--live-root compares one host: name it with --host NAME");
}

#[test]
fn running_asks_the_hosts_themselves_so_it_needs_ssh() {
    let live = temp_dir();
    Sitewright::new()
        .arg("diff")
        .arg(fixture("catmaid/site.yaml"))
        .arg("--live")
        .arg(live.path())
        .arg("--running")
        .run()
        .code(2)
        .neither_has("---")
        .stderr_has("--running asks the programs on the hosts themselves: it needs --ssh");
}

#[test]
fn an_invalid_spec_is_exit_2() {
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), "site: [\n").unwrap();
    Sitewright::new()
        .in_dir(dir.path())
        .args(["diff", "site.yaml", "--live", "."])
        .run()
        .code(2)
        .stderr_has("site.yaml:1:7: error: invalid YAML: the list opened with `[` here is never closed: end it with `]`")
        .stderr_has("sitewright: site.yaml: 1 error\n");
}

#[test]
fn owners_are_compared_on_a_host_s_own_files() {
    let live = temp_dir();
    render_into(live.path(), None);
    own_as_deployed(live.path());
    let conf = live
        .path()
        .join("db1/etc/postgresql/16/main/postgresql.conf");
    let status = std::process::Command::new("chown")
        .arg("root:root")
        .arg(&conf)
        .status()
        .unwrap();
    assert!(status.success());
    Sitewright::new()
        .arg("diff")
        .arg(fixture("catmaid/site.yaml"))
        .arg("--live-root")
        .arg(live.path().join("db1"))
        .args(["--host", "db1"])
        .run()
        .code(1)
        .stdout_has(
            "owner db1/etc/postgresql/16/main/postgresql.conf: root:root -> postgres:postgres\n",
        );
}

#[test]
fn stat_is_a_line_per_file() {
    let live = temp_dir();
    render_into(live.path(), None);
    let conf = live.path().join("db1/etc/sysctl.d/60-sitewright.conf");
    let text = fs::read_to_string(&conf).unwrap();
    fs::write(
        &conf,
        text.replace("vm.swappiness = 10", "vm.swappiness = 60"),
    )
    .unwrap();
    fs::write(
        live.path().join("db1/etc/sysctl.d/99-old.conf"),
        "vm.overcommit_memory = 2\n",
    )
    .unwrap();
    let out = Sitewright::new()
        .arg("diff")
        .arg(fixture("catmaid/site.yaml"))
        .arg("--live")
        .arg(live.path())
        .arg("--stat")
        .run();
    out.code(1)
        .stdout_has(" db1/etc/sysctl.d/60-sitewright.conf | +1 -1 +-\n")
        .stdout_has("1 of 14 files differ on 1 host:\n")
        .stdout_has(
            "  db1:\n    1. sysctl -p /etc/sysctl.d/60-sitewright.conf (or sysctl --system)\n       for /etc/sysctl.d/60-sitewright.conf\n",
        );
    assert!(!out.stdout.contains("@@"), "no hunks with --stat");
    // Made by hand, not by a render: not stale (tests/it/stale.rs).
    assert!(!out.stdout.contains("99-old.conf"));
}

/// An edit of a live file: its text in, the live text out, or `None` to remove the file.
type Edit<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A live tree rendered from the fixture, each `(file, edit)` applied.
fn live_edited(edits: &[(&str, Edit<'_>)]) -> tempfile::TempDir {
    let live = temp_dir();
    render_into(live.path(), None);
    for (file, edit) in edits {
        let path = live.path().join(file);
        let text = fs::read_to_string(&path).unwrap();
        match edit(&text) {
            Some(edited) => {
                assert_ne!(edited, text, "the edit of {file} changes it");
                fs::write(&path, edited).unwrap();
            }
            None => fs::remove_file(&path).unwrap(),
        }
    }
    live
}

/// Appends a comment line in the file's own syntax.
fn comment(marker: &'static str) -> impl Fn(&str) -> Option<String> {
    move |text| Some(format!("{text}{marker} edited by hand\n"))
}

/// The closing summary: everything after the last blank line.
fn summary(stdout: &str) -> &str {
    stdout.rfind("\n\n").map_or("", |i| &stdout[i + 2..])
}

#[track_caller]
fn assert_summary(live: &Path, expected: &str) {
    let outcome = diff_live(live);
    outcome.code(1);
    assert_eq!(summary(&outcome.stdout), expected, "{}", outcome.stdout);
}

#[test]
fn a_pg_hba_change_asks_for_a_postgresql_reload() {
    let live = live_edited(&[("db1/etc/postgresql/16/main/pg_hba.conf", &comment("#"))]);
    assert_summary(
        live.path(),
        "1 of 14 files differ on 1 host:\n  db1:\n    1. systemctl reload postgresql\n       for /etc/postgresql/16/main/pg_hba.conf\n",
    );
}

#[test]
fn a_comment_in_postgresql_conf_needs_nothing_run() {
    let live = live_edited(&[("db1/etc/postgresql/16/main/postgresql.conf", &comment("#"))]);
    assert_summary(
        live.path(),
        "1 of 14 files differ on 1 host:\n  db1:\n    nothing to run for /etc/postgresql/16/main/postgresql.conf (no setting changed)\n",
    );
}

#[test]
fn a_role_defaults_change_asks_for_psql() {
    let live = live_edited(&[(
        "db1/etc/postgresql/16/main/sitewright-role-defaults.sql",
        &|t: &str| Some(t.replace("'UTC'", "'Europe/Berlin'")),
    )]);
    assert_summary(
        live.path(),
        "1 of 14 files differ on 1 host:\n  db1:\n    1. psql -f /etc/postgresql/16/main/sitewright-role-defaults.sql\n       for /etc/postgresql/16/main/sitewright-role-defaults.sql\n",
    );
}

#[test]
fn a_sysctl_change_asks_for_sysctl_p() {
    let live = live_edited(&[("db2/etc/sysctl.d/60-sitewright.conf", &comment("#"))]);
    assert_summary(
        live.path(),
        "1 of 14 files differ on 1 host:\n  db2:\n    1. sysctl -p /etc/sysctl.d/60-sitewright.conf (or sysctl --system)\n       for /etc/sysctl.d/60-sitewright.conf\n",
    );
}

#[test]
fn a_cron_change_needs_nothing_run() {
    let live = live_edited(&[("db1/etc/cron.d/sitewright-catmaid-pg-dump", &comment("#"))]);
    assert_summary(
        live.path(),
        "1 of 14 files differ on 1 host:\n  db1:\n    nothing to run for /etc/cron.d/sitewright-catmaid-pg-dump (read when it is next used)\n",
    );
}

#[test]
fn an_nginx_change_asks_for_a_test_then_a_reload() {
    let live = live_edited(&[("web1/etc/nginx/conf.d/catmaid.conf", &comment("#"))]);
    assert_summary(
        live.path(),
        "1 of 14 files differ on 1 host:\n  web1:\n    1. nginx -t && systemctl reload nginx\n       for /etc/nginx/conf.d/catmaid.conf\n",
    );
}

#[test]
fn a_django_settings_change_asks_for_a_restart() {
    let live = live_edited(&[(
        "web1/srv/catmaid/django/projects/mysite/settings_production.py",
        &comment("#"),
    )]);
    assert_summary(
        live.path(),
        "1 of 14 files differ on 1 host:\n  web1:\n    1. systemctl restart django\n       for /srv/catmaid/django/projects/mysite/settings_production.py\n",
    );
}

#[test]
fn a_missing_empty_standby_signal_is_new_and_asks_for_a_restart() {
    let live = live_edited(&[("db2/var/lib/postgresql/16/main/standby.signal", &|_| None)]);
    let outcome = diff_live(live.path());
    outcome
        .code(1)
        .stdout_has("--- /dev/null\n+++ b/db2/var/lib/postgresql/16/main/standby.signal\n");
    assert_eq!(
        summary(&outcome.stdout),
        "1 of 14 files differ on 1 host:\n  db2:\n    1. systemctl restart postgresql\n       for /var/lib/postgresql/16/main/standby.signal\n"
    );
}

#[test]
fn every_kind_together_gives_each_host_its_steps_in_order() {
    let sql = |t: &str| Some(t.replace("'UTC'", "'Europe/Berlin'"));
    let conf = |t: &str| {
        Some(
            t.replace("max_connections = 200", "max_connections = 300")
                .replace("autovacuum = on", "autovacuum = off"),
        )
    };
    let live = live_edited(&[
        (
            "web1/srv/catmaid/django/projects/mysite/settings_production.py",
            &comment("#"),
        ),
        ("db1/etc/cron.d/sitewright-catmaid-pg-dump", &comment("#")),
        (
            "db1/etc/postgresql/16/main/sitewright-role-defaults.sql",
            &sql,
        ),
        ("db1/etc/postgresql/16/main/postgresql.conf", &conf),
        ("db1/etc/postgresql/16/main/pg_hba.conf", &comment("#")),
        ("db1/etc/sysctl.d/60-sitewright.conf", &comment("#")),
        ("db1/etc/nginx/sitewright-stream.conf", &comment("#")),
        ("db2/var/lib/postgresql/16/main/standby.signal", &|_| None),
        ("web1/etc/nginx/conf.d/catmaid.conf", &comment("#")),
    ]);
    assert_summary(
        live.path(),
        "9 of 14 files differ on 3 hosts:
  db1:
    1. sysctl -p /etc/sysctl.d/60-sitewright.conf (or sysctl --system)
       for /etc/sysctl.d/60-sitewright.conf
    2. systemctl restart postgresql
       for /etc/postgresql/16/main/postgresql.conf (restart for max_connections; reload for autovacuum), /etc/postgresql/16/main/pg_hba.conf
    3. psql -f /etc/postgresql/16/main/sitewright-role-defaults.sql
       for /etc/postgresql/16/main/sitewright-role-defaults.sql
    4. nginx -t && systemctl reload nginx
       for /etc/nginx/sitewright-stream.conf
    nothing to run for /etc/cron.d/sitewright-catmaid-pg-dump (read when it is next used)
  db2:
    1. systemctl restart postgresql
       for /var/lib/postgresql/16/main/standby.signal
  web1:
    1. nginx -t && systemctl reload nginx
       for /etc/nginx/conf.d/catmaid.conf
    2. systemctl restart django
       for /srv/catmaid/django/projects/mysite/settings_production.py
",
    );
}

#[test]
fn stat_columns_are_aligned() {
    let live = live_edited(&[
        ("db1/etc/postgresql/16/main/pg_hba.conf", &|t: &str| {
            Some(format!("{t}{}", "# edited\n".repeat(12)))
        }),
        ("db1/etc/sysctl.d/60-sitewright.conf", &comment("#")),
        ("db2/var/lib/postgresql/16/main/standby.signal", &|_| None),
    ]);
    let outcome = Sitewright::new()
        .arg("diff")
        .arg(fixture("catmaid/site.yaml"))
        .arg("--live")
        .arg(live.path())
        .arg("--stat")
        .run();
    outcome.code(1).stdout_has(
        " db1/etc/postgresql/16/main/pg_hba.conf        | +0 -12 ------------\n \
         db1/etc/sysctl.d/60-sitewright.conf           | +0  -1 -\n \
         db2/var/lib/postgresql/16/main/standby.signal | +0  -0  (new)\n",
    );
}

/// A live tree whose passfile on db2 holds `password`.
fn live_with_password(password: &str) -> tempfile::TempDir {
    let live = temp_dir();
    render_into(live.path(), Some(password));
    live
}

/// `diff --with-secrets`, the replication password in the environment when given (the tests'
/// own environment does not set it).
fn diff_with_secrets(
    live: &Path,
    password: Option<&str>,
    extra: &[&str],
) -> crate::support::Outcome {
    let mut run = Sitewright::new()
        .arg("diff")
        .arg(fixture("catmaid/site.yaml"))
        .arg("--live")
        .arg(live)
        .arg("--with-secrets")
        .args(extra);
    if let Some(password) = password {
        run = run.env("CATMAID_REPLICATION_PASSWORD", password);
    }
    run.run()
}

#[test]
fn a_changed_password_is_a_difference_never_shown() {
    let live = live_with_password("0ld-Passw0rd-on-db2");
    for extra in [&[][..], &["--stat"], &["--color=always"]] {
        let outcome = diff_with_secrets(live.path(), Some("N3w-Passw0rd-in-env"), extra);
        outcome
            .code(1)
            .neither_has("0ld-Passw0rd")
            .neither_has("N3w-Passw0rd")
            .stdout_has("1 of 14 files differ on 1 host, 1 secret changed:\n");
        if extra.is_empty() {
            outcome.stdout_has(
                "--- a/db2/etc/postgresql/16/main/replication.pgpass\n\
                 +++ b/db2/etc/postgresql/16/main/replication.pgpass\n\
                 secret changed: env CATMAID_REPLICATION_PASSWORD\n",
            );
            assert_eq!(
                summary(&outcome.stdout),
                "1 of 14 files differ on 1 host, 1 secret changed:\n  db2:\n    nothing to run for /etc/postgresql/16/main/replication.pgpass (read at the next connection)\n"
            );
        }
    }
    diff_with_secrets(live.path(), Some("0ld-Passw0rd-on-db2"), &[])
        .code(0)
        .neither_has("Passw0rd")
        .stdout_has("no differences in 14 files\n");
}

#[test]
fn without_with_secrets_the_secrets_are_said_not_compared() {
    let live = live_with_password("0ld-Passw0rd-on-db2");
    diff_live(live.path()).code(0).neither_has("Passw0rd").stdout_has(
        "secrets not compared (diff reads them only with --with-secrets): env CATMAID_REPLICATION_PASSWORD in db2/etc/postgresql/16/main/replication.pgpass\nno differences in 14 files\n",
    );
}

#[test]
fn a_secret_that_cannot_be_read_makes_the_comparison_incomplete() {
    let live = live_with_password("0ld-Passw0rd-on-db2");
    diff_with_secrets(live.path(), None, &[])
        .code(2)
        .neither_has("Passw0rd")
        .stdout_has("secret not compared in db2/etc/postgresql/16/main/replication.pgpass: env CATMAID_REPLICATION_PASSWORD: the variable is not set\n")
        .stdout_has("no other differences in 14 files; 1 secret could not be compared\n")
        .stderr_has("the comparison is incomplete: 1 secret could not be compared");
    // A live passfile that cannot be read (a directory here, which even root cannot read as a
    // file): the other files are still compared and shown.
    let passfile = live
        .path()
        .join("db2/etc/postgresql/16/main/replication.pgpass");
    fs::remove_file(&passfile).unwrap();
    fs::create_dir(&passfile).unwrap();
    let conf = live.path().join("db1/etc/sysctl.d/60-sitewright.conf");
    fs::write(&conf, "vm.swappiness = 60\n").unwrap();
    diff_with_secrets(live.path(), Some("N3w-Passw0rd-in-env"), &[])
        .code(2)
        .neither_has("Passw0rd")
        .stdout_has("\n-vm.swappiness = 60\n")
        .stdout_has("secret not compared in db2/etc/postgresql/16/main/replication.pgpass: env CATMAID_REPLICATION_PASSWORD: cannot read the live file: Is a directory (os error 21)\n")
        .stdout_has("1 of 14 files differ on 1 host, 1 secret could not be compared:\n");
}
