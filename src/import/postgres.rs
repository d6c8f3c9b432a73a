//! The PostgreSQL part of `import`: the servers of Debian's layout
//! (/etc/postgresql/MAJOR/CLUSTER/postgresql.conf), the primary and its replicas (a
//! standby.signal or recovery.conf in the data directory), the typed fields their settings give,
//! the hosts' sizes guessed from what PGTune-like rules would have derived, and the settings the
//! spec would write otherwise, kept per host with `--keep-live`.

use std::collections::{BTreeMap, BTreeSet};

use super::{HostTree, Imported, Map, Node, Note, Values};
use crate::pg_settings::conf_lines;

/// What the PostgreSQL import gives the spec.
#[derive(Debug, Default)]
pub(super) struct Postgres {
    /// Each PostgreSQL host's entry of `hosts:`.
    pub(super) hosts: BTreeMap<String, Map>,
    pub(super) section: Option<Map>,
    /// `(host, path)` of each file read.
    pub(super) read: BTreeSet<(String, String)>,
    /// The primary's host name.
    pub(super) primary: Option<String>,
    /// The port the primary listens on.
    pub(super) port: Option<i64>,
    /// How many placeholder addresses (192.0.2.N) were given out.
    pub(super) placeholders: usize,
}

impl Postgres {
    /// Each host's name and the address its entry gives it.
    pub(super) fn addresses(&self) -> BTreeMap<String, String> {
        self.hosts
            .iter()
            .filter_map(|(name, entry)| match entry.get("address") {
                Some(Node::Text(address)) => Some((name.clone(), address.clone())),
                _ => None,
            })
            .collect()
    }
}

/// One server found on a host.
struct Server<'a> {
    host: &'a HostTree,
    major: u32,
    conf_path: String,
    config_dir: String,
    /// Each setting's value as the server reads it (the last line of a name wins).
    settings: BTreeMap<String, String>,
    /// include, include_dir and include_if_exists lines, in order.
    includes: Vec<(String, String)>,
    data_dir: String,
    /// The file that makes it a standby, when there is one.
    standby: Option<String>,
}

impl Server<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }
}

/// The major and the default data directory of a postgresql.conf at `path`, in Debian's layout
/// (/etc/postgresql/MAJOR/CLUSTER/) or RHEL's (/var/lib/pgsql/MAJOR/data/, the data directory).
fn layout(path: &str) -> Option<(u32, String)> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts[..] {
        ["", "etc", "postgresql", major, cluster, "postgresql.conf"] => {
            let major = major.parse().ok()?;
            Some((major, format!("/var/lib/postgresql/{major}/{cluster}")))
        }
        ["", "var", "lib", "pgsql", major, "data", "postgresql.conf"] => {
            Some((major.parse().ok()?, format!("/var/lib/pgsql/{major}/data")))
        }
        _ => None,
    }
}

fn find(host: &HostTree) -> Option<Server<'_>> {
    let (conf_path, text) = host.files.iter().find(|(path, _)| layout(path).is_some())?;
    let (major, default_data) = layout(conf_path)?;
    let config_dir = conf_path.trim_end_matches("/postgresql.conf").to_owned();
    let mut settings = BTreeMap::new();
    let mut includes = Vec::new();
    for line in conf_lines(text) {
        if crate::plan::postgres::conf::is_include(&line.name) {
            includes.push((line.name, line.value));
        } else {
            settings.insert(line.name, line.value);
        }
    }
    let data_dir = settings
        .get("data_directory")
        .cloned()
        .unwrap_or(default_data);
    let standby = ["standby.signal", "recovery.conf"]
        .iter()
        .map(|f| format!("{data_dir}/{f}"))
        .find(|p| host.files.contains_key(p));
    // recovery.conf (11) and postgresql.auto.conf hold settings too; the server reads them last.
    if let Some(text) = host.file(&format!("{data_dir}/recovery.conf")) {
        for line in conf_lines(text) {
            settings.insert(line.name, line.value);
        }
    }
    Some(Server {
        host,
        major,
        conf_path: conf_path.clone(),
        config_dir,
        settings,
        includes,
        data_dir,
        standby,
    })
}

/// The `key=value` pairs of a libpq connection string (values in single quotes when they hold
/// spaces).
fn conninfo(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().to_owned();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        out.insert(key, value);
        rest = next.trim_start();
    }
    out
}

/// A postgresql.conf memory value in bytes: a number with kB, MB, GB or TB, or bare in 8kB pages
/// (shared_buffers' unit).
fn bytes(value: &str) -> Option<u64> {
    let value = value.trim();
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: u64 = digits.trim().parse().ok()?;
    let unit = &value[digits.len()..];
    let factor = match unit.trim() {
        "" => 8 * 1024,
        "kB" => 1024,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// `bytes` as the spec writes a memory size.
fn size(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 30) {
        format!("{}GiB", bytes >> 30)
    } else {
        format!("{}MiB", bytes >> 20)
    }
}

/// A setting's value as the spec takes it: on/off as booleans, whole numbers bare, the rest text.
fn setting_node(value: &str) -> Node {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" => Node::Bool(true),
        "off" | "false" => Node::Bool(false),
        _ => match value.parse::<i64>() {
            Ok(n) if !value.starts_with('0') || value == "0" => Node::Int(n),
            _ => Node::text(value),
        },
    }
}

/// Whether two values are the same to PostgreSQL, as far as a text can tell.
fn same_value(a: &str, b: &str) -> bool {
    let norm = |v: &str| match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => "on".to_owned(),
        "off" | "false" | "no" | "0" => "off".to_owned(),
        other => other.to_owned(),
    };
    a == b || norm(a) == norm(b)
}

/// The environment variable a secret of `site` is read from.
fn env_name(site: &str, what: &str) -> String {
    let site: String = site
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{site}_{what}")
}

pub(super) fn import(
    site: &str,
    hosts: &[HostTree],
    values: Values,
    out: &mut Imported,
) -> Postgres {
    let mut result = Postgres::default();
    let servers: Vec<Server<'_>> = hosts.iter().filter_map(find).collect();
    let Some(primary) = servers.iter().find(|s| s.standby.is_none()) else {
        if let Some(first) = servers.first() {
            out.notes.push(Note {
                at: first.host.name.clone(),
                text: "every server found is a standby: no primary to import from".to_owned(),
            });
        }
        return result;
    };
    let replicas: Vec<&Server<'_>> = servers.iter().filter(|s| s.standby.is_some()).collect();
    for server in &servers {
        result
            .read
            .insert((server.host.name.clone(), server.conf_path.clone()));
        for name in ["pg_hba.conf", "pg_ident.conf", "replication.pgpass"] {
            result.read.insert((
                server.host.name.clone(),
                format!("{}/{name}", server.config_dir),
            ));
        }
        if let Some(standby) = &server.standby {
            result
                .read
                .insert((server.host.name.clone(), standby.clone()));
        }
        if server.major != primary.major {
            out.notes.push(Note {
                at: format!("{}{}", server.host.name, server.conf_path),
                text: format!(
                    "PostgreSQL {}, where the primary runs {}: a site runs one major; the spec says {}",
                    server.major, primary.major, primary.major
                ),
            });
        }
    }

    let mut section = Map::new();
    section
        .set("version", Node::Int(i64::from(primary.major)))
        .set("data_directory", Node::text(&primary.data_dir))
        .set("config_directory", Node::text(&primary.config_dir));
    result.primary = Some(primary.host.name.clone());
    result.port = primary.get("port").and_then(|p| p.parse::<i64>().ok());
    if let Some(port) = result.port {
        section.set("port", Node::Int(port));
    }
    let upstream = replicas
        .first()
        .and_then(|r| r.get("primary_conninfo"))
        .map(conninfo)
        .unwrap_or_default();
    let ssl_on = primary.get("ssl").is_some_and(|v| same_value(v, "on"));
    match (
        ssl_on,
        primary.get("ssl_cert_file"),
        primary.get("ssl_key_file"),
    ) {
        (true, Some(cert), Some(key)) => {
            let mut ssl = Map::new();
            ssl.set("cert", Node::text(cert))
                .set("key", Node::text(key));
            if let Some(ca) = upstream
                .get("sslrootcert")
                .map(String::as_str)
                .or(primary.get("ssl_ca_file"))
            {
                ssl.set("ca", Node::text(ca));
            }
            section.set("ssl", Node::Map(ssl));
        }
        _ => {
            section.guess(
                "plain_text",
                Node::text("accepted"),
                "the live primary has no ssl: its clients on other hosts talk in plain text",
            );
        }
    }
    if !replicas.is_empty() {
        let mut replication = Map::new();
        match upstream.get("user") {
            Some(user) => replication.set("user", Node::text(user)),
            None => replication.guess(
                "user",
                Node::text("replicator"),
                "no primary_conninfo names the user",
            ),
        };
        let env = env_name(site, "REPLICATION_PASSWORD");
        let mut password = Map::new();
        password.set("env", Node::text(&env));
        replication.set("password", Node::Map(password));
        out.secrets.push(env);
        if let Some(passfile) = upstream.get("passfile")
            && passfile != &format!("{}/replication.pgpass", primary.config_dir)
        {
            replication.set("passfile", Node::text(passfile));
        }
        if let Some(keep) = primary.get("wal_keep_size") {
            replication.set("wal_keep", Node::text(keep));
        } else if let Some(segments) = primary
            .get("wal_keep_segments")
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|s| *s > 0)
        {
            replication.set("wal_keep", Node::text(format!("{}MB", segments * 16)));
        }
        section.set("replication", Node::Map(replication));
    }
    if let Some(command) = primary.get("archive_command").filter(|c| !c.is_empty()) {
        let mut archive = Map::new();
        archive.set("command", Node::text(command));
        if let Some(restore) = replicas.iter().find_map(|r| r.get("restore_command")) {
            archive.set("restore_command", Node::text(restore));
        }
        section.set("archive", Node::Map(archive));
    }
    for directive in ["include_dir", "include", "include_if_exists"] {
        let paths: Vec<Node> = primary
            .includes
            .iter()
            .filter(|(name, _)| name == directive)
            .map(|(_, path)| Node::text(path))
            .collect();
        match (directive, paths.len()) {
            (_, 0) => {}
            ("include_dir", 1) => {
                section.set("include_dir", paths[0].clone());
            }
            ("include_dir", _) => out.notes.push(Note {
                at: format!("{}{}", primary.host.name, primary.conf_path),
                text: "more than one include_dir: the spec keeps the first".to_owned(),
            }),
            _ => {
                section.set(directive, Node::Seq(paths));
            }
        }
    }

    // Addresses: the replicas' connection names the primary; the primary's pg_hba.conf lets each
    // replica in by its address, in the order of the replicas.
    let hba_replicas: Vec<String> = primary
        .host
        .file(&format!("{}/pg_hba.conf", primary.config_dir))
        .map(|text| {
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .filter(|f| f.len() >= 5 && f[0].starts_with("host") && f[1] == "replication")
                .map(|f| f[3].trim_end_matches("/32").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut placeholder = 0;
    for server in &servers {
        let mut entry = Map::new();
        entry.set("name", Node::text(&server.host.name));
        let known = if server.standby.is_none() {
            upstream
                .get("host")
                .filter(|h| h.parse::<std::net::IpAddr>().is_ok())
                .cloned()
                .map(|a| (a, "the replicas' primary_conninfo".to_owned()))
        } else {
            replicas
                .iter()
                .position(|r| r.host.name == server.host.name)
                .and_then(|i| hba_replicas.get(i))
                .filter(|h| h.parse::<std::net::IpAddr>().is_ok())
                .cloned()
                .map(|a| {
                    (
                        a,
                        "the primary's pg_hba.conf replication record, in the replicas' order"
                            .to_owned(),
                    )
                })
        };
        match known {
            Some((address, from)) => {
                entry.guess("address", Node::text(address), format!("from {from}"));
            }
            None => {
                placeholder += 1;
                entry.guess(
                    "address",
                    Node::text(format!("192.0.2.{placeholder}")),
                    "a placeholder: no file names this host's address; give its own",
                );
            }
        }
        match server.get("shared_buffers").and_then(bytes) {
            Some(b) => entry.guess(
                "memory",
                Node::text(size(b * 4)),
                format!(
                    "4 x shared_buffers ({}): the spec gives PostgreSQL 25% of memory",
                    server.get("shared_buffers").unwrap_or_default()
                ),
            ),
            None => entry.guess(
                "memory",
                Node::text("4GiB"),
                "a placeholder: shared_buffers is not set",
            ),
        };
        // max_parallel_workers is the host's cpus; a standby's max_worker_processes is its
        // primary's, so it comes second.
        match ["max_parallel_workers", "max_worker_processes"]
            .iter()
            .find_map(|name| Some((*name, server.get(name)?.parse::<i64>().ok()?)))
        {
            Some((name, n)) => entry.guess("cpus", Node::Int(n), name),
            None => entry.guess(
                "cpus",
                Node::Int(2),
                "a placeholder: neither max_parallel_workers nor max_worker_processes is set",
            ),
        };
        let ssd = server
            .get("random_page_cost")
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|c| c < 2.0);
        entry.guess(
            "storage",
            Node::text(if ssd { "ssd" } else { "hdd" }),
            format!(
                "random_page_cost = {}",
                server.get("random_page_cost").unwrap_or("4 (the default)")
            ),
        );
        let role = if server.standby.is_some() {
            "postgres-replica"
        } else {
            "postgres-primary"
        };
        entry.set("roles", Node::Seq(vec![Node::text(role)]));
        result.hosts.insert(server.host.name.clone(), entry);
    }
    if servers.iter().filter(|s| s.standby.is_none()).count() > 1 {
        out.notes.push(Note {
            at: primary.host.name.clone(),
            text: "more than one server is not a standby: the first is the primary, the others are imported as primaries too and `check` will refuse the spec until one role each is right".to_owned(),
        });
    }
    result.placeholders = placeholder;
    result.section = Some(section);
    keep_live(site, &servers, values, &mut result, out);
    result
}

/// The settings whose value the spec would change: kept as each host's `postgres_settings`
/// (`--keep-live`), or said in the report.
fn keep_live(
    site: &str,
    servers: &[Server<'_>],
    values: Values,
    result: &mut Postgres,
    out: &mut Imported,
) {
    let Some(rendered) = rendered_settings(site, result, out) else {
        return;
    };
    for server in servers {
        let Some(written) = rendered.get(&server.host.name) else {
            continue;
        };
        let mut kept = Map::new();
        for (name, live) in &server.settings {
            let same = written.get(name).is_some_and(|w| same_value(w, live));
            if same {
                continue;
            }
            match values {
                Values::KeepLive => {
                    kept.set(name, setting_node(live));
                }
                Values::Derived => out.notes.push(Note {
                    at: format!("{}{}", server.host.name, server.conf_path),
                    text: match written.get(name) {
                        Some(w) => format!(
                            "{name} is {live}; the spec writes {w} (--keep-live keeps {live})"
                        ),
                        None => format!(
                            "{name} = {live} is not written by the spec (--keep-live keeps it)"
                        ),
                    },
                }),
            }
        }
        if !kept.is_empty()
            && let Some(entry) = result.hosts.get_mut(&server.host.name)
        {
            entry.set("postgres_settings", Node::Map(kept));
        }
    }
    // A setting the spec owns through a typed field is refused in postgres_settings: such a one
    // is taken out, one at a time, and said.
    for _ in 0..64 {
        match refused_setting(site, result) {
            Some((host, name)) => {
                if let Some(Node::Map(kept)) = result
                    .hosts
                    .get_mut(&host)
                    .and_then(|e| e.get_mut("postgres_settings"))
                {
                    kept.remove(&name);
                    if kept.is_empty()
                        && let Some(entry) = result.hosts.get_mut(&host)
                    {
                        entry.remove("postgres_settings");
                    }
                }
                out.notes.push(Note {
                    at: host,
                    text: format!(
                        "{name}: its live value is not kept, the spec sets it from a typed field or refuses it (see `sitewright check`)"
                    ),
                });
            }
            None => break,
        }
    }
    hba(site, servers, values, result, out);
    // What the spec adds, from the spec as written: the settings kept above change what it
    // derives (work_mem from max_connections).
    let Some(rendered) = rendered_settings(site, result, out) else {
        return;
    };
    for server in servers {
        for (name, value) in rendered.get(&server.host.name).into_iter().flatten() {
            if !server.settings.contains_key(name) {
                out.notes.push(Note {
                    at: format!("{}{}", server.host.name, server.conf_path),
                    text: format!("the spec adds {name} = {value}"),
                });
            }
        }
    }
}

/// The records of a pg_hba.conf text, each as its fields joined by one space.
fn hba_records(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// A pg_hba.conf record as an entry of the spec's `postgres.hba`, when the spec can say it: a
/// record with options after its method, or an address given with a separate netmask, it cannot.
fn hba_entry(record: &str) -> Option<Map> {
    let fields: Vec<&str> = record.split(' ').collect();
    let (kind, rest) = fields.split_first()?;
    let (databases, users, address, method, options) = if *kind == "local" {
        match rest {
            [d, u, m, o @ ..] => (*d, *u, None, *m, o),
            _ => return None,
        }
    } else {
        match rest {
            [d, u, a, m, o @ ..] if a.contains('/') || !a.contains('.') => {
                (*d, *u, Some(*a), *m, o)
            }
            _ => return None,
        }
    };
    if !options.is_empty() {
        return None;
    }
    let list = |text: &str| Node::Seq(text.split(',').map(Node::text).collect());
    let mut entry = Map::new();
    entry
        .set("type", Node::text(*kind))
        .set("databases", list(databases))
        .set("users", list(users));
    if let Some(address) = address {
        entry.set("address", Node::text(address));
    }
    entry.set("method", Node::text(method));
    Some(entry)
}

/// The spec of `result` loaded as `check` loads it: the render and the refusals below read it.
fn load(site: &str, result: &Postgres) -> Result<crate::load::Loaded, crate::load::Invalid> {
    let source =
        crate::source::Source::from_bytes("imported.yaml", spec_text(site, result).into_bytes())
            .map_err(|diagnostic| crate::load::Invalid {
                diagnostics: vec![*diagnostic],
            })?;
    crate::load::load(&source)
}

/// The pg_hba.conf of each server host as the spec so far renders it.
fn rendered_hba(site: &str, result: &Postgres) -> Option<BTreeMap<String, Vec<String>>> {
    let loaded = load(site, result).ok()?;
    let plan = crate::plan::plan_with(&loaded.site, &loaded.derived);
    let tree = crate::render::Renderer::new(&Default::default())
        .render(&plan, &crate::render::Secrets::none())
        .ok()?;
    Some(
        tree.files
            .iter()
            .filter(|f| f.path.ends_with("/pg_hba.conf"))
            .map(|f| (f.host.as_str().to_owned(), hba_records(&f.content)))
            .collect(),
    )
}

/// The primary's pg_hba.conf records the spec does not write: kept as `postgres.hba`
/// (`--keep-live`) where the spec can say them, and each one it does not render named.
fn hba(
    site: &str,
    servers: &[Server<'_>],
    values: Values,
    result: &mut Postgres,
    out: &mut Imported,
) {
    let live = |server: &Server<'_>| {
        server
            .host
            .file(&format!("{}/pg_hba.conf", server.config_dir))
            .map(hba_records)
            .unwrap_or_default()
    };
    if values == Values::KeepLive
        && let (Some(rendered), Some(primary)) = (
            rendered_hba(site, result),
            servers.iter().find(|s| s.standby.is_none()),
        )
    {
        let written = rendered
            .get(&primary.host.name)
            .cloned()
            .unwrap_or_default();
        let entries: Vec<Node> = live(primary)
            .iter()
            .filter(|r| !written.contains(r))
            .filter_map(|r| hba_entry(r))
            .map(Node::Map)
            .collect();
        if !entries.is_empty()
            && let Some(section) = result.section.as_mut()
        {
            section.set("hba", Node::Seq(entries));
            if rendered_hba(site, result).is_none() {
                if let Some(section) = result.section.as_mut() {
                    section.remove("hba");
                }
            } else {
                out.notes.push(Note {
                    at: format!("{}{}/pg_hba.conf", primary.host.name, primary.config_dir),
                    text: "its records the spec does not derive are kept as postgres.hba, which the spec writes after the local records and before the replication and Django ones: check that order, the first record that matches decides".to_owned(),
                });
            }
        }
    }
    let Some(rendered) = rendered_hba(site, result) else {
        return;
    };
    for server in servers {
        let written = rendered.get(&server.host.name).cloned().unwrap_or_default();
        for record in live(server).iter().filter(|r| !written.contains(r)) {
            out.notes.push(Note {
                at: format!("{}{}/pg_hba.conf", server.host.name, server.config_dir),
                text: format!(
                    "the record `{record}` is not written by the spec{}",
                    if values == Values::KeepLive {
                        " (it has options, or an address the spec cannot say: add it to postgres.hba by hand)"
                    } else {
                        " (--keep-live keeps it as postgres.hba)"
                    }
                ),
            });
        }
    }
}

/// The spec of `result` as text, for loading it back.
fn spec_text(site: &str, result: &Postgres) -> String {
    let mut top = Map::new();
    top.set("site", Node::text(site));
    top.set(
        "hosts",
        Node::Seq(result.hosts.values().cloned().map(Node::Map).collect()),
    );
    if let Some(section) = &result.section {
        top.set("postgres", Node::Map(section.clone()));
    }
    super::yaml::document(&top)
}

/// Each host's postgresql.conf settings as the spec so far renders them.
fn rendered_settings(
    site: &str,
    result: &Postgres,
    out: &mut Imported,
) -> Option<BTreeMap<String, BTreeMap<String, String>>> {
    let loaded = match load(site, result) {
        Ok(loaded) => loaded,
        Err(invalid) => {
            out.notes.push(Note {
                at: "imported.yaml".to_owned(),
                text: format!(
                    "the spec does not load yet ({} errors, `sitewright check` names them), so the settings were not compared",
                    invalid.errors()
                ),
            });
            return None;
        }
    };
    let mut settings = BTreeMap::new();
    for host in &loaded.site.hosts {
        for file in crate::plan::host_files(&loaded.site, &loaded.derived, host) {
            if let Some(conf) = &file.meta.conf {
                settings.insert(
                    host.name.as_str().to_owned(),
                    conf.written
                        .iter()
                        .map(|(k, (v, _))| (k.clone(), v.clone()))
                        .collect(),
                );
            }
        }
    }
    Some(settings)
}

/// The first `postgres_settings` entry that the spec refuses, as `(host, name)`: the key on
/// the line of an error, under a host that keeps a setting of that name.
fn refused_setting(site: &str, result: &Postgres) -> Option<(String, String)> {
    let invalid = load(site, result).err()?;
    let text = spec_text(site, result);
    let lines: Vec<&str> = text.lines().collect();
    for diagnostic in invalid
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::diagnostic::Severity::Error)
    {
        let at = lines.get(diagnostic.pos.line.checked_sub(1)?)?;
        let name = at.trim().split(':').next()?.trim().trim_matches('"');
        for (host, entry) in &result.hosts {
            if let Some(Node::Map(kept)) = entry.get("postgres_settings")
                && kept.get(name).is_some()
            {
                return Some((host.clone(), name.to_owned()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_are_read_as_libpq_reads_them() {
        let c = conninfo(
            "host=192.0.2.11 port=5432 user=replicator passfile='/etc/pg pass' application_name=db2",
        );
        assert_eq!(c["host"], "192.0.2.11");
        assert_eq!(c["user"], "replicator");
        assert_eq!(c["passfile"], "/etc/pg pass");
        assert_eq!(c["application_name"], "db2");
    }

    #[test]
    fn memory_values_are_read_in_postgresql_units() {
        assert_eq!(bytes("16GB"), Some(16 << 30));
        assert_eq!(bytes("128MB"), Some(128 << 20));
        assert_eq!(bytes("16384"), Some(16384 * 8192));
        assert_eq!(bytes("lots"), None);
        assert_eq!(size(64 << 30), "64GiB");
        assert_eq!(size(512 << 20), "512MiB");
    }
}
