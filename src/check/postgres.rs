//! Rules of the PostgreSQL cluster: its roles, its settings against the major's table, what the
//! major can do, and what the rendered postgresql.conf of each host will say.

use super::role_positions;
use crate::diagnostic::{Diagnostic, Pos, Severity};
use crate::pg_settings::{Major, PromoteFile};
use crate::plan::Derived;
use crate::plan::postgres::conf::{REPLICA_TYPED_SETTINGS, is_include, typed_setting};
use crate::rules::Rule;
use crate::source::Document;
use crate::spec::{HbaMethod, HbaType, Host, PlainText, Postgres, Role, Site};
use crate::units::ByteSize;

/// Words pg_hba.conf reads as keywords in its database and user columns, not as names.
const HBA_KEYWORDS: &[&str] = &["all", "sameuser", "samerole", "samegroup", "replication"];

pub(super) fn check(site: &Site, doc: &Document, derived: &Derived, out: &mut Vec<Diagnostic>) {
    postgres(site, doc, out);
    names(site, doc, out);
    versions(site, doc, out);
    // Rules about the rendered files hold only for a cluster without errors of its own.
    if !out.iter().any(|d| d.severity == Severity::Error) {
        cluster(site, doc, derived, out);
    }
}

fn postgres(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let primaries = role_positions(site, doc, Role::PostgresPrimary);
    let replicas = role_positions(site, doc, Role::PostgresReplica);
    let Some(pg) = &site.postgres else {
        for pos in primaries.iter().chain(&replicas) {
            out.push(
                Diagnostic::error(
                    *pos,
                    "this host has a PostgreSQL role but the spec has no `postgres:` section",
                )
                .rule(Rule::PG002),
            );
        }
        return;
    };
    match primaries.as_slice() {
        [] => out.push(
            Diagnostic::error(
                doc.key_pos("/postgres"),
                "`postgres:` needs exactly one host with the postgres-primary role; none has it",
            )
            .rule(Rule::PG003),
        ),
        [_] => {}
        [_, rest @ ..] => {
            for pos in rest {
                out.push(
                    Diagnostic::error(*pos, "a second postgres-primary: a site has exactly one")
                        .rule(Rule::PG003),
                );
            }
        }
    }
    if !replicas.is_empty() && pg.replication.is_none() {
        out.push(
            Diagnostic::error(
                doc.key_pos("/postgres"),
                "the site has replicas but `postgres.replication` is missing: add the replication user and its password",
            )
            .rule(Rule::PG004),
        );
    }
    if let Some(public) = pg.replication.as_ref().and_then(|r| r.public_port)
        && public == pg.port
    {
        out.push(
            Diagnostic::error(
                doc.value_pos("/postgres/replication/public_port"),
                format!("nginx cannot forward port {public} to PostgreSQL listening on the same port; pick another public port"),
            )
            .rule(Rule::PG005),
        );
    }
    settings_table(site, pg, doc, out);
    includes(site, pg, doc, out);
    tls(site, pg, doc, out);
    if let Some(django) = &site.django
        && let Some(host) = &django.database.host
    {
        let pos = doc.value_pos("/django/database/host");
        match site.host(host.as_str()) {
            None => out.push(
                Diagnostic::error(pos, format!("no host is named `{host}`")).rule(Rule::DJ001),
            ),
            Some(h) if !h.has(Role::PostgresPrimary) && !h.has(Role::PostgresReplica) => out.push(
                Diagnostic::error(pos, format!("host `{host}` runs no PostgreSQL"))
                    .rule(Rule::DJ001),
            ),
            Some(_) => {}
        }
    }
    if let (Some(nginx), Some(public)) = (
        &site.nginx,
        pg.replication.as_ref().and_then(|r| r.public_port),
    ) {
        for (i, forward) in nginx.stream.iter().enumerate() {
            if forward.listen == public {
                out.push(
                    Diagnostic::error(
                        doc.value_pos(&format!("/nginx/stream/{i}/listen")),
                        format!("port {public} is already postgres.replication.public_port"),
                    )
                    .rule(Rule::NGX001),
                );
            }
        }
    }
}

/// One include directive of the spec: where it is, which directive, and the path it reads on the
/// host (a relative one resolved against the config directory, as PostgreSQL does).
struct Include {
    pointer: String,
    directive: &'static str,
    path: String,
}

/// The include directives: a file read twice (PG031), postgresql.conf read within itself or a
/// file sitewright writes in another syntax read as settings (PG032), and included files kept
/// in the data directory while postgresql.conf is kept outside it (PG033).
fn includes(site: &Site, pg: &Postgres, doc: &Document, out: &mut Vec<Diagnostic>) {
    let config = pg.config_directory();
    let conf_dir = config.as_str().trim_end_matches('/');
    let data = pg.data_directory.as_str().trim_end_matches('/');
    let mut entries: Vec<Include> = Vec::new();
    if let Some(dir) = &pg.include_dir {
        entries.push(Include {
            pointer: "/postgres/include_dir".to_owned(),
            directive: "include_dir",
            path: dir.resolved(config),
        });
    }
    for (directive, files) in [
        ("include", &pg.include),
        ("include_if_exists", &pg.include_if_exists),
    ] {
        for (i, file) in files.iter().enumerate() {
            entries.push(Include {
                pointer: format!("/postgres/{directive}/{i}"),
                directive,
                path: file.resolved(config),
            });
        }
    }
    // The files sitewright writes that the server must not read as settings.
    let mut own: Vec<(String, &str)> = vec![
        (
            format!("{conf_dir}/postgresql.conf"),
            "postgresql.conf itself, which PostgreSQL refuses to read within itself (\"configuration file recursion\") and so does not start",
        ),
        (
            format!("{conf_dir}/pg_hba.conf"),
            "pg_hba.conf, which sitewright writes in another syntax: PostgreSQL cannot read it as settings and does not start",
        ),
    ];
    let replicas = site.hosts_with(Role::PostgresReplica).next().is_some();
    if replicas && pg.replication.is_some() {
        own.push((
            crate::plan::postgres::passfile_path(pg),
            "the replication passfile, which sitewright writes in another syntax: PostgreSQL cannot read it as settings and does not start",
        ));
    }
    if site.django.is_some() {
        own.push((
            format!("{conf_dir}/sitewright-role-defaults.sql"),
            "the role defaults SQL, which PostgreSQL cannot read as settings and so does not start",
        ));
    }
    if Major(pg.version).standby() == crate::pg_settings::Standby::RecoveryConf && replicas {
        own.push((
            format!("{data}/recovery.conf"),
            "recovery.conf, whose standby settings PostgreSQL 11 refuses in postgresql.conf, and so does not start",
        ));
    }
    let separate = data != conf_dir;
    for (n, entry) in entries.iter().enumerate() {
        let at = doc.value_pos(&entry.pointer);
        if entry.directive == "include_dir" && entry.path == conf_dir {
            out.push(
                Diagnostic::error(
                    at,
                    format!("{} is the config directory: PostgreSQL would read postgresql.conf itself from it, which it refuses (\"configuration file recursion\"), and would not start; name a folder of its own, such as conf.d", entry.path),
                )
                .rule(Rule::PG032),
            );
        }
        if entry.directive != "include_dir"
            && let Some((_, what)) = own.iter().find(|(path, _)| *path == entry.path)
        {
            out.push(Diagnostic::error(at, format!("{} is {what}", entry.path)).rule(Rule::PG032));
            // Read twice or not, the file must go: PG032 says all there is to say.
            continue;
        }
        // A file read before: named earlier, or a `.conf` file of the folder include_dir reads.
        let earlier = entries[..n]
            .iter()
            .find(|e| e.path == entry.path)
            .or_else(|| {
                entries[..n].iter().find(|e| {
                    // An include_dir that is the config directory is PG032's already.
                    e.directive == "include_dir"
                        && e.path != conf_dir
                        && entry.directive != "include_dir"
                        && entry.path.rsplit_once('/').is_some_and(|(folder, name)| {
                            folder == e.path && name.ends_with(".conf") && !name.starts_with('.')
                        })
                })
            });
        if let Some(e) = earlier {
            let how = if e.path == entry.path {
                format!("{} names it already", e.directive)
            } else {
                format!(
                    "include_dir reads it already, as a `.conf` file of {}",
                    e.path
                )
            };
            out.push(
                Diagnostic::warning(
                    at,
                    format!(
                        "PostgreSQL reads {} again here: {how}, and its last reading is the one that counts; name it once",
                        entry.path
                    ),
                )
                .rule(Rule::PG031)
                .also(doc.value_pos(&e.pointer)),
            );
        }
        if separate && (entry.path == data || entry.path.starts_with(&format!("{data}/"))) {
            out.push(
                Diagnostic::warning(
                    at,
                    format!(
                        "{} is in the data directory {data}, while postgresql.conf is kept in {conf_dir}: pg_basebackup copies the primary's files to each replica it makes, replacing the replica's own, and a new data directory (initdb, pg_upgrade) starts without them; keep it beside postgresql.conf",
                        entry.path
                    ),
                )
                .rule(Rule::PG033),
            );
        }
    }
}

/// How the clients on other hosts reach PostgreSQL: verified TLS, or a warning that the
/// certificate is not verified (PG029), or plain text only where the spec says it accepts it (PG030).
fn tls(site: &Site, pg: &Postgres, doc: &Document, out: &mut Vec<Diagnostic>) {
    let clients = network_clients(site, pg);
    match (&pg.ssl, pg.plain_text) {
        (Some(_), Some(PlainText::Accepted)) => out.push(
            Diagnostic::error(
                doc.value_pos("/postgres/plain_text"),
                "`plain_text: accepted` while postgres.ssl is set: the connections use SSL; remove one of the two",
            )
            .rule(Rule::PG030),
        ),
        (Some(ssl), None) if ssl.ca.is_none() && !clients.is_empty() => out.push(
            Diagnostic::warning(
                doc.key_pos("/postgres/ssl"),
                format!(
                    "{} connect{} with sslmode=require, which encrypts but trusts any server certificate: add `ca:` here, the CA certificate that signed the server certificates, for sslmode=verify-full",
                    some_of(&clients),
                    if clients.len() == 1 { "s" } else { "" }
                ),
            )
            .rule(Rule::PG029),
        ),
        (None, None) if !clients.is_empty() => out.push(
            Diagnostic::error(
                doc.key_pos("/postgres"),
                format!(
                    "{} reach{} PostgreSQL over the network in plain text: add postgres.ssl (the server's cert and key, and the `ca` that signed them), or write `plain_text: accepted` under postgres if that is what the site wants",
                    some_of(&clients),
                    if clients.len() == 1 { "es" } else { "" }
                ),
            )
            .rule(Rule::PG030),
        ),
        _ => {}
    }
}

/// Who reaches PostgreSQL from another host: the replicas, and Django on a web host whose
/// databases are elsewhere. A server on a loopback address is reached without leaving the
/// machine (a site laid out on one machine for testing), so its clients do not count.
fn network_clients(site: &Site, pg: &Postgres) -> Vec<String> {
    let mut out = Vec::new();
    let networked = |h: &Host| !h.address.ip().is_loopback();
    if pg.replication.is_some()
        && site
            .hosts_with(Role::PostgresPrimary)
            .next()
            .is_some_and(networked)
    {
        out.extend(
            site.hosts_with(Role::PostgresReplica)
                .map(|h| format!("replica {}", h.name)),
        );
    }
    if let Some(django) = &site.django {
        for web in site.hosts_with(Role::Web) {
            if crate::plan::django::targets(site, django, web)
                .iter()
                .any(|(_, target, _)| target.name != web.name && networked(target))
            {
                out.push(format!("Django on {}", web.name));
            }
        }
    }
    out
}

/// The first three of `names`, and how many more.
fn some_of(names: &[String]) -> String {
    match names {
        [one] => one.clone(),
        [first @ .., last] if names.len() <= 3 => format!("{} and {last}", first.join(", ")),
        _ => format!("{} and {} more", names[..3].join(", "), names.len() - 3),
    }
}

/// The spec's own settings against the settings table of its major: the name, then the value.
fn settings_table(site: &Site, pg: &Postgres, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(table) = crate::pg_settings::table(pg.version) else {
        return;
    };
    let site_wide = pg
        .settings
        .iter()
        .map(|(n, v)| (n, v, format!("/postgres/settings/{n}")));
    let per_host = site.hosts.iter().enumerate().flat_map(|(i, h)| {
        h.postgres_settings
            .iter()
            .map(move |(n, v)| (n, v, format!("/hosts/{i}/postgres_settings/{n}")))
    });
    for (name, value, pointer) in site_wide.chain(per_host) {
        if name.contains('.') {
            // Extension settings are the extension's to check.
            continue;
        }
        // A name this major does not have falls to PG012, which says what the major uses instead:
        // promote_trigger_file on 16 has no typed field to send the user to. The include
        // directives are no settings of any major's table, but lines their typed fields write.
        if let Some(field) =
            typed_setting(name).filter(|_| table.get(name).is_some() || is_include(name))
        {
            out.push(
                Diagnostic::error(
                    doc.key_pos(&pointer),
                    format!("`{name}` is written from {field}: set it there, not in settings"),
                )
                .rule(Rule::PG006),
            );
            continue;
        }
        let replica_typed = REPLICA_TYPED_SETTINGS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        if let Some((_, field)) = replica_typed
            && pg.replica_statement_timeout.is_some()
        {
            let host = pointer
                .strip_prefix("/hosts/")
                .and_then(|rest| rest.split('/').next())
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| site.hosts.get(i));
            // The primary's own timeout is the user's; a replica's is the typed field's.
            if host.is_none_or(|h| h.has(Role::PostgresReplica))
                && site.hosts_with(Role::PostgresReplica).next().is_some()
            {
                let instead = if host.is_none() {
                    "; give the primary its own in hosts[].postgres_settings"
                } else {
                    ""
                };
                out.push(
                    Diagnostic::error(
                        doc.key_pos(&pointer),
                        format!("`{name}` is written on replicas from {field}: set it there, not in settings{instead}"),
                    )
                    .rule(Rule::PG006),
                );
                continue;
            }
        }
        match table.get(name) {
            None => match crate::pg_settings::other_name(pg.version, name) {
                Some(other) => match table.accepted_elsewhere(other, value) {
                    Ok(message) => {
                        out.push(
                            Diagnostic::warning(doc.key_pos(&pointer), message).rule(Rule::PG027),
                        );
                        let new = other.alias_of.and_then(|n| table.get(n));
                        if let Some(Err(message)) = new.map(|def| def.check(value, pg.version)) {
                            out.push(
                                Diagnostic::error(doc.value_pos(&pointer), message)
                                    .rule(Rule::PG013),
                            );
                        }
                    }
                    Err(message) => out.push(
                        Diagnostic::error(doc.value_pos(&pointer), message).rule(Rule::PG013),
                    ),
                },
                None => out.push(
                    Diagnostic::error(doc.key_pos(&pointer), table.unknown(name)).rule(Rule::PG012),
                ),
            },
            Some(def) => {
                if let Err(message) = def.check(value, pg.version) {
                    out.push(Diagnostic::error(doc.value_pos(&pointer), message).rule(Rule::PG013));
                }
            }
        }
    }
}

/// What the spec's PostgreSQL major cannot do, and pg_hba.conf records that cannot work.
fn versions(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(pg) = &site.postgres else { return };
    let major = Major(pg.version);
    if let Some(replication) = &pg.replication
        && replication.promote_trigger_file.is_some()
        && major.promote_file() == PromoteFile::Removed
    {
        out.push(
            Diagnostic::error(
                doc.key_pos("/postgres/replication/promote_trigger_file"),
                format!("PostgreSQL {major} has no promote_trigger_file (removed in 16): promote with `pg_ctl promote` or `SELECT pg_promote()`, and remove this key"),
            )
            .rule(Rule::PG008),
        );
    }
    if let Some(timeout) = pg.replica_statement_timeout
        && (timeout.whole_millis().is_none() || timeout.whole_millis() == Some(0))
    {
        out.push(
            Diagnostic::error(
                doc.value_pos("/postgres/replica_statement_timeout"),
                "statement_timeout counts whole milliseconds, and 0 turns it off: give 1ms or more",
            )
            .rule(Rule::PG011),
        );
    }
    for (i, record) in pg.hba.iter().enumerate() {
        let at = |key: &str| doc.value_pos(&format!("/postgres/hba/{i}/{key}"));
        let gss = matches!(record.kind, HbaType::Hostgssenc | HbaType::Hostnogssenc);
        if gss && !major.has_gssenc_records() {
            out.push(
                Diagnostic::error(
                    at("type"),
                    format!("PostgreSQL {major} has no GSSAPI-encrypted records (from 12)"),
                )
                .rule(Rule::PG009),
            );
        }
        let local = record.kind == HbaType::Local;
        match (&record.address, local) {
            (Some(_), true) => out.push(
                Diagnostic::error(
                    at("address"),
                    "a local record has no address: it matches Unix-socket connections",
                )
                .rule(Rule::PG010),
            ),
            (None, false) => out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/postgres/hba/{i}")),
                    "this record needs an address: a CIDR block such as 192.0.2.0/24, or all",
                )
                .rule(Rule::PG010),
            ),
            _ => {}
        }
        if record.kind == HbaType::Hostssl && pg.ssl.is_none() {
            out.push(
                Diagnostic::error(
                    at("type"),
                    "a hostssl record cannot match while SSL is off (PostgreSQL logs `hostssl record cannot match because SSL is disabled` and never uses it): add postgres.ssl with the server's cert and key, or make this record `host`",
                )
                .rule(Rule::PG026),
            );
        }
        if record.method == HbaMethod::Cert && record.kind != HbaType::Hostssl {
            out.push(
                Diagnostic::error(at("method"), "cert authentication needs a hostssl record")
                    .rule(Rule::PG010),
            );
        }
        if record.method == HbaMethod::Peer && !local {
            out.push(
                Diagnostic::error(
                    at("method"),
                    "peer authentication works only on local records; use scram-sha-256 over TCP",
                )
                .rule(Rule::PG010),
            );
        }
    }
}

/// Role and database names that pg_hba.conf would read as keywords.
fn names(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let replication = site
        .postgres
        .as_ref()
        .and_then(|p| p.replication.as_ref())
        .map(|r| ("/postgres/replication/user", r.user.as_str()));
    let django = site.django.as_ref().map(|d| &d.database);
    let named = replication
        .into_iter()
        .chain(django.map(|d| ("/django/database/user", d.user.as_str())))
        .chain(django.map(|d| ("/django/database/name", d.name.as_str())));
    for (pointer, name) in named {
        if HBA_KEYWORDS.contains(&name) {
            out.push(
                Diagnostic::error(
                    doc.value_pos(pointer),
                    format!("`{name}` is a pg_hba.conf keyword, so it cannot name a role or database there; choose another name"),
                )
                .rule(Rule::PG007),
            );
        }
    }
}

/// A host's postgresql.conf as the plan writes it: each setting's value and, when the spec set it
/// as given, the pointer of that value.
struct Effective<'a> {
    conf: &'a crate::plan::postgres::conf::Conf,
}

impl<'a> Effective<'a> {
    /// The settings the plan worked out for `host`, which it writes too.
    fn of(site: &Site, derived: &'a Derived, host: &Host) -> Option<Self> {
        derived.conf(site, host).map(|conf| Self { conf })
    }

    fn get(&self, name: &str) -> Option<&'a crate::plan::Setting> {
        self.conf
            .postgresql
            .iter()
            .chain(&self.conf.recovery)
            .rev()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(crate::plan::Setting::text)
    }

    /// A whole-number setting, or the server's default for it.
    fn number(&self, name: &str, default: u64) -> u64 {
        self.text(name)
            .and_then(|t| t.parse().ok())
            .unwrap_or(default)
    }

    /// A memory setting in bytes, read with the setting's unit from the major's table.
    fn bytes(&self, name: &str, major: u32) -> Option<u64> {
        let text = self.text(name)?;
        if let Ok(size) = ByteSize::parse(&text) {
            return Some(size.bytes());
        }
        let count: u64 = text.parse().ok()?;
        let unit = crate::pg_settings::table(major)?.get(name)?.unit;
        let factor = match unit {
            "8kB" => 8192,
            "kB" => 1024,
            "MB" => 1024 * 1024,
            _ => 1,
        };
        Some(count * factor)
    }

    /// Where the spec says this setting, or else where the host is.
    fn pos(&self, name: &str, doc: &Document, host_pointer: &str) -> Pos {
        match self.get(name).and_then(|s| s.from_spec.as_deref()) {
            Some(pointer) => doc.value_pos(pointer),
            None => doc.value_pos(host_pointer),
        }
    }
}

fn is_on(text: Option<String>) -> bool {
    text.is_some_and(|t| matches!(t.to_ascii_lowercase().as_str(), "on" | "true" | "yes" | "1"))
}

/// Constraints between settings that the server checks only when it starts, and refuses to start
/// when they fail: the messages quote the server's.
fn start_constraints(pg: &Postgres, server: &Server, doc: &Document, out: &mut Vec<Diagnostic>) {
    let ours = &server.conf;
    let mut error = |setting: &str, message: String| {
        out.push(
            Diagnostic::error(server.pos(setting, doc), message)
                .rule(Rule::PG028)
                .on(server.host.name.as_str()),
        );
    };
    let minimal = ours
        .text("wal_level")
        .is_some_and(|l| l.eq_ignore_ascii_case("minimal"));
    let senders = ours.number("max_wal_senders", 10);
    if minimal && senders > 0 && !server.host.has(Role::PostgresReplica) {
        error(
            "max_wal_senders",
            format!(
                "PostgreSQL does not start with max_wal_senders {senders} and wal_level minimal (\"WAL streaming requires wal_level replica or logical\"): set max_wal_senders to 0, or wal_level to replica"
            ),
        );
    }
    if minimal && is_on(ours.text("archive_mode")) {
        error(
            "wal_level",
            "PostgreSQL does not start with archive_mode on and wal_level minimal (\"WAL archival cannot be enabled when wal_level is minimal\"): use wal_level replica, or remove postgres.archive".to_owned(),
        );
    }
    // Connections kept back from ordinary clients must leave at least one for them; on 11 the WAL
    // senders come out of max_connections too.
    let connections = ours.number("max_connections", 100);
    let superusers = ours.number("superuser_reserved_connections", 3);
    let major = Major(pg.version);
    let reserved = if major.has_reserved_connections() {
        ours.number("reserved_connections", 0)
    } else {
        0
    };
    let wal = if major.wal_senders_use_connections() {
        senders
    } else {
        0
    };
    if superusers + reserved + wal >= connections {
        let mut parts = vec![format!("superuser_reserved_connections {superusers}")];
        if major.has_reserved_connections() {
            parts.push(format!("reserved_connections {reserved}"));
        }
        if major.wal_senders_use_connections() {
            parts.push(format!("max_wal_senders {senders} (on PostgreSQL 11)"));
        }
        let at = if ours
            .get("max_connections")
            .is_some_and(|s| s.from_spec.is_some())
        {
            "max_connections"
        } else {
            "superuser_reserved_connections"
        };
        error(
            at,
            format!(
                "PostgreSQL does not start: {} must be less than max_connections {connections}; make max_connections {} or more",
                parts.join(" plus "),
                superusers + reserved + wal + 1
            ),
        );
    }
}

/// Settings a standby must have at least as high as its primary, with the server's defaults.
const STANDBY_FLOORS: &[(&str, u64)] = &[
    ("max_connections", 100),
    ("max_prepared_transactions", 0),
    ("max_locks_per_transaction", 64),
    ("max_wal_senders", 10),
    ("max_worker_processes", 8),
];

/// A PostgreSQL server of the site with its postgresql.conf as the plan writes it, planned once
/// for all the rules below.
struct Server<'a> {
    host: &'a Host,
    /// The pointer of the host's name: where a problem of a setting the spec did not write is shown.
    pointer: String,
    conf: Effective<'a>,
}

impl Server<'_> {
    /// Where the spec says `setting` for this server, or else the host.
    fn pos(&self, setting: &str, doc: &Document) -> Pos {
        self.conf.pos(setting, doc, &self.pointer)
    }
}

/// Rules about what the rendered postgresql.conf of each host will say.
pub(super) fn cluster(site: &Site, doc: &Document, derived: &Derived, out: &mut Vec<Diagnostic>) {
    let Some(pg) = &site.postgres else { return };
    let servers: Vec<Server> = site
        .hosts
        .iter()
        .enumerate()
        .filter_map(|(index, host)| {
            Some(Server {
                host,
                pointer: format!("/hosts/{index}/name"),
                conf: Effective::of(site, derived, host)?,
            })
        })
        .collect();
    let Some(primary) = servers.iter().find(|s| s.host.has(Role::PostgresPrimary)) else {
        return;
    };
    let replicas: Vec<&Server> = servers
        .iter()
        .filter(|s| s.host.has(Role::PostgresReplica))
        .collect();
    if !replicas.is_empty() {
        replication(pg, primary, replicas.len(), doc, out);
    }
    for server in &servers {
        start_constraints(pg, server, doc, out);
    }
    for replica in &replicas {
        standby(pg, primary, replica, doc, out);
    }
    for server in &servers {
        memory(pg, server, doc, out);
    }
}

/// What the primary of a site with `replicas` needs to feed them: WAL senders, WAL with enough in
/// it, and WAL kept for a replica that was down.
fn replication(
    pg: &Postgres,
    primary: &Server,
    replicas: usize,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let mut on_primary = |d: Diagnostic| out.push(d.on(primary.host.name.as_str()));
    let senders = primary.conf.number("max_wal_senders", 10);
    let needed = replicas as u64 + 2;
    if senders < needed {
        on_primary(
            Diagnostic::error(
                primary.pos("max_wal_senders", doc),
                format!("max_wal_senders is {senders}: {replicas} replica(s) and a base backup need at least {needed}"),
            )
            .rule(Rule::PG018),
        );
    }
    if primary
        .conf
        .text("wal_level")
        .is_some_and(|l| l.eq_ignore_ascii_case("minimal"))
    {
        on_primary(
            Diagnostic::error(
                primary.pos("wal_level", doc),
                "wal_level minimal writes too little WAL for streaming replicas: use replica",
            )
            .rule(Rule::PG019),
        );
    }
    // Without either, the plan keeps 1GB itself; only a smaller value the spec wrote warns.
    let kept = pg.replication.as_ref().and_then(|r| r.wal_keep);
    if let Some(kept) = kept
        && pg.archive.is_none()
        && kept.bytes() < 1 << 30
    {
        on_primary(
            Diagnostic::warning(
                doc.value_pos("/postgres/replication/wal_keep"),
                format!("no WAL archive, no replication slot, and {kept} of WAL kept: a replica down for long must be rebuilt; set postgres.replication.wal_keep to 1GB or more, or set postgres.archive"),
            )
            .rule(Rule::PG023),
        );
    }
}

/// A standby against its primary: settings it needs at least as high, and hot_standby where it
/// serves reads.
fn standby(
    pg: &Postgres,
    primary: &Server,
    replica: &Server,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let mut on_replica = |d: Diagnostic| out.push(d.on(replica.host.name.as_str()));
    for (name, default) in STANDBY_FLOORS {
        let (mine, primary_value) = (
            replica.conf.number(name, *default),
            primary.conf.number(name, *default),
        );
        if mine < primary_value {
            on_replica(
                Diagnostic::error(
                    replica.pos(name, doc),
                    format!("{name} is {mine} on standby {} but {primary_value} on its primary {}: a standby needs at least its primary's", replica.host.name, primary.host.name),
                )
                .rule(Rule::PG017)
                .also(primary.pos(name, doc)),
            );
        }
    }
    let serves_reads = replica.host.has(Role::Web) || pg.replica_statement_timeout.is_some();
    if serves_reads && !is_on(replica.conf.text("hot_standby").or(Some("on".into()))) {
        on_replica(
            Diagnostic::error(
                replica.pos("hot_standby", doc),
                format!(
                    "{} serves read-only queries, which hot_standby off refuses",
                    replica.host.name
                ),
            )
            .rule(Rule::PG020),
        );
    }
}

/// Memory a server's settings ask for against the host's: shared_buffers, and work_mem for
/// every connection at once.
fn memory(pg: &Postgres, server: &Server, doc: &Document, out: &mut Vec<Diagnostic>) {
    let (host, effective) = (server.host, &server.conf);
    let mut on_host = |d: Diagnostic| out.push(d.on(host.name.as_str()));
    let memory = host.memory.bytes();
    if let Some(shared) = effective.bytes("shared_buffers", pg.version)
        && shared * 10 > memory * 4
    {
        on_host(
            Diagnostic::warning(
                server.pos("shared_buffers", doc),
                format!(
                    "shared_buffers {} is over 40% of {}'s {}",
                    ByteSize::from_bytes(shared),
                    host.name,
                    host.memory
                ),
            )
            .rule(Rule::PG024),
        );
    }
    let connections = effective.number("max_connections", 100);
    if let Some(work) = effective.bytes("work_mem", pg.version)
        && work.saturating_mul(connections) > memory
    {
        // The plan keeps its own work_mem within memory, so one of the two is the spec's:
        // point at the one the user wrote, and name it.
        let written = |name: &str| effective.get(name).and_then(|s| s.from_spec.clone());
        let (at, change) = match (written("work_mem"), written("max_connections")) {
            (Some(p), _) => (p, "lower work_mem"),
            (None, Some(p)) => (p, "lower max_connections"),
            (None, None) => (server.pointer.clone(), "give the host more memory"),
        };
        on_host(
            Diagnostic::warning(
                doc.value_pos(&at),
                format!(
                    "work_mem {} times max_connections {connections} is {}, more than {}'s {}: {change} ({})",
                    ByteSize::from_bytes(work),
                    ByteSize::from_bytes(work.saturating_mul(connections)),
                    host.name,
                    host.memory,
                    crate::explain::dotted(&at)
                ),
            )
            .rule(Rule::PG025),
        );
    }
}
