//! PostgreSQL files: postgresql.conf and pg_hba.conf on every server; on replicas the standby
//! marker (standby.signal, or recovery.conf on 11) and the passfile; on the primary the SQL of
//! Django's role defaults and the nightly pg_dump's cron entry.

pub mod conf;
pub mod hba;
pub mod tune;

use serde_json::json;

use super::{FileMeta, Mask, Mode, OnChange, PlannedFile, SecretSlot, Service};
use crate::pg_settings::{Major, Standby};
use crate::spec::{Host, Postgres, Role, Site};

pub(super) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let Some(pg) = &site.postgres else {
        return Vec::new();
    };
    let replica = host.has(Role::PostgresReplica);
    let primary = host.has(Role::PostgresPrimary);
    if !replica && !primary {
        return Vec::new();
    }
    let config_dir = pg.config_directory().as_str();
    let file = |path: String, template, context, mode, on_change| PlannedFile {
        host: host.name.clone(),
        path,
        template,
        context,
        meta: FileMeta::new(mode, "postgres", Service::Postgresql, on_change),
        secrets: Vec::new(),
        origins: Vec::new(),
    };
    let role = if replica { "replica" } else { "primary" };
    let conf = conf::conf(site, pg, host);
    let mut postgresql_conf = file(
        format!("{config_dir}/postgresql.conf"),
        "postgres/postgresql.conf.pgconf",
        json!({
            "site": site.site,
            "host": host.name,
            "role": role,
            "version": pg.version,
            "settings": conf.postgresql,
        }),
        Mode::PUBLIC,
        OnChange::Restart,
    );
    postgresql_conf.meta.settings_of_major = Some(pg.version);
    postgresql_conf.origins = super::Origin::of_settings(&conf.postgresql);
    let records = hba::records(site, pg);
    let record_origins: Vec<super::Origin> = records
        .iter()
        .map(|r| super::Origin {
            key: String::new(),
            spec: match (r.spec_index, r.kind) {
                (Some(i), _) => Some(format!("/postgres/hba/{i}")),
                (None, "local") => None,
                (None, _) if r.databases.iter().any(|d| d == "replication") => {
                    Some("/postgres/replication".to_owned())
                }
                (None, _) => Some("/django/database".to_owned()),
            },
            why: Some(r.why.clone()),
        })
        .collect();
    let mut out = vec![
        postgresql_conf,
        file(
            format!("{config_dir}/pg_hba.conf"),
            "postgres/pg_hba.conf.pghba",
            json!({
                "site": site.site,
                "host": host.name,
                "records": records,
            }),
            Mode::GROUP,
            OnChange::Reload,
        ),
    ];
    out[1].origins = record_origins;
    if replica {
        out.push(match Major(pg.version).standby() {
            Standby::SignalFile => file(
                format!("{}/standby.signal", pg.data_directory),
                "postgres/standby.signal.txt",
                json!({}),
                Mode::PRIVATE,
                OnChange::Restart,
            ),
            Standby::RecoveryConf => {
                let mut recovery = file(
                    format!("{}/recovery.conf", pg.data_directory),
                    "postgres/recovery.conf.pgconf",
                    json!({ "site": site.site, "host": host.name, "settings": conf.recovery }),
                    Mode::PRIVATE,
                    OnChange::Restart,
                );
                recovery.origins = super::Origin::of_settings(&conf.recovery);
                recovery
            }
        });
        if let Some(replication) = &pg.replication {
            let (address, port) = upstream(site, pg);
            let mut passfile = file(
                passfile_path(pg),
                "postgres/replication.pgpass",
                json!({
                    "site": site.site,
                    "address": address,
                    "port": port,
                    "user": replication.user,
                }),
                Mode::PRIVATE,
                OnChange::Nothing,
            );
            passfile.meta.mask = Mask::PassfilePassword;
            passfile.secrets.push(SecretSlot {
                key: "password",
                secret: replication.password.clone(),
            });
            out.push(passfile);
        }
    }
    if primary {
        if let Some(django) = &site.django {
            let sql = format!("{config_dir}/sitewright-role-defaults.sql");
            let mut role_defaults = file(
                sql.clone(),
                "postgres/role-defaults.sql",
                json!({
                    "site": site.site,
                    "role": django.database.user,
                    "defaults": [
                        ["client_encoding", "UTF8"],
                        ["default_transaction_isolation", "read committed"],
                        ["timezone", "UTC"],
                    ],
                }),
                Mode::PUBLIC,
                OnChange::Apply,
            );
            role_defaults.meta.apply = Some(format!("psql -f {sql}"));
            out.push(role_defaults);
        }
        if let Some(backup) = &pg.backup {
            let mut cron = file(
                format!("/etc/cron.d/sitewright-{}-pg-dump", site.site),
                "postgres/pg-dump.cron",
                json!({
                    "site": site.site,
                    "schedule": backup.schedule,
                    "database": backup.database,
                    "port": pg.port.0,
                    "directory": backup.directory.as_str().trim_end_matches('/'),
                    "exclude": backup.exclude_tables,
                }),
                Mode::PUBLIC,
                OnChange::Nothing,
            );
            cron.meta = FileMeta::new(Mode::PUBLIC, "root", Service::Postgresql, OnChange::Nothing);
            // The port picks the server, and the socket file it is named after: without it
            // pg_dump would reach 5432 whatever postgres.port says.
            cron.origins = vec![super::Origin::new(
                "pg_dump",
                Some("/postgres/backup"),
                Some(&format!("port {} from postgres.port", pg.port.0)),
            )];
            out.push(cron);
        }
    }
    out
}

/// The shared_buffers of `host` in bytes, when its PostgreSQL uses System V shared memory.
pub fn sysv_shared_buffers(site: &Site, host: &Host) -> Option<u64> {
    let pg = site.postgres.as_ref()?;
    let sysv = matches!(
        pg.settings.get("shared_memory_type"),
        Some(crate::spec::SettingValue::Text(t)) if t.eq_ignore_ascii_case("sysv")
    );
    if !sysv || !(host.has(Role::PostgresPrimary) || host.has(Role::PostgresReplica)) {
        return None;
    }
    let conf = conf::conf(site, pg, host);
    let value = conf
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

fn passfile_path(pg: &Postgres) -> String {
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
pub fn client_tls(pg: &Postgres) -> Option<ClientTls<'_>> {
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
pub struct ClientTls<'a> {
    pub sslmode: &'static str,
    pub sslrootcert: Option<&'a str>,
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
