//! The diff stage: rendered files against the live ones, as unified diffs, with secrets masked on
//! both sides and compared by keyed hash; then what each host needs, step by step. Pure: the
//! caller reads the live files and the secrets, and prints the result.

use std::collections::HashMap;

use similar::TextDiff;

use crate::plan::{FileMeta, Mask, Mode, OnChange, Service, WrittenSecret};
use crate::render::{RenderedFile, Tree};
use crate::secrets::{Fingerprint, Fingerprints};
use crate::spec::{HostName, SecretRef};

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
    /// How the secrets the file holds compare.
    pub(crate) secrets: SecretCheck,
}

impl FileDiff {
    pub(crate) fn differs(&self) -> bool {
        self.change != Change::Unchanged
            || self.mode_was.is_some()
            || self.owner_was.is_some()
            || !self.secrets.changed.is_empty()
    }
}

/// What this run knows of the rendered side's secrets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RenderedSecrets<'a> {
    /// diff was not asked to read them: they are not compared.
    NotRead,
    /// Each secret's keyed hash under `keys`, or why it could not be read.
    Read {
        keys: &'a Fingerprints,
        values: &'a HashMap<WrittenSecret, Result<Fingerprint, String>>,
    },
}

/// How the secrets of one file compare; every list empty for a file that holds none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SecretCheck {
    /// Secrets whose live value is not the one this run read.
    pub(crate) changed: Vec<SecretRef>,
    /// Secrets that could not be compared, each with the reason: its value or the live file
    /// could not be read.
    pub(crate) unreadable: Vec<(SecretRef, String)>,
    /// Secrets not compared because diff was not asked to read them.
    pub(crate) not_read: Vec<SecretRef>,
}

/// The live side's secrets in `file` against the rendered side's, by keyed hash: no value is kept.
fn compare_secrets(
    file: &RenderedFile,
    found: &Result<Option<LiveFile>, String>,
    secrets: RenderedSecrets<'_>,
) -> SecretCheck {
    let refs = &file.meta.secrets;
    let mut check = SecretCheck::default();
    let live = match found {
        Err(reason) => {
            let reason = format!("cannot read the live file: {reason}");
            check.unreadable = refs
                .iter()
                .map(|r| (r.secret.clone(), reason.clone()))
                .collect();
            return check;
        }
        Ok(live) => live,
    };
    let RenderedSecrets::Read { keys, values } = secrets else {
        check.not_read = refs.iter().map(|r| r.secret.clone()).collect();
        return check;
    };
    let live = live
        .as_ref()
        .map(|l| file.meta.mask.secrets(&l.content))
        .unwrap_or_default();
    for (index, secret) in refs.iter().enumerate() {
        match values.get(secret) {
            Some(Err(reason)) => check
                .unreadable
                .push((secret.secret.clone(), reason.clone())),
            Some(Ok(rendered)) if live.get(index).is_some_and(|v| keys.of(v) != *rendered) => {
                check.changed.push(secret.secret.clone());
            }
            // The same value; or a live file without this entry, whose text differs and whose
            // hunk shows it.
            _ => {}
        }
    }
    check
}

/// Compares every file of `tree` with what `live` finds for it, a share of the files per core.
/// `live` gives `Err` with the reason for a live file that could not be read; its text is then
/// taken as unchanged and its secrets as not compared.
pub(crate) fn diff(
    tree: &Tree,
    live: impl Fn(&RenderedFile) -> Result<Option<LiveFile>, String> + Sync,
    secrets: RenderedSecrets<'_>,
) -> Vec<FileDiff> {
    crate::parallel::map(&tree.files, |file| {
        let found = live(file);
        let secrets = compare_secrets(file, &found, secrets);
        let Ok(found) = found else {
            return FileDiff::unread(file, secrets);
        };
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
                    unified: new_file(&rendered, &label),
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
        let settings = match (&file.meta.conf, &file.meta.pgbouncer, &change, &current) {
            (Some(conf), _, Change::Modified { .. }, Some(live)) => conf.changed_from(live),
            (_, Some(written), Change::Modified { .. }, Some(live)) => {
                crate::plan::pgbouncer::changed_from(written, live)
            }
            _ => Vec::new(),
        };
        let by_setting = file.meta.conf.is_some() || file.meta.pgbouncer.is_some();
        let action = match (&change, by_setting) {
            // A changed secret is a change of the file, whose text the mask keeps the same.
            (Change::Unchanged, _) if !secrets.changed.is_empty() => file.meta.on_change,
            (Change::Unchanged, _) => OnChange::Nothing,
            (Change::Modified { .. }, true) if settings.iter().any(|(_, r)| *r) => {
                OnChange::Restart
            }
            (Change::Modified { .. }, true) if settings.is_empty() => OnChange::Nothing,
            (Change::Modified { .. }, true) => OnChange::Reload,
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
            secrets,
        }
    })
}

impl FileDiff {
    /// A file whose live side could not be read: nothing of it compared.
    fn unread(file: &RenderedFile, secrets: SecretCheck) -> Self {
        Self {
            host: file.host.clone(),
            path: file.path.clone(),
            meta: file.meta.clone(),
            change: Change::Unchanged,
            mode_was: None,
            owner_was: None,
            added: 0,
            removed: 0,
            action: OnChange::Nothing,
            settings: Vec::new(),
            secrets,
        }
    }
}

/// The diff of a file that is not on the host yet. An empty one (standby.signal) has no line to
/// add, and a unified diff of nothing is nothing: its headers alone say it is new.
fn new_file(rendered: &str, label: &str) -> String {
    let text = unified("", rendered, "/dev/null", &format!("b/{label}"));
    if text.is_empty() {
        format!("--- /dev/null\n+++ b/{label}\n")
    } else {
        text
    }
}

/// Lines added and removed in a unified diff, its headers aside. The headers are what comes
/// before the first hunk: a removed line that reads `-- comment` starts with `---` too.
fn count_lines(unified: &str) -> (usize, usize) {
    let body = unified.lines().skip_while(|l| !l.starts_with("@@"));
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

/// One thing to run on a host after a deploy, and the files that call for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    /// The command, as it is typed on the host.
    pub(crate) command: String,
    pub(crate) files: Vec<StepFile>,
}

/// A file behind a step, with the PostgreSQL settings in it whose change the step is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StepFile {
    pub(crate) path: String,
    pub(crate) restart: Vec<String>,
    pub(crate) reload: Vec<String>,
}

/// What one host needs after a deploy, in the order to do it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostSteps {
    pub(crate) host: HostName,
    pub(crate) steps: Vec<Step>,
    /// Files that differ but need nothing run, each with the reason.
    pub(crate) idle: Vec<(String, &'static str)>,
}

/// What a differing file needs, from its own meta and what changed in it.
enum Need {
    /// The service reloads or restarts.
    Service(Service, OnChange),
    /// A command of its own applies the file (sysctl, SQL).
    Apply(Service, String),
    /// Nothing to run, for this reason.
    Nothing(&'static str),
}

fn need(d: &FileDiff) -> Need {
    match d.action {
        OnChange::Nothing if d.change == Change::Unchanged && d.secrets.changed.is_empty() => {
            Need::Nothing("only its mode or owner changed")
        }
        OnChange::Nothing
            if (d.meta.conf.is_some() || d.meta.pgbouncer.is_some())
                && d.change != Change::Unchanged =>
        {
            Need::Nothing("no setting changed")
        }
        OnChange::Nothing if d.meta.mask == Mask::PassfilePassword => {
            Need::Nothing("read at the next connection")
        }
        OnChange::Nothing => Need::Nothing("read when it is next used"),
        OnChange::Apply => Need::Apply(
            d.meta.service,
            d.meta
                .apply
                .clone()
                .unwrap_or_else(|| format!("apply {}", d.path)),
        ),
        action => Need::Service(d.meta.service, action),
    }
}

/// Where a step stands on a host: kernel settings before the server that may depend on them, a
/// server's restart or reload before the SQL run against it, the database before the web server
/// and the application in front of it.
fn rank(need: &Need) -> (u8, u8) {
    let service = |s: &Service| match s {
        Service::Sysctl => 0,
        Service::Postgresql => 1,
        // Before Django, which connects through it.
        Service::Pgbouncer => 2,
        Service::Nginx => 3,
        Service::Django => 4,
    };
    match need {
        Need::Service(s, _) => (service(s), 0),
        Need::Apply(s, _) => (service(s), 1),
        Need::Nothing(_) => (u8::MAX, 0),
    }
}

/// The command that reloads or restarts `service`, under the unit names the Ansible export
/// uses by default; nginx checks its configuration first, so a broken file stops the reload.
fn service_command(service: Service, action: OnChange) -> String {
    let verb = if action == OnChange::Restart {
        "restart"
    } else {
        "reload"
    };
    match service {
        Service::Nginx => format!("nginx -t && systemctl {verb} nginx"),
        service => format!("systemctl {verb} {service}"),
    }
}

/// A step being gathered: what it runs, its place, and the files so far.
struct Pending {
    rank: (u8, u8),
    /// A service's reload or restart (the strongest its files need), or a command of a file's own.
    what: Result<(Service, OnChange), String>,
    files: Vec<StepFile>,
}

impl Pending {
    fn into_step(self) -> Step {
        Step {
            command: match self.what {
                Ok((service, action)) => service_command(service, action),
                Err(command) => command,
            },
            files: self.files,
        }
    }
}

/// The steps that the differing files call for, host by host in tree order: each file adds
/// itself to its own step, and a service's restart takes the place of its reload.
pub(crate) fn steps(diffs: &[FileDiff]) -> Vec<HostSteps> {
    let mut out: Vec<(HostSteps, Vec<Pending>)> = Vec::new();
    for d in diffs.iter().filter(|d| d.differs()) {
        if out.last().is_none_or(|(h, _)| h.host != d.host) {
            let host = HostSteps {
                host: d.host.clone(),
                steps: Vec::new(),
                idle: Vec::new(),
            };
            out.push((host, Vec::new()));
        }
        let Some((host, pending)) = out.last_mut() else {
            unreachable!("a host was pushed above");
        };
        let need = need(d);
        let rank = rank(&need);
        let what = match need {
            Need::Nothing(reason) => {
                host.idle.push((d.path.clone(), reason));
                continue;
            }
            Need::Apply(_, command) => Err(command),
            Need::Service(service, action) => Ok((service, action)),
        };
        let (restart, reload): (Vec<_>, Vec<_>) = d.settings.iter().partition(|(_, r)| *r);
        let names = |list: Vec<&(String, bool)>| list.into_iter().map(|(n, _)| n.clone()).collect();
        let file = StepFile {
            path: d.path.clone(),
            restart: names(restart),
            reload: names(reload),
        };
        let same = |p: &&mut Pending| match (&p.what, &what) {
            (Ok((a, _)), Ok((b, _))) => a == b,
            (Err(a), Err(b)) => a == b,
            _ => false,
        };
        match pending.iter_mut().find(same) {
            Some(step) => {
                if let (Ok((_, current)), Ok((_, action))) = (&mut step.what, &what) {
                    *current = (*current).max(*action);
                }
                step.files.push(file);
            }
            None => pending.push(Pending {
                rank,
                what,
                files: vec![file],
            }),
        }
    }
    out.into_iter()
        .map(|(mut host, mut pending)| {
            // A stable sort: steps of one rank keep the order of their first file.
            pending.sort_by_key(|p| p.rank);
            host.steps = pending.into_iter().map(Pending::into_step).collect();
            host
        })
        .collect()
}
