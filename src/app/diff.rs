//! `diff`: the rendered files against the live ones, files the spec no longer produces, and what
//! each host needs after a deploy.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::exit::Outcome;
use super::options::{Detail, DiffOptions, Paint, SecretPolicy};
use super::{Failure, load_spec, rendered};
use crate::diff::{Change, FileDiff, HostAction, LiveFile, actions, diff};
use crate::live::{self, Finding, Severity};
use crate::plan::{Mode, OnChange, Service};

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

pub(super) fn diff_command(args: &DiffOptions) -> Result<Outcome, Failure> {
    let (_, loaded) = load_spec(&args.spec)?;
    let tree = rendered(&loaded, &args.selection, SecretPolicy::Placeholders)?;
    let failure = std::sync::Mutex::new(None);
    let owners = args.live.has_real_owners();
    // The look at files beside ours (stale, or changing what ours mean) needs only the tree: it
    // runs beside the comparison.
    let (diffs, survey) = std::thread::scope(|scope| {
        let survey = scope.spawn(|| {
            live::survey(
                &tree,
                &live::OnDisk(|host: &str, path: &str| args.live.path_on(host, path)),
            )
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
            survey
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        )
    });
    let stale = survey.stale;
    if let Some(failure) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(failure);
    }
    let mut out = io::stdout().lock();
    print_diffs(&mut out, &diffs, &stale, args.paint, args.detail).map_err(Failure::Output)?;
    print_findings(&mut out, &survey.findings, args.paint).map_err(Failure::Output)?;
    let required = survey
        .findings
        .iter()
        .any(|f| f.severity == Severity::Required);
    Ok(
        if diffs.iter().any(FileDiff::differs) || !stale.is_empty() || required {
            Outcome::Differs
        } else {
            Outcome::Done
        },
    )
}

/// Files sitewright does not manage that change what its files mean, as a block of their own:
/// `warning:` for an effect to know of, `required:` for what must be done before the service
/// runs as the spec says (which makes the exit 1).
fn print_findings(out: &mut impl io::Write, findings: &[Finding], color: Paint) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    for finding in findings {
        let (label, code) = match finding.severity {
            Severity::Warning => ("warning", "33"),
            Severity::Required => ("required", "1;31"),
        };
        let line = format!(
            "{label}: {}{}: {}",
            finding.host, finding.path, finding.effect
        );
        writeln!(out, "{}", paint(color, code, &line))?;
    }
    Ok(())
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
