//! The diff stage: rendered files against the live ones, as unified diffs, with secrets masked on
//! both sides. Pure: the caller reads the live files and prints the result.

use similar::TextDiff;

use crate::plan::{FileMeta, Mode, OnChange, Service};
use crate::render::{RenderedFile, Tree};
use crate::spec::HostName;

/// A live file as read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveFile {
    pub(crate) content: String,
    pub(crate) mode: Option<Mode>,
    /// `user:group`, where the live side has real owners (a host's own filesystem).
    pub(crate) owner: Option<String>,
}

/// How one rendered file compares with its live counterpart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Unchanged,
    /// The live file differs; the unified diff shows how.
    Modified {
        unified: String,
    },
    /// There is no live file; the unified diff adds every line.
    New {
        unified: String,
    },
}

/// The comparison of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileDiff {
    pub(crate) host: HostName,
    pub(crate) path: String,
    pub(crate) meta: FileMeta,
    pub(crate) change: Change,
    /// The live mode when it differs from the rendered one.
    pub(crate) mode_was: Option<Mode>,
    /// The live `user:group` when it differs from the rendered one.
    pub(crate) owner_was: Option<String>,
    /// Lines added and removed.
    pub(crate) added: usize,
    pub(crate) removed: usize,
    /// What the change needs before it takes effect.
    pub(crate) action: OnChange,
    /// For a postgresql.conf: the settings that changed, each with whether it needs a restart.
    pub(crate) settings: Vec<(String, bool)>,
}

impl FileDiff {
    pub(crate) fn differs(&self) -> bool {
        self.change != Change::Unchanged || self.mode_was.is_some() || self.owner_was.is_some()
    }
}

/// Compares every file of `tree` with what `live` finds for it, a share of the files per core.
pub(crate) fn diff(
    tree: &Tree,
    live: impl Fn(&RenderedFile) -> Option<LiveFile> + Sync,
) -> Vec<FileDiff> {
    crate::parallel::map(&tree.files, |file| {
        let found = live(file);
        let owner = format!("{}:{}", file.meta.owner, file.meta.group);
        let owner_was = found
            .as_ref()
            .and_then(|f| f.owner.clone())
            .filter(|o| *o != owner);
        let rendered = file.shown();
        let label = format!("{}{}", file.host, file.path);
        // The live text as shown (secrets masked), kept for the settings comparison below.
        let (change, mode_was, current) = match found {
            None => (
                Change::New {
                    unified: unified("", &rendered, "/dev/null", &format!("b/{label}")),
                },
                None,
                None,
            ),
            Some(live) => {
                let current = file.meta.mask.apply(&live.content);
                let change = if current == rendered {
                    Change::Unchanged
                } else {
                    Change::Modified {
                        unified: unified(
                            &current,
                            &rendered,
                            &format!("a/{label}"),
                            &format!("b/{label}"),
                        ),
                    }
                };
                let mode_was = live.mode.filter(|m| *m != file.meta.mode);
                (change, mode_was, Some(current))
            }
        };
        let settings = match (&file.meta.conf, &change, &current) {
            (Some(conf), Change::Modified { .. }, Some(live)) => conf.changed_from(live),
            _ => Vec::new(),
        };
        let action = match (&change, &file.meta.conf) {
            (Change::Unchanged, _) => OnChange::Nothing,
            (Change::Modified { .. }, Some(_)) if settings.iter().any(|(_, r)| *r) => {
                OnChange::Restart
            }
            (Change::Modified { .. }, Some(_)) if settings.is_empty() => OnChange::Nothing,
            (Change::Modified { .. }, Some(_)) => OnChange::Reload,
            _ => file.meta.on_change,
        };
        let (added, removed) = match &change {
            Change::Unchanged => (0, 0),
            Change::Modified { unified } | Change::New { unified } => count_lines(unified),
        };
        FileDiff {
            host: file.host.clone(),
            path: file.path.clone(),
            meta: file.meta.clone(),
            change,
            mode_was,
            owner_was,
            added,
            removed,
            action,
            settings,
        }
    })
}

/// Lines added and removed in a unified diff, its headers aside.
fn count_lines(unified: &str) -> (usize, usize) {
    let body = unified
        .lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"));
    body.fold((0, 0), |(a, r), l| match l.as_bytes().first() {
        Some(b'+') => (a + 1, r),
        Some(b'-') => (a, r + 1),
        _ => (a, r),
    })
}

fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .missing_newline_hint(true)
        .to_string()
}

/// What one host needs after a deploy: the strongest action per service, with the files behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostAction {
    pub(crate) host: HostName,
    pub(crate) service: Service,
    pub(crate) action: OnChange,
    pub(crate) files: Vec<String>,
    /// Changed PostgreSQL settings that need a restart, and those a reload is enough for.
    pub(crate) restart: Vec<String>,
    pub(crate) reload: Vec<String>,
    /// The commands that apply the files no service reloads.
    pub(crate) commands: Vec<String>,
}

/// The actions that the differing files call for, host by host in tree order.
pub(crate) fn actions(diffs: &[FileDiff]) -> Vec<HostAction> {
    let mut out: Vec<HostAction> = Vec::new();
    for d in diffs.iter().filter(|d| d.differs()) {
        let index = match out
            .iter()
            .position(|a| a.host == d.host && a.service == d.meta.service)
        {
            Some(index) => index,
            None => {
                out.push(HostAction {
                    host: d.host.clone(),
                    service: d.meta.service,
                    action: OnChange::Nothing,
                    files: Vec::new(),
                    restart: Vec::new(),
                    reload: Vec::new(),
                    commands: Vec::new(),
                });
                out.len() - 1
            }
        };
        let action = &mut out[index];
        action.action = action.action.max(d.action);
        action.files.push(d.path.clone());
        if let Some(command) = &d.meta.apply {
            action.commands.push(command.clone());
        }
        for (name, restart) in &d.settings {
            if *restart {
                &mut action.restart
            } else {
                &mut action.reload
            }
            .push(name.clone());
        }
    }
    out
}
