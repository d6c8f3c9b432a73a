//! `render`: the tree and its manifest, written atomically.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::exit::Outcome;
use super::options::{RenderAction, RenderOptions, SecretPolicy};
use super::{Failure, load_spec, rendered};
use crate::manifest::Manifest;
use crate::render::Tree;
use crate::write::{MANIFEST, destination, write_tree};

pub(super) fn render(args: &RenderOptions) -> Result<Outcome, Failure> {
    let (_, loaded) = load_spec(&args.spec).map_err(|failure| match failure {
        Failure::Invalid(source, invalid) => Failure::NotRendered(source, invalid),
        other => other,
    })?;
    let policy = match args.action {
        RenderAction::Write(policy) => policy,
        RenderAction::Check => SecretPolicy::Placeholders,
    };
    let tree = rendered(&loaded, &args.selection, policy)?;
    if args.action == RenderAction::Check {
        return check_tree(&tree, &args.out);
    }
    let report = write_tree(&tree, &args.out).map_err(Failure::Write)?;
    let hosts = {
        let mut names: Vec<&str> = tree.files.iter().map(|f| f.host.as_str()).collect();
        names.dedup();
        names.len()
    };
    let unchanged = match report.unchanged {
        0 => String::new(),
        n => format!(" ({n} unchanged)"),
    };
    outln!(
        "wrote {} files{unchanged} for {hosts} hosts and manifest.json to {}",
        report.written,
        args.out.display()
    )?;
    for stale in &report.stale {
        eprintln!(
            "stale: {}/{}{} is no longer rendered; remove it if it is yours",
            args.out.display(),
            stale.host,
            stale.path
        );
    }
    Ok(Outcome::Done)
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// `render --check`: compares the committed tree in `root` with what the spec renders.
fn check_tree(tree: &Tree, root: &Path) -> Result<Outcome, Failure> {
    let mut problems = Vec::new();
    let mut expected: Vec<(PathBuf, String)> = tree
        .files
        .iter()
        .map(|f| (destination(root, f), f.content.clone()))
        .collect();
    expected.push((root.join(MANIFEST), Manifest::of(tree).to_json()));
    for (path, content) in &expected {
        let shown = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        match fs::read(path) {
            Ok(bytes) if bytes == content.as_bytes() => {}
            Ok(_) => problems.push(format!("differs: {shown}")),
            Err(_) => problems.push(format!("missing: {shown}")),
        }
    }
    let known: BTreeSet<&PathBuf> = expected.iter().map(|(p, _)| p).collect();
    let hosts: BTreeSet<&str> = tree.files.iter().map(|f| f.host.as_str()).collect();
    for host in hosts {
        for path in files_under(&root.join(host)) {
            if !known.contains(&path) {
                let shown = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                problems.push(format!("stale: {shown}"));
            }
        }
    }
    problems.sort();
    for problem in &problems {
        outln!("{problem}")?;
    }
    if problems.is_empty() {
        outln!(
            "{} is what the spec renders ({} files)",
            root.display(),
            tree.files.len()
        )?;
        Ok(Outcome::Done)
    } else {
        eprintln!(
            "sitewright: {} is not what the spec renders: {} file{} to render again",
            root.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        Ok(Outcome::Differs)
    }
}
