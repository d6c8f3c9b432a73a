//! Tests as data: the runner for tests/cases/<group>/<case>/, so that a report is reviewed as a
//! file in `git diff` rather than as a Rust string literal. tests/cases/README.md describes the
//! layout; `SITEWRIGHT_UPDATE=1 cargo test --test it cases` rewrites the expected files from what
//! sitewright prints now.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Sitewright, repo, temp_dir};

/// The files of a case folder that are not copied to the run's directory: what is expected, and
/// how to call sitewright.
const EXPECTATIONS: [&str; 3] = ["stdout", "stderr", "status"];
const ARGS: &str = "args";

/// One case, run: what the group's own checks need to look further.
pub struct Ran<'a> {
    /// Where sitewright ran: a fresh copy of the case's input files.
    pub work: &'a Path,
    /// The stderr the case expects (in update mode, the one just written).
    pub stderr: &'a str,
}

/// Whether this run rewrites the expected files instead of failing on them.
fn updating() -> bool {
    std::env::var_os("SITEWRIGHT_UPDATE").is_some_and(|v| v == "1")
}

/// Runs every case of tests/cases/`group`, in a fresh directory each, and compares its exit
/// status, stdout and stderr with the case's files; `more` adds the group's own checks (it returns
/// what is wrong). Fails once, after every case ran, with a unified diff per failing case.
#[track_caller]
pub fn run_group(group: &str, more: impl Fn(&Ran) -> Vec<String>) {
    let root = repo().join("tests/cases").join(group);
    let cases = case_dirs(&root);
    // A group whose folders went missing must not pass by running nothing.
    assert!(!cases.is_empty(), "no cases under {}", root.display());
    let update = updating();
    let mut failures = Vec::new();
    let mut updated = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (problems, rewrote) = run_case(dir, update, &more);
        if rewrote {
            updated.push(name.clone());
        }
        if !problems.is_empty() {
            failures.push((name, problems.join("\n")));
        }
    }
    if !updated.is_empty() {
        eprintln!(
            "rewrote the expected files of {} case(s) under {}: {}; read `git diff` before committing",
            updated.len(),
            root.display(),
            updated.join(", ")
        );
    }
    if !failures.is_empty() {
        let names: Vec<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
        let details: Vec<String> = failures
            .iter()
            .map(|(name, problems)| format!("== tests/cases/{group}/{name}\n{problems}"))
            .collect();
        panic!(
            "{} of {} cases in tests/cases/{group} differ: {}\n\n{}\n\nIf the new output is right: \
             SITEWRIGHT_UPDATE=1 cargo test --test it cases, then read `git diff tests/cases`",
            failures.len(),
            cases.len(),
            names.join(", "),
            details.join("\n\n")
        );
    }
}

/// The case folders of a group, by name, each name checked to be one a path and a shell take as
/// it is.
fn case_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}: a case name is lower-case letters, digits and `-`",
            dir.display()
        );
    }
    dirs
}

/// Runs one case; returns what differs (empty when it passed) and whether it rewrote a file.
fn run_case(dir: &Path, update: bool, more: &impl Fn(&Ran) -> Vec<String>) -> (Vec<String>, bool) {
    let work = temp_dir();
    copy_inputs(dir, work.path(), true);
    let args: Vec<String> = match fs::read_to_string(dir.join(ARGS)) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(_) => vec!["check".to_owned(), "site.yaml".to_owned()],
    };
    let expected_stdout = read_or_empty(&dir.join("stdout"));
    let expected_stderr = read_or_empty(&dir.join("stderr"));
    let expected_status = match fs::read_to_string(dir.join("status")) {
        Ok(text) => text
            .trim()
            .parse::<i32>()
            .unwrap_or_else(|e| panic!("{}/status: {e}: it holds one exit status", dir.display())),
        Err(_) => 0,
    };
    let (outcome, mut problems) = Sitewright::new()
        .in_dir(work.path())
        .args(&args)
        .status(expected_status)
        .stdout(expected_stdout.clone())
        .stderr(expected_stderr.clone())
        .compare();
    let mut rewrote = false;
    let stderr = if update && !problems.is_empty() {
        write_or_remove(&dir.join("stdout"), &outcome.stdout);
        write_or_remove(&dir.join("stderr"), &outcome.stderr);
        let status = if outcome.code == 0 {
            String::new()
        } else {
            format!("{}\n", outcome.code)
        };
        write_or_remove(&dir.join("status"), &status);
        problems.clear();
        rewrote = true;
        outcome.stderr.clone()
    } else {
        expected_stderr
    };
    // The group's own checks run in update mode too: what they find, no rewrite can fix.
    problems.extend(more(&Ran {
        work: work.path(),
        stderr: &stderr,
    }));
    (problems, rewrote)
}

/// Copies every file of the case folder but the expectations, so that sitewright runs where
/// nothing it writes can land in the repository, and where paths in its reports are the case's own
/// relative ones.
fn copy_inputs(from: &Path, to: &Path, top: bool) {
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if top && (EXPECTATIONS.contains(&name.as_str()) || name == ARGS) {
            continue;
        }
        if path.is_dir() {
            fs::create_dir(to.join(&name)).unwrap();
            copy_inputs(&path, &to.join(&name), false);
        } else {
            fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

fn read_or_empty(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// An empty expectation is no file, so a case folder shows at a glance what a run prints.
fn write_or_remove(path: &Path, text: &str) {
    if text.is_empty() {
        if path.exists() {
            fs::remove_file(path).unwrap();
        }
    } else {
        fs::write(path, text).unwrap();
    }
}
