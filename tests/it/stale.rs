//! Managed and unmanaged files on real file trees: "stale" is said only of a file an earlier render
//! wrote (listed by a manifest), `render` removes those (or `--keep-stale` keeps them) and
//! `render --check` reports exactly what `render` then does; `diff` warns of the unmanaged files
//! that change what the rendered ones mean.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{Sitewright, fixture, temp_dir, tree};

const CRON: &str = "db1/etc/cron.d/sitewright-catmaid-pg-dump";
const DATA: &str = "var/lib/postgresql/16/main";

/// The CATMAID spec without its nightly pg_dump, whose cron file an earlier render wrote; in `dir`.
fn without_backup(dir: &Path) -> PathBuf {
    let text = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    let start = text.find("  backup:\n").unwrap();
    let end = start + text[start..].find("  settings:\n").unwrap();
    let spec = dir.join("no-backup.yaml");
    fs::write(&spec, format!("{}{}", &text[..start], &text[end..])).unwrap();
    spec
}

fn render(spec: &Path, out: &Path, more: &[&str]) -> crate::support::Outcome {
    Sitewright::new()
        .arg("render")
        .arg(spec)
        .arg("-o")
        .arg(out)
        .args(more)
        .run()
}

fn diff(spec: &Path, more: &[&str]) -> crate::support::Outcome {
    Sitewright::new().arg("diff").arg(spec).args(more).run()
}

fn catmaid() -> PathBuf {
    fixture("catmaid/site.yaml")
}

/// The files that differ between two trees: written, added or removed.
fn changed(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect()
}

/// The files `render --check` names, without their `differs:`/`missing:`/`stale:`.
fn named(stdout: &str) -> Vec<String> {
    let mut names: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, name)| name.to_owned()))
        .collect();
    names.sort();
    names
}

/// `render --check`, then `render`: what the check named is exactly what the render changed.
fn check_then_render(spec: &Path, out: &Path, more: &[&str]) -> (String, String) {
    let check = render(spec, out, &[&["--check"], more].concat());
    let before = tree(out);
    let run = render(spec, out, more);
    run.code(0);
    assert_eq!(
        named(&check.stdout),
        changed(&before, &tree(out)),
        "render --check named other files than render changed"
    );
    render(spec, out, &[&["--check"], more].concat()).code(0);
    (check.stdout.clone(), run.stdout.clone())
}

#[test]
fn each_host_carries_its_own_manifest() {
    let out = temp_dir();
    render(&catmaid(), out.path(), &[]).code(0);
    for host in ["db1", "db2", "web1"] {
        let text =
            fs::read_to_string(out.path().join(host).join("etc/sitewright/manifest.json")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        let files = manifest["files"].as_array().unwrap();
        assert!(!files.is_empty());
        assert!(files.iter().all(|f| f["host"] == host), "{host}: {text}");
    }
}

#[test]
fn a_hand_made_file_is_never_stale() {
    let out = temp_dir();
    render(&catmaid(), out.path(), &[]).code(0);
    let hand_made = [
        "db1/etc/sysctl.d/99-old-tuning.conf",
        "web1/etc/nginx/conf.d/old.conf",
    ];
    for name in hand_made {
        fs::write(out.path().join(name), "# by hand\n").unwrap();
    }
    render(&catmaid(), out.path(), &["--check"])
        .code(0)
        .stdout_has("is what the spec renders (17 files)");
    render(&catmaid(), out.path(), &[])
        .code(0)
        .neither_has("stale")
        .neither_has("removed");
    for name in hand_made {
        assert!(out.path().join(name).exists(), "{name} was removed");
    }
    diff(&catmaid(), &["--live", out.path().to_str().unwrap()])
        .code(0)
        .neither_has("stale");
}

#[test]
fn render_removes_what_an_earlier_render_wrote_and_check_agrees() {
    let dir = temp_dir();
    let out = dir.path().join("out");
    render(&catmaid(), &out, &[]).code(0);
    let spec = without_backup(dir.path());
    let (check, run) = check_then_render(&spec, &out, &[]);
    assert_eq!(
        check,
        format!(
            "differs: db1/etc/sitewright/manifest.json\ndiffers: manifest.json\nstale: {CRON}\n"
        )
    );
    assert!(
        run.contains(&format!(
            "removed {}: an earlier render wrote it, the spec no longer does\n",
            out.join(CRON).display()
        )),
        "{run}"
    );
    assert!(
        !out.join("db1/etc/cron.d").exists(),
        "the folder it left empty stays"
    );
}

#[test]
fn keep_stale_keeps_them_and_check_agrees() {
    let dir = temp_dir();
    let out = dir.path().join("out");
    render(&catmaid(), &out, &[]).code(0);
    let spec = without_backup(dir.path());
    let (check, _) = check_then_render(&spec, &out, &["--keep-stale"]);
    assert_eq!(
        check,
        "differs: db1/etc/sitewright/manifest.json\ndiffers: manifest.json\n"
    );
    assert!(out.join(CRON).exists());
    // Kept, it is no longer listed: the next render leaves it too, and says nothing of it.
    render(&spec, &out, &[])
        .code(0)
        .neither_has("removed")
        .neither_has("stale");
    assert!(out.join(CRON).exists());
}

#[test]
fn a_host_gone_from_the_spec_is_removed_whole_but_not_by_a_host_render() {
    let out = temp_dir();
    render(&catmaid(), out.path(), &[]).code(0);
    // A host an earlier render wrote, as its own manifest says.
    let old = out.path().join("old-db");
    fs::create_dir_all(old.join("etc/sitewright")).unwrap();
    fs::create_dir_all(old.join("etc/sysctl.d")).unwrap();
    fs::write(
        old.join("etc/sysctl.d/60-sitewright.conf"),
        "vm.swappiness = 1\n",
    )
    .unwrap();
    fs::write(
        old.join("etc/sitewright/manifest.json"),
        r#"{"files": [{"host": "old-db", "path": "/etc/sysctl.d/60-sitewright.conf"}]}"#,
    )
    .unwrap();
    fs::write(old.join("etc/notes.txt"), "mine\n").unwrap();
    render(&catmaid(), out.path(), &["--host", "db1"])
        .code(0)
        .neither_has("removed");
    assert!(old.join("etc/sysctl.d/60-sitewright.conf").exists());
    // manifest.json lists db1 alone since the --host render; old-db's own manifest still says
    // what an earlier render put there.
    let (check, _) = check_then_render(&catmaid(), out.path(), &[]);
    assert_eq!(
        check,
        "differs: manifest.json\nstale: old-db/etc/sitewright/manifest.json\nstale: old-db/etc/sysctl.d/60-sitewright.conf\n"
    );
    assert_eq!(
        fs::read_to_string(old.join("etc/notes.txt")).unwrap(),
        "mine\n",
        "a file no render wrote stays"
    );
}

#[test]
fn a_listing_that_climbs_out_or_through_a_link_removes_nothing() {
    let dir = temp_dir();
    let out = dir.path().join("out");
    render(&catmaid(), &out, &[]).code(0);
    let outside = dir.path().join("precious");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("data"), "keep\n").unwrap();
    std::os::unix::fs::symlink(&outside, out.join("db1/etc/linked")).unwrap();
    fs::write(
        out.join("db1/etc/sitewright/manifest.json"),
        r#"{"files": [{"host": "db1", "path": "/../../precious/data"},
                      {"host": "db1", "path": "/etc/linked/data"},
                      {"host": "../precious", "path": "/data"}]}"#,
    )
    .unwrap();
    render(&catmaid(), &out, &[]).code(0).neither_has("removed");
    assert_eq!(fs::read_to_string(outside.join("data")).unwrap(), "keep\n");
}

#[test]
fn diff_calls_stale_only_what_the_live_manifest_lists() {
    let dir = temp_dir();
    let live = dir.path().join("live");
    render(&catmaid(), &live, &[]).code(0);
    fs::write(
        live.join("db1/etc/sysctl.d/99-old-tuning.conf"),
        "# by hand\n",
    )
    .unwrap();
    let spec = without_backup(dir.path());
    let out = diff(&spec, &["--live", live.to_str().unwrap()]);
    out.code(1)
        .stdout_has(&format!("stale: {CRON} is no longer rendered\n"))
        // The summary says what to do with it, under its host.
        .stdout_has(&format!(
            "  db1:\n    remove {} (an earlier render wrote it; the spec no longer does)\n",
            CRON.trim_start_matches("db1")
        ));
    assert!(!out.stdout.contains("99-old-tuning"), "{}", out.stdout);
    // On the host itself, by the manifest at /etc/sitewright/manifest.json.
    diff(
        &spec,
        &[
            "--live-root",
            live.join("db1").to_str().unwrap(),
            "--host",
            "db1",
        ],
    )
    .code(1)
    .stdout_has(&format!("stale: {CRON} is no longer rendered\n"));
}

/// A live tree that is what the CATMAID spec renders, in `dir/live`.
fn deployed(dir: &Path) -> PathBuf {
    let live = dir.join("live");
    render(&catmaid(), &live, &[]).code(0);
    live
}

fn diff_live(live: &Path) -> crate::support::Outcome {
    diff(&catmaid(), &["--live", live.to_str().unwrap()])
}

#[test]
fn a_later_sysctl_file_that_sets_our_key_wins_and_is_said_to() {
    let dir = temp_dir();
    let live = deployed(dir.path());
    let sysctl = live.join("db1/etc/sysctl.d");
    fs::write(sysctl.join("99-old-tuning.conf"), "vm.swappiness = 60\n").unwrap();
    // Earlier than ours: ours wins, nothing to say.
    fs::write(sysctl.join("10-early.conf"), "vm.swappiness = 30\n").unwrap();
    // Later, in another folder, the same value: today's effect is nil, a change would be lost.
    fs::create_dir_all(live.join("db1/usr/lib/sysctl.d")).unwrap();
    fs::write(
        live.join("db1/usr/lib/sysctl.d/70-vendor.conf"),
        "vm/swappiness=10\n",
    )
    .unwrap();
    let out = diff_live(&live);
    out.code(0)
        .stdout_has(
            "warning: db1/etc/sysctl.d/99-old-tuning.conf: sets vm.swappiness = 60, which \
             /etc/sysctl.d/60-sitewright.conf sets to 10; sysctl --system applies it later, in \
             the order of file names: 60 wins, not ours\n",
        )
        .stdout_has(
            "warning: db1/usr/lib/sysctl.d/70-vendor.conf: sets vm.swappiness = 10, which \
             /etc/sysctl.d/60-sitewright.conf sets to 10; sysctl --system applies it later, in \
             the order of file names: the same value today, but a change to ours would not \
             take effect\n",
        );
    assert!(!out.stdout.contains("10-early"), "{}", out.stdout);
    // /etc/sysctl.conf is read after every folder.
    fs::write(live.join("db1/etc/sysctl.conf"), "vm.dirty_bytes = 0\n").unwrap();
    diff_live(&live).code(0).stdout_has(
        "warning: db1/etc/sysctl.conf: sets vm.dirty_bytes = 0, which \
         /etc/sysctl.d/60-sitewright.conf sets to 1073741824; sysctl --system reads it last, \
         after the sysctl.d folders: 0 wins, not ours\n",
    );
}

#[test]
fn a_file_of_a_later_folder_masked_by_ours_says_nothing() {
    let dir = temp_dir();
    let live = deployed(dir.path());
    fs::create_dir_all(live.join("db1/usr/lib/sysctl.d")).unwrap();
    fs::write(
        live.join("db1/usr/lib/sysctl.d/60-sitewright.conf"),
        "vm.swappiness = 99\n",
    )
    .unwrap();
    let out = diff_live(&live);
    out.code(0);
    assert_eq!(
        out.stdout,
        "secrets not compared (diff reads them only with --with-secrets): env \
         CATMAID_REPLICATION_PASSWORD in db2/etc/postgresql/16/main/replication.pgpass\n\
         no differences in 14 files\n"
    );
}

#[test]
fn postgresql_auto_conf_setting_our_setting_wins_and_is_said_to() {
    let dir = temp_dir();
    let live = deployed(dir.path());
    let data = live.join("db1").join(DATA);
    fs::create_dir_all(&data).unwrap();
    fs::write(
        data.join("postgresql.auto.conf"),
        "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\nshared_buffers = '8GB'\ncluster_name = 'x'\n",
    )
    .unwrap();
    let out = diff_live(&live);
    out.code(0).stdout_has(&format!(
        "warning: db1/{DATA}/postgresql.auto.conf: sets shared_buffers = '8GB' (ALTER SYSTEM), \
         which /etc/postgresql/16/main/postgresql.conf sets to '16GB'; PostgreSQL reads \
         postgresql.auto.conf last: its value wins, not ours (ALTER SYSTEM RESET shared_buffers \
         removes it)\n"
    ));
    assert!(
        !out.stdout.contains("cluster_name"),
        "not a setting of ours"
    );
}

#[test]
fn a_leftover_recovery_conf_on_12_and_later_is_required_to_go() {
    let dir = temp_dir();
    let live = deployed(dir.path());
    fs::write(
        live.join("db2").join(DATA).join("recovery.conf"),
        "standby_mode = 'on'\n",
    )
    .unwrap();
    diff(
        &catmaid(),
        &[
            "--live-root",
            live.join("db2").to_str().unwrap(),
            "--host",
            "db2",
        ],
    )
    .code(1)
    .stdout_has(&format!(
        "  db2:\n    first: deal with /{DATA}/recovery.conf (see required: below)\n"
    ))
    .stdout_has(&format!(
        "required: db2/{DATA}/recovery.conf: PostgreSQL 16 will not start while it is there \
         (FATAL: using recovery command file \"recovery.conf\" is not supported); remove it: \
         from 12 on, postgresql.conf holds its settings and standby.signal marks a standby\n"
    ));
}

#[test]
fn recovery_conf_on_11_is_ours_on_a_standby_and_required_to_go_on_the_primary() {
    let live = temp_dir();
    let spec = fixture("catmaid-pg11/site.yaml");
    render(&spec, live.path(), &[]).code(0);
    diff(&spec, &["--live", live.path().to_str().unwrap()])
        .code(0)
        .neither_has("required")
        .neither_has("warning");
    // On 11's primary, a recovery.conf is what a standby.signal is on 12 and later.
    let data = live.path().join("db1/var/lib/postgresql/11/main");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("recovery.conf"), "standby_mode = 'on'\n").unwrap();
    diff(&spec, &["--live", live.path().to_str().unwrap()])
        .code(1)
        .stdout_has(
            "required: db1/var/lib/postgresql/11/main/recovery.conf: the spec makes db1 the \
             primary, but with this file PostgreSQL starts as a standby and accepts no writes; \
             remove it\n",
        );
}

#[test]
fn standby_signal_on_the_primary_is_required_to_go() {
    let dir = temp_dir();
    let live = deployed(dir.path());
    let data = live.join("db1").join(DATA);
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("standby.signal"), "").unwrap();
    diff_live(&live).code(1).stdout_has(&format!(
        "required: db1/{DATA}/standby.signal: the spec makes db1 the primary, but with this file \
         PostgreSQL starts as a standby and accepts no writes; remove it\n"
    ));
}

/// The CATMAID spec with an include_dir, an `include` file and an include_if_exists file, in
/// `dir`; and a live tree that is what it renders.
fn with_includes(dir: &Path) -> (PathBuf, PathBuf) {
    let text = fs::read_to_string(catmaid()).unwrap().replacen(
        "  settings:\n    autovacuum: true",
        "  include_dir: conf.d\n  include: [/etc/postgresql-common/shared.conf]\n  include_if_exists: [local.conf]\n  settings:\n    autovacuum: true",
        1,
    );
    let spec = dir.join("includes.yaml");
    fs::write(&spec, text).unwrap();
    let live = dir.join("live");
    render(&spec, &live, &[]).code(0);
    (spec, live)
}

const CONF: &str = "/etc/postgresql/16/main/postgresql.conf";

#[test]
fn included_files_that_set_our_settings_win_and_are_said_to() {
    let dir = temp_dir();
    let (spec, live) = with_includes(dir.path());
    let conf_d = live.join("db1/etc/postgresql/16/main/conf.d");
    fs::create_dir_all(&conf_d).unwrap();
    fs::write(
        conf_d.join("50-local.conf"),
        "# by hand\nshared_preload_libraries = 'pg_stat_statements'\nwork_mem = '64MB'\nmax_connections = 200\n",
    )
    .unwrap();
    fs::write(conf_d.join("90-late.conf"), "Work_Mem = 32MB\n").unwrap();
    // Neither is read: a hidden file, and one whose name does not end in .conf.
    fs::write(conf_d.join(".hidden.conf"), "shared_buffers = 1MB\n").unwrap();
    fs::write(conf_d.join("README"), "shared_buffers = 2MB\n").unwrap();
    let common = live.join("db1/etc/postgresql-common");
    fs::create_dir_all(&common).unwrap();
    fs::write(common.join("shared.conf"), "cluster_name = 'main'\n").unwrap();
    let out = diff(&spec, &["--live", live.to_str().unwrap(), "--host", "db1"]);
    // In the order PostgreSQL reads them: the folder's files by name, then the other files.
    let expected = format!(
        "\nnote: db1/etc/postgresql/16/main/conf.d/50-local.conf: read after the lines of {CONF} \
         (include_dir = 'conf.d'): sets shared_preload_libraries, work_mem, max_connections\n\
         warning: db1/etc/postgresql/16/main/conf.d/50-local.conf:3: sets work_mem = '64MB', \
         which {CONF} sets to '77672kB'; PostgreSQL reads this file after it (include_dir = \
         'conf.d'): /etc/postgresql/16/main/conf.d/90-late.conf:1, read later, sets it again and \
         wins\n\
         warning: db1/etc/postgresql/16/main/conf.d/50-local.conf:4: sets max_connections = \
         '200', which {CONF} sets to '200'; PostgreSQL reads this file after it (include_dir = \
         'conf.d'): the same value today, but a change to the spec's would not take effect\n\
         note: db1/etc/postgresql/16/main/conf.d/90-late.conf: read after the lines of {CONF} \
         (include_dir = 'conf.d'): sets work_mem\n\
         warning: db1/etc/postgresql/16/main/conf.d/90-late.conf:1: sets work_mem = '32MB', which \
         {CONF} sets to '77672kB'; PostgreSQL reads this file after it (include_dir = 'conf.d'): \
         its value wins, not the spec's\n\
         note: db1/etc/postgresql-common/shared.conf: read after the lines of {CONF} (include = \
         '/etc/postgresql-common/shared.conf'): sets cluster_name\n\
         note: db1/etc/postgresql/16/main/local.conf: {CONF} includes this file if it exists \
         (include_if_exists = 'local.conf'); it is not there, and PostgreSQL skips it\n"
    );
    out.code(0).stdout_has(&expected);
    assert!(out.stdout.ends_with(&expected), "{}", out.stdout);
    assert!(!out.stdout.contains("hidden"), "{}", out.stdout);
    assert!(!out.stdout.contains("README"), "{}", out.stdout);
    assert!(!out.stdout.contains("required"), "{}", out.stdout);
}

#[test]
fn a_missing_include_dir_or_include_file_is_required_and_include_if_exists_is_not() {
    let dir = temp_dir();
    let (spec, live) = with_includes(dir.path());
    let out = diff(&spec, &["--live", live.to_str().unwrap(), "--host", "db2"]);
    out.code(1)
        .stdout_has(
            "  db2:\n    first: deal with /etc/postgresql/16/main/conf.d (see required: below)\n    \
             first: deal with /etc/postgresql-common/shared.conf (see required: below)\n",
        )
        .stdout_has(&format!(
            "required: db2/etc/postgresql/16/main/conf.d: {CONF} includes this folder \
             (include_dir = 'conf.d'), and it is not there: PostgreSQL 16 will not start (\"could \
             not open configuration directory\"); create it, or remove postgres.include_dir from \
             the spec\n\
             required: db2/etc/postgresql-common/shared.conf: {CONF} includes this file (include = \
             '/etc/postgresql-common/shared.conf'), and it is not there: PostgreSQL 16 will not \
             start (\"could not open configuration file\"); create it, or name it in \
             postgres.include_if_exists instead\n\
             note: db2/etc/postgresql/16/main/local.conf: {CONF} includes this file if it exists \
             (include_if_exists = 'local.conf'); it is not there, and PostgreSQL skips it\n"
        ));
    // Both there, and empty: nothing required; the include_if_exists file, there, is listed.
    fs::create_dir_all(live.join("db2/etc/postgresql/16/main/conf.d")).unwrap();
    fs::create_dir_all(live.join("db2/etc/postgresql-common")).unwrap();
    fs::write(live.join("db2/etc/postgresql-common/shared.conf"), "").unwrap();
    fs::write(
        live.join("db2/etc/postgresql/16/main/local.conf"),
        "work_mem = 1MB\n",
    )
    .unwrap();
    let out = diff(&spec, &["--live", live.to_str().unwrap(), "--host", "db2"]);
    out.code(0).neither_has("required").stdout_has(&format!(
        "note: db2/etc/postgresql-common/shared.conf: read after the lines of {CONF} (include = \
             '/etc/postgresql-common/shared.conf'): sets nothing\n\
             note: db2/etc/postgresql/16/main/local.conf: read after the lines of {CONF} \
             (include_if_exists = 'local.conf'): sets work_mem\n\
             warning: db2/etc/postgresql/16/main/local.conf:1: sets work_mem = '1MB', which {CONF} \
             sets to "
    ));
}
