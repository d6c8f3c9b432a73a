//! What a live host holds beside the rendered files: the files an earlier render put there that
//! the spec no longer produces (stale, by the host's own manifest), and files sitewright does not
//! manage that change what its files mean (a later sysctl.d file, postgresql.auto.conf, the files
//! postgresql.conf includes, a leftover recovery.conf or standby.signal). Pure: the caller says
//! how to read the live tree.

use std::collections::{BTreeMap, BTreeSet};

use crate::manifest::{HOST_MANIFEST, listed};
use crate::render::{RenderedFile, Tree};

/// A host's live files, by absolute path on that host.
pub(crate) trait LiveFiles {
    /// The text of the regular file at `path` on `host`, when there is one.
    fn read(&self, host: &str, path: &str) -> Option<String>;
    /// Whether anything is at `path` on `host`.
    fn exists(&self, host: &str, path: &str) -> bool;
    /// The names of the files in the folder `dir` on `host`.
    fn list(&self, host: &str, dir: &str) -> Vec<String>;
}

/// How much a finding asks of the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    /// What a live file holds that bears on a rendered one, without changing what it means: a
    /// file postgresql.conf includes, and what it sets.
    Note,
    /// Changes what a rendered file means; worth knowing before a deploy.
    Warning,
    /// Must be dealt with: the service will not run as the spec says until it is.
    Required,
}

/// A file sitewright does not manage that changes what one of its files means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) host: String,
    /// The unmanaged file, on the host.
    pub(crate) path: String,
    /// Its effect, and what to do.
    pub(crate) effect: String,
}

/// What the live tree holds beside the rendered files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Survey {
    /// `<host><path>` of each file the host's manifest lists and the spec no longer renders.
    pub(crate) stale: Vec<String>,
    pub(crate) findings: Vec<Finding>,
}

pub(crate) fn survey(tree: &Tree, live: &impl LiveFiles) -> Survey {
    let mut by_host: BTreeMap<&str, Vec<&RenderedFile>> = BTreeMap::new();
    for file in &tree.files {
        by_host.entry(file.host.as_str()).or_default().push(file);
    }
    let mut out = Survey::default();
    for (host, files) in by_host {
        out.stale.extend(stale(host, &files, live));
        out.findings.extend(sysctl(host, &files, live));
        out.findings.extend(postgres(host, &files, live));
    }
    out
}

/// The files `host`'s live manifest lists that it no longer gets, and that are still there. Only
/// a manifest sitewright rendered says a file is its own: without one, nothing is stale.
fn stale(host: &str, files: &[&RenderedFile], live: &impl LiveFiles) -> Vec<String> {
    let Some(text) = live.read(host, HOST_MANIFEST) else {
        return Vec::new();
    };
    let rendered: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let listed: BTreeSet<String> = listed(&text)
        .into_iter()
        .filter(|f| f.host == host && f.path.starts_with('/'))
        .map(|f| f.path)
        .collect();
    listed
        .into_iter()
        .filter(|path| !rendered.contains(path.as_str()) && live.exists(host, path))
        .map(|path| format!("{host}{path}"))
        .collect()
}

/// The folders `sysctl --system` (procps) reads `*.conf` from; a file named like one in an
/// earlier folder is masked by it.
pub(crate) const SYSCTL_DIRS: [&str; 4] = [
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
];

/// What `sysctl --system` reads after the folders, so it wins over all of them.
pub(crate) const SYSCTL_CONF: &str = "/etc/sysctl.conf";

/// The keys a sysctl.d file sets, as `sysctl` reads them: `/` is a separator like `.`, a leading
/// `-` only says to ignore a failure, and `#` and `;` start comments.
pub(crate) fn sysctl_keys(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            let key = key.trim().trim_start_matches('-').replace('/', ".");
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            Some((key, value))
        })
        .collect()
}

/// Each live file that `sysctl --system` applies after one of ours and that sets one of our keys:
/// the later value is the one the kernel keeps.
fn sysctl(host: &str, files: &[&RenderedFile], live: &impl LiveFiles) -> Vec<Finding> {
    let ours: Vec<(&str, &str, BTreeMap<String, String>)> = files
        .iter()
        .filter_map(|f| {
            let name = f.path.strip_prefix("/etc/sysctl.d/")?;
            (name.ends_with(".conf") && !name.contains('/'))
                .then(|| (f.path.as_str(), name, sysctl_keys(&f.content)))
        })
        .collect();
    if ours.is_empty() {
        return Vec::new();
    }
    // Each name once, from the first folder that has it: the others' copies are masked.
    let mut applied: BTreeMap<String, String> = BTreeMap::new();
    for dir in SYSCTL_DIRS {
        for name in live.list(host, dir) {
            if name.ends_with(".conf") {
                applied
                    .entry(name.clone())
                    .or_insert_with(|| format!("{dir}/{name}"));
            }
        }
    }
    let mut out = Vec::new();
    for (ours_path, ours_name, keys) in &ours {
        // Every file applied after ours: later names in lexical order, then sysctl.conf.
        let mut after: Vec<(&str, &str)> = applied
            .iter()
            .filter(|(name, _)| name.as_str() > *ours_name)
            .map(|(_, path)| {
                (
                    path.as_str(),
                    "applies it later, in the order of file names",
                )
            })
            .collect();
        after.push((SYSCTL_CONF, "reads it last, after the sysctl.d folders"));
        let mut seen = BTreeSet::new();
        for (path, when) in after {
            if files.iter().any(|f| f.path == path) {
                continue;
            }
            // Debian's 99-sysctl.conf is a link to sysctl.conf: the same text is said once.
            let Some(text) = live.read(host, path).filter(|t| seen.insert(t.clone())) else {
                continue;
            };
            let theirs = sysctl_keys(&text);
            for (key, value) in keys {
                let Some(other) = theirs.get(key) else {
                    continue;
                };
                let verdict = if other == value {
                    "the same value today, but a change to ours would not take effect".to_owned()
                } else {
                    format!("{other} wins, not ours")
                };
                out.push(Finding {
                    severity: Severity::Warning,
                    host: host.to_owned(),
                    path: path.to_owned(),
                    effect: format!(
                        "sets {key} = {other}, which {ours_path} sets to {value}; sysctl --system \
                         {when}: {verdict}"
                    ),
                });
            }
        }
    }
    out
}

/// What a postgresql.conf of the tree says about its server, for the files around it.
struct Server<'a> {
    conf: &'a str,
    major: u32,
    data: String,
    written: &'a BTreeMap<String, (String, crate::plan::OnChange)>,
    /// The include directives at the end of the file, in order, with the paths as written.
    includes: &'a [(String, String)],
    primary: bool,
}

/// postgresql.auto.conf setting what our postgresql.conf sets, a recovery.conf that 12 and
/// later refuse, and a standby marker on a host the spec makes a primary.
fn postgres(host: &str, files: &[&RenderedFile], live: &impl LiveFiles) -> Vec<Finding> {
    let mut out = Vec::new();
    for server in servers(files) {
        let finding = |severity, name: &str, effect: String| Finding {
            severity,
            host: host.to_owned(),
            path: format!("{}/{name}", server.data),
            effect,
        };
        let auto = format!("{}/postgresql.auto.conf", server.data);
        if let Some(text) = live.read(host, &auto) {
            for (name, value) in crate::pg_settings::read_conf(&text) {
                let Some((ours, _)) = server.written.get(&name) else {
                    continue;
                };
                let verdict = if *ours == value {
                    "the same value today, but a change to ours would not take effect"
                } else {
                    "its value wins, not ours"
                };
                let effect = format!(
                    "sets {name} = '{value}' (ALTER SYSTEM), which {} sets to '{ours}'; \
                     PostgreSQL reads postgresql.auto.conf last: {verdict} (ALTER SYSTEM RESET \
                     {name} removes it)",
                    server.conf
                );
                out.push(finding(Severity::Warning, "postgresql.auto.conf", effect));
            }
        }
        out.extend(included(host, &server, live));
        let recovery = format!("{}/recovery.conf", server.data);
        if server.major >= 12 && live.exists(host, &recovery) {
            let effect = format!(
                "PostgreSQL {} will not start while it is there (FATAL: using recovery command \
                 file \"recovery.conf\" is not supported); remove it: from 12 on, postgresql.conf \
                 holds its settings and standby.signal marks a standby",
                server.major
            );
            out.push(finding(Severity::Required, "recovery.conf", effect));
        }
        let marker = if server.major >= 12 {
            "standby.signal"
        } else {
            "recovery.conf"
        };
        if server.primary && live.exists(host, &format!("{}/{marker}", server.data)) {
            let effect = format!(
                "the spec makes {host} the primary, but with this file PostgreSQL starts as a \
                 standby and accepts no writes; remove it"
            );
            out.push(finding(Severity::Required, marker, effect));
        }
    }
    out
}

/// A file PostgreSQL reads because postgresql.conf includes it: its path on the host, the line
/// that includes it, and the settings it sets.
struct Included {
    path: String,
    by: String,
    lines: Vec<crate::pg_settings::ConfLine>,
}

/// What the files postgresql.conf includes hold, read as PostgreSQL reads them, in its order: a
/// note for each file and what it sets; a warning for each setting that our postgresql.conf
/// sets too, since the included file is read after it and wins; `required` for a missing
/// include_dir or `include` file, without which the server does not start. A missing
/// include_if_exists file is skipped by the server, and said so in a note.
fn included(host: &str, server: &Server, live: &impl LiveFiles) -> Vec<Finding> {
    use crate::plan::postgres::conf::is_include;
    let folder = server
        .conf
        .rsplit_once('/')
        .map_or("", |(folder, _)| folder);
    let resolve = |path: &str| {
        if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("{folder}/{path}")
        }
    };
    let finding = |severity, path: String, effect: String| Finding {
        severity,
        host: host.to_owned(),
        path,
        effect,
    };
    // In the order PostgreSQL reads them: a file read, or what is said of one it cannot read.
    let mut order: Vec<Result<usize, Finding>> = Vec::new();
    let mut read: Vec<Included> = Vec::new();
    for (directive, written) in server.includes {
        let path = resolve(written);
        let by = format!("{directive} = '{written}'");
        match directive.as_str() {
            "include_dir" if !live.exists(host, &path) => order.push(Err(finding(
                Severity::Required,
                path,
                format!(
                    "{} includes this folder ({by}), and it is not there: PostgreSQL {} will not \
                     start (\"could not open configuration directory\"); create it, or remove \
                     postgres.include_dir from the spec",
                    server.conf, server.major
                ),
            ))),
            "include_dir" => {
                // PostgreSQL reads the `.conf` files of the folder, not its hidden ones, in the
                // C order of their names.
                let mut names: Vec<String> = live
                    .list(host, &path)
                    .into_iter()
                    .filter(|n| n.ends_with(".conf") && !n.starts_with('.'))
                    .collect();
                names.sort();
                for name in names {
                    let file = format!("{path}/{name}");
                    if let Some(text) = live.read(host, &file) {
                        order.push(Ok(read.len()));
                        read.push(Included {
                            path: file,
                            by: by.clone(),
                            lines: crate::pg_settings::conf_lines(&text),
                        });
                    }
                }
            }
            _ => match live.read(host, &path) {
                Some(text) => {
                    order.push(Ok(read.len()));
                    read.push(Included {
                        path,
                        by,
                        lines: crate::pg_settings::conf_lines(&text),
                    });
                }
                None if directive == "include" => order.push(Err(finding(
                    Severity::Required,
                    path,
                    format!(
                        "{} includes this file ({by}), and it is not there: PostgreSQL {} will \
                         not start (\"could not open configuration file\"); create it, or name it \
                         in postgres.include_if_exists instead",
                        server.conf, server.major
                    ),
                ))),
                None => order.push(Err(finding(
                    Severity::Note,
                    path,
                    format!(
                        "{} includes this file if it exists ({by}); it is not there, and \
                         PostgreSQL skips it",
                        server.conf
                    ),
                ))),
            },
        }
    }
    // Where each of our settings is last set: the value the server runs.
    let mut last: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, file) in read.iter().enumerate() {
        for line in &file.lines {
            if server.written.contains_key(&line.name) {
                last.insert(line.name.as_str(), (i, line.line));
            }
        }
    }
    let mut out = Vec::new();
    for entry in order {
        let i = match entry {
            Ok(i) => i,
            Err(said) => {
                out.push(said);
                continue;
            }
        };
        let file = &read[i];
        let mut names: Vec<&str> = Vec::new();
        for line in file.lines.iter().filter(|l| !is_include(&l.name)) {
            if !names.contains(&line.name.as_str()) {
                names.push(&line.name);
            }
        }
        let sets = if names.is_empty() {
            "sets nothing".to_owned()
        } else {
            format!("sets {}", names.join(", "))
        };
        let further = if file.lines.iter().any(|l| is_include(&l.name)) {
            "; it includes further files, which this survey does not read"
        } else {
            ""
        };
        out.push(finding(
            Severity::Note,
            file.path.clone(),
            format!(
                "read after the lines of {} ({}): {sets}{further}",
                server.conf, file.by
            ),
        ));
        // Each of our settings once a file, at the line of it that counts there.
        for name in names {
            let Some((ours, _)) = server.written.get(name) else {
                continue;
            };
            let Some(line) = file.lines.iter().rev().find(|l| l.name == name) else {
                continue;
            };
            let verdict = match last.get(name) {
                Some((j, at)) if *j != i => {
                    format!("{}:{at}, read later, sets it again and wins", read[*j].path)
                }
                _ if line.value == *ours => "the same value today, but a change to the spec's \
                                              would not take effect"
                    .to_owned(),
                _ => "its value wins, not the spec's".to_owned(),
            };
            out.push(finding(
                Severity::Warning,
                format!("{}:{}", file.path, line.line),
                format!(
                    "sets {name} = '{}', which {} sets to '{ours}'; PostgreSQL reads this file \
                     after it ({}): {verdict}",
                    line.value, server.conf, file.by
                ),
            ));
        }
    }
    out
}

/// Each postgresql.conf among a host's files, with its data directory (its `data_directory`,
/// else its own folder) and whether the host is a primary (no standby marker is rendered).
fn servers<'a>(files: &[&'a RenderedFile]) -> Vec<Server<'a>> {
    files
        .iter()
        .filter(|f| f.path.ends_with("/postgresql.conf"))
        .filter_map(|f| {
            let conf = f.meta.conf.as_ref()?;
            let data = conf.written.get("data_directory").map_or_else(
                || f.path.trim_end_matches("/postgresql.conf").to_owned(),
                |(dir, _)| dir.trim_end_matches('/').to_owned(),
            );
            let primary = !files.iter().any(|g| {
                g.path == format!("{data}/standby.signal")
                    || g.path == format!("{data}/recovery.conf")
            });
            Some(Server {
                conf: f.path.as_str(),
                major: conf.major,
                data,
                written: &conf.written,
                includes: &conf.includes,
                primary,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_are_read_as_sysctl_reads_them() {
        let keys = sysctl_keys(
            "# comment\n; also\n-vm/swappiness = 60\nnet.ipv4.tcp_rmem =  4096\t87380 6291456\n\n",
        );
        assert_eq!(keys["vm.swappiness"], "60");
        assert_eq!(keys["net.ipv4.tcp_rmem"], "4096 87380 6291456");
        assert_eq!(keys.len(), 2);
    }
}
