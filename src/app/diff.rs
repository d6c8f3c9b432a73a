//! `diff`: the rendered files against the live ones, files the spec no longer produces, and what
//! each host needs after a deploy.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::exit::Outcome;
use super::options::{Detail, DiffOptions, FetchOptions, LiveTree, Paint, Running, SecretPolicy};
use super::remote::{self, Ssh};
use super::{Failure, load_spec, rendered};
use crate::diff::{Change, FileDiff, HostSteps, LiveFile, RenderedSecrets, diff, steps};
use crate::live::{self, Finding, LiveFiles, Severity};
use crate::plan::{Mode, WrittenSecret};
use crate::render::Tree;
use crate::running;
use crate::secrets::{Fingerprint, Fingerprints};

/// Live files on disk, each host's path found by the caller's function (a fetched tree's
/// `DIR/<host>/<path>`, or a host's own root).
struct OnDisk<F>(F);

impl<F: Fn(&str, &str) -> PathBuf> LiveFiles for OnDisk<F> {
    fn read(&self, host: &str, path: &str) -> Option<String> {
        let bytes = fs::read((self.0)(host, path)).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn exists(&self, host: &str, path: &str) -> bool {
        fs::symlink_metadata((self.0)(host, path)).is_ok()
    }

    fn list(&self, host: &str, dir: &str) -> Vec<String> {
        let Ok(entries) = fs::read_dir((self.0)(host, dir)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| !e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

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

/// Each secret the tree's files hold, as a keyed hash under `keys` of what the file holds for it
/// (the value, or what a program stores in its place), or why it could not be read. The values
/// are dropped as soon as they are hashed.
fn fingerprints(
    tree: &Tree,
    keys: &Fingerprints,
) -> HashMap<WrittenSecret, Result<Fingerprint, String>> {
    let mut out = HashMap::new();
    for written in tree.files.iter().flat_map(|f| &f.meta.secrets) {
        out.entry(written.clone()).or_insert_with(|| {
            crate::secrets::read(&written.secret)
                .map(|value| keys.of(&written.write(&value)))
                .map_err(|e| e.reason)
        });
    }
    out
}

/// The rendered files of each host, in the tree's order.
fn by_host(tree: &Tree) -> BTreeMap<&str, Vec<&crate::render::RenderedFile>> {
    let mut hosts: BTreeMap<&str, Vec<&crate::render::RenderedFile>> = BTreeMap::new();
    for file in &tree.files {
        hosts.entry(file.host.as_str()).or_default().push(file);
    }
    hosts
}

/// Each host's rendered paths and its manifest: what a snapshot of the live hosts reads first.
fn first_round(tree: &Tree) -> BTreeMap<String, BTreeSet<String>> {
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &tree.files {
        let paths = wanted.entry(file.host.as_str().to_owned()).or_default();
        paths.insert(file.path.clone());
        paths.insert(crate::manifest::HOST_MANIFEST.to_owned());
    }
    wanted
}

/// An inventory names only hosts of the spec: a misspelt name would leave its host reached by
/// its default destination.
fn known_hosts(ssh: &Ssh, loaded: &crate::load::Loaded) -> Result<(), Failure> {
    let known: Vec<&str> = loaded.site.hosts.iter().map(|h| h.name.as_str()).collect();
    match ssh.inventory.unknown(&known).first() {
        Some(name) => Err(Failure::Usage(format!(
            "the inventory names host `{name}`, which the spec does not have (its hosts: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// The live hosts read over ssh: the rendered files, and what a look at the tree asks beyond
/// them. Each host that could not be read, and each file there that could not be, is said on
/// stderr and left out of `tree`; how many, for the exit code.
/// How many hosts, and files of the hosts that were read, could not be read.
#[derive(Debug, Default, Clone, Copy)]
struct Unreached {
    hosts: usize,
    files: usize,
}

impl Unreached {
    fn any(self) -> bool {
        self.hosts + self.files > 0
    }
}

impl std::fmt::Display for Unreached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        match (self.hosts, self.files) {
            (h, 0) => f.write_str(&count(h, "host")),
            (0, n) => f.write_str(&count(n, "file")),
            (h, n) => write!(f, "{} and {}", count(h, "host"), count(n, "file")),
        }
    }
}

fn snapshot_hosts(ssh: &Ssh, tree: &mut Tree, running: Running) -> (remote::Snapshot, Unreached) {
    let probes: BTreeMap<String, running::Probe> = match running {
        Running::FilesOnly => BTreeMap::new(),
        Running::AlsoPrograms => by_host(tree)
            .into_iter()
            .filter(|(host, _)| !ssh.has_root(host))
            .filter_map(|(host, files)| running::probe(&files).map(|p| (host.to_owned(), p)))
            .collect(),
    };
    let snapshot = remote::snapshot(
        ssh,
        first_round(tree),
        |live| {
            let _ = live::survey(tree, live);
        },
        &probes,
    );
    let mut failed = Unreached::default();
    for (host, reason) in snapshot.failures() {
        failed.hosts += 1;
        eprintln!("sitewright: {host}: not compared: {reason}");
    }
    tree.files.retain(|f| snapshot.reached(f.host.as_str()));
    // A file that is there and could not be read is not compared: said, never taken for the same.
    // Those that hold secrets are said with the secrets, as for a live tree on disk.
    tree.files
        .retain(|f| match snapshot.file(f.host.as_str(), &f.path) {
            Err(reason) if f.meta.secrets.is_empty() => {
                failed.files += 1;
                eprintln!("sitewright: {}{}: not compared: {reason}", f.host, f.path);
                false
            }
            _ => true,
        });
    (snapshot, failed)
}

/// `fetch`: each host's managed files, and the files beside them that bear on them, copied into
/// `DIR/<host>/<path>` for `diff --live`.
pub(super) fn fetch_command(args: &FetchOptions) -> Result<Outcome, Failure> {
    let (_, loaded) = load_spec(&args.spec)?;
    let mut tree = rendered(&loaded, &args.selection, SecretPolicy::Placeholders)?;
    known_hosts(&args.ssh, &loaded)?;
    let (snapshot, failed) = snapshot_hosts(&args.ssh, &mut tree, Running::FilesOnly);
    let mut written = 0;
    for (host, path, bytes, mode) in snapshot.files() {
        let to = args.out.join(host).join(path.trim_start_matches('/'));
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| Failure::Read(parent.to_owned(), e))?;
        }
        fs::write(&to, bytes).map_err(|e| Failure::Read(to.clone(), e))?;
        fs::set_permissions(&to, fs::Permissions::from_mode(mode & 0o777))
            .map_err(|e| Failure::Read(to.clone(), e))?;
        written += 1;
    }
    outln!(
        "fetched {written} files from {} hosts into {}",
        tree.files
            .iter()
            .map(|f| f.host.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        args.out.display()
    )?;
    Ok(if failed.any() {
        Outcome::Incomplete
    } else {
        Outcome::Done
    })
}

/// `found` with each of `redact` masked in its content, so that a secret a live file holds is
/// never shown.
fn masked<E>(found: Result<Option<LiveFile>, E>, redact: &[String]) -> Result<Option<LiveFile>, E> {
    found.map(|file| {
        file.map(|mut file| {
            for secret in redact.iter().filter(|s| !s.is_empty()) {
                file.content = file.content.replace(secret.as_str(), "********");
            }
            file
        })
    })
}

pub(super) fn diff_command(args: &DiffOptions) -> Result<Outcome, Failure> {
    let (_, loaded) = load_spec(&args.spec)?;
    // The tree shown is the one without secrets; their values are compared apart, by hash.
    let mut tree = rendered(&loaded, &args.selection, SecretPolicy::Placeholders)?;
    let remote = match &args.live {
        LiveTree::Ssh(ssh) => {
            known_hosts(ssh, &loaded)?;
            Some(snapshot_hosts(ssh, &mut tree, args.running))
        }
        _ => None,
    };
    let keys = Fingerprints::new();
    let values = match args.secrets {
        SecretPolicy::Resolve => Some(fingerprints(&tree, &keys)),
        SecretPolicy::Placeholders => None,
    };
    let secrets = match &values {
        Some(values) => RenderedSecrets::Read {
            keys: &keys,
            values,
        },
        None => RenderedSecrets::NotRead,
    };
    let failure = std::sync::Mutex::new(None);
    let owners = args.live.has_real_owners();
    // The look at files beside ours (stale, or changing what ours mean) needs only the tree: it
    // runs beside the comparison.
    let (diffs, survey) = std::thread::scope(|scope| {
        let survey = scope.spawn(|| match &remote {
            Some((snapshot, _)) => live::survey(&tree, snapshot),
            None => live::survey(
                &tree,
                &OnDisk(|host: &str, path: &str| args.live.path_on(host, path)),
            ),
        });
        let diffs = diff(
            &tree,
            |file| {
                masked(
                    match &remote {
                        Some((snapshot, _)) => snapshot.file(file.host.as_str(), &file.path),
                        None => match read_live(&args.live.path_of(file), owners) {
                            Ok(found) => Ok(found),
                            // A live file that holds a secret is often readable by its owner alone: said
                            // beside the other files, not a reason to show none of them.
                            Err(Failure::Read(_, e)) if !file.meta.secrets.is_empty() => {
                                Err(e.to_string())
                            }
                            Err(f) => {
                                let mut failure = failure
                                    .lock()
                                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                                failure.get_or_insert(f);
                                Ok(None)
                            }
                        },
                    },
                    &args.redact,
                )
            },
            secrets,
        );
        (
            diffs,
            survey
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        )
    });
    let stale = survey.stale;
    let mut findings = survey.findings;
    let mut unasked = 0;
    if let (Some((snapshot, _)), LiveTree::Ssh(ssh), Running::AlsoPrograms) =
        (&remote, &args.live, args.running)
    {
        for (host, files) in by_host(&tree) {
            if ssh.has_root(host) {
                eprintln!(
                    "sitewright: {host}: what runs is not asked: its files are under `root:`, not the running system's"
                );
                continue;
            }
            match snapshot.answers(host) {
                Some(Ok(answers)) => match running::findings(host, &files, answers, |path| {
                    snapshot.mtime(host, path)
                }) {
                    Ok(found) => findings.extend(found),
                    Err(reason) => {
                        unasked += 1;
                        eprintln!("sitewright: {host}: what runs was not compared: {reason}");
                    }
                },
                Some(Err(reason)) => {
                    unasked += 1;
                    eprintln!("sitewright: {host}: what runs was not compared: {reason}");
                }
                None => {}
            }
        }
    }
    if let Some(failure) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(failure);
    }
    let mut out = io::stdout().lock();
    let required: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Required)
        .collect();
    let shown = Shown {
        stale: &stale,
        required: &required,
    };
    print_diffs(&mut out, &diffs, &shown, args.paint, args.detail).map_err(Failure::Output)?;
    print_findings(&mut out, &findings, args.paint).map_err(Failure::Output)?;
    let required = !required.is_empty();
    let unread = diffs
        .iter()
        .map(|d| d.secrets.unreadable.len())
        .sum::<usize>();
    let mut unreached = remote.as_ref().map_or(Unreached::default(), |(_, u)| *u);
    unreached.hosts += unasked;
    Ok(if unreached.any() {
        eprintln!("sitewright: the comparison is incomplete: {unreached} could not be read");
        Outcome::Incomplete
    } else if unread > 0 {
        eprintln!(
            "sitewright: the comparison is incomplete: {unread} secret{} could not be compared",
            if unread == 1 { "" } else { "s" }
        );
        Outcome::Incomplete
    } else if diffs.iter().any(FileDiff::differs) || !stale.is_empty() || required {
        Outcome::Differs
    } else {
        Outcome::Done
    })
}

/// Files sitewright does not manage that change what its files mean, as a block of their own:
/// `note:` for what a file holds that bears on ours (an included file), `warning:` for an effect
/// to know of, `required:` for what must be done before the service
/// runs as the spec says (which makes the exit 1).
fn print_findings(out: &mut impl io::Write, findings: &[Finding], color: Paint) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    for finding in findings {
        let (label, code) = match finding.severity {
            Severity::Note => ("note", "36"),
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

/// Each differing file, the stale ones, the secrets not compared, then what each host needs.
/// What the live tree holds beside the rendered files that the summary names too: the stale files
/// (`<host><path>`) and the unmanaged files that must be dealt with.
struct Shown<'a> {
    stale: &'a [String],
    required: &'a [&'a Finding],
}

fn print_diffs(
    out: &mut impl io::Write,
    diffs: &[FileDiff],
    shown: &Shown,
    color: Paint,
    detail: Detail,
) -> io::Result<()> {
    let stale = shown.stale;
    let differing: Vec<&FileDiff> = diffs.iter().filter(|d| d.differs()).collect();
    let columns = Columns::of(&differing);
    for d in &differing {
        match detail {
            Detail::Stat => print_stat(out, d, color, &columns)?,
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
    let unread = print_not_compared(out, diffs, color)?;
    // A file that must be dealt with first is a step of its host's, differences or not.
    if differing.is_empty() && stale.is_empty() && shown.required.is_empty() {
        return match unread {
            0 => writeln!(out, "no differences in {} files", diffs.len()),
            n => writeln!(
                out,
                "no other differences in {} files; {}",
                diffs.len(),
                not_compared(n)
            ),
        };
    }
    print_summary(out, diffs, &differing, shown, unread)
}

fn not_compared(n: usize) -> String {
    match n {
        1 => "1 secret could not be compared".to_owned(),
        n => format!("{n} secrets could not be compared"),
    }
}

/// Says which secrets were not compared and why; returns how many could not be read.
fn print_not_compared(
    out: &mut impl io::Write,
    diffs: &[FileDiff],
    color: Paint,
) -> io::Result<usize> {
    let mut unread = 0;
    for d in diffs {
        for (secret, reason) in &d.secrets.unreadable {
            unread += 1;
            let line = format!(
                "secret not compared in {}{}: {secret}: {reason}",
                d.host, d.path
            );
            writeln!(out, "{}", paint(color, "33", &line))?;
        }
    }
    let not_read: Vec<String> = diffs
        .iter()
        .flat_map(|d| {
            let file = format!("{}{}", d.host, d.path);
            d.secrets
                .not_read
                .iter()
                .map(move |s| format!("{s} in {file}"))
        })
        .collect();
    if !not_read.is_empty() {
        let line = format!(
            "secrets not compared (diff reads them only with --with-secrets): {}",
            not_read.join(", ")
        );
        writeln!(out, "{}", paint(color, "33", &line))?;
    }
    Ok(unread)
}

/// The widths of `--stat`'s columns: every path padded to the longest, the counts right-aligned.
struct Columns {
    path: usize,
    added: usize,
    removed: usize,
}

impl Columns {
    fn of(differing: &[&FileDiff]) -> Self {
        let width = |f: &dyn Fn(&FileDiff) -> usize| differing.iter().map(|d| f(d)).max();
        Self {
            path: width(&|d| d.host.as_str().len() + d.path.len()).unwrap_or(0),
            added: width(&|d| d.added.to_string().len() + 1).unwrap_or(0),
            removed: width(&|d| d.removed.to_string().len() + 1).unwrap_or(0),
        }
    }
}

/// `--stat`: the file, its lines added and removed with a bar, and what else changed.
fn print_stat(
    out: &mut impl io::Write,
    d: &FileDiff,
    color: Paint,
    columns: &Columns,
) -> io::Result<()> {
    let mut what = match (&d.change, d.mode_was, &d.owner_was) {
        (Change::New { .. }, ..) => " (new)".to_owned(),
        (Change::Unchanged, Some(was), _) => format!(" (mode {was} -> {})", d.meta.mode),
        (Change::Unchanged, None, Some(was)) => {
            format!(" (owner {was} -> {}:{})", d.meta.owner, d.meta.group)
        }
        _ => String::new(),
    };
    for secret in &d.secrets.changed {
        what.push_str(&format!(" (secret changed: {secret})"));
    }
    let bar = format!(
        "{}{}",
        "+".repeat(d.added.min(40)),
        "-".repeat(d.removed.min(40))
    );
    writeln!(
        out,
        " {:<path$} | {:>added$} {:>removed$} {}{what}",
        format!("{}{}", d.host, d.path),
        format!("+{}", d.added),
        format!("-{}", d.removed),
        paint(color, "1", &bar),
        path = columns.path,
        added = columns.added,
        removed = columns.removed,
    )
}

/// A file's mode and owner changes, its unified diff, then its changed secrets, named by
/// where they come from (never by value).
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
    let headers;
    let unified = match &d.change {
        // The masked text is the same: the headers alone name the file the secret is in.
        Change::Unchanged if !d.secrets.changed.is_empty() => {
            headers = format!("--- a/{0}{1}\n+++ b/{0}{1}\n", d.host, d.path);
            &headers
        }
        Change::Unchanged => return Ok(()),
        Change::Modified { unified } | Change::New { unified } => unified,
    };
    let mut in_hunk = false;
    for line in unified.split_inclusive('\n') {
        in_hunk |= line.starts_with("@@");
        let code = hunk_color(line, in_hunk);
        let text = line.trim_end_matches('\n');
        if code.is_empty() {
            writeln!(out, "{text}")?;
        } else {
            writeln!(out, "{}", paint(color, code, text))?;
        }
    }
    for secret in &d.secrets.changed {
        writeln!(
            out,
            "{}",
            paint(color, "1", &format!("secret changed: {secret}"))
        )?;
    }
    Ok(())
}

/// The SGR code of a unified diff's line: headers bold, additions green, removals red, hunk
/// headers cyan, context none. Headers come before the first hunk only: within one, `--- x` is
/// a removed `-- x`.
fn hunk_color(line: &str, in_hunk: bool) -> &'static str {
    if !in_hunk && (line.starts_with("+++") || line.starts_with("---")) {
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

/// How many files differ on how many hosts, then each host's steps in the order to run them.
fn print_summary(
    out: &mut impl io::Write,
    diffs: &[FileDiff],
    differing: &[&FileDiff],
    shown: &Shown,
    unread: usize,
) -> io::Result<()> {
    let stale = shown.stale.len();
    let hosts = {
        let mut names: Vec<&str> = differing.iter().map(|d| d.host.as_str()).collect();
        names.dedup();
        names.len()
    };
    let secrets: usize = differing.iter().map(|d| d.secrets.changed.len()).sum();
    let mut also = Vec::new();
    match secrets {
        0 => {}
        1 => also.push("1 secret changed".to_owned()),
        n => also.push(format!("{n} secrets changed")),
    }
    match stale {
        0 => {}
        1 => also.push("1 file is stale".to_owned()),
        n => also.push(format!("{n} files are stale")),
    }
    if unread > 0 {
        also.push(not_compared(unread));
    }
    writeln!(
        out,
        "\n{} of {} files differ on {hosts} host{}{}:",
        differing.len(),
        diffs.len(),
        if hosts == 1 { "" } else { "s" },
        also.iter().map(|a| format!(", {a}")).collect::<String>(),
    )?;
    let mut hosts = steps(diffs);
    // A host whose only news is a stale or blocking file gets its entry too, in the tree's order.
    for d in diffs {
        let name = d.host.as_str();
        let named = |at: &str| at.strip_prefix(name).is_some_and(|p| p.starts_with('/'));
        let listed = hosts.iter().any(|h| h.host.as_str() == name);
        if !listed
            && (shown.stale.iter().any(|s| named(s))
                || shown.required.iter().any(|f| f.host == name))
        {
            hosts.push(HostSteps {
                host: d.host.clone(),
                steps: Vec::new(),
                idle: Vec::new(),
            });
        }
    }
    for host in hosts {
        print_host(out, &host, shown)?;
    }
    Ok(())
}

/// ```text
///   HOST:
///     1. COMMAND
///        for FILE (restart for SETTING; reload for SETTING), FILE
///     nothing to run for FILE (why)
/// ```
fn print_host(out: &mut impl io::Write, host: &HostSteps, shown: &Shown) -> io::Result<()> {
    writeln!(out, "  {}:", host.host)?;
    let name = host.host.as_str();
    let mut said = BTreeSet::new();
    for finding in shown.required.iter().filter(|f| f.host == name) {
        // A file with several findings is one thing to deal with.
        if said.insert(finding.path.as_str()) {
            writeln!(
                out,
                "    first: deal with {} (see required: below)",
                finding.path
            )?;
        }
    }
    for (number, step) in host.steps.iter().enumerate() {
        let files: Vec<String> = step
            .files
            .iter()
            .map(|f| {
                let mut why = Vec::new();
                if !f.restart.is_empty() {
                    why.push(format!("restart for {}", f.restart.join(", ")));
                }
                if !f.reload.is_empty() {
                    why.push(format!("reload for {}", f.reload.join(", ")));
                }
                match why.is_empty() {
                    true => f.path.clone(),
                    false => format!("{} ({})", f.path, why.join("; ")),
                }
            })
            .collect();
        writeln!(out, "    {}. {}", number + 1, step.command)?;
        writeln!(out, "       for {}", files.join(", "))?;
    }
    for (path, why) in &host.idle {
        writeln!(out, "    nothing to run for {path} ({why})")?;
    }
    for path in shown.stale.iter().filter_map(|s| s.strip_prefix(name)) {
        if path.starts_with('/') {
            writeln!(
                out,
                "    remove {path} (an earlier render wrote it; the spec no longer does)"
            )?;
        }
    }
    Ok(())
}
