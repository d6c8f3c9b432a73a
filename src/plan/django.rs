//! The Django settings module of the web hosts: production values behind the site's nginx, the
//! databases it uses, and secrets read at run time rather than written down. A web host that is
//! also a PostgreSQL replica gets CATMAID's read-only mirror settings.

use serde_json::{Map, Value, json};

use super::{FileMeta, KeyedOrigin, Mode, OnChange, PlannedFile, Service};
use crate::spec::{
    CacheBackend, Django, Email, Host, PythonValue, Role, SecretRef, SessionEngine, Site,
};
use crate::units::ByteSize;

/// The cache a read-only instance keeps its sessions in when the spec names none (seed 002).
const MIRROR_CACHE: &str = "127.0.0.1:11211";
/// The largest cached item of seed 002's mirror: 10MB.
const MIRROR_MAX_VALUE: u64 = 10 * 1024 * 1024;

pub(super) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let (Some(django), true) = (&site.django, host.has(Role::Web)) else {
        return Vec::new();
    };
    vec![PlannedFile {
        host: host.name.clone(),
        path: django.settings_file.to_string(),
        template: "django/settings.py",
        context: minijinja::Value::from(minijinja::value::Serde(context(site, django, host))),
        facts: Vec::new(),
        meta: FileMeta::new(Mode::PUBLIC, "root", Service::Django, OnChange::Restart),
        secrets: Vec::new(),
        origins: origins(site, django, host),
    }]
}

/// A setting the module writes itself: the spec value that decides it, how, and whether `extra`
/// may replace it.
pub struct Written {
    /// The setting's name.
    pub name: &'static str,
    /// The pointer of the spec value that decides it, if one does.
    pub spec: Option<&'static str>,
    /// How it is derived, as `explain` says it.
    pub why: Option<&'static str>,
    /// Whether `extra` may set it: check's DJ009 says why not.
    pub refused: Refused,
}

/// Why `extra` may not set a setting the module writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A typed field decides it (the `spec` pointer), for this reason.
    Field(&'static str),
    /// The site decides it, for this reason: there is nothing to set.
    Site(&'static str),
    /// `extra` may replace it.
    No,
}

/// SECURE_PROXY_SSL_HEADER behind nginx.https: the header nginx overwrites on every request, and
/// the value it writes there for HTTPS.
pub const PROXY_SSL_HEADER: (&str, &str) = ("HTTP_X_FORWARDED_PROTO", "https");

const TLS_DEPLOY: &str = "served over TLS: what `check --deploy` asks";
const TLS_REFUSED: &str = "the site is served over nginx's TLS, and this is what `manage.py check --deploy` asks of such a site";
const HSTS: &str = "as nginx sends it";
const HSTS_REFUSED: &str = "so that Django says what nginx's Strict-Transport-Security header says";

/// Every top-level setting the module writes, in one place: `explain` reads where each comes
/// from here, and `check` refuses an `extra` that would replace one the spec or the site decides.
pub const WRITTEN: &[Written] = &[
    Written {
        name: "DEBUG",
        spec: None,
        why: Some("production"),
        refused: Refused::Site(
            "False on a production site, since DEBUG shows code and settings to anyone who causes an error",
        ),
    },
    Written {
        name: "ALLOWED_HOSTS",
        spec: Some("/django/allowed_hosts"),
        why: Some("and the server names nginx serves"),
        refused: Refused::Field(
            "with the server names nginx serves the application under always added",
        ),
    },
    Written {
        name: "CSRF_TRUSTED_ORIGINS",
        spec: Some("/nginx/https/server_name"),
        why: Some("https and the server names"),
        refused: Refused::Site(
            "https:// and the server name nginx serves the application under, with its port",
        ),
    },
    Written {
        name: "SECRET_KEY",
        spec: Some("/django/secret_key"),
        why: Some("read when Django starts"),
        refused: Refused::Field("so that the secret is read at run time and never written down"),
    },
    Written {
        name: "DATABASES",
        spec: Some("/django/database"),
        why: Some("the primary or this host's replica, and the replicas named"),
        refused: Refused::Field(
            "so that the password is read at run time and the hosts and ports are the site's",
        ),
    },
    Written {
        name: "SECURE_PROXY_SSL_HEADER",
        spec: Some("/nginx/https"),
        why: Some("nginx overwrites X-Forwarded-Proto"),
        refused: Refused::Site(
            "(\"HTTP_X_FORWARDED_PROTO\", \"https\") exactly behind nginx.https, which overwrites X-Forwarded-Proto on every request (a client can forge any other header, and another value makes Django redirect forever), and none without it, where nothing overwrites a header",
        ),
    },
    Written {
        name: "SECURE_SSL_REDIRECT",
        spec: None,
        why: Some(TLS_DEPLOY),
        refused: Refused::Site(TLS_REFUSED),
    },
    Written {
        name: "SESSION_COOKIE_SECURE",
        spec: None,
        why: Some(TLS_DEPLOY),
        refused: Refused::Site(TLS_REFUSED),
    },
    Written {
        name: "CSRF_COOKIE_SECURE",
        spec: None,
        why: Some(TLS_DEPLOY),
        refused: Refused::Site(TLS_REFUSED),
    },
    Written {
        name: "SECURE_HSTS_SECONDS",
        spec: Some("/nginx/https/tls/hsts/max_age"),
        why: Some(HSTS),
        refused: Refused::Field(HSTS_REFUSED),
    },
    Written {
        name: "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        spec: Some("/nginx/https/tls/hsts/include_subdomains"),
        why: Some(HSTS),
        refused: Refused::Field(HSTS_REFUSED),
    },
    Written {
        name: "SECURE_HSTS_PRELOAD",
        spec: Some("/nginx/https/tls/hsts/preload"),
        why: Some(HSTS),
        refused: Refused::Field(HSTS_REFUSED),
    },
    Written {
        name: "SECURE_REFERRER_POLICY",
        spec: None,
        why: Some(TLS_DEPLOY),
        refused: Refused::Site(TLS_REFUSED),
    },
    Written {
        name: "SECURE_CONTENT_TYPE_NOSNIFF",
        spec: None,
        why: Some(TLS_DEPLOY),
        refused: Refused::Site(TLS_REFUSED),
    },
    Written {
        name: "X_FRAME_OPTIONS",
        spec: None,
        why: Some(TLS_DEPLOY),
        refused: Refused::Site(TLS_REFUSED),
    },
    Written {
        name: "SILENCED_SYSTEM_CHECKS",
        spec: Some("/nginx/https/tls/hsts"),
        why: Some("the deploy checks of HSTS choices the spec made on purpose"),
        refused: Refused::Field(
            "which silences only the deploy checks of the HSTS choices made there on purpose, so that `check --deploy` still speaks of everything else",
        ),
    },
    Written {
        name: "CACHES",
        spec: Some("/django/cache"),
        why: Some("PyMemcacheCache from Django 4.1"),
        refused: Refused::Field("with the backend's name as the Django version knows it"),
    },
    Written {
        name: "SESSION_ENGINE",
        spec: Some("/django/session_engine"),
        why: None,
        refused: Refused::Field(
            "as db, cache, cached_db, file or signed_cookies (cache by default on a read-only instance)",
        ),
    },
    Written {
        name: "EMAIL_BACKEND",
        spec: Some("/django/email"),
        why: None,
        refused: Refused::Field(
            "as `dummy` or `smtp: HOST:PORT` (dummy by default on a read-only instance)",
        ),
    },
    Written {
        name: "EMAIL_HOST",
        spec: Some("/django/email"),
        why: Some("the SMTP server"),
        refused: Refused::Field("as `smtp: HOST:PORT`"),
    },
    Written {
        name: "EMAIL_PORT",
        spec: Some("/django/email"),
        why: Some("the SMTP server"),
        refused: Refused::Field("as `smtp: HOST:PORT`"),
    },
    Written {
        name: "LOGGING",
        spec: None,
        why: Some("to stderr"),
        refused: Refused::No,
    },
    Written {
        name: "NO_UPDATE_LAST_LOGIN",
        spec: None,
        why: None,
        refused: Refused::No,
    },
    Written {
        name: "INSTALLED_APPS",
        spec: None,
        why: None,
        refused: Refused::No,
    },
];

/// The setting of the module named `name`, if the module writes it.
pub fn written(name: &str) -> Option<&'static Written> {
    WRITTEN.iter().find(|w| w.name == name)
}

/// Where each setting of the module comes from.
fn origins(site: &Site, django: &Django, host: &Host) -> Vec<KeyedOrigin> {
    let mirror = read_only(host).then_some("a read-only instance (seed 002)");
    let mut out: Vec<KeyedOrigin> = WRITTEN
        .iter()
        .map(|w| {
            let why = match w.name {
                "CACHES"
                | "SESSION_ENGINE"
                | "EMAIL_BACKEND"
                | "NO_UPDATE_LAST_LOGIN"
                | "INSTALLED_APPS" => mirror.or(w.why),
                _ => w.why,
            };
            KeyedOrigin::new(w.name, w.spec, why)
        })
        .collect();
    out.extend([
        KeyedOrigin::new("from", Some("/django/base_module"), None),
        KeyedOrigin::new("NAME", Some("/django/database/name"), None),
        KeyedOrigin::new("USER", Some("/django/database/user"), None),
        KeyedOrigin::new(
            "PASSWORD",
            Some("/django/database/password"),
            Some("read when Django starts"),
        ),
        KeyedOrigin::new(
            "HOST",
            Some("/django/database/host"),
            Some(if mirror.is_some() {
                "this host's own replica"
            } else {
                "the primary's address"
            }),
        ),
        KeyedOrigin::new(
            "PORT",
            Some("/postgres/replication/public_port"),
            Some("nginx's forwarded port, else PostgreSQL's"),
        ),
        KeyedOrigin::new("CONN_MAX_AGE", Some("/django/database/conn_max_age"), None),
        KeyedOrigin::new(
            "CONN_HEALTH_CHECKS",
            Some("/django/version"),
            Some("from Django 4.1, with persistent connections"),
        ),
        match site.postgres.as_ref().and_then(|pg| pg.ssl.as_ref()) {
            Some(ssl) if ssl.ca.is_some() => KeyedOrigin::new(
                "OPTIONS",
                Some("/postgres/ssl/ca"),
                Some("SSL to a remote database, its certificate verified against the CA"),
            ),
            _ => KeyedOrigin::new(
                "OPTIONS",
                Some("/postgres/ssl"),
                Some("SSL to a remote database"),
            ),
        },
    ]);
    for name in django.extra.keys() {
        // A setting of `extra` replaces the module's own, and comes last.
        out.retain(|o| o.key != *name);
        out.push(KeyedOrigin::new(
            name,
            Some(&format!("/django/extra/{name}")),
            None,
        ));
    }
    out
}

/// The deploy checks that would flag what the spec chose on purpose: each names the spec value
/// that decided it, so `check --deploy` speaks only of what nobody chose.
fn silenced_checks(hsts: &crate::spec::Hsts) -> Vec<Value> {
    let mut out = Vec::new();
    if !hsts.preload {
        out.push(json!({
            "id": "security.W021",
            "why": "tls.hsts.preload is off: a preload list entry is hard to undo, so only when asked",
        }));
    }
    if !hsts.include_subdomains {
        out.push(json!({
            "id": "security.W005",
            "why": "tls.hsts.include_subdomains is off: not every subdomain serves HTTPS",
        }));
    }
    out
}

/// How the settings module reads a secret when Django starts.
fn runtime_read(secret: &SecretRef) -> Value {
    match secret {
        // Both keys, so that the template's test of one never meets an undefined value.
        SecretRef::Env(name) => json!({ "env": name, "file": null }),
        SecretRef::File(path) => json!({ "env": null, "file": path.as_str() }),
    }
}

/// A read-only instance: Django on a host whose PostgreSQL is a replica.
pub fn read_only(host: &Host) -> bool {
    host.has(Role::Web) && host.has(Role::PostgresReplica)
}

fn setting(name: &str, value: Value) -> Value {
    json!({ "name": name, "value": value })
}

fn context(site: &Site, django: &Django, host: &Host) -> Value {
    let https = site.nginx.as_ref().and_then(|n| n.https.as_ref());
    let server_name = host
        .server_name
        .clone()
        .or_else(|| https.map(|h| h.server_name.clone()));
    let mut allowed: Vec<String> = server_name.iter().cloned().collect();
    for name in &django.allowed_hosts {
        if !allowed.contains(&name.0) {
            allowed.push(name.0.clone());
        }
    }
    let origins: Vec<String> = match (&server_name, https) {
        (Some(name), Some(h)) if h.listen.port.0 == 443 => vec![format!("https://{name}")],
        (Some(name), Some(h)) => vec![format!("https://{name}:{}", h.listen.port)],
        _ => Vec::new(),
    };
    let mirror = read_only(host);
    let tls = https.map(|h| {
        json!({
            "proxy_ssl_header": { crate::escape::TUPLE_MARK: [PROXY_SSL_HEADER.0, PROXY_SSL_HEADER.1] },
            "hsts_seconds": h.tls.hsts.max_age.whole_secs().unwrap_or(0),
            "hsts_subdomains": h.tls.hsts.include_subdomains,
            "hsts_preload": h.tls.hsts.preload,
            "silenced": silenced_checks(&h.tls.hsts),
        })
    });
    let mut settings = Vec::new();
    if let Some(caches) = caches(django, mirror) {
        settings.push(setting("CACHES", caches));
    }
    let engine = django
        .session_engine
        .or(mirror.then_some(SessionEngine::Cache));
    if let Some(engine) = engine {
        settings.push(setting("SESSION_ENGINE", json!(session_engine(engine))));
    }
    match (&django.email, mirror) {
        (Some(Email::Smtp(server)), _) => {
            let (host, port) = server
                .as_str()
                .rsplit_once(':')
                .expect("a socket address has a port");
            settings.push(setting(
                "EMAIL_BACKEND",
                json!("django.core.mail.backends.smtp.EmailBackend"),
            ));
            settings.push(setting(
                "EMAIL_HOST",
                json!(host.trim_start_matches('[').trim_end_matches(']')),
            ));
            settings.push(setting(
                "EMAIL_PORT",
                json!(port.parse::<u16>().unwrap_or(25)),
            ));
        }
        (Some(Email::Dummy), _) | (None, true) => {
            settings.push(setting(
                "EMAIL_BACKEND",
                json!("django.core.mail.backends.dummy.EmailBackend"),
            ));
        }
        (None, false) => {}
    }
    settings.push(setting("LOGGING", logging()));
    if mirror {
        settings.push(setting("NO_UPDATE_LAST_LOGIN", json!(true)));
    }
    for (name, value) in &django.extra {
        settings.push(setting(name, python_value(value)));
    }
    json!({
        "site": site.site,
        "host": host.name,
        "read_only": mirror,
        "base_module": django.base_module.as_ref().map(|m| m.as_str()),
        "allowed_hosts": allowed,
        "csrf_trusted_origins": origins,
        "secret_key": runtime_read(&django.secret_key),
        "databases": databases(site, django, host),
        "tls": tls,
        "add_apps": if mirror { vec!["nolastlogin"] } else { Vec::new() },
        "settings": settings,
    })
}

fn session_engine(engine: SessionEngine) -> &'static str {
    match engine {
        SessionEngine::Db => "django.contrib.sessions.backends.db",
        SessionEngine::Cache => "django.contrib.sessions.backends.cache",
        SessionEngine::CachedDb => "django.contrib.sessions.backends.cached_db",
        SessionEngine::File => "django.contrib.sessions.backends.file",
        SessionEngine::SignedCookies => "django.contrib.sessions.backends.signed_cookies",
    }
}

/// CACHES, with the backend's name as the spec's Django version knows it.
fn caches(django: &Django, mirror: bool) -> Option<Value> {
    let (backend, location, max_value) = match &django.cache {
        Some(cache) => (
            cache.backend,
            cache.location.as_ref().map(|l| l.as_str().to_owned()),
            cache.max_value_length,
        ),
        None if mirror => (
            CacheBackend::Memcached,
            Some(MIRROR_CACHE.to_owned()),
            Some(ByteSize::from_bytes(MIRROR_MAX_VALUE)),
        ),
        None => return None,
    };
    let mut default = Map::new();
    let memcached_cache = !django.version.at_least(4, 1, 0);
    let name = match backend {
        CacheBackend::Memcached if memcached_cache => {
            "django.core.cache.backends.memcached.MemcachedCache"
        }
        CacheBackend::Memcached => "django.core.cache.backends.memcached.PyMemcacheCache",
        CacheBackend::Redis => "django.core.cache.backends.redis.RedisCache",
        CacheBackend::Locmem => "django.core.cache.backends.locmem.LocMemCache",
    };
    default.insert("BACKEND".into(), json!(name));
    if let Some(location) = location.filter(|_| backend != CacheBackend::Locmem) {
        let location = if backend == CacheBackend::Redis {
            format!("redis://{location}")
        } else {
            location
        };
        default.insert("LOCATION".into(), json!(location));
    }
    if let (CacheBackend::Memcached, true, Some(max)) = (backend, memcached_cache, max_value) {
        default.insert(
            "OPTIONS".into(),
            json!({ "server_max_value_length": max.bytes() }),
        );
    }
    Some(json!({ "default": default }))
}

fn logging() -> Value {
    json!({
        "version": 1,
        "disable_existing_loggers": false,
        "handlers": { "stderr": { "class": "logging.StreamHandler" } },
        "root": { "handlers": ["stderr"], "level": "WARNING" },
    })
}

/// DATABASES: the default connection, and the replicas the spec names under their host names.
fn databases(site: &Site, django: &Django, host: &Host) -> Vec<Value> {
    let db = &django.database;
    let Some(pg) = site.postgres.as_ref() else {
        return Vec::new();
    };
    let health_checks = django.version.at_least(4, 1, 0);
    let conn_max_age = db.conn_max_age.and_then(|d| d.whole_secs());
    let entry = |alias: &str, target: &Host, why: &str| {
        let local = target.name == host.name;
        let forwarded = pg
            .replication
            .as_ref()
            .and_then(|r| r.public_port)
            .filter(|_| target.has(Role::PostgresPrimary) && !local);
        let mut options = Map::new();
        if let Some(tls) = super::postgres::client_tls(pg).filter(|_| !local) {
            options.insert("sslmode".into(), json!(tls.sslmode));
            if let Some(ca) = tls.sslrootcert {
                options.insert("sslrootcert".into(), json!(ca));
            }
        }
        json!({
            "alias": alias,
            "why": why,
            "name": db.name,
            "user": db.user,
            "password": runtime_read(&db.password),
            "host": if local { "127.0.0.1".to_owned() } else { target.address.to_string() },
            "port": forwarded.unwrap_or(pg.port).0,
            "conn_max_age": conn_max_age,
            "health_checks": health_checks && conn_max_age.is_some_and(|a| a > 0),
            "options": options,
        })
    };
    targets(site, django, host)
        .into_iter()
        .map(|(alias, target, why)| entry(alias, target, why))
        .collect()
}

/// The servers Django on `host` connects to, as (alias, host, why): the default database, then
/// the replicas the spec names.
pub fn targets<'a>(
    site: &'a Site,
    django: &'a Django,
    host: &'a Host,
) -> Vec<(&'a str, &'a Host, &'static str)> {
    let db = &django.database;
    let primary = site.hosts_with(Role::PostgresPrimary).next();
    let default = if read_only(host) {
        Some((
            "default",
            host,
            "this host's own replica: the instance is read-only",
        ))
    } else {
        db.host
            .as_ref()
            .and_then(|name| site.host(name.as_str()))
            .or(primary)
            .map(|target| ("default", target, "the primary"))
    };
    let mut out: Vec<_> = default.into_iter().collect();
    for name in &db.replicas {
        if let Some(replica) = site.host(name.as_str()) {
            out.push((
                name.as_str(),
                replica,
                "a read-only replica, for a database router",
            ));
        }
    }
    out
}

/// A Python value as the template's Python format writes it; a tuple is marked for it.
fn python_value(value: &PythonValue) -> Value {
    match value {
        PythonValue::None(()) => Value::Null,
        PythonValue::Bool(b) => json!(b),
        PythonValue::Int(i) => json!(i),
        PythonValue::Float(f) => json!(f),
        PythonValue::Text(t) => json!(t),
        PythonValue::List(items) => Value::Array(items.iter().map(python_value).collect()),
        PythonValue::Tuple(tuple) => {
            json!({ crate::escape::TUPLE_MARK: tuple.tuple.iter().map(python_value).collect::<Vec<_>>() })
        }
        PythonValue::Dict(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), python_value(v)))
                .collect(),
        ),
    }
}
