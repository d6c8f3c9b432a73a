//! PostgreSQL files: postgresql.conf and pg_hba.conf on every server; on replicas the standby
//! marker (standby.signal, or recovery.conf on 11) and the passfile; on the primary the SQL of
//! Django's role defaults and the nightly pg_dump's cron entry.

pub mod conf;
pub(crate) mod hba;
pub(crate) mod tune;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::{
    ConfSettings, Derived, Fact, Facts, FileMeta, Mask, Mode, OnChange, Origin, PlannedFile,
    SecretForm, SecretSlot, Service, SettingLine,
};
use crate::pg_settings::{Major, Standby};
use crate::spec::{Host, Postgres, Role, Site};

/// What Django expects of its connections; with the role's defaults set, it sends no extra
/// queries when it connects.
const DJANGO_ROLE_DEFAULTS: [(&str, &str); 3] = [
    ("client_encoding", "UTF8"),
    ("default_transaction_isolation", "read committed"),
    ("timezone", "UTC"),
];

/// The header of every PostgreSQL file: which site, host and server it belongs to.
#[derive(Serialize)]
struct Header<'a> {
    site: &'a str,
    host: &'a str,
    role: &'static str,
    version: u32,
}

#[derive(Serialize)]
struct ConfContext<'a> {
    #[serde(flatten)]
    header: Header<'a>,
    settings: Vec<SettingLine>,
}

/// postgresql.conf: its settings, then the include directives, read last.
#[derive(Serialize)]
struct PostgresqlConfContext<'a> {
    #[serde(flatten)]
    header: Header<'a>,
    settings: Vec<SettingLine>,
    includes: Vec<SettingLine>,
}

#[derive(Serialize)]
struct HbaContext<'a> {
    #[serde(flatten)]
    header: Header<'a>,
    records: Vec<HbaLine>,
}

/// One pg_hba.conf record: every field a fact of the record's one origin.
#[derive(Serialize)]
struct HbaLine {
    kind: Fact<&'static str>,
    databases: Fact<Vec<String>>,
    users: Fact<Vec<String>>,
    address: Option<Fact<String>>,
    method: Fact<&'static str>,
    why: String,
}

#[derive(Serialize)]
struct PassfileContext<'a> {
    site: &'a str,
    address: Fact<String>,
    port: Fact<u16>,
    user: Fact<&'a str>,
}

#[derive(Serialize)]
struct RoleDefaultsContext<'a> {
    site: &'a str,
    role: Fact<&'a str>,
    defaults: Vec<RoleDefault>,
}

#[derive(Serialize)]
struct RoleDefault {
    name: &'static str,
    value: Fact<&'static str>,
}

#[derive(Serialize)]
struct CronContext<'a> {
    site: &'a str,
    shell: Fact<&'static str>,
    schedule: Fact<&'a str>,
    port: Fact<u16>,
    dump_options: Fact<&'static str>,
    exclude: Fact<Vec<&'a str>>,
    database: Fact<&'a str>,
    directory: Fact<&'a str>,
}

pub(super) fn files(site: &Site, derived: &Derived, host: &Host) -> Vec<PlannedFile> {
    let (Some(pg), Some(conf)) = (&site.postgres, derived.conf(site, host)) else {
        return Vec::new();
    };
    let replica = host.has(Role::PostgresReplica);
    let primary = host.has(Role::PostgresPrimary);
    let header = || Header {
        site: &site.site,
        host: host.name.as_str(),
        role: if replica { "replica" } else { "primary" },
        version: pg.version,
    };
    let mut out = vec![
        postgresql_conf(host, pg, header(), &conf.postgresql, &conf.includes),
        pg_hba(derived.hba(site), host, pg, header()),
    ];
    if replica {
        out.push(standby(host, pg, header(), &conf.recovery));
        if let Some(passfile) = passfile(site, host, pg) {
            out.push(passfile);
        }
    }
    if primary {
        out.extend(role_defaults(site, host, pg));
        out.extend(backup(site, host, pg));
    }
    out
}

fn meta(mode: Mode, on_change: OnChange) -> FileMeta {
    FileMeta::new(mode, "postgres", Service::Postgresql, on_change)
}

fn postgresql_conf(
    host: &Host,
    pg: &Postgres,
    header: Header,
    settings: &[super::Setting],
    includes: &[super::Setting],
) -> PlannedFile {
    let major = pg.version;
    // A later line of one name wins, as PostgreSQL reads the file.
    let written: BTreeMap<String, (String, OnChange)> = settings
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                (s.text(), ConfSettings::effect(major, &s.name)),
            )
        })
        .collect();
    let mut facts = Facts::default();
    let settings = SettingLine::record(settings, &mut facts, |name| {
        written.get(name).map(|(_, effect)| *effect)
    });
    // The server reads the included files again on a reload; each of their settings then takes
    // what it takes.
    let lines = SettingLine::record(includes, &mut facts, |_| Some(OnChange::Reload));
    let includes = includes
        .iter()
        .map(|s| (s.name.clone(), s.text()))
        .collect();
    let mut meta = meta(Mode::PUBLIC, OnChange::Restart);
    meta.conf = Some(Arc::new(ConfSettings {
        major,
        written,
        includes,
    }));
    PlannedFile::new(
        &host.name,
        format!("{}/postgresql.conf", pg.config_directory()),
        "postgres/postgresql.conf.pgconf",
        &PostgresqlConfContext {
            header,
            settings,
            includes: lines,
        },
        facts,
        meta,
    )
}

fn pg_hba(records: &[hba::Record], host: &Host, pg: &Postgres, header: Header) -> PlannedFile {
    let mut facts = Facts::default();
    let records = records
        .iter()
        .cloned()
        .map(|r| {
            let spec = match (r.spec_index, r.kind) {
                (Some(i), _) => Some(format!("/postgres/hba/{i}")),
                (None, "local") => None,
                (None, _) if r.databases.iter().any(|d| d == "replication") => {
                    Some("/postgres/replication".to_owned())
                }
                (None, _) => Some("/django/database".to_owned()),
            };
            let origin = match (spec, r.spec_index) {
                (Some(pointer), Some(_)) => Origin::spec(pointer).because(r.why.clone()),
                (Some(pointer), None) => Origin::derived(Some(&pointer), r.why.clone()),
                (None, _) => Origin::default(r.why.clone()),
            };
            let kind = facts.add(r.kind, r.kind, origin);
            HbaLine {
                databases: kind.sibling(r.databases),
                users: kind.sibling(r.users),
                address: r.address.map(|a| kind.sibling(a)),
                method: kind.sibling(r.method),
                kind,
                why: r.why,
            }
        })
        .collect();
    PlannedFile::new(
        &host.name,
        format!("{}/pg_hba.conf", pg.config_directory()),
        "postgres/pg_hba.conf.pghba",
        &HbaContext { header, records },
        facts,
        meta(Mode::GROUP, OnChange::Reload),
    )
}

/// What makes a server start as a replica: an empty standby.signal, or recovery.conf on 11.
fn standby(host: &Host, pg: &Postgres, header: Header, settings: &[super::Setting]) -> PlannedFile {
    let meta = meta(Mode::PRIVATE, OnChange::Restart);
    let mut facts = Facts::default();
    match Major(pg.version).standby() {
        Standby::SignalFile => PlannedFile::new(
            &host.name,
            format!("{}/standby.signal", pg.data_directory),
            "postgres/standby.signal.txt",
            &header,
            facts,
            meta,
        ),
        Standby::RecoveryConf => {
            let settings = SettingLine::record(settings, &mut facts, |_| None);
            PlannedFile::new(
                &host.name,
                format!("{}/recovery.conf", pg.data_directory),
                "postgres/recovery.conf.pgconf",
                &ConfContext { header, settings },
                facts,
                meta,
            )
        }
    }
}

/// The replica's passfile, which primary_conninfo names; its password is a secret slot.
fn passfile(site: &Site, host: &Host, pg: &Postgres) -> Option<PlannedFile> {
    let replication = pg.replication.as_ref()?;
    let (address, port) = upstream(site, pg);
    let mut facts = Facts::default();
    let forwarded = replication.public_port.is_some();
    let context = PassfileContext {
        site: &site.site,
        address: facts.add(
            "address",
            address,
            Origin::derived(Some("/hosts"), "the primary's address"),
        ),
        port: facts.add(
            "port",
            port,
            if forwarded {
                Origin::spec("/postgres/replication/public_port")
                    .because("nginx's stream forward on the primary")
            } else {
                Origin::spec("/postgres/port")
            },
        ),
        user: facts.add(
            "user",
            replication.user.as_str(),
            Origin::spec("/postgres/replication/user"),
        ),
    };
    let mut meta = meta(Mode::PRIVATE, OnChange::Nothing);
    meta.mask = Mask::PassfilePassword;
    let mut file = PlannedFile::new(
        &host.name,
        passfile_path(pg),
        "postgres/replication.pgpass",
        &context,
        facts,
        meta,
    );
    file.secrets.push(SecretSlot {
        key: "password".to_owned(),
        secret: replication.password.clone(),
        form: SecretForm::Plain,
    });
    Some(file)
}

/// The SQL that sets the defaults Django expects on its role, applied with psql.
fn role_defaults(site: &Site, host: &Host, pg: &Postgres) -> Option<PlannedFile> {
    let django = site.django.as_ref()?;
    let path = format!("{}/sitewright-role-defaults.sql", pg.config_directory());
    let mut facts = Facts::default();
    let context = RoleDefaultsContext {
        site: &site.site,
        role: facts.add(
            "role",
            django.database.user.as_str(),
            Origin::spec("/django/database/user"),
        ),
        defaults: DJANGO_ROLE_DEFAULTS
            .iter()
            .map(|(name, value)| RoleDefault {
                name,
                value: facts.add(
                    name,
                    *value,
                    Origin::default(
                        "what Django expects of its connections: with it set, Django sends no extra query when it connects",
                    ),
                ),
            })
            .collect(),
    };
    let mut meta = meta(Mode::PUBLIC, OnChange::Apply);
    meta.apply = Some(format!("psql -f {path}"));
    Some(PlannedFile::new(
        &host.name,
        path,
        "postgres/role-defaults.sql",
        &context,
        facts,
        meta,
    ))
}

/// The nightly pg_dump's cron entry.
fn backup(site: &Site, host: &Host, pg: &Postgres) -> Option<PlannedFile> {
    let backup = pg.backup.as_ref()?;
    let mut facts = Facts::default();
    let context = CronContext {
        site: &site.site,
        shell: facts.add(
            "SHELL",
            "/bin/sh",
            Origin::default("the shell cron runs the job with, the same on every distribution"),
        ),
        schedule: facts.add(
            "schedule",
            backup.schedule.as_str(),
            Origin::spec("/postgres/backup/schedule"),
        ),
        // The port picks the server, and the socket file it is named after: without it
        // pg_dump would reach 5432 whatever postgres.port says.
        port: facts.add(
            "pg_dump",
            pg.port.0,
            Origin::spec("/postgres/port")
                .because("pg_dump reaches the server by the socket its port names"),
        ),
        dump_options: facts.add(
            "pg_dump",
            "--clean",
            Origin::default("the dump drops each object before it creates it, so it restores over an existing database"),
        ),
        exclude: facts.add(
            "pg_dump",
            backup.exclude_tables.iter().map(|t| t.as_str()).collect(),
            Origin::spec("/postgres/backup/exclude_tables"),
        ),
        database: facts.add(
            "pg_dump",
            backup.database.as_str(),
            Origin::spec("/postgres/backup/database"),
        ),
        directory: facts.add(
            "pg_dump",
            backup.directory.as_str().trim_end_matches('/'),
            Origin::spec("/postgres/backup/directory"),
        ),
    };
    Some(PlannedFile::new(
        &host.name,
        format!("/etc/cron.d/sitewright-{}-pg-dump", site.site),
        "postgres/pg-dump.cron",
        &context,
        facts,
        FileMeta::new(Mode::PUBLIC, "root", Service::Postgresql, OnChange::Nothing),
    ))
}

/// The shared_buffers of `host` in bytes, when its PostgreSQL uses System V shared memory.
pub(crate) fn sysv_shared_buffers(site: &Site, derived: &Derived, host: &Host) -> Option<u64> {
    let pg = site.postgres.as_ref()?;
    let sysv = matches!(
        pg.settings.get("shared_memory_type"),
        Some(crate::spec::SettingValue::Text(t)) if t.eq_ignore_ascii_case("sysv")
    );
    if !sysv || !(host.has(Role::PostgresPrimary) || host.has(Role::PostgresReplica)) {
        return None;
    }
    let value = derived
        .conf(site, host)?
        .postgresql
        .iter()
        .rev()
        .find(|s| s.name == "shared_buffers")?;
    match &value.value {
        serde_json::Value::String(text) => {
            crate::units::ByteSize::parse(text).ok().map(|b| b.bytes())
        }
        serde_json::Value::Number(n) => n.as_u64().map(|blocks| blocks * 8192),
        _ => None,
    }
}

pub(crate) fn passfile_path(pg: &Postgres) -> String {
    pg.replication
        .as_ref()
        .and_then(|r| r.passfile.as_ref())
        .map(|p| p.to_string())
        .unwrap_or_else(|| format!("{}/replication.pgpass", pg.config_directory()))
}

/// How a client on another host (a replica, or Django) asks for TLS: with `postgres.ssl.ca`,
/// `verify-full` against that CA; with SSL but no CA, `require` (encrypted, any certificate
/// trusted); without SSL `None` (the client's default, `prefer`, which finds no SSL and goes on in
/// plain text, as `postgres.plain_text: accepted` says the site knows).
pub(crate) fn client_tls(pg: &Postgres) -> Option<ClientTls<'_>> {
    let ssl = pg.ssl.as_ref()?;
    Some(match &ssl.ca {
        Some(ca) => ClientTls {
            sslmode: "verify-full",
            sslrootcert: Some(ca.as_str()),
        },
        None => ClientTls {
            sslmode: "require",
            sslrootcert: None,
        },
    })
}

/// The libpq TLS parameters of a client on another host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientTls<'a> {
    pub(crate) sslmode: &'static str,
    pub(crate) sslrootcert: Option<&'a str>,
}

/// Where replicas connect: the primary's address, and nginx's forwarded port when there is one.
fn upstream(site: &Site, pg: &Postgres) -> (String, u16) {
    let primary = site
        .hosts_with(Role::PostgresPrimary)
        .next()
        .expect("the check stage requires a primary");
    let port = pg
        .replication
        .as_ref()
        .and_then(|r| r.public_port)
        .unwrap_or(pg.port);
    (primary.address.to_string(), port.0)
}
