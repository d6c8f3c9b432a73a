//! `diff`: the rendered files against the live ones, and what each host needs after a deploy.

use std::fs;
use std::io::{self, IsTerminal};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Failure, SecretPolicy, load_spec, rendered};
use crate::cli::{ColorWhen, DiffArgs};
use crate::diff::{Change, FileDiff, LiveFile, actions, diff};
use crate::plan::{Mode, OnChange};
use crate::write::destination;

fn read_live(path: &Path) -> Result<Option<LiveFile>, Failure> {
    match fs::read(path) {
        Ok(bytes) => {
            let mode = fs::metadata(path)
                .map(|m| Mode(m.permissions().mode() & 0o7777))
                .ok();
            Ok(Some(LiveFile {
                content: String::from_utf8_lossy(&bytes).into_owned(),
                mode,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Read(path.to_owned(), e)),
    }
}

pub(super) fn diff_command(args: &DiffArgs) -> Result<u8, Failure> {
    if args.live_root.is_some() && args.selection.hosts.len() != 1 {
        return Err(Failure::Usage(
            "--live-root compares one host: name it with --host NAME".to_owned(),
        ));
    }
    let (_, loaded) = load_spec(&args.spec)?;
    let tree = rendered(&loaded, &args.selection, SecretPolicy::Placeholders)?;
    let mut failure = None;
    let diffs = diff(&tree, |file| {
        let path = match (&args.live, &args.live_root) {
            (Some(dir), _) => destination(dir, file),
            (None, Some(root)) => root.join(file.path.trim_start_matches('/')),
            (None, None) => unreachable!("clap requires --live or --live-root"),
        };
        read_live(&path).unwrap_or_else(|f| {
            failure.get_or_insert(f);
            None
        })
    });
    if let Some(failure) = failure {
        return Err(failure);
    }
    let color = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
        }
    };
    let mut out = io::stdout().lock();
    print_diffs(&mut out, &diffs, color).map_err(Failure::Output)?;
    Ok(u8::from(diffs.iter().any(FileDiff::differs)))
}

fn paint(color: bool, code: &str, line: &str) -> String {
    if color {
        format!("\x1b[{code}m{line}\x1b[0m")
    } else {
        line.to_owned()
    }
}

fn print_diffs(out: &mut impl io::Write, diffs: &[FileDiff], color: bool) -> io::Result<()> {
    let differing: Vec<&FileDiff> = diffs.iter().filter(|d| d.differs()).collect();
    for d in &differing {
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
        let unified = match &d.change {
            Change::Unchanged => continue,
            Change::Modified { unified } | Change::New { unified } => unified,
        };
        for line in unified.split_inclusive('\n') {
            let code = if line.starts_with("+++") || line.starts_with("---") {
                "1"
            } else if line.starts_with('+') {
                "32"
            } else if line.starts_with('-') {
                "31"
            } else if line.starts_with("@@") {
                "36"
            } else {
                ""
            };
            let text = line.trim_end_matches('\n');
            if code.is_empty() {
                writeln!(out, "{text}")?;
            } else {
                writeln!(out, "{}", paint(color, code, text))?;
            }
        }
    }
    if differing.is_empty() {
        writeln!(out, "no differences in {} files", diffs.len())?;
        return Ok(());
    }
    let hosts = {
        let mut names: Vec<&str> = differing.iter().map(|d| d.host.as_str()).collect();
        names.dedup();
        names.len()
    };
    writeln!(
        out,
        "\n{} of {} files differ on {hosts} host{}:",
        differing.len(),
        diffs.len(),
        if hosts == 1 { "" } else { "s" }
    )?;
    for action in actions(diffs) {
        let what = match (action.action, action.service) {
            (OnChange::Nothing, _) => "nothing to reload".to_owned(),
            (OnChange::Apply, _) => format!("apply: {}", action.commands.join("; ")),
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
        writeln!(out, "  {}: {what} ({})", action.host, why.join("; "))?;
    }
    Ok(())
}
