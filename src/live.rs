//! What a live host holds beside the rendered files: the files an earlier render put there that
//! the spec no longer produces (stale, by the host's own manifest), and files sitewright does not
//! manage that change what its files mean (a later sysctl.d file, postgresql.auto.conf, a leftover
//! recovery.conf or standby.signal). Pure: the caller says how to read the live tree.

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
const SYSCTL_DIRS: [&str; 4] = [
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
];

/// What `sysctl --system` reads after the folders, so it wins over all of them.
const SYSCTL_CONF: &str = "/etc/sysctl.conf";

/// The keys a sysctl.d file sets, as `sysctl` reads them: `/` is a separator like `.`, a leading
/// `-` only says to ignore a failure, and `#` and `;` start comments.
fn sysctl_keys(text: &str) -> BTreeMap<String, String> {
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
