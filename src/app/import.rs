//! `import`: reads a folder of live files (DIR/<host>/<path>), writes the spec the import stage
//! works out from them (never over an existing file), says what it guessed and left out, and
//! states the round trip: the diff of the written spec against the same files.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use super::exit::Outcome;
use super::options::{
    Detail, DiffOptions, Hosts, ImportOptions, LiveTree, Paint, Running, SecretPolicy, Selection,
    Templates,
};
use super::{Failure, diff};
use crate::import::{HostTree, import as import_site};

/// Files larger than this are not configuration: not read.
const LARGEST: u64 = 1 << 20;

pub(super) fn import(args: &ImportOptions) -> Result<Outcome, Failure> {
    if args.out.exists() {
        return Err(Failure::Usage(format!(
            "{} exists: import never overwrites a spec; remove it or give another -o",
            args.out.display()
        )));
    }
    let mut hosts = read_hosts(&args.dir)?;
    in_rendered_order(&args.dir, &mut hosts);
    if hosts.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: no host folders (the --live layout is DIR/<host>/<path>)",
            args.dir.display()
        )));
    }
    let site = match &args.site {
        Some(site) => site.clone(),
        None => site_name(&args.dir, &hosts),
    };
    let imported = import_site(&site, &hosts, args.values);
    if imported.hosts == 0 {
        let unread: Vec<String> = hosts
            .iter()
            .flat_map(|h| {
                h.unread
                    .iter()
                    .map(move |(p, why)| format!("{}{p}: {why}", h.name))
            })
            .collect();
        return Err(Failure::Usage(format!(
            "{}: nothing sitewright writes was found (a postgresql.conf, an nginx HTTPS server or caching proxy, a Django settings module): nothing written{}",
            args.dir.display(),
            if unread.is_empty() {
                String::new()
            } else {
                format!(" ({} files not read: {})", unread.len(), unread.join("; "))
            }
        )));
    }
    let temporary = args.out.with_extension("yaml.partial");
    fs::write(&temporary, &imported.spec)
        .and_then(|()| fs::rename(&temporary, &args.out))
        .map_err(|e| {
            let _ = fs::remove_file(&temporary);
            Failure::Read(args.out.clone(), e)
        })?;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "sitewright: wrote {} (site {site}, {} hosts read)",
        args.out.display(),
        hosts.len()
    );
    for note in &imported.notes {
        let _ = writeln!(err, "note: {}: {}", note.at, note.text);
    }
    if !imported.secrets.is_empty() {
        let _ = writeln!(
            err,
            "secrets: no password is copied; set {} before rendering or diffing with --with-secrets",
            imported.secrets.join(", ")
        );
    }
    let _ = writeln!(
        err,
        "sitewright: the round trip, `sitewright diff {} --live {}`:",
        args.out.display(),
        args.dir.display()
    );
    drop(err);
    diff::diff_command(&DiffOptions {
        spec: args.out.clone(),
        live: LiveTree::Fetched(args.dir.clone()),
        selection: Selection {
            hosts: Hosts::All,
            templates: Templates::BuiltIn,
        },
        paint: Paint::Plain,
        detail: Detail::Hunks,
        secrets: SecretPolicy::Placeholders,
        running: Running::FilesOnly,
        redact: imported.redact,
    })
}

/// Each host folder of `dir` with the text files under it, by their path on the host.
fn read_hosts(dir: &Path) -> Result<Vec<HostTree>, Failure> {
    let mut hosts = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| Failure::Read(dir.to_owned(), e))?;
    let mut names: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut host = HostTree {
            name,
            ..HostTree::default()
        };
        walk(&entry.path(), "", &mut host)?;
        hosts.push(host);
    }
    Ok(hosts)
}

fn walk(dir: &Path, prefix: &str, host: &mut HostTree) -> Result<(), Failure> {
    let entries = fs::read_dir(dir).map_err(|e| Failure::Read(dir.to_owned(), e))?;
    for entry in entries.filter_map(Result::ok) {
        let path = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        let Ok(meta) = fs::metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() {
            walk(&entry.path(), &path, host)?;
        } else if meta.is_file() && meta.len() > LARGEST {
            host.unread
                .insert(path, format!("larger than {} bytes", LARGEST));
        } else if meta.is_file() {
            match fs::read(entry.path()).map(String::from_utf8) {
                Ok(Ok(text)) => {
                    host.files.insert(path, text);
                }
                Ok(Err(_)) => {
                    host.unread.insert(path, "not UTF-8 text".to_owned());
                }
                Err(e) => {
                    host.unread.insert(path, e.to_string());
                }
            }
        }
    }
    Ok(())
}

/// The site's name: what a host's manifest says (an earlier render's), else the folder's.
/// Puts the hosts in the order of the spec they were rendered from, when DIR holds that
/// render's manifest.json (`render -o DIR` writes it): the spec lists them in that order, and so
/// does the manifest it renders. Otherwise they stay in the order of their folders' names.
fn in_rendered_order(dir: &Path, hosts: &mut [HostTree]) {
    let Some(manifest) = fs::read_to_string(dir.join("manifest.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
    else {
        return;
    };
    let mut order: Vec<&str> = Vec::new();
    for file in manifest["files"].as_array().into_iter().flatten() {
        if let Some(host) = file["host"].as_str()
            && !order.contains(&host)
        {
            order.push(host);
        }
    }
    hosts.sort_by_key(|h| {
        order
            .iter()
            .position(|name| *name == h.name)
            .unwrap_or(order.len())
    });
}

fn site_name(dir: &Path, hosts: &[HostTree]) -> String {
    hosts
        .iter()
        .find_map(|h| h.files.get(crate::manifest::HOST_MANIFEST))
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|m| m["site"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            dir.canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "site".to_owned())
        })
}
