//! `import`: a spec worked out from a site's live files (the `--live` layout, one folder per
//! host), so that a site run by hand can adopt sitewright. Each value comes from a file, or is a
//! guess said in a comment beside it; passwords become `{ env: NAME }`; what it cannot import
//! yet is named in the report, never dropped silently. This stage reads texts and writes a
//! text: the edge reads the folder, writes the spec and runs the diff that states the round trip.

mod django;
mod fit;
mod nginx;
mod postgres;
mod sysctl;

use std::collections::{BTreeMap, BTreeSet};

use crate::yaml;
pub(crate) use crate::yaml::{Map, Node};

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
    /// Secrets found written in the live files, to mask in what shows them (the round trip's
    /// diff); empty ones are left out.
    pub(crate) redact: Vec<String>,
}

/// What the services imported before this one found, for a part that refers to them (Django's
/// database host by name, the stream forward in front of the primary).
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    /// Each PostgreSQL host's name and the address the spec gives it.
    pub(crate) addresses: BTreeMap<String, String>,
    /// The primary's host name.
    pub(crate) primary: Option<String>,
    /// The port PostgreSQL listens on (the spec's `postgres.port`).
    pub(crate) postgres_port: Option<i64>,
}

/// What one service's import adds to the spec.
#[derive(Debug, Clone, Default)]
pub(crate) struct Part {
    /// The roles this service gives each host, by host name: a host with roles and no
    /// PostgreSQL server is added to `hosts:` too.
    pub(crate) roles: BTreeMap<String, Vec<&'static str>>,
    /// Each value to set, at its path from the document's top: `["nginx"]` for a whole
    /// section, `["postgres", "replication", "public_port"]` for one field of another.
    pub(crate) values: Vec<(Vec<&'static str>, Node)>,
    /// `(host, path)` of each file read, so it is not named "not imported".
    pub(crate) read: BTreeSet<(String, String)>,
    /// The address of a host without a PostgreSQL server, and what says it.
    pub(crate) addresses: BTreeMap<String, (String, String)>,
    /// Further fields of a host's entry of `hosts:`, by host name (a mirror's `server_name`).
    pub(crate) host_values: BTreeMap<String, Vec<(&'static str, Node)>>,
    /// Secrets the live files hold as literals: never written, and masked wherever a live file
    /// is shown.
    pub(crate) secret_values: Vec<String>,
}

/// The spec of site `site` from `hosts`' live files.
pub(crate) fn import(site: &str, hosts: &[HostTree], values: Values) -> Imported {
    let mut out = Imported::default();
    let postgres = postgres::import(site, hosts, &mut out);
    let known = Known {
        addresses: postgres.addresses(),
        primary: postgres.primary.clone(),
        postgres_port: postgres.port,
    };
    let parts = [
        nginx::import(hosts, &known, &mut out.notes),
        django::import(hosts, &known, &mut out.notes),
    ];
    let in_spec: Vec<&HostTree> = hosts
        .iter()
        .filter(|h| {
            postgres.hosts.contains_key(&h.name)
                || parts.iter().any(|p| p.roles.contains_key(&h.name))
        })
        .collect();
    let sysctl = sysctl::import(&in_spec, &mut out.notes);

    let mut top = Map::new();
    top.set("site", Node::text(site));
    let mut spec_hosts = Vec::new();
    let mut placeholder = postgres.placeholders;
    for host in hosts {
        for (path, why) in &host.unread {
            out.notes.push(Note {
                at: format!("{}{path}", host.name),
                text: format!("not read: {why}; what it holds is not in the spec"),
            });
        }
        let mut roles: Vec<&str> = Vec::new();
        for role in parts
            .iter()
            .flat_map(|p| p.roles.get(&host.name).into_iter().flatten().copied())
        {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        match postgres.hosts.get(&host.name) {
            Some(entry) => {
                let mut entry = entry.clone();
                if postgres.placeheld.contains(&host.name)
                    && let Some((address, why)) =
                        parts.iter().find_map(|p| p.addresses.get(&host.name))
                {
                    entry.replace_guess("address", Node::text(address), format!("from {why}"));
                }
                if !roles.is_empty()
                    && let Some(Node::Seq(have)) = entry.get_mut("roles")
                {
                    have.extend(roles.iter().map(|r| Node::text(*r)));
                }
                host_values(&parts, &host.name, &mut entry);
                spec_hosts.push(Node::Map(entry));
            }
            None if !roles.is_empty() => {
                // A placeholder no other host has, so that `check` does not take two for one.
                placeholder += 1;
                while known
                    .addresses
                    .values()
                    .any(|a| *a == format!("192.0.2.{placeholder}"))
                {
                    placeholder += 1;
                }
                let mut entry = other_host(&host.name, &roles, placeholder);
                if let Some((address, why)) = parts.iter().find_map(|p| p.addresses.get(&host.name))
                {
                    entry.replace_guess("address", Node::text(address), format!("from {why}"));
                }
                host_values(&parts, &host.name, &mut entry);
                spec_hosts.push(Node::Map(entry));
            }
            None => out.notes.push(Note {
                at: host.name.clone(),
                text: "no PostgreSQL server, nginx or Django here: the host is not in the spec"
                    .to_owned(),
            }),
        }
        for path in host.files.keys() {
            let key = (host.name.clone(), path.clone());
            // sitewright's own record of what it wrote: the spec's render writes it again.
            let imported = path.ends_with("/sitewright/manifest.json")
                || postgres.read.contains(&key)
                || sysctl.read.contains(&key)
                || parts.iter().any(|p| p.read.contains(&key));
            if !imported {
                out.notes.push(Note {
                    at: format!("{}{path}", host.name),
                    text: not_imported(path).to_owned(),
                });
            }
        }
    }
    out.hosts = spec_hosts.len();
    top.set("hosts", Node::Seq(spec_hosts));
    if let Some(section) = &postgres.section {
        top.set("postgres", Node::Map(section.clone()));
    }
    out.redact = parts
        .iter()
        .flat_map(|p| p.secret_values.iter().filter(|v| !v.is_empty()).cloned())
        .collect();
    for (path, value) in parts.into_iter().flat_map(|p| p.values) {
        top.set_path(&path, value);
    }
    if top.get("django").is_none()
        && let Some(Node::Seq(entries)) = top.get("hosts")
    {
        for entry in entries {
            if let Node::Map(entry) = entry
                && let Some(Node::Seq(roles)) = entry.get("roles")
                && roles.contains(&Node::text("web"))
                && let Some(Node::Text(name)) = entry.get("name")
            {
                out.notes.push(Note {
                    at: name.clone(),
                    text: "nginx serves an application here, and no Django settings module was found: the spec's web role is nginx in front of Django, so `check` refuses the spec (WEB002) until a django section says the application".to_owned(),
                });
            }
        }
    }
    if let Some(section) = sysctl.section {
        top.set("sysctl", Node::Map(section));
    }
    // PostgreSQL first: the kernel's shared memory follows from its settings.
    if postgres.primary.is_some() {
        postgres::settle(&mut top, &postgres, hosts, values, &mut out);
    }
    sysctl::settle(&mut top, hosts);
    // Every secret the spec reads from the environment, whichever part wrote it.
    let mut names = out.secrets.clone();
    env_names(&Node::Map(top.clone()), &mut names);
    names.sort();
    names.dedup();
    out.secrets = names;
    out.spec = format!(
        "# Imported by `sitewright import` from the live files: a comment beside a value says what it\n# was guessed from. Check it, then `sitewright diff` this spec against the same files.\n{}",
        yaml::document(&top)
    );
    out
}

/// Sets on `entry` the fields the parts give host `name`.
fn host_values(parts: &[Part], name: &str, entry: &mut Map) {
    for (key, value) in parts
        .iter()
        .flat_map(|p| p.host_values.get(name).into_iter().flatten())
    {
        entry.replace(key, value.clone());
    }
}

/// Why a file is not in the spec, by what it is.
fn not_imported(path: &str) -> &'static str {
    if path.ends_with("/nginx.conf") && path.starts_with("/etc/nginx/") {
        "not imported: nginx's main file is the distribution's; sitewright writes its own files beside it"
    } else if path.starts_with("/etc/nginx/") {
        "not imported: an nginx file that is none of the spec's (an HTTPS server in front of an application, a caching proxy, the stream forward): it stays on the host as it is, and the spec does not write it"
    } else {
        "not imported: sitewright does not know this file"
    }
}

/// The `NAME` of each `{ env: NAME }` under `node`.
fn env_names(node: &Node, out: &mut Vec<String>) {
    match node {
        Node::Map(map) => {
            let mut entries = map.entries();
            if let (Some(("env", Node::Text(name))), None) = (entries.next(), entries.next()) {
                out.push(name.clone());
                return;
            }
            for (_, value) in map.entries() {
                env_names(value, out);
            }
        }
        Node::Seq(items) => items.iter().for_each(|i| env_names(i, out)),
        _ => {}
    }
}

/// The entry of a host without a PostgreSQL server: nothing in its files says its size, so each
/// value is a placeholder said as one.
fn other_host(name: &str, roles: &[&str], placeholder: usize) -> Map {
    let mut entry = Map::new();
    entry
        .set("name", Node::text(name))
        .guess(
            "address",
            Node::text(format!("192.0.2.{placeholder}")),
            "a placeholder: no file names this host's address; give its own",
        )
        .guess(
            "memory",
            Node::text("4GiB"),
            "a placeholder: no file says its memory",
        )
        .guess("cpus", Node::Int(2), "a placeholder: no file says its cpus")
        .guess(
            "storage",
            Node::text("ssd"),
            "a placeholder: no file says its storage",
        )
        .set(
            "roles",
            Node::Seq(roles.iter().map(|r| Node::text(*r)).collect()),
        );
    entry
}

/// What the parts' tests share: a fixture's golden tree read as `import` reads a live folder,
/// and a spec's render, so that a part is judged by the files its import renders back.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::HostTree;

    /// The hosts of `fixtures/NAME/expected`, each file under its absolute path.
    pub(crate) fn fixture(name: &str) -> Vec<HostTree> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name)
            .join("expected");
        let mut hosts = Vec::new();
        let mut dirs: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .collect();
        dirs.sort_by_key(|e| e.file_name());
        for dir in dirs {
            let mut host = HostTree {
                name: dir.file_name().to_string_lossy().into_owned(),
                ..HostTree::default()
            };
            walk(&dir.path(), "", &mut host);
            hosts.push(host);
        }
        hosts
    }

    fn walk(dir: &Path, prefix: &str, host: &mut HostTree) {
        for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let path = format!("{prefix}/{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                walk(&entry.path(), &path, host);
            } else {
                host.files
                    .insert(path, std::fs::read_to_string(entry.path()).unwrap());
            }
        }
    }

    /// Each `(host, path)` of the render of spec `text` (secrets as placeholders, as in the
    /// golden trees) and its content; the error's message when the spec does not load or render.
    pub(crate) fn render(text: &str) -> Result<BTreeMap<(String, String), String>, String> {
        let source = crate::source::Source::from_bytes("imported.yaml", text.as_bytes().to_vec())
            .map_err(|d| d.message.clone())?;
        let loaded = crate::load::load(&source).map_err(|invalid| {
            invalid
                .diagnostics
                .iter()
                .map(|d| format!("{}:{}: {}", d.pos.line, d.pos.column, d.message))
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let plan = crate::plan::plan_with(&loaded.site, &loaded.derived);
        let tree = crate::render::Renderer::new(&Default::default())
            .render(&plan, &crate::render::Secrets::none())
            .map_err(|e| format!("{e:?}"))?;
        Ok(tree
            .files
            .iter()
            .map(|f| {
                (
                    (f.host.as_str().to_owned(), f.path.to_string()),
                    f.content.clone(),
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{fixture, render};

    /// The helpers the parts' tests judge by: a fixture's own spec renders its golden tree.
    #[test]
    fn a_fixture_spec_renders_its_golden_files() {
        let spec = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/catmaid/site.yaml"
        ))
        .unwrap();
        let rendered = render(&spec).unwrap();
        let hosts = fixture("catmaid");
        let mut compared = 0;
        for host in &hosts {
            for (path, text) in &host.files {
                if let Some(ours) = rendered.get(&(host.name.clone(), path.clone())) {
                    assert_eq!(ours, text, "{}{path}", host.name);
                    compared += 1;
                }
            }
        }
        assert!(compared >= 14, "only {compared} files compared");
    }
}
