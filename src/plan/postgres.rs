//! PostgreSQL files: postgresql.conf and pg_hba.conf on every server, and the standby's signal
//! file and passfile on replicas.

use serde_json::json;

use super::{FileMeta, Mask, Mode, OnChange, PlannedFile, SecretSlot, Service, Setting};
use crate::spec::{Host, Postgres, Role, SettingValue, Site};

/// Hosts connecting through nginx's stream forward arrive from loopback, not their own address.
const LOOPBACK_CIDR: &str = "127.0.0.1/32";

pub(super) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let Some(pg) = &site.postgres else {
        return Vec::new();
    };
    let replica = host.has(Role::PostgresReplica);
    if !replica && !host.has(Role::PostgresPrimary) {
        return Vec::new();
    }
    let config_dir = pg.config_directory().as_str();
    let meta = |mode, on_change| FileMeta {
        mode,
        owner: "postgres",
        group: "postgres",
        service: Service::Postgresql,
        on_change,
        mask: Mask::None,
    };
    let file = |path: String, template, context, meta| PlannedFile {
        host: host.name.clone(),
        path,
        template,
        context,
        meta,
        secrets: Vec::new(),
    };
    let role = if replica { "replica" } else { "primary" };
    let mut out = vec![
        file(
            format!("{config_dir}/postgresql.conf"),
            "postgres/postgresql.conf.pgconf",
            json!({
                "site": site.site,
                "host": host.name,
                "role": role,
                "version": pg.version,
                "settings": settings(site, pg, host),
            }),
            meta(Mode::PUBLIC, OnChange::Restart),
        ),
        file(
            format!("{config_dir}/pg_hba.conf"),
            "postgres/pg_hba.conf.pghba",
            json!({
                "site": site.site,
                "host": host.name,
                "records": hba_records(site, pg),
            }),
            meta(Mode::GROUP, OnChange::Reload),
        ),
    ];
    if replica {
        out.push(file(
            format!("{}/standby.signal", pg.data_directory),
            "postgres/standby.signal.txt",
            json!({}),
            meta(Mode::PRIVATE, OnChange::Restart),
        ));
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
                FileMeta {
                    mask: Mask::PassfilePassword,
                    ..meta(Mode::PRIVATE, OnChange::Nothing)
                },
            );
            passfile.secrets.push(SecretSlot {
                key: "password",
                secret: replication.password.clone(),
            });
            out.push(passfile);
        }
    }
    out
}

fn passfile_path(pg: &Postgres) -> String {
    pg.replication
        .as_ref()
        .and_then(|r| r.passfile.as_ref())
        .map(|p| p.to_string())
        .unwrap_or_else(|| format!("{}/replication.pgpass", pg.config_directory()))
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

fn settings(site: &Site, pg: &Postgres, host: &Host) -> Vec<Setting> {
    let replicas = site.hosts_with(Role::PostgresReplica).count();
    let forwarded = pg.replication.as_ref().and_then(|r| r.public_port);
    let mut out = Vec::new();
    if pg
        .config_directory
        .as_ref()
        .is_some_and(|c| *c != pg.data_directory)
    {
        out.push(Setting::new("data_directory", pg.data_directory.as_str()));
        out.push(
            Setting::new("hba_file", format!("{}/pg_hba.conf", pg.config_directory()))
                .because("pg_hba.conf is kept beside this file"),
        );
    }
    out.push(match forwarded {
        Some(public) if host.has(Role::PostgresPrimary) => {
            Setting::new("listen_addresses", "127.0.0.1")
                .because(format!("nginx forwards port {public} to this server"))
        }
        Some(_) => Setting::new("listen_addresses", "127.0.0.1")
            .because("the site reaches PostgreSQL through nginx on the primary"),
        None => Setting::new("listen_addresses", "*"),
    });
    out.push(Setting::new("port", pg.port.0));
    if let Some(ssl) = &pg.ssl {
        out.push(Setting::new("ssl", true));
        out.push(Setting::new("ssl_cert_file", ssl.cert.as_str()));
        out.push(Setting::new("ssl_key_file", ssl.key.as_str()));
        out.push(Setting::new("ssl_min_protocol_version", "TLSv1.2"));
    }
    out.push(
        Setting::new("password_encryption", "scram-sha-256")
            .because("pg_hba.conf asks for scram-sha-256"),
    );
    if replicas > 0 {
        out.push(Setting::new("wal_level", "replica").because("the site has streaming replicas"));
        out.push(
            Setting::new("max_wal_senders", (replicas + 2).max(10) as u64).because(format!(
                "{replicas} replica(s) plus 2 for base backups, at least the default 10"
            )),
        );
        if let Some(keep) = pg.replication.as_ref().and_then(|r| r.wal_keep) {
            out.push(Setting::new("wal_keep_size", keep.to_postgres()));
        }
    }
    if let Some(archive) = &pg.archive {
        out.push(Setting::new("archive_mode", true));
        out.push(Setting::new("archive_command", archive.command.as_str()));
    }
    if host.has(Role::PostgresReplica) {
        out.push(
            Setting::new("hot_standby", true).because("this replica serves read-only queries"),
        );
        if let Some(replication) = &pg.replication {
            let (address, port) = upstream(site, pg);
            let sslmode = if pg.ssl.is_some() {
                "require"
            } else {
                "prefer"
            };
            let conninfo = [
                ("host", address.as_str()),
                ("port", &port.to_string()),
                ("user", replication.user.as_str()),
                ("passfile", &passfile_path(pg)),
                ("sslmode", sslmode),
                ("application_name", host.name.as_str()),
            ]
            .iter()
            .map(|(k, v)| format!("{k}={}", conninfo_value(v)))
            .collect::<Vec<_>>()
            .join(" ");
            out.push(
                Setting::new("primary_conninfo", conninfo)
                    .because("the password is in the passfile, not here"),
            );
        }
        if let Some(restore) = pg
            .archive
            .as_ref()
            .and_then(|a| a.restore_command.as_deref())
        {
            out.push(Setting::new("restore_command", restore));
        }
    }
    for (name, value) in &pg.settings {
        out.push(Setting::new(
            name,
            match value {
                SettingValue::Bool(b) => json!(b),
                SettingValue::Int(i) => json!(i),
                SettingValue::Float(f) => json!(f),
                SettingValue::Text(t) => json!(t),
            },
        ));
    }
    out
}

/// A libpq connection-string value: bare when plain, else single-quoted with `\` and `'` escaped.
fn conninfo_value(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// One pg_hba.conf record.
#[derive(Debug, Clone, serde::Serialize)]
struct HbaRecord {
    kind: &'static str,
    database: String,
    user: String,
    address: Option<String>,
    method: &'static str,
    why: String,
}

fn hba_records(site: &Site, pg: &Postgres) -> Vec<HbaRecord> {
    let host_kind = if pg.ssl.is_some() { "hostssl" } else { "host" };
    let local = |user: &str, why: &str| HbaRecord {
        kind: "local",
        database: "all".into(),
        user: user.into(),
        address: None,
        method: "peer",
        why: why.into(),
    };
    let mut out = vec![
        local("postgres", "the postgres superuser over the Unix socket"),
        local("all", "local roles over the Unix socket"),
    ];
    let forwarded = pg.replication.as_ref().and_then(|r| r.public_port);
    if let Some(replication) = &pg.replication {
        let record = |address: String, why: String| HbaRecord {
            kind: host_kind,
            database: "replication".into(),
            user: replication.user.to_string(),
            address: Some(address),
            method: "scram-sha-256",
            why,
        };
        for replica in site.hosts_with(Role::PostgresReplica) {
            out.push(record(
                replica.address.host_cidr(),
                format!("replica {}", replica.name),
            ));
        }
        if let Some(public) = forwarded {
            out.push(record(
                LOOPBACK_CIDR.into(),
                format!("replicas through nginx's stream forward on port {public}"),
            ));
        }
    }
    if let Some(django) = &site.django {
        let db = &django.database;
        let mut web_forwarded = false;
        for web in site.hosts_with(Role::Web) {
            let local_web = site
                .hosts_with(Role::PostgresPrimary)
                .any(|p| p.name == web.name);
            let (address, why) = if local_web {
                (
                    LOOPBACK_CIDR.to_owned(),
                    format!("Django on {} itself", web.name),
                )
            } else if forwarded.is_some() {
                web_forwarded = true;
                (web.address.host_cidr(), format!("Django on {}", web.name))
            } else {
                (web.address.host_cidr(), format!("Django on {}", web.name))
            };
            out.push(HbaRecord {
                kind: if local_web { "host" } else { host_kind },
                database: db.name.to_string(),
                user: db.user.to_string(),
                address: Some(address),
                method: "scram-sha-256",
                why,
            });
        }
        if let (true, Some(public)) = (web_forwarded, forwarded) {
            out.push(HbaRecord {
                kind: host_kind,
                database: db.name.to_string(),
                user: db.user.to_string(),
                address: Some(LOOPBACK_CIDR.into()),
                method: "scram-sha-256",
                why: format!("Django through nginx's stream forward on port {public}"),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_values_are_quoted_when_needed() {
        assert_eq!(conninfo_value("192.0.2.11"), "192.0.2.11");
        assert_eq!(conninfo_value("/etc/a b"), "'/etc/a b'");
        assert_eq!(conninfo_value("it's\\"), "'it\\'s\\\\'");
        assert_eq!(conninfo_value(""), "''");
    }
}
