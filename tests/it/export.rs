//! The exports beyond the fixtures: every generated spec that `check` accepts, and the hand-written
//! PgBouncer sites below (which the generator does not draw yet), export to an Ansible project
//! that places every file render writes, with its owner and mode, and holds no secret. (Running
//! the projects is `real::export`, `real::export_pgbouncer` and `real::ansible`.)

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use regex::Regex;
use serde_json::Value;

use crate::support::sites::{CI_SEEDS, generate};
use crate::support::{Sitewright, temp_dir, tree};

#[test]
fn every_generated_spec_exports_an_ansible_project_that_places_every_rendered_file() {
    let seeds: Vec<u64> = CI_SEEDS.collect();
    let results: Vec<(u64, Result<usize, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .chunks(seeds.len().div_ceil(2))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|seed| (*seed, exported(*seed)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut accepted = 0;
    let mut files = 0;
    let mut failures = Vec::new();
    for (seed, result) in results {
        match result {
            Ok(0) => {}
            Ok(n) => {
                accepted += 1;
                files += n;
            }
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
    }
    eprintln!("ansible export of generated specs: {accepted} specs, {files} files placed");
    assert!(
        failures.is_empty(),
        "{} exports are wrong:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(accepted >= 100, "only {accepted} generated specs accepted");
}

/// Exports generated spec `seed`; the number of rendered files its project places, 0 when
/// `check` refuses the spec, or what is wrong.
fn exported(seed: u64) -> Result<usize, String> {
    let generated = generate(seed);
    let work = temp_dir();
    exported_spec(&generated.yaml, &seed.to_string(), work.path())
}

/// Exports the spec `text` into `work/ansible` (rendering it to `work/rendered`); the number of
/// rendered files its project places, 0 when `check` refuses the spec, or what is wrong.
fn exported_spec(text: &str, tag: &str, work: &Path) -> Result<usize, String> {
    let spec = work.join("site.yaml");
    fs::write(&spec, text).unwrap();
    if Sitewright::new().arg("check").arg(&spec).run().code != 0 {
        return Ok(0);
    }
    // Each secret the spec names has a value of its own, which no exported file may hold.
    let names: Vec<String> = Regex::new(r"env: ([A-Z_][A-Z0-9_]*)")
        .unwrap()
        .captures_iter(text)
        .map(|c| c[1].to_owned())
        .collect();
    let value = |name: &str| format!("s3cret-{tag}-{name}");
    let (rendered, project) = (work.join("rendered"), work.join("ansible"));
    let render = Sitewright::new()
        .arg("render")
        .arg(&spec)
        .arg("-o")
        .arg(&rendered)
        .run();
    if render.code != 0 {
        return Err(format!("render exited {}: {}", render.code, render.stderr));
    }
    let mut export = Sitewright::new()
        .args(["export", "ansible"])
        .arg(&spec)
        .arg("-o")
        .arg(&project);
    for name in &names {
        export = export.env(name, value(name));
    }
    let export = export.run();
    if export.code != 0 {
        return Err(format!("export exited {}: {}", export.code, export.stderr));
    }
    let written = tree(&project);
    for (path, bytes) in &written {
        let text = String::from_utf8_lossy(bytes);
        if let Some(name) = names.iter().find(|n| text.contains(&value(n))) {
            return Err(format!("{path} holds the value of {name}"));
        }
    }
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(rendered.join("manifest.json")).unwrap()).unwrap();
    let mut by_host: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for entry in manifest["files"].as_array().unwrap() {
        by_host
            .entry(entry["host"].as_str().unwrap().to_owned())
            .or_default()
            .push(entry.clone());
    }
    let inventory = yaml(&project.join("inventory.yml"))?;
    let mut placed = 0;
    for (host, entries) in by_host {
        if inventory["all"]["hosts"][&host].is_null() {
            return Err(format!("inventory.yml lacks {host}"));
        }
        let vars = yaml(&project.join(format!("host_vars/{host}.yml")))?;
        let mut targets: BTreeMap<String, (String, &Value)> = BTreeMap::new();
        for (section, body) in vars.as_object().unwrap() {
            let Some(files) = body["files"].as_array() else {
                continue;
            };
            let group = &inventory["all"]["children"][section]["hosts"][&host];
            if group.is_null() {
                return Err(format!(
                    "{host} places {section}'s files but is not in its group"
                ));
            }
            for file in files {
                let dest = file["dest"].as_str().unwrap().to_owned();
                if targets
                    .insert(dest.clone(), (section.clone(), file))
                    .is_some()
                {
                    return Err(format!("{host}:{dest} is placed twice"));
                }
            }
        }
        for entry in entries {
            let path = entry["path"].as_str().unwrap();
            let Some((section, file)) = targets.remove(path) else {
                return Err(format!("no role places {host}:{path}"));
            };
            for field in ["owner", "group", "mode"] {
                if file[field] != entry[field] {
                    return Err(format!(
                        "{host}:{path} {field} is {} in {section}, {} in the manifest",
                        file[field], entry[field]
                    ));
                }
            }
            let src = file["src"].as_str().unwrap();
            if entry["secret"] == true {
                if !written.contains_key(&format!("templates/{src}")) {
                    return Err(format!("{host}:{path} has no template templates/{src}"));
                }
            } else {
                let rendered_bytes = fs::read(rendered.join(&host).join(&path[1..])).unwrap();
                if written.get(&format!("files/{src}")) != Some(&rendered_bytes) {
                    return Err(format!(
                        "files/{src} is not what render wrote at {host}:{path}"
                    ));
                }
            }
            placed += 1;
        }
        if let Some(extra) = targets.keys().next() {
            return Err(format!(
                "{host}:{extra} is placed but render does not write it"
            ));
        }
    }
    Ok(placed)
}

fn yaml(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A site whose PgBouncer, on the primary and on the web host, lets in three users from its
/// auth_file (`PASSWORDS`: the secrets' names), or with `auth_query`, only the role that runs the
/// query.
pub(crate) fn pgbouncer_spec(auth_query: bool) -> String {
    let users = if auth_query {
        "  auth_query:\n    user: pgbouncer_auth\n    password: { env: PGBOUNCER_AUTH_PASSWORD }\n    query: \"SELECT usename, passwd FROM pgbouncer.get_auth($1)\"\n  users:\n    - { name: catmaid_user }\n    - { name: reporter }\n"
    } else {
        "  users:\n    - { name: catmaid_user, password: { env: CATMAID_DB_PASSWORD } }\n    - { name: reporter, password: { env: REPORTER_PASSWORD } }\n    - { name: auditor, password: { env: AUDITOR_PASSWORD } }\n"
    };
    format!(
        r#"site: pooled
hosts:
  - {{ name: db1, address: 192.0.2.11, memory: 16GiB, cpus: 4, storage: ssd, roles: [postgres-primary] }}
  - {{ name: web1, address: 192.0.2.20, memory: 8GiB, cpus: 4, storage: ssd, roles: [web] }}
postgres:
  version: 16
  data_directory: /var/lib/postgresql/16/main
  config_directory: /etc/postgresql/16/main
  ssl: {{ cert: /etc/ssl/pg.crt, key: /etc/ssl/pg.key, ca: /etc/ssl/ca.crt }}
pgbouncer:
  hosts: [db1, web1]
  port: 6433
  default_pool_size: 5
  databases: [ {{ name: catmaid, pool_size: 10 }}, {{ name: reports }} ]
{users}  tls: {{ cert: /etc/pgbouncer/server.crt, key: /etc/pgbouncer/server.key }}
nginx:
  version: "1.22"
  openssl: "3.0"
  https:
    server_name: catmaid.example.org
    tls:
      certificate: /etc/nginx/ssl/server.crt
      certificate_key: /etc/nginx/ssl/server.key
      profile: intermediate
    upstream:
      servers: [127.0.0.1:8000]
      protocol: asgi
django:
  version: "5.2"
  settings_file: /srv/catmaid/settings_production.py
  secret_key: {{ env: DJANGO_SECRET_KEY }}
  database:
    name: catmaid
    user: catmaid_user
    password: {{ env: CATMAID_DB_PASSWORD }}
    pgbouncer: true
"#
    )
}

#[test]
fn pgbouncer_sites_export_a_role_that_places_both_files_and_computes_the_verifiers() {
    for (auth_query, users) in [
        (
            false,
            &[
                ("catmaid_user", "catmaid_db_password"),
                ("reporter", "reporter_password"),
                ("auditor", "auditor_password"),
            ][..],
        ),
        (true, &[("pgbouncer_auth", "pgbouncer_auth_password")][..]),
    ] {
        let work = temp_dir();
        let placed = exported_spec(&pgbouncer_spec(auth_query), "pgb", work.path())
            .unwrap_or_else(|e| panic!("auth_query {auth_query}: {e}"));
        assert!(
            placed > 0,
            "check refused the spec (auth_query {auth_query})"
        );
        let project = work.path().join("ansible");
        let inventory = yaml(&project.join("inventory.yml")).unwrap();
        for (host, address) in [("db1", "192.0.2.11"), ("web1", "192.0.2.20")] {
            assert!(
                !inventory["all"]["children"]["sitewright_pgbouncer"]["hosts"][host].is_null(),
                "{host} is not in sitewright_pgbouncer"
            );
            let vars = yaml(&project.join(format!("host_vars/{host}.yml"))).unwrap();
            let pgb = &vars["sitewright_pgbouncer"];
            assert_eq!(pgb["ini"], "/etc/pgbouncer/pgbouncer.ini");
            // The settings that need a restart, as pgbouncer.ini writes them; those it does
            // not write are named apart, so that the host's file setting one counts too.
            assert_eq!(
                pgb["restart_settings"],
                serde_json::json!({
                    "listen_addr": address,
                    "listen_port": "6433",
                    "unix_socket_dir": "/var/run/postgresql",
                })
            );
            let unset: Vec<&str> = pgb["restart_unset"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(unset.len(), 10, "{unset:?}");
            assert!(unset.contains(&"pidfile") && !unset.contains(&"listen_port"));
            let mut secrets: Vec<&str> = users.iter().map(|(_, s)| *s).collect();
            secrets.sort_unstable();
            assert_eq!(pgb["secrets"], serde_json::json!(secrets));
            let files = pgb["files"].as_array().unwrap();
            assert_eq!(files.len(), 2);
            assert_eq!(files[0]["dest"], "/etc/pgbouncer/pgbouncer.ini");
            assert_eq!(files[0]["slot"], "config");
            assert_eq!(files[0]["mode"], "0640");
            assert_eq!(files[1]["dest"], "/etc/pgbouncer/userlist.txt");
            assert_eq!(files[1]["slot"], "secret");
            assert_eq!(files[1]["mode"], "0600");
            assert_eq!(
                files[1]["src"],
                format!("{host}/etc/pgbouncer/userlist.txt.j2")
            );
            // Each user's line computes its verifier from the password's variable with the
            // role's filter; no verifier (of a marker or anything else) is written as text.
            let template = fs::read_to_string(
                project.join(format!("templates/{host}/etc/pgbouncer/userlist.txt.j2")),
            )
            .unwrap();
            assert!(!template.contains("SCRAM-SHA-256$"), "{template}");
            assert!(!template.contains("SITEWRIGHTSECRET"), "{template}");
            for (user, secret) in users {
                let line = format!(
                    "\"{user}\" \"{{% endraw %}}{{{{ sitewright_secrets['{secret}'] | sitewright_scram_verifier(\"{user}\", \"pooled\") }}}}{{% raw %}}\"\n"
                );
                assert!(template.contains(&line), "{line} not in\n{template}");
            }
            assert_eq!(
                template.matches("sitewright_scram_verifier").count(),
                users.len()
            );
        }
        // The primary's postgresql role creates each role PgBouncer logs in as with the secret
        // of userlist.txt (`scram_context`: the site the salt is derived from), and the
        // databases PgBouncer serves.
        let pg = &yaml(&project.join("host_vars/db1.yml")).unwrap()["sitewright_postgresql"];
        let roles = pg["roles"].as_array().unwrap();
        for (user, secret) in users {
            let role = roles
                .iter()
                .find(|r| r["name"] == *user)
                .unwrap_or_else(|| panic!("no role {user} in {roles:?}"));
            assert_eq!(
                role,
                &serde_json::json!({
                    "name": user, "replication": false, "password": secret, "scram_context": "pooled",
                })
            );
        }
        if auth_query {
            // Django's role, which PgBouncer does not log in as with a userlist.txt secret.
            assert_eq!(roles.len(), 2, "{roles:?}");
            let django = roles.iter().find(|r| r["name"] == "catmaid_user").unwrap();
            assert!(django.get("scram_context").is_none(), "{django:?}");
        } else {
            assert_eq!(roles.len(), 3, "{roles:?}");
        }
        assert_eq!(
            pg["databases"],
            serde_json::json!([{ "name": "catmaid", "owner": "catmaid_user" }, { "name": "reports" }])
        );
        assert!(
            yaml(&project.join("host_vars/web1.yml")).unwrap()["sitewright_postgresql"].is_null()
        );
        let module = fs::read_to_string(
            project.join("roles/postgresql/library/sitewright_postgresql_role.py"),
        )
        .unwrap();
        assert!(
            module.contains("def saslprep(password):") && !module.contains("# --- saslprep ---"),
            "the module lacks the filter's SASLprep"
        );
        let example = fs::read_to_string(project.join("secrets.example.yml")).unwrap();
        for (_, secret) in users {
            assert!(
                example.contains(&format!("  {secret}: \"\"\n")),
                "{example}"
            );
        }
        assert!(project.join("filter_plugins/sitewright_scram.py").is_file());
    }
}
