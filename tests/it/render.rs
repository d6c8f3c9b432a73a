//! `sitewright render`: the CATMAID tree byte for byte, modes, the manifest, secrets, template
//! overrides, and nothing written for an invalid spec.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Sitewright, fixture, temp_dir, tree, unified_diff};

const PASSFILE: &str = "db2/etc/postgresql/16/main/replication.pgpass";

/// `sitewright render fixtures/catmaid/site.yaml`, to be given more arguments.
fn render() -> Sitewright {
    Sitewright::new()
        .arg("render")
        .arg(fixture("catmaid/site.yaml"))
}

fn render_catmaid(out: &Path) -> crate::support::Outcome {
    render().arg("-o").arg(out).run()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every folder of fixtures/ has a golden tree, and each renders to it byte for byte: a fixture
/// without expected/ fails rather than being skipped. All fixtures are rendered before the test
/// fails, with a unified diff of each file that differs.
#[test]
fn every_fixture_renders_exactly_its_golden_tree() {
    let mut folders: Vec<String> = fs::read_dir(fixture(""))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert!(!folders.is_empty(), "no folders under fixtures/");
    let mut failures: Vec<(&str, Vec<String>)> = Vec::new();
    let mut compared = 0;
    for name in &folders {
        let dir = fixture(name);
        if !dir.join("expected").is_dir() {
            failures.push((name, vec![format!("{name}: no expected/ to compare with")]));
            continue;
        }
        let expected = tree(&dir.join("expected"));
        let files = expected.keys().filter(|f| *f != "manifest.json").count();
        let hosts: std::collections::BTreeSet<&str> = expected
            .keys()
            .filter_map(|f| f.split_once('/').map(|(host, _)| host))
            .collect();
        let work = temp_dir();
        let (_, problems) = Sitewright::new()
            .in_dir(work.path())
            .arg("render")
            .arg(dir.join("site.yaml"))
            .args(["-o", "out"])
            .stdout(format!(
                "wrote {files} files for {} hosts and manifest.json to out\n",
                hosts.len()
            ))
            .compare();
        let mut problems: Vec<String> = problems
            .iter()
            .map(|p| format!("{name}: render: {p}"))
            .collect();
        problems.extend(tree_diff(name, &expected, &tree(&work.path().join("out"))));
        if !problems.is_empty() {
            failures.push((name, problems));
        }
        compared += 1;
    }
    let names: Vec<&str> = failures.iter().map(|(name, _)| *name).collect();
    let details: Vec<String> = failures.iter().flat_map(|(_, p)| p.clone()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures do not render to their golden tree: {}; if the change is meant, run \
         scripts/update-golden and read `git diff fixtures/`\n\n{}",
        failures.len(),
        folders.len(),
        names.join(", "),
        details.join("\n\n")
    );
    assert_eq!(compared, folders.len());
}

/// How the rendered tree of fixture `name` differs from its golden one: files missing, files
/// extra, and a unified diff of each file whose bytes differ.
fn tree_diff(
    name: &str,
    expected: &std::collections::BTreeMap<String, Vec<u8>>,
    rendered: &std::collections::BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for file in expected.keys().filter(|f| !rendered.contains_key(*f)) {
        out.push(format!(
            "{name}: {file} is in expected/ but was not rendered"
        ));
    }
    for file in rendered.keys().filter(|f| !expected.contains_key(*f)) {
        out.push(format!(
            "{name}: {file} was rendered but is not in expected/"
        ));
    }
    for (file, want) in expected {
        let Some(have) = rendered.get(file) else {
            continue;
        };
        if have == want {
            continue;
        }
        let diff = match (std::str::from_utf8(want), std::str::from_utf8(have)) {
            (Ok(want), Ok(have)) => unified_diff(want, have),
            _ => "(not UTF-8: the bytes differ)\n".to_owned(),
        };
        out.push(format!(
            "{name}: {file} differs from its golden copy (- expected, + rendered):\n{diff}"
        ));
    }
    out
}

#[test]
fn catmaid_renders_every_file_it_should() {
    let out = temp_dir();
    render_catmaid(out.path())
        .code(0)
        .stdout_has("wrote 17 files for 3 hosts and manifest.json");
}

#[test]
fn modes_follow_what_each_file_holds() {
    let out = temp_dir();
    render_catmaid(out.path()).code(0);
    let root = out.path();
    assert_eq!(mode(&root.join(PASSFILE)), 0o600);
    assert_eq!(
        mode(&root.join("db1/etc/postgresql/16/main/pg_hba.conf")),
        0o640
    );
    assert_eq!(
        mode(&root.join("db1/etc/postgresql/16/main/postgresql.conf")),
        0o644
    );
    assert_eq!(
        mode(&root.join("web1/etc/nginx/conf.d/catmaid.conf")),
        0o644
    );
}

#[test]
fn the_seed_mistakes_cannot_happen() {
    let out = temp_dir();
    render_catmaid(out.path()).code(0);
    let read = |p: &str| fs::read_to_string(out.path().join(p)).unwrap();
    let cron = read("db1/etc/cron.d/sitewright-catmaid-pg-dump");
    assert!(
        cron.ends_with("0 3 * * * postgres pg_dump -p 5432 --clean -T treenode_edge catmaid -f \"/opt/backup/psql/catmaid_$(date +\\%Y\\%m\\%d\\%H\\%M).sql\"\n"),
        "cron reads an unescaped % as a line break:\n{cron}"
    );
    let sysctl = read("db1/etc/sysctl.d/60-sitewright.conf");
    assert!(
        sysctl.contains("vm.dirty_bytes = 1073741824\n"),
        "1GB is 1073741824 bytes"
    );
    assert!(sysctl.contains("vm.dirty_background_bytes = 268435456\n"));
    let https = read("web1/etc/nginx/conf.d/catmaid.conf");
    assert!(
        !https.contains("ssl on"),
        "`ssl on;` was removed from nginx"
    );
    assert!(!https.contains("TLSv1 ") && !https.contains("TLSv1.1"));
    assert!(https.contains("proxy_set_header X-Forwarded-Proto $scheme;"));
    let replica = read("db2/etc/postgresql/16/main/postgresql.conf");
    assert!(!replica.contains("wal_keep_segments") && !replica.contains("promote_trigger_file"));
    let conninfo = replica
        .lines()
        .find(|l| l.starts_with("primary_conninfo"))
        .expect("the replica has primary_conninfo");
    assert!(conninfo.contains("passfile=/etc/postgresql/16/main/replication.pgpass"));
    assert!(!conninfo.contains("password="), "{conninfo}");
    let hba = read("db1/etc/postgresql/16/main/pg_hba.conf");
    assert!(hba.contains("hostssl\treplication\treplication_user\t192.0.2.12/32\tscram-sha-256\n"));
    let stream = read("db1/etc/nginx/sitewright-stream.conf");
    assert!(stream.starts_with("# ") && stream.contains("\nstream {\n"));
    assert_eq!(
        read("db1/etc/nginx/modules-enabled/50-mod-stream.conf"),
        "load_module modules/ngx_stream_module.so;\n"
    );
}

#[test]
fn secrets_are_placeholders_unless_asked_for() {
    let secret = "correct horse:battery\\staple";
    let out = temp_dir();
    render()
        .arg("-o")
        .arg(out.path())
        .env("CATMAID_REPLICATION_PASSWORD", secret)
        .run()
        .code(0)
        .neither_has("horse");
    for (name, bytes) in tree(out.path()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("horse"),
            "{name} holds the secret"
        );
    }
    let placeholder = fs::read_to_string(out.path().join(PASSFILE)).unwrap();
    assert!(placeholder.ends_with(
        "192.0.2.11:7432:replication:replication_user:<secret from env CATMAID_REPLICATION_PASSWORD>\n"
    ));

    let with = temp_dir();
    render()
        .arg("--with-secrets")
        .arg("-o")
        .arg(with.path())
        .env("CATMAID_REPLICATION_PASSWORD", secret)
        .run()
        .code(0)
        .neither_has("horse");
    let passfile = fs::read_to_string(with.path().join(PASSFILE)).unwrap();
    assert!(
        passfile.ends_with(
            "192.0.2.11:7432:replication:replication_user:correct horse\\:battery\\\\staple\n"
        ),
        "the password is escaped for the passfile format"
    );
    assert_eq!(mode(&with.path().join(PASSFILE)), 0o600);
    let manifest = fs::read_to_string(with.path().join("manifest.json")).unwrap();
    assert!(!manifest.contains("horse"));
}

#[test]
fn a_missing_secret_is_an_error_that_names_its_source_only() {
    let out = temp_dir();
    render()
        .arg("--with-secrets")
        .arg("-o")
        .arg(out.path().join("tree"))
        .env("CATMAID_REPLICATION_PASSWORD", "")
        .run()
        .code(2)
        .stderr_has(
            "sitewright: cannot read the secret from env CATMAID_REPLICATION_PASSWORD: it is empty",
        );
    assert!(!out.path().join("tree").exists(), "nothing is written");
}

#[test]
fn an_invalid_spec_writes_nothing() {
    let dir = temp_dir();
    let spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replace("memory: 32GiB", "memory: 32 GB of RAM");
    fs::write(dir.path().join("site.yaml"), spec).unwrap();
    Sitewright::new()
        .in_dir(dir.path())
        .args(["render", "site.yaml", "-o", "out"])
        .run()
        .code(2)
        .stderr_has("site.yaml:17:13: error: expected a byte size")
        .stderr_has("sitewright: site.yaml: 1 error; nothing was written");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn host_selection_renders_only_those_hosts() {
    let out = temp_dir();
    render()
        .args(["--host", "db2", "-o"])
        .arg(out.path())
        .run()
        .code(0)
        .stdout_has("wrote 6 files for 1 hosts");
    assert!(
        tree(out.path())
            .keys()
            .all(|k| k.starts_with("db2/") || k == "manifest.json")
    );
    render()
        .args(["--host", "db9", "-o"])
        .arg(out.path())
        .run()
        .code(2)
        .stderr_has("the spec has no host named `db9`; its hosts are db1, db2, web1");
}

/// `--host db1` answers only for db1's files: db2's, which it does not render, are not stale.
#[test]
fn a_host_render_leaves_the_other_hosts_files_alone() {
    let out = temp_dir();
    render_catmaid(out.path()).code(0);
    let before = tree(out.path());
    let run = render().args(["--host", "db1", "-o"]).arg(out.path()).run();
    run.code(0).neither_has("stale").neither_has("removed");
    let after = tree(out.path());
    assert!(
        before
            .keys()
            .filter(|k| !k.starts_with("db1/") && *k != "manifest.json")
            .all(|k| after.get(k) == before.get(k)),
        "a render of db1 changed another host's files"
    );
    render()
        .args(["--host", "db1", "-o"])
        .arg(out.path())
        .arg("--check")
        .run()
        .code(0);
}

#[test]
fn a_user_template_replaces_the_built_in_one() {
    let templates = temp_dir();
    fs::create_dir(templates.path().join("sysctl")).unwrap();
    fs::write(
        templates.path().join("sysctl/sysctl.conf.sysctl"),
        "# ours\n{% for s in settings %}{{ s.name|ident }}={{ s.value }}\n{% endfor %}",
    )
    .unwrap();
    let out = temp_dir();
    render()
        .arg("--templates")
        .arg(templates.path())
        .arg("-o")
        .arg(out.path())
        .run()
        .code(0);
    assert_eq!(
        fs::read_to_string(out.path().join("db1/etc/sysctl.d/60-sitewright.conf")).unwrap(),
        "# ours\nvm.dirty_background_bytes=268435456\nvm.dirty_bytes=1073741824\nvm.swappiness=10\n"
    );

    fs::write(templates.path().join("sysctl/typo.sysctl"), "").unwrap();
    render()
        .arg("--templates")
        .arg(templates.path())
        .arg("-o")
        .arg(out.path())
        .run()
        .code(2)
        .stderr_has("no built-in template is named `sysctl/typo.sysctl`");
}

#[test]
fn a_template_that_uses_an_undefined_value_fails_with_its_name_and_line() {
    let templates = temp_dir();
    fs::create_dir(templates.path().join("sysctl")).unwrap();
    fs::write(
        templates.path().join("sysctl/sysctl.conf.sysctl"),
        "# line 1\n{{ no_such_value }}\n",
    )
    .unwrap();
    let out = temp_dir();
    render()
        .arg("--templates")
        .arg(templates.path())
        .arg("-o")
        .arg(out.path().join("t"))
        .run()
        .code(2)
        .stderr_has("sitewright: template sysctl/sysctl.conf.sysctl:2 (for db1:/etc/sysctl.d/60-sitewright.conf): `no_such_value` is undefined");
}

#[test]
fn system_v_shared_memory_brings_kernel_limits_that_fit_shared_buffers() {
    let dir = temp_dir();
    let spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replace(
            "    autovacuum: true\n",
            "    autovacuum: true\n    shared_memory_type: sysv\n",
        );
    fs::write(dir.path().join("site.yaml"), spec).unwrap();
    Sitewright::new()
        .in_dir(dir.path())
        .args(["render", "site.yaml", "-o", "out"])
        .run()
        .code(0);
    let sysctl =
        fs::read_to_string(dir.path().join("out/db1/etc/sysctl.d/60-sitewright.conf")).unwrap();
    let shared_buffers: u64 = 16 << 30; // 25% of db1's 64GiB
    let shmmax = (shared_buffers + shared_buffers / 10 + (64 << 20)).div_ceil(4096) * 4096;
    assert!(
        sysctl.contains(&format!("\nkernel.shmmax = {shmmax}\n")),
        "{sysctl}"
    );
    assert!(
        sysctl.contains(&format!("\nkernel.shmall = {}\n", shmmax / 4096)),
        "{sysctl}"
    );
    let without = fs::read_to_string(fixture(
        "catmaid/expected/db1/etc/sysctl.d/60-sitewright.conf",
    ))
    .unwrap();
    assert!(
        !without.contains("kernel.shm"),
        "only when PostgreSQL uses System V memory"
    );
}

#[test]
fn the_postgresql_forward_is_closed_to_all_while_no_replica_or_web_host_uses_it() {
    let work = temp_dir();
    let spec = work.path().join("site.yaml");
    fs::write(
        &spec,
        "site: lone\nhosts:\n  - { name: db1, address: 192.0.2.1, memory: 8GiB, cpus: 2, storage: ssd, roles: [postgres-primary] }\n\
         postgres:\n  version: 16\n  data_directory: /var/lib/postgresql/16/main\n  replication:\n    user: replicator\n    password: { env: PW }\n    public_port: 7432\n\
         nginx:\n  version: \"1.22\"\n  openssl: \"3.0\"\n",
    )
    .unwrap();
    let out = work.path().join("out");
    Sitewright::new()
        .arg("render")
        .arg(&spec)
        .arg("-o")
        .arg(&out)
        .run()
        .code(0);
    let streams: Vec<_> = tree(&out)
        .into_iter()
        .filter(|(path, _)| path == "db1/etc/nginx/sitewright-stream.conf")
        .map(|(path, bytes)| (path, String::from_utf8(bytes).unwrap()))
        .collect();
    let (path, text) = streams.first().expect("db1 gets the stream forward");
    assert!(text.contains("listen 192.0.2.1:7432;"), "{path}:\n{text}");
    assert!(
        text.contains("deny all;") && !text.contains("allow "),
        "{path}: a forward with nobody to allow must deny everyone:\n{text}"
    );
}
