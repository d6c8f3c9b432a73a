//! `sitewright import` on the renders of the fixtures: the spec it writes passes `check`; with
//! `--keep-live` each PostgreSQL server's settings render as the live ones, and every live
//! setting is either rendered the same or named in the report, none dropped silently; no
//! password is copied; an existing spec is never overwritten.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{Outcome, Sitewright, fixture, temp_dir};

/// The fixtures whose renders are imported.
const FIXTURES: &[&str] = &["catmaid", "catmaid-pg11", "idr", "research", "synapse"];

/// Each `name = value` of a postgresql.conf text, unquoted, as the server reads it.
fn settings(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (name, rest) = l.split_once('=')?;
            let rest = rest.trim();
            let value = if let Some(quoted) = rest.strip_prefix('\'') {
                quoted[..quoted.rfind('\'')?].replace("''", "'")
            } else {
                rest.split_whitespace().next().unwrap_or("").to_owned()
            };
            Some((name.trim().to_lowercase(), value))
        })
        .filter(|(name, _)| !name.starts_with("include"))
        .collect()
}

fn same(a: &str, b: &str) -> bool {
    let norm = |v: &str| match v.to_ascii_lowercase().as_str() {
        "on" | "true" => "on".to_owned(),
        "off" | "false" => "off".to_owned(),
        other => other.to_owned(),
    };
    norm(a) == norm(b)
}

/// Every postgresql.conf under `tree`, by `HOST/path`.
fn confs(tree: &Path) -> BTreeMap<String, String> {
    crate::support::tree(tree)
        .into_iter()
        .filter(|(path, _)| path.ends_with("/postgresql.conf"))
        .map(|(path, bytes)| (path, String::from_utf8(bytes).unwrap()))
        .collect()
}

/// A spec rendered into a `--live` folder and imported back from it with `--keep-live`.
struct Imported {
    work: tempfile::TempDir,
    live: PathBuf,
    spec: PathBuf,
    outcome: Outcome,
    /// The spec import wrote, or "" when it wrote none.
    written: String,
}

impl Imported {
    /// Renders `original` into `live`, makes the folders its include_dir lines name as a
    /// running host has them, and imports `live` with `--keep-live`.
    fn of(original: &Path) -> Self {
        let work = temp_dir();
        let live = work.path().join("live");
        Sitewright::new()
            .arg("render")
            .arg(original)
            .arg("-o")
            .arg(&live)
            .run()
            .code(0);
        include_dirs(&live);
        let spec = work.path().join("site.yaml");
        let outcome = Sitewright::new()
            .arg("import")
            .arg(&live)
            .arg("-o")
            .arg(&spec)
            .arg("--keep-live")
            .run();
        let written = fs::read_to_string(&spec).unwrap_or_default();
        Self {
            work,
            live,
            spec,
            outcome,
            written,
        }
    }

    /// The render of the imported spec.
    fn render_again(&self) -> PathBuf {
        let again = self.work.path().join("again");
        Sitewright::new()
            .arg("render")
            .arg(&self.spec)
            .arg("-o")
            .arg(&again)
            .run()
            .code(0);
        again
    }
}

#[test]
fn every_live_setting_is_rendered_the_same_or_named_in_the_report() {
    for name in FIXTURES {
        let round = Imported::of(&fixture(&format!("{name}/site.yaml")));
        let (live, spec, imported) = (&round.live, &round.spec, &round.outcome);
        assert!(
            matches!(imported.code, 0 | 1),
            "{name}: import exited {}\n{}",
            imported.code,
            imported.stderr
        );
        imported.stderr_has(&format!("sitewright: wrote {}", spec.display()));
        Sitewright::new().arg("check").arg(spec).run().code(0);
        let again = round.render_again();
        // The kernel settings the spec keeps: each live one rendered the same, or named.
        for (path, bytes) in crate::support::tree(live) {
            let Some((host, rest)) = path.split_once('/') else {
                continue;
            };
            if !rest.starts_with("etc/sysctl.d/") || !after_has_host(&again, host) {
                continue;
            }
            let rendered = fs::read_to_string(again.join(host).join(rest)).unwrap_or_default();
            let rendered = kernel(&rendered);
            for (key, value) in kernel(&String::from_utf8(bytes).unwrap()) {
                let kept = rendered.get(&key) == Some(&value);
                let named = imported.stderr.lines().any(|l| l.contains(&key));
                assert!(
                    kept || named,
                    "{name}: {path}: {key} = {value} neither rendered the same nor named:\n{}",
                    imported.stderr
                );
            }
        }
        let before = confs(live);
        let after = confs(&again);
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "{name}: the imported spec renders a postgresql.conf on each server's host"
        );
        for (path, text) in &before {
            let (host, _) = path.split_once('/').unwrap();
            let live = settings(text);
            let rendered = settings(&after[path]);
            for (setting, value) in &live {
                let kept = rendered.get(setting).is_some_and(|r| same(r, value));
                let named = imported.stderr.lines().any(|l| {
                    l.starts_with(&format!("note: {host}")) && l.contains(setting.as_str())
                });
                assert!(
                    kept || named,
                    "{name}: {path}: {setting} = {value} is neither rendered the same ({:?}) nor named in the report:\n{}",
                    rendered.get(setting),
                    imported.stderr
                );
            }
        }
    }
}

/// The target: with `--keep-live`, the spec imported from a fixture's render renders
/// that same tree again, every file byte for byte (the manifests too, which hold each file's
/// hash), and import's own round-trip diff says so with exit 0.
#[test]
fn every_fixture_round_trips_byte_for_byte_with_keep_live() {
    for name in FIXTURES {
        let round = Imported::of(&fixture(&format!("{name}/site.yaml")));
        let (live, written) = (&round.live, &round.written);
        assert_eq!(
            round.outcome.code, 0,
            "{name}: the round trip is not clean:\n{}\n{written}",
            round.outcome.stderr
        );
        let again = round.render_again();
        let before = crate::support::tree(live);
        let after = crate::support::tree(&again);
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "{name}: the same files\n{written}"
        );
        for (path, bytes) in &before {
            assert!(
                after[path] == *bytes,
                "{name}: {path} differs:\n--- live\n{}\n--- imported\n{}\n--- spec\n{written}",
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(&after[path])
            );
        }
    }
}

/// Makes the folder each rendered postgresql.conf's `include_dir` names, as it is on a host that
/// runs (sitewright does not write it, and `diff --live` says a server would not start without it).
fn include_dirs(live: &Path) {
    for (path, bytes) in crate::support::tree(live) {
        if !path.ends_with("/postgresql.conf") {
            continue;
        }
        let text = String::from_utf8(bytes).unwrap();
        for dir in text
            .lines()
            .filter_map(|l| l.strip_prefix("include_dir = '"))
            .filter_map(|rest| rest.split('\'').next())
        {
            let folder = match dir.strip_prefix('/') {
                Some(absolute) => live.join(path.split('/').next().unwrap()).join(absolute),
                None => live.join(Path::new(&path).parent().unwrap()).join(dir),
            };
            fs::create_dir_all(folder).unwrap();
        }
    }
}

/// Whether the render in `tree` has a folder for `host` (the spec has the host).
fn after_has_host(tree: &Path, host: &str) -> bool {
    tree.join(host).is_dir()
}

/// The keys a sysctl file sets, as sysctl reads them.
fn kernel(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

#[test]
fn of_two_sysctl_files_setting_one_key_the_later_wins_and_is_named() {
    let work = temp_dir();
    let live = work.path().join("live");
    Sitewright::new()
        .arg("render")
        .arg(fixture("research/site.yaml"))
        .arg("-o")
        .arg(&live)
        .run()
        .code(0);
    for host in ["db1", "db2"] {
        let dir = live.join(host).join("etc/sysctl.d");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("10-early.conf"),
            "vm.swappiness = 30
vm.overcommit_memory = 2
",
        )
        .unwrap();
        fs::write(
            dir.join("90-late.conf"),
            "vm.swappiness = 5
",
        )
        .unwrap();
    }
    let spec = work.path().join("site.yaml");
    let imported = Sitewright::new()
        .arg("import")
        .arg(&live)
        .arg("-o")
        .arg(&spec)
        .run();
    imported.stderr_has(
        "note: db1/etc/sysctl.d/90-late.conf: vm.swappiness = 5 wins over /etc/sysctl.d/10-early.conf's 30",
    );
    Sitewright::new().arg("check").arg(&spec).run().code(0);
    let again = work.path().join("again");
    Sitewright::new()
        .arg("render")
        .arg(&spec)
        .arg("-o")
        .arg(&again)
        .run()
        .code(0);
    let rendered = fs::read_to_string(again.join("db1/etc/sysctl.d/60-sitewright.conf")).unwrap();
    let keys = kernel(&rendered);
    assert_eq!(
        keys.get("vm.swappiness").map(String::as_str),
        Some("5"),
        "{rendered}"
    );
    assert_eq!(
        keys.get("vm.overcommit_memory").map(String::as_str),
        Some("2"),
        "{rendered}"
    );
}

#[test]
fn no_password_is_copied_and_its_variable_is_named() {
    let work = temp_dir();
    let live = work.path().join("live");
    Sitewright::new()
        .arg("render")
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(&live)
        .arg("--with-secrets")
        .env("CATMAID_REPLICATION_PASSWORD", "import-Secret-9")
        .env("CATMAID_DB_PASSWORD", "import-Secret-9")
        .env("CATMAID_SECRET_KEY", "import-Secret-9")
        .run()
        .code(0);
    let spec = work.path().join("site.yaml");
    Sitewright::new()
        .arg("import")
        .arg(&live)
        .arg("-o")
        .arg(&spec)
        .run()
        .neither_has("import-Secret-9")
        .stderr_has(
            "set CATMAID_DB_PASSWORD, CATMAID_REPLICATION_PASSWORD, DJANGO_SECRET_KEY before",
        );
    let text = fs::read_to_string(&spec).unwrap();
    assert!(!text.contains("import-Secret-9"), "{text}");
    assert!(text.contains("env: CATMAID_REPLICATION_PASSWORD"), "{text}");
}

#[test]
fn an_existing_spec_is_never_overwritten() {
    let work = temp_dir();
    let live = work.path().join("live");
    Sitewright::new()
        .arg("render")
        .arg(fixture("research/site.yaml"))
        .arg("-o")
        .arg(&live)
        .run()
        .code(0);
    let spec = work.path().join("site.yaml");
    fs::write(&spec, "mine\n").unwrap();
    Sitewright::new()
        .arg("import")
        .arg(&live)
        .arg("-o")
        .arg(&spec)
        .run()
        .code(2)
        .stderr_has("exists: import never overwrites a spec");
    assert_eq!(fs::read_to_string(&spec).unwrap(), "mine\n");
}

#[test]
fn a_folder_without_postgresql_writes_nothing() {
    let work = temp_dir();
    let live = work.path().join("live");
    fs::create_dir_all(live.join("web1/etc/nginx/conf.d")).unwrap();
    fs::write(live.join("web1/etc/nginx/conf.d/site.conf"), "server {}\n").unwrap();
    let spec = work.path().join("site.yaml");
    Sitewright::new()
        .arg("import")
        .arg(&live)
        .arg("-o")
        .arg(&spec)
        .run()
        .code(2)
        .stderr_has("nothing sitewright writes was found");
    assert!(!spec.exists());
}

#[test]
fn a_file_that_cannot_be_read_as_text_is_named_never_taken_for_empty() {
    let work = temp_dir();
    let live = work.path().join("live");
    Sitewright::new()
        .arg("render")
        .arg(fixture("research/site.yaml"))
        .arg("-o")
        .arg(&live)
        .run()
        .code(0);
    let odd = live.join("db1/etc/postgresql/17/main/conf.d/tuning.conf");
    fs::create_dir_all(odd.parent().unwrap()).unwrap();
    fs::write(&odd, b"work_mem = '64MB' # \xff\xfe\n").unwrap();
    let spec = work.path().join("site.yaml");
    Sitewright::new()
        .arg("import")
        .arg(&live)
        .arg("-o")
        .arg(&spec)
        .run()
        .stderr_has(
            "note: db1/etc/postgresql/17/main/conf.d/tuning.conf: not read: not UTF-8 text; what it holds is not in the spec",
        );
}

/// Beyond the fixtures: each generated spec that `check` accepts (the seeds CI proves, which draw
/// every field of the schema) is rendered and imported with `--keep-live`. The import never
/// fails or panics, the spec it writes passes `check`, and its render has a file at every path
/// of the live tree that holds PostgreSQL's, nginx's or the kernel's settings. How many round
/// trip byte for byte is printed, with the first file of each that does not.
#[test]
fn generated_specs_import_into_specs_that_check_accepts() {
    let seeds: Vec<u64> = crate::support::sites::CI_SEEDS.collect();
    let results: Vec<(u64, Result<Option<String>, String>)> = std::thread::scope(|scope| {
        let chunks: Vec<&[u64]> = seeds.chunks(seeds.len().div_ceil(2)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|seed| (*seed, round_trip(*seed)))
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
    let mut identical = 0;
    let mut failures = Vec::new();
    let mut differing = Vec::new();
    for (seed, result) in results {
        match result {
            Ok(None) => {
                accepted += 1;
                identical += 1;
            }
            Ok(Some(first)) => {
                accepted += 1;
                differing.push(format!("seed {seed}: {first}"));
            }
            Err(e) if e == "refused" => {}
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
    }
    eprintln!(
        "import of generated specs: {accepted} accepted specs imported, {identical} round trip byte for byte; the others first differ at:\n  {}",
        differing.join("\n  ")
    );
    assert!(
        failures.is_empty(),
        "{} imports failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(accepted >= 100, "only {accepted} generated specs accepted");
}

/// The round trip of generated spec `seed`: `Err("refused")` when `check` refuses the spec,
/// `Err(why)` when the import fails, `Ok(None)` when it renders the same tree byte for byte,
/// `Ok(Some(path))` with the first file that differs otherwise.
fn round_trip(seed: u64) -> Result<Option<String>, String> {
    let generated = crate::support::sites::generate(seed);
    let work = temp_dir();
    let original = work.path().join("original.yaml");
    fs::write(&original, &generated.yaml).unwrap();
    if Sitewright::new().arg("check").arg(&original).run().code != 0 {
        return Err("refused".to_owned());
    }
    let round = Imported::of(&original);
    let (imported, written) = (&round.outcome, &round.written);
    if !matches!(imported.code, 0 | 1) {
        return Err(format!(
            "import exited {}:\n{}\n{written}",
            imported.code, imported.stderr
        ));
    }
    let checked = Sitewright::new().arg("check").arg(&round.spec).run();
    if checked.code != 0 {
        return Err(format!(
            "the imported spec is refused:\n{}\n{written}",
            checked.stderr
        ));
    }
    let again = round.render_again();
    let live = &round.live;
    let before = crate::support::tree(live);
    let after = crate::support::tree(&again);
    let settings_file = |path: &str| {
        path.ends_with("/postgresql.conf")
            || path.contains("/etc/nginx/")
            || path.contains("/etc/sysctl.d/")
    };
    if let Some(missing) = before
        .keys()
        .find(|p| settings_file(p) && !after.contains_key(*p))
    {
        return Err(format!(
            "{missing} is not rendered by the imported spec:\n{written}"
        ));
    }
    // The manifests hold each file's hash: a file that differs is named, not its manifest.
    let differs = |(path, bytes): &(&String, &Vec<u8>)| after.get(*path) != Some(*bytes);
    Ok(before
        .iter()
        .filter(|(path, _)| !path.ends_with("manifest.json"))
        .find(differs)
        .or_else(|| before.iter().find(differs))
        .map(|(path, _)| path.clone()))
}
