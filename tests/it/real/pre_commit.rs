//! The hooks of `.pre-commit-hooks.yaml`, run by the real pre-commit framework (pinned in
//! scripts/install-test-deps) the way a user's repository runs them: pre-commit clones this
//! repository (its working tree, committed into a temporary repository as `pre-commit try-repo`
//! does), builds sitewright with the machine's cargo (`language: rust`, version `system`), and runs
//! each hook with the arguments a user's `.pre-commit-config.yaml` gives.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use regex::Regex;

use crate::support::{Sitewright, fixture, installed, repo, temp_dir};

/// `git args` in `dir`, which must succeed.
#[track_caller]
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=sitewright test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// This repository's working tree (tracked files and new ones git does not ignore), committed in
/// `dir`. Returns the commit, the `rev` a user's configuration names.
fn hook_repository(dir: &Path) -> String {
    fs::create_dir(dir).unwrap();
    let files = git(
        &repo(),
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    );
    for file in files.split('\0').filter(|f| !f.is_empty()) {
        let from = repo().join(file);
        if !from.is_file() {
            continue; // deleted in the working tree, not yet in the index
        }
        let to = dir.join(file);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap();
    }
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "the hooks under test"]);
    git(dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

/// `pre-commit run --all-files` in `site`, with its own cache in `home`. The hook's release build
/// goes to a folder the test target keeps between runs, with optimisation off (the build is run,
/// not measured) and without the network: cargo has the locked crates from building this test.
fn pre_commit_run(site: &Path, home: &Path) -> Output {
    let cargo_dir = Path::new(env!("CARGO")).parent().unwrap().to_owned();
    let path = std::env::join_paths(std::iter::once(cargo_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    Command::new(installed("SITEWRIGHT_PRE_COMMIT"))
        .args(["run", "--all-files", "--color", "never"])
        .current_dir(site)
        .env("PATH", path)
        .env("PRE_COMMIT_HOME", home)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("pre-commit-build"),
        )
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env_remove("NO_COLOR")
        .output()
        .expect("pre-commit runs")
}

/// Asserts how pre-commit ended and what it said of each hook (`Passed` or `Failed`), and that
/// its output holds each of `shown`.
#[track_caller]
fn assert_run(output: &Output, code: i32, check: &str, render_check: &str, shown: &[&str]) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let context = format!(
        "pre-commit run --all-files exited {:?}\n--- stdout\n{stdout}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(code), "{context}");
    for (name, result) in [("check", check), ("render --check", render_check)] {
        let line = Regex::new(&format!(
            r"(?m)^sitewright {}\.+{result}$",
            regex::escape(name)
        ))
        .unwrap();
        assert!(
            line.is_match(&stdout),
            "hook `sitewright {name}` did not say {result}\n{context}"
        );
    }
    for text in shown {
        assert!(
            stdout.contains(text),
            "pre-commit's output lacks {text:?}\n{context}"
        );
    }
}

#[test]
fn the_pre_commit_hooks_pass_a_good_site_and_fail_a_broken_spec_and_a_stale_tree() {
    let dir = temp_dir();
    let rev = hook_repository(&dir.path().join("hooks"));
    let site = dir.path().join("site");
    fs::create_dir(&site).unwrap();
    git(&site, &["init", "-q"]);
    let spec = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    fs::write(site.join("site.yaml"), &spec).unwrap();
    Sitewright::new()
        .in_dir(&site)
        .args(["render", "site.yaml", "-o", "rendered"])
        .run()
        .code(0);
    // The hook renders with the templates under test too, as the tree above was rendered.
    let templates = crate::support::test_templates()
        .map(|dir| format!(", --templates, {}", dir.display()))
        .unwrap_or_default();
    fs::write(
        site.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: sitewright-check\n        \
             args: [site.yaml]\n      - id: sitewright-render-check\n        args: [site.yaml, -o, \
             rendered{templates}]\n",
            dir.path().join("hooks").display()
        ),
    )
    .unwrap();
    git(&site, &["add", "-A"]);
    let home = dir.path().join("pre-commit-home");

    assert_run(&pre_commit_run(&site, &home), 0, "Passed", "Passed", &[]);

    let conf = site.join("rendered/web1/etc/nginx/conf.d/catmaid.conf");
    let rendered = fs::read_to_string(&conf).unwrap();
    fs::write(&conf, format!("{rendered}# edited by hand\n")).unwrap();
    git(&site, &["add", "-A"]);
    assert_run(
        &pre_commit_run(&site, &home),
        1,
        "Passed",
        "Failed",
        &[
            "- hook id: sitewright-render-check",
            "differs: web1/etc/nginx/conf.d/catmaid.conf\n",
            "sitewright: rendered is not what the spec renders: 1 file to render again",
        ],
    );
    fs::write(&conf, rendered).unwrap();

    let broken = spec.replacen("storage: ssd", "storage: tape", 1);
    assert_ne!(broken, spec);
    fs::write(site.join("site.yaml"), broken).unwrap();
    git(&site, &["add", "-A"]);
    let output = pre_commit_run(&site, &home);
    assert_run(
        &output,
        1,
        "Failed",
        "Failed",
        &[
            "- hook id: sitewright-check",
            "site.yaml:13:14: error: expected one of hdd, ssd, nvme, san, found a string `tape`\n",
            "site.yaml: 1 error, 0 warnings",
        ],
    );
}
