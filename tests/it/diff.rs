//! `sitewright diff`: exit 0 on an unchanged tree, 1 and the hunk after an edit, new and mode
//! changes shown, secrets masked on both sides.

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
        .stdout_has("1 of 14 files differ on 1 host:\n  db1: postgresql restart (/etc/postgresql/16/main/postgresql.conf; restart for max_connections)\n");
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
        .stdout_has("  db2: postgresql reload (/etc/postgresql/16/main/postgresql.conf; reload for autovacuum, work_mem)\n");
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
        .stdout_has("  db1: nothing to reload (/etc/postgresql/16/main/pg_hba.conf)\n")
        .stdout_has("  web1: nginx -t, then nginx reload (/etc/nginx/conf.d/catmaid.conf)\n");
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
fn an_invalid_spec_is_exit_2() {
    let dir = temp_dir();
    fs::write(dir.path().join("site.yaml"), "site: [\n").unwrap();
    Sitewright::new()
        .in_dir(dir.path())
        .args(["diff", "site.yaml", "--live", "."])
        .run()
        .code(2)
        .stderr_has("site.yaml:1:7: error: invalid YAML: unclosed bracket '['")
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
            "  db1: apply: sysctl -p /etc/sysctl.d/60-sitewright.conf (or sysctl --system)",
        );
    assert!(!out.stdout.contains("@@"), "no hunks with --stat");
    // Made by hand, not by a render: not stale (tests/it/stale.rs).
    assert!(!out.stdout.contains("99-old.conf"));
}
