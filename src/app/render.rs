//! `render`: the tree and its manifests, written atomically; the files an earlier render wrote and
//! the spec no longer produces, removed (or kept, with `--keep-stale`).

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};

use super::exit::Outcome;
use super::options::{Hosts, RenderAction, RenderOptions, SecretPolicy};
use super::{Failure, load_spec, rendered};
use crate::manifest::Manifest;
use crate::render::Tree;
use crate::write::{MANIFEST, OnStale, Scope, outputs, stale_files, write_tree};

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
    let scope = match args.selection.hosts {
        Hosts::All => Scope::EveryHost,
        Hosts::Named(_) => Scope::RenderedHosts,
    };
    if args.action == RenderAction::Check {
        return check_tree(&tree, &args.out, scope, args.stale);
    }
    let report = write_tree(&tree, &args.out, scope, args.stale).map_err(Failure::Write)?;
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
    for stale in &report.removed {
        outln!(
            "removed {}: an earlier render wrote it, the spec no longer does",
            stale.dest.display()
        )?;
    }
    for stale in &report.kept {
        eprintln!(
            "stale: {} is no longer rendered; kept (--keep-stale), and no longer in the manifests",
            stale.dest.display()
        );
    }
    Ok(Outcome::Done)
}

/// `render --check`: what `render` would do to the tree in `root`, without doing it: each file it
/// would write (`differs:`, `missing:`) and each stale file it would remove (`stale:`). A file no
/// render wrote is not reported: render leaves it alone.
fn check_tree(
    tree: &Tree,
    root: &Path,
    scope: Scope,
    on_stale: OnStale,
) -> Result<Outcome, Failure> {
    let mut problems = Vec::new();
    let mut expected: Vec<(PathBuf, Cow<'_, [u8]>)> = outputs(tree, root)
        .into_iter()
        .map(|output| (output.dest, output.bytes))
        .collect();
    expected.push((
        root.join(MANIFEST),
        Cow::Owned(Manifest::of(tree).to_json().into_bytes()),
    ));
    let shown = |path: &Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    for (path, content) in &expected {
        match fs::read(path) {
            Ok(bytes) if bytes == **content => {}
            Ok(_) => problems.push(format!("differs: {}", shown(path))),
            Err(_) => problems.push(format!("missing: {}", shown(path))),
        }
    }
    if on_stale == OnStale::Remove {
        for stale in stale_files(tree, root, scope) {
            problems.push(format!("stale: {}", shown(&stale.dest)));
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
            // As `render` counts them: the host manifests too, not manifest.json.
            expected.len() - 1
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
