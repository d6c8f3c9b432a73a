//! Exports proven by the real tools: Debian's Nix evaluates each host's module to the rendered
//! files, and ansible-core deploys the playbook into a temporary root, twice.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use crate::support::ansible::assert_lint_clean;
use crate::support::pg::succeeded;
use crate::support::sites::{CI_SEEDS, generate};
use crate::support::{Sitewright, fixture, installed, temp_dir, tree};

const SECRET: &str = "s3cret:with\\odd'chars\"";
const DB_SECRET: &str = "db-s3cret";

#[test]
fn nix_evaluates_each_host_to_the_rendered_files() {
    let work = temp_dir();
    let rendered = work.path().join("rendered");
    let out = work.path().join("nix");
    Sitewright::new()
        .arg("render")
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(&rendered)
        .run()
        .code(0);
    Sitewright::new()
        .args(["export", "nix"])
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(&out)
        .env("CATMAID_REPLICATION_PASSWORD", SECRET)
        .run()
        .code(0)
        .stdout_has("wrote 3 files");
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(rendered.join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for host in ["db1", "db2", "web1"] {
        let module = fs::read_to_string(out.join(format!("{host}.nix"))).unwrap();
        assert!(!module.contains("s3cret"), "{host}.nix holds the secret");
        // Every file as the module would place it: text, or the content of its store file, or the
        // secret's path; with mode, user and group.
        let expression = format!(
            r#"let
  m = import {dir}/{host}.nix {{ }};
  etc = builtins.mapAttrs (p: v: {{ path = "/etc/" + p; content = v.text or v.source; mode = v.mode; user = v.user; group = v.group; }}) m.environment.etc;
  other = builtins.mapAttrs (p: v: {{ path = p; content = if builtins.substring 0 11 v.C.argument == "/nix/store/" then builtins.readFile v.C.argument else v.C.argument; mode = v.C.mode; user = v.C.user; group = v.C.group; }}) (m.systemd.tmpfiles.settings."10-sitewright" or {{ }});
in builtins.attrValues etc ++ builtins.attrValues other"#,
            dir = out.display()
        );
        let output = Command::new(installed("SITEWRIGHT_NIX_INSTANTIATE"))
            .args([
                "--eval",
                "--strict",
                "--json",
                "--read-write-mode",
                "-E",
                &expression,
            ])
            .output()
            .expect("nix-instantiate runs");
        succeeded(&output, &format!("nix-instantiate of {host}.nix"));
        let files: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
        let by_path: BTreeMap<String, &serde_json::Value> = files
            .iter()
            .map(|f| (f["path"].as_str().unwrap().to_owned(), f))
            .collect();
        for entry in manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["host"] == host)
        {
            let path = entry["path"].as_str().unwrap();
            let file = by_path
                .get(path)
                .unwrap_or_else(|| panic!("{host}.nix lacks {path}"));
            for field in ["mode", "owner", "group"] {
                let nix_field = if field == "owner" { "user" } else { field };
                assert_eq!(file[nix_field], entry[field], "{host}:{path} {field}");
            }
            let content = file["content"].as_str().unwrap();
            if entry["secret"] == true {
                assert_eq!(
                    content,
                    format!("/run/secrets/sitewright{path}"),
                    "a secret is a path the deploy provides"
                );
            } else {
                let expected =
                    fs::read_to_string(rendered.join(host).join(path.trim_start_matches('/')))
                        .unwrap();
                assert_eq!(content, expected, "{host}:{path}");
            }
            checked += 1;
        }
        // The host's own manifest goes with its files, as render writes it, for diff to read.
        let host_manifest = by_path
            .get("/etc/sitewright/manifest.json")
            .unwrap_or_else(|| panic!("{host}.nix lacks its manifest"));
        assert_eq!(
            host_manifest["content"].as_str().unwrap(),
            fs::read_to_string(rendered.join(host).join("etc/sitewright/manifest.json")).unwrap(),
            "{host}'s manifest"
        );
        assert_eq!(
            by_path.len(),
            manifest["files"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["host"] == host)
                .count()
                + 1
        );
    }
    assert_eq!(checked, 14);
}

/// ansible-playbook on the export in `dir`, with its own inventory but every host local, each
/// into `root/<host>`, so that no service is touched.
fn playbook(dir: &std::path::Path, root: &std::path::Path, extra: &[&str]) -> std::process::Output {
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
        .args(extra)
        .arg("site.yml")
        .output()
        .expect("ansible-playbook runs")
}

fn recap(output: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.split("PLAY RECAP").nth(1).unwrap_or(&text).to_owned()
}

#[test]
fn ansible_deploys_the_rendered_files_and_then_changes_nothing() {
    let work = temp_dir();
    let (export, root, rendered) = (
        work.path().join("ansible"),
        work.path().join("root"),
        work.path().join("rendered"),
    );
    Sitewright::new()
        .args(["export", "ansible"])
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(&export)
        .env("CATMAID_REPLICATION_PASSWORD", SECRET)
        .run()
        .code(0);
    for (name, bytes) in tree(&export) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("s3cret"),
            "{name} holds the secret"
        );
    }
    let vault = export.join("group_vars/all/vault.yml");
    let secrets = |replication: &str| {
        format!(
            "sitewright_secrets:\n  catmaid_db_password: {}\n  catmaid_replication_password: {}\n",
            serde_json::to_string(DB_SECRET).unwrap(),
            serde_json::to_string(replication).unwrap()
        )
    };
    fs::write(&vault, secrets(SECRET)).unwrap();
    Sitewright::new()
        .args(["render", "--with-secrets"])
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(&rendered)
        .env("CATMAID_REPLICATION_PASSWORD", SECRET)
        .run()
        .code(0);

    let first = playbook(&export, &root, &[]);
    succeeded(&first, "the first ansible-playbook run");
    let deployed = tree(&root);
    let expected = tree(&rendered);
    for host in ["db1", "db2", "web1"] {
        let name = format!("{host}/etc/sitewright/manifest.json");
        assert!(
            deployed.get(&name) == expected.get(&name) && deployed.contains_key(&name),
            "{name}: Ansible did not put the host's manifest where render does"
        );
    }
    let manifest: serde_json::Value = serde_json::from_slice(&expected["manifest.json"]).unwrap();
    for entry in manifest["files"].as_array().unwrap() {
        let name = format!(
            "{}{}",
            entry["host"].as_str().unwrap(),
            entry["path"].as_str().unwrap()
        );
        assert!(
            deployed[&name] == expected[&name],
            "{name}: Ansible wrote other bytes than render --with-secrets"
        );
        let path = root.join(&name);
        let meta = fs::metadata(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            format!("{:04o}", meta.permissions().mode() & 0o7777),
            entry["mode"].as_str().unwrap(),
            "{name}"
        );
        let owner = Command::new("stat")
            .args(["-c", "%U:%G"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&owner.stdout).trim(),
            format!(
                "{}:{}",
                entry["owner"].as_str().unwrap(),
                entry["group"].as_str().unwrap()
            ),
            "{name}"
        );
    }

    let second = playbook(&export, &root, &[]);
    succeeded(&second, "the second run");
    let recap_text = recap(&second);
    for host in ["db1", "db2", "web1"] {
        assert!(
            recap_text
                .lines()
                .any(|l| l.starts_with(host) && l.contains("changed=0")),
            "{host} changed on the second run:\n{recap_text}"
        );
    }

    // A new secret and a changed file, shown with --check --diff: the file's diff, never the secret.
    fs::write(&vault, secrets("n3w-s3cret")).unwrap();
    let conf = export.join("files/db1/etc/sysctl.d/60-sitewright.conf");
    let text = fs::read_to_string(&conf).unwrap();
    fs::write(
        &conf,
        text.replace("vm.swappiness = 10", "vm.swappiness = 20"),
    )
    .unwrap();
    let check = playbook(&export, &root, &["--check", "--diff"]);
    succeeded(&check, "ansible-playbook --check --diff");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        all.contains("+vm.swappiness = 20"),
        "the changed file's diff is shown:\n{all}"
    );
    assert!(!all.contains("s3cret"), "a secret was printed:\n{all}");
}

/// ansible-lint, offline, at its strictest profile, on the export of every fixture and of the
/// first generated proxy-only site: nothing to report.
#[test]
fn ansible_lint_reports_nothing_at_the_production_profile() {
    let work = temp_dir();
    let mut specs: Vec<(String, std::path::PathBuf)> =
        ["catmaid", "catmaid-pg11", "idr", "research", "synapse"]
            .iter()
            .map(|name| (name.to_string(), fixture(&format!("{name}/site.yaml"))))
            .collect();
    let proxy = CI_SEEDS
        .map(generate)
        .find(|g| g.shape == "proxy-only")
        .expect("a proxy-only seed");
    let proxy_spec = work.path().join("proxy.yaml");
    fs::write(&proxy_spec, &proxy.yaml).unwrap();
    specs.push((format!("seed {}", proxy.seed), proxy_spec));
    for (i, (name, spec)) in specs.iter().enumerate() {
        let project = work.path().join(format!("project-{i}"));
        Sitewright::new()
            .args(["export", "ansible"])
            .arg(spec)
            .arg("-o")
            .arg(&project)
            .run()
            .code(0);
        let home = work.path().join(format!("home-{i}"));
        assert_lint_clean(&project, &home, &format!("the export of {name}"));
    }
}
