//! `diff`: the rendered files against the live ones, files the spec no longer produces, and what
//! each host needs after a deploy.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::exit::Outcome;
use super::options::{Detail, DiffOptions, Paint, SecretPolicy};
use super::{Failure, load_spec, rendered};
use crate::diff::{Change, FileDiff, HostAction, LiveFile, actions, diff};
use crate::plan::{Mode, OnChange, Service};
use crate::render::Tree;
use crate::write::{MANIFEST, destination};

/// Names of users and groups by id, from the host's own files.
fn names(file: &str) -> Vec<(u32, String)> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut fields = l.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?.parse().ok()?;
            Some((id, name.to_owned()))
        })
        .collect()
}

fn read_live(path: &Path, owners: bool) -> Result<Option<LiveFile>, Failure> {
    match fs::File::open(path).and_then(|mut file| {
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut file, &mut bytes)?;
        Ok((bytes, file.metadata().ok()))
    }) {
        Ok((bytes, meta)) => {
            let mode = meta.as_ref().map(|m| Mode(m.permissions().mode() & 0o7777));
            let owner = meta.filter(|_| owners).map(|m| {
                let name = |list: Vec<(u32, String)>, id: u32| {
                    list.into_iter()
                        .find(|(i, _)| *i == id)
                        .map_or_else(|| id.to_string(), |(_, n)| n)
                };
                format!(
                    "{}:{}",
                    name(names("/etc/passwd"), m.uid()),
                    name(names("/etc/group"), m.gid())
                )
            });
            Ok(Some(LiveFile {
                content: String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                mode,
                owner,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Read(path.to_owned(), e)),
    }
}

/// Files under the live tree of the tree's hosts that the spec no longer produces.
fn stale(live: &Path, tree: &Tree) -> Vec<String> {
    let rendered: HashSet<PathBuf> = tree.files.iter().map(|f| destination(live, f)).collect();
    let hosts: BTreeSet<&str> = tree.files.iter().map(|f| f.host.as_str()).collect();
    let mut out = Vec::new();
    for host in hosts {
        let mut pending = vec![live.join(host)];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                // The entry's own type, from the directory listing: no lookup of the path.
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(path);
                } else if !rendered.contains(&path)
                    && path.file_name().is_some_and(|n| n != MANIFEST)
                {
                    out.push(
                        path.strip_prefix(live)
                            .unwrap_or(&path)
                            .display()
                            .to_string(),
                    );
                }
            }
        }
    }
    out.sort();
    out
}

pub(super) fn diff_command(args: &DiffOptions) -> Result<Outcome, Failure> {
    let (_, loaded) = load_spec(&args.spec)?;
    let tree = rendered(&loaded, &args.selection, SecretPolicy::Placeholders)?;
    let failure = std::sync::Mutex::new(None);
    let owners = args.live.has_real_owners();
    // The walk for stale files needs only the tree: it runs beside the comparison.
    let (diffs, stale) = std::thread::scope(|scope| {
        let stale = scope.spawn(|| {
            args.live
                .fetched()
                .map(|dir| stale(dir, &tree))
                .unwrap_or_default()
        });
        let diffs = diff(&tree, |file| {
            read_live(&args.live.path_of(file), owners).unwrap_or_else(|f| {
                let mut failure = failure
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                failure.get_or_insert(f);
                None
            })
        });
        (
            diffs,
            stale
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        )
    });
    if let Some(failure) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(failure);
    }
    let mut out = io::stdout().lock();
    print_diffs(&mut out, &diffs, &stale, args.paint, args.detail).map_err(Failure::Output)?;
    Ok(
        if diffs.iter().any(FileDiff::differs) || !stale.is_empty() {
            Outcome::Differs
        } else {
            Outcome::Done
        },
    )
}

fn paint(paint: Paint, code: &str, line: &str) -> String {
    match paint {
        Paint::Ansi => format!("\x1b[{code}m{line}\x1b[0m"),
        Paint::Plain => line.to_owned(),
    }
}

/// Each differing file, the stale ones, then what each host needs.
fn print_diffs(
    out: &mut impl io::Write,
    diffs: &[FileDiff],
    stale: &[String],
    color: Paint,
    detail: Detail,
) -> io::Result<()> {
    let differing: Vec<&FileDiff> = diffs.iter().filter(|d| d.differs()).collect();
    for d in &differing {
        match detail {
            Detail::Stat => print_stat(out, d, color)?,
            Detail::Hunks => print_hunks(out, d, color)?,
        }
    }
    for path in stale {
        writeln!(
            out,
            "{}",
            paint(color, "33", &format!("stale: {path} is no longer rendered"))
        )?;
    }
    if differing.is_empty() && stale.is_empty() {
        writeln!(out, "no differences in {} files", diffs.len())?;
        return Ok(());
    }
    print_summary(out, diffs, &differing, stale.len())
}

/// `--stat`: the file, its lines added and removed with a bar, and what else changed.
fn print_stat(out: &mut impl io::Write, d: &FileDiff, color: Paint) -> io::Result<()> {
    let what = match (&d.change, d.mode_was, &d.owner_was) {
        (Change::New { .. }, ..) => " (new)".to_owned(),
        (Change::Unchanged, Some(was), _) => format!(" (mode {was} -> {})", d.meta.mode),
        (Change::Unchanged, None, Some(was)) => {
            format!(" (owner {was} -> {}:{})", d.meta.owner, d.meta.group)
        }
        _ => String::new(),
    };
    let bar = format!(
        "{}{}",
        "+".repeat(d.added.min(40)),
        "-".repeat(d.removed.min(40))
    );
    writeln!(
        out,
        " {}{} | +{} -{} {}{what}",
        d.host,
        d.path,
        d.added,
        d.removed,
        paint(color, "1", &bar)
    )
}

/// A file's mode and owner changes, then its unified diff.
fn print_hunks(out: &mut impl io::Write, d: &FileDiff, color: Paint) -> io::Result<()> {
    if let Some(was) = d.mode_was {
        writeln!(
            out,
            "{}",
            paint(
                color,
                "1",
                &format!("mode {}{}: {was} -> {}", d.host, d.path, d.meta.mode)
            )
        )?;
    }
    if let Some(was) = &d.owner_was {
        let line = format!(
            "owner {}{}: {was} -> {}:{}",
            d.host, d.path, d.meta.owner, d.meta.group
        );
        writeln!(out, "{}", paint(color, "1", &line))?;
    }
    let unified = match &d.change {
        Change::Unchanged => return Ok(()),
        Change::Modified { unified } | Change::New { unified } => unified,
    };
    for line in unified.split_inclusive('\n') {
        let code = hunk_color(line);
        let text = line.trim_end_matches('\n');
        if code.is_empty() {
            writeln!(out, "{text}")?;
        } else {
            writeln!(out, "{}", paint(color, code, text))?;
        }
    }
    Ok(())
}

/// The SGR code of a unified diff's line: headers bold, additions green, removals red, hunk
/// headers cyan, context none.
fn hunk_color(line: &str) -> &'static str {
    if line.starts_with("+++") || line.starts_with("---") {
        "1"
    } else if line.starts_with('+') {
        "32"
    } else if line.starts_with('-') {
        "31"
    } else if line.starts_with("@@") {
        "36"
    } else {
        ""
    }
}

/// How many files differ on how many hosts, and what each host needs.
fn print_summary(
    out: &mut impl io::Write,
    diffs: &[FileDiff],
    differing: &[&FileDiff],
    stale: usize,
) -> io::Result<()> {
    let hosts = {
        let mut names: Vec<&str> = differing.iter().map(|d| d.host.as_str()).collect();
        names.dedup();
        names.len()
    };
    writeln!(
        out,
        "\n{} of {} files differ on {hosts} host{}{}:",
        differing.len(),
        diffs.len(),
        if hosts == 1 { "" } else { "s" },
        match stale {
            0 => String::new(),
            1 => ", 1 file is stale".to_owned(),
            n => format!(", {n} files are stale"),
        }
    )?;
    for action in actions(diffs) {
        print_action(out, &action)?;
    }
    Ok(())
}

/// `  HOST: what to run (the files; the settings that call for it)`.
fn print_action(out: &mut impl io::Write, action: &HostAction) -> io::Result<()> {
    let what = match (action.action, action.service) {
        (OnChange::Nothing, _) => "nothing to reload".to_owned(),
        (OnChange::Apply, _) => format!("apply: {}", action.commands.join("; ")),
        (OnChange::Reload, Service::Nginx) => "nginx -t, then nginx reload".to_owned(),
        (OnChange::Reload, service) => format!("{service} reload"),
        (OnChange::Restart, service) => format!("{service} restart"),
    };
    let mut why = vec![action.files.join(", ")];
    if !action.restart.is_empty() {
        why.push(format!("restart for {}", action.restart.join(", ")));
    }
    if !action.reload.is_empty() {
        why.push(format!("reload for {}", action.reload.join(", ")));
    }
    writeln!(out, "  {}: {what} ({})", action.host, why.join("; "))
}
