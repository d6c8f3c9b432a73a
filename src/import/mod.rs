//! `import`: a spec worked out from a site's live files (the `--live` layout, one folder per
//! host), so that a site run by hand can adopt sitewright. Each value comes from a file, or is a
//! guess said in a comment beside it; passwords become `{ env: NAME }`; what it cannot import
//! yet is named in the report, never dropped silently. This stage reads texts and writes a
//! text: the edge reads the folder, writes the spec and runs the diff that states the round trip.

mod postgres;
mod sysctl;
mod yaml;

use std::collections::BTreeMap;

pub(crate) use yaml::{Map, Node};

/// One host's live files: each absolute path and its text.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostTree {
    pub(crate) name: String,
    pub(crate) files: BTreeMap<String, String>,
    /// Files that could not be read as text, each with why: named in the report, never taken
    /// for empty.
    pub(crate) unread: BTreeMap<String, String>,
}

impl HostTree {
    fn file(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }
}

/// Which value a setting gets where the spec's derived one differs from the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Values {
    /// The spec's own (the rendered file changes): what adopting sitewright's defaults means.
    Derived,
    /// The live one, kept as an explicit setting: the rendered file says what the live one does.
    KeepLive,
}

/// What the report says about one file or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    /// `HOST/path`, or the host alone.
    pub(crate) at: String,
    pub(crate) text: String,
}

/// The written spec and its report.
#[derive(Debug, Clone, Default)]
pub(crate) struct Imported {
    pub(crate) spec: String,
    pub(crate) notes: Vec<Note>,
    /// The environment variables the spec reads its secrets from, for the user to set.
    pub(crate) secrets: Vec<String>,
    /// How many hosts the spec has: none when no PostgreSQL server was found.
    pub(crate) hosts: usize,
}

/// The spec of site `site` from `hosts`' live files.
pub(crate) fn import(site: &str, hosts: &[HostTree], values: Values) -> Imported {
    let mut out = Imported::default();
    let mut top = Map::new();
    top.set("site", Node::text(site));
    let mut spec_hosts = Vec::new();
    let postgres = postgres::import(site, hosts, values, &mut out);
    let in_spec: Vec<&HostTree> = hosts
        .iter()
        .filter(|h| postgres.hosts.contains_key(&h.name))
        .collect();
    let sysctl = sysctl::import(&in_spec, &mut out.notes);
    for host in hosts {
        for (path, why) in &host.unread {
            out.notes.push(Note {
                at: format!("{}{path}", host.name),
                text: format!("not read: {why}; what it holds is not in the spec"),
            });
        }
        match postgres.hosts.get(&host.name) {
            Some(entry) => spec_hosts.push(Node::Map(entry.clone())),
            None => out.notes.push(Note {
                at: host.name.clone(),
                text: "no PostgreSQL server here: the host is not in the spec (nginx and Django are not imported yet)".to_owned(),
            }),
        }
        for path in host.files.keys() {
            let imported = postgres.read.contains(&(host.name.clone(), path.clone()))
                || sysctl.read.contains(&(host.name.clone(), path.clone()));
            if !imported {
                out.notes.push(Note {
                    at: format!("{}{path}", host.name),
                    text: "not imported: sitewright imports PostgreSQL's and sysctl's files only, so far"
                        .to_owned(),
                });
            }
        }
    }
    out.hosts = spec_hosts.len();
    top.set("hosts", Node::Seq(spec_hosts));
    if let Some(section) = postgres.section {
        top.set("postgres", Node::Map(section));
    }
    if let Some(section) = sysctl.section {
        top.set("sysctl", Node::Map(section));
    }
    out.spec = format!(
        "# Imported by `sitewright import` from the live files: a comment beside a value says what it\n# was guessed from. Check it, then `sitewright diff` this spec against the same files.\n{}",
        yaml::document(&top)
    );
    out
}
