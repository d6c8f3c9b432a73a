//! The settings of postgresql.conf (and, on 11, recovery.conf): typed spec fields, values derived
//! from the host, and the spec's own settings, each in the form the spec's major version reads.

use serde_json::json;

use super::tune::{self, default_connections};
use crate::pg_settings::{Major, PromoteFile, Standby, WAL_SEGMENT_BYTES, WalKeep};
use crate::plan::{Derived, Setting};
use crate::spec::{Host, Postgres, Role, SettingValue, Site};

/// Settings a standby must have at least as high as its primary, or it refuses to start.
const STANDBY_FLOORS: &[&str] = &["max_connections", "max_worker_processes"];

/// The settings this module writes from typed fields of the spec, with the field, on whichever
/// host and major writes them. A hand-written one would contradict the field or the other files
/// that follow from it (pg_hba.conf, nginx's forward, Django's port), so `check` refuses it
/// (PG006); the test below holds the list to what `conf` writes.
pub const TYPED_SETTINGS: &[(&str, &str)] = &[
    ("data_directory", "postgres.data_directory"),
    ("hba_file", "postgres.config_directory"),
    ("listen_addresses", "postgres.replication.public_port"),
    ("port", "postgres.port"),
    ("ssl", "postgres.ssl"),
    ("ssl_cert_file", "postgres.ssl.cert"),
    ("ssl_key_file", "postgres.ssl.key"),
    ("wal_keep_size", "postgres.replication.wal_keep"),
    ("wal_keep_segments", "postgres.replication.wal_keep"),
    ("archive_mode", "postgres.archive"),
    ("archive_command", "postgres.archive.command"),
    ("primary_conninfo", "postgres.replication"),
    (
        "promote_trigger_file",
        "postgres.replication.promote_trigger_file",
    ),
    ("trigger_file", "postgres.replication.promote_trigger_file"),
    ("restore_command", "postgres.archive.restore_command"),
    ("include_dir", "postgres.include_dir"),
    ("include", "postgres.include"),
    ("include_if_exists", "postgres.include_if_exists"),
];

/// postgresql.conf's include directives: not settings, but lines of the file that make
/// PostgreSQL read other files there.
pub(crate) const INCLUDE_DIRECTIVES: [&str; 3] = ["include_dir", "include", "include_if_exists"];

/// Whether `name` is one of postgresql.conf's include directives.
pub(crate) fn is_include(name: &str) -> bool {
    INCLUDE_DIRECTIVES
        .iter()
        .any(|d| d.eq_ignore_ascii_case(name))
}

/// Settings a typed field writes on replicas only, and only when the field is set: the primary's
/// own value stays the user's.
pub const REPLICA_TYPED_SETTINGS: &[(&str, &str)] =
    &[("statement_timeout", "postgres.replica_statement_timeout")];

/// The typed field that writes `name` on every server, if one does.
pub(crate) fn typed_setting(name: &str) -> Option<&'static str> {
    TYPED_SETTINGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, field)| *field)
}

/// postgresql.conf of `host`, and the recovery.conf settings when the major keeps them apart.
#[derive(Debug, Clone)]
pub(crate) struct Conf {
    pub(crate) postgresql: Vec<Setting>,
    pub(crate) recovery: Vec<Setting>,
    /// postgresql.conf's include directives, written after its settings: what the files they
    /// name set is read last, and wins.
    pub(crate) includes: Vec<Setting>,
}

/// Works out the settings of `host`; the primary's, which a replica's depend on, come from
/// `derived`, so each is worked out once.
pub(crate) fn conf(site: &Site, derived: &Derived, pg: &Postgres, host: &Host) -> Conf {
    let major = Major(pg.version);
    let replica = host.has(Role::PostgresReplica);
    let mut postgresql = Vec::new();
    locations(pg, &mut postgresql);
    connections(pg, host, &mut postgresql);
    postgresql.extend(tuning(site, derived, pg, host));
    replication(site, pg, &mut postgresql);
    let mut standby = Vec::new();
    if replica {
        standby_settings(site, pg, host, &mut standby);
    }
    let recovery = match major.standby() {
        Standby::RecoveryConf if replica => {
            let mut recovery = vec![
                Setting::new("standby_mode", true)
                    .because("PostgreSQL 11 reads standby settings here")
                    .version_rule("/postgres/version"),
            ];
            let (stay, moved): (Vec<Setting>, Vec<Setting>) = standby
                .into_iter()
                .partition(|s| s.name == "hot_standby" || s.name == "statement_timeout");
            recovery.extend(moved);
            recovery.push(
                Setting::new("recovery_target_timeline", "latest")
                    .because("follow the primary onto a new timeline after a failover")
                    .named_default(),
            );
            postgresql.extend(stay);
            recovery
        }
        _ => {
            postgresql.extend(standby);
            Vec::new()
        }
    };
    // The spec's own settings replace what sitewright would write: the site's, then the host's.
    let mut written = Vec::new();
    for (name, value, pointer) in spec_settings(site, pg, host) {
        postgresql.retain(|s| !s.name.eq_ignore_ascii_case(name));
        postgresql.push(Setting::new(name, setting_value(value)).given_at(pointer));
        written.push(name.to_ascii_lowercase());
    }
    // The server refuses to start with WAL senders on minimal WAL, and its default is 10 senders.
    let minimal = postgresql.iter().any(|s| {
        s.name.eq_ignore_ascii_case("wal_level")
            && s.value
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case("minimal"))
    });
    if minimal && !written.iter().any(|n| n == "max_wal_senders") {
        postgresql.retain(|s| !s.name.eq_ignore_ascii_case("max_wal_senders"));
        postgresql.push(
            Setting::new("max_wal_senders", 0u64)
                .because("wal_level minimal, which the spec sets, allows no WAL senders")
                .derived_from(
                    spec_settings(site, pg, host)
                        .into_iter()
                        .find(|(name, _, _)| name.eq_ignore_ascii_case("wal_level"))
                        .map_or_else(|| "/postgres/settings".to_owned(), |(_, _, p)| p),
                ),
        );
    }
    Conf {
        postgresql,
        recovery,
        includes: includes(pg),
    }
}

/// The include directives of the spec, in the order they are written: the folder, the files
/// that must exist, then the files that may not.
fn includes(pg: &Postgres) -> Vec<Setting> {
    let mut out = Vec::new();
    if let Some(dir) = &pg.include_dir {
        out.push(Setting::new("include_dir", dir.as_str()).given_at("/postgres/include_dir"));
    }
    for (name, files) in [
        ("include", &pg.include),
        ("include_if_exists", &pg.include_if_exists),
    ] {
        for (i, file) in files.iter().enumerate() {
            out.push(Setting::new(name, file.as_str()).given_at(format!("/postgres/{name}/{i}")));
        }
    }
    out
}

/// Where `host` is in the spec's list of hosts, for the pointers of values derived from it.
fn host_index(site: &Site, host: &Host) -> usize {
    site.hosts
        .iter()
        .position(|h| h.name == host.name)
        .unwrap_or(0)
}

/// The spec's settings for `host`, by name: the host's own over the site's, each with its pointer.
pub(crate) fn spec_settings<'a>(
    site: &Site,
    pg: &'a Postgres,
    host: &'a Host,
) -> Vec<(&'a str, &'a SettingValue, String)> {
    let index = host_index(site, host);
    let mut out: Vec<(&str, &SettingValue, String)> = pg
        .settings
        .iter()
        .filter(|(name, _)| !host.postgres_settings.contains_key(*name))
        .map(|(name, value)| (name.as_str(), value, format!("/postgres/settings/{name}")))
        .collect();
    out.extend(host.postgres_settings.iter().map(|(name, value)| {
        (
            name.as_str(),
            value,
            format!("/hosts/{index}/postgres_settings/{name}"),
        )
    }));
    out
}

fn setting_value(value: &SettingValue) -> serde_json::Value {
    match value {
        SettingValue::Bool(b) => json!(b),
        SettingValue::Int(i) => json!(i),
        SettingValue::Float(f) => json!(f),
        SettingValue::Text(t) => json!(t),
    }
}

fn locations(pg: &Postgres, out: &mut Vec<Setting>) {
    if pg
        .config_directory
        .as_ref()
        .is_some_and(|c| *c != pg.data_directory)
    {
        out.push(
            Setting::new("data_directory", pg.data_directory.as_str())
                .given_at("/postgres/data_directory"),
        );
        out.push(
            Setting::new("hba_file", format!("{}/pg_hba.conf", pg.config_directory()))
                .because("pg_hba.conf is kept beside this file")
                .derived_from("/postgres/config_directory"),
        );
    }
}

fn connections(pg: &Postgres, host: &Host, out: &mut Vec<Setting>) {
    let forwarded = pg.replication.as_ref().and_then(|r| r.public_port);
    out.push(match forwarded {
        Some(public) if host.has(Role::PostgresPrimary) => {
            Setting::new("listen_addresses", "127.0.0.1")
                .because(format!("nginx forwards port {public} to this server"))
                .derived_from("/postgres/replication/public_port")
        }
        Some(_) => Setting::new("listen_addresses", "127.0.0.1")
            .because("the site reaches PostgreSQL through nginx on the primary")
            .derived_from("/postgres/replication/public_port"),
        // The site's other hosts connect to this server's own address.
        None => Setting::new("listen_addresses", "*").named_default(),
    });
    out.push(Setting::new("port", pg.port.0).given_at("/postgres/port"));
    if let Some(ssl) = &pg.ssl {
        out.push(Setting::new("ssl", true).given_at("/postgres/ssl"));
        out.push(Setting::new("ssl_cert_file", ssl.cert.as_str()).given_at("/postgres/ssl/cert"));
        out.push(Setting::new("ssl_key_file", ssl.key.as_str()).given_at("/postgres/ssl/key"));
        if Major(pg.version).has_ssl_min_protocol_version() {
            out.push(
                Setting::new("ssl_min_protocol_version", "TLSv1.2")
                    .because("TLS 1.2 at least, as nginx's profiles; the setting arrived in 12")
                    .version_rule("/postgres/version"),
            );
        }
    }
    out.push(
        Setting::new("password_encryption", "scram-sha-256")
            .because(
                if Major(pg.version).encrypts_passwords_with_md5_by_default() {
                    "pg_hba.conf asks for scram-sha-256; before 14 the default is md5"
                } else {
                    "pg_hba.conf asks for scram-sha-256"
                },
            )
            .named_default(),
    );
}

fn tune_host(host: &Host) -> tune::Host {
    tune::Host {
        memory: host.memory,
        cpus: host.cpus,
        storage: host.storage,
    }
}

/// max_connections as written, and why, or `None` for the why when the spec sets it.
fn max_connections(pg: &Postgres, host: &Host) -> (u64, Option<String>) {
    match host
        .postgres_settings
        .get("max_connections")
        .or(pg.settings.get("max_connections"))
    {
        Some(SettingValue::Int(n)) => (u64::try_from(*n).unwrap_or(0), None),
        _ => (
            default_connections(pg.workload),
            Some(format!(
                "what a {} workload expects",
                tune::name(pg.workload)
            )),
        ),
    }
}

/// PGTune's settings for `host`; on a replica, never below the primary's where a standby must not be.
fn tuning(site: &Site, derived: &Derived, pg: &Postgres, host: &Host) -> Vec<Setting> {
    let major = Major(pg.version);
    let (mut connections, mut why) = max_connections(pg, host);
    // The primary's settings as written, its own spec settings included.
    let theirs = host
        .has(Role::PostgresReplica)
        .then(|| site.hosts_with(Role::PostgresPrimary).next())
        .flatten()
        .and_then(|primary| derived.conf(site, primary))
        .map(|conf| &conf.postgresql);
    // A replica serves as many connections as its primary (below), so work_mem is shared
    // among that many.
    if let Some(primary) = theirs.as_ref().and_then(|t| {
        t.iter()
            .find(|s| s.name == "max_connections")
            .and_then(|s| s.value.as_u64())
    }) && primary > connections
        && why.is_some()
    {
        connections = primary;
        why = Some(format!(
            "the primary's {primary}: a standby needs at least its primary's"
        ));
    }
    let index = host_index(site, host);
    // A standby's floors are worked out from its primary's settings, on the primary's host.
    let primary_host = site.hosts_with(Role::PostgresPrimary).next().map_or_else(
        || "/hosts".to_owned(),
        |p| format!("/hosts/{}", host_index(site, p)),
    );
    let raised = why
        .as_deref()
        .is_some_and(|w| w.starts_with("the primary's"));
    let mut derived: Vec<Setting> = tune::tune(
        tune_host(host),
        pg.workload,
        major,
        connections,
        why.clone(),
    )
    .into_iter()
    .map(|setting| match tune::basis(&setting.name) {
        _ if raised && setting.name == "max_connections" => setting.derived_from(&primary_host),
        tune::Basis::Memory => setting.derived_from(format!("/hosts/{index}/memory")),
        tune::Basis::Cpus => setting.derived_from(format!("/hosts/{index}/cpus")),
        tune::Basis::Storage => setting.derived_from(format!("/hosts/{index}/storage")),
        tune::Basis::Workload => setting.derived_from("/postgres/workload"),
        tune::Basis::Default => setting.named_default(),
    })
    .collect();
    if let Some(theirs) = theirs {
        for name in STANDBY_FLOORS {
            let value = |settings: &[Setting]| {
                settings
                    .iter()
                    .find(|s| s.name == *name)
                    .and_then(|s| s.value.as_u64())
                    .unwrap_or(if *name == "max_worker_processes" {
                        8
                    } else {
                        100
                    })
            };
            let (mine, primary_value) = (value(&derived), value(theirs));
            if primary_value > mine {
                let floor = Setting::new(name, primary_value)
                    .because(format!(
                        "the primary's {primary_value}: a standby needs at least its primary's"
                    ))
                    .derived_from(&primary_host);
                match derived.iter_mut().find(|s| s.name == *name) {
                    Some(setting) => *setting = floor,
                    None => derived.push(floor),
                }
            }
        }
    }
    derived
}

fn replication(site: &Site, pg: &Postgres, out: &mut Vec<Setting>) {
    let replicas = site.hosts_with(Role::PostgresReplica).count();
    if replicas > 0 {
        out.push(
            Setting::new("wal_level", "replica")
                .because("the site has streaming replicas")
                .derived_from("/hosts"),
        );
        out.push(
            Setting::new("max_wal_senders", (replicas + 2).max(10) as u64)
                .because(format!(
                    "{replicas} replica(s) plus 2 for base backups, at least the default 10"
                ))
                .derived_from("/hosts"),
        );
        let written = pg.replication.as_ref().and_then(|r| r.wal_keep);
        // Without an archive or WAL kept, a replica down for a few minutes of writes must be
        // rebuilt; 1GB is what the replicas' warning (PG023) asks for at least.
        let keep = written.or_else(|| {
            pg.archive
                .is_none()
                .then(|| crate::units::ByteSize::parse("1GB").expect("a size"))
        });
        if let Some(keep) = keep {
            let setting = match Major(pg.version).wal_keep() {
                WalKeep::Size => Setting::new("wal_keep_size", keep.to_postgres()),
                WalKeep::Segments => {
                    let segments = keep.bytes().div_ceil(WAL_SEGMENT_BYTES);
                    Setting::new("wal_keep_segments", segments)
                        .because(format!(
                            "{keep} in 16MB segments: PostgreSQL {} has no wal_keep_size",
                            pg.version
                        ))
                        .version_rule("/postgres/version")
                }
            };
            out.push(if written.is_some() {
                setting.given_at("/postgres/replication/wal_keep")
            } else {
                setting
                    .because(
                        "replicas and no WAL archive: 1GB kept so that a replica that was down can catch up; set postgres.replication.wal_keep",
                    )
                    .named_default()
            });
        }
    }
    if let Some(archive) = &pg.archive {
        out.push(Setting::new("archive_mode", true).given_at("/postgres/archive"));
        out.push(
            Setting::new("archive_command", archive.command.as_str())
                .given_at("/postgres/archive/command"),
        );
    }
}

fn standby_settings(site: &Site, pg: &Postgres, host: &Host, out: &mut Vec<Setting>) {
    out.push(
        Setting::new("hot_standby", true)
            .because("this replica serves read-only queries")
            .named_default(),
    );
    if let Some(timeout) = pg.replica_statement_timeout {
        out.push(
            Setting::new("statement_timeout", timeout.to_postgres())
                .given_at("/postgres/replica_statement_timeout")
                .because("replicas serve read-only queries, which must not pile up"),
        );
    }
    if let Some(replication) = &pg.replication {
        let (address, _) = super::upstream(site, pg);
        let tls = super::client_tls(pg);
        let setting = Setting::new("primary_conninfo", primary_conninfo(site, pg, host));
        out.push(match tls {
            Some(super::ClientTls {
                sslrootcert: Some(_),
                ..
            }) => setting
                .given_at("/postgres/ssl/ca")
                .because(format!("verified against postgres.ssl.ca: the primary's certificate must name {address}; the password is in the passfile, not here")),
            Some(_) => setting
                .given_at("/postgres/ssl")
                .because("encrypted, but any certificate is trusted without postgres.ssl.ca; the password is in the passfile, not here"),
            None => setting
                .because("the password is in the passfile, not here")
                .derived_from("/postgres/replication"),
        });
        if let Some(trigger) = &replication.promote_trigger_file {
            match Major(pg.version).promote_file() {
                PromoteFile::TriggerFile => out.push(
                    Setting::new("trigger_file", trigger.as_str())
                        .given_at("/postgres/replication/promote_trigger_file")
                        .because("PostgreSQL 11 calls it trigger_file"),
                ),
                PromoteFile::PromoteTriggerFile => out.push(
                    Setting::new("promote_trigger_file", trigger.as_str())
                        .given_at("/postgres/replication/promote_trigger_file"),
                ),
                PromoteFile::Removed => {}
            }
        }
    }
    if let Some(restore) = pg
        .archive
        .as_ref()
        .and_then(|a| a.restore_command.as_deref())
    {
        out.push(
            Setting::new("restore_command", restore).given_at("/postgres/archive/restore_command"),
        );
    }
}

/// A replica's connection string to its primary (nginx's forward when there is one), as its
/// primary_conninfo says and as a deploy's pg_basebackup connects: the password is in the
/// passfile it names.
pub(crate) fn primary_conninfo(site: &Site, pg: &Postgres, host: &Host) -> String {
    primary_conninfo_words(site, pg, host).join(" ")
}

/// [`primary_conninfo`]'s `key=value` words.
pub(crate) fn primary_conninfo_words(site: &Site, pg: &Postgres, host: &Host) -> Vec<String> {
    let Some(replication) = &pg.replication else {
        return Vec::new();
    };
    let (address, port) = super::upstream(site, pg);
    let tls = super::client_tls(pg);
    let passfile = super::passfile_path(pg);
    let port = port.to_string();
    let mut conninfo = vec![
        ("host", address.as_str()),
        ("port", port.as_str()),
        ("user", replication.user.as_str()),
        ("passfile", passfile.as_str()),
        ("sslmode", tls.map_or("prefer", |t| t.sslmode)),
    ];
    if let Some(ca) = tls.and_then(|t| t.sslrootcert) {
        conninfo.push(("sslrootcert", ca));
    }
    conninfo.push(("application_name", host.name.as_str()));
    conninfo
        .iter()
        .map(|(k, v)| format!("{k}={}", conninfo_value(v)))
        .collect()
}

/// A libpq connection-string value: bare when plain, else single-quoted with `\` and `'` escaped.
pub(crate) fn conninfo_value(value: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting `conf` writes from a typed field, or because of one that other files follow
    /// (listen_addresses, hba_file, primary_conninfo), on any major, is in the typed lists; and
    /// every name in them is written somewhere, so the lists are exactly what the plan writes.
    #[test]
    fn the_typed_lists_are_what_the_plan_writes_from_typed_fields() {
        let mut written = std::collections::BTreeSet::new();
        for major in 11..=18 {
            for (public_port, trigger) in [
                ("    public_port: 7432\n", ""),
                ("", "    promote_trigger_file: /p\n"),
            ] {
                if Major(major).promote_file() == PromoteFile::Removed && !trigger.is_empty() {
                    continue;
                }
                let yaml = format!(
                    "site: s\nhosts:\n  - {{ name: a, address: 192.0.2.1, memory: 8GiB, cpus: 4, storage: ssd, roles: [postgres-primary] }}\n  - {{ name: b, address: 192.0.2.2, memory: 8GiB, cpus: 4, storage: ssd, roles: [postgres-replica] }}\npostgres:\n  version: {major}\n  data_directory: /d\n  config_directory: /c\n  ssl: {{ cert: /c.pem, key: /k.pem }}\n  replica_statement_timeout: 5s\n  replication:\n    user: r\n    password: {{ env: P }}\n    wal_keep: 1GB\n{public_port}{trigger}  archive:\n    command: cp %p /a/%f\n    restore_command: cp /a/%f %p\n  include_dir: conf.d\n  include: [a.conf]\n  include_if_exists: [b.conf]\n"
                );
                let site: Site = serde_saphyr::from_str(&yaml).unwrap();
                let pg = site.postgres.as_ref().unwrap();
                for host in &site.hosts {
                    let conf = conf(&site, &crate::plan::Derived::new(&site), pg, host);
                    for setting in conf
                        .postgresql
                        .iter()
                        .chain(&conf.recovery)
                        .chain(&conf.includes)
                    {
                        let from_field = setting
                            .from_spec
                            .as_deref()
                            .is_some_and(|p| !p.starts_with("/postgres/settings/"));
                        let follows = ["listen_addresses", "hba_file", "primary_conninfo"]
                            .contains(&setting.name.as_str());
                        if from_field || follows {
                            written.insert(setting.name.clone());
                        }
                    }
                }
            }
        }
        let listed: std::collections::BTreeSet<String> = TYPED_SETTINGS
            .iter()
            .chain(REPLICA_TYPED_SETTINGS)
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(written, listed);
    }

    #[test]
    fn conninfo_values_are_quoted_when_needed() {
        assert_eq!(conninfo_value("192.0.2.11"), "192.0.2.11");
        assert_eq!(conninfo_value("/etc/a b"), "'/etc/a b'");
        assert_eq!(conninfo_value("it's\\"), "'it\\'s\\\\'");
        assert_eq!(conninfo_value(""), "''");
    }
}
