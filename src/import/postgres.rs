//! The PostgreSQL part of `import`: the servers of Debian's layout
//! (/etc/postgresql/MAJOR/CLUSTER/postgresql.conf), the primary and its replicas (a
//! standby.signal or recovery.conf in the data directory), the typed fields their settings give,
//! the hosts' sizes guessed from what PGTune-like rules would have derived, and the settings the
//! spec would write otherwise, kept per host with `--keep-live`.

use std::collections::{BTreeMap, BTreeSet};

use super::{HostTree, Imported, Map, Node, Note, Values, fit};
use crate::pg_settings::conf_lines;

/// What the PostgreSQL import gives the spec.
#[derive(Default)]
pub(super) struct Postgres<'a> {
    /// The servers found, the primary among them.
    servers: Vec<Server<'a>>,
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
    /// The hosts whose address is such a placeholder: another part's file may say it.
    pub(super) placeheld: BTreeSet<String>,
}

impl Postgres<'_> {
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
    /// The file and line each setting's value comes from, for the report.
    origins: BTreeMap<String, (String, usize)>,
    /// include, include_dir and include_if_exists lines, in order.
    includes: Vec<(String, String)>,
    data_dir: String,
    /// The file that makes it a standby, when there is one.
    standby: Option<String>,
    /// Why the major is a guess, when no path or file says it.
    major_guess: Option<String>,
}

impl Server<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }

    /// `HOST/path:LINE` of setting `name`, or of postgresql.conf when no line sets it.
    fn at(&self, name: &str) -> String {
        match self.origins.get(name) {
            Some((path, line)) => format!("{}{path}:{line}", self.host.name),
            None => format!("{}{}", self.host.name, self.conf_path),
        }
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

/// The major of a postgresql.conf at `path` outside the distributions' layouts, and what says
/// it: the data directory's PG_VERSION beside it, or the first lines' `(PostgreSQL N)` (as
/// sitewright's header and many a hand-kept file say it); a guess of the newest major otherwise.
fn major_elsewhere(host: &HostTree, path: &str, text: &str) -> (u32, Option<String>) {
    let dir = path.trim_end_matches("/postgresql.conf");
    if let Some(major) = host
        .file(&format!("{dir}/PG_VERSION"))
        .and_then(|v| v.trim().parse().ok())
    {
        return (major, None);
    }
    let stated = text.lines().take(5).find_map(|l| {
        let rest = l.split("PostgreSQL ").nth(1)?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    match stated {
        Some(major) => (major, None),
        None => (
            crate::pg_settings::NEWEST_MAJOR,
            Some(format!(
                "a guess: no path, PG_VERSION or comment of {path} says the major"
            )),
        ),
    }
}

fn find(host: &HostTree) -> Option<Server<'_>> {
    let (conf_path, text, major, default_data, major_guess) = match host
        .files
        .iter()
        .find_map(|(path, text)| Some((path, text, layout(path)?)))
    {
        Some((path, text, (major, data))) => (path, text, major, data, None),
        None => {
            let (path, text) = host
                .files
                .iter()
                .find(|(path, _)| path.ends_with("/postgresql.conf"))?;
            let (major, guess) = major_elsewhere(host, path, text);
            let dir = path.trim_end_matches("/postgresql.conf").to_owned();
            (path, text, major, dir, guess)
        }
    };
    let config_dir = conf_path.trim_end_matches("/postgresql.conf").to_owned();
    let mut settings = BTreeMap::new();
    let mut origins = BTreeMap::new();
    let mut includes = Vec::new();
    for line in conf_lines(text) {
        if crate::plan::postgres::conf::is_include(&line.name) {
            includes.push((line.name, line.value));
        } else {
            origins.insert(line.name.clone(), (conf_path.clone(), line.line));
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
    let recovery = format!("{data_dir}/recovery.conf");
    if let Some(text) = host.file(&recovery) {
        for line in conf_lines(text) {
            origins.insert(line.name.clone(), (recovery.clone(), line.line));
            settings.insert(line.name, line.value);
        }
    }
    Some(Server {
        host,
        major,
        conf_path: conf_path.clone(),
        config_dir,
        settings,
        origins,
        includes,
        data_dir,
        standby,
        major_guess,
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

/// The address of a pg_hba.conf host record's address field that names one host (`/32` for
/// IPv4, `/128` for IPv6); the field as it is otherwise.
fn host_address(field: &str) -> &str {
    match field.split_once('/') {
        Some((address, "32")) if address.parse::<std::net::Ipv4Addr>().is_ok() => address,
        Some((address, "128")) if address.parse::<std::net::Ipv6Addr>().is_ok() => address,
        _ => field,
    }
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

/// The hosts' entries and the `postgres` section their servers' files state; `settle` then
/// fits what they do not state against the whole spec's render.
pub(super) fn import<'a>(site: &str, hosts: &'a [HostTree], out: &mut Imported) -> Postgres<'a> {
    let mut result = Postgres::default();
    let servers: Vec<Server<'a>> = hosts.iter().filter_map(find).collect();
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
    match &primary.major_guess {
        Some(why) => section.guess("version", Node::Int(i64::from(primary.major)), why),
        None => section.set("version", Node::Int(i64::from(primary.major))),
    };
    section
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
        // A passfile sitewright rendered without secrets says where the password comes from;
        // any other holds the password itself, which is never copied.
        let passfile = upstream
            .get("passfile")
            .cloned()
            .unwrap_or_else(|| format!("{}/replication.pgpass", primary.config_dir));
        let source = replicas
            .iter()
            .find_map(|r| r.host.file(&passfile))
            .and_then(|text| text.lines().find(|l| !l.starts_with('#')))
            .and_then(|line| line.rsplit_once(":<secret from "))
            .and_then(|(_, rest)| rest.strip_suffix('>'))
            .and_then(|rest| rest.split_once(' '))
            .filter(|(kind, _)| matches!(*kind, "env" | "file"))
            .map(|(kind, name)| (kind.to_owned(), name.to_owned()));
        let mut password = Map::new();
        match source {
            Some((kind, name)) => password.set(&kind, Node::text(name)),
            None => password.set("env", Node::text(env_name(site, "REPLICATION_PASSWORD"))),
        };
        replication.set("password", Node::Map(password));
        if let Some(passfile) = upstream.get("passfile")
            && passfile != &format!("{}/replication.pgpass", primary.config_dir)
        {
            replication.set("passfile", Node::text(passfile));
        }
        // Replicas that connect to another port than the primary's go through nginx's stream
        // forward on the primary.
        if let Some(port) = upstream
            .get("port")
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|p| Some(*p) != result.port)
        {
            replication.guess(
                "public_port",
                Node::Int(port),
                "the replicas' primary_conninfo port, which is not the primary's own: nginx forwards it",
            );
        }
        if let Some(trigger) = replicas
            .iter()
            .find_map(|r| r.get("promote_trigger_file").or(r.get("trigger_file")))
        {
            replication.set("promote_trigger_file", Node::text(trigger));
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
    // replica in by its address: the record said `# replica NAME`, or else the replication
    // records of the replicas' role, in the order of the replicas.
    let hba_lines: Vec<HbaLine> = primary
        .host
        .file(&format!("{}/pg_hba.conf", primary.config_dir))
        .map(hba_records)
        .unwrap_or_default();
    let replication_address = |line: &HbaLine| {
        let f: Vec<&str> = line.record.split(' ').collect();
        (f.len() >= 5
            && f[0].starts_with("host")
            && f[1] == "replication"
            && upstream.get("user").is_none_or(|u| u == f[2]))
        .then(|| host_address(f[3]).to_owned())
    };
    let hba_replicas: Vec<String> = hba_lines.iter().filter_map(replication_address).collect();
    let named_replica = |name: &str| {
        hba_lines
            .iter()
            .filter(|l| l.comment.as_deref() == Some(&format!("replica {name}")))
            .find_map(replication_address)
    };
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
            named_replica(&server.host.name)
                .map(|a| {
                    (
                        a,
                        format!(
                            "the primary's pg_hba.conf record `# replica {}`",
                            server.host.name
                        ),
                    )
                })
                .or_else(|| {
                    replicas
                        .iter()
                        .position(|r| r.host.name == server.host.name)
                        .and_then(|i| hba_replicas.get(i))
                        .map(|a| {
                            (
                                a.clone(),
                                "the primary's pg_hba.conf replication record, in the replicas' order"
                                    .to_owned(),
                            )
                        })
                })
                .filter(|(h, _)| h.parse::<std::net::IpAddr>().is_ok())
        };
        match known {
            Some((address, from)) => {
                entry.guess("address", Node::text(address), format!("from {from}"));
            }
            None => {
                placeholder += 1;
                result.placeheld.insert(server.host.name.clone());
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
    result.servers = servers;
    result
}

/// The host memories (in bytes) that `server`'s memory settings imply under `workload`, as
/// PGTune derives them from it: shared_buffers' first, then effective_cache_size's and
/// maintenance_work_mem's (when under its 8GB cap); each once, whole MiB only.
fn memory_candidates(server: &Server<'_>, workload: &str) -> Vec<u64> {
    let desktop = workload == "desktop";
    let setting = |name: &str| server.get(name).and_then(bytes);
    let mut out: Vec<u64> = Vec::new();
    let implied = [
        setting("shared_buffers").map(|b| b * if desktop { 16 } else { 4 }),
        setting("effective_cache_size").map(|b| if desktop { b * 4 } else { b * 4 / 3 }),
        setting("maintenance_work_mem")
            .filter(|b| *b < 8 << 30)
            .map(|b| b * if workload == "dw" { 8 } else { 16 }),
    ];
    for memory in implied.into_iter().flatten() {
        if memory > 0 && memory.is_multiple_of(1 << 20) && !out.contains(&memory) {
            out.push(memory);
        }
    }
    out
}

/// The workloads a site may name, the default first.
const WORKLOADS: [&str; 5] = ["web", "oltp", "mixed", "dw", "desktop"];
/// The storage kinds a host may have.
const STORAGE: [&str; 4] = ["ssd", "nvme", "hdd", "san"];

/// Fits to the live files what the servers' files do not state outright, in the whole spec
/// `top` (the other services change what PostgreSQL derives: a stream forward its
/// listen_addresses, Django its pg_hba records): the workload and each host's storage whose
/// derived settings match the most live lines, the replicas' statement_timeout, then the
/// settings and pg_hba records the spec would still change, kept (`--keep-live`) or named.
pub(super) fn settle(
    top: &mut Map,
    pg: &Postgres<'_>,
    hosts: &[HostTree],
    values: Values,
    out: &mut Imported,
) {
    replication_without_replicas(top, pg);
    placeholder_addresses(top, pg, hosts);
    let conf_lines = |files: &fit::Files, server: &Server<'_>| {
        fit::common_lines(files, server.host, &server.conf_path)
    };
    // A host's memory is guessed from shared_buffers, which is a share of it that depends on
    // the workload: each workload is tried with the memory it implies.
    let workload_memory = |top: &mut Map, workload: &str| {
        for server in &pg.servers {
            let factor = if workload == "desktop" { 16 } else { 4 };
            if let Some(shared) = server.get("shared_buffers")
                && let Some(b) = bytes(shared)
                && let Some(entry) = fit::host_mut(top, &server.host.name)
            {
                entry.replace_guess(
                    "memory",
                    Node::text(size(b * factor)),
                    format!(
                        "{factor} x shared_buffers ({shared}): the share of memory a {workload} workload gives PostgreSQL"
                    ),
                );
            }
        }
    };
    let mut chosen = "web";
    if let Some((workload, score)) = fit::best(
        top,
        &WORKLOADS,
        |top, w| {
            workload_memory(top, w);
            match *w {
                "web" => {
                    if let Some(Node::Map(section)) = top.get_mut("postgres") {
                        section.remove("workload");
                    }
                }
                w => top.set_path(&["postgres", "workload"], Node::text(w)),
            }
        },
        |files| pg.servers.iter().map(|s| conf_lines(files, s)).sum(),
    ) && workload != "web"
        && let Some(Node::Map(section)) = top.get_mut("postgres")
    {
        chosen = workload;
        section.remove("workload");
        section.guess(
            "workload",
            Node::text(workload),
            format!("the workload whose derived settings match the most live lines ({score})"),
        );
    }
    // shared_buffers may be kept at another value than the derived one: the other memory
    // settings derived from the host's memory say it too, and the one whose render matches the
    // most live lines is kept.
    for server in &pg.servers {
        let name = server.host.name.as_str();
        let candidates: Vec<u64> = memory_candidates(server, chosen);
        if candidates.len() < 2 {
            continue;
        }
        if let Some((memory, _)) = fit::best(
            top,
            &candidates,
            |top, memory| {
                if let Some(entry) = fit::host_mut(top, name) {
                    entry.replace("memory", Node::text(size(*memory)));
                }
            },
            |files| conf_lines(files, server),
        ) && Some(&memory) != candidates.first()
            && let Some(entry) = fit::host_mut(top, name)
        {
            entry.replace_guess(
                "memory",
                Node::text(size(memory)),
                "the memory whose derived settings match the most live lines (effective_cache_size, maintenance_work_mem)",
            );
        }
    }
    for server in &pg.servers {
        let name = server.host.name.as_str();
        let Some(Node::Text(guessed)) = fit::host_mut(top, name)
            .and_then(|e| e.get("storage"))
            .cloned()
        else {
            continue;
        };
        let mut kinds = vec![guessed.as_str()];
        kinds.extend(STORAGE.iter().filter(|k| **k != guessed));
        if let Some((kind, _)) = fit::best(
            top,
            &kinds,
            |top, kind| {
                if let Some(entry) = fit::host_mut(top, name) {
                    entry.replace("storage", Node::text(*kind));
                }
            },
            |files| conf_lines(files, server),
        ) && kind != guessed
            && let Some(entry) = fit::host_mut(top, name)
        {
            entry.replace_guess(
                "storage",
                Node::text(kind),
                "the storage whose derived settings match the live ones (random_page_cost, effective_io_concurrency)",
            );
        }
    }
    // A host of fewer than 4 cpus gets no parallel settings, and a standby's
    // max_worker_processes is then its primary's: without max_parallel_workers, a few cpus are
    // tried too (1 to 3 render alike).
    for server in &pg.servers {
        let name = server.host.name.as_str();
        let Some(Node::Int(guessed)) = fit::host_mut(top, name)
            .and_then(|e| e.get("cpus"))
            .cloned()
        else {
            continue;
        };
        if server.get("max_parallel_workers").is_some() || guessed < 4 {
            continue;
        }
        if let Some((cpus, _)) = fit::best(
            top,
            &[guessed, 2],
            |top, cpus| {
                if let Some(entry) = fit::host_mut(top, name) {
                    entry.replace("cpus", Node::Int(*cpus));
                }
            },
            |files| conf_lines(files, server),
        ) && cpus != guessed
            && let Some(entry) = fit::host_mut(top, name)
        {
            entry.replace_guess(
                "cpus",
                Node::Int(cpus),
                "fewer than 4: no parallel settings are written (max_worker_processes is the primary's); 1 to 3 render alike",
            );
        }
    }
    derived_wal_keep(top, pg);
    replica_statement_timeout(top, pg);
    client_addresses(top, pg);
    keep_live(top, pg, values, out);
}

/// The address of each host that has a placeholder one (no server of its own says it), from
/// the primary's pg_hba.conf: the record the spec derives for the host (Django on it) is found
/// in the live file by its comment and fields, and its address is the host's.
fn client_addresses(top: &mut Map, pg: &Postgres<'_>) {
    let Some(primary) = pg.servers.iter().find(|s| s.standby.is_none()) else {
        return;
    };
    let live = primary
        .host
        .file(&format!("{}/pg_hba.conf", primary.config_dir))
        .map(hba_records)
        .unwrap_or_default();
    let names: Vec<String> = match top.get("hosts") {
        Some(Node::Seq(hosts)) => hosts
            .iter()
            .filter_map(|h| match h {
                Node::Map(entry) if !pg.hosts.contains_key(&text_of(entry.get("name"))) => {
                    Some(text_of(entry.get("name")))
                }
                _ => None,
            })
            .collect(),
        _ => return,
    };
    for name in names {
        let Some(Node::Text(placeholder)) = fit::host_mut(top, &name)
            .and_then(|e| e.get("address"))
            .cloned()
        else {
            continue;
        };
        let Some(rendered) = rendered_hba(top) else {
            return;
        };
        let found = rendered
            .get(&primary.host.name)
            .into_iter()
            .flatten()
            .filter_map(|ours| {
                let fields: Vec<&str> = ours.record.split(' ').collect();
                let at = fields
                    .iter()
                    .position(|f| f.split('/').next() == Some(placeholder.as_str()))?;
                live.iter().find_map(|theirs| {
                    let other: Vec<&str> = theirs.record.split(' ').collect();
                    let alike = theirs.comment == ours.comment
                        && other.len() == fields.len()
                        && other
                            .iter()
                            .zip(&fields)
                            .enumerate()
                            .all(|(i, (a, b))| i == at || a == b);
                    alike.then(|| other[at].split('/').next().unwrap_or("").to_owned())
                })
            })
            .find(|a| a.parse::<std::net::IpAddr>().is_ok());
        if let (Some(address), Some(entry)) = (found, fit::host_mut(top, &name)) {
            entry.replace_guess(
                "address",
                Node::text(address),
                "from the primary's pg_hba.conf: the record the spec derives for this host",
            );
        }
    }
}

/// The text of a node that holds one, or nothing.
fn text_of(node: Option<&Node>) -> String {
    match node {
        Some(Node::Text(text)) => text.clone(),
        _ => String::new(),
    }
}

/// The address of each server host that still has a placeholder, from the addresses the live
/// files hold that no host has yet (a Django module's HOST, a certificate's name in a
/// connection string): the one whose render matches the most lines of all the live files, if it
/// matches more than the placeholder.
fn placeholder_addresses(top: &mut Map, pg: &Postgres<'_>, hosts: &[HostTree]) {
    let taken: BTreeSet<String> = match top.get("hosts") {
        Some(Node::Seq(entries)) => entries
            .iter()
            .filter_map(|e| match e {
                Node::Map(entry) => Some(text_of(entry.get("address"))),
                _ => None,
            })
            .collect(),
        _ => return,
    };
    let mut candidates: Vec<String> = Vec::new();
    for text in hosts.iter().flat_map(|h| h.files.values()) {
        for word in text.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':')) {
            let word = word.trim_matches(':');
            if let Ok(ip) = word.parse::<std::net::IpAddr>()
                && !ip.is_loopback()
                && !ip.is_unspecified()
                && !taken.contains(word)
                && !candidates.iter().any(|c| c == word)
            {
                candidates.push(word.to_owned());
            }
        }
    }
    if candidates.is_empty() {
        return;
    }
    let all_lines = |files: &fit::Files| -> usize {
        hosts
            .iter()
            .flat_map(|h| h.files.keys().map(move |p| (h, p)))
            .map(|(h, p)| fit::common_lines(files, h, p))
            .sum()
    };
    for name in &pg.placeheld {
        let Some(Node::Text(placeholder)) = fit::host_mut(top, name)
            .and_then(|e| e.get("address"))
            .cloned()
        else {
            continue;
        };
        let mut tried = vec![placeholder.clone()];
        tried.extend(candidates.iter().cloned());
        if let Some((address, _)) = fit::best(
            top,
            &tried,
            |top, address| {
                if let Some(entry) = fit::host_mut(top, name) {
                    entry.replace("address", Node::text(address));
                }
            },
            all_lines,
        ) && address != placeholder
            && let Some(entry) = fit::host_mut(top, name)
        {
            entry.replace_guess(
                "address",
                Node::text(&address),
                "the address in the live files whose render matches them the most",
            );
            candidates.retain(|c| *c != address);
        }
    }
}

/// A `replication` section another part began (nginx's stream forward gives `public_port`) on a
/// site without replicas: the role is the one the primary's pg_hba.conf lets replicate, and its
/// password an environment variable.
fn replication_without_replicas(top: &mut Map, pg: &Postgres<'_>) {
    let site = text_of(top.get("site"));
    let Some(Node::Map(section)) = top.get_mut("postgres") else {
        return;
    };
    let Some(Node::Map(replication)) = section.get_mut("replication") else {
        return;
    };
    if replication.get("user").is_some() {
        return;
    }
    let user = pg
        .servers
        .iter()
        .find(|s| s.standby.is_none())
        .and_then(|p| p.host.file(&format!("{}/pg_hba.conf", p.config_dir)))
        .map(hba_records)
        .unwrap_or_default()
        .into_iter()
        .find_map(|line| {
            let fields: Vec<&str> = line.record.split(' ').collect();
            (fields.len() >= 3 && fields[0] != "local" && fields[1] == "replication")
                .then(|| fields[2].to_owned())
        });
    let mut first = Map::new();
    match user {
        Some(user) => first.guess(
            "user",
            Node::text(user),
            "the role the primary's pg_hba.conf lets replicate",
        ),
        None => first.guess(
            "user",
            Node::text("replicator"),
            "a placeholder: no pg_hba.conf record lets a role replicate",
        ),
    };
    let mut password = Map::new();
    password.set("env", Node::text(env_name(&site, "REPLICATION_PASSWORD")));
    first.set("password", Node::Map(password));
    for (key, value) in replication.entries() {
        first.set(key, value.clone());
    }
    *replication = first;
}

/// `replication.wal_keep` left out when the spec derives the live value by itself (1GB on a
/// site with replicas and no archive): the render that matches the most live lines says which.
fn derived_wal_keep(top: &mut Map, pg: &Postgres<'_>) {
    let Some(Node::Map(section)) = top.get("postgres") else {
        return;
    };
    let Some(Node::Map(replication)) = section.get("replication") else {
        return;
    };
    if replication.get("wal_keep").is_none() {
        return;
    }
    let with = top.clone();
    let mut without = top.clone();
    if let Some(Node::Map(section)) = without.get_mut("postgres")
        && let Some(Node::Map(replication)) = section.get_mut("replication")
    {
        replication.remove("wal_keep");
    }
    let score = |spec: &Map| {
        fit::render(spec).map(|files| {
            pg.servers
                .iter()
                .map(|s| fit::common_lines(&files, s.host, &s.conf_path))
                .sum::<usize>()
        })
    };
    if let (Some(kept), Some(derived)) = (score(&with), score(&without))
        && derived > kept
    {
        *top = without;
    }
}

/// `statement_timeout` set alike on every replica and not on the primary is the spec's
/// `replica_statement_timeout`.
fn replica_statement_timeout(top: &mut Map, pg: &Postgres<'_>) {
    let (replicas, primaries): (Vec<&Server<'_>>, Vec<&Server<'_>>) =
        pg.servers.iter().partition(|s| s.standby.is_some());
    let Some(first) = replicas.first().and_then(|r| r.get("statement_timeout")) else {
        return;
    };
    if replicas
        .iter()
        .all(|r| r.get("statement_timeout") == Some(first))
        && primaries
            .iter()
            .all(|p| p.get("statement_timeout").is_none())
        && first != "0"
    {
        top.set_path(
            &["postgres", "replica_statement_timeout"],
            Node::text(first),
        );
        if fit::load(top).is_err()
            && let Some(Node::Map(section)) = top.get_mut("postgres")
        {
            section.remove("replica_statement_timeout");
        }
    }
}

/// The settings whose value the spec would change: kept (`--keep-live`), or said in the
/// report. A setting every server keeps with one value is the site's `postgres.settings`, the
/// others each host's `postgres_settings`.
fn keep_live(top: &mut Map, pg: &Postgres<'_>, values: Values, out: &mut Imported) {
    let Some(rendered) = rendered_settings(top, out) else {
        return;
    };
    let mut kept: BTreeMap<String, Map> = BTreeMap::new();
    for server in &pg.servers {
        let Some(written) = rendered.get(&server.host.name) else {
            continue;
        };
        for (name, live) in &server.settings {
            if written.get(name).is_some_and(|w| same_value(w, live)) {
                continue;
            }
            match values {
                Values::KeepLive => {
                    kept.entry(server.host.name.clone())
                        .or_default()
                        .set(name, setting_node(live));
                }
                Values::Derived => out.notes.push(Note {
                    at: server.at(name),
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
    }
    // What every server keeps alike is the site's.
    let mut site_wide = Map::new();
    if kept.len() == pg.servers.len()
        && let Some(first) = kept.values().next()
    {
        for (name, value) in first.entries() {
            if kept.values().all(|m| m.get(name) == Some(value)) {
                site_wide.set(name, value.clone());
            }
        }
    }
    for (host, settings) in &mut kept {
        for (name, _) in site_wide.entries() {
            settings.remove(name);
        }
        if !settings.is_empty()
            && let Some(entry) = fit::host_mut(top, host)
        {
            entry.set("postgres_settings", Node::Map(settings.clone()));
        }
    }
    if !site_wide.is_empty() {
        top.set_path(&["postgres", "settings"], Node::Map(site_wide));
    }
    // A setting the spec owns through a typed field is refused in the settings: such a one is
    // taken out, one at a time, and said.
    for _ in 0..64 {
        let Some((at, name)) = refused_setting(top) else {
            break;
        };
        let server = pg
            .servers
            .iter()
            .find(|s| s.host.name == at)
            .or_else(|| pg.servers.iter().find(|s| s.standby.is_none()));
        out.notes.push(Note {
            at: server.map_or_else(|| at.clone(), |s| s.at(&name)),
            text: format!(
                "{name}: its live value is not kept, the spec sets it from a typed field or refuses it (see `sitewright check`)"
            ),
        });
        remove_setting(top, &at, &name);
    }
    prune(top, pg);
    host_placed(top, pg);
    hba(top, pg, values, out);
    // What the spec adds, from the spec as written: the settings kept above change what it
    // derives (work_mem from max_connections).
    let Some(rendered) = rendered_settings(top, out) else {
        return;
    };
    for server in &pg.servers {
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

/// Takes out each kept setting that the spec now derives with its live value: one derived from
/// another kept one (work_mem from a kept max_connections) was different only before.
fn prune(top: &mut Map, pg: &Postgres<'_>) {
    let mut kept: Vec<(String, String)> = Vec::new();
    if let Some(Node::Map(section)) = top.get("postgres")
        && let Some(Node::Map(settings)) = section.get("settings")
    {
        kept.extend(
            settings
                .entries()
                .map(|(n, _)| ("postgres".to_owned(), n.to_owned())),
        );
    }
    for server in &pg.servers {
        if let Some(Node::Map(settings)) = fit::host_mut(top, &server.host.name)
            .and_then(|e| e.get("postgres_settings"))
            .cloned()
        {
            kept.extend(
                settings
                    .entries()
                    .map(|(n, _)| (server.host.name.clone(), n.to_owned())),
            );
        }
    }
    for (at, name) in kept {
        let mut without = top.clone();
        remove_setting(&mut without, &at, &name);
        let Some(rendered) = rendered_settings(&without, &mut Imported::default()) else {
            continue;
        };
        let derived_alike = pg
            .servers
            .iter()
            .filter(|s| at == "postgres" || s.host.name == at)
            .all(|s| {
                match (
                    s.get(&name),
                    rendered.get(&s.host.name).and_then(|w| w.get(&name)),
                ) {
                    (Some(live), Some(written)) => same_value(live, written),
                    _ => false,
                }
            });
        // Kept where the spec writes it, a setting may also stand elsewhere with another
        // comment than the derived one (max_wal_senders = 0 set beside wal_level = minimal): it
        // goes only when the render without it matches as many live lines.
        if derived_alike && lines_alike(top, &without, pg) {
            *top = without;
        }
    }
}

/// A site-wide kept setting that a host's live postgresql.conf has after the site's settings
/// (where a host's own `postgres_settings` go) is that host's too: tried on each server whose
/// render is not yet its live file, and kept where its render comes closer. A setting every
/// server then holds is no longer the site's.
fn host_placed(top: &mut Map, pg: &Postgres<'_>) {
    let site_wide: Vec<(String, Node)> = match top.get("postgres") {
        Some(Node::Map(section)) => match section.get("settings") {
            Some(Node::Map(settings)) => settings
                .entries()
                .map(|(n, v)| (n.to_owned(), v.clone()))
                .collect(),
            _ => return,
        },
        _ => return,
    };
    let closeness = |files: &fit::Files, server: &Server<'_>| {
        fit::closeness(files, server.host, &server.conf_path)
    };
    let Some(mut files) = fit::render(top) else {
        return;
    };
    let exact = |files: &fit::Files, server: &Server<'_>| {
        files.get(&(server.host.name.clone(), server.conf_path.clone()))
            == server.host.files.get(&server.conf_path)
    };
    for server in &pg.servers {
        let name = server.host.name.as_str();
        for (setting, value) in &site_wide {
            if exact(&files, server) {
                break;
            }
            let before = closeness(&files, server);
            let mut moved = top.clone();
            let Some(entry) = fit::host_mut(&mut moved, name) else {
                continue;
            };
            if entry.get("postgres_settings").is_none() {
                entry.set("postgres_settings", Node::Map(Map::new()));
            }
            if let Some(Node::Map(own)) = entry.get_mut("postgres_settings") {
                if own.get(setting).is_some() {
                    continue;
                }
                own.set(setting, value.clone());
            }
            if let Some(after) = fit::render(&moved)
                && closeness(&after, server) > before
            {
                *top = moved;
                files = after;
            }
        }
    }
    // What every server holds itself is no longer the site's.
    for (setting, _) in &site_wide {
        let everywhere = pg.servers.iter().all(|s| {
            fit::host_mut(top, &s.host.name)
                .and_then(|e| e.get("postgres_settings"))
                .is_some_and(|own| matches!(own, Node::Map(m) if m.get(setting).is_some()))
        });
        if everywhere {
            remove_setting(top, "postgres", setting);
        }
    }
}

/// Whether `without` renders at least as many of the servers' live postgresql.conf lines as
/// `with`.
fn lines_alike(with: &Map, without: &Map, pg: &Postgres<'_>) -> bool {
    let score = |spec: &Map| {
        fit::render(spec).map(|files| {
            pg.servers
                .iter()
                .map(|s| fit::common_lines(&files, s.host, &s.conf_path))
                .sum::<usize>()
        })
    };
    match (score(with), score(without)) {
        (Some(with), Some(without)) => without >= with,
        _ => true,
    }
}

/// Takes setting `name` out of host `at`'s `postgres_settings`, or out of the site's
/// `postgres.settings` when `at` is `postgres`.
fn remove_setting(top: &mut Map, at: &str, name: &str) {
    let holder = if at == "postgres" {
        match top.get_mut("postgres") {
            Some(Node::Map(section)) => Some(section),
            _ => None,
        }
    } else {
        fit::host_mut(top, at)
    };
    let Some(holder) = holder else { return };
    let key = if at == "postgres" {
        "settings"
    } else {
        "postgres_settings"
    };
    if let Some(Node::Map(settings)) = holder.get_mut(key) {
        settings.remove(name);
        if settings.is_empty() {
            holder.remove(key);
        }
    }
}

/// One pg_hba.conf record: its fields joined by one space, and the comment line above it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HbaLine {
    record: String,
    comment: Option<String>,
}

/// The records of a pg_hba.conf text, each with the comment line right above it (not the
/// `# TYPE DATABASE ...` header).
fn hba_records(text: &str) -> Vec<HbaLine> {
    let mut out = Vec::new();
    let mut comment = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(c) = trimmed.strip_prefix('#') {
            let c = c.trim();
            comment = (!c.is_empty() && !c.starts_with("TYPE")).then(|| c.to_owned());
            continue;
        }
        let record = trimmed
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if record.is_empty() {
            comment = None;
            continue;
        }
        out.push(HbaLine {
            record,
            comment: comment.take(),
        });
    }
    out
}

/// A pg_hba.conf record as an entry of the spec's `postgres.hba`, when the spec can say it: a
/// record with options after its method, or an address given with a separate netmask, it cannot.
fn hba_entry(line: &HbaLine) -> Option<Map> {
    let fields: Vec<&str> = line.record.split(' ').collect();
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
    if let Some(comment) = line.comment.as_deref().filter(|c| *c != "from the spec") {
        entry.set("comment", Node::text(comment));
    }
    Some(entry)
}

/// The pg_hba.conf records of each server host as `top` renders them.
fn rendered_hba(top: &Map) -> Option<BTreeMap<String, Vec<HbaLine>>> {
    Some(
        fit::render(top)?
            .iter()
            .filter(|((_, path), _)| path.ends_with("/pg_hba.conf"))
            .map(|((host, _), text)| (host.clone(), hba_records(text)))
            .collect(),
    )
}

/// The primary's pg_hba.conf records the spec does not derive: kept as `postgres.hba`
/// (`--keep-live`) where the spec can say them, the local records the spec adds by itself
/// replaced when the live file lacks them; each record the spec does not render is named.
fn hba(top: &mut Map, pg: &Postgres<'_>, values: Values, out: &mut Imported) {
    let live = |server: &Server<'_>| {
        server
            .host
            .file(&format!("{}/pg_hba.conf", server.config_dir))
            .map(hba_records)
            .unwrap_or_default()
    };
    let primary = pg.servers.iter().find(|s| s.standby.is_none());
    if values == Values::KeepLive
        && let (Some(derived), Some(primary)) = (rendered_hba(top), primary)
    {
        let derived = derived.get(&primary.host.name).cloned().unwrap_or_default();
        let records = live(primary);
        let path = format!("{}/pg_hba.conf", primary.config_dir);
        // `keep`: the spec's records between the local ones it adds and the ones it derives;
        // `replace`: every record but the derived ones is the spec's, the local ones too.
        let keep: Vec<&HbaLine> = records.iter().filter(|r| !derived.contains(r)).collect();
        let replace: Vec<&HbaLine> = records
            .iter()
            .filter(|r| !derived.contains(r) || r.record.starts_with("local "))
            .collect();
        let mut candidates = Vec::new();
        for (mode, lines) in [("keep", keep), ("replace", replace)] {
            let entries: Vec<Node> = lines
                .iter()
                .filter_map(|r| hba_entry(r))
                .map(Node::Map)
                .collect();
            if !entries.is_empty() || mode == "keep" {
                candidates.push((mode, entries));
            }
        }
        let before = top.clone();
        let fitted = fit::best(
            top,
            &candidates,
            |top, (mode, entries)| {
                if let Some(Node::Map(section)) = top.get_mut("postgres") {
                    section.remove("hba");
                    section.remove("hba_local");
                    if *mode == "replace" {
                        section.set("hba_local", Node::text("replace"));
                    }
                    if !entries.is_empty() {
                        section.set("hba", Node::Seq(entries.clone()));
                    }
                }
            },
            |files| fit::closeness(files, primary.host, &path),
        );
        match fitted {
            Some((_, _)) if top.get("postgres").is_some_and(|p| match p {
                Node::Map(section) => section.get("hba").is_some(),
                _ => false,
            }) => out.notes.push(Note {
                at: format!("{}{path}", primary.host.name),
                text: "its records the spec does not derive are kept as postgres.hba, which the spec writes after the local records and before the replication and Django ones: check that order, the first record that matches decides".to_owned(),
            }),
            Some(_) => {}
            None => *top = before,
        }
    }
    let Some(rendered) = rendered_hba(top) else {
        return;
    };
    for server in &pg.servers {
        let written: Vec<String> = rendered
            .get(&server.host.name)
            .into_iter()
            .flatten()
            .map(|l| l.record.clone())
            .collect();
        for line in live(server).iter().filter(|l| !written.contains(&l.record)) {
            out.notes.push(Note {
                at: format!("{}{}/pg_hba.conf", server.host.name, server.config_dir),
                text: format!(
                    "the record `{}` is not written by the spec{}",
                    line.record,
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

/// Each host's postgresql.conf settings as `top` renders them.
fn rendered_settings(
    top: &Map,
    out: &mut Imported,
) -> Option<BTreeMap<String, BTreeMap<String, String>>> {
    let loaded = match fit::load(top) {
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

/// The first kept setting that the spec refuses, as `(holder, name)`: the key on the line of
/// an error, under a host's `postgres_settings` (the host's name) or the site's
/// `postgres.settings` (`postgres`).
fn refused_setting(top: &Map) -> Option<(String, String)> {
    let invalid = fit::load(top).err()?;
    let text = crate::yaml::document(top);
    let lines: Vec<&str> = text.lines().collect();
    let holders = || {
        let hosts = match top.get("hosts") {
            Some(Node::Seq(hosts)) => hosts.as_slice(),
            _ => &[],
        };
        let mut out: Vec<(String, &Map)> = hosts
            .iter()
            .filter_map(|h| match h {
                Node::Map(entry) => match (entry.get("name"), entry.get("postgres_settings")) {
                    (Some(Node::Text(name)), Some(Node::Map(kept))) => Some((name.clone(), kept)),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        if let Some(Node::Map(section)) = top.get("postgres")
            && let Some(Node::Map(kept)) = section.get("settings")
        {
            out.push(("postgres".to_owned(), kept));
        }
        out
    };
    for diagnostic in invalid
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::diagnostic::Severity::Error)
    {
        let at = lines.get(diagnostic.pos.line.checked_sub(1)?)?;
        let name = at.trim().split(':').next()?.trim().trim_matches('"');
        if let Some((holder, _)) = holders()
            .into_iter()
            .find(|(_, kept)| kept.get(name).is_some())
        {
            return Some((holder, name.to_owned()));
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
    fn a_hosts_memory_is_implied_by_its_workloads_shares() {
        let host = HostTree {
            name: "db1".to_owned(),
            files: BTreeMap::from([(
                "/etc/postgresql/16/main/postgresql.conf".to_owned(),
                "shared_buffers = 384MB\neffective_cache_size = 1536MB\nmaintenance_work_mem = 384MB\n"
                    .to_owned(),
            )]),
            unread: BTreeMap::new(),
        };
        let server = find(&host).unwrap();
        // desktop: 1/16, 25% and 1/16 of 6GB, all alike.
        assert_eq!(memory_candidates(&server, "desktop"), vec![6 << 30]);
        // web: shared_buffers says 1536MB, effective_cache_size 2GB, maintenance_work_mem 6GB.
        assert_eq!(
            memory_candidates(&server, "web"),
            vec![1536 << 20, 2 << 30, 6 << 30]
        );
    }

    /// The PostgreSQL files of `spec`'s render, imported with `--keep-live` and rendered again.
    fn round_trip(spec: &str) -> (String, Vec<(String, String)>) {
        let rendered = crate::import::testing::render(spec).unwrap();
        let mut hosts: BTreeMap<String, HostTree> = BTreeMap::new();
        for ((host, path), text) in &rendered {
            hosts
                .entry(host.clone())
                .or_insert_with(|| HostTree {
                    name: host.clone(),
                    ..HostTree::default()
                })
                .files
                .insert(path.clone(), text.clone());
        }
        let hosts: Vec<HostTree> = hosts.into_values().collect();
        let imported = super::super::import("s", &hosts, Values::KeepLive);
        let again = crate::import::testing::render(&imported.spec)
            .unwrap_or_else(|e| panic!("{e}\n{}", imported.spec));
        let differing = rendered
            .iter()
            .filter(|((_, path), _)| path.contains("postgresql"))
            .filter(|(key, text)| again.get(key) != Some(text))
            .map(|(key, _)| key.clone())
            .collect();
        (imported.spec, differing)
    }

    #[test]
    fn a_desktop_site_with_ipv6_replicas_round_trips() {
        let (spec, differing) = round_trip(
            "site: s
hosts:
  - { name: db1, address: 2001:db8::b, memory: 6GiB, cpus: 16, storage: ssd, roles: [postgres-primary] }
  - { name: db2, address: 2001:db8::c, memory: 12GiB, cpus: 2, storage: ssd, roles: [postgres-replica], postgres_settings: { log_min_duration_statement: 250ms } }
postgres:
  version: 16
  data_directory: /var/lib/postgresql/16/main
  config_directory: /etc/postgresql/16/main
  plain_text: accepted
  workload: desktop
  replication:
    user: replicator
    password: { env: REPLICATION_PASSWORD }
  settings:
    log_min_duration_statement: 250ms
    max_connections: 50
",
        );
        assert_eq!(differing, Vec::<(String, String)>::new(), "{spec}");
        // 1/16 of the memory is shared_buffers on a desktop; the derived 1GB is not a wal_keep.
        assert!(spec.contains("memory: 6GiB"), "{spec}");
        assert!(spec.contains("memory: 12GiB"), "{spec}");
        assert!(!spec.contains("wal_keep"), "{spec}");
    }

    #[test]
    fn a_host_record_names_its_host_in_ipv4_and_ipv6() {
        assert_eq!(host_address("192.0.2.12/32"), "192.0.2.12");
        assert_eq!(host_address("2001:db8::d/128"), "2001:db8::d");
        assert_eq!(host_address("2001:db8::/64"), "2001:db8::/64");
        assert_eq!(host_address("192.0.2.0/24"), "192.0.2.0/24");
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
