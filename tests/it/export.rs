//! The exports beyond the fixtures: every generated spec that `check` accepts exports to an
//! Ansible project that places every file render writes, with its owner and mode, and holds no
//! secret. (Running the projects is `real::export` and `real::ansible`.)

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
    let spec = work.path().join("site.yaml");
    fs::write(&spec, &generated.yaml).unwrap();
    if Sitewright::new().arg("check").arg(&spec).run().code != 0 {
        return Ok(0);
    }
    // Each secret the spec names has a value of its own, which no exported file may hold.
    let names: Vec<String> = Regex::new(r"env: ([A-Z_][A-Z0-9_]*)")
        .unwrap()
        .captures_iter(&generated.yaml)
        .map(|c| c[1].to_owned())
        .collect();
    let value = |name: &str| format!("s3cret-{seed}-{name}");
    let (rendered, project) = (work.path().join("rendered"), work.path().join("ansible"));
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
