//! PgBouncer's files on the hosts that run it: pgbouncer.ini, whose every value is a fact with
//! what a change to it needs (a reload or a restart, from the real program's `SHOW CONFIG`), and
//! userlist.txt, whose SCRAM secrets are computed from the spec's passwords only when asked.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    Fact, Facts, FileMeta, Mask, Mode, OnChange, Origin, PlannedFile, SecretForm, SecretSlot,
    Service, Setting, SettingLine,
};
use crate::pgbouncer_settings::Apply;
use crate::spec::{Host, Pgbouncer, PoolMode, Role, Site};

/// How a `[databases]` line is named among the settings a pgbouncer.ini writes.
const DATABASES: &str = "[databases] ";

/// The user Debian's package runs PgBouncer as, who must read its files.
const OWNER: &str = "postgres";
/// Where Debian's PgBouncer puts its Unix socket: PostgreSQL's socket folder, which its user owns.
const SOCKET_DIR: &str = "/var/run/postgresql";

#[derive(Serialize)]
struct IniContext<'a> {
    site: &'a str,
    host: &'a str,
    databases: Vec<DatabaseLine>,
    settings: Vec<SettingLine>,
}

/// A line of `[databases]`: the name clients use and where PgBouncer connects for it.
#[derive(Serialize)]
struct DatabaseLine {
    name: Fact<String>,
    host: Fact<String>,
    port: Fact<u16>,
    dbname: Fact<String>,
    pool_size: Option<Fact<u32>>,
    why: String,
}

#[derive(Serialize)]
struct UserlistContext<'a> {
    site: &'a str,
    host: &'a str,
    users: Vec<UserLine>,
}

/// A line of userlist.txt: the role and the context key its secret is filled in under.
#[derive(Serialize)]
struct UserLine {
    name: Fact<String>,
    secret: String,
}

/// Whether `host` runs PgBouncer.
pub(crate) fn runs_on(site: &Site, host: &Host) -> bool {
    site.pgbouncer
        .as_ref()
        .is_some_and(|p| p.hosts.contains(&host.name))
}

/// What a change to a PgBouncer setting needs: a reload for what `SHOW CONFIG` calls
/// changeable, a restart otherwise (and for a setting the table does not know).
pub(crate) fn effect(key: &str) -> OnChange {
    match crate::pgbouncer_settings::apply(key) {
        Some(Apply::Reload) => OnChange::Reload,
        Some(Apply::Restart) | None => OnChange::Restart,
    }
}

pub(crate) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let Some(pgb) = site.pgbouncer.as_ref().filter(|_| runs_on(site, host)) else {
        return Vec::new();
    };
    let Some(pg) = &site.postgres else {
        return Vec::new();
    };
    let Some(primary) = site.hosts_with(Role::PostgresPrimary).next() else {
        return Vec::new();
    };
    let dir = pgb.config_directory.as_str().trim_end_matches('/');
    let index = site
        .hosts
        .iter()
        .position(|h| h.name == host.name)
        .expect("a host of the site");
    let upstream = Upstream::of(site, pg, primary, host);

    let mut facts = Facts::default();
    let databases = pgb
        .databases
        .iter()
        .enumerate()
        .map(|(i, db)| DatabaseLine {
            name: facts.add(
                "databases",
                db.name.to_string(),
                Origin::spec(format!("/pgbouncer/databases/{i}/name")),
            ),
            host: facts.add("host", upstream.host.clone(), upstream.host_origin.clone()),
            port: facts.add("port", upstream.port, upstream.port_origin.clone()),
            dbname: facts.add(
                "dbname",
                db.name.to_string(),
                Origin::spec(format!("/pgbouncer/databases/{i}/name"))
                    .because("the same name on the primary"),
            ),
            pool_size: db.pool_size.map(|size| {
                facts.add(
                    "pool_size",
                    size,
                    Origin::spec(format!("/pgbouncer/databases/{i}/pool_size")),
                )
            }),
            why: format!("served from {}", upstream.why),
        })
        .collect();
    let settings = settings(pgb, pg, host, index, dir, &upstream);
    let context = IniContext {
        site: &site.site,
        host: host.name.as_str(),
        databases,
        settings: SettingLine::record(&settings, &mut facts, |key| Some(effect(key))),
    };
    let mut meta = FileMeta::new(Mode::GROUP, OWNER, Service::Pgbouncer, OnChange::Reload);
    // A database line is applied by a reload, as PgBouncer's documentation and SHOW CONFIG's
    // absence of it say: it is not a setting of [pgbouncer].
    let written = settings
        .iter()
        .map(|s| (s.name.clone(), (s.text(), effect(&s.name))))
        .chain(pgb.databases.iter().map(|db| {
            let mut line = format!(
                "host={} port={} dbname={}",
                upstream.host, upstream.port, db.name
            );
            if let Some(size) = db.pool_size {
                line.push_str(&format!(" pool_size={size}"));
            }
            (format!("{DATABASES}{}", db.name), (line, OnChange::Reload))
        }))
        .collect();
    meta.pgbouncer = Some(std::sync::Arc::new(written));
    let ini = PlannedFile::new(
        &host.name,
        format!("{dir}/pgbouncer.ini"),
        "pgbouncer/pgbouncer.ini.pgbouncer",
        &context,
        facts,
        meta,
    );

    let mut facts = Facts::default();
    let mut slots = Vec::new();
    let mut users = Vec::new();
    let mut add_user = |name: &str, pointer: String, secret: &crate::spec::SecretRef| {
        let key = format!("secret_{}", users.len());
        users.push(UserLine {
            name: facts.add("user", name.to_owned(), Origin::spec(pointer)),
            secret: key.clone(),
        });
        slots.push(SecretSlot {
            key,
            secret: secret.clone(),
            form: SecretForm::ScramVerifier {
                user: name.to_owned(),
                context: site.site.clone(),
            },
        });
    };
    match &pgb.auth_query {
        Some(query) => add_user(
            query.user.as_str(),
            "/pgbouncer/auth_query/user".to_owned(),
            &query.password,
        ),
        None => {
            for (i, user) in pgb.users.iter().enumerate() {
                if let Some(password) = &user.password {
                    add_user(
                        user.name.as_str(),
                        format!("/pgbouncer/users/{i}/name"),
                        password,
                    );
                }
            }
        }
    }
    let context = UserlistContext {
        site: &site.site,
        host: host.name.as_str(),
        users,
    };
    // PgBouncer reads its auth_file again at a reload.
    let mut meta = FileMeta::new(Mode::PRIVATE, OWNER, Service::Pgbouncer, OnChange::Reload);
    meta.mask = Mask::UserlistSecret;
    let mut userlist = PlannedFile::new(
        &host.name,
        format!("{dir}/userlist.txt"),
        "pgbouncer/userlist.txt.userlist",
        &context,
        facts,
        meta,
    );
    userlist.secrets = slots;
    vec![ini, userlist]
}

/// Where PgBouncer on a host connects: the primary over loopback when it is the primary, through
/// nginx's stream forward when the site has one, the primary's own address and port otherwise.
pub(crate) struct Upstream {
    pub(crate) host: String,
    host_origin: Origin,
    pub(crate) port: u16,
    port_origin: Origin,
    why: &'static str,
    /// Whether it connects over loopback, on the primary itself or through the forward.
    pub(crate) loopback: bool,
    /// Whether it is on the primary itself.
    pub(crate) local: bool,
}

impl Upstream {
    pub(crate) fn of(site: &Site, pg: &crate::spec::Postgres, primary: &Host, host: &Host) -> Self {
        let primary_index = site
            .hosts
            .iter()
            .position(|h| h.name == primary.name)
            .expect("a host of the site");
        let forwarded = pg.replication.as_ref().and_then(|r| r.public_port);
        if primary.name == host.name {
            return Self {
                host: "127.0.0.1".to_owned(),
                host_origin: Origin::derived(None, "the primary itself, over loopback"),
                port: pg.port.0,
                port_origin: Origin::spec("/postgres/port"),
                why: "the primary on this host",
                loopback: true,
                local: true,
            };
        }
        let host_origin = Origin::derived(
            Some(&format!("/hosts/{primary_index}/address")),
            "the primary's address",
        );
        match forwarded {
            Some(public) => Self {
                host: primary.address.to_string(),
                host_origin,
                port: public.0,
                port_origin: Origin::derived(
                    Some("/postgres/replication/public_port"),
                    "nginx's port forwarded to the primary",
                ),
                why: "the primary, through nginx's stream forward",
                loopback: true,
                local: false,
            },
            None => Self {
                host: primary.address.to_string(),
                host_origin,
                port: pg.port.0,
                port_origin: Origin::spec("/postgres/port"),
                why: "the primary",
                loopback: false,
                local: false,
            },
        }
    }
}

/// The `[pgbouncer]` section, in the order it is written.
fn settings(
    pgb: &Pgbouncer,
    pg: &crate::spec::Postgres,
    host: &Host,
    index: usize,
    dir: &str,
    upstream: &Upstream,
) -> Vec<Setting> {
    let mut out = vec![
        Setting::new("listen_addr", host.address.to_string())
            .because("this host's address")
            .derived_from(format!("/hosts/{index}/address")),
        Setting::new("listen_port", pgb.port.0).given_at("/pgbouncer/port"),
        Setting::new("unix_socket_dir", SOCKET_DIR)
            .because("Debian's: PostgreSQL's socket folder, which PgBouncer's user owns")
            .named_default(),
        Setting::new("auth_type", "scram-sha-256")
            .because("SCRAM, as the server asks of every client")
            .named_default(),
        Setting::new("auth_file", format!("{dir}/userlist.txt"))
            .because("beside this file")
            .derived_from("/pgbouncer/config_directory"),
    ];
    if let Some(query) = &pgb.auth_query {
        out.push(
            Setting::new("auth_user", query.user.as_str()).given_at("/pgbouncer/auth_query/user"),
        );
        if let Some(text) = &query.query {
            out.push(
                Setting::new("auth_query", text.as_str()).given_at("/pgbouncer/auth_query/query"),
            );
        }
    }
    out.push(Setting::new("pool_mode", pgb.pool_mode.name()).given_at("/pgbouncer/pool_mode"));
    out.push(
        Setting::new("default_pool_size", pgb.default_pool_size)
            .given_at("/pgbouncer/default_pool_size"),
    );
    out.push(
        Setting::new("reserve_pool_size", pgb.reserve_pool_size)
            .given_at("/pgbouncer/reserve_pool_size"),
    );
    out.push(
        Setting::new("max_client_conn", pgb.max_client_conn).given_at("/pgbouncer/max_client_conn"),
    );
    if let Some(tls) = &pgb.tls {
        out.push(
            Setting::new("client_tls_sslmode", "require")
                .because("clients must use TLS")
                .derived_from("/pgbouncer/tls"),
        );
        out.push(
            Setting::new("client_tls_cert_file", tls.cert.as_str()).given_at("/pgbouncer/tls/cert"),
        );
        out.push(
            Setting::new("client_tls_key_file", tls.key.as_str()).given_at("/pgbouncer/tls/key"),
        );
    }
    match super::postgres::client_tls(pg).filter(|_| !upstream.local) {
        Some(tls) => {
            out.push(
                Setting::new("server_tls_sslmode", tls.sslmode)
                    .because(match tls.sslrootcert {
                        Some(_) => "TLS to the primary, its certificate verified against the CA",
                        None => "TLS to the primary",
                    })
                    .derived_from("/postgres/ssl"),
            );
            if let Some(ca) = tls.sslrootcert {
                out.push(
                    Setting::new("server_tls_ca_file", ca)
                        .because("the CA of the primary's certificate")
                        .derived_from("/postgres/ssl/ca"),
                );
            }
        }
        None if upstream.local => out.push(
            Setting::new("server_tls_sslmode", "disable")
                .because("the primary on this host, over loopback")
                .named_default(),
        ),
        None => out.push(
            Setting::new("server_tls_sslmode", "disable")
                .because("the site's connections to PostgreSQL are in plain text on purpose")
                .derived_from("/postgres/plain_text"),
        ),
    }
    if pgb.pool_mode != PoolMode::Session {
        // Django and psycopg send no startup parameter PgBouncer refuses; JDBC's and some
        // drivers' extra_float_digits would be, and is harmless to ignore.
        out.push(
            Setting::new("ignore_startup_parameters", "extra_float_digits")
                .because("a startup parameter some drivers send that pooling does not keep")
                .named_default(),
        );
    }
    out
}

/// The settings whose value differs between `live`, a pgbouncer.ini on a host, and `written`,
/// what sitewright writes, each with whether the change needs a restart. A setting the live file
/// has and ours does not goes back to PgBouncer's default, which needs what the setting needs.
pub(crate) fn changed_from(
    written: &BTreeMap<String, (String, OnChange)>,
    live_text: &str,
) -> Vec<(String, bool)> {
    let live = read_ini(live_text);
    let mut names: Vec<&String> = live.keys().chain(written.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| live.get(*name) != written.get(*name).map(|(text, _)| text))
        .map(|name| {
            let effect = written.get(name).map_or_else(
                || match name.strip_prefix(DATABASES) {
                    Some(_) => OnChange::Reload,
                    None => effect(name),
                },
                |(_, effect)| *effect,
            );
            (name.clone(), effect == OnChange::Restart)
        })
        .collect()
}

/// `key = value` of a pgbouncer.ini as PgBouncer reads it: sections in brackets, comment lines
/// starting with `;` or `#`, keys case-insensitive, values trimmed; a `[databases]` line under
/// its database's name, its words' spacing made one.
fn read_ini(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with([';', '#']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match section.as_str() {
            "databases" => {
                let words: Vec<&str> = value.split_whitespace().collect();
                out.insert(format!("{DATABASES}{key}"), words.join(" "));
            }
            "pgbouncer" => {
                out.insert(key.to_ascii_lowercase(), value.to_owned());
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written() -> BTreeMap<String, (String, OnChange)> {
        [
            ("listen_port", "6432"),
            ("default_pool_size", "20"),
            ("[databases] app", "host=127.0.0.1 port=5432 dbname=app"),
        ]
        .into_iter()
        .map(|(k, v)| {
            let effect = if k.starts_with('[') {
                OnChange::Reload
            } else {
                effect(k)
            };
            (k.to_owned(), (v.to_owned(), effect))
        })
        .collect()
    }

    #[test]
    fn a_pool_size_change_reloads_and_a_port_change_restarts() {
        let same = "[databases]\napp = host=127.0.0.1  port=5432 dbname=app\n[pgbouncer]\nlisten_port = 6432\n; a comment\nDEFAULT_POOL_SIZE=20\n";
        assert_eq!(changed_from(&written(), same), vec![]);
        let pool = same.replace("DEFAULT_POOL_SIZE=20", "default_pool_size = 10");
        assert_eq!(
            changed_from(&written(), &pool),
            vec![("default_pool_size".to_owned(), false)]
        );
        let port = same.replace("6432", "6433");
        assert_eq!(
            changed_from(&written(), &port),
            vec![("listen_port".to_owned(), true)]
        );
        let db = same.replace("dbname=app", "dbname=app pool_size=5");
        assert_eq!(
            changed_from(&written(), &db),
            vec![("[databases] app".to_owned(), false)]
        );
        // A setting only the live file has goes back to its default: unix_socket_dir waits for a
        // restart.
        let extra = format!("{same}unix_socket_dir = /tmp\n");
        assert_eq!(
            changed_from(&written(), &extra),
            vec![("unix_socket_dir".to_owned(), true)]
        );
    }
}
